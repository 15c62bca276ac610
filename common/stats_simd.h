// Vector kernels for the hottest stats loops: native-order float32/float64
// runs that go to one lane (global statistics) and tiles of rows whose
// elements go to consecutive lanes (per-column statistics).
//
// The global kernels perform exactly the operations of the scalar templates
// in stats_kernel.h, in the same order (eight independent accumulators,
// element i to accumulator i % 8, combined pairwise). The tile kernels for
// short rows accumulate groups of rows in "virtual lanes" and fold them in a
// fixed order, so their per-lane summation order differs from the scalar
// path (used for byte-swapped data) but depends only on the block: results
// are the same bits for any worker split, on any CPU. Each function is
// compiled twice (target_clones: AVX2 and baseline x86-64) and the loader
// picks one for the CPU, so the binary runs on any x86-64.
#pragma once

#include <cstdint>

namespace mm {
namespace simd {

struct RunSums {
  int64_t n = 0;  // non-NaN values
  double sum = 0, min = 0, max = 0;  // min/max: +inf/-inf when n == 0
};

RunSums ReduceF32(const char* p, uint64_t n);
RunSums ReduceF64(const char* p, uint64_t n);
double DeviationF32(const char* p, uint64_t n, double mean);
double DeviationF64(const char* p, uint64_t n, double mean);

// `rows` rows of `len` elements (row r at p + r * len elements) into lane
// columns [0, len): sum, count, nan, min, max (sweep 1) or m2 (sweep 2).
void TileF32(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan, double* mn,
             double* mx);
void TileF64(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan, double* mn,
             double* mx);
void TileDevF32(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2);
void TileDevF64(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2);

}  // namespace simd
}  // namespace mm
