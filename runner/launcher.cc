#include "runner/launcher.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "io/files.h"

extern char** environ;

namespace mm {

namespace {

constexpr int kStopSignals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGPIPE,
                                SIGALRM, SIGUSR1, SIGUSR2, SIGXCPU};

struct StartupSignals {
  bool recorded = false;
  sigset_t mask;  // the mask mmrun started with
  sigset_t stop;  // the stop signals not ignored at startup
};

StartupSignals& Startup() {
  static StartupSignals s;
  return s;
}

sigset_t AllStopSignalsAndChild() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kStopSignals) sigaddset(&set, sig);
  sigaddset(&set, SIGCHLD);
  return set;
}

}  // namespace

void BlockSignalsAtStartup() {
  StartupSignals& s = Startup();
  if (s.recorded) return;
  const sigset_t all = AllStopSignalsAndChild();
  sigprocmask(SIG_BLOCK, &all, &s.mask);
  sigemptyset(&s.stop);
  for (int sig : kStopSignals) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN)
      continue;  // nohup, `cmd &`
    sigaddset(&s.stop, sig);
  }
  // An ignored SIGCHLD would reap the workers before waitpid sees them.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, nullptr);
  s.recorded = true;
}

sigset_t StopSignals() {
  if (!Startup().recorded) BlockSignalsAtStartup();
  return Startup().stop;
}

void ReleaseStartupSignals() {
  if (const int sig = TakePendingSignal()) {
    std::fprintf(stderr, "mmrun: error: interrupted by %s before starting: nothing done\n",
                 SignalName(sig).c_str());
    std::exit(128 + sig);
  }
  sigprocmask(SIG_SETMASK, &Startup().mask, nullptr);
}

sigset_t BlockRunSignals() {
  if (!Startup().recorded) BlockSignalsAtStartup();
  const sigset_t all = AllStopSignalsAndChild();
  sigprocmask(SIG_BLOCK, &all, nullptr);
  sigset_t children = Startup().mask;
  for (int sig : kStopSignals) sigdelset(&children, sig);  // workers die by any stop signal
  sigdelset(&children, SIGCHLD);
  return children;
}

int TakePendingSignal() {
  const sigset_t set = StopSignals();
  const struct timespec zero = {0, 0};
  const int sig = sigtimedwait(&set, nullptr, &zero);
  return sig > 0 ? sig : 0;
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

Result<pid_t> ProcessLauncher::Start(const WorkerTask& task, const std::string& segment_name) {
  const pid_t parent = ::getpid();
  if (!spawn_) {
    const pid_t pid = ::fork();
    if (pid < 0) return FromErrno(errno, "cannot fork a worker", Code::kWorkerFailed);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) _exit(70);
      sigprocmask(SIG_SETMASK, &child_mask_, nullptr);
      SetUpWorkerProcess();
      int code = static_cast<int>(Code::kWorkerFailed);
      try {  // never unwind into the coordinator's frames (RunWorker catches what it can)
        code = RunWorker(task, segment_name);
      } catch (...) {
      }
      _exit(code);
    }
    return pid;
  }
  // The dataset's descriptor crosses exec as a duplicate without
  // FD_CLOEXEC, made once and kept for the launcher's life: closing a
  // descriptor of the dataset would drop this process's POSIX locks on it
  // (io/dataset_lock.h).
  if (task.plan->dataset.fd() >= 0 && !inherited_.valid()) {
    inherited_ = FileDescriptor(::fcntl(task.plan->dataset.fd(), F_DUPFD, 3));
    if (!inherited_.valid())
      return FromErrno(errno, "cannot pass the dataset to a worker", Code::kWorkerFailed);
  }
  const std::string slot = std::to_string(task.slot), ppid = std::to_string(parent),
                    dfd = std::to_string(task.plan->dataset.fd() >= 0 ? inherited_.get() : -1);
  const char* argv[] = {worker_exe_.c_str(), "--segment", segment_name.c_str(), "--slot",
                        slot.c_str(),        "--parent",  ppid.c_str(),         "--dataset-fd",
                        dfd.c_str(),         nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Stop signals at their default action (ignored ones stay ignored).
  sigset_t defaults = StopSignals();
  posix_spawnattr_setsigmask(&attr, &child_mask_);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, worker_exe_.c_str(), nullptr, &attr,
                              const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attr);
  if (err != 0)
    return FromErrno(err, "cannot start worker executable " + worker_exe_, Code::kWorkerFailed);
  return pid;
}

namespace {

// Reaps one exited child without blocking: its kExited event, else kTimeout
// (nothing happened).
WaitEvent ReapOne() {
  WaitEvent ev;
  int status = 0;
  const pid_t done = ::waitpid(-1, &status, WNOHANG);
  if (done > 0) {
    ev.kind = WaitEvent::kExited;
    ev.pid = done;
    ev.status = status;
  }
  return ev;
}

}  // namespace

WaitEvent ProcessLauncher::Wait(int timeout_ms) {
  WaitEvent ev = ReapOne();
  if (ev.kind == WaitEvent::kExited) return ev;
  sigset_t set = StopSignals();
  sigaddset(&set, SIGCHLD);
  struct timespec ts = {timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  const int sig = sigtimedwait(&set, nullptr, &ts);
  if (sig > 0 && sig != SIGCHLD) {
    ev.kind = WaitEvent::kSignal;
    ev.signo = sig;
    return ev;
  }
  return ReapOne();
}

void ProcessLauncher::Kill(pid_t pid) { ::kill(pid, SIGKILL); }

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + SignalName(sig) + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended with wait status " + std::to_string(status);
}

}  // namespace mm
