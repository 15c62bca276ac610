// The tiles of doubles the vector kernels of histogram, quantiles and cov
// take: core/dtype.h's LoadDoubles, with native float32 widened by the
// vector kernel (simd::WidenF32; the same doubles, 5-10x faster) and the
// other types of simd::Widen by it. Kept out of stats_simd.h, which the
// per-instruction-set kernel files include.
#pragma once

#include <cstdint>

#include "analysis/stats_simd.h"
#include "core/dtype.h"

namespace mm {

// The simd::Widen type of an element type, when it has one: every type
// but bool (stored bytes are not its values) and float16.
template <class Traits>
constexpr bool kWidens = !(Traits::kKind == Kind::kBool || Traits::kKind == Kind::kFloat16);

template <class Traits>
constexpr simd::WidenFrom WidenFromOf() {
  switch (Traits::kKind) {
    case Kind::kInt8:
      return simd::WidenFrom::kInt8;
    case Kind::kUInt8:
      return simd::WidenFrom::kUInt8;
    case Kind::kInt16:
      return simd::WidenFrom::kInt16;
    case Kind::kUInt16:
      return simd::WidenFrom::kUInt16;
    case Kind::kInt32:
      return simd::WidenFrom::kInt32;
    case Kind::kUInt32:
      return simd::WidenFrom::kUInt32;
    case Kind::kInt64:
      return simd::WidenFrom::kInt64;
    case Kind::kUInt64:
      return simd::WidenFrom::kUInt64;
    case Kind::kFloat32:
      return simd::WidenFrom::kFloat32;
    default:
      return simd::WidenFrom::kFloat64;
  }
}

// n consecutive elements from p as doubles into out (the values of
// LoadDoubles). False promises that none is NaN; true: some may be.
template <class Traits, bool kSwap>
inline bool LoadTile(const char* p, uint64_t n, double* out) {
  if constexpr (Traits::kKind == Kind::kFloat32 && !kSwap) {
    return simd::WidenF32(p, n, out);
  } else if constexpr (kWidens<Traits>) {
    simd::Widen(WidenFromOf<Traits>(), kSwap, p, n, out);
    return Traits::kIsFloat;
  } else {
    LoadDoubles<Traits, kSwap>(p, n, out);
    return Traits::kIsFloat;
  }
}

}  // namespace mm
