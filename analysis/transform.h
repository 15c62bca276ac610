// `transform`: changes the dataset in place (SPEC §3; dataset mode r+).
//
// Functions: affine (x * scale + offset), clip (to [min, max]), fill_nan
// (NaN -> value), normalize ((x - mean) / std per lane along `axis`, std
// with ddof 0; needs a read-only stats pass first, planned as the
// analysis' pass 0). Arithmetic is in double; float results are rounded to
// the dtype as numpy's astype; integer and bool results are rounded half to
// even and saturate at the dtype's range, counted in `saturated`
// (docs/CHOICES.md). On integer data clip is exact over the whole int64 and
// uint64 range (bounds kept as 128-bit integers), and so is affine when its
// scale and offset are integers; a fractional affine is computed in long
// double (64-bit significand) before rounding. normalize on int64/uint64
// takes each deviation v - mean as the exact integer v - k (k = trunc(sum /
// n), from the lane's exact sum) less the fraction (sum - k n) / n, so
// values beyond 2^53 are not rounded first.
//
// With `journal` (default true) every window is journaled before it is
// changed (journal.h), so a run killed at any moment can be rolled back by
// `mmrun recover`; the coordinator creates the journal in Prepare and
// removes it in Finish, once every pass is durable.
#pragma once

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeTransform(const AnalysisSpec& spec, const Dataset& dataset,
                                                const Partition& partition);

}  // namespace mm
