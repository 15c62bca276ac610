// Tests of core/layout: ResolveShape infers -1 from the bytes available as
// numpy's reshape does (whole rows, trailing bytes reported), rejects bad
// shapes (kConfig) and files too small for them (kDataErr); storage order of
// C and F layouts.
#include "core/layout.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace mm {
namespace {

Layout WithDType(const char* spelling, char order = 'C') {
  Layout l;
  l.dtype = ParseDType(spelling).value();
  l.order = order;
  return l;
}

TEST_CASE("Layout: a full shape that fits", "[layout]") {
  Layout l = WithDType("f4");
  REQUIRE(ResolveShape({10, 3}, 120, &l).ok());
  CHECK(l.shape == std::vector<int64_t>{10, 3});
  CHECK(l.trailing_bytes == 0);
  CHECK(l.elements() == 30);
  CHECK(l.rows() == 10);
  CHECK(l.row_elements() == 3);
  CHECK(l.row_bytes() == 12);
  CHECK(l.data_bytes() == 120);
  // Bytes beyond the array are trailing bytes.
  Layout m = WithDType("f4");
  REQUIRE(ResolveShape({10, 3}, 1000, &m).ok());
  CHECK(m.trailing_bytes == 880);
}

TEST_CASE("Layout: -1 is inferred from whole rows, the rest is trailing", "[layout]") {
  Layout l = WithDType("f4");
  REQUIRE(ResolveShape({-1, 10}, 4 * 10 * 7 + 13, &l).ok());
  CHECK(l.shape == std::vector<int64_t>{7, 10});
  CHECK(l.trailing_bytes == 13);
  // Exactly whole rows.
  Layout e = WithDType("i2");
  REQUIRE(ResolveShape({-1, 3}, 2 * 3 * 5, &e).ok());
  CHECK(e.shape == std::vector<int64_t>{5, 3});
  CHECK(e.trailing_bytes == 0);
  // -1 on an inner axis.
  Layout inner = WithDType("f8");
  REQUIRE(ResolveShape({2, -1, 3}, 8 * 2 * 3 * 4 + 47, &inner).ok());
  CHECK(inner.shape == std::vector<int64_t>{2, 4, 3});
  CHECK(inner.trailing_bytes == 47);
  // F order: the row axis is the last one.
  Layout f = WithDType("u1", 'F');
  REQUIRE(ResolveShape({4, -1}, 4 * 6 + 3, &f).ok());
  CHECK(f.shape == std::vector<int64_t>{4, 6});
  CHECK(f.trailing_bytes == 3);
  CHECK(f.rows() == 6);
  // 1-d.
  Layout one = WithDType("f8");
  REQUIRE(ResolveShape({-1}, 8 * 9 + 7, &one).ok());
  CHECK(one.shape == std::vector<int64_t>{9});
  CHECK(one.trailing_bytes == 7);
}

TEST_CASE("Layout: rejects bad shapes", "[layout]") {
  struct Case {
    std::vector<int64_t> spec;
    const char* fragment;
  };
  // clang-format off
  const std::vector<Case> cases = {
    {{-1, -1}, "only one entry may be -1"},
    {{-1, 3, -1}, "only one entry may be -1"},
    {{0}, "positive"},
    {{10, 0}, "positive"},
    {{0, -1}, "positive"},
    {{-2, 3}, "positive"},
    {{}, "at least one dimension"},
    {{int64_t{1} << 40, int64_t{1} << 40}, "too large"},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO("shape " << ShapeString(c.spec));
    Layout l = WithDType("f4");
    const Status st = ResolveShape(c.spec, 1 << 20, &l);
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Code::kConfig);
    CHECK_THAT(st.message(), Catch::Contains("dataset.shape"));
    CHECK_THAT(st.message(), Catch::Contains(c.fragment));
  }
}

TEST_CASE("Layout: a file too small is bad data", "[layout]") {
  Layout l = WithDType("f8");
  const Status st = ResolveShape({10, 10}, 799, &l);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Code::kDataErr);
  CHECK_THAT(st.message(), Catch::Contains("800"));
  CHECK_THAT(st.message(), Catch::Contains("799"));
  // Less than one row to infer from: 0 rows (an append-only file not
  // written yet), the bytes trailing. A -1 off the row axis still needs data.
  Layout r = WithDType("f4");
  REQUIRE(ResolveShape({-1, 10}, 39, &r).ok());
  CHECK(r.shape == std::vector<int64_t>{0, 10});
  CHECK(r.row_elements() == 10);
  CHECK(r.trailing_bytes == 39);
  Layout cols = WithDType("f4");
  CHECK(ResolveShape({10, -1}, 39, &cols).code() == Code::kDataErr);
  Layout empty = WithDType("u1");
  REQUIRE(ResolveShape({-1}, 0, &empty).ok());
  CHECK(empty.rows() == 0);
  CHECK(ResolveShape({1}, 0, &empty).code() == Code::kDataErr);
}

// A shape whose element count is allowed (<= 2^62) but whose byte count
// exceeds 64 bits wraps in data_bytes(): the array "fits" a tiny file.
// See the report: layout.cc ResolveShape / Layout::data_bytes().
TEST_CASE("Layout: a shape whose byte size overflows 64 bits is rejected", "[layout]") {
  struct Case {
    const char* dtype;
    std::vector<int64_t> spec;
  };
  const std::vector<Case> cases = {
      {"f8", {int64_t{1} << 62}},                    // 2^65 bytes: wraps to 0
      {"f4", {int64_t{1} << 31, int64_t{1} << 31}},  // 2^64 bytes: wraps to 0
      {"f8", {(int64_t{1} << 61) + 1}},              // 2^64 + 8 bytes: wraps to 8
  };
  for (const Case& c : cases) {
    Layout l = WithDType(c.dtype);
    const Status st = ResolveShape(c.spec, 4096, &l);
    INFO("shape " << ShapeString(c.spec) << " " << c.dtype << " against 4096 bytes: data_bytes() = "
                  << l.data_bytes() << ", trailing_bytes = " << l.trailing_bytes);
    CHECK_FALSE(st.ok());
  }
}

TEST_CASE("Layout: storage order of C and F layouts", "[layout]") {
  Layout c = WithDType("f4", 'C');
  c.shape = {2, 3, 4};
  CHECK(c.storage_dims() == std::vector<int64_t>{2, 3, 4});
  CHECK(c.row_axis() == 0);
  CHECK(c.rows() == 2);
  CHECK(c.row_elements() == 12);
  CHECK(c.storage_axis(0) == 0);
  CHECK(c.storage_axis(2) == 2);
  Layout f = WithDType("f4", 'F');
  f.shape = {2, 3, 4};
  CHECK(f.storage_dims() == std::vector<int64_t>{4, 3, 2});
  CHECK(f.row_axis() == 2);
  CHECK(f.rows() == 4);
  CHECK(f.row_elements() == 6);
  CHECK(f.row_bytes() == 24);
  CHECK(f.storage_axis(0) == 2);
  CHECK(f.storage_axis(1) == 1);
  CHECK(f.storage_axis(2) == 0);
  Layout f1 = WithDType("u1", 'F');
  f1.shape = {7};
  CHECK(f1.storage_dims() == std::vector<int64_t>{7});
  CHECK(f1.rows() == 7);
  CHECK(f1.row_elements() == 1);
}

TEST_CASE("Layout: Intersect, Hull and StorageSpan of boxes", "[layout]") {
  const Box a{{0, 2, 1}, {4, 3, 5}}, b{{2, 4, 0}, {5, 1, 2}};
  CHECK(Intersect(a, b) == Box{{2, 4, 1}, {2, 1, 1}});
  CHECK(Hull(a, b) == Box{{0, 2, 0}, {7, 3, 6}});
  CHECK(Intersect(a, Box{{0, 5, 0}, {1, 1, 1}}).elements() == 0);  // apart along axis 1
  Layout c = WithDType("f4");
  c.shape = {8, 6, 7};
  CHECK(StorageSpan(c, a) ==
        std::pair<uint64_t, uint64_t>{0 * 42 + 2 * 7 + 1, 3 * 42 + 4 * 7 + 5 + 1});
  Layout f = WithDType("f4", 'F');
  f.shape = {8, 6, 7};
  CHECK(StorageSpan(f, a) ==
        std::pair<uint64_t, uint64_t>{1 * 48 + 2 * 8 + 0, 5 * 48 + 4 * 8 + 3 + 1});
}

TEST_CASE("Layout: ShapeString", "[layout]") {
  CHECK(ShapeString({1000, 10}) == "[1000, 10]");
  CHECK(ShapeString({5}) == "[5]");
  CHECK(ShapeString({}) == "[]");
  CHECK(ShapeString({-1, 3}) == "[-1, 3]");
}

}  // namespace
}  // namespace mm
