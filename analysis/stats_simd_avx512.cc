// The stats kernels for CPUs with AVX-512 F, BW and VL (compiled with
// -mavx512f -mavx512bw -mavx512vl, see CMakeLists.txt; chosen at run time
// by stats_simd.cc).
#define MM_SIMD_NS avx512
#include "analysis/stats_simd_kernels.h"
