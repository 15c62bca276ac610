// Owners of operating-system resources: file descriptors and outputs that
// appear atomically; and the whole reads and writes (PreadFull, PwriteFull,
// ...), which hold mmrun's only EINTR loops.
//
// FileDescriptor is move-only and closes in its destructor. Every window of
// a run reads (and writes) the file the run opened, through its descriptor
// or one reopened from it (ReopenForReading), never by name
// (docs/ARCHITECTURE.md "One file for the whole run"). TempOutput is a file written under a
// temporary name beside its target and renamed over it by Commit(); destroyed uncommitted, it
// removes itself, so a failed or interrupted run leaves no partial output
// (SPEC §5), and the temporary files of a coordinator that was SIGKILLed are
// removed by the next TempOutput created in the same folder.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mm {

class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& o) noexcept : fd_(o.release()) {}
  FileDescriptor& operator=(FileDescriptor&& o) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  // open(2) with O_CLOEXEC; errors through FromErrno(errno, path, otherwise).
  static Result<FileDescriptor> Open(const std::string& path, int flags, mode_t mode,
                                     Code otherwise);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// Whole reads and writes. Each moves all `n` bytes, retrying a call that a
// signal interrupted (EINTR) and continuing after a short transfer, so EINTR
// loops live here only. A failed call is reported as FromErrno(errno, what,
// otherwise) (core/status.h), except that a write that finds the disk or the
// quota full (ENOSPC, EDQUOT) reports `full` when it is given (not kOk).
// Only WriteFull and ReadToEnd use (and move) the descriptor's file offset;
// the positioned ones may share a descriptor between threads.
//
// PreadFull returns the bytes read: fewer than `n` only at end of file.
Result<uint64_t> PreadFull(int fd, void* buf, uint64_t n, uint64_t pos, const std::string& what,
                           Code otherwise = Code::kIoErr);
Status PwriteFull(int fd, const void* buf, uint64_t n, uint64_t pos, const std::string& what,
                  Code otherwise = Code::kIoErr, Code full = Code::kOk);
// pwritev(2) of the `count` buffers of `iov` as one write at `pos`; `iov` is
// consumed (its entries are advanced past what was written).
Status PwritevFull(int fd, struct iovec* iov, int count, uint64_t pos, const std::string& what,
                   Code otherwise = Code::kIoErr, Code full = Code::kOk);
Status WriteFull(int fd, const void* buf, uint64_t n, const std::string& what,
                 Code otherwise = Code::kIoErr, Code full = Code::kOk);
// Appends to *out what `fd` holds from its offset to end of file, stopping
// early once *out is longer than `limit` bytes (the caller says what that
// means). Read errors: FromErrno(errno, what, kIoErr).
Status ReadToEnd(int fd, uint64_t limit, const std::string& what, std::string* out);

// The (st_dev, st_ino) of an open descriptor, and the check that a file a
// worker opened by the name the coordinator gave it is the file the
// coordinator created (kIoErr naming `what` when another file took the name
// meanwhile: a hostile user renaming files in a shared folder).
struct FileId {
  uint64_t dev = 0, ino = 0;
};
Result<FileId> IdOfFd(int fd, const std::string& what);
// A second, read-only open file description of the file open as `fd` (its
// own file offset and read-ahead state), opened through /proc/self/fd/N
// (the file itself, whatever its name is now; no name is looked up) and
// checked to be the same file (dev, ino). Invalid when that cannot be done
// (no /proc): the caller then uses `fd`.
FileDescriptor ReopenForReading(int fd);
// The same for writing with O_DIRECT (writes that bypass the page cache:
// buffer, offset and length aligned to kDirectAlign). Invalid where the file
// system refuses O_DIRECT (tmpfs) or /proc is missing: the caller then
// writes through `fd`.
FileDescriptor ReopenForDirectWrite(int fd);
constexpr uint64_t kDirectAlign = 4096;
Status CheckFileId(int fd, const FileId& expected, const std::string& what);

// The folder part of a path ("." for a bare name), and absolute resolution
// of `path` against `base_dir` when it is relative. "." and repeated
// slashes are removed and "name/.." is taken lexically, except after a
// symlink: there the path up to it is resolved first, as the kernel would
// ("sub/../x" with sub -> ../other is other's parent's x).
std::string DirName(const std::string& path);
// "user 'NAME' (uid N)", or "uid N" when the user has no name.
std::string OwnerName(uid_t uid);
std::string ResolvePath(const std::string& base_dir, const std::string& path);
std::string AbsolutePath(const std::string& path);

// The result's target for an absolute output path: "" (the process's
// stdout) for /dev/stdout, /dev/fd/1 and /proc/self/fd/1, else the path.
std::string ResultTarget(const std::string& abs_path);
// Whether an absolute path names an entry under /dev (but /dev/shm, a
// plain tmpfs) or /proc: never an output mmrun replaces (its temporary
// file and rename would replace the system's entry, such as the
// /dev/stdout symlink, when run as root).
bool UnderDevOrProc(const std::string& abs_path);

// A file created as DIR/.NAME.mmrun-tmp-HOST-PID-RANDOM beside `target`
// (O_EXCL|O_NOFOLLOW, mode 0644 minus umask; at Commit the permission bits
// of the regular file it replaces, if any) and renamed over target by
// Commit(). HOST is 8 hex digits of a hash of the host name and PID the
// creating process: Create() first removes, in the same folder, the
// temporary outputs of this host whose creator is gone and that belong to
// this user (never another user's, never a live process's).
class TempOutput {
 public:
  TempOutput() = default;
  TempOutput(TempOutput&& o) noexcept { *this = std::move(o); }
  TempOutput& operator=(TempOutput&& o) noexcept;
  TempOutput(const TempOutput&) = delete;
  TempOutput& operator=(const TempOutput&) = delete;
  ~TempOutput();

  // Errors: kCantCreate (or kNoPerm) naming the target; the target checks of
  // CheckOutputAgainstInputs (io/file_identity.h): kConfig when it is a
  // file this process reads, kCantCreate when it exists and is not a regular
  // file. `what` names the target in those messages (a flag or config key).
  static Result<TempOutput> Create(const std::string& target, const std::string& what = "output");
  const std::string& temp_path() const { return temp_path_; }
  const std::string& target() const { return target_; }
  int fd() const { return fd_.get(); }
  // Reserves `bytes` with posix_fallocate and sets the size; ENOSPC -> kCantCreate.
  Status Reserve(uint64_t bytes);
  Status Write(std::string_view bytes);
  // fsync, rename over the target (checked again: still not a device,
  // FIFO or folder), fsync the folder. The temporary name must still be
  // this file (device, inode; a symlink is never followed): one removed or
  // replaced by another process is kCantCreate, and nothing is renamed.
  Status Commit();

 private:
  // Unless committed: unlinks the temporary name if it is still this file.
  void RemoveUncommitted();

  FileDescriptor fd_;
  std::string temp_path_;
  std::string target_;
  std::string what_;
  bool committed_ = false;
};

// Removes from folder `dir` the temporary outputs (.NAME.mmrun-tmp-HOST-PID-*)
// of this host whose creating process is gone and that this user owns;
// returns how many it removed. Called by TempOutput::Create.
int RemoveDeadTempOutputs(const std::string& dir);

// A mkdtemp template for a private folder of this process in `base`:
// BASE/PREFIX.HOST-PID-XXXXXX, so that RemoveDeadPrivateDirs can tell
// whose it is once its process is gone (killed before it removed it).
std::string PrivateDirTemplate(const std::string& base, const std::string& prefix);

// Removes from folder `base` the folders PREFIX.HOST-PID-* made on this
// host by a process that no longer exists and owned by this user, with
// the files in them (regular files and symlinks, never followed); a
// folder holding anything else stays. Returns how many it removed.
int RemoveDeadPrivateDirs(const std::string& base, const std::string& prefix);

// The targets TempOutput::Commit renamed into place in this process, in
// order: a failure that comes later names them (never "nothing written"
// when something was).
std::vector<std::string> CommittedOutputs();

// "A was written, B was written": how a failure message names outputs
// already committed.
std::string WrittenList(const std::vector<std::string>& paths);

// Opens the file at `path` with `flags` | O_NONBLOCK (a FIFO or a device
// never blocks the caller) and checks with fstat that it is a regular
// file, filling *st. Errors, each naming `path`: not a regular file
// (folder, FIFO, socket, device; a socket that cannot be opened at all is
// told by stat) -> `bad`, saying what it is; open errors through
// FromErrno(errno, path, otherwise).
Result<FileDescriptor> OpenRegularFile(const std::string& path, int flags, Code otherwise, Code bad,
                                       struct stat* st);

// TempOutput::Create + Write + Commit.
Status WriteFileAtomically(const std::string& target, const std::string& contents);

// Size of the file at `path` by stat(2); errors through FromErrno(kIoErr).
Result<uint64_t> FileSize(const std::string& path);

// The whole content of the regular file `path`. It is opened with
// O_NONBLOCK (a FIFO or a device never blocks the caller, even with signals
// blocked) and checked with fstat before anything is read. Errors, each
// starting with `what`: missing -> kNoInput; EACCES -> kNoPerm; not a
// regular file (FIFO, socket, device, directory) or larger than
// `max_bytes` -> `bad`; read errors -> kIoErr.
Result<std::string> ReadRegularFile(const std::string& path, const std::string& what,
                                    uint64_t max_bytes, Code bad);
// The whole content of the open file `fd` (from its current offset), with
// the fstat checks and errors of ReadRegularFile.
Result<std::string> ReadOpenedFile(int fd, const std::string& what, uint64_t max_bytes, Code bad);

}  // namespace mm
