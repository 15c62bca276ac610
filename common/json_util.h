// JSON helpers shared by the result document and the worker partials.
//
// Non-finite doubles are the strings "NaN", "Infinity", "-Infinity" (SPEC §4);
// doubles print in nlohmann's shortest round-trip form; integers wider than
// 64 bits are decimal strings. DumpDocument prints with two-space
// indentation but keeps arrays of scalars on one line, so a result with a
// thousand lanes stays readable.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace mm {

using Json = nlohmann::ordered_json;  // keys keep insertion order
using int128 = __int128;

Json JsonNumber(double v);
// A number when it fits int64 or uint64, else a decimal string.
Json JsonInt(int128 v);
std::string Int128ToString(int128 v);

// Inverse of JsonNumber / JsonInt; kDataErr on anything else.
Result<double> JsonToDouble(const Json& j);
Result<int128> JsonToInt128(const Json& j);

// The document as mmrun prints it, ending in a newline.
std::string DumpDocument(const Json& j);

// Parses JSON text; errors are kind `code` with "what: position: reason".
Result<Json> ParseJson(const std::string& text, const std::string& what, Code code);

}  // namespace mm
