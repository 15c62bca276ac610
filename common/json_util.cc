#include "common/json_util.h"

#include <cmath>
#include <limits>

namespace mm {

Json JsonNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

std::string Int128ToString(int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  unsigned __int128 u = neg ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
  std::string s;
  while (u > 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (neg) s.push_back('-');
  return std::string(s.rbegin(), s.rend());
}

Json JsonInt(int128 v) {
  if (v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max())
    return static_cast<int64_t>(v);
  if (v > 0 && v <= static_cast<int128>(std::numeric_limits<uint64_t>::max()))
    return static_cast<uint64_t>(v);
  return Int128ToString(v);
}

Result<double> JsonToDouble(const Json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return Error(Code::kDataErr, "expected a number, got " + j.dump());
}

Result<int128> JsonToInt128(const Json& j) {
  if (j.is_number_unsigned()) return static_cast<int128>(j.get<uint64_t>());
  if (j.is_number_integer()) return static_cast<int128>(j.get<int64_t>());
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    const bool neg = !s.empty() && s[0] == '-';
    const size_t i = neg ? 1 : 0;
    // |value| may reach 2^127 only when negative.
    const unsigned __int128 limit = (static_cast<unsigned __int128>(1) << 127) - (neg ? 0 : 1);
    bool good = i < s.size();
    unsigned __int128 u = 0;
    for (size_t k = i; good && k < s.size(); ++k) {
      const unsigned digit = static_cast<unsigned>(s[k] - '0');
      good = s[k] >= '0' && s[k] <= '9' && u <= (limit - digit) / 10;
      if (good) u = u * 10 + digit;
    }
    if (good) {
      if (!neg) return static_cast<int128>(u);
      return u == (static_cast<unsigned __int128>(1) << 127) ? std::numeric_limits<int128>::min()
                                                              : -static_cast<int128>(u);
    }
  }
  return Error(Code::kDataErr, "expected an integer, got " + j.dump());
}

namespace {

bool IsFlat(const Json& j) {
  for (const Json& e : j)
    if (e.is_structured()) return false;
  return true;
}

void Dump(const Json& j, int indent, std::string* out) {
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  if (j.is_object() && !j.empty()) {
    out->append("{\n");
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out->append(",\n");
      first = false;
      out->append(pad).append(Json(it.key()).dump()).append(": ");
      Dump(it.value(), indent + 2, out);
    }
    out->append("\n").append(static_cast<size_t>(indent), ' ').append("}");
  } else if (j.is_array() && !j.empty() && !IsFlat(j)) {
    out->append("[\n");
    bool first = true;
    for (const Json& e : j) {
      if (!first) out->append(",\n");
      first = false;
      out->append(pad);
      Dump(e, indent + 2, out);
    }
    out->append("\n").append(static_cast<size_t>(indent), ' ').append("]");
  } else if (j.is_array()) {
    out->append("[");
    bool first = true;
    for (const Json& e : j) {
      if (!first) out->append(", ");
      first = false;
      out->append(e.dump());
    }
    out->append("]");
  } else {
    out->append(j.dump());
  }
}

}  // namespace

std::string DumpDocument(const Json& j) {
  std::string out;
  Dump(j, 0, &out);
  out.push_back('\n');
  return out;
}

Result<Json> ParseJson(const std::string& text, const std::string& what, Code code) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
    std::string why = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    const size_t pos = why.find("] ");
    if (pos != std::string::npos) why = why.substr(pos + 2);
    return Error(code, what + ": invalid JSON: " + why);
  }
}

}  // namespace mm
