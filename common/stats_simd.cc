#include "common/stats_simd.h"

// The vector helpers below are internal (always inlined); their ABI is moot.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <cstring>
#include <limits>

namespace mm {
namespace simd {

namespace {

typedef double v4d __attribute__((vector_size(32)));
typedef long long v4i __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));

__attribute__((always_inline)) inline v4d Load4(const float* p) {
  v4f f;
  std::memcpy(&f, p, sizeof f);
  return __builtin_convertvector(f, v4d);
}
__attribute__((always_inline)) inline v4d Load4(const double* p) {
  v4d d;
  std::memcpy(&d, p, sizeof d);
  return d;
}
__attribute__((always_inline)) inline double Load1(const float* p) {
  float f;
  std::memcpy(&f, p, sizeof f);
  return f;
}
__attribute__((always_inline)) inline double Load1(const double* p) {
  double d;
  std::memcpy(&d, p, sizeof d);
  return d;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// Eight accumulators as two vectors: element i goes to accumulator i % 8.
template <class T>
__attribute__((always_inline)) inline RunSums Reduce(const char* bytes, uint64_t n) {
  const T* p = reinterpret_cast<const T*>(bytes);
  v4d s0 = {0, 0, 0, 0}, s1 = s0;
  v4d lo0 = {kInf, kInf, kInf, kInf}, lo1 = lo0, hi0 = -lo0, hi1 = -lo0;
  v4i c0 = {0, 0, 0, 0}, c1 = c0;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v4d x0 = Load4(p + i), x1 = Load4(p + i + 4);
    const v4i ok0 = x0 == x0, ok1 = x1 == x1;
    s0 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(x0) & ok0);
    s1 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(x1) & ok1);
    c0 -= ok0;
    c1 -= ok1;
    lo0 = x0 < lo0 ? x0 : lo0;
    lo1 = x1 < lo1 ? x1 : lo1;
    hi0 = x0 > hi0 ? x0 : hi0;
    hi1 = x1 > hi1 ? x1 : hi1;
  }
  double sum[8], mn[8], mx[8];
  int64_t cnt[8];
  for (int j = 0; j < 4; ++j) {
    sum[j] = s0[j], sum[j + 4] = s1[j];
    mn[j] = lo0[j], mn[j + 4] = lo1[j];
    mx[j] = hi0[j], mx[j + 4] = hi1[j];
    cnt[j] = c0[j], cnt[j + 4] = c1[j];
  }
  for (int j = 0; i < n; ++i, ++j) {
    const double x = Load1(p + i);
    const bool ok = x == x;
    sum[j] += ok ? x : 0.0;
    cnt[j] += ok;
    mn[j] = x < mn[j] ? x : mn[j];
    mx[j] = x > mx[j] ? x : mx[j];
  }
  RunSums r;
  r.sum = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
  r.min = kInf;
  r.max = -kInf;
  for (int j = 0; j < 8; ++j) {
    r.n += cnt[j];
    r.min = mn[j] < r.min ? mn[j] : r.min;
    r.max = mx[j] > r.max ? mx[j] : r.max;
  }
  return r;
}

template <class T>
__attribute__((always_inline)) inline double Deviation(const char* bytes, uint64_t n, double mean) {
  const T* p = reinterpret_cast<const T*>(bytes);
  const v4d m = {mean, mean, mean, mean};
  v4d a0 = {0, 0, 0, 0}, a1 = a0;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v4d d0 = Load4(p + i) - m, d1 = Load4(p + i + 4) - m;
    const v4d q0 = d0 * d0, q1 = d1 * d1;
    a0 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(q0) & (d0 == d0));
    a1 += reinterpret_cast<v4d>(reinterpret_cast<v4i>(q1) & (d1 == d1));
  }
  double m2[8];
  for (int j = 0; j < 4; ++j) m2[j] = a0[j], m2[j + 4] = a1[j];
  for (int j = 0; i < n; ++i, ++j) {
    const double d = Load1(p + i) - mean;
    m2[j] += d == d ? d * d : 0.0;
  }
  return ((m2[0] + m2[1]) + (m2[2] + m2[3])) + ((m2[4] + m2[5]) + (m2[6] + m2[7]));
}

template <class T>
__attribute__((always_inline)) inline void Tile(const char* bytes, uint64_t rows, uint64_t len, double* sum,
                                                int64_t* cnt, int64_t* nan, double* mn, double* mx) {
  const T* p = reinterpret_cast<const T*>(bytes);
  for (uint64_t r = 0; r < rows; ++r, p += len) {
    uint64_t i = 0;
    for (; i + 4 <= len; i += 4) {  // four lanes at a time; each lane's sequence is unchanged
      const v4d x = Load4(p + i);
      const v4i ok = x == x;
      v4d s, lo, hi;
      v4i c, q;
      std::memcpy(&s, sum + i, sizeof s);
      std::memcpy(&lo, mn + i, sizeof lo);
      std::memcpy(&hi, mx + i, sizeof hi);
      std::memcpy(&c, cnt + i, sizeof c);
      std::memcpy(&q, nan + i, sizeof q);
      s += reinterpret_cast<v4d>(reinterpret_cast<v4i>(x) & ok);
      c -= ok;
      q -= ~ok;
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
      std::memcpy(sum + i, &s, sizeof s);
      std::memcpy(mn + i, &lo, sizeof lo);
      std::memcpy(mx + i, &hi, sizeof hi);
      std::memcpy(cnt + i, &c, sizeof c);
      std::memcpy(nan + i, &q, sizeof q);
    }
    for (; i < len; ++i) {
      const double x = Load1(p + i);
      const bool ok = x == x;
      sum[i] += ok ? x : 0.0;
      cnt[i] += ok;
      nan[i] += !ok;
      mn[i] = x < mn[i] ? x : mn[i];
      mx[i] = x > mx[i] ? x : mx[i];
    }
  }
}

template <class T>
__attribute__((always_inline)) inline void TileDev(const char* bytes, uint64_t rows, uint64_t len,
                                                   const double* mean, double* m2) {
  const T* p = reinterpret_cast<const T*>(bytes);
  for (uint64_t r = 0; r < rows; ++r, p += len) {
    uint64_t i = 0;
    for (; i + 4 <= len; i += 4) {
      v4d m, a;
      std::memcpy(&m, mean + i, sizeof m);
      std::memcpy(&a, m2 + i, sizeof a);
      const v4d d = Load4(p + i) - m;
      a += reinterpret_cast<v4d>(reinterpret_cast<v4i>(d * d) & (d == d));
      std::memcpy(m2 + i, &a, sizeof a);
    }
    for (; i < len; ++i) {
      const double d = Load1(p + i) - mean[i];
      m2[i] += d == d ? d * d : 0.0;
    }
  }
}

// Short rows whose length is not a multiple of 4 (e.g. 10 columns): G rows
// at a time form W = G * len "virtual lanes", a multiple of 4, so every
// vector is full; virtual lane v + k*len folds into lane v at the end of
// the tile, in a fixed order (k ascending). Leftover rows go through Tile.
constexpr uint64_t kMaxVirtualLanes = 256;

inline uint64_t GroupRows(uint64_t len) { return len % 4 == 0 ? 1 : (len % 2 == 0 ? 2 : 4); }

template <class T>
__attribute__((always_inline)) inline void TileGrouped(const char* bytes, uint64_t rows, uint64_t len, double* sum,
                                                       int64_t* cnt, int64_t* nan, double* mn, double* mx) {
  const uint64_t g = GroupRows(len), w = g * len;
  if (g == 1 || w > kMaxVirtualLanes || rows < 2 * g) return Tile<T>(bytes, rows, len, sum, cnt, nan, mn, mx);
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

template <class T>
__attribute__((always_inline)) inline void TileDevGrouped(const char* bytes, uint64_t rows, uint64_t len,
                                                          const double* mean, double* m2) {
  const uint64_t g = GroupRows(len), w = g * len;
  if (g == 1 || w > kMaxVirtualLanes || rows < 2 * g) return TileDev<T>(bytes, rows, len, mean, m2);
  double vmean[kMaxVirtualLanes], vm2[kMaxVirtualLanes];
  for (uint64_t v = 0; v < w; ++v) vmean[v] = mean[v % len], vm2[v] = 0;
  const uint64_t groups = rows / g;
  TileDev<T>(bytes, groups, w, vmean, vm2);
  for (uint64_t i = 0; i < len; ++i) {
    double a = vm2[i];
    for (uint64_t k = 1; k < g; ++k) a += vm2[i + k * len];
    m2[i] += a;
  }
  TileDev<T>(bytes + groups * w * sizeof(T), rows - groups * g, len, mean, m2);
}

}  // namespace

#define MM_CLONES __attribute__((target_clones("avx2", "default")))

MM_CLONES RunSums ReduceF32(const char* p, uint64_t n) { return Reduce<float>(p, n); }
MM_CLONES RunSums ReduceF64(const char* p, uint64_t n) { return Reduce<double>(p, n); }
MM_CLONES double DeviationF32(const char* p, uint64_t n, double mean) { return Deviation<float>(p, n, mean); }
MM_CLONES double DeviationF64(const char* p, uint64_t n, double mean) { return Deviation<double>(p, n, mean); }
MM_CLONES void TileF32(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
                       double* mn, double* mx) {
  TileGrouped<float>(p, rows, len, sum, cnt, nan, mn, mx);
}
MM_CLONES void TileF64(const char* p, uint64_t rows, uint64_t len, double* sum, int64_t* cnt, int64_t* nan,
                       double* mn, double* mx) {
  TileGrouped<double>(p, rows, len, sum, cnt, nan, mn, mx);
}
MM_CLONES void TileDevF32(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2) {
  TileDevGrouped<float>(p, rows, len, mean, m2);
}
MM_CLONES void TileDevF64(const char* p, uint64_t rows, uint64_t len, const double* mean, double* m2) {
  TileDevGrouped<double>(p, rows, len, mean, m2);
}

}  // namespace simd
}  // namespace mm
