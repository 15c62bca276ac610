#include "io/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "core/checksum.h"
#include "core/dtype.h"
#include "core/fault.h"
#include "core/strings.h"
#include "io/journal_format.h"

namespace mm {

namespace {

// ---------------------------------------------------------------- little-endian fields

void Put32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void Put64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// ---------------------------------------------------------------- I/O helpers

Code WriteCode(int err) {
  return err == ENOSPC || err == EDQUOT ? Code::kCantCreate : Code::kIoErr;
}

Status SyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0 && errno != EINVAL) return FromErrno(errno, what + ": fsync", Code::kIoErr);
  return Status::OK();
}

// Exclusive OFD lock on the whole of `fd`, retried for up to wait_ms.
bool LockFile(int fd, int wait_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
    if (errno != EACCES && errno != EAGAIN) return false;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::mutex g_created_mu;
std::set<std::string>& CreatedDirs() {
  static std::set<std::string> dirs;
  return dirs;
}

std::string RealDatasetPath(const std::string& dataset_path) {
  char* real = ::realpath(dataset_path.c_str(), nullptr);
  if (real == nullptr) return dataset_path;
  std::string out = real;
  std::free(real);
  return out;
}

uint64_t RandomNonce() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// ---------------------------------------------------------------- trust

// Owners a journal may have: the dataset's owner, this process's user, or
// root (who could change the dataset anyway).
bool TrustedOwner(uid_t uid, uid_t data_owner) {
  return uid == data_owner || uid == ::geteuid() || uid == 0;
}

// Why `st` (of `what`) cannot be a journal mmrun wrote, or "" when it can.
std::string Untrusted(const struct stat& st, uid_t data_owner, bool dir) {
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return dir ? "not a folder" : "not a regular file";
  if (!TrustedOwner(st.st_uid, data_owner))
    return "owned by uid " + std::to_string(st.st_uid) + ", neither the dataset's owner (uid " +
           std::to_string(data_owner) + "), you (uid " + std::to_string(::geteuid()) + ") nor root";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return "writable by group or others";
  return "";
}

Status UntrustedError(const std::string& what, const std::string& why) {
  return Error(Code::kNoPerm, what + ": " + why +
                                  ": not a journal mmrun wrote for you; refused "
                                  "(remove it if you do not trust it)");
}

// "a symbolic link" or "not a folder": what `name` in `dirfd` is, for an
// open that O_NOFOLLOW or O_DIRECTORY refused.
std::string KindOf(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    return "a symbolic link";
  return "not a folder";
}

// Opens `name` in folder `dirfd` (or the path `name` when dirfd is
// AT_FDCWD) without following a symlink, without blocking, and checks it is
// a trusted folder or regular file. ENOENT comes back as kNoInput.
Result<FileDescriptor> OpenTrusted(int dirfd, const std::string& name, const std::string& what,
                                   int flags, uid_t data_owner, bool dir) {
  const int fd = ::openat(dirfd, name.c_str(),
                          flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
  if (fd < 0) {
    if (errno == ELOOP || (errno == ENOTDIR && dir))
      return UntrustedError(what, KindOf(dirfd, name));
    return FromErrno(errno, what, Code::kIoErr);
  }
  FileDescriptor out(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, what, Code::kIoErr);
  const std::string why = Untrusted(st, data_owner, dir);
  if (!why.empty()) return UntrustedError(what, why);
  return out;
}

Result<struct stat> StatFd(int fd, const std::string& what) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, what, Code::kIoErr);
  return st;
}

// Names in the open folder `dirfd` that `keep` accepts, sorted.
template <class Keep>
Result<std::vector<std::string>> ListNames(int dirfd, const std::string& what, Keep keep) {
  std::vector<std::string> out;
  const int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
  if (d == nullptr) {
    const int err = errno;
    if (dup >= 0) ::close(dup);
    return FromErrno(err, what, Code::kIoErr);
  }
  ::rewinddir(d);
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != ".." && keep(name)) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::vector<std::string>> ListJournalNames(int dirfd, const std::string& dir) {
  return ListNames(dirfd, dir, [](const std::string& n) { return EndsWith(n, jfmt::kFileSuffix); });
}

// Removes folder `name` of the open folder `parent` and the plain files in
// it, never following a symlink: the folder is opened with O_NOFOLLOW and
// must be a real folder owned by this user (or, for root, by the dataset's
// owner); its entries are unlinked relative to that descriptor (a
// sub-folder is refused). A missing folder is fine.
Status RemoveTreeAt(int parent, const std::string& name, const std::string& what,
                    uid_t data_owner) {
  const int fd =
      ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::OK();
    if (errno == ELOOP || errno == ENOTDIR)
      return Error(Code::kNoPerm, what + ": " + KindOf(parent, name) + ": left alone");
    return FromErrno(errno, what, Code::kIoErr);
  }
  FileDescriptor dir(fd);
  MM_ASSIGN_OR_RETURN(struct stat st, StatFd(fd, what));
  if (st.st_uid != ::geteuid() && !(st.st_uid == data_owner && ::geteuid() == 0))
    return Error(Code::kNoPerm,
                 what + ": owned by uid " + std::to_string(st.st_uid) + ", not by you: left alone");
  MM_ASSIGN_OR_RETURN(std::vector<std::string> names,
                      ListNames(fd, what, [](const std::string&) { return true; }));
  for (const std::string& n : names)
    if (::unlinkat(fd, n.c_str(), 0) != 0 && errno != ENOENT)
      return FromErrno(errno, what + "/" + n + ": cannot remove", Code::kIoErr);
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    return FromErrno(errno, what + ": cannot remove", Code::kIoErr);
  return Status::OK();
}

// Removes R.mmrun-journal.committed* leftovers of the folder `parent` that
// are real folders of ours; anything else by such a name is left alone.
// Returns how many leftovers were removed (or vanished meanwhile).
int SweepCommitted(int parent, const std::string& parent_path, const std::string& journal_name,
                   uid_t data_owner) {
  const std::string prefix = journal_name + jfmt::kCommittedSuffix;
  Result<std::vector<std::string>> names =
      ListNames(parent, parent_path,
                [&](const std::string& n) { return n.compare(0, prefix.size(), prefix) == 0; });
  if (!names.ok()) return 0;
  int removed = 0;
  for (const std::string& n : *names)
    if (RemoveTreeAt(parent, n, parent_path + "/" + n, data_owner).ok()) ++removed;
  return removed;
}

Result<FileDescriptor> OpenFolder(const std::string& path) {
  return FileDescriptor::Open(path, O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0, Code::kIoErr);
}

// ---------------------------------------------------------------- manifest

struct Manifest {
  bool present = false;
  DatasetIdentity id;
  uint64_t nonce = 0;
  std::set<std::string> files;  // names of the journal files it lists
};

std::string JournalFileName(uint32_t pid, uint32_t analysis) {
  return "w" + std::to_string(pid) + "-a" + std::to_string(analysis) + jfmt::kFileSuffix;
}

// Reads the manifest of the open journal folder `dirfd`. A missing
// manifest is present = false. A cut last entry (an append interrupted by a
// crash; its file then holds no record) is ignored; any other entry or
// header that fails its check is kDataErr.
Result<Manifest> ReadManifest(int dirfd, const std::string& dir, uid_t data_owner,
                              bool header_only) {
  Manifest m;
  const std::string what = dir + "/" + jfmt::kManifestName;
  Result<FileDescriptor> fd =
      OpenTrusted(dirfd, jfmt::kManifestName, what, O_RDONLY, data_owner, false);
  if (!fd.ok() && fd.status().code() == Code::kNoInput) return m;
  if (!fd.ok()) return fd.status();
  MM_ASSIGN_OR_RETURN(struct stat st, StatFd(fd->get(), what));
  char h[jfmt::kManifestHeaderBytes];
  uint64_t got = 0;
  MM_ASSIGN_OR_RETURN(got, PreadFull(fd->get(), h, sizeof h, 0, what + ": read"));
  if (got < sizeof h)
    return Error(Code::kDataErr, what + ": journal manifest cut short (" + std::to_string(got) +
                                     " bytes): the journal is incomplete");
  if (Get64(h + jfmt::kOffManMagic) != jfmt::kManifestMagic)
    return Error(Code::kDataErr, what + ": not an mmrun journal manifest (bad magic at byte 0)");
  if (Get32(h + jfmt::kOffManVersion) != jfmt::kVersion)
    return Error(Code::kDataErr, what + ": unsupported journal version " +
                                     std::to_string(Get32(h + jfmt::kOffManVersion)));
  if (UnmaskCrc(Get32(h + jfmt::kOffManHeaderCrc)) != Crc32c(h, jfmt::kOffManHeaderCrc))
    return Error(Code::kDataErr,
                 what + ": journal manifest header checksum mismatch (the journal is corrupt)");
  m.present = true;
  m.id.dev = Get64(h + jfmt::kOffManDev);
  m.id.ino = Get64(h + jfmt::kOffManIno);
  m.id.size = Get64(h + jfmt::kOffManSize);
  m.nonce = Get64(h + jfmt::kOffManNonce);
  if (header_only) return m;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  for (uint64_t pos = sizeof h; pos + jfmt::kEntryBytes <= size; pos += jfmt::kEntryBytes) {
    char e[jfmt::kEntryBytes];
    MM_ASSIGN_OR_RETURN(got, PreadFull(fd->get(), e, sizeof e, pos, what + ": read"));
    if (got != sizeof e) return Error(Code::kIoErr, what + ": shrank while read");
    if (Get32(e + jfmt::kOffEntMagic) != jfmt::kEntryMagic ||
        UnmaskCrc(Get32(e + jfmt::kOffEntCrc)) != Crc32c(e, jfmt::kOffEntCrc))
      return Error(Code::kDataErr, what + ": entry at byte " + std::to_string(pos) +
                                       " fails its checksum (the journal is corrupt)");
    m.files.insert(
        JournalFileName(Get32(e + jfmt::kOffEntWorker), Get32(e + jfmt::kOffEntAnalysis)));
  }
  return m;
}

// Streams the CRC of `length` bytes of `fd` at `pos`; nullopt-like: sets
// *complete false when the file ends first.
Result<uint32_t> CrcOfRange(int fd, uint64_t pos, uint64_t length, const std::string& what) {
  std::vector<char> buf(std::min<uint64_t>(length, uint64_t{1} << 20));
  uint32_t crc = 0;
  uint64_t done = 0;
  while (done < length) {
    const uint64_t n = std::min<uint64_t>(buf.size(), length - done);
    uint64_t got = 0;
    MM_ASSIGN_OR_RETURN(got, PreadFull(fd, buf.data(), n, pos + done, what + ": read"));
    if (got != n) return Error(Code::kDataErr, what + ": record data ends early");
    crc = Crc32c(buf.data(), n, crc);
    done += n;
  }
  return crc;
}

void PutSlot(char* p, uint64_t count) {
  Put64(p + jfmt::kOffSlotCount, count);
  Put32(p + jfmt::kOffSlotMagic, jfmt::kSlotMagic);
  Put32(p + jfmt::kOffSlotCrc, MaskCrc(Crc32c(p, jfmt::kOffSlotCrc)));
}

bool SlotValid(const char* p) {
  return Get32(p + jfmt::kOffSlotMagic) == jfmt::kSlotMagic &&
         UnmaskCrc(Get32(p + jfmt::kOffSlotCrc)) == Crc32c(p, jfmt::kOffSlotCrc);
}

Status ExistingJournalError(int parent, const std::string& dir, const std::string& dataset_path,
                            uid_t data_owner) {
  Result<FileDescriptor> d = OpenTrusted(parent, BaseName(dir), dir, O_RDONLY, data_owner, true);
  if (!d.ok()) return d.status();
  return Error(Code::kDataErr, dataset_path + ": a journal of an interrupted transform exists (" +
                                   dir + "): run `mmrun recover " + dataset_path + "` first");
}

}  // namespace

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + jfmt::kCrcMaskDelta; }

uint32_t UnmaskCrc(uint32_t masked) {
  const uint32_t rot = masked - jfmt::kCrcMaskDelta;
  return (rot >> 17) | (rot << 15);
}

std::string JournalDirFor(const std::string& dataset_path) {
  return RealDatasetPath(dataset_path) + jfmt::kDirSuffix;
}

bool JournalExists(const std::string& dataset_path) {
  struct stat st;
  return ::lstat(JournalDirFor(dataset_path).c_str(), &st) == 0;
}

Result<DatasetIdentity> IdentityOf(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, path, Code::kIoErr);
  DatasetIdentity id;
  id.dev = static_cast<uint64_t>(st.st_dev);
  id.ino = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
  return id;
}

namespace {

// True when `name` in the open folder `parent` (spelled `dir`) is a trusted
// journal folder whose manifest names the file `ds` (device and inode).
bool IsJournalOf(int parent, const std::string& name, const std::string& dir,
                 const struct stat& ds) {
  Result<FileDescriptor> d = OpenTrusted(parent, name, dir, O_RDONLY, ds.st_uid, true);
  if (!d.ok()) return false;
  Result<Manifest> m = ReadManifest(d->get(), dir, ds.st_uid, /*header_only=*/true);
  return m.ok() && m->present && m->id.dev == static_cast<uint64_t>(ds.st_dev) &&
         m->id.ino == static_cast<uint64_t>(ds.st_ino);
}

}  // namespace

Result<std::string> FindJournal(const std::string& dataset_path, int data_fd) {
  MM_ASSIGN_OR_RETURN(struct stat ds, StatFd(data_fd, dataset_path));
  const std::string direct = JournalDirFor(dataset_path);
  struct stat st;
  if (::lstat(direct.c_str(), &st) == 0) return direct;
  // The mark a transform leaves on the file itself names its journal,
  // wherever the name it ran through lives.
  // (A mark naming a folder that is not a journal of this file, e.g. copied
  // with the file, is ignored here; CheckStaleJournal and recover report it.)
  const std::string marked = JournalMarkOf(data_fd);
  if (!marked.empty() && marked[0] == '/') {
    Result<FileDescriptor> mfd = OpenFolder(DirName(marked));
    if (mfd.ok() && IsJournalOf(mfd->get(), BaseName(marked), marked, ds)) return marked;
  }
  // Not under this name: a journal beside another hard link of the same
  // file in the same folder names its device and inode.
  if (ds.st_nlink < 2) return std::string();
  const std::string folder = DirName(direct);
  Result<FileDescriptor> pfd = OpenFolder(folder);
  if (!pfd.ok()) return std::string();
  const std::string suffix = jfmt::kDirSuffix;
  Result<std::vector<std::string>> names =
      ListNames(pfd->get(), folder, [&](const std::string& n) { return EndsWith(n, suffix); });
  if (!names.ok()) return std::string();
  for (const std::string& n : *names)
    if (IsJournalOf(pfd->get(), n, folder + "/" + n, ds)) return folder + "/" + n;
  return std::string();
}

Status CheckJournalTrusted(const std::string& dir, int data_fd) {
  MM_ASSIGN_OR_RETURN(struct stat ds, StatFd(data_fd, dir));
  MM_ASSIGN_OR_RETURN(FileDescriptor d, OpenTrusted(AT_FDCWD, dir, dir, O_RDONLY, ds.st_uid, true));
  return Status::OK();
}

std::string JournalMarkOf(int data_fd) {
  char buf[4096];
  const ssize_t n = ::fgetxattr(data_fd, jfmt::kMarkXattr, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

void ClearJournalMark(int data_fd, const std::string& dir) {
  if (JournalMarkOf(data_fd) == dir) (void)::fremovexattr(data_fd, jfmt::kMarkXattr);
}

namespace {

// Marks the run's open dataset `data_fd` (which must be the file `ds`) with
// its journal folder `dir`, durably (through the run's own descriptor: an
// open and close of the file would drop the run's POSIX pid beacon). Where
// user xattrs are not supported nothing is marked.
Status SetJournalMark(int data_fd, const struct stat& ds, const std::string& dir,
                      const std::string& what) {
  MM_ASSIGN_OR_RETURN(struct stat st, StatFd(data_fd, what));
  if (st.st_dev != ds.st_dev || st.st_ino != ds.st_ino)
    return Error(Code::kIoErr, what + ": replaced while its transform started");
  if (::fsetxattr(data_fd, jfmt::kMarkXattr, dir.data(), dir.size(), 0) != 0) {
    if (errno == ENOTSUP) return Status::OK();  // documented fallback: no mark
    return FromErrno(errno, what + ": cannot mark the file with its journal", Code::kCantCreate);
  }
  if (::fsync(data_fd) != 0) return FromErrno(errno, what + ": fsync", Code::kIoErr);
  return Status::OK();
}

}  // namespace

Status CreateJournalDir(const std::string& dataset_path, int data_fd) {
  const std::string real = RealDatasetPath(dataset_path);
  const std::string dir = real + jfmt::kDirSuffix, name = BaseName(dir), folder = DirName(dir);
  std::lock_guard<std::mutex> lock(g_created_mu);
  if (CreatedDirs().count(dir)) return Status::OK();
  struct stat ds;
  if (::stat(real.c_str(), &ds) != 0) return FromErrno(errno, dataset_path, Code::kIoErr);
  MM_ASSIGN_OR_RETURN(FileDescriptor parent, OpenFolder(folder));
  SweepCommitted(parent.get(), folder, name, ds.st_uid);  // left by runs killed while committing
  if (::mkdirat(parent.get(), name.c_str(), 0700) != 0) {
    if (errno == EEXIST) return ExistingJournalError(parent.get(), dir, dataset_path, ds.st_uid);
    return FromErrno(errno, dir + ": cannot create the transform's journal", Code::kCantCreate);
  }
  auto fail = [&](const Status& st) {
    (void)RemoveTreeAt(parent.get(), name, dir, ds.st_uid);
    return st;
  };
  Result<FileDescriptor> d = OpenTrusted(parent.get(), name, dir, O_RDONLY, ds.st_uid, true);
  if (!d.ok()) return d.status();  // replaced under us: not ours to remove
  MM_ASSIGN_OR_RETURN(struct stat dst, StatFd(d->get(), dir));
  if (dst.st_uid != ::geteuid() || (dst.st_mode & 077) != 0)
    return Error(Code::kNoPerm,
                 dir + ": the journal folder is not private to you after creating it; refused");
  char h[jfmt::kManifestHeaderBytes] = {};
  Put64(h + jfmt::kOffManMagic, jfmt::kManifestMagic);
  Put32(h + jfmt::kOffManVersion, jfmt::kVersion);
  Put32(h + jfmt::kOffManHeaderBytes, static_cast<uint32_t>(jfmt::kManifestHeaderBytes));
  Put64(h + jfmt::kOffManDev, static_cast<uint64_t>(ds.st_dev));
  Put64(h + jfmt::kOffManIno, static_cast<uint64_t>(ds.st_ino));
  Put64(h + jfmt::kOffManSize, static_cast<uint64_t>(ds.st_size));
  Put64(h + jfmt::kOffManNonce, RandomNonce());
  Put32(h + jfmt::kOffManCoordinator, static_cast<uint32_t>(::getpid()));
  Put32(h + jfmt::kOffManHeaderCrc, MaskCrc(Crc32c(h, jfmt::kOffManHeaderCrc)));
  const std::string mpath = dir + "/" + jfmt::kManifestName;
  const int mfd = ::openat(d->get(), jfmt::kManifestName,
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (mfd < 0) return fail(FromErrno(errno, mpath + ": cannot create", Code::kCantCreate));
  FileDescriptor m(mfd);
  Status st = PwriteFull(m.get(), h, sizeof h, 0, mpath + ": write", Code::kCantCreate);
  if (st.ok() && ::fdatasync(m.get()) != 0)
    st = FromErrno(errno, mpath + ": fdatasync", Code::kIoErr);
  if (st.ok()) st = SyncFd(d->get(), dir);
  if (st.ok()) st = SyncFd(parent.get(), folder);
  if (st.ok() && data_fd >= 0) st = SetJournalMark(data_fd, ds, dir, dataset_path);
  if (!st.ok()) return fail(st);
  CreatedDirs().insert(dir);
  return Status::OK();
}

namespace {

// The owner of the real file behind `dataset_path`; this process's user
// when it cannot be stat'ed.
uid_t DatasetOwner(const std::string& dataset_path) {
  struct stat ds;
  return ::stat(RealDatasetPath(dataset_path).c_str(), &ds) == 0 ? ds.st_uid : ::geteuid();
}

// The commit of journal folder `dir` (see RemoveJournalDir).
Status CommitRemove(const std::string& dir, uid_t data_owner, const std::function<void()>& unmark) {
  const std::string name = BaseName(dir), folder = DirName(dir);
  MM_ASSIGN_OR_RETURN(FileDescriptor parent, OpenFolder(folder));
  SweepCommitted(parent.get(), folder, name, data_owner);
  {
    // Only a trusted folder is renamed (a planted symlink is left alone).
    Result<FileDescriptor> d = OpenTrusted(parent.get(), name, dir, O_RDONLY, data_owner, true);
    if (!d.ok()) return d.status().code() == Code::kNoInput ? Status::OK() : d.status();
  }
  std::string dead;
  for (int attempt = 0;; ++attempt) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(RandomNonce()));
    dead = name + jfmt::kCommittedSuffix + "-" + hex;
    // Never onto an existing name (RENAME_NOREPLACE): a planted entry is
    // neither replaced nor followed.
    if (::renameat2(parent.get(), name.c_str(), parent.get(), dead.c_str(), RENAME_NOREPLACE) == 0)
      break;
    if (errno == ENOENT) return Status::OK();
    if (errno == EEXIST && attempt < 16) continue;
    return FromErrno(errno, dir + ": cannot remove", Code::kIoErr);
  }
  // Renaming the folder away is the commit point: a crash mid-deletion must
  // never leave a journal with some of its files gone.
  MM_RETURN_IF_ERROR(SyncFd(parent.get(), folder));
  if (FaultEnabled("journal_hold_after_commit"))
    for (;;) ::pause();  // test hook: committed, mark and leftover left; held until killed
  unmark();
  return RemoveTreeAt(parent.get(), dead, folder + "/" + dead, data_owner);
}

}  // namespace

Status RemoveJournalDir(const std::string& dataset_path, int data_fd) {
  const std::string dir = JournalDirFor(dataset_path);
  const uid_t owner = DatasetOwner(dataset_path);
  {
    std::lock_guard<std::mutex> lock(g_created_mu);
    CreatedDirs().erase(dir);
  }
  return CommitRemove(dir, owner, [&] {
    if (data_fd >= 0) ClearJournalMark(data_fd, dir);
  });
}

bool HasCommittedLeftover(const std::string& journal_dir, int data_fd) {
  // Only an absolute mark whose folder is gone (renamed away by the commit).
  if (journal_dir.empty() || journal_dir[0] != '/') return false;
  struct stat ms;
  if (::lstat(journal_dir.c_str(), &ms) == 0 || errno != ENOENT) return false;
  struct stat ds;
  if (::fstat(data_fd, &ds) != 0) return false;
  const std::string folder = DirName(journal_dir);
  const std::string prefix = BaseName(journal_dir) + jfmt::kCommittedSuffix;
  Result<FileDescriptor> parent = OpenFolder(folder);
  if (!parent.ok()) return false;
  Result<std::vector<std::string>> names =
      ListNames(parent->get(), folder,
                [&](const std::string& n) { return n.compare(0, prefix.size(), prefix) == 0; });
  if (!names.ok()) return false;
  // A trusted folder whose manifest names this file's device and inode.
  for (const std::string& n : *names)
    if (IsJournalOf(parent->get(), n, folder + "/" + n, ds)) return true;
  return false;
}

int RemoveCommittedLeftovers(const std::string& journal_dir, uid_t data_owner) {
  const std::string folder = DirName(journal_dir);
  Result<FileDescriptor> parent = OpenFolder(folder);
  if (!parent.ok()) return 0;
  return SweepCommitted(parent->get(), folder, BaseName(journal_dir), data_owner);
}

// ---------------------------------------------------------------- writer

std::string JournalFilePath(const std::string& dataset_path, pid_t pid, uint32_t analysis) {
  return JournalDirFor(dataset_path) + "/" + JournalFileName(static_cast<uint32_t>(pid), analysis);
}

Result<std::unique_ptr<JournalWriter>> JournalWriter::Create(const std::string& dataset_path,
                                                             const DatasetIdentity& id,
                                                             uint32_t coordinator_pid,
                                                             uint32_t analysis) {
  const std::string real = RealDatasetPath(dataset_path);
  const std::string dir = real + jfmt::kDirSuffix;
  struct stat ds;
  if (::stat(real.c_str(), &ds) != 0) return FromErrno(errno, dataset_path, Code::kIoErr);
  MM_ASSIGN_OR_RETURN(FileDescriptor d, OpenTrusted(AT_FDCWD, dir, dir, O_RDONLY, ds.st_uid, true));
  MM_ASSIGN_OR_RETURN(Manifest m, ReadManifest(d.get(), dir, ds.st_uid, /*header_only=*/true));
  if (!m.present) return Error(Code::kDataErr, dir + ": the journal has no manifest");
  if (m.id.dev != id.dev || m.id.ino != id.ino)
    return Error(Code::kDataErr,
                 dir + ": the journal was made for another file than " + dataset_path);
  auto w = std::unique_ptr<JournalWriter>(new JournalWriter());
  const std::string name = JournalFileName(static_cast<uint32_t>(::getpid()), analysis);
  w->path_ = dir + "/" + name;
  w->fail_after_ = FaultValue("journal_enospc");
  w->hold_after_ = FaultValue("journal_hold_after");
  w->commit_delay_ms_ = FaultValue("journal_commit_ms");
  const int fd =
      ::openat(d.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return FromErrno(errno, w->path_, Code::kCantCreate);
  w->fd_ = FileDescriptor(fd);
  // The dataset's permission bits: no one who cannot read DATA reads its
  // bytes here (the folder is 0700 besides).
  if (::fchmod(fd, (ds.st_mode & 0044) | 0600) != 0)
    return FromErrno(errno, w->path_ + ": chmod", Code::kIoErr);
  if (!LockFile(fd, 0)) return FromErrno(errno, w->path_ + ": lock", Code::kIoErr);
  char h[jfmt::kRecordsStart] = {};
  Put64(h + jfmt::kOffMagic, jfmt::kFileMagic);
  Put32(h + jfmt::kOffVersion, jfmt::kVersion);
  Put32(h + jfmt::kOffHeaderBytes, static_cast<uint32_t>(jfmt::kFileHeaderBytes));
  Put64(h + jfmt::kOffDev, id.dev);
  Put64(h + jfmt::kOffIno, id.ino);
  Put64(h + jfmt::kOffSize, id.size);
  Put32(h + jfmt::kOffCoordinator, coordinator_pid);
  Put32(h + jfmt::kOffWorker, static_cast<uint32_t>(::getpid()));
  Put32(h + jfmt::kOffAnalysis, analysis);
  Put64(h + jfmt::kOffNonce, m.nonce);
  Put32(h + jfmt::kOffHeaderCrc, MaskCrc(Crc32c(h, jfmt::kOffHeaderCrc)));
  PutSlot(h + jfmt::kSlotOffset[0], 0);
  PutSlot(h + jfmt::kSlotOffset[1], 0);
  Status st = PwriteFull(fd, h, sizeof h, 0, w->path_ + ": write", Code::kCantCreate);
  if (st.ok() && ::fdatasync(fd) != 0)
    st = FromErrno(errno, w->path_ + ": fdatasync", Code::kIoErr);
  if (st.ok()) st = SyncFd(d.get(), dir);
  if (st.ok()) {
    // Listed in the manifest before its first record: a journal file that
    // goes missing later is noticed.
    char e[jfmt::kEntryBytes] = {};
    Put32(e + jfmt::kOffEntMagic, jfmt::kEntryMagic);
    Put32(e + jfmt::kOffEntWorker, static_cast<uint32_t>(::getpid()));
    Put32(e + jfmt::kOffEntAnalysis, analysis);
    Put32(e + jfmt::kOffEntCrc, MaskCrc(Crc32c(e, jfmt::kOffEntCrc)));
    const std::string mpath = dir + "/" + jfmt::kManifestName;
    Result<FileDescriptor> mf =
        OpenTrusted(d.get(), jfmt::kManifestName, mpath, O_WRONLY | O_APPEND, ds.st_uid, false);
    if (!mf.ok()) st = mf.status();
    if (st.ok()) {
      const ssize_t r = ::write(mf->get(), e, sizeof e);
      if (r != static_cast<ssize_t>(sizeof e))
        st = FromErrno(r < 0 ? errno : EIO, mpath + ": write", WriteCode(errno));
    }
    if (st.ok() && ::fdatasync(mf->get()) != 0)
      st = FromErrno(errno, mpath + ": fdatasync", Code::kIoErr);
  }
  if (!st.ok()) {
    ::unlinkat(d.get(), name.c_str(), 0);
    return st;
  }
  w->pos_ = jfmt::kRecordsStart;
  return w;
}

Status JournalWriter::Write(uint64_t offset, const char* data, uint64_t length) {
  const std::string what = path_ + ": cannot write the journal";
  if (written_ != 0)
    return Error(Code::kWorkerFailed, what + ": a record was written before the last was counted");
  if (fail_after_ >= 0 && static_cast<int64_t>(seq_) >= fail_after_)
    return FromErrno(ENOSPC, what + " (test fault journal_enospc)", Code::kCantCreate);
  char h[jfmt::kRecordHeaderBytes] = {};
  Put32(h + jfmt::kOffRecMagic, jfmt::kRecordMagic);
  Put64(h + jfmt::kOffRecSeq, seq_);
  Put64(h + jfmt::kOffRecOffset, offset);
  Put64(h + jfmt::kOffRecLength, length);
  Put32(h + jfmt::kOffRecDataCrc, MaskCrc(Crc32c(data, length)));
  Put32(h + jfmt::kOffRecHeaderCrc, MaskCrc(Crc32c(h, jfmt::kOffRecHeaderCrc)));
  // Reserve the record's blocks first (the file size stays: readers see
  // only what was written); a full disk fails here, before any byte.
  if (::fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(pos_),
                  static_cast<off_t>(sizeof h + length)) != 0 &&
      errno != EOPNOTSUPP && errno != ENOSYS)
    return FromErrno(errno, what, WriteCode(errno));
  // Header and data in one positioned write.
  const uint64_t total = sizeof h + length;
  struct iovec parts[2] = {{h, sizeof h}, {const_cast<char*>(data), length}};
  MM_RETURN_IF_ERROR(PwritevFull(fd_.get(), parts, 2, pos_, what, Code::kIoErr, Code::kCantCreate));
  written_ = total;
  return Status::OK();
}

Status JournalWriter::Commit() {
  const std::string what = path_ + ": cannot write the journal";
  if (written_ == 0) return Error(Code::kWorkerFailed, what + ": no record to count");
  if (commit_delay_ms_ > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(commit_delay_ms_));
  if (::fdatasync(fd_.get()) != 0) return FromErrno(errno, what, WriteCode(errno));
  (void)::posix_fadvise(fd_.get(), static_cast<off_t>(pos_), static_cast<off_t>(written_),
                        POSIX_FADV_DONTNEED);
  // Count it: only a counted record's window may change.
  char slot[jfmt::kSlotBytes];
  PutSlot(slot, seq_ + 1);
  MM_RETURN_IF_ERROR(PwriteFull(fd_.get(), slot, sizeof slot, jfmt::kSlotOffset[(seq_ + 1) % 2],
                                what + ": write"));
  if (::fdatasync(fd_.get()) != 0) return FromErrno(errno, what, WriteCode(errno));
  pos_ += written_;
  written_ = 0;
  ++seq_;
  if (hold_after_ >= 0 && static_cast<int64_t>(seq_) >= hold_after_)
    for (;;) ::pause();  // test hook: held here until killed
  return Status::OK();
}

// ---------------------------------------------------------------- reader

Result<JournalFile> ReadJournalFile(int fd, const std::string& path, bool verify_data) {
  JournalFile f;
  f.path = path;
  MM_ASSIGN_OR_RETURN(struct stat st, StatFd(fd, path));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char h[jfmt::kRecordsStart];
  uint64_t got = 0;
  MM_ASSIGN_OR_RETURN(got, PreadFull(fd, h, sizeof h, 0, path + ": read"));
  if (got < sizeof h) {
    // Cut before its header and count slots were complete: the worker never
    // wrote a record (it is not listed in the manifest either).
    f.empty = true;
    return f;
  }
  if (Get64(h + jfmt::kOffMagic) != jfmt::kFileMagic)
    return Error(Code::kDataErr, path + ": not an mmrun journal (bad magic at byte 0)");
  if (Get32(h + jfmt::kOffVersion) != jfmt::kVersion)
    return Error(Code::kDataErr, path + ": unsupported journal version " +
                                     std::to_string(Get32(h + jfmt::kOffVersion)));
  if (UnmaskCrc(Get32(h + jfmt::kOffHeaderCrc)) != Crc32c(h, jfmt::kOffHeaderCrc))
    return Error(Code::kDataErr, path + ": journal header checksum mismatch at byte " +
                                     std::to_string(jfmt::kOffHeaderCrc));
  f.id.dev = Get64(h + jfmt::kOffDev);
  f.id.ino = Get64(h + jfmt::kOffIno);
  f.id.size = Get64(h + jfmt::kOffSize);
  f.coordinator_pid = Get32(h + jfmt::kOffCoordinator);
  f.worker_pid = Get32(h + jfmt::kOffWorker);
  f.analysis = Get32(h + jfmt::kOffAnalysis);
  f.nonce = Get64(h + jfmt::kOffNonce);
  // The newest valid count slot. Slots are written alternately, so a torn
  // slot write leaves the other (one record less) valid.
  bool any_slot = false;
  for (uint64_t off : jfmt::kSlotOffset) {
    if (!SlotValid(h + off)) continue;
    any_slot = true;
    f.counted = std::max(f.counted, Get64(h + off + jfmt::kOffSlotCount));
  }
  if (!any_slot)
    return Error(Code::kDataErr,
                 path + ": no valid record count at bytes 64-96 (the journal is corrupt)");
  uint64_t pos = jfmt::kRecordsStart;
  for (uint64_t seq = 0;; ++seq) {
    const bool counted = seq < f.counted;
    if (!counted && (!verify_data || pos >= size)) break;
    const std::string at =
        path + ": record " + std::to_string(seq) + " at byte " + std::to_string(pos);
    const std::string missing = path + ": holds " + std::to_string(seq) +
                                " complete records, its count says " + std::to_string(f.counted) +
                                " (the journal is truncated or corrupt)";
    char r[jfmt::kRecordHeaderBytes];
    MM_ASSIGN_OR_RETURN(got, PreadFull(fd, r, sizeof r, pos, path + ": read"));
    JournalRecord rec;
    rec.seq = Get64(r + jfmt::kOffRecSeq);
    rec.offset = Get64(r + jfmt::kOffRecOffset);
    rec.length = Get64(r + jfmt::kOffRecLength);
    rec.data_crc = UnmaskCrc(Get32(r + jfmt::kOffRecDataCrc));
    rec.data_pos = pos + sizeof r;
    const bool header_ok =
        got == sizeof r && Get32(r + jfmt::kOffRecMagic) == jfmt::kRecordMagic &&
        UnmaskCrc(Get32(r + jfmt::kOffRecHeaderCrc)) == Crc32c(r, jfmt::kOffRecHeaderCrc);
    const bool complete = header_ok && rec.length <= size - std::min(size, rec.data_pos);
    bool data_ok = complete;
    if (complete && (verify_data || !counted)) {
      MM_ASSIGN_OR_RETURN(uint32_t crc, CrcOfRange(fd, rec.data_pos, rec.length, path));
      data_ok = crc == rec.data_crc;
    }
    if (!counted) {
      // One record past the count: written, not yet counted when the worker
      // died, so its window was never changed. Restoring it is harmless and
      // covers a count slot that went bad; a cut one is a torn tail.
      if (!data_ok) {
        f.torn_tail = true;
        break;
      }
      if (rec.seq != seq)
        return Error(Code::kDataErr, at + ": expected record number " + std::to_string(seq));
      f.records.push_back(rec);
      f.uncounted = true;
      if (rec.data_pos + rec.length != size)
        return Error(Code::kDataErr, path + ": bytes after the last record at byte " +
                                         std::to_string(rec.data_pos + rec.length) +
                                         " (the journal is corrupt)");
      break;
    }
    if (got < sizeof r) return Error(Code::kDataErr, missing);
    if (!header_ok)
      return Error(Code::kDataErr,
                   at + ": record header checksum mismatch (the journal is corrupt)");
    if (rec.seq != seq)
      return Error(Code::kDataErr, at + ": expected record number " + std::to_string(seq));
    if (!complete) return Error(Code::kDataErr, missing);
    if (!data_ok)
      return Error(Code::kDataErr, at + ": record data checksum mismatch (the journal is corrupt)");
    f.records.push_back(rec);
    pos = rec.data_pos + rec.length;
  }
  return f;
}

// ---------------------------------------------------------------- rollback

Result<RollBackReport> RollBack(const std::string& dataset_path, int data_fd, int wait_ms) {
  RollBackReport report;
  MM_ASSIGN_OR_RETURN(DatasetIdentity id, IdentityOf(data_fd, dataset_path));
  MM_ASSIGN_OR_RETURN(struct stat ds, StatFd(data_fd, dataset_path));
  MM_ASSIGN_OR_RETURN(std::string dir, FindJournal(dataset_path, data_fd));
  if (dir.empty()) return report;
  MM_ASSIGN_OR_RETURN(FileDescriptor d, OpenTrusted(AT_FDCWD, dir, dir, O_RDONLY, ds.st_uid, true));
  MM_ASSIGN_OR_RETURN(Manifest manifest,
                      ReadManifest(d.get(), dir, ds.st_uid, /*header_only=*/false));
  const std::string nothing = "; nothing restored";
  if (manifest.present && (manifest.id.dev != id.dev || manifest.id.ino != id.ino))
    return Error(Code::kDataErr, dir + ": the journal was written for another file (device " +
                                     std::to_string(manifest.id.dev) + ", inode " +
                                     std::to_string(manifest.id.ino) + "), not " + dataset_path +
                                     nothing);
  MM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListJournalNames(d.get(), dir));
  for (const std::string& listed : manifest.files)
    if (!std::binary_search(names.begin(), names.end(), listed))
      return Error(Code::kDataErr,
                   dir + "/" + listed +
                       ": listed in the journal's manifest but missing (the journal is "
                       "incomplete)" +
                       nothing);
  std::vector<FileDescriptor> fds;
  std::vector<JournalFile> files;
  // Lock, read and verify everything before the first write.
  for (const std::string& name : names) {
    const std::string p = dir + "/" + name;
    MM_ASSIGN_OR_RETURN(FileDescriptor fd, OpenTrusted(d.get(), name, p, O_RDWR, ds.st_uid, false));
    if (!LockFile(fd.get(), wait_ms)) {
      const std::string pid = name.substr(1, name.find('-') - 1);
      return Error(Code::kLocked, p + ": still being written by a live worker (pid " + pid +
                                      "): its transform is running");
    }
    MM_ASSIGN_OR_RETURN(JournalFile f, ReadJournalFile(fd.get(), p, /*verify_data=*/true));
    const bool listed = manifest.files.count(name) > 0;
    if (f.empty) {
      if (listed)
        return Error(Code::kDataErr,
                     p + ": cut inside its header (the journal is truncated)" + nothing);
      continue;  // its worker died creating it: it never held a record
    }
    if (!listed && f.records.empty()) continue;  // died before listing itself: nothing to restore
    if (!listed)
      return Error(Code::kDataErr,
                   p + ": holds records but is not listed in the journal's manifest" +
                       std::string(manifest.present ? "" : " (the manifest is missing)") +
                       ": the journal is incomplete" + nothing);
    if (f.id.dev != id.dev || f.id.ino != id.ino)
      return Error(Code::kDataErr, p + ": the journal was written for another file (device " +
                                       std::to_string(f.id.dev) + ", inode " +
                                       std::to_string(f.id.ino) + "), not " + dataset_path +
                                       nothing);
    if (f.nonce != manifest.nonce)
      return Error(Code::kDataErr,
                   p + ": belongs to another run's journal than its folder's manifest" + nothing);
    for (const JournalRecord& r : f.records) {
      if (r.offset + r.length > id.size || r.offset + r.length < r.offset)
        return Error(Code::kDataErr, p + ": record " + std::to_string(r.seq) +
                                         " lies past the end of " + dataset_path + " (" +
                                         std::to_string(id.size) + " bytes)" + nothing);
    }
    fds.push_back(std::move(fd));
    files.push_back(std::move(f));
  }
  std::vector<size_t> order(files.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return files[a].analysis > files[b].analysis; });
  std::vector<char> buf;
  for (size_t i : order) {
    const JournalFile& f = files[i];
    ++report.files;
    if (f.torn_tail) ++report.torn;
    for (auto it = f.records.rbegin(); it != f.records.rend(); ++it) {
      uint64_t done = 0;
      while (done < it->length) {
        const uint64_t n = std::min<uint64_t>(it->length - done, uint64_t{1} << 20);
        buf.resize(n);
        uint64_t got = 0;
        MM_ASSIGN_OR_RETURN(
            got, PreadFull(fds[i].get(), buf.data(), n, it->data_pos + done, f.path + ": read"));
        if (got != n) return Error(Code::kIoErr, f.path + ": journal shrank while restoring");
        MM_RETURN_IF_ERROR(
            PwriteFull(data_fd, buf.data(), n, it->offset + done, dataset_path + ": write"));
        done += n;
      }
      ++report.records;
      report.bytes += it->length;
    }
  }
  if (::fsync(data_fd) != 0) return FromErrno(errno, dataset_path + ": fsync", Code::kIoErr);
  {
    std::lock_guard<std::mutex> lock(g_created_mu);
    CreatedDirs().erase(dir);
  }
  MM_RETURN_IF_ERROR(CommitRemove(dir, ds.st_uid, [&] { ClearJournalMark(data_fd, dir); }));
  return report;
}

// ---------------------------------------------------------------- replay

Status JournalReplay::Load() {
  loaded_ = true;
  const std::string dir = JournalDirFor(dataset_path_);
  Result<FileDescriptor> d = OpenTrusted(AT_FDCWD, dir, dir, O_RDONLY, ::geteuid(), true);
  if (!d.ok()) return d.status();
  MM_ASSIGN_OR_RETURN(std::vector<std::string> names, ListJournalNames(d->get(), dir));
  for (const std::string& name : names) {
    const std::string p = dir + "/" + name;
    if (p == own_path_) continue;
    Result<FileDescriptor> fd = OpenTrusted(d->get(), name, p, O_RDONLY, ::geteuid(), false);
    if (!fd.ok() && fd.status().code() == Code::kNoInput) continue;  // removed meanwhile
    if (!fd.ok()) return fd.status();
    // Files of live siblings are read too (their counted records only):
    // those never intersect this worker's rows, so only a dead earlier
    // attempt's records match.
    MM_ASSIGN_OR_RETURN(JournalFile f, ReadJournalFile(fd->get(), p, /*verify_data=*/false));
    if (f.empty || f.analysis != analysis_) continue;
    for (const JournalRecord& r : f.records) sources_.push_back(Source{p, r});
  }
  return Status::OK();
}

Status JournalReplay::RestoreInto(char* window, uint64_t offset, uint64_t length,
                                  uint64_t* restored) {
  *restored = 0;
  if (!loaded_) MM_RETURN_IF_ERROR(Load());
  for (const Source& s : sources_) {
    const uint64_t lo = std::max(offset, s.rec.offset),
                   hi = std::min(offset + length, s.rec.offset + s.rec.length);
    if (lo >= hi) continue;
    MM_ASSIGN_OR_RETURN(
        FileDescriptor fd,
        FileDescriptor::Open(s.path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, Code::kIoErr));
    MM_ASSIGN_OR_RETURN(uint32_t crc, CrcOfRange(fd.get(), s.rec.data_pos, s.rec.length, s.path));
    if (crc != s.rec.data_crc)
      return Error(Code::kDataErr, s.path + ": record " + std::to_string(s.rec.seq) +
                                       " data checksum mismatch (the journal is corrupt)");
    uint64_t got = 0;
    MM_ASSIGN_OR_RETURN(got, PreadFull(fd.get(), window + (lo - offset), hi - lo,
                                       s.rec.data_pos + (lo - s.rec.offset), s.path + ": read"));
    if (got != hi - lo) return Error(Code::kDataErr, s.path + ": record data ends early");
    *restored += hi - lo;
  }
  return Status::OK();
}

}  // namespace mm
