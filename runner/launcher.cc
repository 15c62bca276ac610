#include "runner/launcher.h"

#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

extern char** environ;

namespace mm {

sigset_t BlockRunSignals() {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &old);
  return old;
}

int TakePendingSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const struct timespec zero = {0, 0};
  const int sig = sigtimedwait(&set, nullptr, &zero);
  return sig > 0 ? sig : 0;
}

Result<pid_t> ProcessLauncher::Start(const WorkerTask& task, const std::string& segment_name) {
  const pid_t parent = ::getpid();
  if (!spawn_) {
    const pid_t pid = ::fork();
    if (pid < 0) return FromErrno(errno, "cannot fork a worker", Code::kWorkerFailed);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) _exit(70);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      sigprocmask(SIG_SETMASK, &child_mask_, nullptr);
      InstallWorkerSignalHandlers();
      _exit(RunWorker(task, segment_name));
    }
    return pid;
  }
  const std::string slot = std::to_string(task.slot), ppid = std::to_string(parent);
  const char* argv[] = {worker_exe_.c_str(), "--segment", segment_name.c_str(), "--slot", slot.c_str(),
                        "--parent", ppid.c_str(), nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &child_mask_);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, worker_exe_.c_str(), nullptr, &attr, const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return FromErrno(err, "cannot start worker executable " + worker_exe_, Code::kWorkerFailed);
  return pid;
}

WaitEvent ProcessLauncher::Wait(int timeout_ms) {
  WaitEvent ev;
  int status = 0;
  const pid_t done = ::waitpid(-1, &status, WNOHANG);
  if (done > 0) {
    ev.kind = WaitEvent::kExited;
    ev.pid = done;
    ev.status = status;
    return ev;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  struct timespec ts = {timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  const int sig = sigtimedwait(&set, nullptr, &ts);
  if (sig == SIGINT || sig == SIGTERM) {
    ev.kind = WaitEvent::kSignal;
    ev.signo = sig;
    return ev;
  }
  const pid_t after = ::waitpid(-1, &status, WNOHANG);
  if (after > 0) {
    ev.kind = WaitEvent::kExited;
    ev.pid = after;
    ev.status = status;
  }
  return ev;
}

void ProcessLauncher::Kill(pid_t pid) { ::kill(pid, SIGKILL); }

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended with wait status " + std::to_string(status);
}

}  // namespace mm
