// JSON helpers shared by the result document and the worker partials.
//
// Non-finite doubles are the strings "NaN", "Infinity", "-Infinity" (SPEC §4);
// doubles print in nlohmann's shortest round-trip form; integers wider than
// 64 bits are decimal strings. DumpDocument prints with two-space
// indentation but keeps arrays of scalars on one line, so a result with a
// thousand lanes stays readable.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/status.h"

namespace mm {

using Json = nlohmann::ordered_json;  // keys keep insertion order
using int128 = __int128;

// An empty object with room for `keys` members. An ordered_json object keeps
// its members in a std::vector of pair<const string, Json>; that pair's move
// may throw (the const key is copied), so each time the vector grows it
// deep-copies every member already in it: a result of a million numbers
// briefly costs twice its size. Objects that will hold large members
// reserve their room before the first one goes in.
Json ObjectWithRoom(size_t keys);

// Frees *j (leaving null) without nlohmann's destructor moving every
// element of each array onto a stack of its own: an array of a million
// numbers cost 12 MiB more to free than to hold. Containers are emptied
// in place, innermost first.
void ReleaseJson(Json* j);

Json JsonNumber(double v);
// A number when it fits int64 or uint64, else a decimal string.
Json JsonInt(int128 v);
std::string Int128ToString(int128 v);

// Inverse of JsonNumber / JsonInt; kDataErr on anything else.
Result<double> JsonToDouble(const Json& j);
Result<int128> JsonToInt128(const Json& j);

// `size` bytes as standard base64 (RFC 4648 alphabet, '=' padding): how the
// partials carry arrays of many numbers (docs/ARCHITECTURE.md "Partials").
std::string Base64Encode(const void* data, size_t size);
// Decodes `text` into exactly `size` bytes at `out`: kDataErr "<what>: ..."
// unless `text` is the one encoding Base64Encode gives for `size` bytes
// (length, alphabet, padding), so no input can write past `out`.
Status Base64DecodeTo(const std::string& text, void* out, size_t size, const std::string& what);

// `size` bytes as a column of a partial: a JSON binary value, which a
// worker's payload carries as raw bytes (engine/payload.h) and a JSON file
// as base64 text (BinaryToBase64). Partials carry their arrays of many
// numbers this way.
Json BytesColumn(const void* data, size_t size);
// Decodes a column (a binary value, or its base64 text from a file) into
// exactly `size` bytes at `out`: kDataErr "<what>: ..." for anything else
// (another type, another size, text Base64DecodeTo refuses).
Status ColumnBytesTo(const Json& v, void* out, size_t size, const std::string& what);
// Replaces every binary value inside *j by its base64 text: the form a
// JSON file holds (nlohmann would write a binary value as a list of bytes).
void BinaryToBase64(Json* j);

// A column of non-negative integers as LEB128 varints (7 bits a byte,
// low bits first) in a bytes column (BytesColumn): how partials carry
// counts, mostly small (a count takes a byte or two, where a JSON number is
// a parsed value).
template <class T>
Json PackVarints(const std::vector<T>& v) {
  static_assert(std::is_integral_v<T>, "varints hold integers");
  std::string bytes;
  bytes.reserve(v.size() * 2);
  for (const T value : v) {
    uint64_t x = static_cast<uint64_t>(value);  // REQUIRES value >= 0
    for (; x >= 128; x >>= 7) bytes.push_back(static_cast<char>((x & 127) | 128));
    bytes.push_back(static_cast<char>(x));
  }
  return BytesColumn(bytes.data(), bytes.size());
}
// The bytes of a varint column `v` that must hold `n` values (each takes a
// byte at least, so n is checked against the text before anything is
// allocated); kDataErr `what` for anything else.
Status VarintColumnBytes(const Json& v, uint64_t n, std::string* bytes, const std::string& what);
// Inverse of PackVarints for exactly `n` values, each at most T's maximum:
// kDataErr `what` for anything else (bad base64, a varint past 64 bits or
// the text's end, a value too large, bytes left over).
template <class T>
Status UnpackVarints(const Json& v, uint64_t n, std::vector<T>* out, const std::string& what) {
  static_assert(std::is_integral_v<T>, "varints hold integers");
  std::string bytes;
  MM_RETURN_IF_ERROR(VarintColumnBytes(v, n, &bytes, what));
  out->resize(n);
  size_t pos = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t x = 0;
    for (int shift = 0;; shift += 7) {
      if (pos == bytes.size() || shift > 63) return Error(Code::kDataErr, what);
      const uint64_t byte = static_cast<unsigned char>(bytes[pos++]);
      if (shift == 63 && byte > 1) return Error(Code::kDataErr, what);
      x |= (byte & 127) << shift;
      if (byte < 128) break;
    }
    if (x > static_cast<uint64_t>(std::numeric_limits<T>::max()))
      return Error(Code::kDataErr, what);
    (*out)[i] = static_cast<T>(x);
  }
  return pos == bytes.size() ? Status::OK() : Error(Code::kDataErr, what);
}

// `j` as compact JSON text. A string that is not UTF-8 (a file name's or
// an HDF5 attribute's bytes) has its bad bytes replaced by U+FFFD, as
// Python's bytes.decode("utf-8", "replace") shows them, instead of
// nlohmann's exception. Every JSON text mmrun writes goes through this or
// DumpDocument, which do the same.
std::string JsonText(const Json& j);

// The document as mmrun prints it, ending in a newline.
std::string DumpDocument(const Json& j);
// The same bytes, handed to `sink` in pieces of about 256 KiB through one
// reused buffer; stops calling `sink` after its first error and returns it.
Status DumpDocumentTo(const Json& j, const std::function<Status(std::string_view)>& sink);

// Limits on every JSON document mmrun reads (configs, part and state files,
// the plan a worker reads from the segment, slot payloads): deeper nesting
// or a larger file is refused before parsing, so no input can exhaust the
// stack or the memory.
constexpr int kMaxJsonDepth = 256;
constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
constexpr uint64_t kMaxDocumentBytes = uint64_t{1} << 30;  // parts and states

// Parses JSON text; errors are kind `code` with "what: position: reason".
// Nesting deeper than kMaxJsonDepth is an error of kind `code` too.
Result<Json> ParseJson(const std::string& text, const std::string& what, Code code);

// The first string (object key or value) of `j` holding a NUL byte, as a key
// path such as "analyses[0].output"; "" when there is none. Such a string
// would be cut at the NUL by every system call.
std::string FindNulString(const Json& j);
// The same for a string that is not UTF-8 (core/strings.h IsUtf8): a
// config parsed from text has none, one built from the command line or the
// environment may, and it would not reach the workers exactly.
std::string FindNonUtf8String(const Json& j);

// Expected JSON types for CheckFields.
enum class JsonKind { kString, kInt, kUnsigned, kNumber, kBool, kObject, kArray };
struct JsonField {
  const char* pointer;  // RFC 6901 pointer, e.g. "/plan/config_dir"
  JsonKind kind;
};
// Checks that each field exists with its kind (kInt: any integer; kUnsigned:
// an integer >= 0). Error of kind `code`: "<what>: key 'plan.config_dir'
// must be a string, got number".
Status CheckFields(const Json& doc, std::initializer_list<JsonField> fields,
                   const std::string& what, Code code);

// Seals a document that mmrun writes and reads back (part and state files):
// SealDocument sets the member "checksum" to ChecksumHex of the compact dump
// of the document without it; CheckSeal recomputes it. A parsed document
// dumps to the same bytes as the one sealed, so any change of a value, key
// or order is caught. CheckSeal errors: kDataErr "<what>: ...".
void SealDocument(Json* doc);
Status CheckSeal(const Json& doc, const std::string& what);

// Rejects keys of `obj` not in `known`, naming "where.key" and the closest
// known key. Shared by the config and the analyses.
Status CheckKeys(const Json& obj, const std::vector<std::string>& known, const std::string& where);

}  // namespace mm
