// The element types mmrun reads and writes, listed once.
//
// MM_DTYPE_LIST expands into the Kind enum, the names, the sizes and the
// typed dispatch (VisitKind). A DType is a Kind plus a byte order; data in the
// non-native order is swapped on load and store, so big-endian files are read
// correctly on any machine. float16 is stored as its 16 bits and converted
// to and from double here. Complex, datetime, string and object dtypes are
// not supported: parsing them gives an error naming the spelling.
//
// Thread-safety: pure functions and values.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/status.h"

namespace mm {

// X(Kind, storage type, numpy kind char, itemsize, canonical name)
#define MM_DTYPE_LIST(X)                   \
  X(kBool, uint8_t, 'b', 1, "bool")        \
  X(kInt8, int8_t, 'i', 1, "int8")         \
  X(kUInt8, uint8_t, 'u', 1, "uint8")      \
  X(kInt16, int16_t, 'i', 2, "int16")      \
  X(kUInt16, uint16_t, 'u', 2, "uint16")   \
  X(kInt32, int32_t, 'i', 4, "int32")      \
  X(kUInt32, uint32_t, 'u', 4, "uint32")   \
  X(kInt64, int64_t, 'i', 8, "int64")      \
  X(kUInt64, uint64_t, 'u', 8, "uint64")   \
  X(kFloat16, uint16_t, 'f', 2, "float16") \
  X(kFloat32, float, 'f', 4, "float32")    \
  X(kFloat64, double, 'f', 8, "float64")

enum class Kind : uint8_t {
#define MM_X(kind, storage, ch, size, name) kind,
  MM_DTYPE_LIST(MM_X)
#undef MM_X
};

struct DType {
  Kind kind = Kind::kFloat64;
  bool big_endian = false;  // meaningful only when itemsize() > 1

  int itemsize() const;
  char kind_char() const;     // numpy's: 'b', 'i', 'u', 'f'
  const char* name() const;   // "float32"
  std::string descr() const;  // numpy's descr: "<f4", ">i2", "|u1", "|b1"
  bool is_bool() const { return kind == Kind::kBool; }
  bool is_float() const { return kind_char() == 'f'; }
  bool is_signed() const { return kind_char() == 'i'; }
  bool is_integer() const { return kind_char() == 'i' || kind_char() == 'u'; }
  // True when loading needs a byte swap on this machine.
  bool needs_swap() const;
  bool operator==(const DType& o) const {
    return kind == o.kind && (itemsize() == 1 || big_endian == o.big_endian);
  }
  bool operator!=(const DType& o) const { return !(*this == o); }
};

// Parses numpy spellings: "float32", "f4", "<f4", ">f8", "=i2", "|u1",
// "int16", "bool", "?", "b1", "float16", "half", "single", "double", "float",
// "int", "uint", and the one-letter type codes (b B h H i I l L q Q e f d ?).
// An unsupported or unknown spelling is kConfig naming it.
Result<DType> ParseDType(const std::string& spelling);

// float16 bits <-> double (round to nearest even on the way in).
double HalfToDouble(uint16_t h);
uint16_t DoubleToHalf(double d);

bool HostIsBigEndian();

template <class T>
inline T ByteSwap(T v) {
  static_assert(std::is_trivially_copyable<T>::value, "");
  if constexpr (sizeof(T) == 1) {
    return v;
  } else {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    for (size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    std::memcpy(&v, b, sizeof(T));
    return v;
  }
}

// Compile-time facts of one Kind, for kernels templated over the element.
template <Kind K>
struct KindTraits;
#define MM_X(kind_, storage, ch, size, name_)                    \
  template <>                                                    \
  struct KindTraits<Kind::kind_> {                               \
    using Storage = storage;                                     \
    static constexpr Kind kKind = Kind::kind_;                   \
    static constexpr char kChar = ch;                            \
    static constexpr bool kIsFloat = (ch == 'f');                \
    static constexpr bool kIsBool = (ch == 'b');                 \
    static constexpr bool kIsInteger = (ch == 'i' || ch == 'u'); \
    static constexpr bool kIsSigned = (ch == 'i');               \
  };
MM_DTYPE_LIST(MM_X)
#undef MM_X

// Calls f(KindTraits<K>{}) for the runtime kind k; returns what f returns.
template <class F>
decltype(auto) VisitKind(Kind k, F&& f) {
  switch (k) {
#define MM_X(kind_, storage, ch, size, name_) \
  case Kind::kind_:                           \
    return f(KindTraits<Kind::kind_>{});
    MM_DTYPE_LIST(MM_X)
#undef MM_X
  }
  return f(KindTraits<Kind::kFloat64>{});
}

// Calls f(KindTraits<K>{}, std::bool_constant<swap>{}) for the runtime
// dtype `dt`: its kind, and whether its byte order differs from the
// machine's (the typed kernels take both as template arguments).
template <class F>
decltype(auto) VisitDType(const DType& dt, F&& f) {
  return VisitKind(dt.kind, [&](auto traits) {
    if (dt.needs_swap()) return f(traits, std::true_type{});
    return f(traits, std::false_type{});
  });
}

// Loads element i of a buffer of Traits::Storage, swapping when asked.
// Floats (float16 included) come back as double, integers and bool as their
// storage type (bool as 0/1).
template <class Traits, bool kSwap>
inline auto LoadElement(const char* p) {
  using S = typename Traits::Storage;
  S v;
  std::memcpy(&v, p, sizeof(S));
  if constexpr (kSwap) v = ByteSwap(v);
  if constexpr (Traits::kKind == Kind::kFloat16) {
    return HalfToDouble(v);
  } else if constexpr (Traits::kIsFloat) {
    return static_cast<double>(v);
  } else if constexpr (Traits::kIsBool) {
    return static_cast<uint8_t>(v != 0);
  } else {
    return v;
  }
}

// n consecutive elements from p as doubles into out (the tiles the vector
// kernels of histogram, quantiles and cov take).
template <class Traits, bool kSwap>
inline void LoadDoubles(const char* p, uint64_t n, double* out) {
  using S = typename Traits::Storage;
  for (uint64_t i = 0; i < n; ++i)
    out[i] = static_cast<double>(LoadElement<Traits, kSwap>(p + i * sizeof(S)));
}

}  // namespace mm
