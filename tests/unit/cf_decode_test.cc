// The CF decoder (source/hdf5/cf_decode.h): every stored numeric dtype in
// both byte orders, unpacked with float32 and float64 attributes, against a
// reference written out here (numpy 1.24's types, measured with Debian's
// numpy: an int of <= 16 bits with a float32 scale stays float32, wider ints
// go to float64; each operation rounded in its type), and the masking rules.
#include "source/hdf5/cf_decode.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "source/dataset.h"

namespace mm {
namespace {

template <class T>
uint64_t Bits(T v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof v);
  return b;
}

template <class T>
std::vector<char> Stored(const std::vector<T>& values, bool swap) {
  std::vector<char> out(values.size() * sizeof(T));
  for (size_t i = 0; i < values.size(); ++i) {
    T v = swap ? ByteSwap(values[i]) : values[i];
    std::memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
  }
  return out;
}

// Reference: M(v) * M(s), rounded to M, then F + F(o), rounded to F.
template <class M, class F>
F Unpack(double v, double s, double o) {
  volatile M t = static_cast<M>(v) * static_cast<M>(s);
  volatile F r = static_cast<F>(t) + static_cast<F>(o);
  return r;
}

template <class T>
void CheckUnpack(Kind kind, bool big, Kind attr, Kind want_decoded) {
  const std::vector<T> values = {T(0), T(1), T(7), T(100), T(3), T(120)};
  CfDecoding cf;
  cf.decoded = true;
  cf.stored = DType{kind, big};
  cf.op = CfDecoding::kScaleOffset;
  const double scale = attr == Kind::kFloat32 ? double(0.037f) : 0.037;
  const double offset = attr == Kind::kFloat32 ? double(-12.5f) : -12.5;
  cf.scale = scale;
  cf.offset = offset;
  cf.multiply_kind = CfPromote(kind, attr, scale);
  const Kind decoded = CfPromote(cf.multiply_kind, attr, offset);
  REQUIRE(decoded == want_decoded);
  const std::vector<char> in = Stored(values, big != HostIsBigEndian());
  const DType out_type{decoded, false};
  std::vector<char> out(values.size() * static_cast<size_t>(out_type.itemsize()));
  CfDecode(cf, out_type, in.data(), values.size(), out.data());
  if (out.size() == in.size()) {  // one size: in place gives the same bytes
    std::vector<char> same = in;
    CfDecode(cf, out_type, same.data(), values.size(), same.data());
    CHECK(same == out);
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = static_cast<double>(values[i]);
    if (decoded == Kind::kFloat32) {
      float got;
      std::memcpy(&got, out.data() + i * 4, 4);
      CHECK(Bits(got) == Bits(Unpack<float, float>(v, scale, offset)));
    } else {
      double got;
      std::memcpy(&got, out.data() + i * 8, 8);
      const double want = cf.multiply_kind == Kind::kFloat32
                              ? Unpack<float, double>(v, scale, offset)
                              : Unpack<double, double>(v, scale, offset);
      CHECK(Bits(got) == Bits(want));
    }
  }
}

TEST_CASE("CfDecode: every stored dtype x float32/float64 attributes x byte order") {
  for (const bool big : {false, true}) {
    CAPTURE(big);
    const Kind f4 = Kind::kFloat32, f8 = Kind::kFloat64;
    CheckUnpack<int8_t>(Kind::kInt8, big, f4, f4);
    CheckUnpack<int8_t>(Kind::kInt8, big, f8, f8);
    CheckUnpack<uint8_t>(Kind::kUInt8, big, f4, f4);
    CheckUnpack<uint8_t>(Kind::kUInt8, big, f8, f8);
    CheckUnpack<int16_t>(Kind::kInt16, big, f4, f4);
    CheckUnpack<int16_t>(Kind::kInt16, big, f8, f8);
    CheckUnpack<uint16_t>(Kind::kUInt16, big, f4, f4);
    CheckUnpack<uint16_t>(Kind::kUInt16, big, f8, f8);
    CheckUnpack<int32_t>(Kind::kInt32, big, f4, f8);
    CheckUnpack<int32_t>(Kind::kInt32, big, f8, f8);
    CheckUnpack<uint32_t>(Kind::kUInt32, big, f4, f8);
    CheckUnpack<uint32_t>(Kind::kUInt32, big, f8, f8);
    CheckUnpack<int64_t>(Kind::kInt64, big, f4, f8);
    CheckUnpack<int64_t>(Kind::kInt64, big, f8, f8);
    CheckUnpack<uint64_t>(Kind::kUInt64, big, f4, f8);
    CheckUnpack<uint64_t>(Kind::kUInt64, big, f8, f8);
    CheckUnpack<float>(Kind::kFloat32, big, f4, f4);
    CheckUnpack<float>(Kind::kFloat32, big, f8, f4);  // a float64 scalar that fits float32
    CheckUnpack<double>(Kind::kFloat64, big, f4, f8);
    CheckUnpack<double>(Kind::kFloat64, big, f8, f8);
  }
}

TEST_CASE("CfPromote: a float64 scalar that overflows float32 widens a float32 array") {
  CHECK(CfPromote(Kind::kFloat32, Kind::kFloat64, 1e300) == Kind::kFloat64);
  CHECK(CfPromote(Kind::kFloat32, Kind::kFloat64, 1e30) == Kind::kFloat32);
}

TEST_CASE(
    "CfDecode: fill, missing values and the valid range mask as NaN; _Unsigned compares unsigned") {
  const std::vector<int16_t> values = {-1, 5, 7, -32767, 300, 200, -100};
  for (const bool big : {false, true}) {
    CfDecoding cf;
    cf.decoded = true;
    cf.stored = DType{Kind::kInt16, big};
    cf.equal = {Bits<int16_t>(5), Bits<int16_t>(7)};
    cf.has_min = true;
    cf.valid_min = Bits<int16_t>(-200);
    cf.has_max = true;
    cf.valid_max = Bits<int16_t>(250);
    const std::vector<char> in = Stored(values, big != HostIsBigEndian());
    std::vector<double> out(values.size());
    CfDecode(cf, DType{Kind::kFloat64, false}, in.data(), values.size(),
             reinterpret_cast<char*>(out.data()));
    CHECK(out[0] == -1);
    CHECK(std::isnan(out[1]));
    CHECK(std::isnan(out[2]));
    CHECK(std::isnan(out[3]));  // < valid_min
    CHECK(std::isnan(out[4]));  // > valid_max
    CHECK(out[5] == 200);
    CHECK(out[6] == -100);
    // _Unsigned: -1 is 65535 (the fill), -100 is 65436 (<= valid_max 65500).
    cf.as_unsigned = true;
    cf.equal = {Bits<int16_t>(-1)};  // the fill cast to int16, viewed unsigned
    cf.has_min = false;
    cf.valid_max = Bits<uint16_t>(65500);
    CfDecode(cf, DType{Kind::kFloat64, false}, in.data(), values.size(),
             reinterpret_cast<char*>(out.data()));
    CHECK(std::isnan(out[0]));  // == fill 65535
    CHECK(out[1] == 5);
    CHECK(out[3] == 32769);  // -32767 read unsigned
    CHECK(out[6] == 65436);
  }
}

TEST_CASE("CfDecode: float data keeps NaN; a masked float32 stays float32") {
  const std::vector<float> values = {1.5f, NAN, -999.f, 3.f};
  CfDecoding cf;
  cf.decoded = true;
  cf.stored = DType{Kind::kFloat32, true};
  cf.equal = {Bits<float>(-999.f)};
  const std::vector<char> in = Stored(values, !HostIsBigEndian());
  std::vector<float> out(values.size());
  CfDecode(cf, DType{Kind::kFloat32, false}, in.data(), values.size(),
           reinterpret_cast<char*>(out.data()));
  CHECK(out[0] == 1.5f);
  CHECK(std::isnan(out[1]));
  CHECK(std::isnan(out[2]));
  CHECK(out[3] == 3.f);
}

TEST_CASE("CfDecode: many tiles, masks and NaN; in place the same as out of place") {
  // 2500 float32 values (three tiles of the loop, the last short): a fill
  // value, a missing value, values outside the valid range and NaN.
  std::vector<float> values(2500);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 97) - 10.0f;
  values[5] = -9999.0f;
  values[1100] = -9999.0f;
  values[2499] = 1e30f;
  values[2000] = std::nanf("");
  CfDecoding cf;
  cf.decoded = true;
  cf.stored = DType{Kind::kFloat32, false};
  cf.op = CfDecoding::kConvert;
  float fill = -9999.0f, missing = 1e30f, lo = -5.0f;
  uint64_t bits = 0;
  std::memcpy(&bits, &fill, 4);
  cf.equal.push_back(bits);
  std::memcpy(&bits, &missing, 4);
  cf.equal.push_back(bits);
  cf.has_min = true;
  bits = 0;
  std::memcpy(&bits, &lo, 4);
  cf.valid_min = bits;
  const DType f4{Kind::kFloat32, false};
  std::vector<float> out(values.size());
  CfDecode(cf, f4, reinterpret_cast<const char*>(values.data()), values.size(),
           reinterpret_cast<char*>(out.data()));
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("element " << i);
    const float v = values[i];
    const bool masked = v == fill || v == missing || v < lo || v != v;
    if (masked) {
      CHECK(std::isnan(out[i]));
    } else {
      CHECK(Bits(out[i]) == Bits(v));
    }
  }
  std::vector<float> same = values;
  CfDecode(cf, f4, reinterpret_cast<const char*>(same.data()), same.size(),
           reinterpret_cast<char*>(same.data()));
  CHECK(std::memcmp(same.data(), out.data(), out.size() * sizeof(float)) == 0);
}

}  // namespace
}  // namespace mm
