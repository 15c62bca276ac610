// The coordinator: runs a Plan's passes with worker processes and merges
// their partials (DESIGN "Processes", "Deterministic merge").
//
// For each pass it lays out the shared segment, starts one worker per
// non-empty row range, waits, retries failed ranges in fresh processes,
// enforces the timeout, stops everything on a stop signal (launcher.h), accepts only
// slots that verify from workers that exited 0, and merges the slots' tree
// nodes in block order. REQUIRES: BlockRunSignals() was called.
#pragma once

#include <vector>

#include "engine/merge.h"
#include "engine/payload.h"
#include "engine/plan.h"
#include "runner/launcher.h"
#include "runner/progress.h"

namespace mm {

struct RunSettings {
  int workers = 1;
  double timeout_s = 0;  // 0: none
  int retries = 1;
  Progress* progress = nullptr;
  int* started = nullptr;  // when set: raised to the most workers RunWorkers started for one pass
};

// Runs every pass; returns the "results" object. Errors carry SPEC §5 codes
// (128 + n for stop signal n: 130 SIGINT, 143 SIGTERM; the message does not
// say what is on disk, the caller does); kIoErr when the
// dataset is smaller at the end of a pass than when it was planned.
Result<Json> RunPasses(Plan& plan, const RunSettings& settings, Segment& segment,
                       Launcher& launcher);

// ---- The pieces RunPasses is made of, shared with shards (runner/shard.h),
// incremental runs (runner/state.h) and mmrun-mpi.

struct RowRange {
  int64_t begin = 0, end = 0;
};

// The split of rows [row_lo, row_hi) among `workers` on unit boundaries
// (Partition::RowsOf); empty ranges are dropped. Empty when row_lo >= row_hi.
std::vector<RowRange> SplitRows(const Plan& plan, int workers, int64_t row_lo, int64_t row_hi);

// (a) Runs pass `pass` with one worker per range (retries, timeout and
// signals as RunPasses) and returns each range's payload, in the order of
// `ranges`. REQUIRES: segment.slots() >= ranges.size(); ranges non-empty,
// in row order; the pass' analyses Prepare()d.
//
// With `sink`, each payload goes to sink(slot, payload) instead, in slot
// order, as soon as its worker and every earlier one are done (so the
// coordinator decodes the first payloads while later workers still run,
// and holds one payload at a time); the strings returned are then empty.
// An error from the sink stops the workers and is returned.
using PayloadSink = std::function<Status(size_t slot, std::string payload)>;
Result<std::vector<std::string>> RunWorkers(Plan& plan, int pass,
                                            const std::vector<RowRange>& ranges,
                                            const RunSettings& settings, Segment& segment,
                                            Launcher& launcher, const PayloadSink& sink = nullptr);

// (b) The payloads are pushed, in row order, into one NodeTree
// (engine/payload.h PushPayload).

// (c) engine/merge.h: EndPassFromTree hands the tree's root partial to the
// pass' analyses; PreparePass before a pass, FinishResults after the last.

}  // namespace mm
