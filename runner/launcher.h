// Launcher: how the coordinator starts, watches and stops worker processes.
//
// ProcessLauncher forks (the child runs RunWorker) or posix_spawns mmworker.
// Wait() returns when a worker ends, when SIGINT/SIGTERM arrives, or after
// the timeout; the coordinator blocks those signals and SIGCHLD for the
// whole run and receives them only here (sigtimedwait), so no handler runs
// at an awkward moment. The interface exists so coordinator logic (retry,
// timeout, merge) can be tested with a fake that runs no process.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>

#include "common/status.h"
#include "worker/worker_loop.h"

namespace mm {

struct WaitEvent {
  enum Kind { kExited, kSignal, kTimeout } kind = kTimeout;
  pid_t pid = 0;
  int status = 0;  // waitpid status for kExited
  int signo = 0;   // for kSignal
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual Result<pid_t> Start(const WorkerTask& task, const std::string& segment_name) = 0;
  virtual WaitEvent Wait(int timeout_ms) = 0;
  virtual void Kill(pid_t pid) = 0;
};

// Blocks SIGINT, SIGTERM, SIGCHLD and SIGPIPE-free handling for the
// coordinator; returns the previous mask, which children get back.
sigset_t BlockRunSignals();
// A pending SIGINT/SIGTERM, consumed; 0 if none.
int TakePendingSignal();

class ProcessLauncher : public Launcher {
 public:
  // spawn == false: fork. worker_exe: the mmworker path for spawn.
  ProcessLauncher(bool spawn, std::string worker_exe, sigset_t child_mask)
      : spawn_(spawn), worker_exe_(std::move(worker_exe)), child_mask_(child_mask) {}
  Result<pid_t> Start(const WorkerTask& task, const std::string& segment_name) override;
  WaitEvent Wait(int timeout_ms) override;
  void Kill(pid_t pid) override;

 private:
  bool spawn_;
  std::string worker_exe_;
  sigset_t child_mask_;
};

// "killed by signal 9 (SIGKILL)" / "exited with status 3".
std::string DescribeExit(int status);

}  // namespace mm
