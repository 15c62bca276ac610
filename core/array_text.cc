#include "core/array_text.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

namespace mm {

namespace {

constexpr int kLineWidth = 75;
constexpr int kPrecision = 8;          // digits after the point, at most
constexpr uint64_t kThreshold = 1000;  // more elements than this: elided
constexpr int64_t kEdgeItems = 3;

// Whether the decimal text `s` reads back as `v` in `kind`.
bool ReadsBack(const char* s, double v, Kind kind) {
  switch (kind) {
    case Kind::kFloat32:
      return std::strtof(s, nullptr) == static_cast<float>(v);
    case Kind::kFloat16:
      return DoubleToHalf(std::strtod(s, nullptr)) == DoubleToHalf(v);
    default:
      return std::strtod(s, nullptr) == v;
  }
}

// A finite non-negative value's decimal digits: value = 0.digits * 10^exp.
struct Decimal {
  std::string digits;  // no leading zero, no trailing zero; "0" for zero
  int exp = 0;
};

void TrimZeros(Decimal* d) {
  while (d->digits.size() > 1 && d->digits.back() == '0') d->digits.pop_back();
  if (d->digits == "0") d->exp = 0;
}

// printf's "%.Ne" of `v` (>= 0) as a Decimal.
Decimal FromScientific(const char* s) {
  Decimal d;
  const char* p = s;
  for (; *p != '\0' && *p != 'e'; ++p)
    if (*p >= '0' && *p <= '9') d.digits += *p;
  d.exp = (*p == 'e' ? std::atoi(p + 1) : 0) + 1;
  TrimZeros(&d);
  return d;
}

// `d` rounded correctly to `frac` digits after the point (positional), or
// to `frac` digits after the first (scientific), from v's exact value.
Decimal Rounded(double v, int frac, bool scientific) {
  char buf[400];
  if (scientific) {
    std::snprintf(buf, sizeof buf, "%.*e", frac, v);
    return FromScientific(buf);
  }
  std::snprintf(buf, sizeof buf, "%.*f", frac, v);
  Decimal d;
  int int_digits = 0;
  bool seen_point = false;
  for (const char* p = buf; *p != '\0'; ++p) {
    if (*p == '.') {
      seen_point = true;
    } else if (*p >= '0' && *p <= '9') {
      if (d.digits.empty() && *p == '0') {  // a leading zero
        if (seen_point) --int_digits;
        continue;
      }
      d.digits += *p;
      if (!seen_point) ++int_digits;
    }
  }
  if (d.digits.empty()) return Decimal{"0", 0};
  d.exp = int_digits;
  TrimZeros(&d);
  return d;
}

// The digits in [from, to) of the expansion 0.digits000... (zeros past the end).
std::string DigitRange(const Decimal& d, int from, int to) {
  std::string s;
  for (int i = from; i < to; ++i)
    s += i >= 0 && i < static_cast<int>(d.digits.size()) ? d.digits[static_cast<size_t>(i)] : '0';
  return s;
}

// The digits of `d` before and after the point.
void SplitPositional(const Decimal& d, std::string* int_part, std::string* frac) {
  const int m = static_cast<int>(d.digits.size());
  *int_part = d.digits != "0" && d.exp > 0 ? DigitRange(d, 0, d.exp) : "0";
  frac->clear();
  if (d.digits == "0") return;
  if (d.exp < 0) *frac = std::string(static_cast<size_t>(-d.exp), '0') + d.digits;
  if (d.exp >= 0 && m > d.exp) *frac = DigitRange(d, d.exp, m);
}

// One finite float in positional or scientific form, before padding.
struct FloatParts {
  bool negative = false;
  std::string int_part;  // positional: the digits before the point; scientific: one digit
  std::string frac;      // the digits after the point (trailing zeros trimmed)
  int exp10 = 0;         // scientific: the exponent
};

// numpy's dragon4 in unique mode with at most kPrecision digits after the
// point: the shortest digits, rounded there when they are longer.
FloatParts Parts(double v, Kind kind, bool scientific) {
  FloatParts f;
  f.negative = std::signbit(v);
  const double a = std::fabs(v);
  Decimal d;
  if (a == 0) {
    d = Decimal{"0", 0};
  } else {
    ShortestDigits(a, kind, &d.digits, &d.exp);
  }
  const int n = static_cast<int>(d.digits.size());
  if (scientific) {
    if (a != 0 && n - 1 > kPrecision) d = Rounded(a, kPrecision, true);
    f.int_part = d.digits.substr(0, 1);
    f.frac = d.digits.substr(1);
    f.exp10 = d.digits == "0" ? 0 : d.exp - 1;
    return f;
  }
  if (a != 0 && n - d.exp > kPrecision) d = Rounded(a, kPrecision, false);
  // numpy prints an array's integer digits exactly (its min_digits 0 makes
  // dragon4 go on to the units): float16 11192 is "11192." in an array,
  // where the scalar and the shortest digits say 11190.
  if (a != 0 && d.exp > n) d = Rounded(a, 0, false);
  SplitPositional(d, &f.int_part, &f.frac);
  return f;
}

std::string ExponentText(int e, int width) {
  std::string digits = std::to_string(std::abs(e));
  if (static_cast<int>(digits.size()) < width)
    digits = std::string(static_cast<size_t>(width) - digits.size(), '0') + digits;
  return std::string(e < 0 ? "e-" : "e+") + digits;
}

std::string PadLeft(const std::string& s, size_t width) {
  return s.size() >= width ? s : std::string(width - s.size(), ' ') + s;
}

// The elements of the array as numbers, in C order.
struct Elements {
  DType dtype;
  std::vector<double> floats;     // float kinds
  std::vector<std::string> ints;  // integers and bool: their decimal text
  std::vector<bool> truth;        // bool
  size_t size() const { return dtype.is_float() ? floats.size() : ints.size(); }
};

Elements Load(const DType& dtype, const std::vector<int64_t>& shape, bool fortran,
              const char* data) {
  Elements e;
  e.dtype = dtype;
  uint64_t n = 1;
  for (int64_t s : shape) n *= static_cast<uint64_t>(s);
  // Element i in C order sits at storage index src(i).
  const size_t nd = shape.size();
  std::vector<uint64_t> fstride(nd, 1);
  for (size_t a = 1; a < nd; ++a) fstride[a] = fstride[a - 1] * static_cast<uint64_t>(shape[a - 1]);
  auto src = [&](uint64_t i) {
    if (!fortran || nd < 2) return i;
    uint64_t off = 0;
    for (size_t a = nd; a-- > 0;) {
      const uint64_t dim = static_cast<uint64_t>(shape[a]);
      off += (i % dim) * fstride[a];
      i /= dim;
    }
    return off;
  };
  const size_t item = dtype.itemsize();
  VisitDType(dtype, [&](auto traits, auto swap) {
    using Traits = decltype(traits);
    for (uint64_t i = 0; i < n; ++i) {
      const auto v = LoadElement<Traits, decltype(swap)::value>(data + src(i) * item);
      if constexpr (Traits::kIsFloat) {
        e.floats.push_back(static_cast<double>(v));
      } else if constexpr (Traits::kIsBool) {
        e.truth.push_back(v != 0);
        e.ints.push_back(v != 0 ? "True" : "False");
      } else {
        e.ints.push_back(std::to_string(v));
      }
    }
  });
  return e;
}

// A format for every shown element (numpy's FloatingFormat, IntegerFormat,
// BoolFormat), chosen from the shown elements' indices.
class ElementFormat {
 public:
  ElementFormat(const Elements& e, const std::vector<uint64_t>& shown) : e_(e) {
    if (!e.dtype.is_float()) {
      for (uint64_t i : shown) width_ = std::max(width_, e.ints[i].size());
      if (e.dtype.is_bool()) width_ = 5;
      return;
    }
    double max_val = 0, min_val = 0;
    bool any_finite = false, any_nonzero = false, any_nonfinite = false, neg_inf = false;
    for (uint64_t i : shown) {
      const double v = e.floats[i];
      if (!std::isfinite(v)) {
        any_nonfinite = true;
        neg_inf = neg_inf || (std::isinf(v) && v < 0);
        continue;
      }
      any_finite = true;
      const double a = std::fabs(v);
      if (a == 0) continue;
      max_val = any_nonzero ? std::max(max_val, a) : a;
      min_val = any_nonzero ? std::min(min_val, a) : a;
      any_nonzero = true;
    }
    if (any_nonzero) {
      // The ratio in the array's own precision, as numpy divides.
      double ratio = max_val / min_val;
      if (e.dtype.kind == Kind::kFloat32)
        ratio = static_cast<double>(static_cast<float>(max_val) / static_cast<float>(min_val));
      if (e.dtype.kind == Kind::kFloat16) ratio = HalfToDouble(DoubleToHalf(ratio));
      scientific_ = max_val >= 1e8 || min_val < 0.0001 || ratio > 1000.;
    }
    if (any_finite) {
      for (uint64_t i : shown) {
        const double v = e.floats[i];
        if (!std::isfinite(v)) continue;
        const FloatParts p = Parts(v, e.dtype.kind, scientific_);
        pad_left_ = std::max(pad_left_, p.int_part.size() + (p.negative ? 1 : 0));
        if (scientific_) {
          precision_ = std::max(precision_, p.frac.size());
          exp_width_ = std::max(exp_width_, std::to_string(std::abs(p.exp10)).size());
        } else {
          pad_right_ = std::max(pad_right_, p.frac.size());
        }
      }
      if (scientific_) pad_right_ = exp_width_ + 2 + precision_;
    }
    if (any_nonfinite) {
      const size_t offset = pad_right_ + 1;
      const size_t inf_len = 3 + (neg_inf ? 1 : 0);
      if (3 > offset) pad_left_ = std::max(pad_left_, 3 - offset);
      if (inf_len > offset) pad_left_ = std::max(pad_left_, inf_len - offset);
    }
  }

  std::string operator()(uint64_t i) const {
    if (!e_.dtype.is_float()) {
      if (e_.dtype.is_bool()) return e_.truth[i] ? " True" : "False";
      return PadLeft(e_.ints[i], width_);
    }
    const double v = e_.floats[i];
    if (!std::isfinite(v)) {
      const std::string s = std::isnan(v) ? "nan" : (v < 0 ? "-inf" : "inf");
      return PadLeft(s, pad_left_ + pad_right_ + 1);
    }
    FloatParts p = Parts(v, e_.dtype.kind, scientific_);
    if (scientific_ && p.frac.size() < precision_ && v != 0) {
      // numpy's min_digits: more digits of the exact value, not zeros,
      // rounded at the precision (81.875 in float16: 8.188e+01, not 8.190e+01).
      const Decimal d = Rounded(std::fabs(v), static_cast<int>(precision_), true);
      p.int_part = d.digits.substr(0, 1);
      p.frac = d.digits.substr(1);
      p.exp10 = d.exp - 1;
    }
    const std::string head = PadLeft((p.negative ? "-" : "") + p.int_part, pad_left_) + ".";
    if (scientific_) {
      std::string frac = p.frac;
      frac.resize(std::max(frac.size(), precision_), '0');
      return head + frac + ExponentText(p.exp10, static_cast<int>(exp_width_));
    }
    std::string frac = p.frac;
    frac.resize(std::max(frac.size(), pad_right_), ' ');
    return head + frac;
  }

 private:
  const Elements& e_;
  size_t width_ = 0;  // integers
  bool scientific_ = false;
  size_t pad_left_ = 0, pad_right_ = 0, precision_ = 0, exp_width_ = 2;
};

// numpy's _extendLine: `word` appended to `line`, or to a new line when it
// would pass `width` (unless the line holds nothing but the indent).
void ExtendLine(std::string* s, std::string* line, const std::string& word, size_t width,
                const std::string& indent) {
  if (line->size() + word.size() > width && line->size() > indent.size()) {
    while (!line->empty() && line->back() == ' ') line->pop_back();
    *s += *line + "\n";
    *line = indent;
  }
  *line += word;
}

// numpy's str() of a 0-d array: the element as its scalar prints.
std::string ScalarText(const Elements& e) {
  if (!e.dtype.is_float()) return e.ints[0];
  const double v = e.floats[0];
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  const double a = std::fabs(v);
  const bool positional = a == 0 || (a >= 1e-4 && a < 1e16);
  std::string digits;
  int exp = 0;
  if (a == 0) {
    digits = "0";
  } else {
    ShortestDigits(a, e.dtype.kind, &digits, &exp);
  }
  const std::string sign = std::signbit(v) ? "-" : "";
  if (positional) {
    std::string int_part, frac;
    SplitPositional(Decimal{digits, exp}, &int_part, &frac);
    return sign + int_part + "." + (frac.empty() ? "0" : frac);
  }
  const std::string frac = digits.substr(1);
  return sign + digits.substr(0, 1) + (frac.empty() ? "" : "." + frac) + ExponentText(exp - 1, 2);
}

}  // namespace

void ShortestDigits(double v, Kind kind, std::string* digits, int* exponent) {
  const double a = std::fabs(v);
  if (a == 0 || !std::isfinite(a)) {
    *digits = "0";
    *exponent = 0;
    return;
  }
  char buf[64];
  for (int p = 1; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*e", p - 1, a);
    Decimal best;
    bool found = false;
    if (ReadsBack(buf, a, kind)) {
      best = FromScientific(buf);
      found = true;
    } else {
      // At a power of two the interval that reads back is lopsided: the
      // nearest p digits may fall outside while a neighbour falls inside.
      const Decimal d = FromScientific(buf);
      const long long m = std::atoll(DigitRange(d, 0, p).c_str());
      const int e10 = d.exp - p;  // a = m * 10^e10, roughly
      long double best_gap = 0;
      for (long long cand : {m - 1, m + 1}) {
        if (cand <= 0) continue;
        char nb[64];
        std::snprintf(nb, sizeof nb, "%llde%d", cand, e10);
        if (!ReadsBack(nb, a, kind)) continue;
        const long double gap = std::fabs(std::strtold(nb, nullptr) - static_cast<long double>(a));
        if (!found || gap < best_gap) {
          Decimal c;
          c.digits = std::to_string(cand);
          c.exp = e10 + static_cast<int>(c.digits.size());
          TrimZeros(&c);
          best = c;
          best_gap = gap;
          found = true;
        }
      }
    }
    if (found) {
      *digits = best.digits;
      *exponent = best.exp;
      return;
    }
  }
  std::snprintf(buf, sizeof buf, "%.16e", a);
  const Decimal d = FromScientific(buf);
  *digits = d.digits;
  *exponent = d.exp;
}

std::string ArrayText(const DType& dtype, const std::vector<int64_t>& shape, bool fortran,
                      const char* data) {
  const Elements e = Load(dtype, shape, fortran, data);
  if (shape.empty()) return ScalarText(e);
  if (e.size() == 0) return "[]";
  const bool summarize = e.size() > kThreshold;
  const size_t nd = shape.size();
  // The indices shown along each axis.
  std::vector<std::vector<int64_t>> axis_shown(nd);
  for (size_t a = 0; a < nd; ++a) {
    const int64_t len = shape[a];
    for (int64_t i = 0; i < len; ++i)
      if (!summarize || len <= 2 * kEdgeItems || i < kEdgeItems || i >= len - kEdgeItems)
        axis_shown[a].push_back(i);
  }
  std::vector<uint64_t> shown;
  std::function<void(size_t, uint64_t)> collect = [&](size_t a, uint64_t base) {
    if (a == nd) {
      shown.push_back(base);
      return;
    }
    for (int64_t i : axis_shown[a])
      collect(a + 1, base * static_cast<uint64_t>(shape[a]) + static_cast<uint64_t>(i));
  };
  collect(0, 0);
  const ElementFormat format(e, shown);

  // numpy's _formatArray.
  std::function<std::string(size_t, uint64_t, const std::string&, size_t)> recurse =
      [&](size_t axis, uint64_t base, const std::string& indent, size_t width) -> std::string {
    if (axis == nd) return format(base);
    const std::string next_indent = indent + " ";
    const size_t next_width = width - 1;
    const int64_t len = shape[axis];
    const bool summary = summarize && 2 * kEdgeItems < len;
    const int64_t leading = summary ? kEdgeItems : 0;
    const int64_t trailing = summary ? kEdgeItems : len;
    auto child = [&](int64_t i) {
      return base * static_cast<uint64_t>(len) + static_cast<uint64_t>(i);
    };
    std::string s;
    if (axis + 1 == nd) {
      const size_t elem_width = width - 1;
      std::string line = indent;
      for (int64_t i = 0; i < leading; ++i) {
        ExtendLine(&s, &line, recurse(axis + 1, child(i), next_indent, next_width), elem_width,
                   indent);
        line += " ";
      }
      if (summary) {
        ExtendLine(&s, &line, "...", elem_width, indent);
        line += " ";
      }
      for (int64_t i = trailing; i > 1; --i) {
        ExtendLine(&s, &line, recurse(axis + 1, child(len - i), next_indent, next_width),
                   elem_width, indent);
        line += " ";
      }
      ExtendLine(&s, &line, recurse(axis + 1, child(len - 1), next_indent, next_width), elem_width,
                 indent);
      s += line;
    } else {
      const std::string line_sep(nd - axis - 1, '\n');
      for (int64_t i = 0; i < leading; ++i)
        s += indent + recurse(axis + 1, child(i), next_indent, next_width) + line_sep;
      if (summary) s += indent + "..." + line_sep;
      for (int64_t i = trailing; i > 1; --i)
        s += indent + recurse(axis + 1, child(len - i), next_indent, next_width) + line_sep;
      s += indent + recurse(axis + 1, child(len - 1), next_indent, next_width);
    }
    return "[" + s.substr(indent.size()) + "]";
  };
  return recurse(0, 0, " ", kLineWidth);
}

}  // namespace mm
