// Tests of core/lanes: every element of any storage range goes to the lane
// numpy's reduction would put it in. The expected lane is computed by brute
// force: storage index -> multi-index -> C-order index over the kept axes.
#include "core/lanes.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace mm {
namespace {

Layout MakeLayout(std::vector<int64_t> shape, char order) {
  Layout l;
  l.dtype = ParseDType("f8").value();
  l.shape = std::move(shape);
  l.order = order;
  return l;
}

std::string AxesString(const std::vector<int>& axes) {
  std::string s = "{";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? "," : "") + std::to_string(axes[i]);
  return s + "}";
}

// numpy's output position of the element at storage index i.
uint64_t ExpectedOutput(const Layout& l, const std::vector<int>& reduced, uint64_t i) {
  const int nd = l.ndim();
  // Storage index -> multi-index (storage dims are C order, outermost first).
  const std::vector<int64_t> sdims = l.storage_dims();
  std::vector<int64_t> idx(static_cast<size_t>(nd));
  uint64_t rest = i;
  for (int s = nd; s-- > 0;) {
    idx[static_cast<size_t>(l.storage_axis(s))] =
        static_cast<int64_t>(rest % static_cast<uint64_t>(sdims[static_cast<size_t>(s)]));
    rest /= static_cast<uint64_t>(sdims[static_cast<size_t>(s)]);
  }
  // Multi-index -> C-order index over the kept axes in axis order.
  uint64_t out = 0;
  for (int a = 0; a < nd; ++a) {
    if (std::find(reduced.begin(), reduced.end(), a) != reduced.end()) continue;
    out = out * static_cast<uint64_t>(l.shape[static_cast<size_t>(a)]) +
          static_cast<uint64_t>(idx[static_cast<size_t>(a)]);
  }
  return out;
}

// All subsets of {0..nd-1}, sorted.
std::vector<std::vector<int>> AllAxisSets(int nd) {
  std::vector<std::vector<int>> sets;
  for (int mask = 0; mask < (1 << nd); ++mask) {
    std::vector<int> s;
    for (int a = 0; a < nd; ++a)
      if (mask & (1 << a)) s.push_back(a);
    sets.push_back(s);
  }
  return sets;
}

// Checks one geometry over every range [begin, end) of the array.
void CheckGeometry(const Layout& l, const std::vector<int>& reduced) {
  INFO("shape " << ShapeString(l.shape) << " order " << l.order << " reduced "
                << AxesString(reduced));
  const LaneGeometry geo(l, reduced);
  // kept_shape and lane count.
  std::vector<int64_t> kept;
  uint64_t lanes = 1;
  for (int a = 0; a < l.ndim(); ++a) {
    if (std::find(reduced.begin(), reduced.end(), a) != reduced.end()) continue;
    kept.push_back(l.shape[static_cast<size_t>(a)]);
    lanes *= static_cast<uint64_t>(l.shape[static_cast<size_t>(a)]);
  }
  CHECK(geo.kept_shape() == kept);
  REQUIRE(geo.lanes() == lanes);
  CHECK(geo.row_kept() ==
        (std::find(reduced.begin(), reduced.end(), l.row_axis()) == reduced.end()));
  // OutputIndex is a permutation of the lanes.
  std::set<uint64_t> outs;
  for (uint64_t lane = 0; lane < lanes; ++lane) {
    const uint64_t o = geo.OutputIndex(lane);
    CHECK(o < lanes);
    outs.insert(o);
  }
  CHECK(outs.size() == lanes);
  // lane_is_index_in_row: every element's lane is its index in its row.
  bool index_in_row = !geo.row_kept() && !geo.empty() && lanes == l.row_elements();
  for (uint64_t i = 0; index_in_row && i < l.elements(); ++i)
    index_in_row = geo.LaneOf(i) == i % l.row_elements();
  CHECK(geo.lane_is_index_in_row() == index_in_row);

  const uint64_t n = l.elements();
  std::vector<uint64_t> expected(n);
  for (uint64_t i = 0; i < n; ++i) expected[i] = ExpectedOutput(l, reduced, i);
  uint64_t bad = 0;
  for (uint64_t begin = 0; begin <= n; ++begin) {
    for (uint64_t end = begin; end <= n; ++end) {
      const auto range = geo.LaneRange(begin, end);
      CHECK(range.first <= range.second);
      CHECK(range.second <= lanes);
      uint64_t next = 0;  // offset the next run must start at
      geo.ForEachRun(begin, end, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept_run) {
        if (off != next || len == 0 || begin + off + len > end) ++bad;
        for (uint64_t k = 0; k < len; ++k) {
          const uint64_t internal = kept_run ? lane + k : lane;
          const uint64_t i = begin + off + k;
          if (internal < range.first || internal >= range.second) {
            ++bad;
            FAIL_CHECK("range [" << begin << ", " << end << "): lane " << internal
                                 << " outside LaneRange [" << range.first << ", " << range.second
                                 << ")");
            continue;
          }
          if (i >= n || geo.OutputIndex(internal) != expected[i]) {
            ++bad;
            FAIL_CHECK("range [" << begin << ", " << end << "): element " << i << " went to output "
                                 << geo.OutputIndex(internal) << ", numpy puts it at "
                                 << (i < n ? expected[i] : 0));
          }
        }
        next = off + len;
      });
      if (next != end - begin) {
        ++bad;
        FAIL_CHECK("range [" << begin << ", " << end << "): runs cover " << next << " elements");
      }
      // ForEachTile: the same assignment, rows of a tile sharing their lanes.
      next = 0;
      geo.ForEachTile(
          begin, end, [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept_run) {
            if (off != next || len == 0 || rows == 0 || begin + off + rows * len > end) ++bad;
            for (uint64_t r = 0; r < rows; ++r) {
              for (uint64_t k = 0; k < len; ++k) {
                const uint64_t internal = kept_run ? lane + k : lane;
                const uint64_t i = begin + off + r * len + k;
                if (i >= n || geo.OutputIndex(internal) != expected[i]) {
                  ++bad;
                  FAIL_CHECK("tile in range [" << begin << ", " << end << "): element " << i
                                               << " went to output " << geo.OutputIndex(internal));
                }
              }
            }
            next = off + rows * len;
          });
      if (next != end - begin) {
        ++bad;
        FAIL_CHECK("range [" << begin << ", " << end << "): tiles cover " << next << " elements");
      }
      if (bad > 5) return;  // one bad geometry: do not flood the report
    }
  }
  CHECK(bad == 0);
}

TEST_CASE("Lanes: 1-d arrays", "[lanes]") {
  for (char order : {'C', 'F'}) {
    for (const auto& reduced : AllAxisSets(1)) CheckGeometry(MakeLayout({5}, order), reduced);
  }
}

TEST_CASE("Lanes: 2-d arrays, every axis set", "[lanes]") {
  for (char order : {'C', 'F'}) {
    for (const auto& shape : std::vector<std::vector<int64_t>>{{4, 3}, {3, 4}, {1, 5}, {5, 1}}) {
      for (const auto& reduced : AllAxisSets(2)) CheckGeometry(MakeLayout(shape, order), reduced);
    }
  }
}

TEST_CASE("Lanes: 3-d arrays, every axis set", "[lanes]") {
  for (char order : {'C', 'F'}) {
    for (const auto& shape : std::vector<std::vector<int64_t>>{{2, 3, 4}, {4, 1, 3}, {3, 2, 2}}) {
      for (const auto& reduced : AllAxisSets(3)) CheckGeometry(MakeLayout(shape, order), reduced);
    }
  }
}

TEST_CASE("Lanes: 4-d arrays, every axis set", "[lanes]") {
  for (char order : {'C', 'F'}) {
    for (const auto& reduced : AllAxisSets(4))
      CheckGeometry(MakeLayout({2, 3, 2, 2}, order), reduced);
  }
}

TEST_CASE("Lanes: kept shapes and lane counts", "[lanes]") {
  const Layout c = MakeLayout({2, 3, 4}, 'C');
  const Layout f = MakeLayout({2, 3, 4}, 'F');
  CHECK(LaneGeometry(c, {0, 1, 2}).kept_shape().empty());
  CHECK(LaneGeometry(c, {0, 1, 2}).lanes() == 1);
  CHECK(LaneGeometry(c, {0}).kept_shape() == std::vector<int64_t>{3, 4});
  CHECK(LaneGeometry(c, {1}).kept_shape() == std::vector<int64_t>{2, 4});
  CHECK(LaneGeometry(f, {1}).kept_shape() == std::vector<int64_t>{2, 4});
  CHECK(LaneGeometry(c, {0, 2}).kept_shape() == std::vector<int64_t>{3});
  CHECK(LaneGeometry(f, {0, 2}).lanes() == 3);
  CHECK(LaneGeometry(c, {}).kept_shape() == std::vector<int64_t>{2, 3, 4});
  CHECK(LaneGeometry(f, {}).lanes() == 24);
  // The row axis is axis 0 for C, the last for F.
  CHECK(LaneGeometry(c, {0}).row_kept() == false);
  CHECK(LaneGeometry(f, {0}).row_kept() == true);
  CHECK(LaneGeometry(f, {2}).row_kept() == false);
}

TEST_CASE("Lanes: F order keeps numpy's output order", "[lanes]") {
  // (4, 3) in F order, nothing reduced: storage index 1 is element (1, 0),
  // which numpy's C-order result holds at position 3.
  const LaneGeometry geo(MakeLayout({4, 3}, 'F'), {});
  std::vector<uint64_t> outs;
  geo.ForEachRun(0, 12, [&](uint64_t, uint64_t len, uint64_t lane, bool kept) {
    REQUIRE(kept);
    for (uint64_t k = 0; k < len; ++k) outs.push_back(geo.OutputIndex(lane + k));
  });
  CHECK(outs == std::vector<uint64_t>{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11});
}

TEST_CASE("Lanes: a range of whole rows touches only its rows' lanes", "[lanes]") {
  // (6, 2, 3) C order reducing axis 1: lanes are (row, col); rows 2..4 use
  // lanes [6, 15).
  const Layout l = MakeLayout({6, 2, 3}, 'C');
  const LaneGeometry geo(l, {1});
  const auto r = geo.LaneRange(2 * 6, 5 * 6);
  CHECK(r.first == 6);
  CHECK(r.second == 15);
  // Reducing the row axis: a range of rows touches every lane, a piece of
  // one row only the lanes from its first element's to its last's.
  const LaneGeometry all(l, {0});
  CHECK(all.LaneRange(6, 12) == std::make_pair<uint64_t, uint64_t>(0, 6));
  CHECK(all.LaneRange(5, 7) == std::make_pair<uint64_t, uint64_t>(0, 6));
  CHECK(all.LaneRange(8, 11) == std::make_pair<uint64_t, uint64_t>(2, 5));
  // Reducing axes 0 and 2: lanes are axis 1's, rising inside a row.
  const LaneGeometry outer(l, {0, 2});
  CHECK(outer.LaneRange(6 + 1, 6 + 2) == std::make_pair<uint64_t, uint64_t>(0, 1));
  CHECK(outer.LaneRange(6 + 2, 6 + 4) == std::make_pair<uint64_t, uint64_t>(0, 2));
  // Reducing axes 0 and 2 of (6, 2, 3, 2): inside a row, the lane (a, c)
  // of element (a, b, c) falls back to (a, 0) after each b: every lane.
  const LaneGeometry mixed(MakeLayout({6, 2, 3, 2}, 'C'), {0, 2});
  CHECK(mixed.LaneRange(12 + 1, 12 + 8) == std::make_pair<uint64_t, uint64_t>(0, 4));
}

}  // namespace
}  // namespace mm
