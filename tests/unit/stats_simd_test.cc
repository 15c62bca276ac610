// The stats kernels: the vector copies agree bit for bit with the scalar
// templates and with each other (AVX-512, AVX2 and baseline, each that the
// CPU can run), and the one-read pieces of SweepBlock stay accurate on data
// built to hurt a shifted sum.
#include "analysis/stats_simd.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "analysis/load_doubles.h"
#include "analysis/quantiles.h"
#include "analysis/stats_kernel.h"
#include "core/dtype.h"

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

// The copies this CPU can run: base, and avx2 and avx512 when it has them.
std::vector<simd::NamedTable> Tables() {
  int count = 0;
  const simd::NamedTable* t = simd::RunnableTables(&count);
  return std::vector<simd::NamedTable>(t, t + count);
}

// Values of kind `kind` (see Special): 0 normal, 1 NaN every third, 2 a NaN
// now and then, 3 one +inf, 4 +inf and -inf (their sum is NaN without a NaN
// value), 5 zeros of both signs, 6 all NaN, 7 a mix of every special value.
constexpr int kKinds = 8;
template <class T>
std::vector<T> Special(size_t n, uint32_t seed, int kind) {
  std::mt19937 g(seed);
  std::normal_distribution<double> d(1.5, 2.0);
  std::uniform_int_distribution<int> pick(0, 9);
  const T specials[] = {static_cast<T>(kNaN),
                        static_cast<T>(kInf),
                        static_cast<T>(-kInf),
                        static_cast<T>(-0.0),
                        static_cast<T>(0.0),
                        std::numeric_limits<T>::denorm_min(),
                        -std::numeric_limits<T>::max(),
                        std::numeric_limits<T>::max() / 4};
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = static_cast<T>(d(g));
    switch (kind) {
      case 1:
        if (i % 3 == 1) v[i] = static_cast<T>(kNaN);
        break;
      case 2:
        if (i % 37 == 11) v[i] = static_cast<T>(kNaN);
        break;
      case 3:
        if (i == n / 2) v[i] = static_cast<T>(kInf);
        break;
      case 4:
        if (i == n / 3) v[i] = static_cast<T>(kInf);
        if (i == n - 1 && n > 1) v[i] = static_cast<T>(-kInf);
        break;
      case 5:
        v[i] = static_cast<T>(i % 5 == 2 ? 0.0 : -0.0);
        break;
      case 6:
        v[i] = static_cast<T>(kNaN);
        break;
      case 7: {
        const int k = pick(g);
        if (k < 8) v[i] = specials[k];
        break;
      }
      default:
        break;
    }
  }
  return v;
}

// The lengths every kernel is tried at: each tail of a vector of up to 64
// lanes, and some long runs.
std::vector<size_t> Lengths() {
  std::vector<size_t> n;
  for (size_t i = 0; i <= 70; ++i) n.push_back(i);
  for (size_t i : {100, 255, 1000, 4099, 65537}) n.push_back(i);
  return n;
}

// The values at byte `offset` of a copy: unaligned for offsets that are not
// a multiple of 64.
template <class T>
struct Shifted {
  std::vector<char> bytes;
  const char* p;
  Shifted(const std::vector<T>& v, size_t offset) : bytes(v.size() * sizeof(T) + offset + 64) {
    p = bytes.data() + offset;
    if (!v.empty()) std::memcpy(bytes.data() + offset, v.data(), v.size() * sizeof(T));
  }
};

// FusedF32 as plain loops, one accumulator at a time: element i to
// accumulator i % 8, NaN tested on x - shift, the eight combined pairwise
// (extremes in accumulator order); the sum is n * shift + t.
simd::FusedSums FusedReference(const char* p, uint64_t n, double shift) {
  simd::FusedSums r;
  r.min = kInf;
  r.max = -kInf;
  double sd[8], sq[8];
  for (uint64_t j = 0; j < 8; ++j) {
    double t = 0, q = 0, lo = kInf, hi = -kInf;
    for (uint64_t i = j; i < n; i += 8) {
      float f;
      std::memcpy(&f, p + i * sizeof f, sizeof f);
      const double d = f - shift;
      if (d == d) t += d, q += d * d, ++r.n;
      if (f < lo) lo = f;
      if (f > hi) hi = f;
    }
    sd[j] = t, sq[j] = q;
    if (lo < r.min) r.min = lo;
    if (hi > r.max) r.max = hi;
  }
  r.t = ((sd[0] + sd[1]) + (sd[2] + sd[3])) + ((sd[4] + sd[5]) + (sd[6] + sd[7]));
  r.q = ((sq[0] + sq[1]) + (sq[2] + sq[3])) + ((sq[4] + sq[5]) + (sq[6] + sq[7]));
  r.sum = static_cast<double>(r.n) * shift + r.t;
  return r;
}

template <class Traits, class T>
void CheckGlobalKernels(const simd::NamedTable& table, bool f32) {
  const simd::KernelTable& k = *table.table;
  for (size_t n : Lengths()) {
    for (int kind = 0; kind < kKinds; ++kind) {
      const std::vector<T> v = Special<T>(n, static_cast<uint32_t>(n * 31 + kind), kind);
      for (size_t offset : {size_t{0}, sizeof(T), size_t{1}}) {
        INFO(table.name << " n " << n << " kind " << kind << " offset " << offset);
        const Shifted<T> at(v, offset);
        const char* p = at.p;
        const auto want = stats_kernel::ReduceRun<Traits, false>(p, n);
        const simd::RunSums got = f32 ? k.reduce_f32(p, n) : k.reduce_f64(p, n);
        CHECK(got.n == want.n);
        CHECK(SameBits(got.sum, want.sum));
        CHECK(SameBits(got.min, want.min));
        CHECK(SameBits(got.max, want.max));
        for (const double mean : {4.75, -0.0}) {
          const simd::DevSums dev_want = stats_kernel::DeviationRun<Traits, false>(p, n, mean);
          const bool has_nan = want.nan > 0;
          for (const bool masked : {has_nan, true}) {
            if (masked != has_nan && has_nan) continue;
            if (f32) {
              CHECK(SameBits(k.deviation_f32(p, n, mean, masked), dev_want.m2));
              continue;
            }
            // Float64 also sums the deviations (the mean's correction).
            const simd::DevSums got = k.deviation_f64(p, n, mean, masked);
            CHECK(SameBits(got.m2, dev_want.m2));
            CHECK(SameBits(got.t, dev_want.t));
          }
        }
        if (f32) {
          for (const double shift : {0.5, -0.0, kInf}) {
            const simd::FusedSums fw = FusedReference(p, n, shift), fg = k.fused_f32(p, n, shift);
            INFO("fused, shift " << shift);
            CHECK(fg.n == fw.n);
            CHECK(SameBits(fg.sum, fw.sum));
            CHECK(SameBits(fg.t, fw.t));
            CHECK(SameBits(fg.q, fw.q));
            CHECK(SameBits(fg.min, fw.min));
            CHECK(SameBits(fg.max, fw.max));
          }
        }
      }
    }
  }
}

TEST_CASE("global vector kernels give the scalar templates' bits", "[stats_simd][simd]") {
  for (const simd::NamedTable& t : Tables()) {
    CheckGlobalKernels<F32, float>(t, true);
    CheckGlobalKernels<F64, double>(t, false);
  }
}

// Per-lane columns of a tile kernel, started from values that are not all
// plain: sums may start at -0.0, extremes anywhere.
struct Cols {
  std::vector<double> sum, mn, mx, t, q;
  std::vector<int64_t> cnt, nan;
  Cols(uint64_t n, uint32_t seed) : sum(n), mn(n), mx(n), t(n), q(n), cnt(n), nan(n) {
    std::mt19937 g(seed);
    std::normal_distribution<double> d(0.0, 3.0);
    for (uint64_t i = 0; i < n; ++i) {
      const bool zero = i % 3 == 0;
      sum[i] = zero ? -0.0 : d(g);
      t[i] = zero ? -0.0 : d(g);
      q[i] = zero ? -0.0 : std::fabs(d(g));
      mn[i] = i % 4 == 1 ? kInf : d(g);
      mx[i] = i % 4 == 1 ? -kInf : d(g);
      cnt[i] = static_cast<int64_t>(i);
      nan[i] = static_cast<int64_t>(2 * i);
    }
  }
  // Whether every column holds the same bits as o's.
  void Same(const Cols& o) const {
    for (size_t i = 0; i < sum.size(); ++i) {
      INFO("lane " << i);
      CHECK(SameBits(sum[i], o.sum[i]));
      CHECK(SameBits(mn[i], o.mn[i]));
      CHECK(SameBits(mx[i], o.mx[i]));
      CHECK(SameBits(t[i], o.t[i]));
      CHECK(SameBits(q[i], o.q[i]));
      CHECK(cnt[i] == o.cnt[i]);
      CHECK(nan[i] == o.nan[i]);
    }
  }
};

// Every tile kernel of `k` on rows x len values at p, into columns started
// at seed: the columns of each kernel, in order.
template <class T>
std::vector<Cols> RunTiles(const simd::KernelTable& k, const char* p, uint64_t rows, uint64_t len,
                           bool has_nan) {
  std::vector<double> shift(len);
  for (uint64_t i = 0; i < len; ++i) shift[i] = 1.0 + 0.01 * static_cast<double>(i);
  if (len > 2) shift[1] = -0.0;
  std::vector<Cols> out;
  const auto cols = [&] { return Cols(len, static_cast<uint32_t>(len * 7 + rows)); };
  const bool f32 = sizeof(T) == 4;
  Cols a = cols(), b = cols(), c = cols(), d = cols();
  (f32 ? k.tile_f32 : k.tile_f64)(p, rows, len, a.sum.data(), a.cnt.data(), a.nan.data(),
                                  a.mn.data(), a.mx.data());
  (f32 ? k.tile_f32 : k.tile_f64)(p, rows, len, b.sum.data(), b.cnt.data(), b.nan.data(), nullptr,
                                  nullptr);
  if (f32) {
    k.tile_dev_f32(p, rows, len, shift.data(), c.q.data(), true);
    if (!has_nan) k.tile_dev_f32(p, rows, len, shift.data(), c.t.data(), false);
    k.fused_tile_f32(p, rows, len, shift.data(), d.sum.data(), d.cnt.data(), d.nan.data(),
                     d.mn.data(), d.mx.data(), d.t.data(), d.q.data());
  } else {
    k.tile_dev_f64(p, rows, len, shift.data(), c.q.data(), c.t.data());
  }
  out.push_back(a);
  out.push_back(b);
  out.push_back(c);
  out.push_back(d);
  return out;
}

template <class T>
void CheckTilesAgree() {
  const std::vector<simd::NamedTable> tables = Tables();
  for (uint64_t len :
       {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 16, 17, 20, 24, 31, 33, 40, 64, 200, 1030}) {
    for (uint64_t rows : {0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 64, 65, 130}) {
      for (int kind : {0, 2, 4, 7}) {
        const std::vector<T> v =
            Special<T>(len * rows, static_cast<uint32_t>(len * 1000 + rows + kind), kind);
        bool has_nan = false;
        for (T x : v) has_nan |= x != x;
        for (size_t offset : {size_t{0}, sizeof(T)}) {
          const Shifted<T> at(v, offset);
          const std::vector<Cols> want = RunTiles<T>(*tables[0].table, at.p, rows, len, has_nan);
          for (size_t t = 1; t < tables.size(); ++t) {
            const std::vector<Cols> got = RunTiles<T>(*tables[t].table, at.p, rows, len, has_nan);
            for (size_t c = 0; c < want.size(); ++c) {
              INFO(tables[t].name << " vs base: " << sizeof(T) * 8 << "-bit, len " << len
                                  << " rows " << rows << " kind " << kind << " offset " << offset
                                  << " kernel " << c);
              got[c].Same(want[c]);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("every copy of the tile kernels gives the baseline copy's bits", "[stats_simd][simd]") {
  CheckTilesAgree<float>();
  CheckTilesAgree<double>();
}

TEST_CASE("the fused and two-sweep tile kernels agree", "[stats_simd][simd]") {
  for (const simd::NamedTable& table : Tables()) {
    const simd::KernelTable& a = *table.table;
    for (uint64_t len : {1, 3, 8, 10, 12, 33, 200}) {
      for (uint64_t rows : {1, 5, 64, 301}) {
        INFO(table.name << " len " << len << " rows " << rows);
        const std::vector<float> v =
            Data<float>(len * rows, static_cast<uint32_t>(len + rows), -2.0, 13);
        const char* p = reinterpret_cast<const char*>(v.data());
        std::vector<double> shift(len);
        for (uint64_t i = 0; i < len; ++i) shift[i] = -2.0 + 0.01 * static_cast<double>(i);
        struct Lanes {
          std::vector<double> sum, mn, mx, t, q;
          std::vector<int64_t> cnt, nan;
          explicit Lanes(uint64_t n)
              : sum(n), mn(n, kInf), mx(n, -kInf), t(n), q(n), cnt(n), nan(n) {}
        } ca(len), fa(len);
        a.tile_f32(p, rows, len, ca.sum.data(), ca.cnt.data(), ca.nan.data(), ca.mn.data(),
                   ca.mx.data());
        a.tile_dev_f32(p, rows, len, shift.data(), ca.q.data(), true);
        a.fused_tile_f32(p, rows, len, shift.data(), fa.sum.data(), fa.cnt.data(), fa.nan.data(),
                         fa.mn.data(), fa.mx.data(), fa.t.data(), fa.q.data());
        for (uint64_t i = 0; i < len; ++i) {
          CHECK(std::fabs(fa.sum[i] - ca.sum[i]) <= 1e-12 * static_cast<double>(rows) * 4.0);
          CHECK(SameBits(fa.q[i], ca.q[i]));
          CHECK(fa.cnt[i] == ca.cnt[i]);
          CHECK(fa.nan[i] == ca.nan[i]);
          CHECK(SameBits(fa.mn[i], ca.mn[i]));
          CHECK(SameBits(fa.mx[i], ca.mx[i]));
        }
        // The one-read sum is n * shift + t: not the same additions as
        // ReduceF32's, but as close as rounding allows.
        const simd::FusedSums ga = a.fused_f32(p, len * rows, 0.5);
        const simd::RunSums ra = a.reduce_f32(p, len * rows);
        CHECK(std::fabs(ga.sum - ra.sum) <= 1e-12 * static_cast<double>(len * rows) * 4.0);
        CHECK(ga.n == ra.n);
        CHECK(SameBits(ga.min, ra.min));
        CHECK(SameBits(ga.max, ra.max));
      }
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

TEST_CASE("a sweep of sums only gives the full sweep's sums", "[stats_simd][simd]") {
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
    CHECK(std::fabs(lanes[c].mean + lanes[c].mean_lo - mean) <= 1e-13 * std::fabs(mean) + 1e-300);
  }
}

TEST_CASE("one-read pieces of a block stay accurate on hostile data", "[stats_simd][simd]") {
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
  CHECK(lanes[0].mean + lanes[0].mean_lo == 3.25);
}

TEST_CASE("co-moments: each kernel gives the plain loop's bits", "[stats_simd][simd]") {
  std::mt19937 g(7);
  std::normal_distribution<double> d(0.0, 3.0);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const simd::NamedTable& t : Tables()) {
    for (uint64_t k :
         {1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 20, 24, 31, 32, 33, 40, 47, 64, 65, 70}) {
      for (uint64_t rows : {0, 1, 2, 31}) {
        for (uint64_t offset : {0, 1}) {
          const uint64_t kp =
              (k + simd::kCoMomentPad - 1) / simd::kCoMomentPad * simd::kCoMomentPad;
          // Past the last row: anything, here NaN, which must reach no entry
          // the caller reads.
          std::vector<double> xs(offset + rows * k + simd::kCoMomentPad, nan), want(k * kp), got;
          double* x = xs.data() + offset;
          for (uint64_t i = 0; i < rows * k; ++i)
            x[i] = i % 29 == 5 ? -0.0 : i % 31 == 7 ? kInf : d(g);
          // Sums start from what c holds, -0.0 too (-0.0 + -0.0 stays -0.0).
          for (size_t e = 0; e < want.size(); ++e) want[e] = e % 7 == 3 ? -0.0 : d(g);
          got = want;
          for (uint64_t i = 0; i < k; ++i)
            for (uint64_t o = 0; o < rows; ++o)
              for (uint64_t j = i; j < k; ++j) want[i * kp + j] += x[o * k + i] * x[o * k + j];
          t.table->co_moments(x, rows, k, got.data(), kp);
          INFO(t.name << " k " << k << " rows " << rows << " offset " << offset);
          for (uint64_t i = 0; i < k; ++i)
            for (uint64_t j = i; j < k; ++j) CHECK(SameBits(got[i * kp + j], want[i * kp + j]));
        }
      }
    }
  }
}

// A 64-bit integer's bits for the rounding cases random bits rarely hit:
// every magnitude (small values convert exactly), halfway cases (ties to
// even, both ways), one past or below them, and the extremes.
uint64_t Int64Case(std::mt19937* g) {
  static const uint64_t kFixed[] = {0,
                                    1,
                                    ~uint64_t{0},               // -1, 2^64 - 1
                                    uint64_t{1} << 63,          // least int64, 2^63
                                    (uint64_t{1} << 63) - 1,    // int64 max
                                    (uint64_t{1} << 53) + 1,    // tie, to even (down)
                                    (uint64_t{1} << 53) + 3,    // tie, to even (up)
                                    ~(uint64_t{1} << 53),       // -(2^53 + 1)
                                    (uint64_t{1} << 63) - 512,  // tie up to 2^63
                                    (uint64_t{1} << 63) - 513,
                                    ~uint64_t{0} - 1023,  // uint64: tie up to 2^64
                                    (uint64_t{1} << 63) + 1024 + 1};
  const uint64_t r = (uint64_t{(*g)()} << 32) | (*g)();
  switch ((*g)() % 4) {
    case 0:
      return kFixed[(*g)() % (sizeof kFixed / sizeof kFixed[0])];
    case 1: {  // a halfway case (or one off it) at a random magnitude above 2^53
      const int dropped = 1 + static_cast<int>((*g)() % 11);  // bits below the 53 kept
      const uint64_t top = (r >> (11 - dropped)) | (uint64_t{1} << (52 + dropped));
      const uint64_t tie = (top & ~((uint64_t{1} << dropped) - 1)) | (uint64_t{1} << (dropped - 1));
      const uint64_t v = tie + uint64_t{(*g)() % 3} - 1;
      return (*g)() % 2 ? v : ~v + 1;  // negated: a signed halfway case below zero
    }
    default:  // any magnitude
      return r >> ((*g)() % 64);
  }
}

// simd::Widen of one type against core/dtype.h's LoadDoubles: random bit
// patterns (NaNs, infinities and subnormals among the floats; every other
// 64-bit integer one of Int64Case's), both byte orders, lengths around the
// vector widths, unaligned starts.
template <class Traits>
void CheckWiden(const simd::NamedTable& t, simd::WidenFrom from, std::mt19937* g) {
  using S = typename Traits::Storage;
  for (const bool swap : {false, true}) {
    for (uint64_t n : {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 1000}) {
      for (uint64_t offset : {0, 1, 3}) {
        std::vector<char> bytes(offset + n * sizeof(S) + 1);
        for (char& b : bytes) b = static_cast<char>((*g)() & 0xff);
        if constexpr (sizeof(S) == 8 && !Traits::kIsFloat) {
          for (uint64_t i = 1; i < n; i += 2) {
            uint64_t v = Int64Case(g);
            if (swap) v = __builtin_bswap64(v);
            std::memcpy(bytes.data() + offset + i * 8, &v, 8);
          }
        }
        const char* p = bytes.data() + offset;
        std::vector<double> want(n), got(n + 1, 1.5);
        if (swap) {
          LoadDoubles<Traits, true>(p, n, want.data());
        } else {
          LoadDoubles<Traits, false>(p, n, want.data());
        }
        t.table->widen(from, swap, p, n, got.data());
        INFO(t.name << " " << Traits::kChar << sizeof(S) << " swap " << swap << " n " << n
                    << " offset " << offset);
        uint64_t differ = 0;
        for (uint64_t i = 0; i < n; ++i) differ += !SameBits(got[i], want[i]);
        CHECK(differ == 0);
        CHECK(got[n] == 1.5);  // nothing written past the end
      }
    }
  }
}

TEST_CASE("Widen: every copy gives LoadDoubles' bits for every type it takes",
          "[stats_simd][simd][histogram]") {
  std::mt19937 g(17);
  for (const simd::NamedTable& t : Tables()) {
    CheckWiden<KindTraits<Kind::kInt8>>(t, simd::WidenFrom::kInt8, &g);
    CheckWiden<KindTraits<Kind::kUInt8>>(t, simd::WidenFrom::kUInt8, &g);
    CheckWiden<KindTraits<Kind::kInt16>>(t, simd::WidenFrom::kInt16, &g);
    CheckWiden<KindTraits<Kind::kUInt16>>(t, simd::WidenFrom::kUInt16, &g);
    CheckWiden<KindTraits<Kind::kInt32>>(t, simd::WidenFrom::kInt32, &g);
    CheckWiden<KindTraits<Kind::kUInt32>>(t, simd::WidenFrom::kUInt32, &g);
    CheckWiden<KindTraits<Kind::kInt64>>(t, simd::WidenFrom::kInt64, &g);
    CheckWiden<KindTraits<Kind::kUInt64>>(t, simd::WidenFrom::kUInt64, &g);
    CheckWiden<KindTraits<Kind::kFloat32>>(t, simd::WidenFrom::kFloat32, &g);
    CheckWiden<KindTraits<Kind::kFloat64>>(t, simd::WidenFrom::kFloat64, &g);
  }
}

TEST_CASE("LoadTile: every dtype and byte order gives LoadDoubles' bits",
          "[stats_simd][simd][histogram]") {
  // What the analyses call: the dtype to kernel mapping (load_doubles.h)
  // as well as the kernels, on the copy this CPU runs.
  std::mt19937 g(23);
  for (int k = 0; k <= static_cast<int>(Kind::kFloat64); ++k) {
    VisitKind(static_cast<Kind>(k), [&](auto traits) {
      using Traits = decltype(traits);
      using S = typename Traits::Storage;
      for (const uint64_t n : {1, 17, 100, 1000}) {
        std::vector<char> bytes(n * sizeof(S) + 1);
        for (char& b : bytes) b = static_cast<char>(g() & 0xff);
        std::vector<double> want(n), got(n);
        const char* p = bytes.data() + 1;  // unaligned
        LoadDoubles<Traits, false>(p, n, want.data());
        LoadTile<Traits, false>(p, n, got.data());
        uint64_t differ = 0;
        for (uint64_t i = 0; i < n; ++i) differ += !SameBits(got[i], want[i]);
        LoadDoubles<Traits, true>(p, n, want.data());
        LoadTile<Traits, true>(p, n, got.data());
        for (uint64_t i = 0; i < n; ++i) differ += !SameBits(got[i], want[i]);
        INFO("kind " << k << " n " << n);
        CHECK(differ == 0);
      }
    });
  }
}

TEST_CASE("tiles of doubles: each kernel gives the plain loops' bits", "[stats_simd][simd]") {
  std::mt19937 g(5);
  std::normal_distribution<float> d(0.0f, 3.0f);
  const float nanf = std::numeric_limits<float>::quiet_NaN();
  for (const simd::NamedTable& t : Tables()) {
    // Widening: every length around the vector widths, every offset, with
    // and without a NaN at each position class.
    for (uint64_t n : {0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 100}) {
      for (uint64_t offset : {0, 1}) {
        for (int64_t nan_at : {-1, 0, 3, 7, 8, 11, 14, 15, 16, 20, 99}) {
          if (nan_at >= static_cast<int64_t>(n)) continue;
          std::vector<float> f(offset + n);
          for (uint64_t i = 0; i < n; ++i)
            f[offset + i] = i % 13 == 4 ? -0.0f : i % 17 == 6 ? static_cast<float>(kInf) : d(g);
          if (nan_at >= 0) f[offset + static_cast<uint64_t>(nan_at)] = nanf;
          std::vector<double> got(n + 1, 1.5);
          const bool nan =
              t.table->widen_f32(reinterpret_cast<const char*>(f.data() + offset), n, got.data());
          INFO(t.name << " n " << n << " offset " << offset << " nan at " << nan_at);
          CHECK(nan == (nan_at >= 0));
          for (uint64_t i = 0; i < n; ++i)
            CHECK(SameBits(got[i], static_cast<double>(f[offset + i])));
          CHECK(got[n] == 1.5);  // nothing written past the end
        }
      }
    }
    // Column sums (in row order, from what sum holds) and subtraction.
    std::normal_distribution<double> dd(0.0, 3.0);
    for (uint64_t k : {1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16, 17, 20, 33, 70}) {
      for (uint64_t rows : {0, 1, 2, 31}) {
        std::vector<double> x(rows * k), mean(k), sum(k);
        for (double& v : x) v = dd(g);
        for (uint64_t i = 0; i < x.size(); i += 23) x[i] = -0.0;
        for (uint64_t v = 0; v < k; ++v) mean[v] = dd(g), sum[v] = v % 5 == 2 ? -0.0 : dd(g);
        std::vector<double> want_sum = sum, got_sum = sum, want_x = x, got_x = x;
        std::vector<double> want_dev = sum, got_dev = sum;
        for (uint64_t v = 0; v < k; ++v)
          for (uint64_t o = 0; o < rows; ++o) want_sum[v] += x[o * k + v];
        for (uint64_t i = 0; i < want_x.size(); ++i) want_x[i] -= mean[i % k];
        for (uint64_t v = 0; v < k; ++v)
          for (uint64_t o = 0; o < rows; ++o) want_dev[v] += want_x[o * k + v];
        t.table->column_sums(x.data(), rows, k, got_sum.data());
        t.table->subtract_columns(got_x.data(), rows, k, mean.data(), got_dev.data());
        INFO(t.name << " k " << k << " rows " << rows);
        for (uint64_t v = 0; v < k; ++v) CHECK(SameBits(got_sum[v], want_sum[v]));
        for (uint64_t v = 0; v < k; ++v) CHECK(SameBits(got_dev[v], want_dev[v]));
        for (uint64_t i = 0; i < x.size(); ++i) CHECK(SameBits(got_x[i], want_x[i]));
      }
    }
  }
}

// Values for the key kernels: every special value, then normal doubles and
// floats widened.
std::vector<double> KeyValues() {
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
  // NaNs, zeros of both signs and infinities here and there, for short runs.
  for (size_t i = 8; i < 200; i += 7) x[i] = std::numeric_limits<double>::quiet_NaN();
  for (size_t i = 10; i < 200; i += 11) x[i] = -0.0;
  for (size_t i = 12; i < 200; i += 13) x[i] = i % 2 ? inf : -inf;
  return x;
}

// Every run of the key kernels: all of x, and n = 0..70 from offsets 0, 1
// and 3 (unaligned) as far as x reaches, into room for exactly n past
// which guard values must survive untouched.
template <class Check>
void ForKeyRuns(const std::vector<double>& x, const Check& check) {
  check(x.data(), x.size());
  for (size_t offset : {0, 1, 3})
    for (size_t n = 0; n <= 70 && offset + n <= x.size(); ++n) check(x.data() + offset, n);
}

TEST_CASE("key matches: each kernel finds the values of the open buckets", "[stats_simd][simd]") {
  const std::vector<double> x = KeyValues();
  const uint32_t kGuard32 = 0xdeadbeef;
  const uint64_t kGuard64 = 0xdeadbeefdeadbeef;
  for (const simd::NamedTable& t : Tables()) {
    for (int shift : {48, 32, 16, 1}) {
      // Prefixes of some values present (and one absent): the buckets of
      // x[5], x[100], x[2000], x[0] (+0.0 and -0.0 share it).
      std::vector<uint64_t> prefix = {OrderedKey(x[100]) >> shift, OrderedKey(x[0]) >> shift,
                                      OrderedKey(x[2000]) >> shift, OrderedKey(x[5]) >> shift,
                                      (OrderedKey(3.0) >> shift) + 1};
      for (size_t np : {size_t{1}, size_t{5}}) {
        ForKeyRuns(x, [&](const double* at, size_t n) {
          std::vector<uint32_t> want, got(n + 8, kGuard32);
          for (size_t i = 0; i < n; ++i) {
            if (at[i] != at[i]) continue;
            for (size_t p = 0; p < np; ++p)
              if ((OrderedKey(at[i]) >> shift) == prefix[p]) {
                want.push_back(static_cast<uint32_t>(i));
                break;
              }
          }
          const uint64_t hits = t.table->key_matches(at, n, shift, prefix.data(), np, got.data());
          INFO(t.name << " shift " << shift << " n " << n << " prefixes " << np);
          for (size_t i = n; i < n + 8; ++i) CHECK(got[i] == kGuard32);
          got.resize(hits);
          CHECK(got == want);
          if (n == x.size()) CHECK(!want.empty());
        });
      }
    }
    for (int shift : {0, 16, 48, 63}) {
      ForKeyRuns(x, [&](const double* at, size_t n) {
        std::vector<uint64_t> want, got(n + 8, kGuard64);
        for (size_t i = 0; i < n; ++i)
          if (at[i] == at[i]) want.push_back(OrderedKey(at[i]) >> shift);
        const uint64_t kept = t.table->key_bits(at, n, shift, got.data());
        INFO(t.name << " key bits, shift " << shift << " n " << n);
        for (size_t i = n; i < n + 8; ++i) CHECK(got[i] == kGuard64);
        got.resize(kept);
        CHECK(got == want);
      });
    }
  }
}

// The histogram's slots: each copy gives the baseline copy's slots, and
// the same answer to whether any needs the exact path, for every length
// and alignment, on and next to the bin edges, for NaN, infinities and
// zeros of both signs (tests/unit/histogram_test.cc checks the slots
// against numpy's bins).
TEST_CASE("bin slots: every copy gives the baseline copy's slots", "[stats_simd][simd]") {
  const std::vector<simd::NamedTable> tables = Tables();
  struct Grid {
    double lo, hi;
    uint32_t bins;
  };
  for (const Grid& gr : {Grid{-5, 5, 100}, Grid{0, 1, 1}, Grid{0, 7, 7}, Grid{-1e-3, 3e-3, 4096}}) {
    simd::BinGrid g;
    g.lo = gr.lo;
    g.hi = gr.hi;
    g.bins = gr.bins;
    g.norm = gr.bins / (gr.hi - gr.lo);
    g.margin = 1e-9;
    std::vector<double> x = {kNaN, -kNaN, kInf, -kInf, 0.0, -0.0, gr.lo, gr.hi};
    std::mt19937_64 gen(gr.bins);
    std::uniform_real_distribution<double> wide(gr.lo - 1, gr.hi + 1);
    for (uint32_t b = 0; b <= gr.bins && x.size() < 600; ++b) {
      const double e = gr.lo + (gr.hi - gr.lo) * b / gr.bins;
      x.push_back(e);
      x.push_back(std::nextafter(e, kInf));
      x.push_back(std::nextafter(e, -kInf));
      x.push_back(wide(gen));
    }
    while (x.size() < 100) x.push_back(wide(gen));
    std::shuffle(x.begin(), x.end(), gen);
    ForKeyRuns(x, [&](const double* at, size_t n) {
      std::vector<uint32_t> want(n + 8, 7), got;
      const bool any_want = tables[0].table->bin_slots(at, n, g, want.data());
      for (size_t t = 1; t < tables.size(); ++t) {
        got.assign(n + 8, 7);
        const bool any = tables[t].table->bin_slots(at, n, g, got.data());
        INFO(tables[t].name << " lo " << gr.lo << " bins " << gr.bins << " n " << n);
        CHECK(any == any_want);
        CHECK(got == want);
      }
    });
  }
}

}  // namespace
}  // namespace mm
