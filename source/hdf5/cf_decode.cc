#include "source/hdf5/cf_decode.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace mm {

namespace {

template <class T>
T FromBits(uint64_t bits) {
  T v;
  std::memcpy(&v, &bits, sizeof(T));  // little-endian host: the low bytes
  return v;
}

// The loop: C = the compare type, F = the decoded type, M = the multiply
// type (F or narrower), S = the stored storage type, kOp = cf.op. Tiles of
// kTile elements, each in simple loops the compiler vectorises: the stored
// values into C, the arithmetic, then one pass per masking test that puts
// NaN where it holds (so the element-wise result is the same as one test
// after another).
constexpr uint64_t kTile = 1024;

template <class S, bool kSwap, class C, class F, class M, int kOp>
void DecodeLoop(const CfDecoding& cf, const char* in, uint64_t n, F* out) {
  std::vector<C> eq;  // per call (a window), not per element
  for (const uint64_t bits : cf.equal) eq.push_back(FromBits<C>(bits));
  const bool has_min = cf.has_min, has_max = cf.has_max;
  const C vmin = FromBits<C>(cf.valid_min), vmax = FromBits<C>(cf.valid_max);
  const M mscale = static_cast<M>(cf.scale);
  const F fscale = static_cast<F>(cf.scale), foffset = static_cast<F>(cf.offset);
  const F nan = std::numeric_limits<F>::quiet_NaN();
  C v[kTile];
  for (uint64_t i0 = 0; i0 < n; i0 += kTile) {
    const uint64_t len = std::min(kTile, n - i0);
    const char* src = in + i0 * sizeof(S);
    F* dst = out + i0;
    for (uint64_t i = 0; i < len; ++i) {
      S s;
      std::memcpy(&s, src + i * sizeof(S), sizeof(S));
      if constexpr (kSwap) s = ByteSwap(s);
      std::memcpy(&v[i], &s, sizeof(C));
    }
    for (uint64_t i = 0; i < len; ++i) {
      if constexpr (kOp == CfDecoding::kScaleOffset) {
        const M t = static_cast<M>(v[i]) * mscale;
        dst[i] = static_cast<F>(t) + foffset;
      } else if constexpr (kOp == CfDecoding::kScale) {
        dst[i] = static_cast<F>(v[i]) * fscale;
      } else if constexpr (kOp == CfDecoding::kOffset) {
        dst[i] = static_cast<F>(v[i]) + foffset;
      } else {
        dst[i] = static_cast<F>(v[i]);
      }
    }
    for (const C e : eq)
      for (uint64_t i = 0; i < len; ++i) dst[i] = v[i] == e ? nan : dst[i];
    if (has_min)
      for (uint64_t i = 0; i < len; ++i) dst[i] = v[i] < vmin ? nan : dst[i];
    if (has_max)
      for (uint64_t i = 0; i < len; ++i) dst[i] = v[i] > vmax ? nan : dst[i];
  }
}

template <class S, bool kSwap, class C, class F, class M>
void DecodeOp(const CfDecoding& cf, const char* in, uint64_t n, F* out) {
  switch (cf.op) {
    case CfDecoding::kScaleOffset:
      return DecodeLoop<S, kSwap, C, F, M, CfDecoding::kScaleOffset>(cf, in, n, out);
    case CfDecoding::kScale:
      return DecodeLoop<S, kSwap, C, F, M, CfDecoding::kScale>(cf, in, n, out);
    case CfDecoding::kOffset:
      return DecodeLoop<S, kSwap, C, F, M, CfDecoding::kOffset>(cf, in, n, out);
    default:
      return DecodeLoop<S, kSwap, C, F, M, -1>(cf, in, n, out);
  }
}

template <class S, bool kSwap, class C>
void DecodeAs(const CfDecoding& cf, DType decoded, const char* in, uint64_t n, char* out) {
  if (decoded.kind == Kind::kFloat32) {
    DecodeOp<S, kSwap, C, float, float>(cf, in, n, reinterpret_cast<float*>(out));
  } else if (decoded.kind == Kind::kFloat64) {
    if (cf.multiply_kind == Kind::kFloat32)
      DecodeOp<S, kSwap, C, double, float>(cf, in, n, reinterpret_cast<double*>(out));
    else
      DecodeOp<S, kSwap, C, double, double>(cf, in, n, reinterpret_cast<double*>(out));
  } else {  // the compare type itself: nothing masked, nothing unpacked
    for (uint64_t i = 0; i < n; ++i) {
      S s;
      std::memcpy(&s, in + i * sizeof(S), sizeof(S));
      if constexpr (kSwap) s = ByteSwap(s);
      std::memcpy(out + i * sizeof(S), &s, sizeof(S));
    }
  }
}

}  // namespace

Kind CfPromote(Kind a, Kind s, double value) {
  const DType at{a, false};
  if (at.is_integer())
    return s == Kind::kFloat32 && at.itemsize() <= 2 ? Kind::kFloat32 : Kind::kFloat64;
  if (a == Kind::kFloat64) return Kind::kFloat64;
  // a float32 (or float16) array: a float64 scalar counts by its value.
  if (s == Kind::kFloat64 && std::isfinite(value) && std::fabs(value) > FLT_MAX)
    return Kind::kFloat64;
  return a == Kind::kFloat16 ? s : Kind::kFloat32;
}

void CfDecode(const CfDecoding& cf, DType decoded, const char* in, uint64_t n, char* out) {
  VisitDType(cf.stored, [&](auto traits, auto swap) {
    using T = decltype(traits);
    using S = typename T::Storage;
    constexpr bool kSwap = decltype(swap)::value;
    if constexpr (T::kIsBool || T::kKind == Kind::kFloat16) {
      // Never decoded (the describe leaves bool and float16 stored).
      if (out != in) std::memcpy(out, in, n * sizeof(S));
    } else if constexpr (T::kIsSigned) {
      if (cf.as_unsigned)
        DecodeAs<S, kSwap, std::make_unsigned_t<S>>(cf, decoded, in, n, out);
      else
        DecodeAs<S, kSwap, S>(cf, decoded, in, n, out);
    } else {
      DecodeAs<S, kSwap, S>(cf, decoded, in, n, out);
    }
  });
}

}  // namespace mm
