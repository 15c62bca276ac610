#include "runner/run_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mm {

namespace {

const char* KindOf(mode_t mode) {
  return S_ISLNK(mode)    ? "a symbolic link"
         : S_ISDIR(mode)  ? "a directory"
         : S_ISFIFO(mode) ? "a FIFO"
         : S_ISREG(mode)  ? "a file"
                          : "a special file";
}

Status Refuse(const std::string& path, const struct stat& st) {
  return Error(Code::kNoPerm,
               "--lock " + path + ": " + KindOf(st.st_mode) + " owned by " + OwnerName(st.st_uid) +
                   "; a lock file must be a regular file of your own (put it in a folder only "
                   "you can write: $XDG_RUNTIME_DIR or ~/.cache)");
}

}  // namespace

Result<FileDescriptor> TakeRunLock(const std::string& path) {
  Result<FileDescriptor> opened = FileDescriptor::Open(
      path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK, 0600, Code::kCantCreate);
  if (!opened.ok()) {
    // ELOOP: a symbolic link; EISDIR: a folder; EACCES: e.g. another user's
    // file in a sticky folder (fs.protected_regular). Say what and whose.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0 && (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()))
      return Refuse(path, st);
    return opened.status().WithContext("--lock");
  }
  FileDescriptor fd = std::move(*opened);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FromErrno(errno, "--lock " + path, Code::kIoErr);
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) return Refuse(path, st);
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_SETLK, &fl) != 0) {
    if (errno != EACCES && errno != EAGAIN)
      return FromErrno(errno, "--lock " + path + ": lock", Code::kIoErr);
    struct flock probe;
    std::memset(&probe, 0, sizeof probe);
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    std::string holder;
    if (::fcntl(fd.get(), F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK)
      holder = " (pid " + std::to_string(probe.l_pid) + ")";
    return Error(Code::kLocked, "--lock " + path + ": held by another run" + holder);
  }
  return fd;
}

}  // namespace mm
