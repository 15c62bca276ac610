// The stats kernels: the vector copies agree bit for bit with the scalar
// templates and with each other (AVX2 and baseline), and the one-read
// pieces of SweepBlock stay accurate on data built to hurt a shifted sum.
#include "analysis/stats_simd.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "analysis/quantiles.h"
#include "analysis/stats_kernel.h"

namespace mm {
namespace {

using F32 = KindTraits<Kind::kFloat32>;
using F64 = KindTraits<Kind::kFloat64>;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Normal values around `offset`; every `nan_every`-th value NaN (0: none),
// plus an infinity or two when asked.
template <class T>
std::vector<T> Data(size_t n, uint32_t seed, double offset, int nan_every,
                    bool infinities = false) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(offset, 1.0);
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<T>(d(g));
  if (nan_every > 0)
    for (size_t i = static_cast<size_t>(nan_every) / 2; i < n; i += static_cast<size_t>(nan_every))
      v[i] = static_cast<T>(kNaN);
  if (infinities && n > 3) v[n / 3] = static_cast<T>(kInf);
  return v;
}

std::vector<const simd::KernelTable*> Tables() {
  std::vector<const simd::KernelTable*> t = {&simd::base::kTable};
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) t.push_back(&simd::avx2::kTable);
  return t;
}

template <class Traits, class T>
void CheckGlobalKernels(const simd::KernelTable& k, bool f32) {
  for (size_t n : {0, 1, 7, 15, 16, 17, 31, 100, 1000, 4099}) {
    for (int nan_every : {0, 3, 97}) {
      for (bool inf : {false, true}) {
        INFO("n " << n << " nan_every " << nan_every << " inf " << inf);
        const std::vector<T> v = Data<T>(
            n, static_cast<uint32_t>(n * 31 + static_cast<size_t>(nan_every)), 5.0, nan_every, inf);
        const char* p = reinterpret_cast<const char*>(v.data());
        const auto want = stats_kernel::ReduceRun<Traits, false>(p, n);
        const simd::RunSums got = f32 ? k.reduce_f32(p, n) : k.reduce_f64(p, n);
        CHECK(got.n == want.n);
        CHECK(SameBits(got.sum, want.sum));
        if (want.n > 0) {
          CHECK(SameBits(got.min, want.min));
          CHECK(SameBits(got.max, want.max));
        }
        const double mean = 4.75;
        const double dev_want = stats_kernel::DeviationRun<Traits, false>(p, n, mean);
        const bool has_nan = want.nan > 0;
        CHECK(SameBits(
            f32 ? k.deviation_f32(p, n, mean, has_nan) : k.deviation_f64(p, n, mean, has_nan),
            dev_want));
        if (!has_nan)
          CHECK(
              SameBits(f32 ? k.deviation_f32(p, n, mean, true) : k.deviation_f64(p, n, mean, true),
                       dev_want));
      }
    }
  }
}

TEST_CASE("global vector kernels give the scalar templates' bits", "[stats_simd]") {
  for (const simd::KernelTable* k : Tables()) {
    CheckGlobalKernels<F32, float>(*k, true);
    CheckGlobalKernels<F64, double>(*k, false);
  }
}

TEST_CASE("the AVX2 and baseline kernels give the same bits", "[stats_simd]") {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2")) return;  // nothing to compare on this CPU
  const simd::KernelTable& a = simd::avx2::kTable;
  const simd::KernelTable& b = simd::base::kTable;
  for (uint64_t len : {1, 3, 8, 10, 12, 33, 200}) {
    for (uint64_t rows : {1, 5, 64, 301}) {
      INFO("len " << len << " rows " << rows);
      const std::vector<float> v =
          Data<float>(len * rows, static_cast<uint32_t>(len + rows), -2.0, 13);
      const char* p = reinterpret_cast<const char*>(v.data());
      std::vector<double> shift(len);
      for (uint64_t i = 0; i < len; ++i) shift[i] = -2.0 + 0.01 * static_cast<double>(i);
      struct Cols {
        std::vector<double> sum, mn, mx, t, q;
        std::vector<int64_t> cnt, nan;
        explicit Cols(uint64_t n) : sum(n), mn(n, kInf), mx(n, -kInf), t(n), q(n), cnt(n), nan(n) {}
      } ca(len), cb(len), fa(len), fb(len);
      a.tile_f32(p, rows, len, ca.sum.data(), ca.cnt.data(), ca.nan.data(), ca.mn.data(),
                 ca.mx.data());
      b.tile_f32(p, rows, len, cb.sum.data(), cb.cnt.data(), cb.nan.data(), cb.mn.data(),
                 cb.mx.data());
      a.tile_dev_f32(p, rows, len, shift.data(), ca.q.data(), true);
      b.tile_dev_f32(p, rows, len, shift.data(), cb.q.data(), true);
      a.fused_tile_f32(p, rows, len, shift.data(), fa.sum.data(), fa.cnt.data(), fa.nan.data(),
                       fa.mn.data(), fa.mx.data(), fa.t.data(), fa.q.data());
      b.fused_tile_f32(p, rows, len, shift.data(), fb.sum.data(), fb.cnt.data(), fb.nan.data(),
                       fb.mn.data(), fb.mx.data(), fb.t.data(), fb.q.data());
      for (uint64_t i = 0; i < len; ++i) {
        CHECK(SameBits(ca.sum[i], cb.sum[i]));
        CHECK(SameBits(ca.q[i], cb.q[i]));
        CHECK(ca.cnt[i] == cb.cnt[i]);
        CHECK(ca.nan[i] == cb.nan[i]);
        CHECK(SameBits(ca.mn[i], cb.mn[i]));
        CHECK(SameBits(ca.mx[i], cb.mx[i]));
        CHECK(std::fabs(fa.sum[i] - ca.sum[i]) <= 1e-12 * static_cast<double>(rows) * 4.0);
        CHECK(SameBits(fa.q[i], fb.q[i]));
        CHECK(SameBits(fa.t[i], fb.t[i]));
        CHECK(SameBits(fa.q[i], ca.q[i]));
        CHECK(fa.cnt[i] == ca.cnt[i]);
      }
      const simd::FusedSums ga = a.fused_f32(p, len * rows, 0.5),
                            gb = b.fused_f32(p, len * rows, 0.5);
      CHECK(ga.n == gb.n);
      CHECK(SameBits(ga.sum, gb.sum));
      CHECK(SameBits(ga.q, gb.q));
      CHECK(SameBits(ga.t, gb.t));
      CHECK(SameBits(ga.min, gb.min));
      // The one-read sum is n * shift + t: not the same additions as
      // ReduceF32's, but as close as rounding allows.
      const simd::RunSums ra = a.reduce_f32(p, len * rows);
      CHECK(std::fabs(ga.sum - ra.sum) <= 1e-12 * static_cast<double>(len * rows) * 4.0);
      CHECK(ga.n == ra.n);
      CHECK(SameBits(ga.min, ra.min));
      CHECK(SameBits(ga.max, ra.max));
    }
  }
}

// A sweep without extremes or deviations (stats of only count, sum, mean)
// gives the full sweep's counts and sums, bit for bit: short rows (the
// grouped kernels), rows past the virtual lanes (the band kernel), and
// whole rows reduced to one lane (runs).
template <class T>
void CheckSumsOnly(const char* dtype) {
  for (int64_t cols : {int64_t{1}, int64_t{3}, int64_t{10}, int64_t{1000}, int64_t{1500}}) {
    for (int axis : {0, 1}) {
      INFO(dtype << " cols " << cols << " reduced axis " << axis);
      const int64_t rows = 77;
      const std::vector<T> v =
          Data<T>(static_cast<size_t>(rows * cols), static_cast<uint32_t>(cols), 3.0, 11, true);
      Layout l;
      l.dtype = *ParseDType(dtype);
      l.shape = {rows, cols};
      const LaneGeometry geo(l, {axis});
      std::vector<LaneStats> full(static_cast<size_t>(geo.lanes())), sums(full.size());
      stats_kernel::Scratch a, b;
      b.minmax = false;
      b.deviations = false;
      const char* p = reinterpret_cast<const char*>(v.data());
      const uint64_t n = static_cast<uint64_t>(rows * cols);
      stats_kernel::SweepBlockOf(l.dtype, geo, p, 0, n, 0, &full, &a);
      stats_kernel::SweepBlockOf(l.dtype, geo, p, 0, n, 0, &sums, &b);
      for (size_t c = 0; c < full.size(); ++c) {
        INFO("lane " << c);
        CHECK(sums[c].n == full[c].n);
        CHECK(sums[c].nan == full[c].nan);
        CHECK(SameBits(sums[c].sum, full[c].sum));
      }
    }
  }
}

TEST_CASE("a sweep of sums only gives the full sweep's sums", "[stats_simd]") {
  CheckSumsOnly<float>("<f4");
  CheckSumsOnly<double>("<f8");
}

// Exact-ish reference: long double two-pass over the non-NaN values.
struct Ref {
  int64_t n = 0;
  long double mean = 0, m2 = 0;
};
Ref Reference(const std::vector<float>& v, size_t first, size_t step, size_t count) {
  Ref r;
  long double s = 0;
  for (size_t i = 0, k = first; i < count; ++i, k += step)
    if (!std::isnan(v[k])) s += v[k], ++r.n;
  if (r.n == 0) return r;
  r.mean = s / static_cast<long double>(r.n);
  for (size_t i = 0, k = first; i < count; ++i, k += step)
    if (!std::isnan(v[k])) r.m2 += (v[k] - r.mean) * (v[k] - r.mean);
  return r;
}

Layout FloatLayout(std::vector<int64_t> shape) {
  Layout l;
  l.dtype = *ParseDType("<f4");
  l.shape = std::move(shape);
  return l;
}

void CheckAgainstReference(const std::vector<float>& v, int64_t cols, const char* what) {
  INFO(what << ", " << cols << " columns");
  const int64_t rows = static_cast<int64_t>(v.size()) / cols;
  const Layout l = FloatLayout({rows, cols});
  const LaneGeometry geo(l, cols == 1 ? std::vector<int>{0, 1} : std::vector<int>{0});
  std::vector<LaneStats> lanes(static_cast<size_t>(geo.lanes()));
  stats_kernel::Scratch scratch;
  stats_kernel::SweepBlockOf(l.dtype, geo, reinterpret_cast<const char*>(v.data()), 0,
                             static_cast<uint64_t>(rows * cols), 0, &lanes, &scratch);
  for (size_t c = 0; c < lanes.size(); ++c) {
    const Ref ref = cols == 1
                        ? Reference(v, 0, 1, static_cast<size_t>(rows))
                        : Reference(v, c, static_cast<size_t>(cols), static_cast<size_t>(rows));
    INFO("lane " << c);
    REQUIRE(lanes[c].n == ref.n);
    const double m2 = static_cast<double>(ref.m2), mean = static_cast<double>(ref.mean);
    // Chan's merge of pieces inherits the rounding of their means, about
    // eps * |mean| each: the relative error of m2 grows like
    // eps * (|mean| / sd) / sqrt(n), whatever the piece size (the block
    // tree has the same bound). Allow for it above |mean| / sd = 1e5.
    const double sd = std::sqrt(m2 / static_cast<double>(ref.n));
    const double rel = 1e-12 * std::max(1.0, std::fabs(mean) / sd / 1e5);
    CHECK(std::fabs(lanes[c].m2 - m2) <= rel * m2 + 1e-300);
    CHECK(std::fabs(lanes[c].mean - mean) <= 1e-13 * std::fabs(mean) + 1e-300);
  }
}

TEST_CASE("one-read pieces of a block stay accurate on hostile data", "[stats_simd]") {
  // A 1 MiB block of float32: 32 pieces of 32 KiB.
  const size_t n = (1 << 20) / sizeof(float);
  for (int64_t cols : {1, 10}) {
    // Large offset, small spread: a shift far from the data would cancel.
    CheckAgainstReference(Data<float>(n, 1, 1e6, 0), cols, "offset 1e6");
    // Steps of 1e5 at every piece: the running mean lags behind the piece.
    std::vector<float> steps = Data<float>(n, 2, 0.0, 0);
    for (size_t i = 0; i < n; ++i)
      steps[i] += static_cast<float>(1e5 * static_cast<double>(i / 8192));
    CheckAgainstReference(steps, cols, "steps");
    // One huge outlier in the first piece drags the running mean.
    std::vector<float> outlier = Data<float>(n, 3, 10.0, 0);
    outlier[5] = 3e7f;
    CheckAgainstReference(outlier, cols, "outlier");
    // A ramp, and NaNs everywhere.
    std::vector<float> ramp(n);
    for (size_t i = 0; i < n; ++i) ramp[i] = static_cast<float>(i) * 0.5f;
    CheckAgainstReference(ramp, cols, "ramp");
    CheckAgainstReference(Data<float>(n, 4, -3.0, 7), cols, "NaN every 7th");
    // Whole pieces of NaN first: lanes without a running mean use two sweeps.
    std::vector<float> late = Data<float>(n, 5, 2.0, 0);
    for (size_t i = 0; i < 3 * 8192; ++i) late[i] = std::numeric_limits<float>::quiet_NaN();
    CheckAgainstReference(late, cols, "NaN first");
  }
  // Every value equal: m2 must come out exactly 0, not slightly negative.
  const std::vector<float> flat(n, 3.25f);
  const Layout l = FloatLayout({static_cast<int64_t>(n)});
  const LaneGeometry geo(l, {0});
  std::vector<LaneStats> lanes(1);
  stats_kernel::Scratch scratch;
  stats_kernel::SweepBlockOf(l.dtype, geo, reinterpret_cast<const char*>(flat.data()), 0, n, 0,
                             &lanes, &scratch);
  CHECK(lanes[0].m2 == 0.0);
  CHECK(lanes[0].mean == 3.25);
}

TEST_CASE("co-moments: each kernel gives the plain loop's bits", "[stats_simd]") {
  std::mt19937 g(7);
  std::normal_distribution<double> d(0.0, 3.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const simd::KernelTable* t : Tables()) {
    for (uint64_t k : {1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 33}) {
      for (uint64_t rows : {0, 1, 2, 31}) {
        const uint64_t kp = (k + simd::kCoMomentPad - 1) / simd::kCoMomentPad * simd::kCoMomentPad;
        // Past the last row: anything, here NaN, which must reach no entry
        // the caller reads.
        std::vector<double> x(rows * k + simd::kCoMomentPad, nan), want(k * kp), got;
        for (uint64_t i = 0; i < rows * k; ++i) x[i] = d(g);
        for (double& c : want) c = d(g);  // sums start from what c holds
        got = want;
        for (uint64_t i = 0; i < k; ++i)
          for (uint64_t o = 0; o < rows; ++o)
            for (uint64_t j = i; j < k; ++j) want[i * kp + j] += x[o * k + i] * x[o * k + j];
        t->co_moments(x.data(), rows, k, got.data(), kp);
        INFO("k " << k << " rows " << rows);
        for (uint64_t i = 0; i < k; ++i)
          for (uint64_t j = i; j < k; ++j) CHECK(got[i * kp + j] == want[i * kp + j]);
      }
    }
  }
}

TEST_CASE("key matches: each kernel finds the values of the open buckets", "[stats_simd]") {
  std::mt19937 g(11);
  std::normal_distribution<double> d(0.0, 2.0);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> x = {0.0,
                           -0.0,
                           inf,
                           -inf,
                           std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::denorm_min(),
                           -1e-300,
                           1e300};
  for (int i = 0; i < 3000; ++i) x.push_back(d(g));
  for (int i = 0; i < 500; ++i) x.push_back(static_cast<double>(static_cast<float>(d(g))));
  for (const simd::KernelTable* t : Tables()) {
    for (int shift : {48, 32, 16, 1}) {
      // Prefixes of some values present (and one absent): the buckets of
      // x[5], x[100], x[2000], x[0] (+0.0 and -0.0 share it).
      std::vector<uint64_t> prefix = {OrderedKey(x[100]) >> shift, OrderedKey(x[0]) >> shift,
                                      OrderedKey(x[2000]) >> shift, OrderedKey(x[5]) >> shift,
                                      (OrderedKey(3.0) >> shift) + 1};
      for (size_t n : {x.size(), size_t{3}, size_t{7}}) {
        for (size_t np : {size_t{1}, size_t{5}}) {
          std::vector<uint32_t> want, got(n);
          for (size_t i = 0; i < n; ++i) {
            if (x[i] != x[i]) continue;
            for (size_t p = 0; p < np; ++p)
              if ((OrderedKey(x[i]) >> shift) == prefix[p]) {
                want.push_back(static_cast<uint32_t>(i));
                break;
              }
          }
          got.resize(t->key_matches(x.data(), n, shift, prefix.data(), np, got.data()));
          INFO("shift " << shift << " n " << n << " prefixes " << np);
          CHECK(got == want);
          if (n == x.size()) CHECK(!want.empty());
        }
      }
    }
    for (int shift : {0, 16, 48}) {
      for (size_t n : {x.size(), size_t{5}, size_t{4}}) {
        std::vector<uint64_t> want, got(n);
        for (size_t i = 0; i < n; ++i)
          if (x[i] == x[i]) want.push_back(OrderedKey(x[i]) >> shift);
        got.resize(t->key_bits(x.data(), n, shift, got.data()));
        INFO("key bits, shift " << shift << " n " << n);
        CHECK(got == want);
      }
    }
  }
}

}  // namespace
}  // namespace mm
