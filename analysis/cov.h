// `cov`: the covariance and correlation matrices of the variables of 2-d
// data (SPEC §3), as numpy.cov / numpy.corrcoef.
//
// `axis` (default 0) is the axis of the observations: axis 0 means rows are
// observations and columns the variables (numpy.cov(a, rowvar=False)),
// axis 1 the transpose. `ddof` defaults to 1. An observation with a NaN in
// any variable is skipped and counted in `nan_count` (listwise deletion,
// docs/CHOICES.md); `count` is the number of observations used.
//
// Partials are (count, mean vector, co-moment matrix) per block: a block's
// valid observations are swept twice (mean, then the products of the
// deviations from it, a vector kernel for up to 256 variables) in pieces of
// about 256 KiB that merge left to right, and blocks merge with the
// multivariate form of Chan's update along the fixed block tree, so
// results are the same bits for any worker split. When the observations are storage rows (C order
// with axis 0, F order with axis 1) a block is a run of observations.
// Otherwise each storage row is one variable and block b stands for the
// observations [b*n/B, (b+1)*n/B) of all variables, which the worker reads
// itself through the dataset's Source (Source::ReadElements, one contiguous
// piece per variable); such blocks are not mapped by the worker loop
// (NeedsBlock).
//
// A partial holds variables^2 / 2 doubles: more than 4096 variables is a
// config error.
#pragma once

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeCov(const AnalysisSpec& spec, const Dataset& dataset,
                                          const Partition& partition);

constexpr int64_t kCovMaxVariables = 4096;

}  // namespace mm
