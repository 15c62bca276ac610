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
// The sections are built by pure functions; DocumentOutput is the one
// writer of a document (or a part file) to -o or stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "core/json_util.h"
#include "io/files.h"
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
  // The same moment on the wall clock: "started", UTC, ISO 8601.
  std::chrono::system_clock::time_point started_utc = std::chrono::system_clock::now();
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
// "launch", "started", "elapsed_s", "rows", ["row_axis"], "bytes_scanned", "passes",
// ["shards"], ["incremental"]}.
Json MmrunSection(const RunSummary& summary);

// The result document of `summary`, `dataset` and `results` (the
// analyses' {name: result}, in config order); `warnings` (may be null) are
// published into it (Warnings::Publish: also printed unless quiet), so call
// this once, on success, just before writing the document. `analyses`
// (engine/merge.h AnalysesSection; null: left out) goes between dataset and
// results.
Json ResultDocument(const RunSummary& summary, const Dataset& dataset, Json results,
                    const Warnings* warnings = nullptr, Json analyses = nullptr);

// Where a command's document goes: the file `target`, written under a
// temporary name beside it and renamed over it (io/files.h TempOutput: the
// target appears whole or not at all, and an uncommitted temporary file is
// removed when the DocumentOutput is destroyed), or, with no target, the
// process' standard output. Both get the same bytes, DumpDocument(doc).
// Move-only; used by the one thread that runs the command.
class DocumentOutput {
 public:
  DocumentOutput() = default;

  // Creates the target's temporary file now, so an unwritable target fails
  // before any work starts (TempOutput::Create's errors; `what` names the
  // target in them: a flag or config key). An empty `target` writes to
  // `stream` (stdout but in tests), which must outlive the DocumentOutput.
  static Result<DocumentOutput> Open(const std::string& target, const std::string& what = "output",
                                     std::FILE* stream = stdout);

  // Writes DumpDocument(doc)'s bytes (in pieces: DumpDocumentTo) and makes
  // them final: write, fsync and rename over the target, or write and flush
  // the stream. Call once. Errors: the
  // TempOutput's (nothing at the target; its temporary file is removed by
  // the destructor); on the stream, a reader that went away (EPIPE) is
  // 128 + SIGPIPE "stdout: the reader closed the pipe (EPIPE)" (as a shell
  // expects of a pipeline's writer; docs/CHOICES.md), any other failure
  // kIoErr "cannot write the result to stdout". The document is freed
  // once written (ReleaseJson: a result of many lanes without a copy).
  Status Write(Json doc);

  // Whether the document goes to the stream (no target).
  bool to_stream() const { return stream_ != nullptr; }

 private:
  TempOutput file_;              // when there is a target
  std::FILE* stream_ = nullptr;  // when there is none
};

}  // namespace mm
