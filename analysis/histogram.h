// `histogram`: counts of values in equal-width bins, per lane, identical to
// numpy.histogram on the non-NaN values cast to float64; with
// "edges_dtype": "input", on float32/float16 data, identical to
// numpy.histogram on the values as they are (numpy's float32/float16 edges).
//
// Without `range` the analysis takes two passes: pass 0 finds the finite
// minimum and maximum of the data, the coordinator turns them into the
// range (numpy's rules: lo == hi widens to lo - 0.5, hi + 0.5; no finite
// data gives (0, 1)) and hands it to the workers of pass 1 through
// PassInput. With `range` one pass suffices. Counts are integers, so merges
// are exact and any worker split gives the same result. Values outside
// [lo, hi] (infinities included) are counted in `below` / `above`, NaNs in
// `nan_count`.
//
// The bin edges and the bin of a value follow numpy 1.24's uniform-bin fast
// path bit for bit (numpy.linspace, then index = trunc((x - lo) * norm)
// corrected by comparing with the edges); the helpers below are exposed for
// the unit tests.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "analysis/analysis.h"
#include "analysis/stats_simd.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeHistogram(const AnalysisSpec& spec, const Dataset& dataset,
                                                const Partition& partition);

// numpy.linspace(lo, hi, bins + 1) exactly. REQUIRES: bins >= 1.
std::vector<double> HistogramEdges(double lo, double hi, int64_t bins);

// numpy's _get_outer_edges for a range: lo == hi widens by 0.5 each side.
std::pair<double, double> HistogramOuterEdges(double lo, double hi);

// The bin of x per numpy's fast path. REQUIRES: lo() <= x <= hi() (edges
// from HistogramEdges(lo, hi, bins)); the result lies in [0, bins).
// `round_edge`, when given, rounds every edge as numpy does when it computes
// the edges in the input's float type (float32 or float16 input:
// "edges_dtype": "input"); lo() and hi() are then the rounded outer edges,
// which is where numpy's comparisons in that type put the range.
class BinFinder {
 public:
  BinFinder(double lo, double hi, int64_t bins, double (*round_edge)(double) = nullptr);
  int64_t Index(double x) const {
    const double f = (x - lo_) * norm_;
    // numpy casts f to intp; the guard keeps the cast defined for ranges
    // whose width overflows a double.
    int64_t i = (f >= 0 && f < static_cast<double>(bins_)) ? static_cast<int64_t>(f)
                                                           : (f >= 0 ? bins_ - 1 : 0);
    if (x < edges_[static_cast<size_t>(i)]) {
      --i;  // numpy's decrement (never below 0: x >= lo == edges_[0])
    } else if (i != bins_ - 1 && x >= edges_[static_cast<size_t>(i + 1)]) {
      ++i;  // numpy's increment; the last bin keeps its right edge
    }
    return i < 0 ? 0 : i;
  }
  const std::vector<double>& edges() const { return edges_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  double norm() const { return norm_; }
  int64_t bins() const { return bins_; }
  // How close to an edge, in bins, a value may come before its bin needs
  // Index's corrections: the largest distance of an edge from where
  // (edge - lo) * norm puts it, plus the rounding of that product and of
  // the measurement (3 roundings of at most bins each, doubled). A value
  // whose f = (x - lo) * norm has a fractional part further than this
  // from 0 and 1 lies strictly between the edges trunc(f) names, so its
  // bin is trunc(f), what Index returns. 1 when the product overflows.
  double FastMargin() const { return margin_; }
  // What the vector kernel (simd::BinSlots) needs of this finder.
  simd::BinGrid Grid() const {
    return simd::BinGrid{lo_, hi_, norm_, margin_, static_cast<uint32_t>(bins_)};
  }

 private:
  double lo_, hi_, norm_;
  int64_t bins_;
  std::vector<double> edges_;
  double margin_ = 1;
};

}  // namespace mm
