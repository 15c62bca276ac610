// The stats vector kernels, compiled three times: by stats_simd_avx512.cc
// with -mavx512f -mavx512bw -mavx512vl, by stats_simd_avx2.cc with -mavx2
// and by stats_simd_base.cc for baseline x86-64, each defining MM_SIMD_NS
// so the copies live in different namespaces (mm::simd::avx512,
// mm::simd::avx2, mm::simd::base). stats_simd.cc picks one at run time.
//
// Everything here is in that namespace or an unnamed one, and no standard
// library template is instantiated: a weak copy compiled for AVX2 or
// AVX-512 could otherwise be chosen by the linker for the whole program.
//
// No FMA (all three are compiled with -ffp-contract=off): the copies (and
// the scalar templates of stats_kernel.h) round the same way, so results
// are the same bits on any x86-64. The AVX-512 paths (#ifdef __AVX512F__)
// hold the same accumulators as the others, two groups of four doubles in
// one register of eight, and add to each in the same order; kernels
// without such a path are the generic code compiled for the wider ISA.
#ifndef MM_SIMD_NS
#error "define MM_SIMD_NS before including stats_simd_kernels.h"
#endif

// The vector helpers below are internal (always inlined); their ABI is moot.
#pragma GCC diagnostic ignored "-Wpsabi"
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_pd() (a variable
// initialised from itself) as the unused merge operand of the unmasked
// forms, which -Wmaybe-uninitialized reports at every use (clang has no
// such warning).
#if defined(__AVX512F__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "analysis/stats_simd.h"

namespace mm {
namespace simd {
namespace MM_SIMD_NS {
namespace {

#define MM_INLINE __attribute__((always_inline)) inline

typedef double v4d __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

MM_INLINE v4d Load4(const float* p) {
#ifdef __AVX2__
  return reinterpret_cast<v4d>(_mm256_cvtps_pd(_mm_loadu_ps(p)));
#else
  v4f f;
  std::memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, v4d);
#endif
}
MM_INLINE v4d Load4(const double* p) {
  v4d d;
  std::memcpy(&d, p, sizeof d);
  return d;
}
MM_INLINE double Load1(const float* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}
MM_INLINE double Load1(const double* p) {
  double d;
  std::memcpy(&d, p, sizeof d);
  return d;
}

// Eight floats (F8) and eight int32 masks or counters (I8). With AVX2 they
// are 256-bit vectors; the baseline build spells them as two 128-bit
// halves, because GCC 12 lowers 256-bit generic vectors to scalar code on
// SSE2. The operations below are the same in both.
#ifdef __AVX2__
typedef float F8 __attribute__((vector_size(32)));
typedef int I8 __attribute__((vector_size(32)));
#else
typedef int v4si __attribute__((vector_size(16)));
struct F8 {
  v4f h[2];
};
struct I8 {
  v4si h[2];
};
#endif

MM_INLINE F8 Load8(const float* p) {
  F8 f;
  std::memcpy(&f, p, sizeof f);
  return f;
}
MM_INLINE F8 Splat8(float v) {
#ifdef __AVX2__
  return F8{v, v, v, v, v, v, v, v};
#else
  return F8{{{v, v, v, v}, {v, v, v, v}}};
#endif
}
MM_INLINE I8 Zero8() {
#ifdef __AVX2__
  return I8{0, 0, 0, 0, 0, 0, 0, 0};
#else
  return I8{{{0, 0, 0, 0}, {0, 0, 0, 0}}};
#endif
}
// -1 where x is a number, 0 where it is NaN.
MM_INLINE I8 IsNumber(F8 x) {
#ifdef __AVX2__
  return x == x;
#else
  return I8{{x.h[0] == x.h[0], x.h[1] == x.h[1]}};
#endif
}
// x with its NaNs replaced by +0.0.
MM_INLINE F8 Zeroed(F8 x, I8 ok) {
#ifdef __AVX2__
  return reinterpret_cast<F8>(reinterpret_cast<I8>(x) & ok);
#else
  F8 z;
  for (int k = 0; k < 2; ++k)
    z.h[k] = reinterpret_cast<v4f>(reinterpret_cast<v4si>(x.h[k]) & ok.h[k]);
  return z;
#endif
}
// lo < x ? lo : x and its mirror, lane by lane: a NaN x keeps the bound.
MM_INLINE F8 Min8(F8 x, F8 lo) {
#ifdef __AVX2__
  return x < lo ? x : lo;
#else
  for (int k = 0; k < 2; ++k) lo.h[k] = x.h[k] < lo.h[k] ? x.h[k] : lo.h[k];
  return lo;
#endif
}
MM_INLINE F8 Max8(F8 x, F8 hi) {
#ifdef __AVX2__
  return x > hi ? x : hi;
#else
  for (int k = 0; k < 2; ++k) hi.h[k] = x.h[k] > hi.h[k] ? x.h[k] : hi.h[k];
  return hi;
#endif
}
// Counters: c + 1 where the mask is set (CountSet) or clear (CountClear).
MM_INLINE I8 CountSet(I8 c, I8 mask) {
#ifdef __AVX2__
  return c - mask;
#else
  for (int k = 0; k < 2; ++k) c.h[k] -= mask.h[k];
  return c;
#endif
}
MM_INLINE I8 CountClear(I8 c, I8 mask) {
#ifdef __AVX2__
  return c - ~mask;
#else
  for (int k = 0; k < 2; ++k) c.h[k] -= ~mask.h[k];
  return c;
#endif
}
MM_INLINE float Lane(F8 x, int j) {
#ifdef __AVX2__
  return x[j];
#else
  return x.h[j / 4][j % 4];
#endif
}
MM_INLINE int Lane(I8 x, int j) {
#ifdef __AVX2__
  return x[j];
#else
  return x.h[j / 4][j % 4];
#endif
}
// The low and high four floats, widened to double. GCC 12 lowers
// __builtin_convertvector to 128-bit pieces even for AVX2, so the AVX2
// build says vcvtps2pd itself.
MM_INLINE v4d Low(F8 x) {
#ifdef __AVX2__
  return reinterpret_cast<v4d>(
      _mm256_cvtps_pd(_mm256_castps256_ps128(reinterpret_cast<__m256>(x))));
#else
  return __builtin_convertvector(x.h[0], v4d);
#endif
}
MM_INLINE v4d High(F8 x) {
#ifdef __AVX2__
  return reinterpret_cast<v4d>(
      _mm256_cvtps_pd(_mm256_extractf128_ps(reinterpret_cast<__m256>(x), 1)));
#else
  return __builtin_convertvector(x.h[1], v4d);
#endif
}

MM_INLINE uint64_t Min(uint64_t a, uint64_t b) { return a < b ? a : b; }

#ifdef __AVX512F__
// Eight doubles in one register where the other copies hold two groups of
// four (v4d), and the NaN tests in mask registers. The operations are those
// of the generic code, lane by lane: acc + (ok ? x : +0.0) (AddNumbers) is
// the scalar templates' `sum += ok ? x : 0.0` (a merge-masked add, one
// instruction less, would leave a -0.0 accumulator where this makes it
// +0.0; tile columns may start at -0.0), min and max are
// `x < lo ? x : lo` and its mirror (vminpd/vmaxpd with x first).
static_assert(kWays == 16, "the AVX-512 paths hold the ways in two registers of eight");
MM_INLINE __m512d Load8d(const double* p) { return _mm512_loadu_pd(p); }
MM_INLINE __m512d Load8d(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
// The mask of the lanes that are numbers (not NaN).
MM_INLINE __mmask8 Numbers(__m512d x) { return _mm512_cmp_pd_mask(x, x, _CMP_ORD_Q); }
MM_INLINE __mmask16 Numbers(__m512 x) { return _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q); }
MM_INLINE __m512d AddNumbers(__m512d acc, __mmask8 ok, __m512d x) {
  return _mm512_add_pd(acc, _mm512_maskz_mov_pd(ok, x));
}
// Eight floats widened to double; with a mask, a lane whose bit is clear
// widens to +0.0 (Zeroed, then widened). The low and high eight of sixteen
// floats (LowMask, HighMask) are loaded again: a load folds into the
// conversion, an extract from the register would not.
MM_INLINE __m512d Widen(__m256 x) { return _mm512_cvtps_pd(x); }
MM_INLINE __m512d Widen(__m256 x, __mmask8 ok) { return _mm512_maskz_cvtps_pd(ok, x); }
MM_INLINE __mmask8 LowMask(__mmask16 m) { return static_cast<__mmask8>(m); }
MM_INLINE __mmask8 HighMask(__mmask16 m) { return static_cast<__mmask8>(m >> 8); }
MM_INLINE int64_t CountOf(__mmask8 m) { return __builtin_popcount(m); }
MM_INLINE int64_t CountOf(__mmask16 m) { return __builtin_popcount(m); }
// The first min(left, 8) lanes.
MM_INLINE __mmask8 Live(uint64_t left) {
  return left >= 8 ? __mmask8{0xff} : static_cast<__mmask8>((1u << left) - 1);
}
#endif

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
// int32 vector counters hold at most this many additions before they are
// folded into int64 (far more than a block holds; the bound keeps the
// kernels correct for any caller).
constexpr uint64_t kMaxCounterSteps = uint64_t{1} << 30;

// kWays accumulators as kVecs vectors of four: element i goes to
// accumulator i % kWays (what the scalar ReduceRun does).
constexpr int kVecs = kWays / 4;
static_assert(kWays % 8 == 0, "the float kernel reads eight floats at a time");

template <class T, bool kMask>
MM_INLINE RunSums Reduce(const char* bytes, uint64_t n) {
  const T* p = reinterpret_cast<const T*>(bytes);
  double sum[kWays], mn[kWays], mx[kWays];
  int64_t cnt[kWays];
  uint64_t i = 0;
#ifdef __AVX512F__
  // Ways 0-7 and 8-15, a register each.
  __m512d s[2], lo[2], hi[2];
  __m512i c[2];
  const __m512i one = _mm512_set1_epi64(1);
  for (int k = 0; k < 2; ++k) {
    s[k] = _mm512_setzero_pd();
    lo[k] = _mm512_set1_pd(kInf);
    hi[k] = _mm512_set1_pd(-kInf);
    c[k] = _mm512_setzero_si512();
  }
  for (; i + kWays <= n; i += kWays) {
    for (int k = 0; k < 2; ++k) {
      const __m512d x = Load8d(p + i + 8 * k);
      if constexpr (kMask) {
        const __mmask8 ok = Numbers(x);
        s[k] = AddNumbers(s[k], ok, x);
        c[k] = _mm512_mask_add_epi64(c[k], ok, c[k], one);
      } else {
        s[k] = _mm512_add_pd(s[k], x);
      }
      lo[k] = _mm512_min_pd(x, lo[k]);
      hi[k] = _mm512_max_pd(x, hi[k]);
    }
  }
  for (int k = 0; k < 2; ++k) {
    _mm512_storeu_pd(sum + 8 * k, s[k]);
    _mm512_storeu_pd(mn + 8 * k, lo[k]);
    _mm512_storeu_pd(mx + 8 * k, hi[k]);
    if constexpr (kMask) {
      _mm512_storeu_si512(cnt + 8 * k, c[k]);
    } else {
      for (int j = 0; j < 8; ++j) cnt[8 * k + j] = static_cast<int64_t>(i / kWays);
    }
  }
#else
  v4d s[kVecs], lo[kVecs], hi[kVecs];
  v4i c[kVecs];
  for (int k = 0; k < kVecs; ++k) {
    s[k] = v4d{0, 0, 0, 0};
    lo[k] = v4d{kInf, kInf, kInf, kInf};
    hi[k] = -lo[k];
    c[k] = v4i{0, 0, 0, 0};
  }
  for (; i + kWays <= n; i += kWays) {
    for (int k = 0; k < kVecs; ++k) {
      const v4d x = Load4(p + i + 4 * k);
      if constexpr (kMask) {
        const v4i ok = x == x;
        s[k] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(x) & ok);
        c[k] -= ok;
      } else {
        s[k] += x;
        c[k] -= v4i{-1, -1, -1, -1};
      }
      lo[k] = x < lo[k] ? x : lo[k];
      hi[k] = x > hi[k] ? x : hi[k];
    }
  }
  for (int k = 0; k < kVecs; ++k) {
    for (int j = 0; j < 4; ++j)
      sum[4 * k + j] = s[k][j], mn[4 * k + j] = lo[k][j], mx[4 * k + j] = hi[k][j];
    for (int j = 0; j < 4; ++j) cnt[4 * k + j] = c[k][j];
  }
#endif
  for (int j = 0; i < n; ++i, ++j) {
    const double x = Load1(p + i);
    const bool ok = x == x;
    sum[j] += ok ? x : 0.0;
    cnt[j] += ok;
    mn[j] = x < mn[j] ? x : mn[j];
    mx[j] = x > mx[j] ? x : mx[j];
  }
  RunSums r;
  r.sum = CombineWays(sum);
  r.min = kInf;
  r.max = -kInf;
  for (int j = 0; j < kWays; ++j) {
    r.n += cnt[j];
    r.min = mn[j] < r.min ? mn[j] : r.min;
    r.max = mx[j] > r.max ? mx[j] : r.max;
  }
  return r;
}

// What Reduce<float> would compute (the same accumulators, the same
// additions), with NaN tests, zeroing, counts, min and max done on eight
// floats at a time:
// min and max of floats are exact, so widening after them changes nothing,
// and a zeroed NaN widens to the +0.0 the double version adds.
//
// kMask false is the optimistic version for runs without NaN: it adds
// every value and counts all n. A NaN makes its sum NaN, and the caller
// then runs the masked version (ReduceChecked), so both give the same bits.
template <bool kMask>
MM_INLINE RunSums ReduceFloat(const char* bytes, uint64_t n) {
  const float* p = reinterpret_cast<const float*>(bytes);
  double sum[kWays], mn[kWays], mx[kWays];
  int64_t count = 0;
  uint64_t i = 0;
#ifdef __AVX512F__
  // Ways 0-7 and 8-15 of the sums, all sixteen of min and max (float).
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  __m512 lo = _mm512_set1_ps(kInfF), hi = _mm512_set1_ps(-kInfF);
  for (; i + kWays <= n; i += kWays) {
    const __m512 x = _mm512_loadu_ps(p + i);
    if constexpr (kMask) {
      const __mmask16 ok = Numbers(x);
      s0 = _mm512_add_pd(s0, Widen(_mm256_loadu_ps(p + i), LowMask(ok)));
      s1 = _mm512_add_pd(s1, Widen(_mm256_loadu_ps(p + i + 8), HighMask(ok)));
      count += CountOf(ok);
    } else {
      s0 = _mm512_add_pd(s0, Widen(_mm256_loadu_ps(p + i)));
      s1 = _mm512_add_pd(s1, Widen(_mm256_loadu_ps(p + i + 8)));
    }
    lo = _mm512_min_ps(x, lo);
    hi = _mm512_max_ps(x, hi);
  }
  if constexpr (!kMask) count = static_cast<int64_t>(i);
  _mm512_storeu_pd(sum, s0);
  _mm512_storeu_pd(sum + 8, s1);
  float lo_f[kWays], hi_f[kWays];
  _mm512_storeu_ps(lo_f, lo);
  _mm512_storeu_ps(hi_f, hi);
  for (int j = 0; j < kWays; ++j) mn[j] = lo_f[j], mx[j] = hi_f[j];
#else
  constexpr int kF8 = kWays / 8;
  v4d s[kVecs];
  F8 lo[kF8], hi[kF8];
  for (int k = 0; k < kVecs; ++k) s[k] = v4d{0, 0, 0, 0};
  for (int k = 0; k < kF8; ++k) lo[k] = Splat8(kInfF), hi[k] = Splat8(-kInfF);
  while (i + kWays <= n) {
    const uint64_t stop = i + Min((n - i) / kWays, kMaxCounterSteps) * kWays;
    I8 c = Zero8();
    for (; i < stop; i += kWays) {
      for (int k = 0; k < kF8; ++k) {
        const F8 x = Load8(p + i + 8 * k);
        if constexpr (kMask) {
          const I8 ok = IsNumber(x);
          const F8 z = Zeroed(x, ok);
          s[2 * k] += Low(z);
          s[2 * k + 1] += High(z);
          c = CountSet(c, ok);
        } else {
          s[2 * k] += Low(x);
          s[2 * k + 1] += High(x);
        }
        lo[k] = Min8(x, lo[k]);
        hi[k] = Max8(x, hi[k]);
      }
    }
    if constexpr (kMask) {
      for (int j = 0; j < 8; ++j) count += Lane(c, j);
    } else {
      count = static_cast<int64_t>(i);
    }
  }
  for (int k = 0; k < kVecs; ++k) {
    for (int j = 0; j < 4; ++j) sum[4 * k + j] = s[k][j];
  }
  for (int k = 0; k < kF8; ++k) {
    for (int j = 0; j < 8; ++j) mn[8 * k + j] = Lane(lo[k], j), mx[8 * k + j] = Lane(hi[k], j);
  }
#endif
  for (int j = 0; i < n; ++i, ++j) {
    const double x = Load1(p + i);
    const bool ok = x == x;
    sum[j] += ok ? x : 0.0;
    count += ok;
    mn[j] = x < mn[j] ? x : mn[j];
    mx[j] = x > mx[j] ? x : mx[j];
  }
  RunSums r;
  r.n = count;
  r.sum = CombineWays(sum);
  r.min = kInf;
  r.max = -kInf;
  for (int j = 0; j < kWays; ++j) {
    r.min = mn[j] < r.min ? mn[j] : r.min;
    r.max = mx[j] > r.max ? mx[j] : r.max;
  }
  return r;
}

// ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)).
MM_INLINE double Pairwise8(const double* a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// Count, min and max as ReduceFloat, with t = sum of (x - shift) and
// q = sum of (x - shift)^2 over the non-NaN values, in one read: the
// one-read pieces of stats_kernel::SweepBlock. The sum is n * shift + t: as
// accurate as adding the values (t's terms are small), and one vector add
// per four values cheaper. Eight accumulators each for t, q, min and max
// (more would not fit the sixteen AVX2 registers).
template <bool kMask>
MM_INLINE FusedSums FusedFloat(const char* bytes, uint64_t n, double shift) {
  const float* p = reinterpret_cast<const float*>(bytes);
  double sd[8], sq[8], mn[8], mx[8];
  uint64_t i = 0;
#ifdef __AVX512F__
  // The eight accumulators of t and of q in one register each; sixteen
  // floats a turn, the first eight added before the next eight, as below.
  const __m512d k = _mm512_set1_pd(shift);
  __m512d t = _mm512_setzero_pd(), q = _mm512_setzero_pd();
  __m256 lo = _mm256_set1_ps(kInfF), hi = _mm256_set1_ps(-kInfF);
  int64_t count = 0;
  const auto step = [&](const float* at) __attribute__((always_inline)) {
    const __m256 x = _mm256_loadu_ps(at);
    const __m512d d = _mm512_sub_pd(Widen(x), k);
    if constexpr (kMask) {
      const __mmask8 ok = Numbers(d);
      t = AddNumbers(t, ok, d);
      q = AddNumbers(q, ok, _mm512_mul_pd(d, d));
      count += CountOf(ok);
    } else {
      t = _mm512_add_pd(t, d);
      q = _mm512_add_pd(q, _mm512_mul_pd(d, d));
    }
    lo = _mm256_min_ps(x, lo);
    hi = _mm256_max_ps(x, hi);
  };
  for (; i + 16 <= n; i += 16) step(p + i), step(p + i + 8);
  for (; i + 8 <= n; i += 8) step(p + i);
  if constexpr (!kMask) count = static_cast<int64_t>(i);
  _mm512_storeu_pd(sd, t);
  _mm512_storeu_pd(sq, q);
  float lo_f[8], hi_f[8];
  _mm256_storeu_ps(lo_f, lo);
  _mm256_storeu_ps(hi_f, hi);
  for (int j = 0; j < 8; ++j) mn[j] = lo_f[j], mx[j] = hi_f[j];
#else
  const v4d k = {shift, shift, shift, shift};
  v4d t[2], q[2];
  v4i c[2];
  F8 lo = Splat8(kInfF), hi = Splat8(-kInfF);
  for (int h = 0; h < 2; ++h) t[h] = q[h] = v4d{0, 0, 0, 0}, c[h] = v4i{0, 0, 0, 0};
  for (; i + 8 <= n; i += 8) {
    const F8 x = Load8(p + i);
    const v4d xs[2] = {Low(x), High(x)};
    for (int h = 0; h < 2; ++h) {
      const v4d d = xs[h] - k;
      if constexpr (kMask) {
        const v4i ok = d == d;
        t[h] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d) & ok);
        q[h] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d * d) & ok);
        c[h] -= ok;
      } else {
        t[h] += d;
        q[h] += d * d;
      }
    }
    lo = Min8(x, lo);
    hi = Max8(x, hi);
  }
  int64_t count = kMask ? 0 : static_cast<int64_t>(i);
  for (int h = 0; h < 2; ++h) {
    for (int j = 0; j < 4; ++j) {
      sd[4 * h + j] = t[h][j];
      sq[4 * h + j] = q[h][j];
      if constexpr (kMask) count += c[h][j];
    }
  }
  for (int j = 0; j < 8; ++j) mn[j] = Lane(lo, j), mx[j] = Lane(hi, j);
#endif
  for (int j = 0; i < n; ++i, ++j) {
    const double x = Load1(p + i), d = x - shift;
    const bool ok = d == d;
    sd[j] += ok ? d : 0.0;
    sq[j] += ok ? d * d : 0.0;
    count += ok;
    mn[j] = x < mn[j] ? x : mn[j];
    mx[j] = x > mx[j] ? x : mx[j];
  }
  FusedSums r;
  r.n = count;
  r.t = Pairwise8(sd);
  r.q = Pairwise8(sq);
  r.sum = static_cast<double>(count) * shift + r.t;
  r.min = kInf;
  r.max = -kInf;
  for (int j = 0; j < 8; ++j) {
    r.min = mn[j] < r.min ? mn[j] : r.min;
    r.max = mx[j] > r.max ? mx[j] : r.max;
  }
  return r;
}

// The optimistic kernel first; the masked one when the run held a NaN
// (or +inf and -inf, whose sum is NaN too).
template <class Fast, class Masked>
MM_INLINE RunSums ReduceChecked(const char* p, uint64_t n, Fast fast, Masked masked) {
  const RunSums r = fast(p, n);
  return r.sum == r.sum ? r : masked(p, n);
}
MM_INLINE FusedSums FusedFloatChecked(const char* p, uint64_t n, double shift) {
  const FusedSums r = FusedFloat<false>(p, n, shift);
  return r.t == r.t ? r : FusedFloat<true>(p, n, shift);
}

// kMask: skip NaNs. A run known to hold none skips the test; adding a
// masked value and adding it unmasked are the same when it is not NaN.
// kT: also t = the sum of the deviations x - mean (the float64 kernels:
// t / n refines a mean that came from a sum of large values), kept in
// accumulators beside m2's, way for way.
template <class T, bool kMask, bool kT>
MM_INLINE DevSums Deviation(const char* bytes, uint64_t n, double mean) {
  const T* p = reinterpret_cast<const T*>(bytes);
  double m2[kWays], sd[kWays];
  uint64_t i = 0;
#ifdef __AVX512F__
  const __m512d m = _mm512_set1_pd(mean);
  __m512d a[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};  // ways 0-7, 8-15
  __m512d b[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  for (; i + kWays <= n; i += kWays) {
    for (int k = 0; k < 2; ++k) {
      const __m512d d = _mm512_sub_pd(Load8d(p + i + 8 * k), m);
      const __m512d q = _mm512_mul_pd(d, d);
      if constexpr (kMask) {
        const __mmask8 ok = Numbers(d);
        a[k] = AddNumbers(a[k], ok, q);
        if constexpr (kT) b[k] = AddNumbers(b[k], ok, d);
      } else {
        a[k] = _mm512_add_pd(a[k], q);
        if constexpr (kT) b[k] = _mm512_add_pd(b[k], d);
      }
    }
  }
  _mm512_storeu_pd(m2, a[0]);
  _mm512_storeu_pd(m2 + 8, a[1]);
  _mm512_storeu_pd(sd, b[0]);
  _mm512_storeu_pd(sd + 8, b[1]);
#else
  const v4d m = {mean, mean, mean, mean};
  v4d a[kVecs], b[kVecs];
  for (int k = 0; k < kVecs; ++k) a[k] = b[k] = v4d{0, 0, 0, 0};
  for (; i + kWays <= n; i += kWays) {
    for (int k = 0; k < kVecs; k += 2) {
      v4d x0, x1;
      if constexpr (sizeof(T) == 4) {
        const F8 x = Load8(reinterpret_cast<const float*>(p) + i + 4 * k);
        x0 = Low(x), x1 = High(x);
      } else {
        x0 = Load4(p + i + 4 * k), x1 = Load4(p + i + 4 * k + 4);
      }
      const v4d d0 = x0 - m, d1 = x1 - m;
      const v4d q0 = d0 * d0, q1 = d1 * d1;
      if constexpr (kMask) {
        const v4i ok0 = d0 == d0, ok1 = d1 == d1;
        a[k] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(q0) & ok0);
        a[k + 1] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(q1) & ok1);
        if constexpr (kT) {
          b[k] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d0) & ok0);
          b[k + 1] += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d1) & ok1);
        }
      } else {
        a[k] += q0;
        a[k + 1] += q1;
        if constexpr (kT) {
          b[k] += d0;
          b[k + 1] += d1;
        }
      }
    }
  }
  for (int k = 0; k < kVecs; ++k) {
    for (int j = 0; j < 4; ++j) m2[4 * k + j] = a[k][j], sd[4 * k + j] = b[k][j];
  }
#endif
  for (int j = 0; i < n; ++i, ++j) {
    const double d = Load1(p + i) - mean;
    const bool ok = d == d;
    m2[j] += ok ? d * d : 0.0;
    sd[j] += ok ? d : 0.0;
  }
  DevSums r;
  r.m2 = CombineWays(m2);
  if constexpr (kT) r.t = CombineWays(sd);
  return r;
}

// A tile is swept in bands of kBandRows rows: within a band, four lanes
// at a time keep their running sums in registers down the band's rows
// (those rows' cache lines stay in L1 while the next lanes use them), and
// store them once. Each lane's sequence of operations is the same as row
// by row over all lanes, so the results are too.
constexpr uint64_t kBandRows = 64;

// kMinMax false: sums and counts only (mn and mx untouched, may be null);
// the sums are the same bits either way.
template <class T, bool kMinMax = true>
MM_INLINE void Tile(const char* bytes, uint64_t rows, uint64_t len, double* sum, int64_t* cnt,
                    int64_t* nan, double* mn, double* mx) {
  const T* base = reinterpret_cast<const T*>(bytes);
  for (uint64_t r0 = 0; r0 < rows; r0 += kBandRows) {
    const uint64_t r1 = Min(rows, r0 + kBandRows);
    uint64_t i = 0;
#ifdef __AVX512F__
    const __m512i one = _mm512_set1_epi64(1);
    for (; i + 8 <= len; i += 8) {  // eight lanes at a time
      __m512d s = _mm512_loadu_pd(sum + i), lo, hi;
      __m512i c = _mm512_loadu_si512(cnt + i), q = _mm512_loadu_si512(nan + i);
      if constexpr (kMinMax) lo = _mm512_loadu_pd(mn + i), hi = _mm512_loadu_pd(mx + i);
      const T* p = base + r0 * len + i;
      for (uint64_t r = r0; r < r1; ++r, p += len) {
        const __m512d x = Load8d(p);
        const __mmask8 ok = Numbers(x);
        s = AddNumbers(s, ok, x);
        c = _mm512_mask_add_epi64(c, ok, c, one);
        q = _mm512_mask_add_epi64(q, static_cast<__mmask8>(~ok), q, one);
        if constexpr (kMinMax) {
          lo = _mm512_min_pd(x, lo);
          hi = _mm512_max_pd(x, hi);
        }
      }
      _mm512_storeu_pd(sum + i, s);
      if constexpr (kMinMax) {
        _mm512_storeu_pd(mn + i, lo);
        _mm512_storeu_pd(mx + i, hi);
      }
      _mm512_storeu_si512(cnt + i, c);
      _mm512_storeu_si512(nan + i, q);
    }
#endif
    for (; i + 4 <= len; i += 4) {  // four lanes at a time
      v4d s, lo, hi;
      v4i c, q;
      std::memcpy(&s, sum + i, sizeof s);
      if constexpr (kMinMax) {
        std::memcpy(&lo, mn + i, sizeof lo);
        std::memcpy(&hi, mx + i, sizeof hi);
      }
      std::memcpy(&c, cnt + i, sizeof c);
      std::memcpy(&q, nan + i, sizeof q);
      const T* p = base + r0 * len + i;
      for (uint64_t r = r0; r < r1; ++r, p += len) {
        const v4d x = Load4(p);
        const v4i ok = x == x;
        s += reinterpret_cast<v4d>(reinterpret_cast<v4i>(x) & ok);
        c -= ok;
        q -= ~ok;
        if constexpr (kMinMax) {
          lo = x < lo ? x : lo;
          hi = x > hi ? x : hi;
        }
      }
      std::memcpy(sum + i, &s, sizeof s);
      if constexpr (kMinMax) {
        std::memcpy(mn + i, &lo, sizeof lo);
        std::memcpy(mx + i, &hi, sizeof hi);
      }
      std::memcpy(cnt + i, &c, sizeof c);
      std::memcpy(nan + i, &q, sizeof q);
    }
    for (; i < len; ++i) {
      const T* p = base + r0 * len + i;
      for (uint64_t r = r0; r < r1; ++r, p += len) {
        const double x = Load1(p);
        const bool ok = x == x;
        sum[i] += ok ? x : 0.0;
        cnt[i] += ok;
        nan[i] += !ok;
        if constexpr (kMinMax) {
          mn[i] = x < mn[i] ? x : mn[i];
          mx[i] = x > mx[i] ? x : mx[i];
        }
      }
    }
  }
}

// kT: also t[i] += x - mean[i] (the float64 kernels, as Deviation).
template <class T, bool kT = false>
MM_INLINE void TileDev(const char* bytes, uint64_t rows, uint64_t len, const double* mean,
                       double* m2, double* t = nullptr) {
  const T* base = reinterpret_cast<const T*>(bytes);
  for (uint64_t r0 = 0; r0 < rows; r0 += kBandRows) {
    const uint64_t r1 = Min(rows, r0 + kBandRows);
    uint64_t i = 0;
#ifdef __AVX512F__
    for (; i + 8 <= len; i += 8) {
      const __m512d m = _mm512_loadu_pd(mean + i);
      __m512d a = _mm512_loadu_pd(m2 + i), b;
      if constexpr (kT) b = _mm512_loadu_pd(t + i);
      const T* p = base + r0 * len + i;
      for (uint64_t r = r0; r < r1; ++r, p += len) {
        const __m512d d = _mm512_sub_pd(Load8d(p), m);
        const __mmask8 ok = Numbers(d);
        a = AddNumbers(a, ok, _mm512_mul_pd(d, d));
        if constexpr (kT) b = AddNumbers(b, ok, d);
      }
      _mm512_storeu_pd(m2 + i, a);
      if constexpr (kT) _mm512_storeu_pd(t + i, b);
    }
#endif
    for (; i + 4 <= len; i += 4) {
      v4d m, a, b;
      std::memcpy(&m, mean + i, sizeof m);
      std::memcpy(&a, m2 + i, sizeof a);
      if constexpr (kT) std::memcpy(&b, t + i, sizeof b);
      const T* p = base + r0 * len + i;
      for (uint64_t r = r0; r < r1; ++r, p += len) {
        const v4d d = Load4(p) - m;
        const v4i ok = d == d;
        a += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d * d) & ok);
        if constexpr (kT) b += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d) & ok);
      }
      std::memcpy(m2 + i, &a, sizeof a);
      if constexpr (kT) std::memcpy(t + i, &b, sizeof b);
    }
    for (; i < len; ++i) {
      const T* p = base + r0 * len + i;
      for (uint64_t r = r0; r < r1; ++r, p += len) {
        const double d = Load1(p) - mean[i];
        const bool ok = d == d;
        m2[i] += ok ? d * d : 0.0;
        if constexpr (kT) t[i] += ok ? d : 0.0;
      }
    }
  }
}

// Short rows whose length is not a multiple of 4 (e.g. 10 columns): G rows
// at a time form W = G * len "virtual lanes", a multiple of 4, so every
// vector is full; virtual lane v + k*len folds into lane v at the end of
// the tile, in a fixed order (k ascending). Leftover rows go through Tile.
constexpr uint64_t kMaxVirtualLanes = 1024;

inline uint64_t GroupRows(uint64_t len) { return len % 4 == 0 ? 1 : (len % 2 == 0 ? 2 : 4); }

template <class T>
MM_INLINE void TileGrouped(const char* bytes, uint64_t rows, uint64_t len, double* sum,
                           int64_t* cnt, int64_t* nan, double* mn, double* mx) {
  const uint64_t g = GroupRows(len), w = g * len;
  if (g == 1 || w > kMaxVirtualLanes || rows < 2 * g)
    return Tile<T>(bytes, rows, len, sum, cnt, nan, mn, mx);
  double vs[kMaxVirtualLanes], vlo[kMaxVirtualLanes], vhi[kMaxVirtualLanes];
  int64_t vc[kMaxVirtualLanes], vn[kMaxVirtualLanes];
  for (uint64_t v = 0; v < w; ++v) vs[v] = 0, vlo[v] = kInf, vhi[v] = -kInf, vc[v] = 0, vn[v] = 0;
  const uint64_t groups = rows / g;
  Tile<T>(bytes, groups, w, vs, vc, vn, vlo, vhi);
  for (uint64_t i = 0; i < len; ++i) {
    double s = vs[i], lo = vlo[i], hi = vhi[i];
    int64_t c = vc[i], n = vn[i];
    for (uint64_t k = 1; k < g; ++k) {
      const uint64_t v = i + k * len;
      s += vs[v];
      lo = vlo[v] < lo ? vlo[v] : lo;
      hi = vhi[v] > hi ? vhi[v] : hi;
      c += vc[v];
      n += vn[v];
    }
    sum[i] += s;
    mn[i] = lo < mn[i] ? lo : mn[i];
    mx[i] = hi > mx[i] ? hi : mx[i];
    cnt[i] += c;
    nan[i] += n;
  }
  Tile<T>(bytes + groups * w * sizeof(T), rows - groups * g, len, sum, cnt, nan, mn, mx);
}

// TileDev<T, true> over virtual lanes as TileGrouped (float64 rows).
template <class T>
MM_INLINE void TileDevGrouped(const char* bytes, uint64_t rows, uint64_t len, const double* mean,
                              double* m2, double* t) {
  const uint64_t g = GroupRows(len), w = g * len;
  if (g == 1 || w > kMaxVirtualLanes || rows < 2 * g)
    return TileDev<T, true>(bytes, rows, len, mean, m2, t);
  double vmean[kMaxVirtualLanes], vm2[kMaxVirtualLanes], vt[kMaxVirtualLanes];
  for (uint64_t v = 0; v < w; ++v) vm2[v] = 0, vt[v] = 0;
  for (uint64_t k = 0; k < w; k += len) std::memcpy(vmean + k, mean, len * sizeof(double));
  const uint64_t groups = rows / g;
  TileDev<T, true>(bytes, groups, w, vmean, vm2, vt);
  for (uint64_t i = 0; i < len; ++i) {
    double a = vm2[i], b = vt[i];
    for (uint64_t k = 1; k < g; ++k) a += vm2[i + k * len], b += vt[i + k * len];
    m2[i] += a;
    t[i] += b;
  }
  TileDev<T, true>(bytes + groups * w * sizeof(T), rows - groups * g, len, mean, m2, t);
}

// Float32 short rows, eight floats at a time: G rows form W = G * len
// virtual lanes, a multiple of eight (G = 8 / gcd(len, 8)). Sums are kept
// in double, NaN counts in int32, min and max in float (exact); the fold
// into real lanes is in a fixed order, as in TileGrouped.
inline uint64_t GroupRows8(uint64_t len) {
  return len % 8 == 0 ? 1 : (len % 4 == 0 ? 2 : (len % 2 == 0 ? 4 : 8));
}

// The virtual-lane accumulators of TileFloatChunk.
struct VirtualLanes {
  double s[kMaxVirtualLanes], t[kMaxVirtualLanes], q[kMaxVirtualLanes], shift[kMaxVirtualLanes];
  float lo[kMaxVirtualLanes], hi[kMaxVirtualLanes];
  int nan[kMaxVirtualLanes];

  void Reset(uint64_t w, bool fused) {
    for (uint64_t v = 0; v < w; ++v) s[v] = 0, lo[v] = kInfF, hi[v] = -kInfF, nan[v] = 0;
    if (fused)
      for (uint64_t v = 0; v < w; ++v) t[v] = 0, q[v] = 0;
  }
  // Whether a sum (t when fused, else s) came out NaN.
  bool AnySumNaN(uint64_t w, bool fused) const {
    const double* a = fused ? t : s;
    bool any = false;
    for (uint64_t v = 0; v < w; ++v) any |= a[v] != a[v];
    return any;
  }
};

// kRows rows of w floats (p at the first) into the virtual lanes: each
// accumulator is loaded and stored once per kRows values, and each virtual
// lane still adds its values in row order.
template <bool kFused, bool kMask, uint64_t kRows>
MM_INLINE void VisitRows(const float* p, uint64_t w, VirtualLanes* vl) {
  double* vs = vl->s;
  double* vt = vl->t;
  double* vq = vl->q;
  const double* vshift = vl->shift;
  float* vlo = vl->lo;
  float* vhi = vl->hi;
  int* vn = vl->nan;
  // Only the accumulators this version changes are loaded and stored:
  // the sums when not fused, the NaN counts when masked.
  constexpr bool kSums = !kFused;
  uint64_t i = 0;
#ifdef __AVX512F__
  // Sixteen virtual lanes a turn: the eight-lane groups below, two by two.
  const __m512i one = _mm512_set1_epi32(1);
  for (; i + 16 <= w; i += 16) {
    __m512d s0, s1, k0, k1, a0, a1, b0, b1;
    __m512 lo = _mm512_loadu_ps(vlo + i), hi = _mm512_loadu_ps(vhi + i);
    __m512i q;
    if constexpr (kSums) s0 = _mm512_loadu_pd(vs + i), s1 = _mm512_loadu_pd(vs + i + 8);
    if constexpr (kMask) q = _mm512_loadu_si512(vn + i);
    if constexpr (kFused) {
      k0 = _mm512_loadu_pd(vshift + i), k1 = _mm512_loadu_pd(vshift + i + 8);
      a0 = _mm512_loadu_pd(vq + i), a1 = _mm512_loadu_pd(vq + i + 8);
      b0 = _mm512_loadu_pd(vt + i), b1 = _mm512_loadu_pd(vt + i + 8);
    }
    for (uint64_t k = 0; k < kRows; ++k) {
      const float* at = p + k * w + i;
      const __m512 x = _mm512_loadu_ps(at);
      const __m512d x0 = Widen(_mm256_loadu_ps(at)), x1 = Widen(_mm256_loadu_ps(at + 8));
      if constexpr (kMask) {
        const __mmask16 ok = Numbers(x);
        q = _mm512_mask_add_epi32(q, static_cast<__mmask16>(~ok), q, one);
        if constexpr (!kFused) {  // fused: the sum comes from t
          s0 = _mm512_add_pd(s0, Widen(_mm256_loadu_ps(at), LowMask(ok)));
          s1 = _mm512_add_pd(s1, Widen(_mm256_loadu_ps(at + 8), HighMask(ok)));
        }
      } else if constexpr (!kFused) {
        s0 = _mm512_add_pd(s0, x0);
        s1 = _mm512_add_pd(s1, x1);
      }
      lo = _mm512_min_ps(x, lo);
      hi = _mm512_max_ps(x, hi);
      if constexpr (kFused) {
        const __m512d d0 = _mm512_sub_pd(x0, k0), d1 = _mm512_sub_pd(x1, k1);
        if constexpr (kMask) {
          const __mmask8 ok0 = Numbers(d0), ok1 = Numbers(d1);
          a0 = AddNumbers(a0, ok0, _mm512_mul_pd(d0, d0));
          a1 = AddNumbers(a1, ok1, _mm512_mul_pd(d1, d1));
          b0 = AddNumbers(b0, ok0, d0);
          b1 = AddNumbers(b1, ok1, d1);
        } else {
          a0 = _mm512_add_pd(a0, _mm512_mul_pd(d0, d0));
          a1 = _mm512_add_pd(a1, _mm512_mul_pd(d1, d1));
          b0 = _mm512_add_pd(b0, d0);
          b1 = _mm512_add_pd(b1, d1);
        }
      }
    }
    if constexpr (kSums) _mm512_storeu_pd(vs + i, s0), _mm512_storeu_pd(vs + i + 8, s1);
    _mm512_storeu_ps(vlo + i, lo);
    _mm512_storeu_ps(vhi + i, hi);
    if constexpr (kMask) _mm512_storeu_si512(vn + i, q);
    if constexpr (kFused) {
      _mm512_storeu_pd(vq + i, a0), _mm512_storeu_pd(vq + i + 8, a1);
      _mm512_storeu_pd(vt + i, b0), _mm512_storeu_pd(vt + i + 8, b1);
    }
  }
  // The last eight virtual lanes when w is an odd multiple of eight (a row
  // of 10 floats: w = 40): one register of eight doubles, not the two
  // halves of the loop below (12 instructions per eight values there, 7
  // here; same operations and order, so the same bits).
  if (i + 8 <= w) {
    const __m256i one8 = _mm256_set1_epi32(1);
    __m512d s0, k0, a0, b0;
    __m256 lo = _mm256_loadu_ps(vlo + i), hi = _mm256_loadu_ps(vhi + i);
    __m256i q;
    if constexpr (kSums) s0 = _mm512_loadu_pd(vs + i);
    if constexpr (kMask) q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vn + i));
    if constexpr (kFused) {
      k0 = _mm512_loadu_pd(vshift + i);
      a0 = _mm512_loadu_pd(vq + i);
      b0 = _mm512_loadu_pd(vt + i);
    }
    for (uint64_t k = 0; k < kRows; ++k) {
      const __m256 x = _mm256_loadu_ps(p + k * w + i);
      const __m512d x0 = Widen(x);
      if constexpr (kMask) {
        const __mmask8 ok = _mm256_cmp_ps_mask(x, x, _CMP_ORD_Q);
        q = _mm256_mask_add_epi32(q, static_cast<__mmask8>(~ok), q, one8);
        if constexpr (!kFused) s0 = _mm512_add_pd(s0, Widen(x, ok));
      } else if constexpr (!kFused) {
        s0 = _mm512_add_pd(s0, x0);
      }
      lo = _mm256_min_ps(x, lo);
      hi = _mm256_max_ps(x, hi);
      if constexpr (kFused) {
        const __m512d d0 = _mm512_sub_pd(x0, k0);
        if constexpr (kMask) {
          const __mmask8 ok0 = Numbers(d0);
          a0 = AddNumbers(a0, ok0, _mm512_mul_pd(d0, d0));
          b0 = AddNumbers(b0, ok0, d0);
        } else {
          a0 = _mm512_add_pd(a0, _mm512_mul_pd(d0, d0));
          b0 = _mm512_add_pd(b0, d0);
        }
      }
    }
    if constexpr (kSums) _mm512_storeu_pd(vs + i, s0);
    _mm256_storeu_ps(vlo + i, lo);
    _mm256_storeu_ps(vhi + i, hi);
    if constexpr (kMask) _mm256_storeu_si256(reinterpret_cast<__m256i*>(vn + i), q);
    if constexpr (kFused) {
      _mm512_storeu_pd(vq + i, a0);
      _mm512_storeu_pd(vt + i, b0);
    }
    i += 8;
  }
#endif
  for (; i < w; i += 8) {
    v4d s0, s1, k0, k1, a0, a1, b0, b1;
    F8 lo, hi;
    I8 q;
    if constexpr (kSums) {
      std::memcpy(&s0, vs + i, sizeof s0);
      std::memcpy(&s1, vs + i + 4, sizeof s1);
    }
    std::memcpy(&lo, vlo + i, sizeof lo);
    std::memcpy(&hi, vhi + i, sizeof hi);
    if constexpr (kMask) std::memcpy(&q, vn + i, sizeof q);
    if constexpr (kFused) {
      std::memcpy(&k0, vshift + i, sizeof k0);
      std::memcpy(&k1, vshift + i + 4, sizeof k1);
      std::memcpy(&a0, vq + i, sizeof a0);
      std::memcpy(&a1, vq + i + 4, sizeof a1);
      std::memcpy(&b0, vt + i, sizeof b0);
      std::memcpy(&b1, vt + i + 4, sizeof b1);
    }
    for (uint64_t k = 0; k < kRows; ++k) {
      const F8 x = Load8(p + k * w + i);
      const v4d x0 = Low(x), x1 = High(x);
      if constexpr (kMask) {
        const I8 ok = IsNumber(x);
        q = CountClear(q, ok);
        if constexpr (!kFused) {  // fused: the sum comes from t
          const F8 z = Zeroed(x, ok);
          s0 += Low(z);
          s1 += High(z);
        }
      } else if constexpr (!kFused) {
        s0 += x0;
        s1 += x1;
      }
      lo = Min8(x, lo);
      hi = Max8(x, hi);
      if constexpr (kFused) {
        const v4d d0 = x0 - k0, d1 = x1 - k1;
        if constexpr (kMask) {
          const v4i ok0 = d0 == d0, ok1 = d1 == d1;
          a0 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d0 * d0) & ok0);
          a1 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d1 * d1) & ok1);
          b0 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d0) & ok0);
          b1 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d1) & ok1);
        } else {
          a0 += d0 * d0;
          a1 += d1 * d1;
          b0 += d0;
          b1 += d1;
        }
      }
    }
    if constexpr (kSums) {
      std::memcpy(vs + i, &s0, sizeof s0);
      std::memcpy(vs + i + 4, &s1, sizeof s1);
    }
    std::memcpy(vlo + i, &lo, sizeof lo);
    std::memcpy(vhi + i, &hi, sizeof hi);
    if constexpr (kMask) std::memcpy(vn + i, &q, sizeof q);
    if constexpr (kFused) {
      std::memcpy(vq + i, &a0, sizeof a0);
      std::memcpy(vq + i + 4, &a1, sizeof a1);
      std::memcpy(vt + i, &b0, sizeof b0);
      std::memcpy(vt + i + 4, &b1, sizeof b1);
    }
  }
}

// Adds `groups` rows of w floats into the virtual lanes. kMask false is the
// optimistic version for NaN-free data: it adds every value, and a NaN
// shows as a NaN sum (TileFloatChunk then starts over with kMask true;
// without NaN both add the same values in the same order). Eight rows a
// visit: the fused AVX-512 tile of 10 columns counts 1.20 instructions per
// value against 1.38 with four (sixteen: 1.20 again, and AVX2 spills).
template <bool kFused, bool kMask>
MM_INLINE void AccumulateRows(const float* p, uint64_t groups, uint64_t w, VirtualLanes* vl) {
  uint64_t r = 0;
  for (; r + 8 <= groups; r += 8, p += 8 * w) VisitRows<kFused, kMask, 8>(p, w, vl);
  for (; r < groups; ++r, p += w) VisitRows<kFused, kMask, 1>(p, w, vl);
}

// At most kMaxCounterSteps groups of g rows of `len` floats. kFused also
// sums t[i] += x - shift[i] and q[i] += (x - shift[i])^2 over the non-NaN
// values (the one-read pieces of stats_kernel::SweepBlock).
template <bool kFused>
MM_INLINE void TileFloatChunk(const float* p, uint64_t groups, uint64_t g, uint64_t len,
                              double* sum, int64_t* cnt, int64_t* nan, double* mn, double* mx,
                              const double* shift, double* tout, double* qout) {
  const uint64_t w = g * len;
  VirtualLanes lanes;
  VirtualLanes* vl = &lanes;
  if constexpr (kFused) {
    for (uint64_t k = 0; k < w; k += len) std::memcpy(vl->shift + k, shift, len * sizeof(double));
  }
  vl->Reset(w, kFused);
  AccumulateRows<kFused, false>(p, groups, w, vl);
  if (vl->AnySumNaN(w, kFused)) {
    vl->Reset(w, kFused);
    AccumulateRows<kFused, true>(p, groups, w, vl);
  }
  const double* vs = vl->s;
  const double* vt = vl->t;
  const double* vq = vl->q;
  const float* vlo = vl->lo;
  const float* vhi = vl->hi;
  const int* vn = vl->nan;
  for (uint64_t i = 0; i < len; ++i) {
    double s = vs[i];
    float lo = vlo[i], hi = vhi[i];
    int64_t n = vn[i];
    for (uint64_t k = 1; k < g; ++k) {
      const uint64_t v = i + k * len;
      s += vs[v];
      lo = vlo[v] < lo ? vlo[v] : lo;
      hi = vhi[v] > hi ? vhi[v] : hi;
      n += vn[v];
    }
    mn[i] = lo < mn[i] ? lo : mn[i];
    mx[i] = hi > mx[i] ? hi : mx[i];
    const int64_t numbers = static_cast<int64_t>(groups * g) - n;
    cnt[i] += numbers;
    nan[i] += n;
    if constexpr (kFused) {
      // The lane's sum is numbers * shift + t (see FusedFloat).
      double a = vq[i], b = vt[i];
      for (uint64_t k = 1; k < g; ++k) a += vq[i + k * len], b += vt[i + k * len];
      qout[i] += a;
      tout[i] += b;
      sum[i] += static_cast<double>(numbers) * shift[i] + b;
    } else {
      sum[i] += s;
    }
  }
}

// t[i] += x - shift[i] and q[i] += (x - shift[i])^2 over the non-NaN
// values of `rows` rows: the fused part for rows the grouped kernel leaves.
MM_INLINE void ShiftedSums(const float* p, uint64_t rows, uint64_t len, const double* shift,
                           double* t, double* q) {
  for (uint64_t r = 0; r < rows; ++r, p += len) {
    for (uint64_t i = 0; i < len; ++i) {
      const double d = Load1(p + i) - shift[i];
      t[i] += d == d ? d : 0.0;
      q[i] += d == d ? d * d : 0.0;
    }
  }
}

template <bool kFused>
MM_INLINE void TileFloatGrouped(const char* bytes, uint64_t rows, uint64_t len, double* sum,
                                int64_t* cnt, int64_t* nan, double* mn, double* mx,
                                const double* shift, double* t, double* q) {
  const uint64_t g = GroupRows8(len), w = g * len;
  const float* p = reinterpret_cast<const float*>(bytes);
  uint64_t groups = 0;
  if (w <= kMaxVirtualLanes && rows >= g) {
    groups = rows / g;
    for (uint64_t done = 0; done < groups;) {
      const uint64_t step = Min(groups - done, kMaxCounterSteps);
      TileFloatChunk<kFused>(p + done * w, step, g, len, sum, cnt, nan, mn, mx, shift, t, q);
      done += step;
    }
  }
  const uint64_t rest = rows - groups * g;
  Tile<float>(bytes + groups * w * sizeof(float), rest, len, sum, cnt, nan, mn, mx);
  if constexpr (kFused) ShiftedSums(p + groups * w, rest, len, shift, t, q);
}

template <bool kMask>
MM_INLINE void TileDevFloatGrouped(const char* bytes, uint64_t rows, uint64_t len,
                                   const double* mean, double* m2) {
  const uint64_t g = GroupRows8(len), w = g * len;
  if (w > kMaxVirtualLanes || rows < g) return TileDev<float>(bytes, rows, len, mean, m2);
  const float* p = reinterpret_cast<const float*>(bytes);
  double vmean[kMaxVirtualLanes], vm2[kMaxVirtualLanes];
  for (uint64_t v = 0; v < w; ++v) vm2[v] = 0;
  for (uint64_t k = 0; k < w; k += len) std::memcpy(vmean + k, mean, len * sizeof(double));
  const uint64_t groups = rows / g;
  const float* row = p;
  for (uint64_t r = 0; r < groups; ++r, row += w) {
#ifdef __AVX512F__
    for (uint64_t i = 0; i < w; i += 8) {  // one register per eight lanes
      const __m512d d = _mm512_sub_pd(Load8d(row + i), _mm512_loadu_pd(vmean + i));
      const __m512d q = _mm512_mul_pd(d, d), a = _mm512_loadu_pd(vm2 + i);
      _mm512_storeu_pd(vm2 + i, kMask ? AddNumbers(a, Numbers(d), q) : _mm512_add_pd(a, q));
    }
#else
    for (uint64_t i = 0; i < w; i += 8) {
      const F8 x = Load8(row + i);
      v4d m0, m1, a0, a1;
      std::memcpy(&m0, vmean + i, sizeof m0);
      std::memcpy(&m1, vmean + i + 4, sizeof m1);
      std::memcpy(&a0, vm2 + i, sizeof a0);
      std::memcpy(&a1, vm2 + i + 4, sizeof a1);
      const v4d d0 = Low(x) - m0, d1 = High(x) - m1;
      const v4d q0 = d0 * d0, q1 = d1 * d1;
      if constexpr (kMask) {
        a0 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(q0) & (d0 == d0));
        a1 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(q1) & (d1 == d1));
      } else {
        a0 += q0;
        a1 += q1;
      }
      std::memcpy(vm2 + i, &a0, sizeof a0);
      std::memcpy(vm2 + i + 4, &a1, sizeof a1);
    }
#endif
  }
  for (uint64_t i = 0; i < len; ++i) {
    double a = vm2[i];
    for (uint64_t k = 1; k < g; ++k) a += vm2[i + k * len];
    m2[i] += a;
  }
  TileDev<float>(bytes + groups * w * sizeof(float), rows - groups * g, len, mean, m2);
}

RunSums ReduceF32(const char* p, uint64_t n) {
  return ReduceChecked(p, n, ReduceFloat<false>, ReduceFloat<true>);
}
RunSums ReduceF64(const char* p, uint64_t n) {
  return ReduceChecked(p, n, Reduce<double, false>, Reduce<double, true>);
}
double DeviationF32(const char* p, uint64_t n, double mean, bool has_nan) {
  return (has_nan ? Deviation<float, true, false>(p, n, mean)
                  : Deviation<float, false, false>(p, n, mean))
      .m2;
}
DevSums DeviationF64(const char* p, uint64_t n, double mean, bool has_nan) {
  return has_nan ? Deviation<double, true, true>(p, n, mean)
                 : Deviation<double, false, true>(p, n, mean);
}
// mn == nullptr: sums and counts only. Rows longer than the virtual lanes
// always go through Tile, so Tile<T, false> gives the same sums; shorter
// rows take the full kernel with throwaway extremes (they are few lanes).
template <class T, class Full>
MM_INLINE void TileMaybeMinMax(const char* p, uint64_t rows, uint64_t len, double* sum,
                               int64_t* cnt, int64_t* nan, double* mn, double* mx,
                               const Full& full) {
  if (mn != nullptr) return full(mn, mx);
  if (len <= kMaxVirtualLanes) {
    double lo[kMaxVirtualLanes], hi[kMaxVirtualLanes];
    for (uint64_t i = 0; i < len; ++i) lo[i] = kInf, hi[i] = -kInf;
    return full(lo, hi);
  }
  Tile<T, false>(p, rows, len, sum, cnt, nan, nullptr, nullptr);
}

void TileF32(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
             double* mn, double* mx) {
  TileMaybeMinMax<float>(p, rows, len, sum, cnt, nan, mn, mx, [&](double* lo, double* hi) {
    TileFloatGrouped<false>(p, rows, len, sum, cnt, nan, lo, hi, nullptr, nullptr, nullptr);
  });
}
void TileF64(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
             double* mn, double* mx) {
  TileMaybeMinMax<double>(p, rows, len, sum, cnt, nan, mn, mx, [&](double* lo, double* hi) {
    TileGrouped<double>(p, rows, len, sum, cnt, nan, lo, hi);
  });
}
void TileDevF32(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2,
                bool has_nan) {
  if (has_nan) {
    TileDevFloatGrouped<true>(p, rows, len, mean, m2);
  } else {
    TileDevFloatGrouped<false>(p, rows, len, mean, m2);
  }
}
void TileDevF64(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2,
                double* t) {
  TileDevGrouped<double>(p, rows, len, mean, m2, t);
}

FusedSums FusedF32(const char* p, uint64_t n, double shift) {
  return FusedFloatChecked(p, n, shift);
}
void FusedTileF32(const char* p, uint64_t rows, uint64_t len, const double* shift, double* sum,
                  int64_t* cnt, int64_t* nan, double* mn, double* mx, double* t, double* q) {
  TileFloatGrouped<true>(p, rows, len, sum, cnt, nan, mn, mx, shift, t, q);
}

// ---------------------------------------------------------------------------
// Histogram slots (BinSlots in stats_simd.h). Two doubles per vector on
// baseline x86-64, four with AVX2. The bin is trunc(f) with f = (x - lo) *
// norm as numpy computes it; trunc is done with double arithmetic only
// (adding and subtracting 2^52 rounds to an integer, one less when that
// rounded up), whose low bits then hold the integer, so both copies need
// no conversion instruction the other lacks. The AVX-512 copy takes eight
// at a time with compares into mask registers, truncates with vrndscalepd
// (trunc is exact: the same integer as the 2^52 trick and as the scalar
// tail's conversion) and converts it with vcvttpd2udq; its last partial
// vector is masked (ForEight) instead of going through BinSlotOne.
// FastBinsF64 (BinPairs) repeats each copy's test for a value to be a bin;
// a change to one is a change to both.

#ifdef __AVX2__
constexpr int kBinWidth = 4;
#else
constexpr int kBinWidth = 2;
#endif
typedef double BinD __attribute__((vector_size(8 * kBinWidth)));
typedef long long BinM __attribute__((vector_size(8 * kBinWidth)));

// Whether every lane of a comparison's mask is set.
MM_INLINE bool AllLanes(BinM m) {
#ifdef __AVX2__
  return _mm256_movemask_pd(reinterpret_cast<__m256d>(m)) == 0xf;
#else
  return _mm_movemask_pd(reinterpret_cast<__m128d>(m)) == 0x3;
#endif
}

MM_INLINE uint32_t BinSlotOne(double x, const BinGrid& g) {
  const double f = (x - g.lo) * g.norm;
  if (f >= 0 && f < static_cast<double>(g.bins)) {
    const double t = static_cast<double>(static_cast<int64_t>(f));
    const double fr = f - t;
    if (fr > g.margin && fr < 1 - g.margin) return static_cast<uint32_t>(t);
  }
  if (x < g.lo) return g.bins + kSlotBelow;
  if (x > g.hi) return g.bins + kSlotAbove;
  if (x != x) return g.bins + kSlotNan;
  return kSlotExact;
}

#ifdef __AVX512F__
// Calls body(i, live) for i = 0, 8, ... below n: live all ones but for the
// last partial vector, whose lanes past n are clear (masked loads and
// stores leave them alone).
template <class Body>
MM_INLINE void ForEight(uint64_t n, const Body& body) {
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) body(i, __mmask8{0xff});
  if (i < n) body(i, Live(n - i));
}

bool BinSlots(const double* x, uint64_t n, const BinGrid& g, uint32_t* slot) {
  const __m512d zero = _mm512_setzero_pd(), lo = _mm512_set1_pd(g.lo), hi = _mm512_set1_pd(g.hi);
  const __m512d norm = _mm512_set1_pd(g.norm), bins = _mm512_set1_pd(static_cast<double>(g.bins));
  const __m512d margin = _mm512_set1_pd(g.margin), upper = _mm512_set1_pd(1 - g.margin);
  const __m256i below = _mm256_set1_epi32(static_cast<int>(g.bins + kSlotBelow));
  const __m256i above = _mm256_set1_epi32(static_cast<int>(g.bins + kSlotAbove));
  const __m256i nan = _mm256_set1_epi32(static_cast<int>(g.bins + kSlotNan));
  const __m256i exact = _mm256_set1_epi32(static_cast<int>(kSlotExact));
  __mmask8 missed = 0;
  ForEight(
      n, [&](uint64_t i, __mmask8 live) __attribute__((always_inline)) {
        const __m512d v = _mm512_maskz_loadu_pd(live, x + i);
        const __m512d f = _mm512_mul_pd(_mm512_sub_pd(v, lo), norm);
        const __mmask8 in =  // false for NaN
            _mm512_mask_cmp_pd_mask(_mm512_cmp_pd_mask(f, zero, _CMP_GE_OQ), f, bins, _CMP_LT_OQ);
        // Lanes outside [0, bins) get a meaningless t and are not ok.
        const __m512d t = _mm512_roundscale_pd(f, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m512d fr = _mm512_sub_pd(f, t);  // exact
        const __mmask8 ok = _mm512_mask_cmp_pd_mask(
            _mm512_mask_cmp_pd_mask(in, fr, margin, _CMP_GT_OQ), fr, upper, _CMP_LT_OQ);
        __m256i s = _mm512_cvttpd_epu32(t);
        if ((ok & live) != live) {
          // ok ? bin : v < lo ? below : v > hi ? above : v != v ? nan : exact.
          __m256i other = _mm256_mask_mov_epi32(exact, _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), nan);
          other = _mm256_mask_mov_epi32(other, _mm512_cmp_pd_mask(v, hi, _CMP_GT_OQ), above);
          other = _mm256_mask_mov_epi32(other, _mm512_cmp_pd_mask(v, lo, _CMP_LT_OQ), below);
          s = _mm256_mask_mov_epi32(other, ok, s);
          missed |= _mm256_mask_cmpeq_epi32_mask(live, s, exact);
        }
        _mm256_mask_storeu_epi32(slot + i, live, s);
      });
  return missed != 0;
}
#else
bool BinSlots(const double* x, uint64_t n, const BinGrid& g, uint32_t* slot) {
  const BinD zero = BinD{} + 0.0, one = zero + 1.0, magic = zero + 4503599627370496.0;  // 2^52
  const BinD lo = zero + g.lo, hi = zero + g.hi, norm = zero + g.norm;
  const BinD bins = zero + static_cast<double>(g.bins);
  const BinD margin = zero + g.margin, upper = zero + (1 - g.margin);
  const BinM below = BinM{} + (g.bins + kSlotBelow), above = BinM{} + (g.bins + kSlotAbove);
  const BinM nan = BinM{} + (g.bins + kSlotNan), exact = BinM{} + kSlotExact;
  BinM magic_bits;  // the bits of 2^52; those of 2^52 + t exceed them by t
  std::memcpy(&magic_bits, &magic, sizeof magic_bits);
  BinM missed = BinM{};
  uint64_t i = 0;
  for (; i + kBinWidth <= n; i += kBinWidth) {
    BinD v;
    std::memcpy(&v, x + i, sizeof v);
    const BinD f = (v - lo) * norm;
    const BinM in = (f >= zero) & (f < bins);  // false for NaN
    const BinD fc = in ? f : zero;
    BinD t = (fc + magic) - magic;  // fc rounded to an integer
    t = t > fc ? t - one : t;       // truncated
    const BinD fr = fc - t;         // exact
    const BinM ok = in & (fr > margin) & (fr < upper);
    BinD shifted = t + magic;
    BinM bin;
    std::memcpy(&bin, &shifted, sizeof bin);
    bin -= magic_bits;
    if (AllLanes(ok)) {
      for (int k = 0; k < kBinWidth; ++k)
        slot[i + static_cast<uint64_t>(k)] = static_cast<uint32_t>(bin[k]);
      continue;
    }
    const BinM s = ok ? bin : v < lo ? below : v > hi ? above : v != v ? nan : exact;
    missed |= s == exact;
    for (int k = 0; k < kBinWidth; ++k)
      slot[i + static_cast<uint64_t>(k)] = static_cast<uint32_t>(s[k]);
  }
  bool any = false;
  for (int k = 0; k < kBinWidth; ++k) any |= missed[k] != 0;
  for (; i < n; ++i) {
    slot[i] = BinSlotOne(x[i], g);
    any |= slot[i] == kSlotExact;
  }
  return any;
}
#endif

// ResolveExact (stats_simd.h): numpy's edge corrections for the slots
// BinSlots left kSlotExact, the steps of BinFinder::Index (histogram.h)
// with its exact comparisons: a change to one is a change to both. Such
// slots are rare for most data and common for integers on integer edges
// (every value of a histogram with unit bins), so the AVX-512 copy takes
// eight at a time, the edges gathered; the others look at sixteen slots at
// once (the least of slot + 1 is 0 only when one is kSlotExact) and take
// the values they find one at a time.

MM_INLINE uint32_t BinIndexOne(double x, const BinGrid& g, const double* edges) {
  const double f = (x - g.lo) * g.norm;
  const int64_t bins = g.bins;
  int64_t i =
      (f >= 0 && f < static_cast<double>(bins)) ? static_cast<int64_t>(f) : (f >= 0 ? bins - 1 : 0);
  if (x < edges[i]) {
    --i;
  } else if (i != bins - 1 && x >= edges[i + 1]) {
    ++i;
  }
  return static_cast<uint32_t>(i < 0 ? 0 : i);
}

#ifdef __AVX512F__
void ResolveExact(const double* x, uint64_t n, const BinGrid& g, const double* edges,
                  uint32_t* slot) {
  const __m512d zero = _mm512_setzero_pd(), lo = _mm512_set1_pd(g.lo);
  const __m512d norm = _mm512_set1_pd(g.norm), bins = _mm512_set1_pd(static_cast<double>(g.bins));
  const __m512d last = _mm512_set1_pd(static_cast<double>(g.bins - 1));
  const __m256i exact = _mm256_set1_epi32(static_cast<int>(kSlotExact));
  const __m256i last_i = _mm256_set1_epi32(static_cast<int>(g.bins - 1));
  const __m256i one = _mm256_set1_epi32(1), zero_i = _mm256_setzero_si256();
  ForEight(
      n, [&](uint64_t i, __mmask8 live) __attribute__((always_inline)) {
        const __mmask8 ex =
            _mm256_mask_cmpeq_epi32_mask(live, _mm256_maskz_loadu_epi32(live, slot + i), exact);
        if (ex == 0) return;
        const __m512d v = _mm512_maskz_loadu_pd(ex, x + i);
        const __m512d f = _mm512_mul_pd(_mm512_sub_pd(v, lo), norm);
        const __mmask8 ge = _mm512_cmp_pd_mask(f, zero, _CMP_GE_OQ);  // false for NaN
        const __mmask8 in = _mm512_mask_cmp_pd_mask(ge, f, bins, _CMP_LT_OQ);
        // trunc(f) in [0, bins); bins - 1 above, 0 below (and for NaN f).
        const __m512d t = _mm512_mask_roundscale_pd(_mm512_maskz_mov_pd(ge, last), in, f,
                                                    _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m256i k = _mm512_cvttpd_epi32(t);
        // Both edges gathered at once (the second whether or not the first
        // decides), then Index's else-if.
        const __mmask8 up = _mm256_mask_cmpneq_epi32_mask(ex, k, last_i);
        const __m512d e0 = _mm512_mask_i32gather_pd(zero, ex, k, edges, 8);
        const __m512d e1 = _mm512_mask_i32gather_pd(zero, up, _mm256_add_epi32(k, one), edges, 8);
        const __mmask8 dec = _mm512_mask_cmp_pd_mask(ex, v, e0, _CMP_LT_OQ);
        const __mmask8 inc = _mm512_mask_cmp_pd_mask(up & ~dec, v, e1, _CMP_GE_OQ);
        k = _mm256_mask_sub_epi32(k, dec, k, one);
        k = _mm256_mask_add_epi32(k, inc, k, one);
        _mm256_mask_storeu_epi32(slot + i, ex, _mm256_max_epi32(k, zero_i));
      });
}
#else
void ResolveExact(const double* x, uint64_t n, const BinGrid& g, const double* edges,
                  uint32_t* slot) {
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint32_t least = ~0u;
    for (uint64_t k = 0; k < 16; ++k) least = slot[i + k] + 1u < least ? slot[i + k] + 1u : least;
    if (least != 0) continue;
    for (uint64_t k = i; k < i + 16; ++k)
      if (slot[k] == kSlotExact) slot[k] = BinIndexOne(x[k], g, edges);
  }
  for (; i < n; ++i)
    if (slot[i] == kSlotExact) slot[i] = BinIndexOne(x[i], g, edges);
}
#endif

// Slots of float32 values (BinSlotsF32 in stats_simd.h). The vector
// copies compute g = (x - lo) * norm in float32, twice as many values per
// instruction as in double, and take trunc(g) where g's fractional part is
// further than MarginF32 from 0 and 1: g then lies within MarginF32 -
// g.margin of f = (x - lo) * norm in double, so trunc(g) is trunc(f), the
// bin BinSlots gives (the proof is at MarginF32). Any other value of the
// vector (outside the range, NaN, near an edge) sends the whole vector
// through BinSlots on the values widened to double. The slots are those of
// BinSlots whichever path a value takes, so every copy gives the same.

// How far from an integer g's fractional part must be: g.margin plus a
// bound on |g - f|, or 1 when float32 cannot bound it usefully. With
// u = 2^-24 and F the exact (x - lo) * norm, g's roundings (lo and norm to
// float32, the subtraction, the product) put it within
// (bins + 1) * 3u + |lo| * norm * u of F for the values it bins (0 <= g <
// bins); f is within (bins + 1) * 2^-51 of F; a tenth more for what those
// first-order bounds leave out.
MM_INLINE double MarginF32(const BinGrid& g) {
  const double u = 5.9604644775390625e-08;  // 2^-24
  const double bins = static_cast<double>(g.bins);
  const float lo32 = static_cast<float>(g.lo), norm32 = static_cast<float>(g.norm);
  if (!(std::fabs(g.lo) < 1e30) || !(g.norm > 1e-30 && g.norm < 1e30) || lo32 != lo32 ||
      !(norm32 > 0) || !(bins < 16777216.0))
    return 1;
  const double e = (bins + 1) * 3 * u + std::fabs(g.lo) * g.norm * u + (bins + 1) * 4.5e-16;
  const double m = g.margin + 1.1 * e;
  return m < 0.25 ? m : 1;
}

// The float32 bounds of the fractional part: low rounded up, high down, so
// that low < fr < high in float32 implies m < fr < 1 - m.
MM_INLINE void FractionBoundsF32(double m, float* low, float* high) {
  *low = static_cast<float>(m);
  if (static_cast<double>(*low) < m) *low = std::nextafter(*low, 1.0f);
  *high = static_cast<float>(1 - m);
  if (static_cast<double>(*high) > 1 - m) *high = std::nextafter(*high, 0.0f);
}

// BinSlots of x[0, n) after widening them to double.
MM_INLINE bool BinSlotsWidened(const float* x, uint64_t n, const BinGrid& g, uint32_t* slot) {
  constexpr uint64_t kStep = 64;
  double w[kStep];
  bool any = false;
  for (uint64_t i = 0; i < n; i += kStep) {
    const uint64_t m = n - i < kStep ? n - i : kStep;
    for (uint64_t k = 0; k < m; ++k) w[k] = static_cast<double>(x[i + k]);
    any |= (BinSlots)(w, m, g, slot + i);  // parenthesised: not simd::BinSlots by ADL
  }
  return any;
}

#if defined(__AVX512F__) || defined(__AVX2__)
// The fast path of float32 binning, one vector at a time: the truncated
// g = (x - lo) * norm of each value, and whether every value of the vector
// is in range and further than the margin from an edge (then those are
// the values' bins). Built only when MarginF32(g) < 1.
#ifdef __AVX512F__
constexpr int kF32Width = 16;
typedef __m512 F32Vec;
typedef __m512i F32Bins;
MM_INLINE F32Vec SplatF32(float v) { return _mm512_set1_ps(v); }
#else
constexpr int kF32Width = 8;
typedef __m256 F32Vec;
typedef __m256i F32Bins;
MM_INLINE F32Vec SplatF32(float v) { return _mm256_set1_ps(v); }
#endif
class FastBinsF32 {
 public:
  FastBinsF32(const BinGrid& g, double margin)
      : lo_(SplatF32(static_cast<float>(g.lo))),
        norm_(SplatF32(static_cast<float>(g.norm))),
        bins_(SplatF32(static_cast<float>(g.bins))) {
    float low32, high32;
    FractionBoundsF32(margin, &low32, &high32);
    low_ = SplatF32(low32);
    high_ = SplatF32(high32);
  }

  MM_INLINE F32Bins Bins(const float* p, bool* all) const {
#ifdef __AVX512F__
    const __m512 f = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(p), lo_), norm_);
    const __m512 t = _mm512_roundscale_ps(f, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 fr = _mm512_sub_ps(f, t);                                  // exact
    __mmask16 ok = _mm512_cmp_ps_mask(f, _mm512_setzero_ps(), _CMP_GE_OQ);  // false for NaN
    ok = _mm512_mask_cmp_ps_mask(ok, f, bins_, _CMP_LT_OQ);
    ok = _mm512_mask_cmp_ps_mask(ok, fr, low_, _CMP_GT_OQ);
    ok = _mm512_mask_cmp_ps_mask(ok, fr, high_, _CMP_LT_OQ);
    *all = ok == 0xffff;
    return _mm512_cvttps_epu32(t);
#else
    const __m256 f = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(p), lo_), norm_);
    const __m256 t = _mm256_round_ps(f, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 fr = _mm256_sub_ps(f, t);  // exact
    const __m256 zero = _mm256_setzero_ps();
    const __m256 ok = _mm256_and_ps(
        _mm256_and_ps(_mm256_cmp_ps(f, zero, _CMP_GE_OQ), _mm256_cmp_ps(f, bins_, _CMP_LT_OQ)),
        _mm256_and_ps(_mm256_cmp_ps(fr, low_, _CMP_GT_OQ), _mm256_cmp_ps(fr, high_, _CMP_LT_OQ)));
    *all = _mm256_movemask_ps(ok) == 0xff;
    return _mm256_cvttps_epi32(t);
#endif
  }

 private:
  F32Vec lo_, norm_, bins_, low_, high_;
};

MM_INLINE void StoreBins(uint32_t* p, F32Bins v) {
#ifdef __AVX512F__
  _mm512_storeu_si512(p, v);
#else
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
#endif
}

// a * stride + b in each lane.
MM_INLINE F32Bins PairBins(F32Bins a, F32Bins b, uint32_t stride) {
#ifdef __AVX512F__
  return _mm512_add_epi32(_mm512_mullo_epi32(a, _mm512_set1_epi32(static_cast<int>(stride))), b);
#else
  return _mm256_add_epi32(_mm256_mullo_epi32(a, _mm256_set1_epi32(static_cast<int>(stride))), b);
#endif
}
#endif

bool BinSlotsF32(const float* x, uint64_t n, const BinGrid& g, uint32_t* slot) {
  uint64_t i = 0;
  bool any = false;
#if defined(__AVX512F__) || defined(__AVX2__)
  const double margin = MarginF32(g);
  if (margin < 1) {
    const FastBinsF32 fast(g, margin);
    for (; i + kF32Width <= n; i += kF32Width) {
      bool all;
      const F32Bins t = fast.Bins(x + i, &all);
      if (all) {
        StoreBins(slot + i, t);
      } else {
        any |= BinSlotsWidened(x + i, kF32Width, g, slot + i);
      }
    }
  }
#endif
  if (i < n) any |= BinSlotsWidened(x + i, n - i, g, slot + i);
  return any;
}

// Slots of float32 values counted in pairs (BinPairsF32 in stats_simd.h).
// Two vectors whose slots are all bins by BinSlotsF32's fast test give
// pairs a * bins + b, value k of the first vector paired with value k of
// the second. The values of any other pair of vectors, and all values in
// the baseline copy or when float32 cannot bound the grid (MarginF32), are
// widened to double and binned (BinSlotsWidened): two neighbours both in
// bins make a pair, the others are singles with their slots and indices.
// The slots are BinSlotsF32's either way.

// The slots s[0, len) of the values at indices base, base + 1, ...: two
// neighbours that are both bins make a pair, the others are singles.
MM_INLINE void PairSlots(const uint32_t* s, uint64_t len, uint64_t base, uint32_t bins,
                         uint32_t* pair, uint32_t* slot, uint32_t* at, PairedSlots* r) {
  uint64_t k = 0;
  for (; k + 2 <= len; k += 2) {
    if (s[k] < bins && s[k + 1] < bins) {
      pair[r->pairs++] = s[k] * bins + s[k + 1];
      continue;
    }
    for (uint64_t j = k; j < k + 2; ++j) {
      slot[r->singles] = s[j];
      at[r->singles++] = static_cast<uint32_t>(base + j);
    }
  }
  if (k < len) {
    slot[r->singles] = s[k];
    at[r->singles++] = static_cast<uint32_t>(base + k);
  }
}

// The values x[i, i + m) widened, paired where they can be.
MM_INLINE void PairWidened(const float* x, uint64_t i, uint64_t m, const BinGrid& g, uint32_t* pair,
                           uint32_t* slot, uint32_t* at, PairedSlots* r) {
  constexpr uint64_t kStep = 64;
  uint32_t s[kStep];
  for (uint64_t j0 = 0; j0 < m; j0 += kStep) {
    const uint64_t len = m - j0 < kStep ? m - j0 : kStep;
    BinSlotsWidened(x + i + j0, len, g, s);
    PairSlots(s, len, i + j0, g.bins, pair, slot, at, r);
  }
}

PairedSlots BinPairsF32(const float* x, uint64_t n, const BinGrid& g, uint32_t* pair,
                        uint32_t* slot, uint32_t* at) {
  PairedSlots r{0, 0};
  uint64_t i = 0;
#if defined(__AVX512F__) || defined(__AVX2__)
  const double margin = MarginF32(g);
  if (margin < 1) {
    const FastBinsF32 fast(g, margin);
    for (; i + 2 * kF32Width <= n; i += 2 * kF32Width) {
      bool all_a, all_b;
      const F32Bins a = fast.Bins(x + i, &all_a), b = fast.Bins(x + i + kF32Width, &all_b);
      if (all_a && all_b) {
        StoreBins(pair + r.pairs, PairBins(a, b, g.bins));
        r.pairs += kF32Width;
      } else {
        PairWidened(x, i, 2 * kF32Width, g, pair, slot, at, &r);
      }
    }
  }
#endif
  if (i < n) PairWidened(x, i, n - i, g, pair, slot, at, &r);
  return r;
}

// Slots of doubles counted in pairs (BinPairs in stats_simd.h): as
// BinPairsF32, with BinSlots' own fast test (a vector of eight doubles with
// AVX-512, four with AVX2) and BinSlots for any other pair of vectors and
// in the baseline copy. The pairs' bins are BinSlots' slots either way.
#if defined(__AVX512F__) || defined(__AVX2__)
#ifdef __AVX512F__
constexpr int kF64Width = 8;
typedef __m512d F64Vec;
MM_INLINE F64Vec SplatF64(double v) { return _mm512_set1_pd(v); }
#else
constexpr int kF64Width = 4;
typedef __m256d F64Vec;
MM_INLINE F64Vec SplatF64(double v) { return _mm256_set1_pd(v); }
#endif
// BinSlots' fast path, one vector at a time: the truncated f = (x - lo) *
// norm of each value as an integer-valued double, and whether every value
// of the vector is in range and further than the margin from an edge.
class FastBinsF64 {
 public:
  explicit FastBinsF64(const BinGrid& g)
      : lo_(SplatF64(g.lo)),
        norm_(SplatF64(g.norm)),
        bins_(SplatF64(static_cast<double>(g.bins))),
        low_(SplatF64(g.margin)),
        high_(SplatF64(1 - g.margin)) {}

  MM_INLINE F64Vec Bins(const double* p, bool* all) const {
#ifdef __AVX512F__
    const __m512d f = _mm512_mul_pd(_mm512_sub_pd(_mm512_loadu_pd(p), lo_), norm_);
    const __m512d t = _mm512_roundscale_pd(f, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512d fr = _mm512_sub_pd(f, t);                                // exact
    __mmask8 ok = _mm512_cmp_pd_mask(f, _mm512_setzero_pd(), _CMP_GE_OQ);  // false for NaN
    ok = _mm512_mask_cmp_pd_mask(ok, f, bins_, _CMP_LT_OQ);
    ok = _mm512_mask_cmp_pd_mask(ok, fr, low_, _CMP_GT_OQ);
    ok = _mm512_mask_cmp_pd_mask(ok, fr, high_, _CMP_LT_OQ);
    *all = ok == 0xff;
    return t;
#else
    // BinSlots' AVX2 arithmetic: trunc by adding and subtracting 2^52.
    const __m256d zero = _mm256_setzero_pd(), magic = _mm256_set1_pd(4503599627370496.0);
    const __m256d f = _mm256_mul_pd(_mm256_sub_pd(_mm256_loadu_pd(p), lo_), norm_);
    const __m256d in =  // false for NaN
        _mm256_and_pd(_mm256_cmp_pd(f, zero, _CMP_GE_OQ), _mm256_cmp_pd(f, bins_, _CMP_LT_OQ));
    const __m256d fc = _mm256_and_pd(in, f);
    __m256d t = _mm256_sub_pd(_mm256_add_pd(fc, magic), magic);  // fc rounded to an integer
    t = _mm256_sub_pd(t, _mm256_and_pd(_mm256_cmp_pd(t, fc, _CMP_GT_OQ), _mm256_set1_pd(1.0)));
    const __m256d fr = _mm256_sub_pd(fc, t);  // exact
    const __m256d ok = _mm256_and_pd(in, _mm256_and_pd(_mm256_cmp_pd(fr, low_, _CMP_GT_OQ),
                                                       _mm256_cmp_pd(fr, high_, _CMP_LT_OQ)));
    *all = _mm256_movemask_pd(ok) == 0xf;
    return t;
#endif
  }

  // a * bins + b of two vectors of bins (exact: below 2^31), stored as
  // unsigned 32-bit integers.
  MM_INLINE void StorePairs(uint32_t* p, F64Vec a, F64Vec b) const {
#ifdef __AVX512F__
    const __m256i v = _mm512_cvttpd_epu32(_mm512_add_pd(_mm512_mul_pd(a, bins_), b));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
#else
    const __m128i v = _mm256_cvttpd_epi32(_mm256_add_pd(_mm256_mul_pd(a, bins_), b));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
#endif
  }

 private:
  F64Vec lo_, norm_, bins_, low_, high_;
};
#endif

PairedSlots BinPairs(const double* x, uint64_t n, const BinGrid& g, uint32_t* pair, uint32_t* slot,
                     uint32_t* at) {
  PairedSlots r{0, 0};
  uint64_t i = 0;
  constexpr uint64_t kStep = 64;
  uint32_t s[kStep];
#if defined(__AVX512F__) || defined(__AVX2__)
  const FastBinsF64 fast(g);
  for (; i + 2 * kF64Width <= n; i += 2 * kF64Width) {
    bool all_a, all_b;
    const F64Vec a = fast.Bins(x + i, &all_a), b = fast.Bins(x + i + kF64Width, &all_b);
    if (all_a && all_b) {
      fast.StorePairs(pair + r.pairs, a, b);
      r.pairs += kF64Width;
    } else {
      (BinSlots)(x + i, 2 * kF64Width, g, s);  // parenthesised: not simd::BinSlots by ADL
      PairSlots(s, 2 * kF64Width, i, g.bins, pair, slot, at, &r);
    }
  }
#endif
  for (; i < n; i += kStep) {
    const uint64_t len = n - i < kStep ? n - i : kStep;
    (BinSlots)(x + i, len, g, s);
    PairSlots(s, len, i, g.bins, pair, slot, at, &r);
  }
  return r;
}

// ---------------------------------------------------------------------------
// Co-moments (CoMoments in stats_simd.h). For row i of c, the entries from
// the vector holding column i to the padded end are accumulated in up to
// four wide registers (eight doubles with AVX-512, else kBinWidth) and one
// of four (AVX-512 only, for a row's last four entries) while the
// observations stream by: each entry still gets x[o][i] * x[o][j] added
// one observation at a time, in order, whatever the width. With AVX-512's
// 32 registers, kCoRows = 4 rows of c that start at the same column share
// one pass over the observations and their loads.

#ifdef __AVX512F__
typedef double CoVec __attribute__((vector_size(64)));
constexpr int kCoRows = 4;
#else
typedef BinD CoVec;
constexpr int kCoRows = 1;
#endif
constexpr int kCoWidth = sizeof(CoVec) / sizeof(double);
constexpr int kPerWide = kCoWidth / kBinWidth;  // narrow vectors per wide one
static_assert(kBinWidth % kCoRows == 0, "the rows of a pass start at the same column");
static_assert(kCoMomentPad % kBinWidth == 0, "rows end on a narrow vector");

// d in every lane (V{} + d would add +0.0 to it, making -0.0 +0.0).
template <class V>
MM_INLINE V Splat(double d) {
  if constexpr (sizeof(V) == 64) {
    return reinterpret_cast<V>(_mm512_set1_pd(d));
  } else if constexpr (sizeof(V) == 32) {
    return reinterpret_cast<V>(_mm256_set1_pd(d));
  } else {
    return reinterpret_cast<V>(_mm_set1_pd(d));
  }
}

// Rows [i, i + kRows) of c, entries [j0, j0 + kCoWidth * kWide + kBinWidth
// * kNarrow).
template <int kRows, int kWide, int kNarrow>
MM_INLINE void CoMomentsRows(const double* __restrict x, uint64_t rows, uint64_t k, uint64_t i,
                             uint64_t j0, double* __restrict c, uint64_t kp) {
  CoVec acc[kRows][kWide + 1];
  BinD tail[kRows][kNarrow + 1];
  const uint64_t t0 = j0 + kCoWidth * kWide;  // the first entry of the narrow part
  for (int h = 0; h < kRows; ++h) {
    const double* ch = c + (i + h) * kp;
    for (int q = 0; q < kWide; ++q) std::memcpy(&acc[h][q], ch + j0 + q * kCoWidth, sizeof(CoVec));
    for (int q = 0; q < kNarrow; ++q)
      std::memcpy(&tail[h][q], ch + t0 + q * kBinWidth, sizeof(BinD));
  }
  for (uint64_t o = 0; o < rows; ++o) {
    const double* r = x + o * k;
    for (int q = 0; q < kWide; ++q) {
      CoVec v;
      std::memcpy(&v, r + j0 + q * kCoWidth, sizeof v);
      for (int h = 0; h < kRows; ++h) acc[h][q] = acc[h][q] + Splat<CoVec>(r[i + h]) * v;
    }
    for (int q = 0; q < kNarrow; ++q) {
      BinD v;
      std::memcpy(&v, r + t0 + q * kBinWidth, sizeof v);
      for (int h = 0; h < kRows; ++h) tail[h][q] = tail[h][q] + Splat<BinD>(r[i + h]) * v;
    }
  }
  for (int h = 0; h < kRows; ++h) {
    double* ch = c + (i + h) * kp;
    for (int q = 0; q < kWide; ++q) std::memcpy(ch + j0 + q * kCoWidth, &acc[h][q], sizeof(CoVec));
    for (int q = 0; q < kNarrow; ++q)
      std::memcpy(ch + t0 + q * kBinWidth, &tail[h][q], sizeof(BinD));
  }
}

// The kernel for the last r narrow vectors of kRows rows, r in
// [0, 4 * kPerWide).
typedef void (*CoRows)(const double*, uint64_t, uint64_t, uint64_t, uint64_t, double*, uint64_t);
template <int kRows>
constexpr CoRows kCoRest[] = {nullptr,
                              CoMomentsRows<kRows, 1 / kPerWide, 1 % kPerWide>,
                              CoMomentsRows<kRows, 2 / kPerWide, 2 % kPerWide>,
                              CoMomentsRows<kRows, 3 / kPerWide, 3 % kPerWide>,
#ifdef __AVX512F__
                              CoMomentsRows<kRows, 2, 0>,
                              CoMomentsRows<kRows, 2, 1>,
                              CoMomentsRows<kRows, 3, 0>,
                              CoMomentsRows<kRows, 3, 1>
#endif
};
static_assert(sizeof kCoRest<1> / sizeof kCoRest<1>[0] == 4 * kPerWide, "one kernel per rest");

// Rows [i, i + kRows) of c, from their first vector to the padded end.
template <int kRows>
MM_INLINE void CoMomentsPass(const double* x, uint64_t rows, uint64_t k, uint64_t i, double* c,
                             uint64_t kp) {
  uint64_t j0 = i / kBinWidth * kBinWidth;
  for (; j0 + 4 * kCoWidth <= kp; j0 += 4 * kCoWidth)
    CoMomentsRows<kRows, 4, 0>(x, rows, k, i, j0, c, kp);
  if (const CoRows rest = kCoRest<kRows>[(kp - j0) / kBinWidth]) rest(x, rows, k, i, j0, c, kp);
}

void CoMoments(const double* x, uint64_t rows, uint64_t k, double* c, uint64_t kp) {
  uint64_t i = 0;
  for (; i + kCoRows <= k; i += kCoRows) CoMomentsPass<kCoRows>(x, rows, k, i, c, kp);
  for (; i < k; ++i) CoMomentsPass<1>(x, rows, k, i, c, kp);
}

// ---------------------------------------------------------------------------
// Quantile refinement (KeyMatches in stats_simd.h): the order-preserving key
// of each value (quantiles.cc OrderedKey: -0.0 as +0.0, negatives
// complemented, positives with the top bit set), its top bits compared
// with every open prefix.

typedef unsigned long long BinU __attribute__((vector_size(8 * kBinWidth)));

MM_INLINE bool AnyLane(BinM m) {
#ifdef __AVX2__
  return _mm256_movemask_pd(reinterpret_cast<__m256d>(m)) != 0;
#else
  return _mm_movemask_pd(reinterpret_cast<__m128d>(m)) != 0;
#endif
}

// quantiles.cc's OrderedKey, again: this file includes no header of the
// analyses (nothing compiled for AVX2 may leak into the baseline program).
MM_INLINE uint64_t KeyOf(double x) {
  if (x == 0) x = 0.0;
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
}

// KeyOf of each lane (NaN lanes: meaningless).
MM_INLINE BinU VectorKey(BinD v) {
  BinU bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= ~reinterpret_cast<BinU>(v == BinD{});  // -0.0 as +0.0
  const BinU neg = reinterpret_cast<BinU>(reinterpret_cast<BinM>(bits) >> 63);
  return bits ^ (neg | (BinU{} + (uint64_t{1} << 63)));
}

#ifdef __AVX512F__
// The AVX-512 copy: eight keys at a time with 512-bit integer operations,
// the kept ones packed with vpcompress into a register and stored whole
// (count <= i, so the store stays inside the room for n; a compress
// straight to memory is microcode on some CPUs), the last partial vector
// masked (ForEight).

// VectorKey of eight lanes: v + 0.0 turns -0.0 into +0.0 and leaves every
// other number as it is, then bits ^ (neg | top) is one vpternlogq.
MM_INLINE __m512i VectorKey8(__m512d v) {
  const __m512i bits = _mm512_castpd_si512(_mm512_add_pd(v, _mm512_setzero_pd()));
  const __m512i top = _mm512_set1_epi64(static_cast<long long>(uint64_t{1} << 63));
  return _mm512_ternarylogic_epi64(bits, _mm512_srai_epi64(bits, 63), top, 0x1e);
}

// Stores the first `count` lanes of `packed` at `at`: all of them when the
// vector was full (count <= i keeps them inside the room for n).
MM_INLINE void StorePacked(uint64_t* at, __m512i packed, __mmask8 live, int64_t count) {
  if (live == 0xff) return _mm512_storeu_si512(at, packed);
  _mm512_mask_storeu_epi64(at, static_cast<__mmask8>((1u << count) - 1), packed);
}
MM_INLINE void StorePacked(uint32_t* at, __m256i packed, __mmask8 live, int64_t count) {
  if (live == 0xff) return _mm256_storeu_si256(reinterpret_cast<__m256i*>(at), packed);
  _mm256_mask_storeu_epi32(at, static_cast<__mmask8>((1u << count) - 1), packed);
}

uint64_t KeyBits(const double* x, uint64_t n, int shift, uint64_t* out) {
  const __m128i by = _mm_cvtsi32_si128(shift);
  uint64_t count = 0;
  ForEight(
      n, [&](uint64_t i, __mmask8 live) __attribute__((always_inline)) {
        const __m512d v = _mm512_maskz_loadu_pd(live, x + i);
        const __mmask8 ok = _mm512_mask_cmp_pd_mask(live, v, v, _CMP_ORD_Q);
        const __m512i kept = _mm512_maskz_compress_epi64(ok, _mm512_srl_epi64(VectorKey8(v), by));
        StorePacked(out + count, kept, live, CountOf(ok));
        count += static_cast<uint64_t>(CountOf(ok));
      });
  return count;
}

uint64_t KeyMatches(const double* x, uint64_t n, int shift, const uint64_t* prefix,
                    uint64_t prefixes, uint32_t* hit) {
  const __m128i by = _mm_cvtsi32_si128(shift);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  uint64_t count = 0;
  ForEight(
      n, [&](uint64_t i, __mmask8 live) __attribute__((always_inline)) {
        const __m512d v = _mm512_maskz_loadu_pd(live, x + i);
        const __m512i pre = _mm512_srl_epi64(VectorKey8(v), by);
        __mmask8 match = 0;
        for (uint64_t p = 0; p < prefixes; ++p)
          match |=
              _mm512_cmpeq_epi64_mask(pre, _mm512_set1_epi64(static_cast<long long>(prefix[p])));
        match = _mm512_mask_cmp_pd_mask(match & live, v, v, _CMP_ORD_Q);  // NaN: no key
        if (match == 0) return;
        const __m256i index = _mm256_add_epi32(lanes, _mm256_set1_epi32(static_cast<int>(i)));
        StorePacked(hit + count, _mm256_maskz_compress_epi32(match, index), live, CountOf(match));
        count += static_cast<uint64_t>(CountOf(match));
      });
  return count;
}
#else
uint64_t KeyBits(const double* x, uint64_t n, int shift, uint64_t* out) {
  uint64_t count = 0, i = 0;
  for (; i + kBinWidth <= n; i += kBinWidth) {
    BinD v;
    std::memcpy(&v, x + i, sizeof v);
    const BinU key = VectorKey(v) >> shift;
    const BinM ok = v == v;
    if (AllLanes(ok)) {
      std::memcpy(out + count, &key, sizeof key);
      count += kBinWidth;
      continue;
    }
    for (int k = 0; k < kBinWidth; ++k)
      if (ok[k]) out[count++] = key[k];
  }
  for (; i < n; ++i)
    if (x[i] == x[i]) out[count++] = KeyOf(x[i]) >> shift;
  return count;
}

uint64_t KeyMatches(const double* x, uint64_t n, int shift, const uint64_t* prefix,
                    uint64_t prefixes, uint32_t* hit) {
  uint64_t count = 0, i = 0;
  for (; i + kBinWidth <= n; i += kBinWidth) {
    BinD v;
    std::memcpy(&v, x + i, sizeof v);
    const BinU pre = VectorKey(v) >> shift;
    BinM match = BinM{};
    for (uint64_t p = 0; p < prefixes; ++p) match |= reinterpret_cast<BinM>(pre == prefix[p]);
    match &= v == v;  // NaN: no key
    if (!AnyLane(match)) continue;
    for (int k = 0; k < kBinWidth; ++k)
      if (match[k]) hit[count++] = static_cast<uint32_t>(i + static_cast<uint64_t>(k));
  }
  for (; i < n; ++i) {
    if (x[i] != x[i]) continue;
    const uint64_t pre = KeyOf(x[i]) >> shift;
    for (uint64_t p = 0; p < prefixes; ++p) {
      if (pre == prefix[p]) {
        hit[count++] = static_cast<uint32_t>(i);
        break;
      }
    }
  }
  return count;
}
#endif

// ---------------------------------------------------------------------------
// Tiles of doubles for the kernels that take doubles (histogram, quantiles,
// cov). Widening is exact, and every column sum adds in row order, so all
// three copies give the same bits as the scalar loops they replace.

// Whether no lane of d is NaN.
MM_INLINE bool AllNumbers(v4d d) {
  const v4i ok = d == d;
  return (ok[0] & ok[1] & ok[2] & ok[3]) != 0;
}

bool WidenF32(const char* p, uint64_t n, double* out) {
  const float* f = reinterpret_cast<const float*>(p);
  uint64_t i = 0;
  bool nan = false;
#ifdef __AVX512F__
  __mmask8 unordered = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 a = _mm256_loadu_ps(f + i), b = _mm256_loadu_ps(f + i + 8);
    unordered |= _mm256_cmp_ps_mask(a, b, _CMP_UNORD_Q);
    _mm512_storeu_pd(out + i, Widen(a));
    _mm512_storeu_pd(out + i + 8, Widen(b));
  }
  nan = unordered != 0;
#endif
  for (; i + 4 <= n; i += 4) {
    const v4d d = Load4(f + i);
    nan = nan || !AllNumbers(d);
    std::memcpy(out + i, &d, sizeof d);
  }
  for (; i < n; ++i) {
    out[i] = Load1(f + i);
    nan = nan || out[i] != out[i];
  }
  return nan;
}

// The bits u of a 64-bit integer (two's complement when kSigned) as the
// double static_cast gives (round to nearest, ties to even), without a
// 64-bit integer conversion, which x86-64 has in vectors only from
// AVX-512DQ: u (plus 2^63 when signed, so that it counts up from the least
// value) is hi * 2^32 + lo with two 32-bit halves. Each half goes into the
// low mantissa bits of a double, 2^84 + hi * 2^32 and 2^52 + lo, both
// exact; subtracting 2^84 + 2^52 (+ 2^63) from the first is exact too (the
// difference is a multiple of 2^32 below 2^65), and adding the second then
// rounds the exact sum hi * 2^32 (- 2^63) + lo once, as the conversion
// does. Integer and/or/shift and double add/sub: each copy's compiler
// vectorizes it at -O3 (the release build), and every copy gives the same
// bits (nothing to contract, nothing reassociated).
template <bool kSigned>
MM_INLINE double Int64BitsToDouble(uint64_t u) {
  if constexpr (kSigned) u ^= uint64_t{1} << 63;
  const double hi = __builtin_bit_cast(double, (u >> 32) | 0x4530000000000000ULL);
  const double lo = __builtin_bit_cast(double, (u & 0xffffffffULL) | 0x4330000000000000ULL);
  constexpr double kBias = kSigned ? 0x1.00000801p84 : 0x1.00000001p84;
  return (hi - kBias) + lo;
}

// Widen's loop for one element type: T the value, U the unsigned integer
// of its size (loaded, byte-swapped when kSwap, then reinterpreted as T).
// Plain code: each copy's compiler vectorizes it for its instruction set
// (at -O3), and every conversion is exact or (64-bit integers) rounded
// once, so all copies give the same doubles.
template <class T, class U, bool kSwap>
MM_INLINE void WidenLoop(const char* p, uint64_t n, double* out) {
  for (uint64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, p + i * sizeof(U), sizeof u);
    if constexpr (kSwap && sizeof(U) == 2) u = __builtin_bswap16(u);
    if constexpr (kSwap && sizeof(U) == 4) u = __builtin_bswap32(u);
    if constexpr (kSwap && sizeof(U) == 8) u = __builtin_bswap64(u);
    if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, uint64_t>) {
      out[i] = Int64BitsToDouble<std::is_same_v<T, int64_t>>(u);
    } else {
      out[i] = static_cast<double>(__builtin_bit_cast(T, u));
    }
  }
}

template <bool kSwap>
MM_INLINE void WidenSwapped(WidenFrom from, const char* p, uint64_t n, double* out) {
  switch (from) {
    case WidenFrom::kInt8:
      return WidenLoop<int8_t, uint8_t, false>(p, n, out);
    case WidenFrom::kUInt8:
      return WidenLoop<uint8_t, uint8_t, false>(p, n, out);
    case WidenFrom::kInt16:
      return WidenLoop<int16_t, uint16_t, kSwap>(p, n, out);
    case WidenFrom::kUInt16:
      return WidenLoop<uint16_t, uint16_t, kSwap>(p, n, out);
    case WidenFrom::kInt32:
      return WidenLoop<int32_t, uint32_t, kSwap>(p, n, out);
    case WidenFrom::kUInt32:
      return WidenLoop<uint32_t, uint32_t, kSwap>(p, n, out);
    case WidenFrom::kInt64:
      return WidenLoop<int64_t, uint64_t, kSwap>(p, n, out);
    case WidenFrom::kUInt64:
      return WidenLoop<uint64_t, uint64_t, kSwap>(p, n, out);
    case WidenFrom::kFloat32:
      return WidenLoop<float, uint32_t, kSwap>(p, n, out);
    case WidenFrom::kFloat64:
      return WidenLoop<double, uint64_t, kSwap>(p, n, out);
  }
}

void Widen(WidenFrom from, bool swap, const char* p, uint64_t n, double* out) {
  if (swap) {
    WidenSwapped<true>(from, p, n, out);
  } else {
    WidenSwapped<false>(from, p, n, out);
  }
}

// ColumnSums for kVecs groups of four columns and kRest more from column
// v0: every accumulator in a register, one row at a time.
template <int kVecs, int kRest>
MM_INLINE void ColumnSumsBand(const double* x, uint64_t rows, uint64_t k, uint64_t v0,
                              double* sum) {
  v4d a[kVecs > 0 ? kVecs : 1];
  double r[kRest > 0 ? kRest : 1];
  for (int c = 0; c < kVecs; ++c) a[c] = Load4(sum + v0 + 4 * c);
  for (int j = 0; j < kRest; ++j) r[j] = sum[v0 + 4 * kVecs + j];
  for (uint64_t o = 0; o < rows; ++o) {
    const double* row = x + o * k + v0;
    for (int c = 0; c < kVecs; ++c) a[c] += Load4(row + 4 * c);
    for (int j = 0; j < kRest; ++j) r[j] += row[4 * kVecs + j];
  }
  for (int c = 0; c < kVecs; ++c) std::memcpy(sum + v0 + 4 * c, &a[c], sizeof a[c]);
  for (int j = 0; j < kRest; ++j) sum[v0 + 4 * kVecs + j] = r[j];
}

void ColumnSums(const double* x, uint64_t rows, uint64_t k, double* sum) {
  typedef void (*Band)(const double*, uint64_t, uint64_t, uint64_t, double*);
  // Bands of up to 16 columns: [groups of four][columns left over].
  static constexpr Band kBands[5][4] = {
      {nullptr, ColumnSumsBand<0, 1>, ColumnSumsBand<0, 2>, ColumnSumsBand<0, 3>},
      {ColumnSumsBand<1, 0>, ColumnSumsBand<1, 1>, ColumnSumsBand<1, 2>, ColumnSumsBand<1, 3>},
      {ColumnSumsBand<2, 0>, ColumnSumsBand<2, 1>, ColumnSumsBand<2, 2>, ColumnSumsBand<2, 3>},
      {ColumnSumsBand<3, 0>, ColumnSumsBand<3, 1>, ColumnSumsBand<3, 2>, ColumnSumsBand<3, 3>},
      {ColumnSumsBand<4, 0>, nullptr, nullptr, nullptr}};
  for (uint64_t v0 = 0; v0 < k; v0 += 16) {
    const uint64_t w = k - v0 < 16 ? k - v0 : 16;
    kBands[w / 4][w % 4](x, rows, k, v0, sum);
  }
}

// SubtractColumns for kVecs groups of four columns and kRest more from
// column v0, the means and the deviations' sums in registers.
template <int kVecs, int kRest>
MM_INLINE void SubtractColumnsBand(double* x, uint64_t rows, uint64_t k, uint64_t v0,
                                   const double* mean, double* sum) {
  v4d m[kVecs > 0 ? kVecs : 1], a[kVecs > 0 ? kVecs : 1];
  double r[kRest > 0 ? kRest : 1], b[kRest > 0 ? kRest : 1];
  for (int c = 0; c < kVecs; ++c) m[c] = Load4(mean + v0 + 4 * c), a[c] = Load4(sum + v0 + 4 * c);
  for (int j = 0; j < kRest; ++j) r[j] = mean[v0 + 4 * kVecs + j], b[j] = sum[v0 + 4 * kVecs + j];
  for (uint64_t o = 0; o < rows; ++o) {
    double* row = x + o * k + v0;
    for (int c = 0; c < kVecs; ++c) {
      const v4d d = Load4(row + 4 * c) - m[c];
      a[c] += d;
      std::memcpy(row + 4 * c, &d, sizeof d);
    }
    for (int j = 0; j < kRest; ++j) {
      const double d = row[4 * kVecs + j] - r[j];
      b[j] += d;
      row[4 * kVecs + j] = d;
    }
  }
  for (int c = 0; c < kVecs; ++c) std::memcpy(sum + v0 + 4 * c, &a[c], sizeof a[c]);
  for (int j = 0; j < kRest; ++j) sum[v0 + 4 * kVecs + j] = b[j];
}

void SubtractColumns(double* x, uint64_t rows, uint64_t k, const double* mean, double* sum) {
  typedef void (*Band)(double*, uint64_t, uint64_t, uint64_t, const double*, double*);
  static constexpr Band kBands[5][4] = {
      {nullptr, SubtractColumnsBand<0, 1>, SubtractColumnsBand<0, 2>, SubtractColumnsBand<0, 3>},
      {SubtractColumnsBand<1, 0>, SubtractColumnsBand<1, 1>, SubtractColumnsBand<1, 2>,
       SubtractColumnsBand<1, 3>},
      {SubtractColumnsBand<2, 0>, SubtractColumnsBand<2, 1>, SubtractColumnsBand<2, 2>,
       SubtractColumnsBand<2, 3>},
      {SubtractColumnsBand<3, 0>, SubtractColumnsBand<3, 1>, SubtractColumnsBand<3, 2>,
       SubtractColumnsBand<3, 3>},
      {SubtractColumnsBand<4, 0>, nullptr, nullptr, nullptr}};
  for (uint64_t v0 = 0; v0 < k; v0 += 16) {
    const uint64_t w = k - v0 < 16 ? k - v0 : 16;
    kBands[w / 4][w % 4](x, rows, k, v0, mean, sum);
  }
}

}  // namespace

#undef MM_INLINE

const KernelTable kTable = {ReduceF32,  ReduceF64,      DeviationF32, DeviationF64, TileF32,
                            TileF64,    TileDevF32,     TileDevF64,   FusedF32,     FusedTileF32,
                            BinSlots,   ResolveExact,   BinSlotsF32,  BinPairs,     BinPairsF32,
                            CoMoments,  KeyMatches,     KeyBits,      WidenF32,     Widen,
                            ColumnSums, SubtractColumns};

}  // namespace MM_SIMD_NS
}  // namespace simd
}  // namespace mm
