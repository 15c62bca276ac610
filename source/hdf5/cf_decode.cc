#include "source/hdf5/cf_decode.h"

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
// type (F or narrower), S = the stored storage type.
template <class S, bool kSwap, class C, class F, class M>
void DecodeLoop(const CfDecoding& cf, const char* in, uint64_t n, F* out) {
  std::vector<C> eq_values;  // per call (a window), not per element
  for (const uint64_t bits : cf.equal) eq_values.push_back(FromBits<C>(bits));
  const C* eq = eq_values.data();
  const size_t neq = eq_values.size();
  const bool has_min = cf.has_min, has_max = cf.has_max;
  const C vmin = FromBits<C>(cf.valid_min), vmax = FromBits<C>(cf.valid_max);
  const bool masks = neq > 0 || has_min || has_max;
  const int op = cf.op;
  const M mscale = static_cast<M>(cf.scale);
  const F fscale = static_cast<F>(cf.scale), foffset = static_cast<F>(cf.offset);
  const F nan = std::numeric_limits<F>::quiet_NaN();
  for (uint64_t i = 0; i < n; ++i) {
    S s;
    std::memcpy(&s, in + i * sizeof(S), sizeof(S));
    if constexpr (kSwap) s = ByteSwap(s);
    C v;
    std::memcpy(&v, &s, sizeof(C));
    if (masks) {
      bool m = false;
      for (size_t k = 0; k < neq; ++k) m |= v == eq[k];
      if (has_min) m |= v < vmin;
      if (has_max) m |= v > vmax;
      if (m) {
        out[i] = nan;
        continue;
      }
    }
    F r;
    switch (op) {
      case CfDecoding::kScaleOffset: {
        const M t = static_cast<M>(v) * mscale;
        r = static_cast<F>(t) + foffset;
        break;
      }
      case CfDecoding::kScale:
        r = static_cast<F>(v) * fscale;
        break;
      case CfDecoding::kOffset:
        r = static_cast<F>(v) + foffset;
        break;
      default:
        r = static_cast<F>(v);
    }
    out[i] = r;
  }
}

template <class S, bool kSwap, class C>
void DecodeAs(const CfDecoding& cf, DType decoded, const char* in, uint64_t n, char* out) {
  if (decoded.kind == Kind::kFloat32) {
    DecodeLoop<S, kSwap, C, float, float>(cf, in, n, reinterpret_cast<float*>(out));
  } else if (decoded.kind == Kind::kFloat64) {
    if (cf.multiply_kind == Kind::kFloat32)
      DecodeLoop<S, kSwap, C, double, float>(cf, in, n, reinterpret_cast<double*>(out));
    else
      DecodeLoop<S, kSwap, C, double, double>(cf, in, n, reinterpret_cast<double*>(out));
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
      std::memcpy(out, in, n * sizeof(S));
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
