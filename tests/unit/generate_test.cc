// StandardNormal (analysis/generate.h): mmrun's own log and cos against
// long double libm, and fixed points of the quarter turns.
#include "analysis/generate.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>

namespace {

// The exact deviate in long double (64-bit significand: 2^11 finer than
// double, so its own error does not count here).
long double Reference(double u1, double u2) {
  const long double kTwoPi = 6.283185307179586476925286766559005768L;
  return std::sqrt(-2.0L * std::log(static_cast<long double>(u1))) *
         std::cos(kTwoPi * static_cast<long double>(u2));
}

// Uniforms as the generator makes them: multiples of 2^-53.
double Unit(uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }

}  // namespace

TEST_CASE("StandardNormal: within a few ulp of the exact deviate", "[generate]") {
  std::mt19937_64 rng(12345);
  double worst_abs = 0, worst_rel = 0;
  for (int i = 0; i < 2000000; ++i) {
    const double u1 = 1.0 - Unit(rng()), u2 = Unit(rng());
    const double got = mm::StandardNormal(u1, u2);
    const long double want = Reference(u1, u2);
    const double r = std::sqrt(-2.0 * std::log(u1));  // the radius: the scale of the error
    const double err = static_cast<double>(std::fabs(static_cast<long double>(got) - want));
    worst_abs = std::max(worst_abs, err / std::max(r, 1.0));
    if (std::fabs(static_cast<double>(want)) > 0.25 * r)
      worst_rel = std::max(worst_rel, err / std::fabs(static_cast<double>(want)));
  }
  INFO("worst error over the radius " << worst_abs << ", worst relative " << worst_rel);
  CHECK(worst_abs < 1e-15);
  CHECK(worst_rel < 2e-15);
}

TEST_CASE("StandardNormal: edges of the uniforms", "[generate]") {
  // u1 = 1: radius 0. The smallest u1 (2^-53): the largest radius.
  CHECK(mm::StandardNormal(1.0, 0.3) == 0.0);
  const double r_max = std::sqrt(-2.0 * std::log(0x1.0p-53));
  CHECK(std::fabs(mm::StandardNormal(0x1.0p-53, 0.0) - r_max) < 1e-14);
  // Quarter turns are exact: cos 0 = 1, cos pi/2 = 0, cos pi = -1, cos 3pi/2 = 0.
  const double u1 = std::exp(-0.5);  // radius 1
  const double r = std::sqrt(-2.0 * std::log(u1));
  CHECK(mm::StandardNormal(u1, 0.0) == r * 1.0);
  CHECK(mm::StandardNormal(u1, 0.25) == 0.0);
  CHECK(mm::StandardNormal(u1, 0.5) == -r);
  CHECK(mm::StandardNormal(u1, 0.75) == 0.0);
  // Every uniform just below 1 and around the folds stays finite and in [-r, r].
  for (double u2 : {0.125, 0.375, 0.625, 0.875, 1.0 - 0x1.0p-53, 0x1.0p-53}) {
    const double v = mm::StandardNormal(u1, u2);
    CHECK(std::isfinite(v));
    CHECK(std::fabs(v) <= r * (1 + 1e-15));
  }
}
