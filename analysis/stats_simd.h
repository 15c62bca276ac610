// Vector kernels for the hottest loops: stats over native-order
// float32/float64 runs that go to one lane (global statistics) and tiles of
// rows whose elements go to consecutive lanes (per-column statistics); the
// histogram's bin of each value; the covariance's co-moments; the
// quantiles' values inside open buckets.
//
// The global kernels perform exactly the operations of the scalar templates
// in stats_kernel.h, in the same order (kWays independent accumulators,
// element i to accumulator i % kWays, combined pairwise), so their results are
// the same bits (tests/unit/stats_simd_test.cc). The tile kernels for
// short rows accumulate groups of rows in "virtual lanes" and fold them in a
// fixed order, so their per-lane summation order differs from the scalar
// path (used for byte-swapped data) but depends only on the block: results
// are the same bits for any worker split, on any CPU. The kernels
// (stats_simd_kernels.h) are compiled three times, for AVX-512 (F, BW, VL),
// AVX2 and baseline x86-64, and the first call picks the best copy the CPU
// can run (MMRUN_SIMD=base|avx2|avx512 asks for one; a copy the CPU lacks
// gives the best it has), so the binary runs on any x86-64. The copies
// keep the same accumulators and the same order of additions, only in
// wider registers, so all three give the same bits.
#pragma once

#include <cstdint>

namespace mm {
namespace simd {

// Global sums use kWays accumulators, element i of a run to accumulator
// i % kWays, combined by CombineWays; the scalar templates of
// stats_kernel.h and the vector kernels agree on both.
constexpr int kWays = 16;

// ((a0 + a1) + (a2 + a3)) + ... : pairwise, in a fixed order. Internal
// linkage: a copy compiled for AVX2 must never serve the baseline code.
static inline double CombineWays(const double* a) {
  double t[kWays];
  for (int j = 0; j < kWays; ++j) t[j] = a[j];
  for (int width = kWays; width > 1; width /= 2) {
    for (int j = 0; j < width / 2; ++j) t[j] = t[2 * j] + t[2 * j + 1];
  }
  return t[0];
}

struct RunSums {
  int64_t n = 0;                     // non-NaN values
  double sum = 0, min = 0, max = 0;  // min/max: +inf/-inf when n == 0
};

RunSums ReduceF32(const char* p, uint64_t n);
RunSums ReduceF64(const char* p, uint64_t n);
// One-pass sums for a piece of a block whose lanes already have a running
// mean `shift` (stats_kernel::SweepBlock): RunSums plus the sums of
// x - shift (t) and (x - shift)^2 (q) over the non-NaN values.
struct FusedSums : RunSums {
  double t = 0, q = 0;
};
FusedSums FusedF32(const char* p, uint64_t n, double shift);
// Tiles as TileF32, plus t[i] += x - shift[i] and q[i] += (x - shift[i])^2.
void FusedTileF32(const char* p, uint64_t rows, uint64_t len, const double* shift, double* sum,
                  int64_t* cnt, int64_t* nan, double* mn, double* mx, double* t, double* q);

// Sum of squared deviations from `mean` of the non-NaN values; has_nan
// false promises the run holds no NaN and skips the test (same result).
// Float64 also sums the deviations themselves (t): the caller's mean came
// from a sum of the values, whose rounding t / n corrects (a float32 sum
// in double is exact enough for its data).
struct DevSums {
  double m2 = 0, t = 0;
};
double DeviationF32(const char* p, uint64_t n, double mean, bool has_nan);
DevSums DeviationF64(const char* p, uint64_t n, double mean, bool has_nan);

// `rows` rows of `len` elements (row r at p + r * len elements) into lane
// columns [0, len): sum, count, nan, min, max (sweep 1) or m2 (sweep 2;
// float64 also t, the sums of the deviations, as DeviationF64).
// mn and mx null: sum, count and nan only, the same bits.
void TileF32(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
             double* mn, double* mx);
void TileF64(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
             double* mn, double* mx);
void TileDevF32(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2,
                bool has_nan);
void TileDevF64(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2,
                double* t);

// Histogram bins (analysis/histogram.cc): for each of n doubles its slot,
// the bin in [0, bins) that numpy's uniform-bin fast path gives, or bins +
// kSlotBelow / kSlotAbove / kSlotNan, or kSlotExact for a value in [lo, hi]
// that lies within `margin` of an edge (in bins), or at hi, whose bin the
// caller must find with numpy's edge corrections (BinFinder::Index, or
// ResolveExact for a tile). Returns
// whether any slot is kSlotExact. The margin (BinFinder::FastMargin) bounds
// the rounding of f = (x - lo) * norm and of the edges, so a value further
// from an edge than that lies between the edges its truncated f names.
struct BinGrid {
  double lo, hi, norm, margin;
  uint32_t bins;
};
constexpr uint32_t kSlotBelow = 0, kSlotAbove = 1, kSlotNan = 2;
constexpr uint32_t kSlotExact = 0xffffffffu;
bool BinSlots(const double* x, uint64_t n, const BinGrid& grid, uint32_t* slot);
// The kSlotExact slots of BinSlots' x[0, n) given their bins: what
// BinFinder::Index returns for those values (edges: the finder's bins + 1
// edges), on every copy; the other slots are left alone.
void ResolveExact(const double* x, uint64_t n, const BinGrid& grid, const double* edges,
                  uint32_t* slot);
// BinSlots of n float32 values in native order (x need not be aligned):
// the same slots as BinSlots on the values cast to double, on every copy.
bool BinSlotsF32(const float* x, uint64_t n, const BinGrid& grid, uint32_t* slot);
// BinSlotsF32 for a histogram counted in pairs of bins (the caller keeps
// bins * bins < 2^31 and n < 2^32): the values x[0, n) that the copy's
// fast path bins, two at a time, give pairs a * bins + b of the bins a and
// b of two of them (which value is paired with which is the copy's choice:
// the count of each bin is the same for any pairing); every other value
// gives its slot in slot (as BinSlotsF32 would, kSlotExact included) and
// its index in x in at. pair has room for n / 2 entries, slot and at for n
// each.
struct PairedSlots {
  uint64_t pairs, singles;
};
PairedSlots BinPairsF32(const float* x, uint64_t n, const BinGrid& grid, uint32_t* pair,
                        uint32_t* slot, uint32_t* at);
// The same for n doubles (x aligned to 8 bytes), with BinSlots' slots.
PairedSlots BinPairs(const double* x, uint64_t n, const BinGrid& grid, uint32_t* pair,
                     uint32_t* slot, uint32_t* at);

// Co-moments of the covariance (analysis/cov.cc): for i in [0, k) and j in
// [i, k), c[i * kp + j] += x[o * k + i] * x[o * k + j] for o = 0, 1, ...,
// rows - 1 in that order, one product and one addition at a time (the same
// bits as that plain loop on any CPU). x holds rows of k doubles and
// kCoMomentPad doubles after the last row that may be anything; c is
// k x kp, kp = k rounded up to kCoMomentPad. Entries of c left of the
// diagonal and from column k on get sums too, which callers ignore.
constexpr uint64_t kCoMomentPad = 4;
void CoMoments(const double* x, uint64_t rows, uint64_t k, double* c, uint64_t kp);

// Quantile refinement (analysis/quantiles.cc): the indices, in order, of
// the values among x[0, n) that are not NaN and whose order-preserving key
// (OrderedKey), shifted right by `shift` (1..63), equals one of the
// `prefixes` given; returns how many. hit has room for n; entries past the
// count returned may be overwritten.
uint64_t KeyMatches(const double* x, uint64_t n, int shift, const uint64_t* prefix,
                    uint64_t prefixes, uint32_t* hit);

// The keys (OrderedKey) of the values among x[0, n) that are not NaN,
// shifted right by `shift` (0..63), in order into out; returns how many.
// out has room for n; entries past the count returned may be overwritten.
uint64_t KeyBits(const double* x, uint64_t n, int shift, uint64_t* out);

// Tiles of doubles (histogram, quantiles, cov), the same bits as the plain
// loops on any CPU: n float32 values in native order at p widened into out
// (returns whether any is NaN); sum[v] += x[o * k + v] for o = 0 .. rows - 1
// in that order (v < k); and x[o * k + v] -= mean[v], adding each result
// to sum[v] in the same order (the deviations' sums).
bool WidenF32(const char* p, uint64_t n, double* out);
void ColumnSums(const double* x, uint64_t rows, uint64_t k, double* sum);
void SubtractColumns(double* x, uint64_t rows, uint64_t k, const double* mean, double* sum);
// n elements of one of these types at p, byte-swapped first when `swap`
// (ignored for one-byte types), widened into out: the doubles of
// core/dtype.h's LoadDoubles (exact, or for 64-bit integers rounded to
// nearest as static_cast rounds).
enum class WidenFrom : uint8_t {
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kFloat32,
  kFloat64
};
void Widen(WidenFrom from, bool swap, const char* p, uint64_t n, double* out);

// (analysis/load_doubles.h picks WidenF32 for native float32 tiles and
// Widen for the other types it can take.)

// The kernels of one instruction set.
struct KernelTable {
  RunSums (*reduce_f32)(const char*, uint64_t);
  RunSums (*reduce_f64)(const char*, uint64_t);
  double (*deviation_f32)(const char*, uint64_t, double, bool);
  DevSums (*deviation_f64)(const char*, uint64_t, double, bool);
  void (*tile_f32)(const char*, uint64_t, uint64_t, double*, int64_t*, int64_t*, double*, double*);
  void (*tile_f64)(const char*, uint64_t, uint64_t, double*, int64_t*, int64_t*, double*, double*);
  void (*tile_dev_f32)(const char*, uint64_t, uint64_t, const double*, double*, bool);
  void (*tile_dev_f64)(const char*, uint64_t, uint64_t, const double*, double*, double*);
  FusedSums (*fused_f32)(const char*, uint64_t, double);
  void (*fused_tile_f32)(const char*, uint64_t, uint64_t, const double*, double*, int64_t*,
                         int64_t*, double*, double*, double*, double*);
  bool (*bin_slots)(const double*, uint64_t, const BinGrid&, uint32_t*);
  void (*resolve_exact)(const double*, uint64_t, const BinGrid&, const double*, uint32_t*);
  bool (*bin_slots_f32)(const float*, uint64_t, const BinGrid&, uint32_t*);
  PairedSlots (*bin_pairs)(const double*, uint64_t, const BinGrid&, uint32_t*, uint32_t*,
                           uint32_t*);
  PairedSlots (*bin_pairs_f32)(const float*, uint64_t, const BinGrid&, uint32_t*, uint32_t*,
                               uint32_t*);
  void (*co_moments)(const double*, uint64_t, uint64_t, double*, uint64_t);
  uint64_t (*key_matches)(const double*, uint64_t, int, const uint64_t*, uint64_t, uint32_t*);
  uint64_t (*key_bits)(const double*, uint64_t, int, uint64_t*);
  bool (*widen_f32)(const char*, uint64_t, double*);
  void (*widen)(WidenFrom, bool, const char*, uint64_t, double*);
  void (*column_sums)(const double*, uint64_t, uint64_t, double*);
  void (*subtract_columns)(double*, uint64_t, uint64_t, const double*, double*);
};
namespace avx512 {
extern const KernelTable kTable;
}
namespace avx2 {
extern const KernelTable kTable;
}
namespace base {
extern const KernelTable kTable;
}
// The table in use: AVX-512 when the CPU has F, BW and VL, else AVX2 when
// it has that, else baseline; MMRUN_SIMD=base|avx2|avx512 asks for one the
// CPU can run.
const KernelTable& Kernels();
// The copies this CPU can run, weakest first ("base", then "avx2" and
// "avx512" when it has them): for tests that compare them.
struct NamedTable {
  const char* name;
  const KernelTable* table;
};
const NamedTable* RunnableTables(int* count);

}  // namespace simd
}  // namespace mm
