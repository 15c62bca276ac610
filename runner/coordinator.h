// The coordinator: runs a Plan's passes with worker processes and merges
// their partials (DESIGN "Processes", "Deterministic merge").
//
// For each pass it lays out the shared segment, starts one worker per
// non-empty row range, waits, retries failed ranges in fresh processes,
// enforces the timeout, stops everything on SIGINT/SIGTERM, accepts only
// slots that verify from workers that exited 0, and merges the slots' tree
// nodes in block order. REQUIRES: BlockRunSignals() was called.
#pragma once

#include "common/plan.h"
#include "runner/launcher.h"
#include "runner/progress.h"

namespace mm {

struct RunSettings {
  int workers = 1;
  double timeout_s = 0;  // 0: none
  int retries = 1;
  Progress* progress = nullptr;
};

// Runs every pass; returns the "results" object. Errors carry SPEC §5 codes
// (kInterrupted for SIGINT; 143 is reported as Code(143)).
Result<Json> RunPasses(Plan& plan, const RunSettings& settings, Segment& segment, Launcher& launcher);

}  // namespace mm
