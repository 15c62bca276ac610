// numpy's casting rules between the dtypes mmrun supports, and the cast of
// one element (used by `convert`).
//
// CanCast answers numpy.can_cast(from, to, casting) for casting "safe",
// "same_kind" and "unsafe"; byte order never matters for these three (a
// byte swap is always safe). tests/unit/casting_test.cc holds numpy 1.24's
// table for every pair and checks it.
//
// CastElement converts one value as numpy's astype does: integers wrap
// modulo 2^bits, floats round to nearest, float16 through mm::DoubleToHalf,
// bool is "!= 0" (NaN is True), float to integer truncates toward zero. For
// a float that is NaN or out of the target's range after truncation numpy's
// result is undefined (platform-dependent); mmrun gives 0 for NaN and
// saturates at the target's limits otherwise (docs/CHOICES.md).
//
// Thread-safety: pure functions.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/status.h"

namespace mm {

enum class Casting { kSafe, kSameKind, kUnsafe };

// "safe", "same_kind", "unsafe"; anything else is kConfig ("unknown
// casting 'x'; known: safe, same_kind, unsafe").
Result<Casting> ParseCasting(const std::string& name);
const char* CastingName(Casting c);

bool CanCast(DType from, DType to, Casting casting);

// The value of `In` (a loaded element: double for floats, the storage type
// for integers, uint8 0/1 for bool) as the storage of Out.
template <class OutTraits, class V>
inline typename OutTraits::Storage CastElement(V v) {
  using S = typename OutTraits::Storage;
  if constexpr (OutTraits::kIsBool) {
    return static_cast<S>(v != 0);
  } else if constexpr (OutTraits::kKind == Kind::kFloat16) {
    return DoubleToHalf(static_cast<double>(v));
  } else if constexpr (OutTraits::kIsFloat) {
    return static_cast<S>(v);  // integers round to nearest directly, not through double
  } else if constexpr (std::is_floating_point<V>::value) {
    if (std::isnan(v)) return 0;
    const double t = std::trunc(v);
    // Bounds exact in double: lowest is -2^digits (or 0), max + 1 is 2^digits.
    if (t < static_cast<double>(std::numeric_limits<S>::lowest()))
      return std::numeric_limits<S>::lowest();
    if (t >= std::ldexp(1.0, std::numeric_limits<S>::digits)) return std::numeric_limits<S>::max();
    return static_cast<S>(t);
  } else {
    return static_cast<S>(v);  // integer to integer: modulo 2^bits, as numpy
  }
}

}  // namespace mm
