// Tests of source/partition: blocks cover the array without gaps whatever the
// row size, and worker row ranges cover every row exactly once, aligned to
// the indivisible units (blocks of whole rows, or whole rows cut in pieces).
#include "source/partition.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace mm {
namespace {

Layout MakeLayout(const char* dtype, std::vector<int64_t> shape, char order = 'C') {
  Layout l;
  l.dtype = ParseDType(dtype).value();
  l.shape = std::move(shape);
  l.order = order;
  return l;
}

// "[a, b)" for a row range, so failures print readably.
std::string Range(const std::pair<int64_t, int64_t>& r) {
  return "[" + std::to_string(r.first) + ", " + std::to_string(r.second) + ")";
}

// Blocks 0..blocks-1 tile [0, elements) in order, each non-empty.
void CheckBlocksTile(const Partition& p, const Layout& l) {
  INFO("shape " << ShapeString(l.shape) << " order " << l.order << " blocks " << p.blocks());
  REQUIRE(p.blocks() >= 1);
  CHECK(p.block_begin(0) == 0);
  for (int64_t b = 0; b < p.blocks(); ++b) {
    INFO("block " << b);
    CHECK(p.block_begin(b) < p.block_end(b));
    if (b + 1 < p.blocks()) CHECK(p.block_end(b) == p.block_begin(b + 1));
  }
  CHECK(p.block_end(p.blocks() - 1) == l.elements());
}

// The rows where units start: every unit boundary, 0 and rows() included.
std::vector<int64_t> UnitBoundaries(const Partition& p, const Layout& l) {
  std::vector<int64_t> rows;
  const uint64_t row_elems = l.row_elements();
  for (int64_t b = 0; b < p.blocks(); ++b) {
    const uint64_t begin = p.block_begin(b);
    if (begin % row_elems == 0) {
      const int64_t row = static_cast<int64_t>(begin / row_elems);
      if (rows.empty() || rows.back() != row) rows.push_back(row);
    }
  }
  rows.push_back(p.rows());
  return rows;
}

// RowsOf(w, n) for n = 1..9: contiguous, non-overlapping, covering all rows,
// starting and ending on unit boundaries; empty ranges only past the units.
void CheckRowsOf(const Partition& p, const Layout& l) {
  const std::vector<int64_t> bounds = UnitBoundaries(p, l);
  REQUIRE(static_cast<int64_t>(bounds.size()) == p.units() + 1);
  auto is_boundary = [&](int64_t row) {
    return std::find(bounds.begin(), bounds.end(), row) != bounds.end();
  };
  for (int n = 1; n <= 9; ++n) {
    int64_t next = 0;
    int nonempty = 0;
    for (int w = 0; w < n; ++w) {
      INFO("shape " << ShapeString(l.shape) << " workers " << n << " worker " << w);
      const auto r = p.RowsOf(w, n);
      CHECK(r.first <= r.second);
      if (r.first == r.second) continue;
      ++nonempty;
      CHECK(r.first == next);
      CHECK(is_boundary(r.first));
      CHECK(is_boundary(r.second));
      next = r.second;
    }
    INFO("shape " << ShapeString(l.shape) << " workers " << n);
    CHECK(next == p.rows());
    // Every worker gets a unit when there are enough; else one unit each.
    CHECK(nonempty == static_cast<int>(std::min<int64_t>(n, p.units())));
  }
}

// first_block_of_row(row) at a unit boundary is the block starting there;
// at rows() it is blocks().
void CheckFirstBlockOfRow(const Partition& p, const Layout& l) {
  for (int64_t row : UnitBoundaries(p, l)) {
    INFO("row " << row);
    const int64_t b = p.first_block_of_row(row);
    if (row == p.rows()) {
      CHECK(b == p.blocks());
    } else {
      REQUIRE(b < p.blocks());
      CHECK(p.block_begin(b) == static_cast<uint64_t>(row) * l.row_elements());
    }
  }
  // The blocks of the row ranges handed to workers are the whole partition,
  // in order, without overlap.
  for (int n = 1; n <= 9; ++n) {
    int64_t next_block = 0;
    for (int w = 0; w < n; ++w) {
      const auto r = p.RowsOf(w, n);
      const int64_t b0 = p.first_block_of_row(r.first), b1 = p.first_block_of_row(r.second);
      CHECK(b0 <= b1);
      if (b0 == b1) continue;
      CHECK(b0 == next_block);
      next_block = b1;
    }
    CHECK(next_block == p.blocks());
  }
}

void CheckAll(const Layout& l, uint64_t block_bytes) {
  const Partition p(l, block_bytes);
  CHECK(p.rows() == l.rows());
  CheckBlocksTile(p, l);
  CheckRowsOf(p, l);
  CheckFirstBlockOfRow(p, l);
}

TEST_CASE("Partition: blocks depend only on the layout", "[partition]") {
  Layout a = MakeLayout("f4", {1000, 7});
  Layout b = a;
  b.offset = 4096;
  b.trailing_bytes = 13;
  const Partition pa(a, 256), pb(b, 256);
  REQUIRE(pa.blocks() == pb.blocks());
  for (int64_t k = 0; k < pa.blocks(); ++k) {
    CHECK(pa.block_begin(k) == pb.block_begin(k));
    CHECK(pa.block_end(k) == pb.block_end(k));
  }
  // 28-byte rows: 9 rows per 256-byte block.
  CHECK(pa.blocks() == (1000 + 8) / 9);
  CHECK(pa.block_end(0) == 9 * 7);
  // Byte order does not matter either.
  Layout c = MakeLayout(">f4", {1000, 7});
  const Partition pc(c, 256);
  CHECK(pc.blocks() == pa.blocks());
}

TEST_CASE("Partition: small rows, many rows per block", "[partition]") {
  CheckAll(MakeLayout("f8", {100, 3}), 96);      // 4 rows per block, exact
  CheckAll(MakeLayout("f8", {101, 3}), 96);      // partial last block
  CheckAll(MakeLayout("u1", {37}), 8);           // 1-d, 1-byte rows
  CheckAll(MakeLayout("i2", {5, 4, 3}), 100);    // 24-byte rows, 4 per block
  CheckAll(MakeLayout("f4", {3, 50}, 'F'), 64);  // F: 50 rows of 3 elements
  CheckAll(MakeLayout("f4", {2, 2}), 4096);      // everything in one block
  CheckAll(MakeLayout("f8", {1}), 8);            // one row, one block
}

TEST_CASE("Partition: rows of exactly one block", "[partition]") {
  // 1 MiB rows with the default block size: one row per block.
  const Layout l = MakeLayout("f8", {5, 131072});
  REQUIRE(l.row_bytes() == kBlockBytes);
  const Partition p(l);
  CHECK(p.blocks() == 5);
  CHECK(p.units() == 5);
  for (int64_t b = 0; b < 5; ++b) {
    CHECK(p.block_begin(b) == static_cast<uint64_t>(b) * 131072);
    CHECK(p.block_end(b) == static_cast<uint64_t>(b + 1) * 131072);
  }
  CheckAll(l, kBlockBytes);
  CheckAll(MakeLayout("f4", {7, 16}), 64);
  CheckAll(MakeLayout("f4", {16, 7}, 'F'), 64);
}

TEST_CASE("Partition: rows larger than a block are cut in pieces", "[partition]") {
  // Rows of 1 MiB + 8 bytes with the default block size: two pieces per row.
  const Layout big = MakeLayout("f8", {3, 131073});
  const Partition p(big);
  CHECK(p.blocks() == 6);
  CHECK(p.units() == 3);
  CheckAll(big, kBlockBytes);
  // Rows of 3 MiB exactly: three pieces of 1 MiB.
  const Layout three = MakeLayout("u1", {2, 3 << 20});
  const Partition p3(three);
  CHECK(p3.blocks() == 6);
  for (int64_t b = 0; b < 6; ++b) CHECK(p3.block_end(b) - p3.block_begin(b) == kBlockBytes);
  // Small block sizes, elements not divisible by the piece count.
  CheckAll(MakeLayout("f8", {4, 13}), 32);      // 104-byte rows, 4 pieces
  CheckAll(MakeLayout("f4", {9, 10}), 8);       // 5 pieces of 2 elements
  CheckAll(MakeLayout("i2", {3, 4, 5}), 16);    // 40-byte rows, 3 pieces
  CheckAll(MakeLayout("f8", {6, 7}, 'F'), 16);  // F: 7 rows of 6 elements
  CheckAll(MakeLayout("f8", {1, 1000}), 8);     // one element per piece
  CheckAll(MakeLayout("u2", {1, 999}), 10);     // 5 elements per piece
}

TEST_CASE("Partition: many shapes and block sizes", "[partition]") {
  const std::vector<std::vector<int64_t>> shapes = {{1},    {2},    {17},      {3, 5},
                                                    {5, 3}, {8, 8}, {2, 3, 4}, {7, 1, 3}};
  for (const auto& shape : shapes) {
    for (char order : {'C', 'F'}) {
      for (const char* dt : {"u1", "i2", "f4", "f8"}) {
        const Layout l = MakeLayout(dt, shape, order);
        const uint64_t item = static_cast<uint64_t>(l.dtype.itemsize());
        for (uint64_t elems_per_block : {1, 2, 3, 4, 5, 7, 16, 100}) {
          INFO("dtype " << dt << " block " << elems_per_block << " elements");
          CheckAll(l, elems_per_block * item);
        }
      }
    }
  }
}

TEST_CASE("Partition: more workers than units get empty ranges", "[partition]") {
  const Layout l = MakeLayout("f8", {3, 2});
  const Partition p(l, 16);  // one row per block
  REQUIRE(p.units() == 3);
  int empty = 0;
  for (int w = 0; w < 9; ++w) {
    const auto r = p.RowsOf(w, 9);
    if (r.first == r.second) ++empty;
  }
  CHECK(empty == 6);
  // One unit: only one worker gets it.
  const Partition one(MakeLayout("f8", {3, 2}), 1 << 20);
  REQUIRE(one.units() == 1);
  for (int n = 1; n <= 9; ++n) {
    int64_t rows = 0;
    for (int w = 0; w < n; ++w) rows += one.RowsOf(w, n).second - one.RowsOf(w, n).first;
    CHECK(rows == 3);
  }
}

TEST_CASE("Partition: ranges split evenly by units", "[partition]") {
  const Partition p(MakeLayout("f8", {100, 1}), 8);  // 100 one-row blocks
  CHECK(Range(p.RowsOf(0, 4)) == "[0, 25)");
  CHECK(Range(p.RowsOf(1, 4)) == "[25, 50)");
  CHECK(Range(p.RowsOf(2, 4)) == "[50, 75)");
  CHECK(Range(p.RowsOf(3, 4)) == "[75, 100)");
  // 10 units of 10 rows over 3 workers: 3, 3, 4 units (floor boundaries).
  const Partition q(MakeLayout("f8", {100, 1}), 80);
  REQUIRE(q.units() == 10);
  CHECK(Range(q.RowsOf(0, 3)) == "[0, 30)");
  CHECK(Range(q.RowsOf(1, 3)) == "[30, 60)");
  CHECK(Range(q.RowsOf(2, 3)) == "[60, 100)");
}

TEST_CASE("Partition: the split of a unit-aligned sub-range covers it", "[partition]") {
  const Layout l = MakeLayout("f8", {103, 2});
  const Partition p(l, 64);  // 4 rows per block
  std::vector<int64_t> bounds;
  for (int64_t r = 0; r < 103; r += 4) bounds.push_back(r);
  bounds.push_back(103);
  for (size_t i = 0; i < bounds.size(); ++i) {
    for (size_t j = i; j < bounds.size(); ++j) {
      const int64_t lo = bounds[i], hi = bounds[j];
      for (int n = 1; n <= 5; ++n) {
        int64_t next = lo;
        for (int w = 0; w < n; ++w) {
          const auto r = p.RowsOf(w, n, lo, hi);
          if (r.first == r.second) continue;
          INFO("range [" << lo << ", " << hi << ") workers " << n << " worker " << w);
          CHECK(r.first == next);
          next = r.second;
        }
        INFO("range [" << lo << ", " << hi << ") workers " << n);
        CHECK(next == hi);
      }
    }
  }
}

// The header promises the same split "over an arbitrary row range" (for
// shards). A range that does not start on a unit boundary loses its first
// rows. See the report: partition.cc RowsOf(worker, workers, lo, hi).
TEST_CASE("Partition: the split of an arbitrary row range covers it", "[partition]") {
  const Layout l = MakeLayout("f8", {100, 2});
  const Partition p(l, 64);  // 4 rows per block
  // One worker must get the whole range.
  CHECK(Range(p.RowsOf(0, 1, 2, 10)) == "[2, 10)");
  CHECK(Range(p.RowsOf(0, 1, 1, 3)) == "[1, 3)");
  std::vector<std::string> bad;
  for (int64_t lo = 0; lo < 20; ++lo) {
    for (int64_t hi = lo; hi <= 20; ++hi) {
      for (int n = 1; n <= 4; ++n) {
        int64_t covered = 0, next = lo;
        bool contiguous = true;
        std::string split;
        for (int w = 0; w < n; ++w) {
          const auto r = p.RowsOf(w, n, lo, hi);
          split += " " + Range(r);
          if (r.first == r.second) continue;
          contiguous = contiguous && r.first == next;
          next = r.second;
          covered += r.second - r.first;
        }
        if (!contiguous || covered != hi - lo)
          bad.push_back("[" + std::to_string(lo) + ", " + std::to_string(hi) + ") over " +
                        std::to_string(n) + " workers:" + split);
      }
    }
  }
  INFO(bad.size() << " bad splits, e.g. " << (bad.empty() ? "" : bad.front()) << "; "
                  << (bad.size() > 1 ? bad[bad.size() / 2] : ""));
  CHECK(bad.empty());
}

// With a block size that is not a multiple of the element size the pieces of
// a row are not "equal": the last one can be empty. Not reachable with the
// default kBlockBytes (a multiple of every itemsize).
TEST_CASE("Partition: pieces of a row are never empty", "[partition]") {
  const Layout l = MakeLayout("f8", {2, 5});  // 40-byte rows
  const Partition p(l, 12);                   // 4 pieces of ceil(5/4) = 2 elements
  for (int64_t b = 0; b < p.blocks(); ++b) {
    INFO("block " << b << " [" << p.block_begin(b) << ", " << p.block_end(b) << ")");
    CHECK(p.block_begin(b) < p.block_end(b));
  }
}

}  // namespace
}  // namespace mm
