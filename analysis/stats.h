// `stats`: count, nan_count, sum, mean, var, std, min, max per lane
// (SPEC §3), with numpy nan* semantics.
//
// Each block is swept in 32 KiB pieces (stats_kernel.h): two sweeps
// (count/sum/min/max, then squared deviations from the piece's mean), or
// one read with a shift for later float32 pieces. Pieces and blocks merge
// with Chan's formula along the fixed block tree, so results are the same
// bits for any worker split. Integer and bool sums, minima and maxima are
// exact (128-bit).
#pragma once

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeStats(const AnalysisSpec& spec, const Dataset& dataset,
                                            const Partition& partition);

// One lane's accumulator, exposed for unit tests of the merge.
struct LaneStats {
  int64_t n = 0;
  int64_t nan = 0;
  double sum = 0;
  // The running mean is mean + mean_lo: `mean` is the first piece's and
  // stays, mean_lo (small) takes the merges' updates, so the difference
  // of two lanes' means in Chan's merge keeps its digits when the mean is
  // large against the spread (timestamps), and the result does not depend
  // on how the blocks were grouped beyond the fixed merge order.
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

}  // namespace mm
