#include "common/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "common/dtype.h"
#include "common/journal_format.h"

namespace mm {

namespace {

// ---------------------------------------------------------------- CRC-32C

struct CrcTables {
  uint32_t t[8][256];
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1U)));
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};

const CrcTables& Tables() {
  static const CrcTables tables;
  return tables;
}

uint32_t CrcSoftware(const unsigned char* p, size_t n, uint32_t c) {
  const CrcTables& T = Tables();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (HostIsBigEndian()) w = ByteSwap(w);
    w ^= c;
    c = T.t[7][w & 0xff] ^ T.t[6][(w >> 8) & 0xff] ^ T.t[5][(w >> 16) & 0xff] ^ T.t[4][(w >> 24) & 0xff] ^
        T.t[3][(w >> 32) & 0xff] ^ T.t[2][(w >> 40) & 0xff] ^ T.t[1][(w >> 48) & 0xff] ^ T.t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ T.t[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t CrcHardware(const unsigned char* p, size_t n, uint32_t c) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
bool HaveHardwareCrc() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

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

Status PreadAll(int fd, char* buf, uint64_t n, uint64_t pos, const std::string& what, uint64_t* got) {
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FromErrno(errno, what + ": read", Code::kIoErr);
    if (r == 0) break;
    done += static_cast<uint64_t>(r);
  }
  *got = done;
  return Status::OK();
}

Status PwriteAll(int fd, const char* buf, uint64_t n, uint64_t pos, const std::string& what,
                 Code otherwise = Code::kIoErr) {
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = ::pwrite(fd, buf + done, n - done, static_cast<off_t>(pos + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FromErrno(errno, what + ": write", otherwise);
    done += static_cast<uint64_t>(r);
  }
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  FileDescriptor d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid()) return FromErrno(errno, dir, Code::kIoErr);
  if (::fsync(d.get()) != 0 && errno != EINVAL) return FromErrno(errno, dir + ": fsync", Code::kIoErr);
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

int64_t FaultCount(const char* key) {
  const char* env = std::getenv("MMRUN_TEST_FAULT");
  if (env == nullptr) return -1;
  const std::string s = env, k = std::string(key) + "=";
  const size_t pos = s.find(k);
  if (pos == std::string::npos) return -1;
  return std::atoll(s.c_str() + pos + k.size());
}

std::mutex g_created_mu;
std::set<std::string>& CreatedDirs() {
  static std::set<std::string> dirs;
  return dirs;
}

// Journal files of a folder, sorted by name.
Result<std::vector<std::string>> ListJournalFiles(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return FromErrno(errno, dir, Code::kIoErr);
  }
  const std::string suffix = jfmt::kFileSuffix;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(dir + "/" + name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Streams the CRC of `length` bytes of `fd` at `pos`.
Result<uint32_t> CrcOfRange(int fd, uint64_t pos, uint64_t length, const std::string& what) {
  std::vector<char> buf(std::min<uint64_t>(length, uint64_t{1} << 20));
  uint32_t crc = 0;
  uint64_t done = 0;
  while (done < length) {
    const uint64_t n = std::min<uint64_t>(buf.size(), length - done);
    uint64_t got = 0;
    MM_RETURN_IF_ERROR(PreadAll(fd, buf.data(), n, pos + done, what, &got));
    if (got != n) return Error(Code::kDataErr, what + ": record data ends early");
    crc = Crc32c(buf.data(), n, crc);
    done += n;
  }
  return crc;
}

// Removes a folder of plain files; a missing folder is fine.
Status RemoveTree(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return errno == ENOENT ? Status::OK() : FromErrno(errno, dir, Code::kIoErr);
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) return FromErrno(errno, dir + ": cannot remove", Code::kIoErr);
  return Status::OK();
}

}  // namespace

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (HaveHardwareCrc()) return ~CrcHardware(p, n, c);
#endif
  return ~CrcSoftware(p, n, c);
}

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + jfmt::kCrcMaskDelta; }

uint32_t UnmaskCrc(uint32_t masked) {
  const uint32_t rot = masked - jfmt::kCrcMaskDelta;
  return (rot >> 17) | (rot << 15);
}

std::string JournalDirFor(const std::string& dataset_path) { return dataset_path + jfmt::kDirSuffix; }

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

Status CreateJournalDir(const std::string& dataset_path) {
  const std::string dir = JournalDirFor(dataset_path);
  std::lock_guard<std::mutex> lock(g_created_mu);
  if (CreatedDirs().count(dir)) return Status::OK();
  MM_RETURN_IF_ERROR(RemoveTree(dir + jfmt::kCommittedSuffix));  // left by a run killed while committing
  if (::mkdir(dir.c_str(), 0755) != 0) {
    if (errno == EEXIST)
      return Error(Code::kDataErr, dataset_path + ": a journal of an interrupted transform exists (" + dir +
                                       "): run `mmrun recover " + dataset_path + "` first");
    return FromErrno(errno, dir + ": cannot create the transform's journal", Code::kCantCreate);
  }
  CreatedDirs().insert(dir);
  const Status st = SyncDir(DirName(dataset_path));
  if (!st.ok()) {
    ::rmdir(dir.c_str());
    CreatedDirs().erase(dir);
    return st;
  }
  return Status::OK();
}

Status RemoveJournalDir(const std::string& dataset_path) {
  const std::string dir = JournalDirFor(dataset_path);
  const std::string dead = dir + jfmt::kCommittedSuffix;
  // Renaming the folder away is the commit point: a crash mid-deletion must
  // never leave a journal with some of its files gone.
  MM_RETURN_IF_ERROR(RemoveTree(dead));
  if (::rename(dir.c_str(), dead.c_str()) != 0) {
    if (errno != ENOENT) return FromErrno(errno, dir + ": cannot remove", Code::kIoErr);
  } else {
    MM_RETURN_IF_ERROR(SyncDir(DirName(dataset_path)));
  }
  {
    std::lock_guard<std::mutex> lock(g_created_mu);
    CreatedDirs().erase(dir);
  }
  return RemoveTree(dead);
}

// ---------------------------------------------------------------- writer

std::string JournalFilePath(const std::string& dataset_path, pid_t pid, uint32_t analysis) {
  return JournalDirFor(dataset_path) + "/w" + std::to_string(pid) + "-a" + std::to_string(analysis) + jfmt::kFileSuffix;
}

Result<std::unique_ptr<JournalWriter>> JournalWriter::Create(const std::string& dataset_path,
                                                             const DatasetIdentity& id, uint32_t coordinator_pid,
                                                             uint32_t analysis) {
  const std::string dir = JournalDirFor(dataset_path);
  auto w = std::unique_ptr<JournalWriter>(new JournalWriter());
  w->path_ = JournalFilePath(dataset_path, ::getpid(), analysis);
  w->fail_after_ = FaultCount("journal_enospc");
  MM_ASSIGN_OR_RETURN(w->fd_, FileDescriptor::Open(w->path_, O_RDWR | O_CREAT | O_EXCL, 0644, Code::kCantCreate));
  if (!LockFile(w->fd_.get(), 0)) return FromErrno(errno, w->path_ + ": lock", Code::kIoErr);
  char h[jfmt::kFileHeaderBytes] = {};
  Put64(h + jfmt::kOffMagic, jfmt::kFileMagic);
  Put32(h + jfmt::kOffVersion, jfmt::kVersion);
  Put32(h + jfmt::kOffHeaderBytes, static_cast<uint32_t>(jfmt::kFileHeaderBytes));
  Put64(h + jfmt::kOffDev, id.dev);
  Put64(h + jfmt::kOffIno, id.ino);
  Put64(h + jfmt::kOffSize, id.size);
  Put32(h + jfmt::kOffCoordinator, coordinator_pid);
  Put32(h + jfmt::kOffWorker, static_cast<uint32_t>(::getpid()));
  Put32(h + jfmt::kOffAnalysis, analysis);
  Put32(h + jfmt::kOffHeaderCrc, MaskCrc(Crc32c(h, jfmt::kOffHeaderCrc)));
  Status st = PwriteAll(w->fd_.get(), h, sizeof h, 0, w->path_, Code::kCantCreate);
  if (st.ok() && ::fdatasync(w->fd_.get()) != 0) st = FromErrno(errno, w->path_ + ": fdatasync", Code::kIoErr);
  if (st.ok()) st = SyncDir(dir);
  if (!st.ok()) {
    ::unlink(w->path_.c_str());
    return st;
  }
  w->pos_ = jfmt::kFileHeaderBytes;
  return w;
}

Status JournalWriter::Append(uint64_t offset, const char* data, uint64_t length) {
  const std::string what = path_ + ": cannot write the journal";
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
  if (::fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE, static_cast<off_t>(pos_), static_cast<off_t>(sizeof h + length)) != 0 &&
      errno != EOPNOTSUPP && errno != ENOSYS)
    return FromErrno(errno, what, errno == ENOSPC || errno == EDQUOT ? Code::kCantCreate : Code::kIoErr);
  // Header and data in one positioned write (looped for short writes).
  struct iovec iov[2];
  iov[0].iov_base = h;
  iov[0].iov_len = sizeof h;
  iov[1].iov_base = const_cast<char*>(data);
  iov[1].iov_len = length;
  uint64_t total = sizeof h + length, done = 0;
  while (done < total) {
    struct iovec cur[2];
    int cnt = 0;
    if (done < sizeof h) {
      cur[cnt].iov_base = h + done;
      cur[cnt++].iov_len = sizeof h - done;
      cur[cnt].iov_base = const_cast<char*>(data);
      cur[cnt++].iov_len = length;
    } else {
      cur[cnt].iov_base = const_cast<char*>(data) + (done - sizeof h);
      cur[cnt++].iov_len = total - done;
    }
    const ssize_t r = ::pwritev(fd_.get(), cur, cnt, static_cast<off_t>(pos_ + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FromErrno(errno, what, errno == ENOSPC || errno == EDQUOT ? Code::kCantCreate : Code::kIoErr);
    done += static_cast<uint64_t>(r);
  }
  (void)iov;
  if (::fdatasync(fd_.get()) != 0)
    return FromErrno(errno, what, errno == ENOSPC || errno == EDQUOT ? Code::kCantCreate : Code::kIoErr);
  pos_ += total;
  ++seq_;
  return Status::OK();
}

// ---------------------------------------------------------------- reader

Result<JournalFile> ReadJournalFile(int fd, const std::string& path, bool verify_data) {
  JournalFile f;
  f.path = path;
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, path, Code::kIoErr);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  char h[jfmt::kFileHeaderBytes];
  uint64_t got = 0;
  MM_RETURN_IF_ERROR(PreadAll(fd, h, sizeof h, 0, path, &got));
  if (got < sizeof h) {
    // Cut before its header was complete: the worker never wrote a record.
    f.empty = true;
    return f;
  }
  if (Get64(h + jfmt::kOffMagic) != jfmt::kFileMagic)
    return Error(Code::kDataErr, path + ": not an mmrun journal (bad magic at byte 0)");
  if (Get32(h + jfmt::kOffVersion) != jfmt::kVersion)
    return Error(Code::kDataErr, path + ": unsupported journal version " + std::to_string(Get32(h + jfmt::kOffVersion)));
  if (UnmaskCrc(Get32(h + jfmt::kOffHeaderCrc)) != Crc32c(h, jfmt::kOffHeaderCrc))
    return Error(Code::kDataErr, path + ": journal header checksum mismatch at byte " +
                                     std::to_string(jfmt::kOffHeaderCrc));
  f.id.dev = Get64(h + jfmt::kOffDev);
  f.id.ino = Get64(h + jfmt::kOffIno);
  f.id.size = Get64(h + jfmt::kOffSize);
  f.coordinator_pid = Get32(h + jfmt::kOffCoordinator);
  f.worker_pid = Get32(h + jfmt::kOffWorker);
  f.analysis = Get32(h + jfmt::kOffAnalysis);
  uint64_t pos = jfmt::kFileHeaderBytes;
  uint64_t seq = 0;
  while (pos < size) {
    const std::string at = path + ": record " + std::to_string(seq) + " at byte " + std::to_string(pos);
    char r[jfmt::kRecordHeaderBytes];
    MM_RETURN_IF_ERROR(PreadAll(fd, r, sizeof r, pos, path, &got));
    if (got < sizeof r) {
      f.torn_tail = true;
      break;
    }
    const bool header_ok = Get32(r + jfmt::kOffRecMagic) == jfmt::kRecordMagic &&
                           UnmaskCrc(Get32(r + jfmt::kOffRecHeaderCrc)) == Crc32c(r, jfmt::kOffRecHeaderCrc);
    JournalRecord rec;
    rec.seq = Get64(r + jfmt::kOffRecSeq);
    rec.offset = Get64(r + jfmt::kOffRecOffset);
    rec.length = Get64(r + jfmt::kOffRecLength);
    rec.data_crc = UnmaskCrc(Get32(r + jfmt::kOffRecDataCrc));
    rec.data_pos = pos + sizeof r;
    if (!header_ok) {
      // A header cut by a crash is the last thing in the file; anything
      // else is corruption. A header is written in one go with its data, so
      // a torn one leaves fewer than header + 1 bytes only if cut inside it.
      if (size - pos <= sizeof r) {
        f.torn_tail = true;
        break;
      }
      return Error(Code::kDataErr, at + ": record header checksum mismatch (the journal is corrupt)");
    }
    if (rec.seq != seq) return Error(Code::kDataErr, at + ": expected record number " + std::to_string(seq));
    if (rec.length > size - rec.data_pos) {
      f.torn_tail = true;  // data cut short by a crash
      break;
    }
    const bool last = rec.data_pos + rec.length == size;
    if (verify_data || last) {
      MM_ASSIGN_OR_RETURN(uint32_t crc, CrcOfRange(fd, rec.data_pos, rec.length, path));
      if (crc != rec.data_crc) {
        if (last) {
          f.torn_tail = true;
          break;
        }
        return Error(Code::kDataErr, at + ": record data checksum mismatch (the journal is corrupt)");
      }
    }
    f.records.push_back(rec);
    pos = rec.data_pos + rec.length;
    ++seq;
  }
  return f;
}

// ---------------------------------------------------------------- rollback

Result<RollBackReport> RollBack(const std::string& dataset_path, int data_fd, int wait_ms) {
  const std::string dir = JournalDirFor(dataset_path);
  RollBackReport report;
  MM_ASSIGN_OR_RETURN(DatasetIdentity id, IdentityOf(data_fd, dataset_path));
  MM_ASSIGN_OR_RETURN(std::vector<std::string> paths, ListJournalFiles(dir));
  std::vector<FileDescriptor> fds;
  std::vector<JournalFile> files;
  // Lock, read and verify everything before the first write.
  for (const std::string& p : paths) {
    MM_ASSIGN_OR_RETURN(FileDescriptor fd, FileDescriptor::Open(p, O_RDWR, 0, Code::kIoErr));
    if (!LockFile(fd.get(), wait_ms)) {
      const size_t w = p.rfind("/w");
      const std::string pid = w == std::string::npos ? "?" : p.substr(w + 2, p.find('-', w) - w - 2);
      return Error(Code::kLocked, p + ": still being written by a live worker (pid " + pid +
                                      "): its transform is running");
    }
    MM_ASSIGN_OR_RETURN(JournalFile f, ReadJournalFile(fd.get(), p, /*verify_data=*/true));
    if (!f.empty && (f.id.dev != id.dev || f.id.ino != id.ino))
      return Error(Code::kDataErr, p + ": the journal was written for another file (device " + std::to_string(f.id.dev) +
                                       ", inode " + std::to_string(f.id.ino) + "), not " + dataset_path +
                                       "; nothing restored");
    for (const JournalRecord& r : f.records) {
      if (r.offset + r.length > id.size || r.offset + r.length < r.offset)
        return Error(Code::kDataErr, p + ": record " + std::to_string(r.seq) + " lies past the end of " +
                                         dataset_path + " (" + std::to_string(id.size) + " bytes); nothing restored");
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
        MM_RETURN_IF_ERROR(PreadAll(fds[i].get(), buf.data(), n, it->data_pos + done, f.path, &got));
        if (got != n) return Error(Code::kIoErr, f.path + ": journal shrank while restoring");
        MM_RETURN_IF_ERROR(PwriteAll(data_fd, buf.data(), n, it->offset + done, dataset_path));
        done += n;
      }
      ++report.records;
      report.bytes += it->length;
    }
  }
  if (::fsync(data_fd) != 0) return FromErrno(errno, dataset_path + ": fsync", Code::kIoErr);
  MM_RETURN_IF_ERROR(RemoveJournalDir(dataset_path));
  return report;
}

// ---------------------------------------------------------------- replay

Status JournalReplay::Load() {
  loaded_ = true;
  MM_ASSIGN_OR_RETURN(std::vector<std::string> paths, ListJournalFiles(JournalDirFor(dataset_path_)));
  for (const std::string& p : paths) {
    if (p == own_path_) continue;
    Result<FileDescriptor> fd = FileDescriptor::Open(p, O_RDONLY, 0, Code::kIoErr);
    if (!fd.ok()) continue;  // removed meanwhile
    // Files of live siblings are read too: their records never intersect
    // this worker's rows, so only a dead earlier attempt's records match.
    MM_ASSIGN_OR_RETURN(JournalFile f, ReadJournalFile(fd->get(), p, /*verify_data=*/false));
    if (f.empty || f.analysis != analysis_) continue;
    for (const JournalRecord& r : f.records) sources_.push_back(Source{p, r});
  }
  return Status::OK();
}

Status JournalReplay::RestoreInto(char* window, uint64_t offset, uint64_t length, uint64_t* restored) {
  *restored = 0;
  if (!loaded_) MM_RETURN_IF_ERROR(Load());
  for (const Source& s : sources_) {
    const uint64_t lo = std::max(offset, s.rec.offset), hi = std::min(offset + length, s.rec.offset + s.rec.length);
    if (lo >= hi) continue;
    MM_ASSIGN_OR_RETURN(FileDescriptor fd, FileDescriptor::Open(s.path, O_RDONLY, 0, Code::kIoErr));
    MM_ASSIGN_OR_RETURN(uint32_t crc, CrcOfRange(fd.get(), s.rec.data_pos, s.rec.length, s.path));
    if (crc != s.rec.data_crc)
      return Error(Code::kDataErr, s.path + ": record " + std::to_string(s.rec.seq) +
                                       " data checksum mismatch (the journal is corrupt)");
    uint64_t got = 0;
    MM_RETURN_IF_ERROR(PreadAll(fd.get(), window + (lo - offset), hi - lo, s.rec.data_pos + (lo - s.rec.offset),
                                s.path, &got));
    if (got != hi - lo) return Error(Code::kDataErr, s.path + ": record data ends early");
    *restored += hi - lo;
  }
  return Status::OK();
}

}  // namespace mm
