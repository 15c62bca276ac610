// The tiles of doubles the vector kernels of histogram, quantiles and cov
// take: core/dtype.h's LoadDoubles, with native float32 widened by the
// vector kernel (simd::WidenF32; the same doubles, 5-10x faster). Kept out
// of stats_simd.h, which the per-instruction-set kernel files include.
#pragma once

#include <cstdint>

#include "analysis/stats_simd.h"
#include "core/dtype.h"

namespace mm {

// n consecutive elements from p as doubles into out. False promises that
// none is NaN; true: some may be.
template <class Traits, bool kSwap>
inline bool LoadTile(const char* p, uint64_t n, double* out) {
  if constexpr (Traits::kKind == Kind::kFloat32 && !kSwap) {
    return simd::WidenF32(p, n, out);
  } else {
    LoadDoubles<Traits, kSwap>(p, n, out);
    return Traits::kIsFloat;
  }
}

}  // namespace mm
