// Tests of chunk blocks below the scan: Partition(layout, chunks) tiles the
// array with its chunk boxes exactly once (edge chunks clipped), hulls and
// element counts agree with the boxes, units are layers of the grid and
// worker ranges fall on them; ForEachBoxRun hands over every element of a
// box once, in C order of the box; LaneGeometry::ForEachRunOfBlock /
// ForEachTileOfBlock send every element of a box to numpy's lane, inside
// BlockLaneRange, whose ends the box reaches. Expected values come from brute force over the
// multi-index, never from the code under test.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/lanes.h"
#include "source/partition.h"

namespace mm {
namespace {

Layout MakeLayout(std::vector<int64_t> shape) {
  Layout l;
  l.dtype = ParseDType("f4").value();
  l.shape = std::move(shape);
  l.order = 'C';
  return l;
}

// The C-order multi-index of storage index i.
std::vector<int64_t> Unravel(const std::vector<int64_t>& shape, uint64_t i) {
  std::vector<int64_t> x(shape.size());
  for (size_t a = shape.size(); a-- > 0;) {
    x[a] = static_cast<int64_t>(i % static_cast<uint64_t>(shape[a]));
    i /= static_cast<uint64_t>(shape[a]);
  }
  return x;
}

uint64_t Ravel(const std::vector<int64_t>& shape, const std::vector<int64_t>& x) {
  uint64_t i = 0;
  for (size_t a = 0; a < shape.size(); ++a)
    i = i * static_cast<uint64_t>(shape[a]) + static_cast<uint64_t>(x[a]);
  return i;
}

// The storage indices of a box's elements in C order of the box.
std::vector<uint64_t> BoxIndices(const std::vector<int64_t>& shape, const Box& box) {
  std::vector<uint64_t> out;
  const uint64_t n = box.elements();
  for (uint64_t k = 0; k < n; ++k) {
    std::vector<int64_t> x = Unravel(box.count, k);
    for (size_t a = 0; a < x.size(); ++a) x[a] += box.start[a];
    out.push_back(Ravel(shape, x));
  }
  return out;
}

struct Case {
  std::vector<int64_t> shape, chunks;
};

const std::vector<Case> kCases = {
    {{10}, {3}},
    {{10}, {10}},
    {{10}, {16}},
    {{7, 5}, {3, 2}},
    {{7, 5}, {7, 5}},
    {{7, 5}, {2, 5}},
    {{7, 5}, {1, 1}},
    {{6, 5, 4}, {4, 2, 3}},
    {{6, 5, 4}, {6, 5, 1}},
    {{3, 4, 5, 6}, {2, 3, 2, 4}},
    {{3, 4, 5, 6}, {1, 4, 5, 6}},
    {{2, 1, 3}, {1, 1, 2}},
};

std::string Describe(const Case& c) {
  return "shape " + ShapeString(c.shape) + " chunks " + ShapeString(c.chunks);
}

TEST_CASE("Chunk blocks: the boxes tile the array exactly once, in grid C order") {
  for (const Case& c : kCases) {
    INFO(Describe(c));
    const Layout l = MakeLayout(c.shape);
    const Partition p(l, c.chunks);
    REQUIRE(p.chunked());
    CHECK(p.chunks() == c.chunks);
    int64_t grid = 1;
    for (size_t a = 0; a < c.shape.size(); ++a)
      grid *= (c.shape[a] + c.chunks[a] - 1) / c.chunks[a];
    REQUIRE(p.blocks() == grid);
    std::vector<int> seen(l.elements(), 0);
    std::vector<int64_t> prev_start;
    for (int64_t b = 0; b < p.blocks(); ++b) {
      INFO("block " << b);
      const std::optional<Box> box = p.BlockBox(b);
      REQUIRE(box.has_value());
      for (size_t a = 0; a < c.shape.size(); ++a) {
        CHECK(box->start[a] % c.chunks[a] == 0);
        CHECK(box->count[a] ==
              std::min(c.chunks[a], c.shape[a] - box->start[a]));  // edge chunks clipped
      }
      // Grid C order: the chunk starts increase lexicographically.
      CHECK((b == 0 || std::lexicographical_compare(prev_start.begin(), prev_start.end(),
                                                    box->start.begin(), box->start.end())));
      prev_start = box->start;
      const std::vector<uint64_t> idx = BoxIndices(c.shape, *box);
      CHECK(p.block_elements(b) == idx.size());
      // The hull: the first and one past the last storage index.
      CHECK(p.block_begin(b) == *std::min_element(idx.begin(), idx.end()));
      CHECK(p.block_end(b) == *std::max_element(idx.begin(), idx.end()) + 1);
      for (uint64_t i : idx) ++seen[i];
    }
    CHECK(std::count(seen.begin(), seen.end(), 1) == static_cast<int64_t>(seen.size()));
  }
}

TEST_CASE("Chunk blocks: units are grid layers and worker ranges fall on them") {
  for (const Case& c : kCases) {
    INFO(Describe(c));
    const Layout l = MakeLayout(c.shape);
    const Partition p(l, c.chunks);
    const int64_t layers = (c.shape[0] + c.chunks[0] - 1) / c.chunks[0];
    CHECK(p.units() == layers);
    CHECK(p.rows() == c.shape[0]);
    for (int64_t row = 0; row <= c.shape[0]; ++row) {
      // The first block whose layer starts at or after `row`.
      int64_t expect = p.blocks();
      for (int64_t b = p.blocks(); b-- > 0;)
        if (p.BlockBox(b)->start[0] >= row) expect = b;
      CHECK(p.first_block_of_row(row) == expect);
      if (row < c.shape[0])
        CHECK(p.BlockBox(p.block_of_row(row))->start[0] == row / c.chunks[0] * c.chunks[0]);
    }
    for (int workers = 1; workers <= 7; ++workers) {
      INFO("workers " << workers);
      int64_t next = 0, busy = 0;
      for (int w = 0; w < workers; ++w) {
        const auto r = p.RowsOf(w, workers);
        CHECK(r.first == next);
        CHECK(r.first <= r.second);
        CHECK((r.first % c.chunks[0] == 0 || r.first == c.shape[0]));
        CHECK((r.second % c.chunks[0] == 0 || r.second == c.shape[0]));
        busy += r.first < r.second;
        next = r.second;
      }
      CHECK(next == c.shape[0]);
      CHECK(busy == std::min<int64_t>(workers, layers));  // every worker busy while units last
    }
  }
}

TEST_CASE("Chunk blocks: ForEachBoxRun hands over each element once in box C order") {
  for (const Case& c : kCases) {
    INFO(Describe(c));
    const Layout l = MakeLayout(c.shape);
    const Partition p(l, c.chunks);
    for (int64_t b = 0; b < p.blocks(); ++b) {
      INFO("block " << b);
      const Box box = *p.BlockBox(b);
      const std::vector<uint64_t> want = BoxIndices(c.shape, box);
      std::vector<uint64_t> got(want.size(), ~uint64_t{0});
      uint64_t next = 0;
      ForEachBoxRun(l, box, [&](uint64_t data, uint64_t begin, uint64_t length) {
        CHECK(data == next);  // runs come in data order, without gaps
        CHECK(length > 0);
        for (uint64_t k = 0; k < length && data + k < got.size(); ++k) got[data + k] = begin + k;
        next = data + length;
      });
      CHECK(next == want.size());
      CHECK(got == want);
    }
  }
}

// numpy's output position of the element at array index x (C order) when
// `reduced` axes are reduced.
uint64_t NumpyLane(const Layout& l, const std::vector<int>& reduced,
                   const std::vector<int64_t>& x) {
  uint64_t out = 0;
  for (int a = 0; a < l.ndim(); ++a) {
    if (std::find(reduced.begin(), reduced.end(), a) != reduced.end()) continue;
    out = out * static_cast<uint64_t>(l.shape[static_cast<size_t>(a)]) +
          static_cast<uint64_t>(x[static_cast<size_t>(a)]);
  }
  return out;
}

TEST_CASE("Chunk blocks: lanes map a box's elements to numpy's positions") {
  for (const Case& c : kCases) {
    const Layout l = MakeLayout(c.shape);
    const Partition p(l, c.chunks);
    const int nd = l.ndim();
    for (int mask = 0; mask < (1 << nd); ++mask) {
      std::vector<int> reduced;
      for (int a = 0; a < nd; ++a)
        if (mask & (1 << a)) reduced.push_back(a);
      INFO(Describe(c) << " reduced mask " << mask);
      const LaneGeometry geo(l, reduced);
      for (int64_t b = 0; b < p.blocks(); ++b) {
        INFO("block " << b);
        const Box box = *p.BlockBox(b);
        const auto range = geo.BlockLaneRange(&box, p.block_begin(b), p.block_end(b));
        uint64_t least = ~uint64_t{0}, most = 0;
        const std::vector<uint64_t> idx = BoxIndices(c.shape, box);
        std::vector<uint64_t> run_lane(idx.size(), ~uint64_t{0}),
            tile_lane(idx.size(), ~uint64_t{0});
        bool outside = false;
        geo.ForEachRunOfBlock(&box, p.block_begin(b), p.block_end(b),
                              [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
                                for (uint64_t k = 0; k < len; ++k) {
                                  const uint64_t internal = kept ? lane + k : lane;
                                  outside |= internal < range.first || internal >= range.second;
                                  least = std::min(least, internal);
                                  most = std::max(most, internal);
                                  if (off + k < idx.size()) run_lane[off + k] = internal;
                                }
                              });
        geo.ForEachTileOfBlock(
            &box, p.block_begin(b), p.block_end(b),
            [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept) {
              for (uint64_t r = 0; r < rows; ++r)
                for (uint64_t k = 0; k < len; ++k)
                  if (off + r * len + k < idx.size())
                    tile_lane[off + r * len + k] = kept ? lane + k : lane;
            });
        CHECK_FALSE(outside);
        // The range is tight: its first and last lanes are reached.
        CHECK(least == range.first);
        CHECK(most + 1 == range.second);
        // Inside the hull's row-granular range.
        const auto rows = geo.LaneRange(p.block_begin(b), p.block_end(b));
        CHECK((rows.first <= range.first && range.second <= rows.second));
        bool all_ok = true;
        for (size_t k = 0; k < idx.size(); ++k) {
          const uint64_t want = NumpyLane(l, reduced, Unravel(c.shape, idx[k]));
          all_ok &= run_lane[k] != ~uint64_t{0} && geo.OutputIndex(run_lane[k]) == want;
          all_ok &= tile_lane[k] != ~uint64_t{0} && geo.OutputIndex(tile_lane[k]) == want;
        }
        CHECK(all_ok);
      }
    }
  }
}

TEST_CASE("Chunk blocks: a row block is walked as ForEachRun walks its range") {
  const Layout l = MakeLayout({6, 5, 4});
  const LaneGeometry geo(l, {1});
  std::vector<uint64_t> a, b;
  geo.ForEachRun(13, 97, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
    a.insert(a.end(), {off, len, lane, kept ? 1u : 0u});
  });
  geo.ForEachRunOfBlock(nullptr, 13, 97, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
    b.insert(b.end(), {off, len, lane, kept ? 1u : 0u});
  });
  CHECK(a == b);
}

TEST_CASE("Chunk blocks: a geometry of more than 64 dims works (size-1 dims dropped)") {
  // 70 dims alternating kept and reduced, all of size 1 but two.
  std::vector<int64_t> shape(70, 1);
  shape[0] = 3;
  shape[69] = 4;
  const Layout l = MakeLayout(shape);
  std::vector<int> reduced;
  for (int a = 1; a < 70; a += 2) reduced.push_back(a);  // axis 69 reduced
  const LaneGeometry geo(l, reduced);
  REQUIRE(geo.lanes() == 3);
  std::vector<uint64_t> lane_of(12, 99);
  geo.ForEachRun(0, 12, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
    for (uint64_t k = 0; k < len; ++k) lane_of[off + k] = kept ? lane + k : lane;
  });
  for (uint64_t i = 0; i < 12; ++i) CHECK(lane_of[i] == i / 4);
}

}  // namespace
}  // namespace mm

namespace mm {
namespace {

TEST_CASE("Chunk blocks: chunks of few rows are grouped along axis 0 into blocks") {
  // The group's bytes count the itemsize.
  auto shape_of = [](std::vector<int64_t>, std::vector<int64_t> chunks, Kind kind) {
    return ChunkBlockShape(chunks, static_cast<uint64_t>(DType{kind, false}.itemsize()));
  };
  using V = std::vector<int64_t>;
  // Enough rows already: the chunks themselves.
  CHECK(shape_of({100, 8}, {16, 8}, Kind::kInt16) == V{16, 8});
  CHECK(shape_of({512, 512, 512}, {64, 64, 64}, Kind::kFloat32) == V{64, 64, 64});
  // A netCDF-4 variable stored one time step per chunk: 16 steps a block.
  CHECK(shape_of({365, 360, 720}, {1, 360, 720}, Kind::kFloat32) == V{16, 360, 720});
  // The same whatever the length of axis 0 (a growing dataset keeps its blocks).
  CHECK(shape_of({3, 360, 720}, {1, 360, 720}, Kind::kFloat32) == V{16, 360, 720});
  // ceil(16 / 5) = 4 chunks of 5 rows.
  CHECK(shape_of({10, 7, 5}, {5, 3, 2}, Kind::kInt16) == V{20, 3, 2});
  // At most kMaxGroupBytes a block: 8 MiB chunks go by two, 16 MiB ones alone.
  CHECK(shape_of({100, 1024, 1024}, {2, 1024, 1024}, Kind::kFloat32) == V{4, 1024, 1024});
  CHECK(shape_of({100, 2048, 2048}, {1, 2048, 2048}, Kind::kFloat32) == V{1, 2048, 2048});
  CHECK(shape_of({100, 4096, 4096}, {1, 4096, 4096}, Kind::kFloat64) == V{1, 4096, 4096});
  // Sized by the element given: 4 MiB chunks of int8 decoded to float64
  // (32 MiB each) are not grouped.
  CHECK(shape_of({24, 2048, 2048}, {1, 2048, 2048}, Kind::kInt8) == V{4, 2048, 2048});
  CHECK(shape_of({24, 2048, 2048}, {1, 2048, 2048}, Kind::kFloat64) == V{1, 2048, 2048});
  // No chunks (a contiguous dataset): none.
  CHECK(shape_of({10, 10}, {}, Kind::kInt16).empty());
}

}  // namespace
}  // namespace mm
