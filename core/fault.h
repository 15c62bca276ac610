// Fault injection for tests (docs/RELIABILITY.md).
//
// MMRUN_TEST_FAULT holds comma-separated `name=value` items, read on every
// call (cheap: only at a few points per run, never per element). Production
// runs never set it. Known names:
//   kill_after_rows=N  a worker SIGKILLs itself after scanning N rows (first attempt)
//   exit_after_rows=N  a worker exits 3 after N rows (first attempt)
//   hang_after_rows=N  a worker sleeps forever after N rows (first attempt)
//   pause_after_rows=N a worker stops itself (SIGSTOP) once after N rows, at a
//                      window's end (first attempt); the test resumes it (SIGCONT)
//   pause_before_open=1  a worker stops itself (SIGSTOP) before it opens the
//                      file it maps (first attempt); the test resumes it (SIGCONT)
//   stop_at_start=1    mmrun stops itself (SIGSTOP) as main's first action
//   pause_after_commit=1  the coordinator waits up to 60 s for a stop signal
//                      once the run's writes are committed (runner/commands.cc)
//   corrupt_slot=1     a worker flips a byte of its committed slot (first attempt)
//   throw_while_running=MS  the coordinator throws (as a bug would) MS ms
//                      after its workers of a pass started: exit 70, one
//                      line, a transform rolled back, nothing left behind
//   throw_after_rows=N a worker throws (as a bug would) after N rows (first
//                      attempt): its slot fails with the exception's text
//   segment_enospc=1   creating the shared segment fails as on a full /dev/shm
//   rename_fail=1      renaming an output into place fails
//   plot_write_fail=K  writing the K-th picture (0-based) of a command fails
//                      as on a full disk (runner/plot_command.cc)
//   journal_enospc, journal_hold_after=N, journal_hold_after_commit=1
//                      the transform journal's hooks
//                      (docs/JOURNAL_FORMAT.md, "Test hooks")
//   transform_block_ms=N  every block of a transform's passes takes N ms longer
//                      (read once per process; docs/JOURNAL_FORMAT.md)
//
// A hook that is a number of its own has its own variable, read by
// TestHookValue:
//   MMRUN_TEST_QUANTILE_CAP=N  the quantiles' gather cap (analysis/quantiles.cc),
//                      lowered by tests to drive every refinement path
//   MMRUN_TEST_QUANTILE_WIDE=1  64-bit counters whatever the lane length
//   MMRUN_TEST_QUANTILE_TILES=0  the radix passes where lane tiles would run;
//                      =1 lane tiles wherever they can run
#pragma once

#include <cstdint>

namespace mm {

// The value of fault `name`, or -1 when it is not set.
int64_t FaultValue(const char* name);
inline bool FaultEnabled(const char* name) { return FaultValue(name) >= 0; }

// The number held by the test variable `variable` (e.g.
// "MMRUN_TEST_QUANTILE_CAP"), or -1 when it is unset or empty.
int64_t TestHookValue(const char* variable);

}  // namespace mm
