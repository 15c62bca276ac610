// libFuzzer target: the JSON layer every reader of mmrun goes through
// (core/json_util.h): ParseJson with its nesting limit, then the helpers
// that walk a parsed document (FindNulString, CheckFields, CheckSeal,
// DumpDocument, JsonToDouble/JsonToInt128), and the printers on strings
// that are not JSON text (JsonText, DumpDocument, IsUtf8, EscapeNonUtf8).
//
// Property: any byte string — including nesting far deeper than
// kMaxJsonDepth — is parsed or refused with an error Status; nothing
// recurses without bound, throws or reads out of bounds. The same bytes as
// a string value and as a key print as UTF-8 JSON that parses back, and
// their escape for messages is UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/json_util.h"
#include "core/strings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Bytes from a file name or an HDF5 attribute: printed, never thrown.
  const mm::Json bytes = {{"v", text}, {text, 1}};
  for (const std::string& printed : {mm::JsonText(bytes), mm::DumpDocument(bytes)})
    if (!mm::IsUtf8(printed) || !mm::ParseJson(printed, "fuzz", mm::Code::kDataErr).ok())
      std::abort();
  if (!mm::IsUtf8(mm::EscapeNonUtf8(text))) std::abort();
  mm::Result<mm::Json> j = mm::ParseJson(text, "fuzz", mm::Code::kDataErr);
  if (!j.ok()) return 0;
  (void)mm::FindNulString(*j);
  (void)mm::CheckFields(*j,
                        {{"/a", mm::JsonKind::kObject},
                         {"/a/b/0", mm::JsonKind::kUnsigned},
                         {"/0/x", mm::JsonKind::kString},
                         {"/checksum", mm::JsonKind::kString}},
                        "fuzz", mm::Code::kDataErr);
  (void)mm::CheckSeal(*j, "fuzz");
  (void)mm::DumpDocument(*j);
  (void)mm::JsonToDouble(*j);
  (void)mm::JsonToInt128(*j);
  return 0;
}
