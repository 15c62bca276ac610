// Tests of core/casting: CanCast against numpy.can_cast for every pair of
// supported dtypes (both byte orders) and each casting rule, and
// CastElement's numpy-compatible conversions and documented choices.
#include "core/casting.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace mm {
namespace {

// The table below was generated with numpy:
//   ts = [...kDtypes...]
//   for c in ['safe', 'same_kind', 'unsafe']:
//     for a in ts: ''.join('1' if np.can_cast(np.dtype(a), np.dtype(b), c) else '.' for b in ts)
// numpy 1.24.2
const char* const kDtypes[] = {"|b1", "|i1", "|u1", "<i2", ">i2", "<u2", ">u2",
                               "<i4", ">i4", "<u4", ">u4", "<i8", ">i8", "<u8",
                               ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8"};
// safe: row = from, column = to (order of kDtypes); 1 = numpy.can_cast is True
const char* const kSafe[] = {
    "111111111111111111111",  // |b1
    ".1.11..11..11..111111",  // |i1
    "..1111111111111111111",  // |u1
    "...11..11..11....1111",  // <i2
    "...11..11..11....1111",  // >i2
    ".....1111111111..1111",  // <u2
    ".....1111111111..1111",  // >u2
    ".......11..11......11",  // <i4
    ".......11..11......11",  // >i4
    ".........111111....11",  // <u4
    ".........111111....11",  // >u4
    "...........11......11",  // <i8
    "...........11......11",  // >i8
    ".............11....11",  // <u8
    ".............11....11",  // >u8
    "...............111111",  // <f2
    "...............111111",  // >f2
    ".................1111",  // <f4
    ".................1111",  // >f4
    "...................11",  // <f8
    "...................11",  // >f8
};
// same_kind: row = from, column = to (order of kDtypes); 1 = numpy.can_cast is True
const char* const kSameKind[] = {
    "111111111111111111111",  // |b1
    ".1.11..11..11..111111",  // |i1
    ".11111111111111111111",  // |u1
    ".1.11..11..11..111111",  // <i2
    ".1.11..11..11..111111",  // >i2
    ".11111111111111111111",  // <u2
    ".11111111111111111111",  // >u2
    ".1.11..11..11..111111",  // <i4
    ".1.11..11..11..111111",  // >i4
    ".11111111111111111111",  // <u4
    ".11111111111111111111",  // >u4
    ".1.11..11..11..111111",  // <i8
    ".1.11..11..11..111111",  // >i8
    ".11111111111111111111",  // <u8
    ".11111111111111111111",  // >u8
    "...............111111",  // <f2
    "...............111111",  // >f2
    "...............111111",  // <f4
    "...............111111",  // >f4
    "...............111111",  // <f8
    "...............111111",  // >f8
};
// unsafe: row = from, column = to (order of kDtypes); 1 = numpy.can_cast is True
const char* const kUnsafe[] = {
    "111111111111111111111",  // |b1
    "111111111111111111111",  // |i1
    "111111111111111111111",  // |u1
    "111111111111111111111",  // <i2
    "111111111111111111111",  // >i2
    "111111111111111111111",  // <u2
    "111111111111111111111",  // >u2
    "111111111111111111111",  // <i4
    "111111111111111111111",  // >i4
    "111111111111111111111",  // <u4
    "111111111111111111111",  // >u4
    "111111111111111111111",  // <i8
    "111111111111111111111",  // >i8
    "111111111111111111111",  // <u8
    "111111111111111111111",  // >u8
    "111111111111111111111",  // <f2
    "111111111111111111111",  // >f2
    "111111111111111111111",  // <f4
    "111111111111111111111",  // >f4
    "111111111111111111111",  // <f8
    "111111111111111111111",  // >f8
};

DType D(const char* spelling) { return ParseDType(spelling).value(); }

void CheckTable(const char* const* table, Casting casting) {
  const size_t n = sizeof(kDtypes) / sizeof(kDtypes[0]);
  for (size_t i = 0; i < n; ++i) {
    REQUIRE(std::string(table[i]).size() == n);
    for (size_t j = 0; j < n; ++j) {
      INFO(std::string(kDtypes[i]) + " -> " + kDtypes[j] + " under " + CastingName(casting));
      CHECK(CanCast(D(kDtypes[i]), D(kDtypes[j]), casting) == (table[i][j] == '1'));
    }
  }
}

TEST_CASE("Casting: safe matches numpy.can_cast for every pair", "[casting]") {
  CheckTable(kSafe, Casting::kSafe);
}

TEST_CASE("Casting: same_kind matches numpy.can_cast for every pair", "[casting]") {
  CheckTable(kSameKind, Casting::kSameKind);
}

TEST_CASE("Casting: unsafe matches numpy.can_cast for every pair", "[casting]") {
  CheckTable(kUnsafe, Casting::kUnsafe);
}

TEST_CASE("Casting: parses the rule names", "[casting]") {
  CHECK(ParseCasting("safe").value() == Casting::kSafe);
  CHECK(ParseCasting("same_kind").value() == Casting::kSameKind);
  CHECK(ParseCasting("unsafe").value() == Casting::kUnsafe);
  for (const char* bad : {"", "Safe", "no", "equiv", "same-kind"}) {
    INFO(bad);
    const Result<Casting> r = ParseCasting(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kConfig);
    CHECK(r.status().message().find("known: safe, same_kind, unsafe") != std::string::npos);
  }
}

using I8 = KindTraits<Kind::kInt8>;
using U8 = KindTraits<Kind::kUInt8>;
using I32 = KindTraits<Kind::kInt32>;
using U32 = KindTraits<Kind::kUInt32>;
using I64 = KindTraits<Kind::kInt64>;
using U64 = KindTraits<Kind::kUInt64>;
using F16 = KindTraits<Kind::kFloat16>;
using F32 = KindTraits<Kind::kFloat32>;
using B = KindTraits<Kind::kBool>;

TEST_CASE("Casting: float to integer truncates toward zero in range", "[casting]") {
  CHECK(CastElement<I32>(2.7) == 2);
  CHECK(CastElement<I32>(-2.7) == -2);
  CHECK(CastElement<I8>(-128.9) == -128);
  CHECK(CastElement<U8>(255.99) == 255);
  CHECK(CastElement<U8>(-0.5) == 0);
  CHECK(CastElement<I64>(-9007199254740993.0) == -9007199254740992LL);
}

TEST_CASE("Casting: NaN gives 0 and out-of-range floats saturate (documented choice)",
          "[casting]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(),
               inf = std::numeric_limits<double>::infinity();
  CHECK(CastElement<I32>(nan) == 0);
  CHECK(CastElement<U8>(nan) == 0);
  CHECK(CastElement<I8>(300.7) == 127);
  CHECK(CastElement<I8>(-300.7) == -128);
  CHECK(CastElement<U8>(-1.5) == 0);
  CHECK(CastElement<U32>(1e30) == std::numeric_limits<uint32_t>::max());
  CHECK(CastElement<I64>(inf) == std::numeric_limits<int64_t>::max());
  CHECK(CastElement<I64>(-inf) == std::numeric_limits<int64_t>::min());
  CHECK(CastElement<I64>(9223372036854775808.0) == std::numeric_limits<int64_t>::max());
  CHECK(CastElement<U64>(18446744073709551616.0) == std::numeric_limits<uint64_t>::max());
  CHECK(CastElement<U64>(18446744073709549568.0) == 18446744073709549568ULL);
}

TEST_CASE("Casting: integers wrap, bool is != 0, floats round to nearest", "[casting]") {
  CHECK(CastElement<I8>(int32_t{300}) == 44);
  CHECK(CastElement<U8>(int16_t{-1}) == 255);
  CHECK(CastElement<B>(int32_t{-7}) == 1);
  CHECK(CastElement<B>(0.0) == 0);
  CHECK(CastElement<B>(std::numeric_limits<double>::quiet_NaN()) == 1);  // numpy: NaN is True
  CHECK(CastElement<F32>(int64_t{16777217}) == 16777216.0f);
  // int64 -> float32 rounds once (through double it would round twice).
  const int64_t x = (int64_t{1} << 60) + (int64_t{1} << 36) + 1;
  CHECK(CastElement<F32>(x) == 0x1.000002p60f);
  CHECK(CastElement<F16>(1.0) == 0x3c00);
  CHECK(CastElement<F16>(65520.0) == 0x7c00);
  CHECK(CastElement<F16>(uint64_t{2049}) == DoubleToHalf(2048.0));
}

}  // namespace
}  // namespace mm
