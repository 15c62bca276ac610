#include "analysis/stats_simd.h"

#include <cstdlib>
#include <cstring>

namespace mm {
namespace simd {

namespace {

bool UseAvx2() {
  static const bool use = [] {
    const char* force = std::getenv("MMRUN_SIMD");
    if (force != nullptr && std::strcmp(force, "base") == 0) return false;
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
#else
    return false;
#endif
  }();
  return use;
}

}  // namespace

const KernelTable& Kernels() { return UseAvx2() ? avx2::kTable : base::kTable; }

RunSums ReduceF32(const char* p, uint64_t n) { return Kernels().reduce_f32(p, n); }
RunSums ReduceF64(const char* p, uint64_t n) { return Kernels().reduce_f64(p, n); }
double DeviationF32(const char* p, uint64_t n, double mean, bool has_nan) {
  return Kernels().deviation_f32(p, n, mean, has_nan);
}
double DeviationF64(const char* p, uint64_t n, double mean, bool has_nan) {
  return Kernels().deviation_f64(p, n, mean, has_nan);
}
void TileF32(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
             double* mn, double* mx) {
  Kernels().tile_f32(p, rows, len, sum, cnt, nan, mn, mx);
}
void TileF64(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
             double* mn, double* mx) {
  Kernels().tile_f64(p, rows, len, sum, cnt, nan, mn, mx);
}
void TileDevF32(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2,
                bool has_nan) {
  Kernels().tile_dev_f32(p, rows, len, mean, m2, has_nan);
}
void TileDevF64(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2) {
  Kernels().tile_dev_f64(p, rows, len, mean, m2);
}

FusedSums FusedF32(const char* p, uint64_t n, double shift) {
  return Kernels().fused_f32(p, n, shift);
}
void FusedTileF32(const char* p, uint64_t rows, uint64_t len, const double* shift, double* sum,
                  int64_t* cnt, int64_t* nan, double* mn, double* mx, double* t, double* q) {
  Kernels().fused_tile_f32(p, rows, len, shift, sum, cnt, nan, mn, mx, t, q);
}

bool BinSlots(const double* x, uint64_t n, const BinGrid& grid, uint32_t* slot) {
  return Kernels().bin_slots(x, n, grid, slot);
}

void CoMoments(const double* x, uint64_t rows, uint64_t k, double* c, uint64_t kp) {
  Kernels().co_moments(x, rows, k, c, kp);
}

uint64_t KeyMatches(const double* x, uint64_t n, int shift, const uint64_t* prefix,
                    uint64_t prefixes, uint32_t* hit) {
  return Kernels().key_matches(x, n, shift, prefix, prefixes, hit);
}

uint64_t KeyBits(const double* x, uint64_t n, int shift, uint64_t* out) {
  return Kernels().key_bits(x, n, shift, out);
}

}  // namespace simd
}  // namespace mm
