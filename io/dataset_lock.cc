#include "io/dataset_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "io/journal.h"
#include "io/journal_format.h"

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

// The pid of the classic (POSIX) lock of `fd`'s file at `byte` that
// conflicts with `type`, or 0; *exact tells whether that lock covers just
// that byte (as mmrun's pid beacon does).
pid_t ClassicHolder(int fd, short type, int64_t byte, bool* exact) {
  struct flock probe = Range(type, byte);
  *exact = false;
  if (::fcntl(fd, F_GETLK, &probe) != 0 || probe.l_type == F_UNLCK || probe.l_pid <= 0) return 0;
  *exact = probe.l_start == byte && probe.l_len == 1;
  return probe.l_pid;
}

// The command name of process `pid` (/proc/PID/comm), or "" if unknown.
std::string CommandOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

// Who holds the lock byte against `type`. mmrun takes only an OFD lock on
// kLockByte and a classic lock on exactly kPidBeaconByte; so a classic lock
// on the lock byte, or a beacon that covers more than its byte, is another
// program, named with its pid. OFD locks tell no pid (F_OFD_GETLK and
// /proc/locks give -1): without a beacon the holder cannot be identified.
struct Holder {
  enum Kind { kNone, kMmrun, kForeign, kUnknown } kind = kNone;
  pid_t pid = 0;
};

Holder FindHolder(int fd, short type) {
  Holder h;
  bool exact = false;
  struct flock probe = Range(type, jfmt::kLockByte);
  if (::fcntl(fd, F_OFD_GETLK, &probe) != 0 || probe.l_type == F_UNLCK) {
    // Released meanwhile, or the beacon alone is held.
    h.pid = ClassicHolder(fd, type, jfmt::kPidBeaconByte, &exact);
    if (h.pid > 0) h.kind = exact ? Holder::kMmrun : Holder::kForeign;
    return h;
  }
  if (probe.l_pid > 0) {  // a classic lock: mmrun never takes one there
    h.kind = Holder::kForeign;
    h.pid = probe.l_pid;
    return h;
  }
  h.pid = ClassicHolder(fd, type, jfmt::kPidBeaconByte, &exact);
  h.kind = h.pid == 0 ? Holder::kUnknown : exact ? Holder::kMmrun : Holder::kForeign;
  return h;
}

std::string Describe(const Holder& h) {
  switch (h.kind) {
    case Holder::kMmrun:
      return "locked by another mmrun run (pid " + std::to_string(h.pid) + ")";
    case Holder::kForeign: {
      const std::string cmd = CommandOf(h.pid);
      return "locked by pid " + std::to_string(h.pid) + (cmd.empty() ? "" : " (" + cmd + ")") +
             ", which is not an mmrun run: it holds a record lock over the bytes mmrun locks";
    }
    default:
      return "locked by a process that cannot be identified (an open file description lock tells "
             "no pid, and no "
             "mmrun run's pid is published): the orphaned workers of a killed mmrun run, or a "
             "program that is not "
             "mmrun (`lslocks` lists the holders)";
  }
}

// How long a run waits for the orphaned workers of a killed run to die.
constexpr int kOrphanWaitMs = 3000;

bool Busy(int err) { return err == EACCES || err == EAGAIN; }

}  // namespace

Result<DatasetLock> DatasetLock::Acquire(const std::string& path, bool exclusive, int wait_ms) {
  DatasetLock lock;
  lock.path_ = path;
  struct stat st;
  MM_ASSIGN_OR_RETURN(lock.fd_, OpenRegularFile(path, exclusive ? O_RDWR : O_RDONLY, Code::kIoErr,
                                                Code::kNoInput, &st));
  const short type = exclusive ? F_WRLCK : F_RDLCK;
  const auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + std::chrono::milliseconds(wait_ms);
  for (;;) {
    // The pid beacon first, then the lock itself: a run that holds the
    // lock has its beacon up already, so a refused run can name it.
    struct flock beacon = Range(type, jfmt::kPidBeaconByte);
    int err = 0;
    if (::fcntl(lock.fd_.get(), F_SETLK, &beacon) != 0) err = errno;
    if (err != 0 && !Busy(err))
      err = 0;  // no beacon on this file system: runs are not named, still locked
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
      return FromErrno(err, path + ": cannot lock the file for an in-place transform",
                       Code::kIoErr);
    }
    // Held, but no run's pid beacon: perhaps only the forked workers of a
    // run whose coordinator was killed, which are dying with it.
    if (FindHolder(lock.fd_.get(), type).kind == Holder::kUnknown)
      deadline = std::max(deadline, t0 + std::chrono::milliseconds(kOrphanWaitMs));
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Holder holder = FindHolder(lock.fd_.get(), type);
  return Error(Code::kLocked, path + ": " + Describe(holder) +
                                  (exclusive ? "; a transform needs the file to itself"
                                             : "; it is being changed in place (a transform)"));
}

namespace {

Status StaleJournalCheck(const std::string& path, int fd, bool tidy) {
  MM_ASSIGN_OR_RETURN(std::string dir, FindJournal(path, fd));
  if (dir.empty()) {
    const std::string mark = JournalMarkOf(fd);
    if (mark.empty()) return Status::OK();
    // Killed between its commit (the rename) and the removal of its mark:
    // the file holds the transform's complete result. Only a run that holds
    // the file exclusively (a transform) tidies up what the killed run left
    // (best effort: another user's leftovers and mark stay, and are
    // harmless); a reading run changes nothing.
    if (HasCommittedLeftover(mark, fd)) {
      if (tidy) {
        struct stat ds;
        if (::fstat(fd, &ds) == 0) RemoveCommittedLeftovers(mark, ds.st_uid);
        ClearJournalMark(fd, mark);
      }
      return Status::OK();
    }
    return Error(Code::kDataErr, path + ": marked by a transform whose journal (" + mark +
                                     ") is gone or is not this file's: the file may be partly "
                                     "transformed; run `mmrun recover " +
                                     path + "` to see what happened");
  }
  MM_RETURN_IF_ERROR(CheckJournalTrusted(dir, fd));
  return Error(Code::kDataErr, path + ": a journal of an interrupted transform exists (" + dir +
                                   "): the file may be partly transformed; run `mmrun recover " +
                                   path + "` to restore it");
}

}  // namespace

Status CheckStaleJournal(const std::string& path, int fd, bool exclusive) {
  return StaleJournalCheck(path, fd, /*tidy=*/exclusive);
}

Status CheckNoStaleJournal(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return Status::OK();  // the plan reports a missing file
  // A running transform holds the exclusive lock: then the journal is live.
  struct flock probe = Range(F_RDLCK, jfmt::kLockByte);
  if (::fcntl(fd.get(), F_OFD_GETLK, &probe) == 0 && probe.l_type == F_WRLCK) return Status::OK();
  return StaleJournalCheck(path, fd.get(), /*tidy=*/false);
}

}  // namespace mm
