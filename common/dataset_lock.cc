#include "common/dataset_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "common/journal.h"
#include "common/journal_format.h"

namespace mm {

namespace {

struct flock Range(short type, int64_t start) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = start;
  fl.l_len = 1;
  return fl;
}

// The pid of a run holding a lock that conflicts with `type`, or 0.
pid_t Holder(int fd, short type) {
  struct flock probe = Range(type, jfmt::kPidBeaconByte);
  if (::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK && probe.l_pid > 0) return probe.l_pid;
  return 0;
}

// How long a run waits for the orphaned workers of a killed run to die.
constexpr int kOrphanWaitMs = 3000;

bool Busy(int err) { return err == EACCES || err == EAGAIN; }

bool IsTransform(const Analysis& a) { return a.spec().op == "transform"; }

}  // namespace

Result<DatasetLock> DatasetLock::Acquire(const std::string& path, bool exclusive, int wait_ms) {
  DatasetLock lock;
  lock.path_ = path;
  MM_ASSIGN_OR_RETURN(lock.fd_, FileDescriptor::Open(path, exclusive ? O_RDWR : O_RDONLY, 0, Code::kIoErr));
  const short type = exclusive ? F_WRLCK : F_RDLCK;
  const auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + std::chrono::milliseconds(wait_ms);
  for (;;) {
    // The pid beacon first, then the lock itself: a run that holds the
    // lock has its beacon up already, so a refused run can name it.
    struct flock beacon = Range(type, jfmt::kPidBeaconByte);
    int err = 0;
    if (::fcntl(lock.fd_.get(), F_SETLK, &beacon) != 0) err = errno;
    if (err != 0 && !Busy(err)) err = 0;  // no beacon on this file system: runs are not named, still locked
    if (err == 0) {
      struct flock ofd = Range(type, jfmt::kLockByte);
      if (::fcntl(lock.fd_.get(), F_OFD_SETLK, &ofd) == 0) return lock;
      err = errno;
      struct flock undo = Range(F_UNLCK, jfmt::kPidBeaconByte);
      ::fcntl(lock.fd_.get(), F_SETLK, &undo);
    }
    if (!Busy(err)) {
      // A file system without record locks: a reading run goes on unlocked;
      // a transform, which must have the file to itself, refuses.
      if (!exclusive) return lock;
      return FromErrno(err, path + ": cannot lock the file for an in-place transform", Code::kIoErr);
    }
    // Held, but no run's pid beacon: only the forked workers of a run whose
    // coordinator was killed still hold it, and they are dying with it.
    if (Holder(lock.fd_.get(), type) == 0)
      deadline = std::max(deadline, t0 + std::chrono::milliseconds(kOrphanWaitMs));
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const pid_t holder = Holder(lock.fd_.get(), type);
  const std::string who = holder > 0 ? "pid " + std::to_string(holder) : "pid unknown: a worker of a run that just ended";
  return Error(Code::kLocked, path + ": locked by another mmrun run (" + who + ")" +
                                  (exclusive ? "; a transform needs the file to itself"
                                             : "; an in-place transform is running on it"));
}

Status CheckNoStaleJournal(const std::string& path) {
  if (!JournalExists(path)) return Status::OK();
  // A running transform holds the exclusive lock: then the journal is live.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.valid()) {
    struct flock probe = Range(F_RDLCK, jfmt::kLockByte);
    if (::fcntl(fd.get(), F_OFD_GETLK, &probe) == 0 && probe.l_type == F_WRLCK) return Status::OK();
  }
  return Error(Code::kDataErr, path + ": a journal of an interrupted transform exists (" + JournalDirFor(path) +
                                   "): the file may be partly transformed; run `mmrun recover " + path +
                                   "` to restore it");
}

Result<RunGuard> RunGuard::ForPlan(const Plan& plan) {
  RunGuard g;
  if (plan.dataset.mode == "w+") return g;
  for (const auto& a : plan.analyses) {
    if (!IsTransform(*a)) continue;
    g.transforms_ = true;
    const Json& p = a->spec().params;
    if (p.contains("journal") && p["journal"].is_boolean() && !p["journal"].get<bool>()) g.unjournaled_ = true;
  }
  MM_ASSIGN_OR_RETURN(g.lock_, DatasetLock::Acquire(plan.dataset.path, g.transforms_));
  if (JournalExists(plan.dataset.path))
    return Error(Code::kDataErr, plan.dataset.path + ": a journal of an interrupted transform exists (" +
                                     JournalDirFor(plan.dataset.path) +
                                     "): the file may be partly transformed; run `mmrun recover " +
                                     plan.dataset.path + "` to restore it");
  return g;
}

Status RunGuard::Fail(const Status& st) {
  if (st.ok() || !transforms_ || !lock_.held()) return st;
  const std::string& path = lock_.path();
  if (!JournalExists(path)) {
    if (unjournaled_)
      return Error(st.code(), st.message() + "; " + path +
                                  " may be partly transformed (the transform ran with \"journal\": false)");
    return st;
  }
  Result<RollBackReport> r = RollBack(path, lock_.fd(), 5000);
  if (!r.ok())
    return Error(st.code(), st.message() + "; rolling the transform back failed (" + r.status().message() +
                                "): run `mmrun recover " + path + "`");
  return Error(st.code(), st.message() + "; the transform was rolled back, " + path + " is unchanged");
}

}  // namespace mm
