#include "core/json_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/checksum.h"
#include "core/strings.h"

namespace mm {

Json ObjectWithRoom(size_t keys) {
  Json j = Json::object();
  j.get_ref<Json::object_t&>().reserve(keys);
  return j;
}

void ReleaseJson(Json* j) {
  // Every array and object, each before what it holds (the walk changes
  // nothing, so the pointers hold).
  std::vector<Json*> nodes{j};
  for (size_t i = 0; i < nodes.size(); ++i) {
    Json* v = nodes[i];
    if (v->is_array()) {
      for (Json& e : *v)
        if (e.is_structured()) nodes.push_back(&e);
    } else if (v->is_object()) {
      for (auto& item : v->items())
        if (item.value().is_structured()) nodes.push_back(&item.value());
    }
  }
  // Then emptied in reverse, what each holds first: no container freed
  // here holds a non-empty one, so no destructor copies elements onto its
  // stack.
  for (size_t i = nodes.size(); i-- > 0;) {
    if (nodes[i]->is_array())
      Json::array_t().swap(nodes[i]->get_ref<Json::array_t&>());
    else if (nodes[i]->is_object())
      Json::object_t().swap(nodes[i]->get_ref<Json::object_t&>());
  }
  std::vector<Json*>().swap(nodes);
  *j = Json();
}

Json JsonNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

std::string Int128ToString(int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  unsigned __int128 u =
      neg ? -static_cast<unsigned __int128>(v) : static_cast<unsigned __int128>(v);
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

namespace {
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string Base64Encode(const void* data, size_t size) {
  const auto* in = static_cast<const unsigned char*>(data);
  std::string out((size + 2) / 3 * 4, '=');
  size_t o = 0, i = 0;
  for (; i + 3 <= size; i += 3, o += 4) {
    const uint32_t v = uint32_t{in[i]} << 16 | uint32_t{in[i + 1]} << 8 | in[i + 2];
    out[o] = kBase64[v >> 18];
    out[o + 1] = kBase64[v >> 12 & 63];
    out[o + 2] = kBase64[v >> 6 & 63];
    out[o + 3] = kBase64[v & 63];
  }
  if (i < size) {  // 1 or 2 bytes left: 2 or 3 characters, then padding
    const uint32_t v = uint32_t{in[i]} << 16 | (i + 1 < size ? uint32_t{in[i + 1]} << 8 : 0);
    out[o] = kBase64[v >> 18];
    out[o + 1] = kBase64[v >> 12 & 63];
    if (i + 1 < size) out[o + 2] = kBase64[v >> 6 & 63];
  }
  return out;
}

Json BytesColumn(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  return Json::binary(std::vector<uint8_t>(p, p + size));
}

Status ColumnBytesTo(const Json& v, void* out, size_t size, const std::string& what) {
  if (v.is_string()) return Base64DecodeTo(v.get_ref<const std::string&>(), out, size, what);
  if (!v.is_binary()) return Error(Code::kDataErr, what + " must be bytes (base64 text)");
  const Json::binary_t& b = v.get_binary();
  if (b.size() != size)
    return Error(Code::kDataErr, what + ": " + std::to_string(b.size()) + " bytes, expected " +
                                     std::to_string(size));
  if (size > 0) std::memcpy(out, b.data(), size);
  return Status::OK();
}

void BinaryToBase64(Json* j) {
  if (j->is_binary()) {
    const Json::binary_t& b = j->get_binary();
    *j = Base64Encode(b.data(), b.size());
  } else if (j->is_object()) {
    for (auto& item : j->items()) BinaryToBase64(&item.value());
  } else if (j->is_array()) {
    for (Json& v : *j) BinaryToBase64(&v);
  }
}

Status VarintColumnBytes(const Json& v, uint64_t n, std::string* bytes, const std::string& what) {
  if (v.is_binary()) {
    const Json::binary_t& b = v.get_binary();
    if (n > b.size()) return Error(Code::kDataErr, what);
    bytes->assign(b.begin(), b.end());
    return Status::OK();
  }
  if (!v.is_string()) return Error(Code::kDataErr, what);
  const std::string& text = v.get_ref<const std::string&>();
  if (text.size() % 4 != 0) return Error(Code::kDataErr, what);
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  const size_t size = text.size() / 4 * 3 - pad;
  if (n > size) return Error(Code::kDataErr, what);
  bytes->assign(size, '\0');
  return Base64DecodeTo(text, &(*bytes)[0], size, what);
}

Status Base64DecodeTo(const std::string& text, void* out, size_t size, const std::string& what) {
  if (text.size() / 4 != (size + 2) / 3 || text.size() % 4 != 0)
    return Error(Code::kDataErr, what + ": base64 text of " + std::to_string(text.size()) +
                                     " characters does not hold " + std::to_string(size) +
                                     " bytes");
  static const auto table = [] {
    std::array<int8_t, 256> t;
    t.fill(-1);
    for (int k = 0; k < 64; ++k) t[static_cast<unsigned char>(kBase64[k])] = static_cast<int8_t>(k);
    return t;
  }();
  auto* dst = static_cast<unsigned char*>(out);
  const auto* src = reinterpret_cast<const unsigned char*>(text.data());
  const size_t tail = size % 3;  // bytes in a padded last group
  const size_t padding = tail == 0 ? 0 : 3 - tail;
  const size_t groups = text.size() / 4;
  // Every group but a padded last one: four digits, three bytes.
  const size_t whole = tail == 0 ? groups : groups - 1;
  bool bad = false;
  for (size_t g = 0; g < whole; ++g, src += 4, dst += 3) {
    const int8_t d0 = table[src[0]], d1 = table[src[1]], d2 = table[src[2]], d3 = table[src[3]];
    bad |= (d0 | d1 | d2 | d3) < 0;
    const uint32_t v = static_cast<uint32_t>(d0 & 63) << 18 | static_cast<uint32_t>(d1 & 63) << 12 |
                       static_cast<uint32_t>(d2 & 63) << 6 | static_cast<uint32_t>(d3 & 63);
    dst[0] = static_cast<unsigned char>(v >> 16);
    dst[1] = static_cast<unsigned char>(v >> 8);
    dst[2] = static_cast<unsigned char>(v);
  }
  if (whole < groups) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const unsigned char c = src[k];
      const bool pad = k >= 4 - padding;
      const int8_t d = table[c];
      bad |= pad ? c != '=' : d < 0;
      v = v << 6 | (pad || d < 0 ? 0u : static_cast<uint32_t>(d));
    }
    // Bits past the last byte must be 0: one encoding per byte string.
    bad |= (v & ((uint32_t{1} << (8 * (3 - tail))) - 1)) != 0;
    for (size_t k = 0; k < tail; ++k) dst[k] = static_cast<unsigned char>(v >> (16 - 8 * k));
  }
  if (bad) return Error(Code::kDataErr, what + ": malformed base64 text");
  return Status::OK();
}

Result<double> JsonToDouble(const Json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return Error(Code::kDataErr, "expected a number, got " + JsonText(j));
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
  return Error(Code::kDataErr, "expected an integer, got " + JsonText(j));
}

std::string JsonText(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

bool IsFlat(const Json& j) {
  for (const Json& e : j)
    if (e.is_structured()) return false;
  return true;
}

// e.dump() of a scalar, without its serializer and string for a number:
// the same characters (nlohmann's own shortest round-trip formatting of a
// double), so an array of a million lanes prints in a few milliseconds.
void AppendScalar(const Json& e, std::string* out) {
  char buf[64];
  if (e.is_number_float()) {
    const double x = e.get<double>();
    if (!std::isfinite(x)) {
      out->append("null");
      return;
    }
    out->append(buf, nlohmann::detail::to_chars(buf, buf + sizeof buf, x));
    return;
  }
  if (e.is_number_unsigned()) {
    out->append(buf, std::to_chars(buf, buf + sizeof buf, e.get<uint64_t>()).ptr);
    return;
  }
  if (e.is_number_integer()) {
    out->append(buf, std::to_chars(buf, buf + sizeof buf, e.get<int64_t>()).ptr);
    return;
  }
  out->append(JsonText(e));
}

// The text being printed, handed to the sink in pieces of about
// kDumpPiece bytes: the buffer is reused, so a document of many megabytes
// costs a few hundred page faults, not a string doubled up to twice its
// size (each fault ~10 us on this VM: docs/BENCHMARKS.md, session 17).
// Without a sink the whole text stays in `text`.
constexpr size_t kDumpPiece = size_t{1} << 18;

struct DumpOut {
  std::string text;
  const std::function<Status(std::string_view)>* sink = nullptr;
  Status status;

  void MaybeFlush() {
    if (sink == nullptr || text.size() < kDumpPiece) return;
    Flush();
  }
  void Flush() {
    if (status.ok() && !text.empty()) status = (*sink)(text);
    text.clear();
  }
};

void Dump(const Json& j, int indent, DumpOut* o) {
  if (!o->status.ok()) return;  // the sink failed: nothing more is printed
  std::string* out = &o->text;
  const std::string pad(static_cast<size_t>(indent + 2), ' ');
  if (j.is_object() && !j.empty()) {
    out->append("{\n");
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out->append(",\n");
      first = false;
      out->append(pad).append(JsonText(Json(it.key()))).append(": ");
      Dump(it.value(), indent + 2, o);
    }
    out->append("\n").append(static_cast<size_t>(indent), ' ').append("}");
  } else if (j.is_array() && !j.empty() && !IsFlat(j)) {
    out->append("[\n");
    bool first = true;
    for (const Json& e : j) {
      if (!first) out->append(",\n");
      first = false;
      out->append(pad);
      Dump(e, indent + 2, o);
    }
    out->append("\n").append(static_cast<size_t>(indent), ' ').append("]");
  } else if (j.is_array()) {
    out->append("[");
    bool first = true;
    for (const Json& e : j) {
      if (!first) out->append(", ");
      first = false;
      AppendScalar(e, out);
      o->MaybeFlush();
    }
    out->append("]");
  } else {
    out->append(JsonText(j));
  }
  o->MaybeFlush();
}

}  // namespace

std::string DumpDocument(const Json& j) {
  DumpOut o;
  Dump(j, 0, &o);
  o.text.push_back('\n');
  return std::move(o.text);
}

Status DumpDocumentTo(const Json& j, const std::function<Status(std::string_view)>& sink) {
  DumpOut o;
  o.sink = &sink;
  o.text.reserve(kDumpPiece + 4096);
  Dump(j, 0, &o);
  o.text.push_back('\n');
  o.Flush();
  return o.status;
}

namespace {

// The deepest nesting of arrays and objects in `text`, outside strings;
// stops counting past `limit`.
int NestingDepth(const std::string& text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Each JsonKind's name in messages and its test, in enum order.
struct KindInfo {
  const char* name;
  bool (*has)(const Json& j);
};
constexpr KindInfo kKinds[] = {
    {"a string", [](const Json& j) { return j.is_string(); }},
    {"an integer", [](const Json& j) { return j.is_number_integer(); }},
    {"a non-negative integer",
     [](const Json& j) {
       return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
     }},
    {"a number", [](const Json& j) { return j.is_number(); }},
    {"true or false", [](const Json& j) { return j.is_boolean(); }},
    {"an object", [](const Json& j) { return j.is_object(); }},
    {"an array", [](const Json& j) { return j.is_array(); }},
};
const KindInfo& Kind(JsonKind k) { return kKinds[static_cast<int>(k)]; }

// "/plan/config_dir" -> "plan.config_dir"; "/a/0" -> "a[0]".
std::string KeyName(const std::string& pointer) {
  std::string out;
  size_t pos = 1;
  while (pos <= pointer.size()) {
    const size_t next = std::min(pointer.find('/', pos), pointer.size());
    const std::string part = pointer.substr(pos, next - pos);
    if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos)
      out += "[" + part + "]";
    else
      out += (out.empty() ? "" : ".") + part;
    pos = next + 1;
  }
  return out;
}

// The first string (key or value) of `j` for which bad() holds, as a key
// path under `where`; "" when there is none.
template <class Bad>
std::string StringIn(const Json& j, const std::string& where, const Bad& bad) {
  if (j.is_string()) return bad(j.get_ref<const std::string&>()) ? where : "";
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string key = where.empty() ? it.key() : where + "." + it.key();
      if (bad(it.key())) return key;
      std::string found = StringIn(it.value(), key, bad);
      if (!found.empty()) return found;
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      std::string found = StringIn(j[i], where + "[" + std::to_string(i) + "]", bad);
      if (!found.empty()) return found;
    }
  }
  return "";
}

std::string SealedText(const Json& doc) {
  Json copy = doc;
  copy.erase("checksum");
  return JsonText(copy);
}

}  // namespace

std::string FindNulString(const Json& j) {
  return StringIn(j, "", [](const std::string& s) { return s.find('\0') != std::string::npos; });
}

std::string FindNonUtf8String(const Json& j) {
  return StringIn(j, "", [](const std::string& s) { return !IsUtf8(s); });
}

Status CheckFields(const Json& doc, std::initializer_list<JsonField> fields,
                   const std::string& what, Code code) {
  for (const JsonField& f : fields) {
    const std::string p = f.pointer;
    // Walked by hand: json_pointer lookups throw on a path through a scalar.
    const Json* node = &doc;
    bool present = true;
    for (size_t pos = 1; present && pos <= p.size();) {
      const size_t next = std::min(p.find('/', pos), p.size());
      const std::string token = p.substr(pos, next - pos);
      const bool index = !token.empty() && token.size() < 10 &&
                         token.find_first_not_of("0123456789") == std::string::npos;
      if (node->is_object() && node->contains(token))
        node = &(*node)[token];
      else if (node->is_array() && index && std::stoul(token) < node->size())
        node = &(*node)[std::stoul(token)];
      else
        present = false;
      pos = next + 1;
    }
    if (!present) return Error(code, what + ": key '" + KeyName(p) + "' is missing");
    if (!Kind(f.kind).has(*node))
      return Error(code, what + ": key '" + KeyName(p) + "' must be " + Kind(f.kind).name +
                             ", got " + node->type_name());
  }
  return Status::OK();
}

void SealDocument(Json* doc) {
  doc->erase("checksum");
  const std::string text = JsonText(*doc);
  (*doc)["checksum"] = ChecksumHex(Checksum64(text.data(), text.size()));
}

Status CheckSeal(const Json& doc, const std::string& what) {
  if (!doc.is_object() || !doc.contains("checksum") || !doc["checksum"].is_string())
    return Error(Code::kDataErr, what + ": no \"checksum\" (not written by this mmrun, or edited)");
  const std::string text = SealedText(doc);
  if (doc["checksum"].get<std::string>() != ChecksumHex(Checksum64(text.data(), text.size())))
    return Error(Code::kDataErr,
                 what + ": checksum mismatch: the file was changed after mmrun wrote it");
  return Status::OK();
}

Result<Json> ParseJson(const std::string& text, const std::string& what, Code code) {
  if (NestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth)
    return Error(code, what + ": invalid JSON: nested deeper than " +
                           std::to_string(kMaxJsonDepth) + " levels");
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

Status CheckKeys(const Json& obj, const std::vector<std::string>& known, const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool found = false;
    for (const std::string& k : known) found = found || k == it.key();
    if (!found) {
      const std::string path = where.empty() ? it.key() : where + "." + it.key();
      return Error(Code::kConfig,
                   "unknown config key '" + path + "'" + DidYouMean(it.key(), known));
    }
  }
  return Status::OK();
}

}  // namespace mm
