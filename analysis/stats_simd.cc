#include "analysis/stats_simd.h"

#include <cstdlib>
#include <cstring>

namespace mm {
namespace simd {

namespace {

// The copies, weakest first; each needs what the one before it needs.
enum class Copy { kBase, kAvx2, kAvx512 };

Copy BestCopy() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") == 0) return Copy::kBase;
  if (__builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
      __builtin_cpu_supports("avx512vl") != 0)
    return Copy::kAvx512;
  return Copy::kAvx2;
#else
  return Copy::kBase;
#endif
}

// MMRUN_SIMD=base|avx2|avx512 asks for a copy; one the CPU cannot run
// gives the best it can (never SIGILL), and anything else the best.
Copy ChosenCopy() {
  const Copy best = BestCopy();
  const char* force = std::getenv("MMRUN_SIMD");
  if (force == nullptr) return best;
  Copy want = best;
  if (std::strcmp(force, "base") == 0) want = Copy::kBase;
  if (std::strcmp(force, "avx2") == 0) want = Copy::kAvx2;
  if (std::strcmp(force, "avx512") == 0) want = Copy::kAvx512;
  return want <= best ? want : best;
}

const KernelTable& TableOf(Copy c) {
  switch (c) {
    case Copy::kAvx512:
      return avx512::kTable;
    case Copy::kAvx2:
      return avx2::kTable;
    default:
      return base::kTable;
  }
}

}  // namespace

const KernelTable& Kernels() {
  static const KernelTable& table = TableOf(ChosenCopy());
  return table;
}

const NamedTable* RunnableTables(int* count) {
  static const NamedTable tables[] = {
      {"base", &base::kTable}, {"avx2", &avx2::kTable}, {"avx512", &avx512::kTable}};
  *count = static_cast<int>(BestCopy()) + 1;
  return tables;
}

RunSums ReduceF32(const char* p, uint64_t n) { return Kernels().reduce_f32(p, n); }
RunSums ReduceF64(const char* p, uint64_t n) { return Kernels().reduce_f64(p, n); }
double DeviationF32(const char* p, uint64_t n, double mean, bool has_nan) {
  return Kernels().deviation_f32(p, n, mean, has_nan);
}
DevSums DeviationF64(const char* p, uint64_t n, double mean, bool has_nan) {
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
void TileDevF64(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2,
                double* t) {
  Kernels().tile_dev_f64(p, rows, len, mean, m2, t);
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
void ResolveExact(const double* x, uint64_t n, const BinGrid& grid, const double* edges,
                  uint32_t* slot) {
  Kernels().resolve_exact(x, n, grid, edges, slot);
}
bool BinSlotsF32(const float* x, uint64_t n, const BinGrid& grid, uint32_t* slot) {
  return Kernels().bin_slots_f32(x, n, grid, slot);
}
PairedSlots BinPairs(const double* x, uint64_t n, const BinGrid& grid, uint32_t* pair,
                     uint32_t* slot, uint32_t* at) {
  return Kernels().bin_pairs(x, n, grid, pair, slot, at);
}
PairedSlots BinPairsF32(const float* x, uint64_t n, const BinGrid& grid, uint32_t* pair,
                        uint32_t* slot, uint32_t* at) {
  return Kernels().bin_pairs_f32(x, n, grid, pair, slot, at);
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

bool WidenF32(const char* p, uint64_t n, double* out) { return Kernels().widen_f32(p, n, out); }
void Widen(WidenFrom from, bool swap, const char* p, uint64_t n, double* out) {
  Kernels().widen(from, swap, p, n, out);
}
void ColumnSums(const double* x, uint64_t rows, uint64_t k, double* sum) {
  Kernels().column_sums(x, rows, k, sum);
}
void SubtractColumns(double* x, uint64_t rows, uint64_t k, const double* mean, double* sum) {
  Kernels().subtract_columns(x, rows, k, mean, sum);
}

}  // namespace simd
}  // namespace mm
