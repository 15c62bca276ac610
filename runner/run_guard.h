// RunGuard: a run's hold on its dataset (the lock of io/dataset_lock.h)
// and what to do with an interrupted transform when the run fails.
#pragma once

#include "core/status.h"
#include "engine/plan.h"
#include "io/dataset_lock.h"

namespace mm {

// A run's hold on its dataset: the lock, and what to do if the run fails.
class RunGuard {
 public:
  RunGuard() = default;
  RunGuard(RunGuard&&) = default;
  RunGuard& operator=(RunGuard&&) = default;

  // Locks the plan's dataset: exclusive when an analysis writes it in place
  // (Capabilities::writes_in_place: a transform), else shared (no
  // lock for mode w+: the file is created by the run). Then refuses a stale
  // journal. Errors: kLocked, kDataErr, as Acquire.
  static Result<RunGuard> ForPlan(const Plan& plan);

  // Retries for the run's workers: 0 when an analysis writes the dataset in
  // place without a journal (Capabilities::journaled: a retried range would be
  // transformed twice), else `requested`.
  int Retries(int requested) const { return unjournaled_ ? 0 : requested; }

  // After a failed run (workers already stopped): rolls an interrupted
  // transform back from its journal, so the file is as before the run.
  // Returns `st` with the outcome appended.
  Status Fail(const Status& st);

 private:
  DatasetLock lock_;
  bool writes_ = false;  // an analysis writes the existing dataset in place
  bool unjournaled_ = false;
};

}  // namespace mm
