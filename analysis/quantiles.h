// `quantiles`: exact numpy.nanquantile per lane (SPEC §3), for all 13 of
// numpy's methods, with memory bounded independently of the data size.
//
// Selection works on an order-preserving 64-bit key of each double
// (OrderedKey) and refines it 16 bits per pass (radix selection):
//   pass 0  counts each lane's values per top-16-bit bucket (and its NaNs);
//           the coordinator finds the bucket holding every wanted rank;
//   pass p  for each such bucket ("probe", prefix of 16p bits): if it holds
//           few enough values, gathers them as (key, count) pairs, which
//           resolves its ranks exactly; else counts its values per next 16
//           bits. After pass 3 the full key — the value — is known.
// So at most 4 passes; passes with no open probe are skipped
// (PassNeeded). A probe is gathered when it holds at most 2^16 values, else
// counted; lanes of at most 2^16 values are gathered in pass 0 directly,
// so one pass suffices for them.
// Memory: every probe holds at most 2^16 (key, count) pairs in either
// mode, and a lane has at most 2 x |q| probes, so partials and the
// coordinator's state are O(lanes x min(lane length, 2 x |q| x 2^16))
// pairs — independent of the number of rows for a fixed lane count. A
// worker counts in 32-bit counters unless a lane holds 2^32 values.
// Lanes that each lie inside one block (the row axis is kept and blocks
// hold whole rows, e.g. per-row quantiles) skip all this: the worker sorts
// each lane and sends its |q| values, one pass, O(lanes x |q|).
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
