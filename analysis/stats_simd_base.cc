// The stats kernels for any x86-64 (SSE2; chosen by stats_simd.cc when the
// CPU lacks AVX2).
#define MM_SIMD_NS base
#include "analysis/stats_simd_kernels.h"
