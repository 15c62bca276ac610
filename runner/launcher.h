// Launcher: how the coordinator starts, watches and stops worker processes.
//
// ProcessLauncher forks (the child runs RunWorker) or posix_spawns mmworker
// (passing it the dataset's descriptor). Wait() returns when a worker ends,
// when a stop signal arrives, or after the timeout; main() blocks the stop
// signals and SIGCHLD as its very first action (BlockSignalsAtStartup), the
// coordinator keeps them blocked for the whole run and receives them only
// here and in TakePendingSignal (sigtimedwait), so no handler runs at an
// awkward moment and a signal in the first milliseconds is not lost.
//
// The stop signals: SIGINT (exit 130), SIGTERM (143), and SIGHUP, SIGQUIT,
// SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU (exit 128 + the signal's
// number, docs/CHOICES.md); each stops the workers and leaves nothing
// behind. A signal that was ignored when mmrun started (nohup, `&` in a
// script) stays ignored. The interface exists so coordinator logic (retry,
// timeout, merge) can be tested with a fake that runs no process.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>

#include "core/status.h"
#include "engine/scan.h"
#include "io/files.h"

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

// Blocks the stop signals and SIGCHLD; the first thing main() does. Records
// the mask and the dispositions mmrun started with.
void BlockSignalsAtStartup();
// For a subcommand that does not wait for signals (validate, inspect, merge,
// recover): exits 128 + n at once if a stop signal arrived since startup,
// else gives the process its startup mask back.
void ReleaseStartupSignals();
// Blocks the stop signals and SIGCHLD for the coordinator (again: a no-op
// after BlockSignalsAtStartup); returns the startup mask, which children get
// back.
sigset_t BlockRunSignals();
// The stop signals (those not ignored at startup).
sigset_t StopSignals();
// A pending stop signal, consumed; 0 if none.
int TakePendingSignal();
// "SIGINT", "SIGHUP", ...
std::string SignalName(int sig);

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
  FileDescriptor inherited_;  // spawn: the dataset's descriptor, inheritable
};

// "killed by signal 9 (SIGKILL)" / "exited with status 3".
std::string DescribeExit(int status);

}  // namespace mm
