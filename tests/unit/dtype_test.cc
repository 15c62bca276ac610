// Tests of core/dtype: numpy spellings, descr, float16 conversion against
// values numpy 1.24 produced, byte swapping.
#include "core/dtype.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace mm {
namespace {

enum class Order { kLittle, kBig, kNative };

struct SpellingCase {
  const char* spelling;
  Kind kind;
  Order order;
};

// Every spelling named in dtype.h's comment, the canonical names and the
// kind+size codes with each byte-order prefix.
const SpellingCase kSpellings[] = {
    {"float32", Kind::kFloat32, Order::kNative},
    {"f4", Kind::kFloat32, Order::kNative},
    {"<f4", Kind::kFloat32, Order::kLittle},
    {">f8", Kind::kFloat64, Order::kBig},
    {"=i2", Kind::kInt16, Order::kNative},
    {"|u1", Kind::kUInt8, Order::kNative},
    {"int16", Kind::kInt16, Order::kNative},
    {"bool", Kind::kBool, Order::kNative},
    {"?", Kind::kBool, Order::kNative},
    {"b1", Kind::kBool, Order::kNative},
    {"float16", Kind::kFloat16, Order::kNative},
    {"half", Kind::kFloat16, Order::kNative},
    {"single", Kind::kFloat32, Order::kNative},
    {"double", Kind::kFloat64, Order::kNative},
    {"float", Kind::kFloat64, Order::kNative},
    {"int", Kind::kInt64, Order::kNative},
    {"uint", Kind::kUInt64, Order::kNative},
    // One-letter type codes.
    {"b", Kind::kInt8, Order::kNative},
    {"B", Kind::kUInt8, Order::kNative},
    {"h", Kind::kInt16, Order::kNative},
    {"H", Kind::kUInt16, Order::kNative},
    {"i", Kind::kInt32, Order::kNative},
    {"I", Kind::kUInt32, Order::kNative},
    {"l", Kind::kInt64, Order::kNative},
    {"L", Kind::kUInt64, Order::kNative},
    {"q", Kind::kInt64, Order::kNative},
    {"Q", Kind::kUInt64, Order::kNative},
    {"e", Kind::kFloat16, Order::kNative},
    {"f", Kind::kFloat32, Order::kNative},
    {"d", Kind::kFloat64, Order::kNative},
    {">h", Kind::kInt16, Order::kBig},
    {"<e", Kind::kFloat16, Order::kLittle},
    {">d", Kind::kFloat64, Order::kBig},
    // Canonical names.
    {"int8", Kind::kInt8, Order::kNative},
    {"uint8", Kind::kUInt8, Order::kNative},
    {"uint16", Kind::kUInt16, Order::kNative},
    {"int32", Kind::kInt32, Order::kNative},
    {"uint32", Kind::kUInt32, Order::kNative},
    {"int64", Kind::kInt64, Order::kNative},
    {"uint64", Kind::kUInt64, Order::kNative},
    {"float64", Kind::kFloat64, Order::kNative},
    // kind+size codes and prefixes.
    {"i1", Kind::kInt8, Order::kNative},
    {">i1", Kind::kInt8, Order::kNative},
    {"u2", Kind::kUInt16, Order::kNative},
    {">u2", Kind::kUInt16, Order::kBig},
    {"<i4", Kind::kInt32, Order::kLittle},
    {">u4", Kind::kUInt32, Order::kBig},
    {"=i8", Kind::kInt64, Order::kNative},
    {"<u8", Kind::kUInt64, Order::kLittle},
    {">f2", Kind::kFloat16, Order::kBig},
    {"|f2", Kind::kFloat16, Order::kNative},
    {"|b1", Kind::kBool, Order::kNative},
    {">b1", Kind::kBool, Order::kNative},
    {"|i2", Kind::kInt16, Order::kNative},
};

TEST_CASE("DType: parses every numpy spelling", "[dtype]") {
  for (const SpellingCase& c : kSpellings) {
    INFO("spelling " << c.spelling);
    Result<DType> d = ParseDType(c.spelling);
    REQUIRE(d.ok());
    CHECK(d->kind == c.kind);
    const bool big = c.order == Order::kBig || (c.order == Order::kNative && HostIsBigEndian());
    if (d->itemsize() > 1) {
      CHECK(d->big_endian == big);
    } else {
      CHECK_FALSE(d->big_endian);
    }
  }
}

TEST_CASE("DType: descr names kind, size and byte order as numpy does", "[dtype]") {
  struct Case {
    Kind kind;
    bool big;
    const char* descr;
    const char* name;
    int size;
    char ch;
  };
  const Case cases[] = {
      {Kind::kBool, false, "|b1", "bool", 1, 'b'},
      {Kind::kBool, true, "|b1", "bool", 1, 'b'},
      {Kind::kInt8, false, "|i1", "int8", 1, 'i'},
      {Kind::kUInt8, true, "|u1", "uint8", 1, 'u'},
      {Kind::kInt16, true, ">i2", "int16", 2, 'i'},
      {Kind::kUInt16, false, "<u2", "uint16", 2, 'u'},
      {Kind::kInt32, false, "<i4", "int32", 4, 'i'},
      {Kind::kUInt32, true, ">u4", "uint32", 4, 'u'},
      {Kind::kInt64, false, "<i8", "int64", 8, 'i'},
      {Kind::kUInt64, true, ">u8", "uint64", 8, 'u'},
      {Kind::kFloat16, false, "<f2", "float16", 2, 'f'},
      {Kind::kFloat32, false, "<f4", "float32", 4, 'f'},
      {Kind::kFloat64, true, ">f8", "float64", 8, 'f'},
  };
  for (const Case& c : cases) {
    DType d;
    d.kind = c.kind;
    d.big_endian = c.big;
    INFO("descr " << c.descr);
    CHECK(d.descr() == c.descr);
    CHECK(std::string(d.name()) == c.name);
    CHECK(d.itemsize() == c.size);
    CHECK(d.kind_char() == c.ch);
  }
}

TEST_CASE("DType: descr and name round-trip through ParseDType", "[dtype]") {
#define MM_X(kind_, storage, ch, size, name_)                 \
  for (bool big : {false, true}) {                            \
    DType d;                                                  \
    d.kind = Kind::kind_;                                     \
    d.big_endian = big && size > 1;                           \
    INFO("descr " << d.descr());                              \
    Result<DType> back = ParseDType(d.descr());               \
    REQUIRE(back.ok());                                       \
    CHECK(*back == d);                                        \
    CHECK(back->big_endian == d.big_endian);                  \
    Result<DType> by_name = ParseDType(name_);                \
    REQUIRE(by_name.ok());                                    \
    CHECK(by_name->kind == Kind::kind_);                      \
    CHECK(static_cast<int>(sizeof(storage)) == d.itemsize()); \
  }
  MM_DTYPE_LIST(MM_X)
#undef MM_X
}

TEST_CASE("DType: predicates and equality", "[dtype]") {
  const DType f4 = ParseDType("<f4").value();
  const DType f4be = ParseDType(">f4").value();
  const DType u1 = ParseDType("|u1").value();
  DType u1be = u1;
  u1be.big_endian = true;  // ignored for one-byte types
  CHECK(f4 != f4be);
  CHECK(u1 == u1be);
  CHECK(f4.is_float());
  CHECK_FALSE(f4.is_integer());
  CHECK(ParseDType("i2")->is_signed());
  CHECK(ParseDType("u8")->is_integer());
  CHECK_FALSE(ParseDType("u8")->is_signed());
  CHECK(ParseDType("?")->is_bool());
  CHECK_FALSE(ParseDType("?")->is_integer());
  CHECK(f4be.needs_swap() == !HostIsBigEndian());
  CHECK(f4.needs_swap() == HostIsBigEndian());
  CHECK_FALSE(u1.needs_swap());
}

TEST_CASE("DType: rejects unsupported spellings with kConfig", "[dtype]") {
  const char* bad[] = {"c16", "M8", "U10", "O",        "f16", "<c8", "M8[ns]", "|V8",    "S5",
                       "",    "<",  "i3",  "float128", "i16", "b2",  "f4 ",    "Float32"};
  for (const char* s : bad) {
    INFO("spelling '" << s << "'");
    Result<DType> d = ParseDType(s);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == Code::kConfig);
    CHECK_THAT(d.status().message(), Catch::Contains("'" + std::string(s) + "'"));
  }
}

// numpy: np.array([x]).astype(np.float16).view(np.uint16), numpy 1.24.2.
TEST_CASE("DType: DoubleToHalf matches numpy", "[dtype]") {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    double value;
    uint16_t bits;
  };
  const Case cases[] = {
      {0x0.0p+0, 0x0000},
      {-0x0.0p+0, 0x8000},
      {0x1.0p+0, 0x3c00},
      {-0x1.4p+1, 0xc100},              // -2.5
      {0x1.999999999999ap-4, 0x2e66},   // 0.1
      {0x1.5555555555555p-2, 0x3555},   // 1/3
      {0x1.ffcp+15, 0x7bff},            // 65504, the largest half
      {0x1.ffdffae147ae1p+15, 0x7bff},  // 65519.99
      {0x1.ffep+15, 0x7c00},            // 65520 ties to even: infinity
      {0x1.e848p+19, 0x7c00},           // 1e6 overflows
      {-0x1.e848p+19, 0xfc00},
      {0x1.0p-14, 0x0400},              // smallest normal
      {0x1.ffcp-15, 0x0400},            // rounds up into the normals
      {0x1.ff8p-15, 0x03ff},            // largest subnormal
      {0x1.0p-24, 0x0001},              // smallest subnormal
      {0x1.0p-25, 0x0000},              // tie to even: zero
      {0x1.000001ad7f29bp-25, 0x0001},  // just above the tie
      {0x1.8p-25, 0x0001},              // 1.5 * 2^-25
      {0x1.8p-24, 0x0002},              // 1.5 units: tie to even (2)
      {0x1.002p+0, 0x3c00},             // 1 + 2^-11: tie to even (down)
      {0x1.006p+0, 0x3c02},             // 1 + 3*2^-11: tie to even (up)
      {0x1.004p+0, 0x3c01},             // 1 + 2^-10, exact
      {0x1.002p+11, 0x6800},            // 2049
      {0x1.006p+11, 0x6802},            // 2051
      {0x1.ffb480a5accd5p-15, 0x03ff},  // 6.1e-05
      {0x1.fff5c939522dbp-25, 0x0001},  // 5.96e-08
      {0x1.12e0be826d695p-30, 0x0000},  // 1e-09 underflows
      {inf, 0x7c00},
      {-inf, 0xfc00},
      {std::numeric_limits<double>::quiet_NaN(), 0x7e00},
  };
  for (const Case& c : cases) {
    INFO("value " << c.value);
    CHECK(DoubleToHalf(c.value) == c.bits);
  }
  // NaN payloads: numpy keeps the top 10 bits of the significand.
  struct NanCase {
    uint64_t double_bits;
    uint16_t half_bits;
  };
  const NanCase nans[] = {
      {0x7ff8000000000000ull, 0x7e00},
      {0xfff8000000000000ull, 0xfe00},
      {0x7ff4000000000000ull, 0x7d00},
      {0x7ff0000000000001ull, 0x7c01},  // payload below the kept bits: still a NaN
  };
  for (const NanCase& c : nans) {
    double d;
    std::memcpy(&d, &c.double_bits, sizeof d);
    INFO("double bits " << c.double_bits);
    CHECK(DoubleToHalf(d) == c.half_bits);
  }
}

// numpy: np.array([bits], np.uint16).view(np.float16).astype(float).
TEST_CASE("DType: HalfToDouble matches numpy", "[dtype]") {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    uint16_t bits;
    double value;
  };
  const Case cases[] = {
      {0x0000, 0x0.0p+0},   {0x0001, 0x1.0p-24},   {0x0200, 0x1.0p-15},    {0x03ff, 0x1.ff8p-15},
      {0x0400, 0x1.0p-14},  {0x3bff, 0x1.ffcp-1},  {0x3c00, 0x1.0p+0},     {0x3555, 0x1.554p-2},
      {0x5640, 0x1.9p+6},   {0x7bff, 0x1.ffcp+15}, {0xfbff, -0x1.ffcp+15}, {0xc000, -0x1.0p+1},
      {0x8001, -0x1.0p-24}, {0x7c00, inf},         {0xfc00, -inf},
  };
  for (const Case& c : cases) {
    INFO("bits " << c.bits);
    CHECK(HalfToDouble(c.bits) == c.value);
  }
  const double negative_zero = HalfToDouble(0x8000);
  CHECK(negative_zero == 0.0);
  CHECK(std::signbit(negative_zero));
  CHECK(std::isnan(HalfToDouble(0x7e00)));
  CHECK(std::isnan(HalfToDouble(0x7c01)));
  CHECK(std::isnan(HalfToDouble(0xfe00)));
}

TEST_CASE("DType: every finite half survives a round trip through double", "[dtype]") {
  int failures = 0;
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const double d = HalfToDouble(bits);
    if (std::isnan(d)) continue;
    if (DoubleToHalf(d) != bits) ++failures;
  }
  CHECK(failures == 0);
}

TEST_CASE("DType: ByteSwap reverses the bytes", "[dtype]") {
  CHECK(ByteSwap<uint8_t>(0xab) == 0xab);
  CHECK(ByteSwap<int8_t>(-5) == -5);
  CHECK(ByteSwap<uint16_t>(0x1234) == 0x3412);
  CHECK(ByteSwap<int16_t>(0x0180) == static_cast<int16_t>(0x8001));
  CHECK(ByteSwap<uint32_t>(0x12345678u) == 0x78563412u);
  CHECK(ByteSwap<uint64_t>(0x0102030405060708ull) == 0x0807060504030201ull);
  const float f = 1.5f;
  const float swapped = ByteSwap(f);
  unsigned char a[4], b[4];
  std::memcpy(a, &f, 4);
  std::memcpy(b, &swapped, 4);
  for (int i = 0; i < 4; ++i) CHECK(a[i] == b[3 - i]);
  CHECK(ByteSwap(swapped) == f);
  CHECK(ByteSwap(ByteSwap(-0x1.23456789abcdep+100)) == -0x1.23456789abcdep+100);
}

TEST_CASE("DType: LoadElement reads big-endian data on any host", "[dtype]") {
  const unsigned char be_i16[] = {0xff, 0xfe};  // -2 big-endian
  const unsigned char be_f2[] = {0x3c, 0x00};   // 1.0 big-endian float16
  const unsigned char be_f8[] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};  // pi
  const char* p16 = reinterpret_cast<const char*>(be_i16);
  const char* pf2 = reinterpret_cast<const char*>(be_f2);
  const char* pf8 = reinterpret_cast<const char*>(be_f8);
  if (HostIsBigEndian()) {
    CHECK(LoadElement<KindTraits<Kind::kInt16>, false>(p16) == -2);
    CHECK(LoadElement<KindTraits<Kind::kFloat16>, false>(pf2) == 1.0);
    CHECK(LoadElement<KindTraits<Kind::kFloat64>, false>(pf8) == 0x1.921fb54442d18p+1);
  } else {
    CHECK(LoadElement<KindTraits<Kind::kInt16>, true>(p16) == -2);
    CHECK(LoadElement<KindTraits<Kind::kFloat16>, true>(pf2) == 1.0);
    CHECK(LoadElement<KindTraits<Kind::kFloat64>, true>(pf8) == 0x1.921fb54442d18p+1);
  }
  const char two = 2;
  CHECK(LoadElement<KindTraits<Kind::kBool>, false>(&two) == 1);
}

TEST_CASE("DType: VisitKind dispatches to the runtime kind", "[dtype]") {
#define MM_X(kind_, storage, ch, size, name_)                                    \
  CHECK(VisitKind(Kind::kind_, [](auto traits) {                                 \
          using T = decltype(traits);                                            \
          return static_cast<int>(sizeof(typename T::Storage)) * 256 + T::kChar; \
        }) == size * 256 + ch);
  MM_DTYPE_LIST(MM_X)
#undef MM_X
}

}  // namespace
}  // namespace mm
