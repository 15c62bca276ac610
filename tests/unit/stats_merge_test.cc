// Tests of MergeLane (analysis/stats): Chan's pairwise update of one lane's
// accumulator. Merging the accumulators of two halves must give the
// accumulator of the whole: counts, NaN counts, integer sums and extrema
// exactly, mean and M2 to rounding.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "analysis/stats.h"
#include "analysis/stats_kernel.h"

namespace mm {
namespace {

using int128 = __int128;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The accumulator of xs[lo, hi) in float mode, by the textbook two-pass
// formulas.
// A merged lane's mean (LaneStats: mean + mean_lo).
double Mean(const LaneStats& s) { return s.mean + s.mean_lo; }

LaneStats FloatLane(const std::vector<double>& xs, size_t lo, size_t hi) {
  LaneStats s;
  for (size_t i = lo; i < hi; ++i) {
    const double x = xs[i];
    if (std::isnan(x)) {
      ++s.nan;
      continue;
    }
    if (s.n == 0 || x < s.min) s.min = x;
    if (s.n == 0 || x > s.max) s.max = x;
    s.sum += x;
    ++s.n;
  }
  if (s.n > 0) {
    s.mean = s.sum / static_cast<double>(s.n);
    for (size_t i = lo; i < hi; ++i)
      if (!std::isnan(xs[i])) s.m2 += (xs[i] - s.mean) * (xs[i] - s.mean);
  }
  return s;
}

// The same in integer mode: exact 128-bit sum and extrema.
LaneStats IntLane(const std::vector<int64_t>& xs, size_t lo, size_t hi) {
  LaneStats s;
  for (size_t i = lo; i < hi; ++i) {
    const int128 v = xs[i];
    if (s.n == 0 || v < s.imin) s.imin = v;
    if (s.n == 0 || v > s.imax) s.imax = v;
    s.isum += v;
    ++s.n;
  }
  if (s.n > 0) {
    s.mean = static_cast<double>(s.isum) / static_cast<double>(s.n);
    for (size_t i = lo; i < hi; ++i) {
      const double d = static_cast<double>(xs[i]) - s.mean;
      s.m2 += d * d;
    }
  }
  return s;
}

bool RelClose(double a, double b, double rel) {
  if (a == b) return true;
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

void CheckFloatEqual(const LaneStats& got, const LaneStats& want, bool exact_sum) {
  CHECK(got.n == want.n);
  CHECK(got.nan == want.nan);
  if (want.n == 0) return;
  if (exact_sum) {
    CHECK(got.sum == want.sum);
  } else {
    CHECK(RelClose(got.sum, want.sum, 1e-12));
  }
  CHECK(got.min == want.min);
  CHECK(got.max == want.max);
  INFO("mean " << Mean(got) << " vs " << want.mean << ", m2 " << got.m2 << " vs " << want.m2);
  CHECK(RelClose(Mean(got), want.mean, 1e-12));
  CHECK(RelClose(got.m2, want.m2, 1e-12));
}

void CheckIntEqual(const LaneStats& got, const LaneStats& want) {
  CHECK(got.n == want.n);
  CHECK(got.nan == want.nan);
  if (want.n == 0) return;
  CHECK(got.isum == want.isum);
  CHECK(got.imin == want.imin);
  CHECK(got.imax == want.imax);
  INFO("mean " << Mean(got) << " vs " << want.mean << ", m2 " << got.m2 << " vs " << want.m2);
  CHECK(RelClose(Mean(got), want.mean, 1e-12));
  CHECK(RelClose(got.m2, want.m2, 1e-12));
}

TEST_CASE("Stats: merging two halves gives the whole (floats)", "[stats]") {
  std::mt19937_64 rng(7);
  // Multiples of 1/8: every partial sum is exact, so `sum` must match exactly.
  std::uniform_int_distribution<int> eighths(-800, 800);
  std::vector<double> dyadic(301);
  for (double& x : dyadic) x = eighths(rng) / 8.0;
  for (size_t k = 0; k <= dyadic.size(); ++k) {
    INFO("split at " << k);
    LaneStats a = FloatLane(dyadic, 0, k);
    MergeLane(&a, FloatLane(dyadic, k, dyadic.size()), false);
    CheckFloatEqual(a, FloatLane(dyadic, 0, dyadic.size()), true);
  }
  // Arbitrary doubles, some far from zero: sums to rounding.
  std::normal_distribution<double> normal(3.0, 2.0);
  std::vector<double> xs(257);
  for (double& x : xs) x = normal(rng);
  for (size_t k = 0; k <= xs.size(); ++k) {
    INFO("split at " << k);
    LaneStats a = FloatLane(xs, 0, k);
    MergeLane(&a, FloatLane(xs, k, xs.size()), false);
    CheckFloatEqual(a, FloatLane(xs, 0, xs.size()), false);
  }
}

TEST_CASE("Stats: merging many pieces gives the whole", "[stats]") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> xs(1000);
  for (double& x : xs) x = u(rng);
  for (size_t i = 0; i < xs.size(); i += 13) xs[i] = kNaN;
  const LaneStats whole = FloatLane(xs, 0, xs.size());
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<size_t> cuts = {0, xs.size()};
    std::uniform_int_distribution<size_t> cut(0, xs.size());
    for (int i = 0; i < 7; ++i) cuts.push_back(cut(rng));
    std::sort(cuts.begin(), cuts.end());
    LaneStats acc;
    for (size_t i = 0; i + 1 < cuts.size(); ++i)
      MergeLane(&acc, FloatLane(xs, cuts[i], cuts[i + 1]), false);
    CheckFloatEqual(acc, whole, false);
  }
}

TEST_CASE("Stats: merging with an empty side", "[stats]") {
  const std::vector<double> xs = {1.5, -2.0, 4.25, kNaN, 0.5};
  const LaneStats full = FloatLane(xs, 0, xs.size());
  SECTION("empty left") {
    LaneStats a;
    MergeLane(&a, full, false);
    CheckFloatEqual(a, full, true);
  }
  SECTION("empty left that saw NaNs") {
    const std::vector<double> nans = {kNaN, kNaN};
    LaneStats a = FloatLane(nans, 0, 2);
    REQUIRE(a.n == 0);
    MergeLane(&a, full, false);
    CHECK(a.nan == full.nan + 2);
    a.nan = full.nan;
    CheckFloatEqual(a, full, true);
  }
  SECTION("empty right") {
    LaneStats a = full;
    MergeLane(&a, LaneStats(), false);
    CheckFloatEqual(a, full, true);
    CHECK(a.mean == full.mean);
    CHECK(a.mean_lo == full.mean_lo);
    CHECK(a.m2 == full.m2);
  }
  SECTION("empty right that saw NaNs") {
    LaneStats a = full, b;
    b.nan = 3;
    MergeLane(&a, b, false);
    CHECK(a.nan == full.nan + 3);
    CHECK(a.n == full.n);
    CHECK(a.mean == full.mean);
    CHECK(a.mean_lo == full.mean_lo);
    CHECK(a.m2 == full.m2);
    CHECK(a.min == full.min);
    CHECK(a.max == full.max);
  }
  SECTION("both empty") {
    LaneStats a, b;
    a.nan = 1;
    b.nan = 2;
    MergeLane(&a, b, false);
    CHECK(a.n == 0);
    CHECK(a.nan == 3);
  }
}

TEST_CASE("Stats: NaN counts add", "[stats]") {
  const std::vector<double> xs = {kNaN, 1.0, kNaN, kNaN, 2.0, 3.0, kNaN};
  for (size_t k = 0; k <= xs.size(); ++k) {
    LaneStats a = FloatLane(xs, 0, k);
    const LaneStats b = FloatLane(xs, k, xs.size());
    const int64_t nan = a.nan + b.nan;
    MergeLane(&a, b, false);
    CHECK(a.nan == nan);
    CHECK(a.nan == 4);
    CHECK(a.n == 3);
    CHECK(RelClose(Mean(a), 2.0, 1e-15));
    CHECK(RelClose(a.m2, 2.0, 1e-15));
  }
}

TEST_CASE("Stats: merging two halves gives the whole (integers)", "[stats]") {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> small(-1000, 1000);
  std::vector<int64_t> xs(200);
  for (int64_t& x : xs) x = small(rng);
  for (size_t k = 0; k <= xs.size(); ++k) {
    INFO("split at " << k);
    LaneStats a = IntLane(xs, 0, k);
    MergeLane(&a, IntLane(xs, k, xs.size()), true);
    CheckIntEqual(a, IntLane(xs, 0, xs.size()));
  }
}

TEST_CASE("Stats: integer sums and extrema beyond 64 bits stay exact", "[stats]") {
  // Values at the int64 limits: the sum of the whole does not fit 64 bits.
  const int64_t kMax = std::numeric_limits<int64_t>::max(),
                kMin = std::numeric_limits<int64_t>::min();
  std::vector<int64_t> xs;
  for (int i = 0; i < 40; ++i) xs.push_back(kMax - i);
  xs.push_back(kMin);
  for (int i = 0; i < 40; ++i) xs.push_back(kMax - 2 * i);
  const LaneStats whole = IntLane(xs, 0, xs.size());
  REQUIRE(whole.isum > static_cast<int128>(kMax));
  for (size_t k = 0; k <= xs.size(); ++k) {
    INFO("split at " << k);
    LaneStats a = IntLane(xs, 0, k);
    MergeLane(&a, IntLane(xs, k, xs.size()), true);
    CHECK(a.n == whole.n);
    CHECK(a.isum == whole.isum);
    CHECK(a.imin == kMin);
    CHECK(a.imax == kMax);
    CHECK(RelClose(Mean(a), Mean(whole), 1e-12));
  }
  // uint64 extrema and 128-bit sums merge exactly.
  LaneStats a, b;
  a.n = 3;
  a.isum = (static_cast<int128>(1) << 100) + 7;
  a.imin = 0;
  a.imax = static_cast<int128>(std::numeric_limits<uint64_t>::max());
  a.mean = static_cast<double>(a.isum) / 3;
  b.n = 2;
  b.isum = -(static_cast<int128>(1) << 90);
  b.imin = static_cast<int128>(kMin);
  b.imax = 5;
  b.mean = static_cast<double>(b.isum) / 2;
  b.nan = 0;
  MergeLane(&a, b, true);
  CHECK(a.n == 5);
  CHECK(a.isum == (static_cast<int128>(1) << 100) + 7 - (static_cast<int128>(1) << 90));
  CHECK(a.imin == static_cast<int128>(kMin));
  CHECK(a.imax == static_cast<int128>(std::numeric_limits<uint64_t>::max()));
}

TEST_CASE("Stats: integer mode leaves the float fields alone", "[stats]") {
  const std::vector<int64_t> xs = {5, -3, 9, 9, 0};
  LaneStats a = IntLane(xs, 0, 2);
  MergeLane(&a, IntLane(xs, 2, 5), true);
  CHECK(a.sum == 0);
  CHECK(a.min == 0);
  CHECK(a.max == 0);
  CHECK(a.isum == 20);
  CHECK(a.imin == -3);
  CHECK(a.imax == 9);
  CHECK(RelClose(Mean(a), 4.0, 1e-15));
  CHECK(RelClose(a.m2, 1.0 + 49 + 25 + 25 + 16, 1e-12));
}

// The kernel's 64-bit shortcuts give the 128-bit formulas' numbers: the
// mean split into hi + lo for sums within +-2^53 (ExactMean), the
// truncated quotient for sums within int64 (TruncDiv).
TEST_CASE("Stats: ExactMean and TruncDiv take 64 bits with the 128-bit results", "[stats]") {
  const auto wide_mean = [](__int128 sum, int64_t n, double* hi, double* lo) {
    const __int128 q = sum / n, r = sum % n;
    const double h = static_cast<double>(q);
    const double l = static_cast<double>(q - static_cast<__int128>(h)) +
                     static_cast<double>(r) / static_cast<double>(n);
    *hi = h + l;
    *lo = l - (*hi - h);
  };
  const int64_t e53 = int64_t{1} << 53;
  std::vector<__int128> sums = {0,
                                1,
                                -1,
                                7,
                                -7,
                                e53,
                                -e53,
                                e53 - 1,
                                -e53 + 1,
                                e53 + 1,
                                -e53 - 1,
                                INT64_MAX,
                                INT64_MIN,
                                __int128{INT64_MAX} + 1,
                                __int128{INT64_MIN} - 1,
                                __int128{1} << 100};
  std::mt19937_64 rng(11);
  for (int i = 0; i < 2000; ++i) {
    const int64_t v = static_cast<int64_t>(rng());
    sums.push_back(v >> (rng() % 64));
  }
  for (const __int128 sum : sums) {
    for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, int64_t{1000003},
                            int64_t{1} << 40, INT64_MAX}) {
      double hi = 0, lo = 0, whi = 0, wlo = 0;
      stats_kernel::ExactMean(sum, n, &hi, &lo);
      wide_mean(sum, n, &whi, &wlo);
      INFO("sum " << static_cast<double>(sum) << " n " << n);
      CHECK(std::memcmp(&hi, &whi, sizeof hi) == 0);
      CHECK(std::memcmp(&lo, &wlo, sizeof lo) == 0);
      CHECK(stats_kernel::TruncDiv(sum, n) == sum / n);
    }
  }
}

}  // namespace
}  // namespace mm
