// The stats kernels: the two sweeps over one block (stats.cc's hot loop).
//
// Sweep 1 gathers count, NaNs, sum, min and max per lane; sweep 2 the sum of
// squared deviations from the block's own mean. Loops are written so the
// compiler vectorises them without -ffast-math: a fixed number of
// independent accumulators (kWays) combined in a fixed order, and
// branch-free NaN skipping. The order of operations depends only on the
// block's contents, never on which worker runs it.
//
// Used by stats.cc (whose passes also give normalize its statistics:
// MakeLaneStatsPasses).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "analysis/stats.h"
#include "analysis/stats_simd.h"
#include "core/dtype.h"
#include "core/lanes.h"

namespace mm {
namespace stats_kernel {

using simd::kWays;

// The accumulator type of a value type: double for floats, int64 for
// integers of up to 32 bits, int128 for 64-bit integers.
template <class Traits>
using Wide = std::conditional_t<
    Traits::kIsFloat, double,
    std::conditional_t<(sizeof(typename Traits::Storage) == 8), __int128, int64_t>>;

template <class Traits, bool kSwap>
inline auto Load(const char* base, uint64_t i) {
  return LoadElement<Traits, kSwap>(base + i * sizeof(typename Traits::Storage));
}

// Sums of a run that all goes to one lane.
template <class Traits>
struct RunSums {
  int64_t n = 0, nan = 0;
  Wide<Traits> sum = 0;
  double min = std::numeric_limits<double>::infinity(),
         max = -std::numeric_limits<double>::infinity();
  __int128 imin = 0, imax = 0;
};

template <class Traits, bool kSwap>
RunSums<Traits> ReduceRun(const char* p, uint64_t n) {
  RunSums<Traits> r;
  if constexpr (Traits::kIsFloat) {
    double sum[kWays], mn[kWays], mx[kWays];
    int64_t cnt[kWays];
    for (int j = 0; j < kWays; ++j) {
      sum[j] = 0;
      mn[j] = std::numeric_limits<double>::infinity();
      mx[j] = -std::numeric_limits<double>::infinity();
      cnt[j] = 0;
    }
    uint64_t i = 0;
    for (; i + kWays <= n; i += kWays) {
      for (int j = 0; j < kWays; ++j) {
        const double x = Load<Traits, kSwap>(p, i + static_cast<uint64_t>(j));
        const bool ok = x == x;
        sum[j] += ok ? x : 0.0;
        cnt[j] += ok;
        mn[j] = x < mn[j] ? x : mn[j];
        mx[j] = x > mx[j] ? x : mx[j];
      }
    }
    for (int j = 0; i < n; ++i, ++j) {
      const double x = Load<Traits, kSwap>(p, i);
      const bool ok = x == x;
      sum[j] += ok ? x : 0.0;
      cnt[j] += ok;
      mn[j] = x < mn[j] ? x : mn[j];
      mx[j] = x > mx[j] ? x : mx[j];
    }
    r.sum = simd::CombineWays(sum);
    for (int j = 0; j < kWays; ++j) {
      r.n += cnt[j];
      r.min = std::min(r.min, mn[j]);
      r.max = std::max(r.max, mx[j]);
    }
    r.nan = static_cast<int64_t>(n) - r.n;
  } else {
    using V = decltype(Load<Traits, kSwap>(p, 0));
    Wide<Traits> sum[kWays] = {};
    V mn[kWays], mx[kWays];
    for (int j = 0; j < kWays; ++j) {
      mn[j] = std::numeric_limits<V>::max();
      mx[j] = std::numeric_limits<V>::lowest();
    }
    uint64_t i = 0;
    for (; i + kWays <= n; i += kWays) {
      for (int j = 0; j < kWays; ++j) {
        const V x = Load<Traits, kSwap>(p, i + static_cast<uint64_t>(j));
        sum[j] += x;
        mn[j] = x < mn[j] ? x : mn[j];
        mx[j] = x > mx[j] ? x : mx[j];
      }
    }
    for (int j = 0; i < n; ++i, ++j) {
      const V x = Load<Traits, kSwap>(p, i);
      sum[j] += x;
      mn[j] = x < mn[j] ? x : mn[j];
      mx[j] = x > mx[j] ? x : mx[j];
    }
    V lo = mn[0], hi = mx[0];
    for (int j = 0; j < kWays; ++j) {
      r.sum += sum[j];
      lo = std::min(lo, mn[j]);
      hi = std::max(hi, mx[j]);
    }
    r.imin = lo;
    r.imax = hi;
    r.n = static_cast<int64_t>(n);
  }
  return r;
}

// The sums of (x - mean)^2 and of x - mean over the non-NaN values of a
// floating-point run (the scalar twin of simd::DeviationF64, way for way).
template <class Traits, bool kSwap>
simd::DevSums DeviationRun(const char* p, uint64_t n, double mean) {
  static_assert(Traits::kIsFloat, "integers: IntDeviationRun");
  double m2[kWays] = {}, t[kWays] = {};
  uint64_t i = 0;
  const auto add = [&](int j, double d) {
    const bool ok = d == d;
    m2[j] += ok ? d * d : 0.0;
    t[j] += ok ? d : 0.0;
  };
  for (; i + kWays <= n; i += kWays) {
    for (int j = 0; j < kWays; ++j)
      add(j, static_cast<double>(Load<Traits, kSwap>(p, i + static_cast<uint64_t>(j))) - mean);
  }
  for (int j = 0; i < n; ++i, ++j) add(j, static_cast<double>(Load<Traits, kSwap>(p, i)) - mean);
  simd::DevSums r;
  r.m2 = simd::CombineWays(m2);
  r.t = simd::CombineWays(t);
  return r;
}

// An integer lane's shift: the integer part of its mean, from which its
// deviations are taken (IntDeviation). uint64 for uint64 values, whose mean
// may lie beyond int64; int64 for every other integer and bool.
template <class Traits>
using IntShift =
    std::conditional_t<std::is_same_v<typename Traits::Storage, uint64_t> && !Traits::kIsFloat,
                       uint64_t, int64_t>;

// x - k as a double, k an integer shift (IntShift) inside the values'
// range: exact while |x - k| < 2^53, correctly rounded beyond. Taking
// double(x) - mean instead rounds a 64-bit x to 53 bits first: values near
// 2^60 (nanosecond timestamps) lose their last 8 bits, and a variance of
// such values spread over 1000 came out 13 % off.
template <class Traits>
inline double IntDeviation(decltype(LoadElement<Traits, false>(nullptr)) x, IntShift<Traits> k) {
  if constexpr (std::is_same_v<IntShift<Traits>, uint64_t>) {
    const uint64_t v = x;
    return v >= k ? static_cast<double>(v - k) : -static_cast<double>(k - v);
  } else if constexpr (sizeof(typename Traits::Storage) == 8) {
    int64_t d;
    if (!__builtin_sub_overflow(static_cast<int64_t>(x), k, &d)) return static_cast<double>(d);
    return static_cast<double>(static_cast<__int128>(x) - k);  // a spread beyond 2^63
  } else {
    return static_cast<double>(static_cast<int64_t>(x) - k);
  }
}

// The sum of (x - k)^2 over an integer run (IntDeviation; kWays partial
// sums, as DeviationRun).
template <class Traits, bool kSwap>
double IntDeviationRun(const char* p, uint64_t n, IntShift<Traits> k) {
  double m2[kWays] = {};
  uint64_t i = 0;
  for (; i + kWays <= n; i += kWays) {
    for (int j = 0; j < kWays; ++j) {
      const double d =
          IntDeviation<Traits>(Load<Traits, kSwap>(p, i + static_cast<uint64_t>(j)), k);
      m2[j] += d * d;
    }
  }
  for (int j = 0; i < n; ++i, ++j) {
    const double d = IntDeviation<Traits>(Load<Traits, kSwap>(p, i), k);
    m2[j] += d * d;
  }
  return simd::CombineWays(m2);
}

// sum / n truncated, n > 0: in 64 bits when the sum fits (the same quotient).
inline __int128 TruncDiv(__int128 sum, int64_t n) {
  if (sum >= INT64_MIN && sum <= INT64_MAX) return static_cast<int64_t>(sum) / n;
  return sum / n;
}

// The mean of integers with exact sum `sum` over n > 0 values, as a double
// and the small rest: hi + lo is sum / n to far more digits than a double
// holds (LaneStats::mean_lo).
//
// A 128-bit division is a libgcc call (with the conversions, a fifth of
// stats over axis 0 of a wide int64 array, one value per lane and block):
// a sum within +-2^53 takes 64-bit arithmetic and the same numbers (its
// quotient is a double exactly, so q - h is 0).
inline void ExactMean(__int128 sum, int64_t n, double* hi, double* lo) {
  constexpr int64_t kExact = int64_t{1} << 53;
  if (sum >= -kExact && sum <= kExact) {
    const int64_t s = static_cast<int64_t>(sum), q = s / n, r = s % n;
    const double h = static_cast<double>(q);
    const double l = 0.0 + static_cast<double>(r) / static_cast<double>(n);
    *hi = h + l;
    *lo = l - (*hi - h);
    return;
  }
  const __int128 q = sum / n, r = sum % n;
  const double h = static_cast<double>(q);
  const double l = static_cast<double>(q - static_cast<__int128>(h)) +
                   static_cast<double>(r) / static_cast<double>(n);
  *hi = h + l;
  *lo = l - (*hi - h);
}

// Per-lane columns for runs over consecutive lanes, indexed from the
// block's first lane. Reused across the blocks of one scanner (Scratch).
template <class Traits>
struct LaneColumns {
  std::vector<double> sum, mn, mx, m2, mean, t;
  std::vector<Wide<Traits>> isum;
  std::vector<IntShift<Traits>> ishift;  // integers: IntShift, for sweep 2
  std::vector<int64_t> cnt, nan;
  std::vector<__int128> imin, imax;
  // Every column to `lanes` lanes of nothing seen; without `minmax`
  // (floating-point types) mn and mx, and without `deviations` mean, m2
  // and t (floats) or ishift (integers), are left empty: a block of many lanes then resets and
  // sweeps fewer columns.
  void Reset(size_t lanes, bool minmax = true, bool deviations = true) {
    if constexpr (Traits::kIsFloat) {
      sum.assign(lanes, 0.0);
      if (minmax) {
        mn.assign(lanes, std::numeric_limits<double>::infinity());
        mx.assign(lanes, -std::numeric_limits<double>::infinity());
      }
    } else {
      isum.assign(lanes, 0);
      imin.assign(lanes, std::numeric_limits<__int128>::max());
      imax.assign(lanes, std::numeric_limits<__int128>::min());
    }
    if (deviations) {
      m2.assign(lanes, 0.0);
      mean.assign(lanes, 0.0);
      if constexpr (Traits::kIsFloat) {
        t.assign(lanes, 0.0);
      } else {
        ishift.assign(lanes, 0);
      }
    }
    cnt.assign(lanes, 0);
    nan.assign(lanes, 0);
  }
  // Lane l's counts, sum and extremes (+inf/-inf without `minmax`) into
  // `s` (floating-point types).
  void FloatCountsTo(size_t l, LaneStats* s, bool minmax = true) const {
    s->n = cnt[l];
    s->nan = nan[l];
    s->sum = sum[l];
    s->min = minmax ? mn[l] : std::numeric_limits<double>::infinity();
    s->max = minmax ? mx[l] : -std::numeric_limits<double>::infinity();
  }
};

// The sweeps' working memory, kept between blocks so that a block allocates
// nothing once the buffers have grown. Owned by one scanner (a stats
// scanner): one thread, never shared.
// Holds no result: a sweep's output depends only on its block.
class Scratch {
 public:
  // The columns for Traits (made on first use; a scanner sees one dtype).
  template <class Traits>
  LaneColumns<Traits>& Columns() {
    if (!columns_ || kind_ != Traits::kKind) {
      columns_ = std::make_shared<LaneColumns<Traits>>();
      kind_ = Traits::kKind;
    }
    return *static_cast<LaneColumns<Traits>*>(columns_.get());
  }
  std::vector<LaneStats> piece;  // SweepBlock: one piece's lanes
  std::vector<LaneStats> block;  // SweepBlock: a block's few lanes
  std::vector<double> shift;     // SweepBlock: the piece's per-lane shifts
  std::vector<char> sub_box;     // the owner's copy of part of a chunk block (stats' tiles)
  // Whether SweepRange's second sweep runs (the owner keeps m2): when
  // false, every lane's m2 is 0.
  bool deviations = true;
  // Whether SweepRange tracks floating-point minima and maxima (the owner
  // keeps them): when false, every lane's are +inf and -inf. No other
  // member's bits depend on it.
  bool minmax = true;

 private:
  std::shared_ptr<void> columns_;  // a LaneColumns<Traits> of kind_
  Kind kind_ = Kind::kBool;
};

// Native float32: the one-pass kernels exist (SweepBlock's later pieces).
template <class Traits, bool kSwap>
constexpr bool kOnePass = !kSwap && Traits::kKind == Kind::kFloat32;

// Sweeps elements [begin, end), the first at `base`, into lanes
// [lo, lo + n_lanes): out(l, stats) is called once for every l in
// [0, n_lanes), in order, with lane lo + l's LaneStats (count 0 for a lane
// no element reaches). With `shift` (kOnePass only): one read, which
// also sums t = x - shift[l] and q = (x - shift[l])^2 per lane, and
// m2 = q - t^2 / n; each lane's mean is then shift[l] + t / n (`mean` and
// `mean_lo`).
//
// Without `shift`, two sweeps: the sums, then the deviations from the mean
// of the first (the same kernels for every block). A float64 mean from a
// sum of large values (timestamps: 1.7e9 + a few seconds) is off by many
// of its last bits, which Chan's merge would turn into lost digits of the
// variance; the second sweep also sums the deviations d, so mean_lo = t / n
// corrects it and m2 = sum d^2 - t^2 / n. Integers have an exact sum: their
// mean is split exactly (ExactMean), and their deviations are taken from
// the integer k = sum / n exactly (IntDeviation), summing to r = sum - n k,
// so m2 = sum (x - k)^2 - r^2 / n.
//
// `box` non-null: a chunk block, the elements of *box in C order of the box
// at `base` (begin/end its hull), walked box run by box run
// (LaneGeometry::ForEachTileOfBlock); `shift` must then be nullptr.
template <class Traits, bool kSwap, class Out>
void SweepRange(const LaneGeometry& geo, const char* base, uint64_t begin, uint64_t end,
                uint64_t lo, size_t n_lanes, const Out& out, Scratch* scratch,
                const double* shift = nullptr, const Box* box = nullptr) {
  using S = typename Traits::Storage;
  constexpr bool kFloat = Traits::kIsFloat;
  // Native float32/float64: the vector kernels (same operations, same order).
  constexpr bool kFast =
      !kSwap && (Traits::kKind == Kind::kFloat32 || Traits::kKind == Kind::kFloat64);
  LaneColumns<Traits>& col = scratch->Columns<Traits>();
  if constexpr (kOnePass<Traits, kSwap>) {
    if (shift != nullptr) {
      col.Reset(n_lanes);
      geo.ForEachTile(
          begin, end, [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept) {
            const char* p = base + off * sizeof(S);
            const size_t l = static_cast<size_t>(lane - lo);
            if (kept) {
              simd::FusedTileF32(p, rows, len, shift + l, col.sum.data() + l, col.cnt.data() + l,
                                 col.nan.data() + l, col.mn.data() + l, col.mx.data() + l,
                                 col.mean.data() + l, col.m2.data() + l);
              return;
            }
            const simd::FusedSums r = simd::FusedF32(p, len, shift[l]);
            col.cnt[l] += r.n;
            col.nan[l] += static_cast<int64_t>(len) - r.n;
            col.sum[l] += r.sum;
            col.mn[l] = std::min(col.mn[l], r.min);
            col.mx[l] = std::max(col.mx[l], r.max);
            col.mean[l] += r.t;
            col.m2[l] += r.q;
          });
      for (size_t l = 0; l < n_lanes; ++l) {
        LaneStats s;
        col.FloatCountsTo(l, &s);
        if (s.n == 0) {
          out(l, s);
          continue;
        }
        // col.mean holds t = sum of (x - shift): small terms, so t / n and
        // t^2 / n are accurate where mean - shift would inherit the rounding
        // of a sum of large values.
        const double t = col.mean[l];
        s.mean = shift[l];
        s.mean_lo = t / static_cast<double>(s.n);
        s.m2 = std::max(0.0, col.m2[l] - t * t / static_cast<double>(s.n));
        out(l, s);
      }
      return;
    }
  }
  // Columns the owner does not keep are neither reset nor swept.
  const bool minmax = !kFloat || scratch->minmax;
  const bool deviations = scratch->deviations;
  col.Reset(n_lanes, minmax, deviations);
  // Sweep 1.
  geo.ForEachTileOfBlock(
      box, begin, end, [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept) {
        const char* p = base + off * sizeof(S);
        const size_t l = static_cast<size_t>(lane - lo);
        if (!kept) {
          if constexpr (kFast) {
            const simd::RunSums r =
                Traits::kKind == Kind::kFloat32 ? simd::ReduceF32(p, len) : simd::ReduceF64(p, len);
            col.cnt[l] += r.n;
            col.nan[l] += static_cast<int64_t>(len) - r.n;
            col.sum[l] += r.sum;
            if (minmax) {
              col.mn[l] = std::min(col.mn[l], r.min);
              col.mx[l] = std::max(col.mx[l], r.max);
            }
            return;
          }
          const RunSums<Traits> r = ReduceRun<Traits, kSwap>(p, len);
          col.cnt[l] += r.n;
          col.nan[l] += r.nan;
          if constexpr (kFloat) {
            col.sum[l] += r.sum;
            if (minmax) {
              col.mn[l] = std::min(col.mn[l], r.min);
              col.mx[l] = std::max(col.mx[l], r.max);
            }
          } else {
            col.isum[l] += r.sum;
            col.imin[l] = std::min(col.imin[l], r.imin);
            col.imax[l] = std::max(col.imax[l], r.imax);
          }
          return;
        }
        if constexpr (kFast) {
          (Traits::kKind == Kind::kFloat32 ? simd::TileF32 : simd::TileF64)(
              p, rows, len, col.sum.data() + l, col.cnt.data() + l, col.nan.data() + l,
              minmax ? col.mn.data() + l : nullptr, minmax ? col.mx.data() + l : nullptr);
          return;
        }
        for (uint64_t r = 0; r < rows; ++r, p += len * sizeof(S)) {
          if constexpr (kFloat) {
            double* sum = col.sum.data() + l;
            int64_t* cnt = col.cnt.data() + l;
            int64_t* nan = col.nan.data() + l;
            for (uint64_t i = 0; i < len; ++i) {
              const double x = Load<Traits, kSwap>(p, i);
              const bool ok = x == x;
              sum[i] += ok ? x : 0.0;
              cnt[i] += ok;
              nan[i] += !ok;
            }
            if (!minmax) continue;
            double* mn = col.mn.data() + l;
            double* mx = col.mx.data() + l;
            for (uint64_t i = 0; i < len; ++i) {
              const double x = Load<Traits, kSwap>(p, i);
              mn[i] = x < mn[i] ? x : mn[i];
              mx[i] = x > mx[i] ? x : mx[i];
            }
          } else {
            Wide<Traits>* sum = col.isum.data() + l;
            __int128* mn = col.imin.data() + l;
            __int128* mx = col.imax.data() + l;
            int64_t* cnt = col.cnt.data() + l;
            for (uint64_t i = 0; i < len; ++i) {
              const auto x = Load<Traits, kSwap>(p, i);
              sum[i] += x;
              cnt[i] += 1;
              mn[i] = x < mn[i] ? x : mn[i];
              mx[i] = x > mx[i] ? x : mx[i];
            }
          }
        }
      });
  // The mean of each lane's values (hi and lo: LaneStats::mean_lo), for
  // sweep 2 (or for `out` alone).
  const auto lane_mean = [&col](size_t l, double* lo) {
    *lo = 0;
    if (col.cnt[l] == 0) return 0.0;
    if constexpr (kFloat) {
      return col.sum[l] / static_cast<double>(col.cnt[l]);
    } else {
      double hi;
      ExactMean(col.isum[l], col.cnt[l], &hi, lo);
      return hi;
    }
  };
  // Sweep 2.
  if (deviations) {
    double rest;  // an integer mean's rest: taken again for `out` below
    for (size_t l = 0; l < n_lanes; ++l) col.mean[l] = lane_mean(l, &rest);
    if constexpr (!kFloat)
      for (size_t l = 0; l < n_lanes; ++l)
        if (col.cnt[l] > 0)
          col.ishift[l] = static_cast<IntShift<Traits>>(TruncDiv(col.isum[l], col.cnt[l]));
    bool block_has_nan = false;
    for (size_t l = 0; l < n_lanes; ++l) block_has_nan |= col.nan[l] != 0;
    geo.ForEachTileOfBlock(
        box, begin, end, [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept) {
          const char* p = base + off * sizeof(S);
          const size_t l = static_cast<size_t>(lane - lo);
          if (!kept) {
            const bool has_nan = col.nan[l] != 0;
            if constexpr (!kFloat) {
              col.m2[l] += IntDeviationRun<Traits, kSwap>(p, len, col.ishift[l]);
            } else if constexpr (kFast && Traits::kKind == Kind::kFloat32) {
              col.m2[l] += simd::DeviationF32(p, len, col.mean[l], has_nan);
            } else {
              const simd::DevSums d = kFast ? simd::DeviationF64(p, len, col.mean[l], has_nan)
                                            : DeviationRun<Traits, kSwap>(p, len, col.mean[l]);
              col.m2[l] += d.m2;
              col.t[l] += d.t;
            }
            return;
          }
          if constexpr (kFast) {
            if constexpr (Traits::kKind == Kind::kFloat32) {
              simd::TileDevF32(p, rows, len, col.mean.data() + l, col.m2.data() + l, block_has_nan);
            } else {
              simd::TileDevF64(p, rows, len, col.mean.data() + l, col.m2.data() + l,
                               col.t.data() + l);
            }
            return;
          }
          double* m2 = col.m2.data() + l;
          double* t = kFloat ? col.t.data() + l : nullptr;
          const double* mean = col.mean.data() + l;
          const IntShift<Traits>* k = kFloat ? nullptr : col.ishift.data() + l;
          for (uint64_t r = 0; r < rows; ++r, p += len * sizeof(S)) {
            for (uint64_t i = 0; i < len; ++i) {
              if constexpr (kFloat) {
                const double d = static_cast<double>(Load<Traits, kSwap>(p, i)) - mean[i];
                const bool ok = d == d;
                m2[i] += ok ? d * d : 0.0;
                t[i] += ok ? d : 0.0;
              } else {
                const double d = IntDeviation<Traits>(Load<Traits, kSwap>(p, i), k[i]);
                m2[i] += d * d;
              }
            }
          }
        });
  }
  for (size_t l = 0; l < n_lanes; ++l) {
    LaneStats s;
    if (deviations) {
      s.mean = col.mean[l];
      s.m2 = col.m2[l];
      if (col.cnt[l] > 0) {
        if constexpr (kFloat) {
          // The deviations were taken from the mean hi: their sum t says how
          // far the values' mean is from it (float32's kernels leave t at 0).
          s.mean_lo = CorrectPiece(col.t[l], static_cast<double>(col.cnt[l]), &s.m2);
        } else {
          // Integers' deviations were taken from the shift k = sum / n
          // (truncated): they sum exactly to r = sum - n k, |r| < n.
          const __int128 r = static_cast<__int128>(col.isum[l]) -
                             static_cast<__int128>(col.cnt[l]) * col.ishift[l];
          CorrectPiece(static_cast<double>(r), static_cast<double>(col.cnt[l]), &s.m2);
          lane_mean(l, &s.mean_lo);  // the exact rest of the mean col.mean[l] holds
        }
      }
    } else {
      s.mean = lane_mean(l, &s.mean_lo);
    }
    if constexpr (kFloat) {
      col.FloatCountsTo(l, &s, minmax);
    } else {
      s.n = col.cnt[l];
      s.nan = col.nan[l];
      s.isum = col.isum[l];
      s.imin = col.imin[l];
      s.imax = col.imax[l];
    }
    out(l, s);
  }
}

// The piece of a block SweepBlock handles at a time (32 KiB: it stays in
// L1 between the two sweeps of a first piece).
constexpr uint64_t kSweepBytes = 32 << 10;

// SweepBlock for native float32 reduced to one lane (`stats` with no axis):
// the same pieces and the same kernels, without the lane bookkeeping.
inline LaneStats SweepGlobalF32(const char* base, uint64_t n) {
  constexpr uint64_t kPiece = kSweepBytes / sizeof(float);
  LaneStats acc;
  for (uint64_t b = 0; b < n; b += kPiece) {
    const uint64_t len = std::min(kPiece, n - b);
    const char* p = base + b * sizeof(float);
    // FusedSums is a RunSums: count, NaNs, sum, min and max either way.
    simd::FusedSums r;
    const double shift = acc.mean + acc.mean_lo;
    const bool one_read = acc.n > 0 && std::isfinite(shift);
    if (one_read) {
      r = simd::FusedF32(p, len, shift);
    } else {
      static_cast<simd::RunSums&>(r) = simd::ReduceF32(p, len);
    }
    LaneStats piece;
    piece.n = r.n;
    piece.nan = static_cast<int64_t>(len) - r.n;
    piece.sum = r.sum;
    piece.min = r.min;
    piece.max = r.max;
    if (one_read) {
      if (r.n > 0) {
        piece.mean = shift;
        piece.mean_lo = r.t / static_cast<double>(r.n);
        piece.m2 = std::max(0.0, r.q - r.t * r.t / static_cast<double>(r.n));
      }
      MergeLane(&acc, piece, /*integer=*/false);
      continue;
    }
    if (r.n > 0) {
      piece.mean = r.sum / static_cast<double>(r.n);
      piece.m2 = simd::DeviationF32(p, len, piece.mean, piece.nan > 0);
    }
    MergeLane(&acc, piece, /*integer=*/false);
  }
  return acc;
}

// Sweeps one block into lanes [lo, lo + n_lanes), handed to `out` as in SweepRange.
//
// Blocks whose pieces hold few lanes (whole rows reduced, or short kept
// rows) go piece by piece, each merged in order with Chan's formula. For
// native float32, a piece whose lanes all have values in earlier pieces of
// the block is read once: it sums d = x - K and d^2 with K each lane's
// running mean of the block, so m2 = sum d^2 - (sum d)^2 / n, the piece's
// mean is K + (sum d) / n and its sum n K + sum d. K is within the data's range and close
// to the piece's mean, so the subtraction loses almost nothing
// (docs/BENCHMARKS.md, "one read per piece"); the first piece and
// lanes without a running mean get the two sweeps. The pieces and shifts
// depend only on the block, so results stay the same for any worker split.
//
// Blocks with many lanes per piece are swept whole, twice: merging every
// lane per piece would cost more than the cache misses it saves.
//
// A chunk block (`box` non-null: the elements of *box in C order of the box,
// begin/end its hull) reduced to one lane is swept as the flat run of its
// elements, as a row block of that length (the lane of every element is
// 0). With more lanes it is swept whole, twice, box run by box run
// (SweepRange): the pieces above follow storage order, which a box does not.
template <class Traits, bool kSwap, class Out>
void SweepBlock(const LaneGeometry& geo, const char* base, uint64_t begin, uint64_t end,
                uint64_t lo, size_t n_lanes, const Out& out, Scratch* scratch,
                const Box* box = nullptr) {
  if (box != nullptr) {
    if (geo.lanes() == 1)
      return SweepBlock<Traits, kSwap>(geo, base, 0, box->elements(), lo, n_lanes, out, scratch);
    return SweepRange<Traits, kSwap>(geo, base, begin, end, lo, n_lanes, out, scratch, nullptr,
                                     box);
  }
  if constexpr (kOnePass<Traits, kSwap>) {
    if (geo.lanes() == 1) return out(0, SweepGlobalF32(base, end - begin));
  }
  constexpr uint64_t kPiece = kSweepBytes / sizeof(typename Traits::Storage);
  if (end - begin <= kPiece || n_lanes * 64 > kPiece) {
    return SweepRange<Traits, kSwap>(geo, base, begin, end, lo, n_lanes, out, scratch);
  }
  // Few lanes (at most kPiece / 64): the block's lanes gather in
  // scratch->block, then go out in order.
  std::vector<LaneStats>* lanes = &scratch->block;
  lanes->assign(n_lanes, LaneStats());
  std::vector<LaneStats>& piece = scratch->piece;
  std::vector<double>& shift = scratch->shift;
  for (uint64_t b = begin; b < end; b += kPiece) {
    const uint64_t e = std::min(end, b + kPiece);
    const auto range = geo.LaneRange(b, e);
    const size_t n = static_cast<size_t>(range.second - range.first);
    piece.assign(n, LaneStats());
    bool one_pass = kOnePass<Traits, kSwap>;
    if (one_pass) {
      shift.resize(n);
      for (size_t i = 0; i < n && one_pass; ++i) {
        const LaneStats& so_far = (*lanes)[range.first + i - lo];
        shift[i] = so_far.mean + so_far.mean_lo;
        one_pass =
            so_far.n > 0 && std::isfinite(shift[i]);  // an infinite shift would turn sums into NaN
      }
    }
    SweepRange<Traits, kSwap>(
        geo, base + (b - begin) * sizeof(typename Traits::Storage), b, e, range.first, n,
        [&piece](size_t l, const LaneStats& s) { piece[l] = s; }, scratch,
        one_pass ? shift.data() : nullptr);
    for (uint64_t l = range.first; l < range.second; ++l)
      MergeLane(&(*lanes)[l - lo], piece[l - range.first], !Traits::kIsFloat);
  }
  for (size_t l = 0; l < n_lanes; ++l) out(l, (*lanes)[l]);
}

// SweepBlock for the runtime dtype `dt` (dispatch over the dtype list and
// the byte order). `scratch` is the caller's (one per scanner); `box` as in
// SweepBlock (nullptr: a row block).
// out(l, stats) as in SweepRange: once per lane l of [0, n_lanes), in order.
template <class Out>
void SweepBlockTo(DType dt, const LaneGeometry& geo, const char* base, uint64_t begin, uint64_t end,
                  uint64_t lo, size_t n_lanes, const Out& out, Scratch* scratch,
                  const Box* box = nullptr) {
  VisitDType(dt, [&](auto traits, auto swap) {
    SweepBlock<decltype(traits), decltype(swap)::value>(geo, base, begin, end, lo, n_lanes, out,
                                                        scratch, box);
  });
}

// SweepBlockTo into lanes [lo, lo + lanes->size()), element l of *lanes.
inline void SweepBlockOf(DType dt, const LaneGeometry& geo, const char* base, uint64_t begin,
                         uint64_t end, uint64_t lo, std::vector<LaneStats>* lanes, Scratch* scratch,
                         const Box* box = nullptr) {
  SweepBlockTo(
      dt, geo, base, begin, end, lo, lanes->size(),
      [lanes](size_t l, const LaneStats& s) { (*lanes)[l] = s; }, scratch, box);
}

}  // namespace stats_kernel
}  // namespace mm
