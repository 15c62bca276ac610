// libFuzzer target: the readers of part and state files (runner/shard.h
// ParsePart, runner/state.h ParseState) and what `mmrun merge` does with a
// part that passes them (Plan::FromJson of its plan, PushNodes of its
// nodes), and a worker's reading of the plan in the segment (DecodeFramed,
// then Plan::FromJson).
//
// Property: any byte string is either accepted or refused with an error
// Status — never a crash, an uncaught exception or undefined behaviour.
// Inputs that are JSON objects are also re-sealed (SealDocument) and read
// again, so the fuzzer reaches past the checksum into the type checks, the
// plan and the nodes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/json_util.h"
#include "engine/payload.h"
#include "engine/plan.h"
#include "runner/shard.h"
#include "runner/state.h"

namespace {

void ReadAsPart(const std::string& text) {
  mm::Result<mm::Part> part = mm::ParsePart(text, "fuzz.json");
  if (!part.ok()) return;
  mm::Result<std::unique_ptr<mm::Plan>> plan = mm::Plan::FromJson(part->doc["plan"]);
  if (!plan.ok() || (*plan)->passes.size() != 1) return;
  (void)mm::ShardRows(**plan, part->shard);
  mm::NodeTree tree;
  (void)mm::PushNodes(**plan, 0, part->doc["nodes"], "fuzz.json", mm::Code::kDataErr, &tree);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ReadAsPart(text);
  (void)mm::ParseState(text, "fuzz.state");
  mm::Result<mm::Json> framed = mm::DecodeFramed(text, "plan", mm::Code::kDataErr);
  if (framed.ok()) (void)mm::Plan::FromJson(*framed);
  mm::Result<mm::Json> j = mm::ParseJson(text, "fuzz", mm::Code::kDataErr);
  if (j.ok() && j->is_object()) {
    mm::SealDocument(&*j);
    const std::string sealed = j->dump();
    ReadAsPart(sealed);
    (void)mm::ParseState(sealed, "fuzz.state");
  }
  return 0;
}
