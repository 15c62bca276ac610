#include "runner/run_guard.h"

#include "io/journal.h"

namespace mm {

Result<RunGuard> RunGuard::ForPlan(const Plan& plan) {
  RunGuard g;
  if (plan.dataset.mode == "w+") return g;
  for (const auto& a : plan.analyses) {
    const Capabilities& caps = a->capabilities();
    if (!caps.writes_in_place()) continue;
    g.writes_ = true;
    if (!caps.journaled) g.unjournaled_ = true;
  }
  MM_ASSIGN_OR_RETURN(g.lock_, DatasetLock::Acquire(plan.dataset.path, g.writes_));
  MM_RETURN_IF_ERROR(CheckStaleJournal(plan.dataset.path, g.lock_.fd(), g.writes_));
  return g;
}

Status RunGuard::Fail(const Status& st) {
  if (st.ok() || !writes_ || !lock_.held()) return st;
  const std::string& path = lock_.path();
  Result<std::string> dir = FindJournal(path, lock_.fd());
  if (dir.ok() && dir->empty()) {
    if (unjournaled_)
      return Error(st.code(),
                   st.message() + "; " + path +
                       " may be partly transformed (the transform ran with \"journal\": false)");
    return st;
  }
  Result<RollBackReport> r = RollBack(path, lock_.fd(), 5000);
  if (!r.ok())
    return Error(st.code(), st.message() + "; rolling the transform back failed (" +
                                r.status().message() + "): run `mmrun recover " + path + "`");
  return Error(st.code(),
               st.message() + "; the transform was rolled back, " + path + " is unchanged");
}

}  // namespace mm
