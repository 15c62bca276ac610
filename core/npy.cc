#include "core/npy.h"

#include <cstdio>
#include <limits>

namespace mm {

namespace {

constexpr std::string_view kMagic("\x93NUMPY", 6);
constexpr size_t kPreambleBytes = 8;         // magic and the two version bytes
constexpr size_t kArrayAlign = 64;           // numpy's ARRAY_ALIGN
constexpr size_t kGrowthAxisMaxDigits = 21;  // numpy's GROWTH_AXIS_MAX_DIGITS

Status Malformed(const std::string& why) {
  return Error(Code::kDataErr, "malformed .npy header: " + why);
}

// `s` with bytes outside printable ASCII written as \xNN, for messages.
std::string Escaped(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

// What the fixed part before the dict says.
struct Preamble {
  int major = 0, minor = 0;
  size_t dict_offset = 0;     // where the dict starts: 10 (1.0) or 12 (2.0, 3.0)
  uint64_t header_bytes = 0;  // where the data starts
};

// Checks magic, version and length field, and the declared size against
// kNpyMaxHeaderBytes. Does not require the dict itself to be in `prefix`.
Result<Preamble> ParsePreamble(std::string_view prefix) {
  if (prefix.empty()) return Malformed("truncated header: the file is empty");
  if (prefix.size() < kMagic.size() && prefix == kMagic.substr(0, prefix.size())) {
    return Malformed("truncated header: the file has only " + std::to_string(prefix.size()) +
                     " bytes");
  }
  if (!HasNpyMagic(prefix)) {
    return Malformed("bad magic: expected \\x93NUMPY, found " +
                     Escaped(prefix.substr(0, kMagic.size())));
  }
  if (prefix.size() < kPreambleBytes) {
    return Malformed("truncated header: the file ends inside the version bytes");
  }
  Preamble p;
  p.major = static_cast<unsigned char>(prefix[6]);
  p.minor = static_cast<unsigned char>(prefix[7]);
  if (p.minor != 0 || p.major < 1 || p.major > 3) {
    return Malformed("unsupported version " + std::to_string(p.major) + "." +
                     std::to_string(p.minor) + " (supported: 1.0, 2.0, 3.0)");
  }
  const size_t len_size = p.major == 1 ? 2 : 4;
  p.dict_offset = kPreambleBytes + len_size;
  if (prefix.size() < p.dict_offset) {
    return Malformed("truncated header: the file ends inside the header length field");
  }
  uint64_t len = 0;
  for (size_t i = 0; i < len_size; ++i) {
    len |= uint64_t{static_cast<unsigned char>(prefix[kPreambleBytes + i])} << (8 * i);
  }
  p.header_bytes = p.dict_offset + len;
  if (p.header_bytes > kNpyMaxHeaderBytes) {
    return Malformed("header too long: " + std::to_string(p.header_bytes) +
                     " bytes (the limit is " + std::to_string(kNpyMaxHeaderBytes) + ")");
  }
  return p;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return "(" + std::to_string(shape[0]) + ",)";
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

// Recursive-descent parser for the header dict, a Python literal:
//   dict  := ws '{' ws [item (ws ',' ws item)* [ws ',']] ws '}' ws
//   item  := string ws ':' ws value
// with the values of 'descr' (a string; a list or tuple is a structured
// dtype), 'fortran_order' (True/False) and 'shape' (a tuple of decimal
// integers). Positions in messages are file offsets.
class DictParser {
 public:
  // `text` is the dict, which starts at file offset `base`. `allow_long` lets
  // integers carry Python 2's 'L' suffix (numpy accepts it in 1.0 and 2.0).
  DictParser(std::string_view text, size_t base, bool allow_long)
      : s_(text), base_(base), allow_long_(allow_long) {}

  // Fills dtype, shape and fortran_order of `h`.
  Status Parse(NpyHeader* h) {
    SkipSpace();
    if (!Consume('{')) return Expected("'{' opening the header dict");
    bool have_descr = false, have_order = false, have_shape = false;
    std::string descr;
    bool structured = false;
    for (;;) {
      SkipSpace();
      if (Consume('}')) break;
      if (!AtQuote()) return Expected("a quoted key or '}'");
      std::string key;
      MM_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Consume(':')) return Expected("':' after key '" + Escaped(key) + "'");
      SkipSpace();
      bool* seen = key == "descr"           ? &have_descr
                   : key == "fortran_order" ? &have_order
                   : key == "shape"         ? &have_shape
                                            : nullptr;
      if (seen == nullptr) return Malformed("unexpected key '" + Escaped(key) + "'");
      if (*seen) return Malformed("duplicate key '" + key + "'");
      *seen = true;
      if (key == "descr") {
        MM_RETURN_IF_ERROR(ParseDescr(&descr, &structured));
      } else if (key == "fortran_order") {
        MM_RETURN_IF_ERROR(ParseBool(&h->fortran_order));
      } else {
        MM_RETURN_IF_ERROR(ParseShape(&h->shape));
      }
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume('}')) break;
      return Expected("',' or '}' after the value of '" + key + "'");
    }
    SkipSpace();
    if (pos_ < s_.size()) {
      return Malformed("unexpected " + Found() + " after the closing brace at byte " + Where());
    }
    if (!have_descr) return Malformed("missing key 'descr'");
    if (!have_order) return Malformed("missing key 'fortran_order'");
    if (!have_shape) return Malformed("missing key 'shape'");

    if (structured) return UnsupportedDType(descr);
    Result<DType> dtype = ParseDType(descr);
    if (!dtype.ok()) return UnsupportedDType(descr);
    h->dtype = *dtype;
    return CheckSize(h->shape, h->dtype.itemsize());
  }

 private:
  static Status UnsupportedDType(const std::string& descr) {
    constexpr size_t kMaxShown = 60;
    std::string shown = Escaped(descr);
    if (shown.size() > kMaxShown) shown = shown.substr(0, kMaxShown) + "...";
    return Error(Code::kDataErr, "unsupported dtype '" + shown + "' in .npy header");
  }

  // The array's byte count must be representable, as numpy requires.
  static Status CheckSize(const std::vector<int64_t>& shape, int itemsize) {
    int64_t bytes = itemsize;
    for (int64_t d : shape) {
      if (d == 0) continue;
      if (bytes > std::numeric_limits<int64_t>::max() / d) {
        return Malformed("bad shape " + ShapeText(shape) +
                         ": the array would be larger than 2^63-1 bytes");
      }
      bytes *= d;
    }
    return Status::OK();
  }

  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  bool AtQuote() const { return !AtEnd() && (s_[pos_] == '\'' || s_[pos_] == '"'); }
  bool Consume(char c) {
    if (AtEnd() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (!AtEnd() && IsSpace(s_[pos_])) ++pos_;
  }
  std::string Where(size_t pos) const { return std::to_string(base_ + pos); }
  std::string Where() const { return Where(pos_); }

  // The character at the cursor, for "found ..." in messages.
  std::string Found() const {
    if (AtEnd()) return "the end of the header";
    const unsigned char c = static_cast<unsigned char>(s_[pos_]);
    if (c > 0x20 && c < 0x7f) return "'" + std::string(1, static_cast<char>(c)) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  // The token starting at `pos` (up to a delimiter), quoted, for messages.
  std::string TokenAt(size_t pos) const {
    constexpr size_t kMaxToken = 24;
    size_t end = pos;
    while (end < s_.size() && end - pos < kMaxToken && !IsSpace(s_[end]) &&
           std::string_view(",:)]}").find(s_[end]) == std::string_view::npos) {
      ++end;
    }
    if (end == pos) return Found();
    return "'" + Escaped(s_.substr(pos, end - pos)) + "'";
  }

  Status Expected(const std::string& what) const {
    return Malformed("expected " + what + " at byte " + Where() + ", found " + Found());
  }

  // A quoted string without escapes; the cursor is on the opening quote.
  Status ParseString(std::string* out) {
    const size_t start = pos_;
    const char quote = s_[pos_++];
    for (;;) {
      if (AtEnd() || s_[pos_] == '\n') {
        return Malformed("unterminated string starting at byte " + Where(start));
      }
      const char c = s_[pos_];
      if (c == quote) break;
      if (c == '\\') {
        return Malformed("escape sequence in the string at byte " + Where(start) +
                         " (not supported)");
      }
      ++pos_;
    }
    *out = std::string(s_.substr(start + 1, pos_ - start - 1));
    ++pos_;
    return Status::OK();
  }

  // A string, or a list/tuple (a structured or subarray dtype, returned as
  // its source text with *structured set).
  Status ParseDescr(std::string* descr, bool* structured) {
    if (AtQuote()) return ParseString(descr);
    if (Peek() != '[' && Peek() != '(') {
      return Malformed("bad descr: expected a string such as '<f4', found " + TokenAt(pos_));
    }
    const size_t start = pos_;
    MM_RETURN_IF_ERROR(SkipBracketed());
    *descr = std::string(s_.substr(start, pos_ - start));
    *structured = true;
    return Status::OK();
  }

  // Skips a bracketed literal (nesting and strings included); the cursor is
  // on the opening bracket.
  Status SkipBracketed() {
    const size_t start = pos_;
    std::string closers;
    while (!AtEnd()) {
      const char c = s_[pos_];
      if (c == '[' || c == '(' || c == '{') {
        closers += c == '[' ? ']' : c == '(' ? ')' : '}';
        ++pos_;
      } else if (c == ']' || c == ')' || c == '}') {
        if (c != closers.back()) return Expected(std::string("'") + closers.back() + "'");
        closers.pop_back();
        ++pos_;
        if (closers.empty()) return Status::OK();
      } else if (c == '\'' || c == '"') {
        const size_t open = pos_++;
        while (!AtEnd() && s_[pos_] != c) pos_ += s_[pos_] == '\\' ? 2 : 1;
        if (AtEnd()) return Malformed("unterminated string starting at byte " + Where(open));
        ++pos_;
      } else {
        ++pos_;
      }
    }
    return Malformed("unclosed '" + std::string(1, s_[start]) + "' of the descr at byte " +
                     Where(start));
  }

  Status ParseBool(bool* out) {
    size_t end = pos_;
    while (end < s_.size() && IsIdentChar(s_[end])) ++end;
    const std::string_view word = s_.substr(pos_, end - pos_);
    if (word != "True" && word != "False") {
      return Malformed("bad fortran_order: expected True or False, found " + TokenAt(pos_));
    }
    *out = word == "True";
    pos_ = end;
    return Status::OK();
  }

  // A tuple of integers: "()", "(5,)", "(3, 4)", "(3, 4,)".
  Status ParseShape(std::vector<int64_t>* shape) {
    if (Peek() == '[') return Malformed("bad shape: expected a tuple, found a list");
    if (!Consume('(')) {
      return Malformed("bad shape: expected a tuple such as (3, 4), found " + TokenAt(pos_));
    }
    shape->clear();
    SkipSpace();
    if (Consume(')')) return Status::OK();
    for (;;) {
      int64_t v = 0;
      MM_RETURN_IF_ERROR(ParseShapeEntry(&v));
      shape->push_back(v);
      SkipSpace();
      if (Consume(',')) {
        SkipSpace();
        if (Consume(')')) return Status::OK();
        continue;
      }
      if (Consume(')')) {
        if (shape->size() == 1) {
          return Malformed("bad shape: (" + std::to_string(v) + ") is not a tuple; write (" +
                           std::to_string(v) + ",)");
        }
        return Status::OK();
      }
      return Expected("',' or ')' in the shape");
    }
  }

  // A non-negative decimal integer that fits in int64_t.
  Status ParseShapeEntry(int64_t* out) {
    const size_t start = pos_;
    if (Peek() == '-') {
      return Malformed("bad shape: negative entry " + TokenAt(start));
    }
    size_t end = pos_;
    while (end < s_.size() && IsDigit(s_[end])) ++end;
    size_t after = end;
    if (allow_long_ && after > start && after < s_.size() && s_[after] == 'L') ++after;
    const bool delimited =
        after == s_.size() || IsSpace(s_[after]) || s_[after] == ',' || s_[after] == ')';
    if (end == start || !delimited) {
      return Malformed("bad shape: entry " + TokenAt(start) + " is not a non-negative integer");
    }
    if (s_[start] == '0' && end - start > 1) {
      return Malformed("bad shape: entry " + TokenAt(start) + " has a leading zero");
    }
    uint64_t v = 0;
    constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
    for (size_t i = start; i < end; ++i) {
      const uint64_t digit = static_cast<uint64_t>(s_[i] - '0');
      if (v > (kMax - digit) / 10) {
        return Malformed("bad shape: entry " + TokenAt(start) + " is larger than 2^63-1");
      }
      v = v * 10 + digit;
    }
    *out = static_cast<int64_t>(v);
    pos_ = after;
    return Status::OK();
  }

  std::string_view s_;
  size_t base_;
  bool allow_long_;
  size_t pos_ = 0;
};

}  // namespace

bool HasNpyMagic(std::string_view prefix) {
  return prefix.size() >= kMagic.size() && prefix.substr(0, kMagic.size()) == kMagic;
}

Result<NpyHeader> ParseNpyHeader(std::string_view prefix) {
  MM_ASSIGN_OR_RETURN(const Preamble p, ParsePreamble(prefix));
  if (prefix.size() < p.header_bytes) {
    return Malformed("truncated header: it declares " + std::to_string(p.header_bytes) +
                     " bytes but only " + std::to_string(prefix.size()) + " are present");
  }
  NpyHeader h;
  h.major = p.major;
  h.minor = p.minor;
  h.header_bytes = p.header_bytes;
  const std::string_view dict =
      prefix.substr(p.dict_offset, static_cast<size_t>(p.header_bytes) - p.dict_offset);
  MM_RETURN_IF_ERROR(DictParser(dict, p.dict_offset, p.major <= 2).Parse(&h));
  return h;
}

Result<uint64_t> NpyHeaderBytes(std::string_view prefix) {
  MM_ASSIGN_OR_RETURN(const Preamble p, ParsePreamble(prefix));
  return p.header_bytes;
}

std::string BuildNpyHeader(DType dtype, const std::vector<int64_t>& shape, bool fortran_order) {
  // As numpy.lib.format._write_array_header and _wrap_header (numpy 1.24).
  std::string dict = "{'descr': '" + dtype.descr() +
                     "', 'fortran_order': " + (fortran_order ? "True" : "False") +
                     ", 'shape': " + ShapeText(shape) + ", }";
  if (!shape.empty()) {
    const size_t digits = std::to_string(fortran_order ? shape.back() : shape.front()).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  const size_t hlen = dict.size() + 1;  // with the final '\n'
  int major = 1;
  size_t prefix_len = kPreambleBytes + 2;
  size_t padlen = kArrayAlign - (prefix_len + hlen) % kArrayAlign;  // 1..64, as numpy
  if (hlen + padlen > 0xffff) {
    major = 2;
    prefix_len = kPreambleBytes + 4;
    padlen = kArrayAlign - (prefix_len + hlen) % kArrayAlign;
  }
  const uint64_t len = hlen + padlen;
  std::string out(kMagic);
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < prefix_len - kPreambleBytes; ++i) {
    out += static_cast<char>((len >> (8 * i)) & 0xff);
  }
  out += dict;
  out.append(padlen, ' ');
  out += '\n';
  return out;
}

}  // namespace mm
