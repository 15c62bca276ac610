// The result document (SPEC §4), built in this one place for every command
// that writes one: a run (runner/commands.cc), `mmrun merge`
// (runner/shard.cc) and mmrun-mpi (mpi/). A shard's part file embeds the
// same "mmrun" section (runner/shard.h PartDocument).
//
//   {"mmrun": {...}, "dataset": {...}, "results": {...}, "warnings": [...]}
//
// "mmrun" says how the document was made (RunSummary: it may differ between
// runs of the same config); "dataset" (source/dataset.h DatasetJson) and
// "results" do not depend on workers, launch or shard split; "warnings" is
// present only when there are any (core/warnings.h).
//
// Pure functions; no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/json_util.h"
#include "source/dataset.h"

namespace mm {
class Warnings;
}

namespace mm {

// The mmrun version the documents (and part and state files) record and
// --version prints.
extern const char* const kVersion;

// What the "mmrun" section says. Members are written in this order; the
// optional ones only when set.
struct RunSummary {
  // When the command started: "elapsed_s" is the time from it to the call
  // of MmrunSection.
  std::chrono::steady_clock::time_point started;
  int64_t workers = 0;  // workers started (merge: the sum over the parts)
  // Written when it differs from `workers` (more were asked than units).
  std::optional<int64_t> workers_requested;
  std::string launch;  // fork | spawn | mpi | merge
  int64_t rows = 0;    // rows the command covered (a shard: its own)
  std::optional<int> row_axis;
  uint64_t bytes_scanned = 0;
  uint64_t passes = 0;
  std::optional<int64_t> shards;  // merge: the number of parts
  Json incremental;               // --state: {"state", "rows_reused", "rows_read"}; null: none
};

// The "mmrun" section: {"version", "workers", ["workers_requested"],
// "launch", "elapsed_s", "rows", ["row_axis"], "bytes_scanned", "passes",
// ["shards"], ["incremental"]}.
Json MmrunSection(const RunSummary& summary);

// The result document of `summary`, `dataset` and `results` (the
// analyses' {name: result}, in config order); `warnings` (may be null) are
// published into it (Warnings::Publish: also printed unless quiet), so call
// this once, on success, just before writing the document.
Json ResultDocument(const RunSummary& summary, const Dataset& dataset, Json results,
                    const Warnings* warnings = nullptr);

}  // namespace mm
