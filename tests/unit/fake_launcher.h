// FakeLauncher: a Launcher (runner/launcher.h) that runs no process, so the
// coordinator's retry, timeout, fatal-exit and signal logic is tested
// without forking.
//
// Each Start() gives the task a made-up pid and asks `script` for its fate:
//   kWork  the worker runs here, in this process and at once (RunWorker:
//          it scans its rows and commits its slot), and exits with
//          RunWorker's status;
//   kExit  the worker exits with `code` without committing; a non-empty
//          `message` is left in its slot first (Segment::FailSlot), as a
//          real worker reports its error;
//   kHang  the worker never ends by itself: only Kill() ends it (SIGKILL).
// Wait() reports the ended workers one per call, in the order they ended;
// with none ended it returns kTimeout after sleeping 1 ms (the coordinator
// measures timeouts on the real clock). `signal_at_wait` makes the Nth call
// of Wait() (1-based) report stop signal `signo` instead.
//
// Single-threaded, like the coordinator. The plan a task points to must
// outlive the launcher's Start() calls.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/scan.h"
#include "io/segment.h"
#include "runner/launcher.h"

namespace mm {

class FakeLauncher : public Launcher {
 public:
  struct Fate {
    enum Kind { kWork, kExit, kHang } kind = kWork;
    int code = 0;
    std::string message;
  };
  struct Started {
    pid_t pid;
    uint32_t slot, attempt;
    int64_t row_begin, row_end;
  };

  // The fate of each started task; every task works when it is not set.
  std::function<Fate(const WorkerTask&)> script;
  int signal_at_wait = 0;
  int signo = SIGINT;

  // What the coordinator did, for the tests to check.
  std::vector<Started> started;
  std::vector<pid_t> killed;
  int waits = 0;

  Result<pid_t> Start(const WorkerTask& task, const std::string& segment_name) override {
    const pid_t pid = next_pid_++;
    started.push_back(Started{pid, task.slot, task.attempt, task.row_begin, task.row_end});
    const Fate fate = script ? script(task) : Fate{};
    switch (fate.kind) {
      case Fate::kWork:
        ended_.emplace_back(pid, W_EXITCODE(RunWorker(task, segment_name), 0));
        break;
      case Fate::kExit:
        if (!fate.message.empty()) {
          MM_ASSIGN_OR_RETURN(Segment seg, Segment::Open(segment_name));
          MM_RETURN_IF_ERROR(seg.FailSlot(task.slot, task.attempt, fate.message));
        }
        ended_.emplace_back(pid, W_EXITCODE(fate.code, 0));
        break;
      case Fate::kHang:
        hanging_.insert(pid);
        break;
    }
    return pid;
  }

  WaitEvent Wait(int) override {
    WaitEvent ev;
    if (++waits == signal_at_wait) {
      ev.kind = WaitEvent::kSignal;
      ev.signo = signo;
      return ev;
    }
    if (ended_.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ev.kind = WaitEvent::kTimeout;
      return ev;
    }
    ev.kind = WaitEvent::kExited;
    ev.pid = ended_.front().first;
    ev.status = ended_.front().second;
    ended_.pop_front();
    return ev;
  }

  void Kill(pid_t pid) override {
    killed.push_back(pid);
    if (hanging_.erase(pid) > 0) ended_.emplace_back(pid, W_EXITCODE(0, SIGKILL));
  }

  // Started tasks of `slot`, in start order.
  std::vector<Started> StartsOf(uint32_t slot) const {
    std::vector<Started> out;
    for (const Started& s : started)
      if (s.slot == slot) out.push_back(s);
    return out;
  }
  bool AnyRunning() const { return !hanging_.empty() || !ended_.empty(); }

 private:
  pid_t next_pid_ = 100000;
  std::deque<std::pair<pid_t, int>> ended_;  // (pid, waitpid status), not yet reported
  std::set<pid_t> hanging_;
};

}  // namespace mm
