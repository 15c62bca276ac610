#include "io/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "core/checksum.h"
#include "core/fault.h"
#include "core/strings.h"
#include "io/file_identity.h"

namespace mm {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

Result<FileDescriptor> FileDescriptor::Open(const std::string& path, int flags, mode_t mode,
                                            Code otherwise) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return FromErrno(errno, path, otherwise);
  return FileDescriptor(fd);
}

namespace {

Status TransferError(int err, const std::string& what, Code otherwise, Code full) {
  const bool no_space = err == ENOSPC || err == EDQUOT;
  return FromErrno(err, what, no_space && full != Code::kOk ? full : otherwise);
}

}  // namespace

Result<uint64_t> PreadFull(int fd, void* buf, uint64_t n, uint64_t pos, const std::string& what,
                           Code otherwise) {
  char* p = static_cast<char*>(buf);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FromErrno(errno, what, otherwise);
    if (r == 0) break;
    done += static_cast<uint64_t>(r);
  }
  return done;
}

Status PwriteFull(int fd, const void* buf, uint64_t n, uint64_t pos, const std::string& what,
                  Code otherwise, Code full) {
  const char* p = static_cast<const char*>(buf);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t w = ::pwrite(fd, p + done, n - done, static_cast<off_t>(pos + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return TransferError(errno, what, otherwise, full);
    done += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

Status PwritevFull(int fd, struct iovec* iov, int count, uint64_t pos, const std::string& what,
                   Code otherwise, Code full) {
  while (count > 0) {
    if (iov->iov_len == 0) {
      ++iov;
      --count;
      continue;
    }
    const ssize_t w = ::pwritev(fd, iov, count, static_cast<off_t>(pos));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return TransferError(errno, what, otherwise, full);
    pos += static_cast<uint64_t>(w);
    for (size_t left = static_cast<size_t>(w); left > 0;) {
      const size_t step = std::min(left, iov->iov_len);
      iov->iov_base = static_cast<char*>(iov->iov_base) + step;
      iov->iov_len -= step;
      left -= step;
      if (iov->iov_len == 0) {
        ++iov;
        --count;
      }
    }
  }
  return Status::OK();
}

Status WriteFull(int fd, const void* buf, uint64_t n, const std::string& what, Code otherwise,
                 Code full) {
  const char* p = static_cast<const char*>(buf);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t w = ::write(fd, p + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return TransferError(errno, what, otherwise, full);
    done += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

Status ReadToEnd(int fd, uint64_t limit, const std::string& what, std::string* out) {
  char buf[65536];
  while (out->size() <= limit) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(errno, what, Code::kIoErr);
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  return Status::OK();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

// The components of absolute path `abs`, "." and empty ones left out.
std::vector<std::string> Components(const std::string& abs) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= abs.size()) {
    const size_t slash = abs.find('/', pos);
    const std::string part =
        abs.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return parts;
}

// Removes "." components and repeated slashes, and takes "name/.."
// lexically (other symlinks are left alone, as the user wrote them) where
// the kernel would give the same file: `name` is a folder. After a symlink
// the path up to it is resolved (realpath) first, as the kernel takes ".."
// in the folder it points to. After a name that is missing or not a folder
// ".." is kept, with the rest, for the kernel to refuse (ENOENT, ENOTDIR).
// A trailing '/' is kept: the path names a folder.
std::string Normalize(const std::string& abs) {
  std::vector<std::string> parts;
  auto join = [&parts] {
    std::string out;
    for (const std::string& p : parts) out += "/" + p;
    return out.empty() ? "/" : out;
  };
  bool literal = false;  // a ".." kept: the rest is the kernel's to resolve
  for (const std::string& part : Components(abs)) {
    if (literal || part != "..") {
      parts.push_back(part);
      continue;
    }
    if (parts.empty()) continue;
    struct stat st;
    const std::string prefix = join();
    const bool exists = ::lstat(prefix.c_str(), &st) == 0;
    bool folder = exists && S_ISDIR(st.st_mode);
    char real[PATH_MAX];
    if (exists && S_ISLNK(st.st_mode) && ::realpath(prefix.c_str(), real) != nullptr &&
        ::stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
      folder = true;
      parts = Components(real);
    }
    if (!folder) {
      parts.push_back(part);
      literal = true;
      continue;
    }
    if (!parts.empty()) parts.pop_back();
  }
  std::string out = join();
  if (abs.size() > 1 && abs.back() == '/' && out != "/") out += "/";
  return out;
}

}  // namespace

std::string ResultTarget(const std::string& abs_path) {
  if (abs_path == "/dev/stdout" || abs_path == "/dev/fd/1" || abs_path == "/proc/self/fd/1")
    return "";
  return abs_path;
}

bool UnderDevOrProc(const std::string& abs_path) {
  const auto under = [&](const char* root) {
    const size_t n = std::strlen(root);
    return abs_path.compare(0, n, root) == 0 && (abs_path.size() == n || abs_path[n] == '/');
  };
  return (under("/dev") && !under("/dev/shm")) || under("/proc");
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return Normalize(path);
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof buf) == nullptr) return path;
  return Normalize(std::string(buf) + "/" + path);
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') return AbsolutePath(path);
  return AbsolutePath(base_dir == "." ? path : base_dir + "/" + path);
}

namespace {

// Whether `name` in folder `dir` is, without following a symlink, the file
// open as `fd` (same device and inode).
bool NameIsFile(int dir, const std::string& name, int fd) {
  struct stat at, open;
  return ::fstatat(dir, name.c_str(), &at, AT_SYMLINK_NOFOLLOW) == 0 && ::fstat(fd, &open) == 0 &&
         at.st_dev == open.st_dev && at.st_ino == open.st_ino;
}

}  // namespace

void TempOutput::RemoveUncommitted() {
  if (committed_ || temp_path_.empty()) return;
  // Only the file this object made: a name another process put in its
  // place is not ours to delete.
  // O_PATH: a folder the user may write and search but not list (a 1733
  // drop box) still gives a descriptor to check and unlink through.
  FileDescriptor dir(::open(DirName(temp_path_).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  const std::string name = BaseName(temp_path_);
  if (dir.valid() && fd_.valid() && NameIsFile(dir.get(), name, fd_.get()))
    ::unlinkat(dir.get(), name.c_str(), 0);
}

TempOutput& TempOutput::operator=(TempOutput&& o) noexcept {
  if (this != &o) {
    RemoveUncommitted();
    fd_ = std::move(o.fd_);
    temp_path_ = std::move(o.temp_path_);
    target_ = std::move(o.target_);
    what_ = std::move(o.what_);
    committed_ = o.committed_;
    o.temp_path_.clear();
    o.committed_ = true;
  }
  return *this;
}

TempOutput::~TempOutput() { RemoveUncommitted(); }

namespace {

constexpr char kTempMarker[] = ".mmrun-tmp-";

// 8 hex digits of FNV-1a of the host name: a temporary output's creator can
// only be checked for life on the host that made it (folders may be shared
// between the nodes of a cluster).
const std::string& HostTag() {
  static const std::string tag = [] {
    char host[256] = {0};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    char out[9];
    snprintf(out, sizeof out, "%08x", Fnv1a32(host));
    return std::string(out);
  }();
  return tag;
}

// The pid in "HOST-PID-..." (`rest`) when HOST is this host's tag, or 0.
pid_t PidOnThisHost(const std::string& rest) {
  const std::string& host = HostTag();
  if (rest.size() < host.size() + 2 || rest.compare(0, host.size(), host) != 0 ||
      rest[host.size()] != '-')
    return 0;
  const char* p = rest.c_str() + host.size() + 1;
  char* end = nullptr;
  const long pid = std::strtol(p, &end, 10);
  if (end == p || *end != '-' || pid <= 0 || pid > INT_MAX) return 0;
  return static_cast<pid_t>(pid);
}

// The creator's pid of a temporary output named .NAME.mmrun-tmp-HOST-PID-RANDOM
// made on this host, or 0.
pid_t TempOwnerPid(const std::string& name) {
  if (name.empty() || name[0] != '.') return 0;
  const size_t at = name.rfind(kTempMarker);
  if (at == std::string::npos) return 0;
  return PidOnThisHost(name.substr(at + sizeof kTempMarker - 1));
}

// Whether `pid` (not this process) is gone: kill(pid, 0) says ESRCH. One
// alive, or not ours to signal, is not.
bool ProcessGone(pid_t pid) { return pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

int RemoveDeadTempOutputs(const std::string& dir) {
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return 0;
  DIR* d = ::fdopendir(dfd);
  if (d == nullptr) {
    ::close(dfd);
    return 0;
  }
  int removed = 0;
  while (struct dirent* e = ::readdir(d)) {
    const pid_t pid = TempOwnerPid(e->d_name);
    if (pid == 0 || !ProcessGone(pid)) continue;
    struct stat st;
    if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid())
      continue;  // another user's, or not a file
    if (::unlinkat(dfd, e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

std::string PrivateDirTemplate(const std::string& base, const std::string& prefix) {
  return base + "/" + prefix + "." + HostTag() + "-" + std::to_string(::getpid()) + "-XXXXXX";
}

int RemoveDeadPrivateDirs(const std::string& base, const std::string& prefix) {
  const int bfd = ::open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (bfd < 0) return 0;
  DIR* b = ::fdopendir(bfd);
  if (b == nullptr) {
    ::close(bfd);
    return 0;
  }
  const std::string head = prefix + ".";
  int removed = 0;
  while (struct dirent* e = ::readdir(b)) {
    const std::string name = e->d_name;
    if (name.compare(0, head.size(), head) != 0) continue;
    const pid_t pid = PidOnThisHost(name.substr(head.size()));
    if (pid == 0 || !ProcessGone(pid)) continue;
    // Ours (this user's), a real folder (never a symlink to one), and
    // only the regular files and symlinks in it are removed: unlinkat
    // never follows them.
    const int dfd =
        ::openat(bfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (dfd < 0) continue;
    struct stat st;
    if (::fstat(dfd, &st) != 0 || st.st_uid != ::geteuid()) {
      ::close(dfd);
      continue;
    }
    DIR* d = ::fdopendir(dfd);
    if (d == nullptr) {
      ::close(dfd);
      continue;
    }
    while (struct dirent* f = ::readdir(d)) {
      struct stat fst;
      if (::fstatat(dfd, f->d_name, &fst, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISREG(fst.st_mode) || S_ISLNK(fst.st_mode)) ::unlinkat(dfd, f->d_name, 0);
    }
    ::closedir(d);
    if (::unlinkat(bfd, name.c_str(), AT_REMOVEDIR) == 0) ++removed;
  }
  ::closedir(b);
  return removed;
}

std::string OwnerName(uid_t uid) {
  struct passwd pw, *found = nullptr;
  char buf[4096];
  const std::string id = "uid " + std::to_string(uid);
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr)
    return "user '" + std::string(found->pw_name) + "' (" + id + ")";
  return id;
}

Result<TempOutput> TempOutput::Create(const std::string& target, const std::string& what) {
  MM_RETURN_IF_ERROR(CheckOutputAgainstInputs(NamedFile{target, what}));
  const std::string dir = DirName(target);
  const std::string base =
      target.substr(target.rfind('/') == std::string::npos ? 0 : target.rfind('/') + 1);
  (void)RemoveDeadTempOutputs(dir);
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[48];
    snprintf(suffix, sizeof suffix, "%s-%ld-%08x%08x", HostTag().c_str(),
             static_cast<long>(::getpid()), rd(), rd());
    std::string temp = dir + "/." + base + kTempMarker + suffix;
    int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) return FromErrno(errno, target + ": cannot create output", Code::kCantCreate);
    TempOutput out;
    out.fd_ = FileDescriptor(fd);
    out.temp_path_ = temp;
    out.target_ = target;
    out.what_ = what;
    return out;
  }
  return Error(Code::kCantCreate, target + ": cannot create a temporary file beside it");
}

Result<FileId> IdOfFd(int fd, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, what, Code::kIoErr);
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

namespace {

FileDescriptor Reopen(int fd, int flags) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  FileDescriptor own(::open(proc.c_str(), flags | O_CLOEXEC | O_NONBLOCK));
  if (!own.valid()) return own;
  struct stat a, b;
  if (::fstat(fd, &a) != 0 || ::fstat(own.get(), &b) != 0 || a.st_dev != b.st_dev ||
      a.st_ino != b.st_ino || !S_ISREG(b.st_mode))
    return FileDescriptor();
  return own;
}

}  // namespace

FileDescriptor ReopenForReading(int fd) { return Reopen(fd, O_RDONLY); }

FileDescriptor ReopenForDirectWrite(int fd) { return Reopen(fd, O_WRONLY | O_DIRECT); }

Status CheckFileId(int fd, const FileId& expected, const std::string& what) {
  MM_ASSIGN_OR_RETURN(const FileId id, IdOfFd(fd, what));
  if (id.dev != expected.dev || id.ino != expected.ino)
    return Error(Code::kIoErr, what +
                                   ": is not the file mmrun created under that name (it was "
                                   "replaced during the run)");
  return Status::OK();
}

Status TempOutput::Reserve(uint64_t bytes) {
  if (bytes == 0) return Status::OK();
  const int err = ::posix_fallocate(fd_.get(), 0, static_cast<off_t>(bytes));
  if (err != 0)
    return FromErrno(err, target_ + ": cannot reserve " + std::to_string(bytes) + " bytes",
                     Code::kCantCreate);
  return Status::OK();
}

Status TempOutput::Write(std::string_view bytes) {
  return WriteFull(fd_.get(), bytes.data(), bytes.size(), target_ + ": write", Code::kCantCreate);
}

namespace {

std::mutex committed_mu;
std::vector<std::string>& Committed() {
  static std::vector<std::string>* paths = new std::vector<std::string>();
  return *paths;
}

}  // namespace

std::vector<std::string> CommittedOutputs() {
  std::lock_guard<std::mutex> lock(committed_mu);
  return Committed();
}

std::string WrittenList(const std::vector<std::string>& paths) {
  std::string s;
  for (const std::string& p : paths) s += (s.empty() ? "" : ", ") + p + " was written";
  return s;
}

Status TempOutput::Commit() {
  if (::fsync(fd_.get()) != 0) return FromErrno(errno, target_ + ": fsync", Code::kIoErr);
  MM_RETURN_IF_ERROR(CheckOutputAgainstInputs(NamedFile{target_, what_}));
  // A file it replaces keeps its permission bits (a 0600 result stays
  // private, as numpy.save into the existing file would leave it). Set
  // here, not at Create: a read-only mode must not stop the writers that
  // open the temporary file by name.
  struct stat old;
  if (::lstat(target_.c_str(), &old) == 0 && S_ISREG(old.st_mode) && old.st_uid == ::geteuid() &&
      ::fchmod(fd_.get(), old.st_mode & 0777) != 0)
    return FromErrno(errno, target_ + ": cannot set the output's permissions", Code::kCantCreate);
  if (FaultEnabled("rename_fail"))
    return FromErrno(EIO, target_ + ": cannot rename the output into place", Code::kCantCreate);
  // The rename goes through one descriptor of the folder, and only after
  // the temporary name is checked to still be this file: another user who
  // can write in the folder (one without the sticky bit) may have put a
  // file or a symlink of theirs at that name, and renaming by name would
  // publish it as mmrun's output. The check and the rename are two steps;
  // the name is checked again after the rename.
  // O_PATH (RemoveUncommitted): renaming needs write and search, not read.
  FileDescriptor dir(::open(DirName(temp_path_).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid())
    return FromErrno(errno, target_ + ": cannot open its folder", Code::kCantCreate);
  const std::string temp_name = BaseName(temp_path_), target_name = BaseName(target_);
  if (!NameIsFile(dir.get(), temp_name, fd_.get()))
    return Error(Code::kCantCreate,
                 target_ + ": its temporary file " + temp_path_ +
                     " is no longer the file mmrun wrote (removed or replaced by another "
                     "process); the output was not renamed into place");
  if (::renameat(dir.get(), temp_name.c_str(), dir.get(), target_name.c_str()) != 0)
    return FromErrno(errno, target_ + ": cannot rename the output into place", Code::kCantCreate);
  committed_ = true;
  if (!NameIsFile(dir.get(), target_name, fd_.get()))
    return Error(Code::kCantCreate,
                 target_ +
                     ": another process replaced its temporary file while it was renamed "
                     "into place; the file now at that name is not mmrun's output");
  {
    std::lock_guard<std::mutex> lock(committed_mu);
    Committed().push_back(target_);
  }
  // Best effort (the data itself is already durable); an O_PATH
  // descriptor cannot be synced, and a folder without read permission
  // cannot be opened to sync.
  FileDescriptor sync(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (sync.valid()) ::fsync(sync.get());
  return Status::OK();
}

Status WriteFileAtomically(const std::string& target, const std::string& contents) {
  MM_ASSIGN_OR_RETURN(TempOutput out, TempOutput::Create(target));
  MM_RETURN_IF_ERROR(out.Write(contents));
  return out.Commit();
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FromErrno(errno, path, Code::kIoErr);
  return static_cast<uint64_t>(st.st_size);
}

namespace {

Status NotRegular(mode_t mode, const std::string& what, Code bad) {
  const char* kind = S_ISDIR(mode)    ? "a directory"
                     : S_ISFIFO(mode) ? "a FIFO"
                     : S_ISSOCK(mode) ? "a socket"
                     : S_ISCHR(mode)  ? "a character device"
                     : S_ISBLK(mode)  ? "a block device"
                                      : "something else";
  return Error(bad, what + ": is " + kind + ", not a regular file");
}

// OpenRegularFile, its messages starting with `what`.
Result<FileDescriptor> OpenRegular(const std::string& path, const std::string& what, int flags,
                                   Code otherwise, Code bad, struct stat* st) {
  Result<FileDescriptor> opened = FileDescriptor::Open(path, flags | O_NONBLOCK, 0, otherwise);
  if (!opened.ok()) {
    // A socket cannot be opened at all (ENXIO), nor a folder for writing
    // (EISDIR): say what it is.
    if (::stat(path.c_str(), st) == 0 && !S_ISREG(st->st_mode))
      return NotRegular(st->st_mode, what, bad);
    return opened.status();
  }
  if (::fstat(opened->get(), st) != 0) return FromErrno(errno, what, Code::kIoErr);
  if (!S_ISREG(st->st_mode)) return NotRegular(st->st_mode, what, bad);
  return opened;
}

}  // namespace

Result<FileDescriptor> OpenRegularFile(const std::string& path, int flags, Code otherwise, Code bad,
                                       struct stat* st) {
  return OpenRegular(path, path, flags, otherwise, bad, st);
}

Result<std::string> ReadRegularFile(const std::string& path, const std::string& what,
                                    uint64_t max_bytes, Code bad) {
  if (path.find('\0') != std::string::npos) return Error(bad, what + ": the path holds a NUL byte");
  struct stat st;
  MM_ASSIGN_OR_RETURN(FileDescriptor fd, OpenRegular(path, what, O_RDONLY, Code::kIoErr, bad, &st));
  return ReadOpenedFile(fd.get(), what, max_bytes, bad);
}

Result<std::string> ReadOpenedFile(int fd, const std::string& what, uint64_t max_bytes, Code bad) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, what, Code::kIoErr);
  if (!S_ISREG(st.st_mode)) return NotRegular(st.st_mode, what, bad);
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return Error(bad, what + ": " + std::to_string(st.st_size) + " bytes, more than the limit of " +
                          std::to_string(max_bytes));
  std::string text;
  text.reserve(static_cast<size_t>(st.st_size));
  MM_RETURN_IF_ERROR(ReadToEnd(fd, max_bytes, what, &text));
  if (text.size() > max_bytes)
    return Error(bad, what + ": grew past the limit of " + std::to_string(max_bytes) + " bytes");
  return text;
}

}  // namespace mm
