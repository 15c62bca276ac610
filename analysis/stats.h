// `stats`: count, nan_count, sum, mean, var, std, min, max per lane
// (SPEC §3), with numpy nan* semantics.
//
// Each block is swept in 32 KiB pieces (stats_kernel.h): two sweeps
// (count/sum/min/max, then squared deviations from the piece's mean), or
// one read with a shift for later float32 pieces. Pieces and blocks merge
// with Chan's formula along the fixed block tree, so results are the same
// bits for any worker split. Integer and bool sums, minima and maxima are
// exact (128-bit). When every block holds whole lanes and the result goes
// to .npy files (per-row stats of a tall array), workers write the files
// themselves and send only how many lanes they wrote (docs/CHOICES.md).
#pragma once

#include <cmath>
#include <functional>

#include "analysis/analysis.h"
#include "core/lanes.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeStats(const AnalysisSpec& spec, const Dataset& dataset,
                                            const Partition& partition);

// One lane's accumulator, exposed for unit tests of the merge.
struct LaneStats {
  int64_t n = 0;
  int64_t nan = 0;
  double sum = 0;
  // The running mean is mean + mean_lo, a pair MoveMean keeps exact: the
  // difference of two lanes' means in Chan's merge keeps its digits when
  // the mean is large against the spread (timestamps).
  double mean = 0;
  double mean_lo = 0;
  double m2 = 0;
  double min = 0;  // floats; valid when n > 0
  double max = 0;
  __int128 isum = 0;  // integers and bool
  __int128 imin = 0;
  __int128 imax = 0;
};

// Chan et al.'s pairwise update: folds b (the later blocks) into a.
void MergeLane(LaneStats* a, const LaneStats& b, bool integer);

// The per-lane statistics an analysis needs before its own pass
// (normalize's mean and std): `stats` of count, sum, mean and var over
// `geo`'s lanes, with the same kernels, merges and lane tiles as `stats`
// writing files (several passes of a tile of lanes each when the lanes'
// partials would not fit the tile budget). In the coordinator, EndPass
// hands each pass' merged lanes [lo, hi) to `sink` (`lane(i)`: lane
// lo + i; members other than n, sum, mean, mean_lo, m2 and isum are 0)
// instead of writing them. Finish is not called; outputs: none.
using LaneOf = std::function<LaneStats(uint64_t i)>;
using LaneSink = std::function<Status(uint64_t lo, uint64_t hi, const LaneOf& lane)>;
std::unique_ptr<Analysis> MakeLaneStatsPasses(const AnalysisSpec& spec, const Dataset& dataset,
                                              const Partition& partition, LaneGeometry geo,
                                              LaneSink sink);

// Moves the mean *hi + *lo by `step`: *lo + step, added to *hi and split
// again exactly (Knuth's TwoSum), so *hi follows the running mean and *lo
// keeps what *hi cannot hold. Had *hi stayed at the first piece's mean,
// data whose later pieces sit far from it (an outlier first, a step) would
// carry the difference in *lo at a scale coarser than the mean (6.8e-9
// off a mean of 0.5 after a first piece at 1e8). A mean that overflows
// keeps *lo at 0.
inline void MoveMean(double* hi, double* lo, double step) {
  const double s = *lo + step;
  const double h = *hi + s;
  if (!std::isfinite(h)) {
    *hi = h;
    *lo = 0;
    return;
  }
  const double v = h - *hi;
  *lo = (*hi - (h - v)) + (s - v);
  *hi = h;
}

// A piece whose deviations d from its mean summed to t over n values: its
// mean gains t / n, its sum of d^2 loses t^2 / n (the corrected two-pass
// formula). When the deviations overflowed (values near the float64
// range: t or t^2 / n infinite or NaN) the correction is skipped, leaving
// the piece as plain two-pass sums give it (a variance of inf, as
// numpy's). Returns the mean's correction; *m2 is corrected in place.
inline double CorrectPiece(double t, double n, double* m2) {
  const double lo = t / n, c = lo * t;
  if (!std::isfinite(lo) || !std::isfinite(c)) return 0.0;
  *m2 = *m2 - c;
  if (*m2 < 0) *m2 = 0;  // rounding; a NaN stays (the run met inf - inf)
  return lo;
}

}  // namespace mm
