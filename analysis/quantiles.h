// `quantiles`: exact numpy.nanquantile per lane (SPEC §3), for all 13 of
// numpy's methods, with memory bounded independently of the data size.
//
// Selection works on an order-preserving 64-bit key of each double
// (OrderedKey) and refines it a few bits per pass (radix selection), within
// a budget of 2^20 counters or gathered (key, count) pairs a pass:
//   pass 0  counts each lane's values per bucket of the key's top bits (up
//           to 20 for one lane, at least 4 for many) and its NaNs; the
//           coordinator finds the bucket holding every wanted rank;
//   pass p  for each such bucket ("probe"): if it holds few enough values,
//           gathers them as (key, count) pairs, which resolves its ranks
//           exactly; else counts its values per next bits (up to 16).
// A bucket whose prefix reaches the last key bit the dtype can set holds
// one value. So at most 16 passes for 64-bit keys, fewer for narrower
// types; passes with no open probe are skipped (PassNeeded). Data of at
// most 2^20 values is gathered in pass 0 directly: one pass.
// Memory: each pass holds at most the budget of counters and pairs plus
// O(lanes x |q|) of the coordinator's state, whatever the number of rows.
// A worker counts in 32-bit counters unless a lane holds 2^32 values.
// Lanes that each lie inside one block (the row axis is kept and blocks
// hold whole rows, e.g. per-row quantiles) skip all this: the worker sorts
// each lane and sends its |q| values, one pass, O(lanes x |q|).
// Lanes over row blocks that do not each lie inside one block (per-column
// quantiles of a wide C-order matrix, or rows longer than a block), when
// they hold at most 256 values each or number more than 32,768, are
// gathered whole instead, in lane tiles: pass p gathers every value of the
// lanes of tile p (as many lanes as the budget holds values), whose
// quantiles the coordinator then evaluates; at most 4096 tiles. A radix
// pass over many lanes counts only a few key bits a lane and keeps every
// lane's probes: such data took up to 16 passes and memory in proportion
// to the lanes.
// Counts add exactly and gathered pairs merge as sorted sets, so results
// are the same for any worker split. A run of one lane goes through vector
// kernels (stats_simd.h): KeyBits gives pass 0 its keys or their top 16
// bits, KeyMatches gives later passes the few values inside an open
// bucket; runs of many lanes keep the element loop.
//
// The rank / interpolation helpers reproduce numpy 1.24's _quantile
// (_compute_virtual_index, _get_indexes, _get_gamma, _lerp) and are exposed
// for the unit tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeQuantiles(const AnalysisSpec& spec, const Dataset& dataset,
                                                const Partition& partition);

enum class QuantileMethod {
  kInvertedCdf,
  kAveragedInvertedCdf,
  kClosestObservation,
  kInterpolatedInvertedCdf,
  kHazen,
  kWeibull,
  kLinear,
  kMedianUnbiased,
  kNormalUnbiased,
  kLower,
  kHigher,
  kMidpoint,
  kNearest,
};

// numpy's method names, in the enum's order.
const std::vector<std::string>& QuantileMethodNames();

// The order statistics (0-based ranks among n sorted values) a quantile
// needs and how to combine them: value = Lerp(x[lo], x[hi], gamma) when
// `interpolate`, else x[lo]. REQUIRES: n >= 1, 0 <= q <= 1.
struct QuantileRanks {
  int64_t lo = 0, hi = 0;
  double gamma = 0;
  bool interpolate = false;
};
QuantileRanks QuantileRanksFor(QuantileMethod method, int64_t n, double q);

// numpy's _lerp: a + (b-a)*t, or b - (b-a)*(1-t) when t >= 0.5.
double QuantileLerp(double a, double b, double t);

// Order-preserving map of non-NaN doubles to uint64 (-0.0 maps as +0.0):
// x < y  <=>  OrderedKey(x) < OrderedKey(y). KeyToDouble inverts it.
uint64_t OrderedKey(double x);
double KeyToDouble(uint64_t key);

}  // namespace mm
