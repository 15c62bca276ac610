// Advisory locks on a dataset, and the check for the journal of an
// interrupted transform (SPEC §3 `transform`, §5 exit 75 and 65). Which
// lock a run takes is runner/run_guard.h's choice.
//
// Every mmrun run holds a lock on its dataset for its whole life: a run
// that transforms the file an exclusive one, every other run a shared one.
// A run that finds the file locked by a conflicting run exits 75 at once,
// naming the holder's pid; a holder that is not an mmrun run (a classic
// record lock over mmrun's bytes, e.g. Python's fcntl.lockf) is named as
// such with its pid, and one that cannot be identified is said to be so. The lock is an OFD lock on
// one byte far past the end of the file (journal_format.h: kLockByte): the kernel drops it when the
// last process holding its open file description dies, and forked workers inherit it, so a killed
// run never wedges the file. Because OFD locks do not tell their owner's pid, the holder also takes
// a POSIX lock of the same kind on the next byte (kPidBeaconByte), which F_GETLK reports with the
// holder's pid.
//
// On a file system without record locks a reading run goes on unlocked and
// a transform refuses (exit 74).
//
// REQUIRES of a process holding a DatasetLock: it must not open and close
// the dataset file again (closing any descriptor of the file drops that
// process's POSIX locks, and so the pid beacon; the OFD lock itself stays).
#pragma once

#include <string>

#include "core/status.h"
#include "io/files.h"

namespace mm {

class DatasetLock {
 public:
  DatasetLock() = default;
  DatasetLock(DatasetLock&&) = default;
  DatasetLock& operator=(DatasetLock&&) = default;

  // Locks `path` (absolute): exclusive (opens it read-write) or shared.
  // wait_ms > 0 retries a held lock for that long. A lock held by no live
  // run (no pid beacon: the orphaned forked workers of a killed run, which
  // die with it) is waited for up to 3 s. Errors: kLocked naming the
  // holder's pid, kNoInput, kNoPerm, kIoErr.
  static Result<DatasetLock> Acquire(const std::string& path, bool exclusive, int wait_ms = 0);

  bool held() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  FileDescriptor fd_;
  std::string path_;
};

// kDataErr naming `mmrun recover` when `path` has the journal of an
// interrupted transform (a journal whose transform is still running, i.e.
// whose dataset is locked exclusively, is not stale). The journal is found
// by the file's identity (journal.h FindJournal), so a symlink or a hard
// link does not hide it; one that is not trusted (CheckJournalTrusted) is
// kNoPerm saying why.
Status CheckNoStaleJournal(const std::string& path);
// The same for the dataset open as `fd`, its lock held by the caller
// (`exclusive`: the exclusive lock of a transform, which may then remove the
// mark and leftover of a transform killed after its commit).
Status CheckStaleJournal(const std::string& path, int fd, bool exclusive);

}  // namespace mm
