#include "core/dtype.h"

#include <cmath>
#include <limits>
#include <map>

namespace mm {

namespace {

struct KindInfo {
  Kind kind;
  char ch;
  int size;
  const char* name;
};

const KindInfo kKinds[] = {
#define MM_X(kind_, storage, ch, size, name_) {Kind::kind_, ch, size, name_},
    MM_DTYPE_LIST(MM_X)
#undef MM_X
};

const KindInfo& Info(Kind k) { return kKinds[static_cast<int>(k)]; }

// Spellings without a byte-order prefix.
const std::map<std::string, Kind>& Spellings() {
  static const std::map<std::string, Kind> m = [] {
    std::map<std::string, Kind> s;
    for (const KindInfo& k : kKinds) {
      s[k.name] = k.kind;
      s[std::string(1, k.ch) + std::to_string(k.size)] = k.kind;
    }
    s["?"] = Kind::kBool;
    s["bool_"] = Kind::kBool;
    s["b"] = Kind::kInt8;
    s["byte"] = Kind::kInt8;
    s["B"] = Kind::kUInt8;
    s["ubyte"] = Kind::kUInt8;
    s["h"] = Kind::kInt16;
    s["short"] = Kind::kInt16;
    s["H"] = Kind::kUInt16;
    s["ushort"] = Kind::kUInt16;
    s["i"] = Kind::kInt32;
    s["intc"] = Kind::kInt32;
    s["I"] = Kind::kUInt32;
    s["uintc"] = Kind::kUInt32;
    s["l"] = Kind::kInt64;
    s["q"] = Kind::kInt64;
    s["int"] = Kind::kInt64;
    s["int_"] = Kind::kInt64;
    s["longlong"] = Kind::kInt64;
    s["L"] = Kind::kUInt64;
    s["Q"] = Kind::kUInt64;
    s["uint"] = Kind::kUInt64;
    s["ulonglong"] = Kind::kUInt64;
    s["e"] = Kind::kFloat16;
    s["half"] = Kind::kFloat16;
    s["f"] = Kind::kFloat32;
    s["single"] = Kind::kFloat32;
    s["d"] = Kind::kFloat64;
    s["double"] = Kind::kFloat64;
    s["float"] = Kind::kFloat64;
    s["float_"] = Kind::kFloat64;
    return s;
  }();
  return m;
}

}  // namespace

bool HostIsBigEndian() {
  const uint16_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 0;
}

int DType::itemsize() const { return Info(kind).size; }
char DType::kind_char() const { return Info(kind).ch; }
const char* DType::name() const { return Info(kind).name; }

std::string DType::descr() const {
  const int size = itemsize();
  const char order = size == 1 ? '|' : (big_endian ? '>' : '<');
  return std::string(1, order) + kind_char() + std::to_string(size);
}

bool DType::needs_swap() const { return itemsize() > 1 && big_endian != HostIsBigEndian(); }

Result<DType> ParseDType(const std::string& spelling) {
  std::string body = spelling;
  bool big = HostIsBigEndian();
  bool explicit_order = false;
  if (!body.empty() && (body[0] == '<' || body[0] == '>' || body[0] == '=' || body[0] == '|')) {
    explicit_order = body[0] == '<' || body[0] == '>';
    if (body[0] == '>') big = true;
    if (body[0] == '<') big = false;
    body = body.substr(1);
  }
  auto it = Spellings().find(body);
  if (it == Spellings().end()) {
    return Error(Code::kConfig, "unsupported dtype '" + spelling +
                                    "' (supported: bool, int8..int64, uint8..uint64, "
                                    "float16, float32, float64, in numpy spellings)");
  }
  DType d;
  d.kind = it->second;
  d.big_endian = d.itemsize() == 1 ? false : big;
  (void)explicit_order;
  return d;
}

double HalfToDouble(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);
  } else if (exp == 31) {
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else {
    v = std::ldexp(static_cast<double>(mant | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

uint16_t DoubleToHalf(double d) {
  // Round to nearest even via float16's value grid, as numpy's astype does.
  uint16_t sign = std::signbit(d) ? 0x8000 : 0;
  if (std::isnan(d)) {
    // Keep the top 10 payload bits, and stay a NaN, as numpy's npy_double_to_half.
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    uint16_t payload = static_cast<uint16_t>((bits & 0x000fffffffffffffULL) >> 42);
    if (payload == 0) payload = 1;
    return sign | 0x7c00 | payload;
  }
  double a = std::fabs(d);
  if (a >= 65520.0) return sign | 0x7c00;  // rounds to infinity
  if (a < std::ldexp(1.0, -14)) {
    // Subnormal: units of 2^-24.
    double units = std::nearbyint(std::ldexp(a, 24));  // default mode: nearest even
    return sign | static_cast<uint16_t>(units);
  }
  int e;
  double m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  // a = (1.f) * 2^(e-1); mantissa with 10 bits: units of 2^(e-11).
  double units = std::nearbyint(std::ldexp(a, 11 - e));  // in [1024, 2048]
  (void)m;
  int exp = e - 1 + 15;
  if (units >= 2048) {
    units /= 2;
    ++exp;
  }
  if (exp >= 31) return sign | 0x7c00;
  return sign | static_cast<uint16_t>(exp << 10) | (static_cast<uint16_t>(units) & 0x3ff);
}

}  // namespace mm
