// The stats kernels for CPUs with AVX2 (compiled with -mavx2, see
// CMakeLists.txt; chosen at run time by stats_simd.cc).
#define MM_SIMD_NS avx2
#include "analysis/stats_simd_kernels.h"
