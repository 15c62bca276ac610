#include "runner/coordinator.h"

#include <malloc.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <stdexcept>

#include "core/fault.h"

namespace mm {

namespace {

using Clock = std::chrono::steady_clock;

struct Running {
  uint32_t slot;
  Clock::time_point started;
  bool timed_out = false;
};

struct SlotTask {
  int64_t row_begin = 0, row_end = 0;
  uint32_t attempt = 0;
  std::string payload;
  bool done = false;
  bool unread = false;  // done, its slot checked but not read yet (drain reads it)
};

std::string RowsText(const SlotTask& t) {
  return "rows [" + std::to_string(t.row_begin) + ", " + std::to_string(t.row_end) + ")";
}

void StopAll(std::map<pid_t, Running>* running, Launcher& launcher) {
  for (const auto& r : *running) launcher.Kill(r.first);
  while (!running->empty()) {
    const WaitEvent ev = launcher.Wait(100);
    if (ev.kind == WaitEvent::kExited) running->erase(ev.pid);
  }
}

// Exit statuses a worker uses for errors that a retry cannot fix.
bool IsFatalExit(int status) {
  if (!WIFEXITED(status)) return false;
  const int code = WEXITSTATUS(status);
  return code == 65 || code == 66 || code == 73 || code == 74 || code == 77;
}

}  // namespace

std::vector<RowRange> SplitRows(const Plan& plan, int workers, int64_t row_lo, int64_t row_hi) {
  std::vector<RowRange> out;
  if (row_lo >= row_hi) return out;
  for (int w = 0; w < workers; ++w) {
    const auto rows = plan.partition.RowsOf(w, workers, row_lo, row_hi);
    if (rows.first < rows.second) out.push_back(RowRange{rows.first, rows.second});
  }
  return out;
}

Result<std::vector<std::string>> RunWorkers(Plan& plan, int pass,
                                            const std::vector<RowRange>& ranges,
                                            const RunSettings& settings, Segment& segment,
                                            Launcher& launcher, const PayloadSink& sink) {
  if (ranges.size() > segment.slots())
    return Error(Code::kWorkerFailed, "internal: " + std::to_string(ranges.size()) +
                                          " worker ranges but " + std::to_string(segment.slots()) +
                                          " slots");
  if (settings.started)
    *settings.started = std::max(*settings.started, static_cast<int>(ranges.size()));
  {
    // Framed in pieces, written where they go: the columns are not joined
    // into one string first.
    const FramedPieces framed = FrameInPieces(plan.ToJson(pass, /*binary=*/true));
    MM_RETURN_IF_ERROR(segment.SetPass(static_cast<uint32_t>(pass), framed.Views()));
  }
  // The plan's text and its pass inputs (normalize's per-lane columns) are
  // freed; forked workers would otherwise start with their pages. The trim
  // gives back the heap range marked for huge pages too: marked again
  // (address space only), as after RunPass' trim.
  malloc_trim(0);
  TuneHeapForWindows();
  const std::string map_path = plan.MapPath(pass);
  std::vector<SlotTask> tasks;
  for (const RowRange& r : ranges) {
    SlotTask t;
    t.row_begin = r.begin;
    t.row_end = r.end;
    tasks.push_back(std::move(t));
  }
  std::map<pid_t, Running> running;
  auto start = [&](uint32_t slot) -> Status {
    SlotTask& t = tasks[slot];
    ++t.attempt;
    segment.PrepareSlot(slot, t.attempt, static_cast<uint64_t>(t.row_begin),
                        static_cast<uint64_t>(t.row_end));
    WorkerTask wt;
    wt.plan = &plan;
    wt.pass = pass;
    wt.map_path = map_path;
    wt.slot = slot;
    wt.attempt = t.attempt;
    wt.row_begin = t.row_begin;
    wt.row_end = t.row_end;
    MM_ASSIGN_OR_RETURN(pid_t pid, launcher.Start(wt, segment.name()));
    running[pid] = Running{slot, Clock::now()};
    return Status::OK();
  };
  // An exception out of here (a bug) still stops and reaps the workers on
  // its way up (RunWith then rolls a transform back, as after an error
  // return); error returns stop them themselves. `running` holds only
  // workers not reaped yet: a reaped one leaves it before anything that
  // could throw.
  struct StopOnThrow {
    std::map<pid_t, Running>* running;
    Launcher* launcher;
    int exceptions = std::uncaught_exceptions();
    ~StopOnThrow() {
      if (std::uncaught_exceptions() > exceptions) StopAll(running, *launcher);
    }
  } stop_on_throw{&running, &launcher};
  const int64_t throw_after_ms = FaultValue("throw_while_running");
  const Clock::time_point begun = Clock::now();
  for (uint32_t s = 0; s < tasks.size(); ++s) {
    const Status st = start(s);
    if (!st.ok()) {
      StopAll(&running, launcher);
      return st;
    }
  }
  size_t sunk = 0;  // slots [0, sunk) went to the sink
  auto drain = [&]() -> Status {
    for (; sink && sunk < tasks.size() && tasks[sunk].done; ++sunk) {
      SlotTask& t = tasks[sunk];
      if (t.unread) {
        Result<std::string> payload = segment.ReadCommitted(static_cast<uint32_t>(sunk), t.attempt);
        if (!payload.ok())
          return Error(Code::kWorkerFailed, "worker " + std::to_string(sunk) + " (" + RowsText(t) +
                                                ") exited 0 but its " + payload.status().message());
        t.payload = std::move(*payload);
        t.unread = false;
      }
      MM_RETURN_IF_ERROR(sink(sunk, std::move(t.payload)));
    }
    return Status::OK();
  };
  while (!running.empty()) {
    if (throw_after_ms >= 0 && Clock::now() - begun >= std::chrono::milliseconds(throw_after_ms))
      throw std::runtime_error("test fault throw_while_running");
    const WaitEvent ev = launcher.Wait(100);
    if (ev.kind == WaitEvent::kSignal) {
      StopAll(&running, launcher);
      return Error(static_cast<Code>(128 + ev.signo),
                   "interrupted by " + SignalName(ev.signo) + ": workers stopped");
    }
    if (ev.kind == WaitEvent::kExited) {
      auto it = running.find(ev.pid);
      if (it == running.end()) continue;
      const Running r = it->second;
      running.erase(it);
      SlotTask& t = tasks[r.slot];
      std::string why;
      if (WIFEXITED(ev.status) && WEXITSTATUS(ev.status) == 0) {
        // A slot the merge cannot take yet (an earlier worker still runs)
        // is checked now and read when its turn comes: the coordinator
        // holds one payload at a time, not those of every early finisher.
        Result<std::string> payload = std::string();
        if (sink && r.slot != sunk) {
          const Status checked = segment.VerifyCommitted(r.slot, t.attempt);
          if (!checked.ok()) payload = checked;
          t.unread = checked.ok();
        } else {
          payload = segment.ReadCommitted(r.slot, t.attempt);
        }
        if (payload.ok()) {
          t.payload = std::move(*payload);
          t.done = true;
          const Status st = drain();
          if (!st.ok()) {
            StopAll(&running, launcher);
            return st;
          }
          continue;
        }
        why = "exited 0 but its " + payload.status().message();
      } else if (IsFatalExit(ev.status)) {
        std::string msg = segment.FailureMessage(r.slot, t.attempt);
        const int code = WEXITSTATUS(ev.status);
        if (msg.empty() && code == 74)
          msg = plan.dataset.path +
                ": I/O error while reading (the file may have shrunk under the run)";
        if (msg.empty()) msg = "worker " + std::to_string(r.slot) + " failed";
        StopAll(&running, launcher);
        return Error(static_cast<Code>(code),
                     msg + " (worker " + std::to_string(r.slot) + ", " + RowsText(t) + ")");
      } else {
        why = r.timed_out
                  ? "timed out after " + std::to_string(settings.timeout_s) + " s and was killed"
                  : DescribeExit(ev.status);
        const std::string msg = segment.FailureMessage(r.slot, t.attempt);
        if (!msg.empty()) why += ": " + msg;
      }
      if (static_cast<int>(t.attempt) <= settings.retries) {
        const Status st = start(r.slot);
        if (!st.ok()) {
          StopAll(&running, launcher);
          return st;
        }
        continue;
      }
      StopAll(&running, launcher);
      return Error(Code::kWorkerFailed, "worker " + std::to_string(r.slot) + " (" + RowsText(t) +
                                            ") " + why + " after " + std::to_string(t.attempt) +
                                            " attempt" + (t.attempt > 1 ? "s" : ""));
    }
    const auto now = Clock::now();
    uint64_t rows_done = 0;
    for (uint32_t s = 0; s < tasks.size(); ++s)
      rows_done += tasks[s].done ? static_cast<uint64_t>(tasks[s].row_end - tasks[s].row_begin)
                                 : segment.Progress(s);
    if (settings.progress) settings.progress->Update(pass, rows_done);
    if (settings.timeout_s > 0) {
      for (auto& r : running) {
        if (!r.second.timed_out &&
            std::chrono::duration<double>(now - r.second.started).count() > settings.timeout_s) {
          r.second.timed_out = true;
          launcher.Kill(r.first);
        }
      }
    }
  }
  // Every worker checked the size after each window; this catches a shrink
  // after a worker's last one.
  MM_RETURN_IF_ERROR(CheckNotShrunk(plan.dataset));
  MM_RETURN_IF_ERROR(drain());
  std::vector<std::string> payloads;
  for (SlotTask& t : tasks) payloads.push_back(std::move(t.payload));
  return payloads;
}

namespace {

Status RunPass(Plan& plan, int pass, const RunSettings& settings, Segment& segment,
               Launcher& launcher) {
  const std::vector<RowRange> ranges = SplitRows(plan, settings.workers, 0, plan.partition.rows());
  // Merge every slot's tree nodes in block order, each payload as soon as
  // it and those before it are in; decoded, only the tree's partials stay.
  NodeTree tree;
  auto push = [&](size_t s, std::string payload) {
    const std::string where = "worker " + std::to_string(s) + " (rows [" +
                              std::to_string(ranges[s].begin) + ", " +
                              std::to_string(ranges[s].end) + "))";
    return PushPayload(plan, pass, std::move(payload), where, &tree);
  };
  MM_RETURN_IF_ERROR(RunWorkers(plan, pass, ranges, settings, segment, launcher, push).status());
  const Status ended = EndPassFromTree(plan, pass, &tree);
  // The pass's payloads and partials are freed: their pages go back to the
  // system before the next pass forks workers (which would start with them).
  // The trim also gives back the heap range marked for huge pages at start;
  // it is marked again (address space only) for what comes next: the
  // results of a per-lane analysis are built in the coordinator, 4 KiB page
  // faults of ~10 us each otherwise (docs/BENCHMARKS.md, session 17).
  tree = NodeTree();
  malloc_trim(0);
  TuneHeapForWindows();
  return ended;
}

}  // namespace

Result<Json> RunPasses(Plan& plan, const RunSettings& settings, Segment& segment,
                       Launcher& launcher) {
  for (int pass = 0; pass < static_cast<int>(plan.passes.size()); ++pass) {
    if (!plan.PassNeeded(pass)) {
      plan.passes[static_cast<size_t>(pass)].skipped = true;
      continue;
    }
    MM_RETURN_IF_ERROR(PreparePass(plan, pass));
    MM_RETURN_IF_ERROR(RunPass(plan, pass, settings, segment, launcher));
  }
  if (const int sig = TakePendingSignal())
    return Error(static_cast<Code>(128 + sig), "interrupted by " + SignalName(sig));
  return FinishResults(plan);
}

}  // namespace mm
