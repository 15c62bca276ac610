// Shards and `mmrun merge` (SPEC §1 --shard, §6; docs/PARTIAL_FORMAT.md).
//
// `mmrun --shard I/N` runs one of N equal parts of the rows — split on
// Partition units, so every shard holds whole blocks — and writes a part
// file: the config, the dataset's identity, the shard's rows and the
// maximal aligned subtrees of the block tree that its blocks form.
// `mmrun merge` checks that the parts are exactly shards 0..N-1 of the same
// config over the same file, pushes their nodes in block order into one
// TreeReducer and finishes it; since the tree depends only on the block
// count, the `results` are byte-identical to one run over everything.
// Merging is generic over the Analysis interface: any single-pass, read-only
// analysis shards (multi-pass ones are refused at --shard time, exit 78).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/document.h"
#include "engine/plan.h"
#include "runner/coordinator.h"

namespace mm {

// The part-file format version this mmrun writes and reads.
constexpr int kPartFormatVersion = 5;

struct ShardSpec {
  int index = 0;  // I, 0-based
  int count = 1;  // N
};

// Parses "I/N" (0 <= I < N) or "auto" (from the SLURM job-array variables,
// see ShardFromSlurm). Errors: kUsage naming the flag.
Result<ShardSpec> ParseShard(const std::string& arg);

// I = (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP,
// N = SLURM_ARRAY_TASK_COUNT (MIN defaults to 0 and STEP to 1 when unset).
// `get` reads one variable (getenv in mmrun; a map in tests). Errors:
// kUsage when the variables are missing or do not describe task I of N.
Result<ShardSpec> ShardFromSlurm(const char* (*get)(const char*));

// --shard and --state keep partials of one scan: every analysis must need
// exactly one pass, write neither the dataset nor outputs while scanning
// (Capabilities), so that its partials alone carry its result. kConfig
// naming "analyses[i].op" of the first that does not; `flag` is named in
// the message.
Status CheckSinglePass(const Plan& plan, const std::string& flag);

// The config with its keys sorted, as text: two parts come from "the same
// config" when these are equal.
std::string CanonicalConfig(const Plan& plan);

// The dataset's identity as parts record it: the result document's dataset
// plus file_bytes and mtime_ns. Errors: stat failures (kIoErr).
Result<Json> DatasetIdentity(const Plan& plan);

// Rows [lo, hi) of shard I of N: the Partition units split in N equal runs
// (empty when there are more shards than units).
std::pair<int64_t, int64_t> ShardRows(const Plan& plan, const ShardSpec& shard);

// Runs the shard with the coordinator (one read-only pass over its rows)
// and returns the part document without its "mmrun" member (the caller adds
// it). REQUIRES: CheckSinglePass(plan) is OK.
Result<Json> RunShard(Plan& plan, const ShardSpec& shard, const RunSettings& settings,
                      Segment& segment, Launcher& launcher);

// The part document as written: "format" and "version" first, then
// the "mmrun" section of `summary` (engine/document.h MmrunSection), the
// rest of `part` (RunShard's result), "config_id" (ChecksumHex of
// CanonicalConfig), "config_path" (the absolute path of the config the run
// read), and last the "checksum" seal (SealDocument).
Json PartDocument(Json part, const RunSummary& summary, const std::string& config_path);

// A part file read back: its document, checked for every key's type and
// for its seal, and its shard.
struct Part {
  std::string path;
  Json doc;
  ShardSpec shard;
};
// Parses and checks the text of part file `path`. Errors (kDataErr, naming
// the file and, for a type mismatch, the key): not JSON, not a part, another
// version, a key missing or of the wrong type, a checksum mismatch, a
// malformed shard.
Result<Part> ParsePart(const std::string& text, const std::string& path);

// `mmrun merge PART.json... [-o OUT] [-q]`. Error codes: 64 usage, 66 a part file or the config it
// names missing, 65 parts that are malformed, edited (checksum), of another
// format version, of another config or dataset, whose plan differs from the
// one the named config gives, duplicated or incomplete; 73 the output.
Status MergeCommand(const std::vector<std::string>& args);

}  // namespace mm
