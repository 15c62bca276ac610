#include "io/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include "core/fault.h"
#include "core/warnings.h"

namespace mm {

namespace {

using segfmt::Header;
using segfmt::SlotEntry;

uint64_t RoundUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }
uint64_t TableBytes(uint32_t slots) {
  return segfmt::kHeaderBytes + RoundUp(uint64_t{slots} * segfmt::kSlotEntryBytes, segfmt::kAlign);
}

uint64_t EntryChecksum(const SlotEntry& e) {
  const uint64_t fields[] = {e.attempt, e.row_begin, e.row_end, e.payload_bytes,
                             e.payload_checksum};
  return Checksum64(fields, sizeof fields);
}

// Reads exactly `n` bytes: end of file is an error.
Status PReadAll(int fd, char* data, size_t n, uint64_t off, const std::string& what) {
  MM_ASSIGN_OR_RETURN(const uint64_t got, PreadFull(fd, data, n, off, what));
  if (got < n) return Error(Code::kIoErr, what + ": unexpected end of segment");
  return Status::OK();
}

}  // namespace

Segment::Segment(Segment&& o) noexcept { *this = std::move(o); }

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    if (owner_ && !name_.empty()) ::shm_unlink(name_.c_str());
    name_ = std::move(o.name_);
    fd_ = std::move(o.fd_);
    if (table_ != nullptr) ::munmap(table_, table_bytes_);
    table_ = o.table_;
    table_bytes_ = o.table_bytes_;
    o.table_ = nullptr;
    o.table_bytes_ = 0;
    owner_ = o.owner_;
    o.owner_ = false;
    o.name_.clear();
  }
  return *this;
}

Segment::~Segment() {
  if (table_ != nullptr) ::munmap(table_, table_bytes_);
  if (owner_ && !name_.empty()) ::shm_unlink(name_.c_str());
}

Result<Segment> Segment::Create(uint32_t slots) {
  if (FaultEnabled("segment_enospc"))
    return FromErrno(ENOSPC, "cannot reserve shared segment in /dev/shm", Code::kCantCreate);
  std::random_device rd;
  Segment seg;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    const uint64_t r = (uint64_t{rd()} << 32) ^ rd();
    char name[64];
    snprintf(name, sizeof name, "/%s%u-%016llx", segfmt::kNamePrefix,
             static_cast<unsigned>(::getuid()), static_cast<unsigned long long>(r));
    // shm_open adds O_NOFOLLOW; O_EXCL refuses any existing file or link.
    fd = ::shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST)
      return FromErrno(errno, "cannot create shared segment /dev/shm" + std::string(name),
                       Code::kCantCreate);
    if (fd >= 0) seg.name_ = name;
  }
  if (fd < 0)
    return Error(Code::kCantCreate, "cannot create a shared segment: names keep colliding");
  seg.fd_ = FileDescriptor(fd);
  seg.owner_ = true;
  if (::fchmod(fd, 0600) != 0)
    return FromErrno(errno, "segment " + seg.name_ + ": fchmod", Code::kCantCreate);
  const uint64_t table = TableBytes(slots);
  if (::ftruncate(fd, static_cast<off_t>(table)) != 0)
    return FromErrno(errno, "segment " + seg.name_ + ": ftruncate", Code::kCantCreate);
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(table));
  if (err != 0)
    return FromErrno(err, "cannot reserve shared segment /dev/shm" + seg.name_, Code::kCantCreate);
  MM_RETURN_IF_ERROR(seg.MapTable(table, Code::kCantCreate));
  Header* h = seg.header();
  std::memset(h, 0, table);
  h->version = segfmt::kVersion;
  h->slots = slots;
  h->creator_pid = static_cast<uint64_t>(::getpid());
  h->payload_stride = segfmt::kPayloadStride;
  __atomic_store_n(&h->magic, segfmt::kMagic, __ATOMIC_RELEASE);
  return seg;
}

Result<Segment> Segment::Open(const std::string& name) {
  Segment seg;
  // O_NONBLOCK: a FIFO put in the segment's place never blocks the worker.
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK, 0);
  if (fd < 0) return FromErrno(errno, "cannot open shared segment " + name, Code::kIoErr);
  seg.fd_ = FileDescriptor(fd);
  seg.name_ = name;
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, "segment " + name, Code::kIoErr);
  if (!S_ISREG(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 0077) != 0)
    return Error(Code::kNoPerm,
                 "segment " + name + ": not owned by this user with mode 0600; refusing it");
  Header probe;
  MM_RETURN_IF_ERROR(
      PReadAll(fd, reinterpret_cast<char*>(&probe), sizeof probe, 0, "segment " + name));
  if (probe.magic != segfmt::kMagic || probe.version != segfmt::kVersion)
    return Error(Code::kDataErr, "segment " + name + ": bad magic or version");
  const uint64_t table = TableBytes(probe.slots);
  if (static_cast<uint64_t>(st.st_size) < table)
    return Error(Code::kDataErr, "segment " + name + ": truncated");
  MM_RETURN_IF_ERROR(seg.MapTable(table, Code::kIoErr));
  return seg;
}

Status Segment::MapTable(uint64_t bytes, Code otherwise) {
  // Mapped through the descriptor already checked, never reopened by name.
  void* p =
      ::mmap(nullptr, static_cast<size_t>(bytes), PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) return FromErrno(errno, "segment " + name_ + ": cannot map", otherwise);
  table_ = p;
  table_bytes_ = static_cast<size_t>(bytes);
  return Status::OK();
}

namespace {

// Why the /dev/shm entry open as `fd` (or failing with `open_errno`) is not
// a segment of this user that may be read; "" when it is one.
std::string NotOurSegment(int fd, int open_errno, struct stat* st) {
  if (fd < 0)
    return open_errno == ELOOP ? "a symbolic link"
                               : std::string("cannot open: ") + std::strerror(open_errno);
  if (::fstat(fd, st) != 0) return std::string("cannot stat: ") + std::strerror(errno);
  if (S_ISFIFO(st->st_mode)) return "a FIFO";
  if (S_ISDIR(st->st_mode)) return "a directory";
  if (!S_ISREG(st->st_mode)) return "not a regular file";
  if (st->st_uid != ::getuid()) return "owned by uid " + std::to_string(st->st_uid);
  if ((st->st_mode & 07777) != 0600) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st->st_mode & 07777));
    return std::string("mode ") + mode + ", not 0600";
  }
  return "";
}

}  // namespace

void Segment::RemoveStale(Warnings* warnings) {
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return;
  const std::string prefix = std::string(segfmt::kNamePrefix) + std::to_string(::getuid()) + "-";
  int64_t skipped = 0;
  std::string example;
  while (struct dirent* e = ::readdir(dir)) {
    const std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    // O_NONBLOCK: a FIFO planted under this user's prefix must not block
    // (the caller may have signals blocked); O_NOFOLLOW: never a link.
    const int fd =
        ::openat(::dirfd(dir), n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    const int open_errno = errno;
    // Gone since readdir: another run's segment, removed when it finished.
    if (fd < 0 && open_errno == ENOENT) continue;
    FileDescriptor guard(fd);
    struct stat st;
    const std::string why = NotOurSegment(fd, open_errno, &st);
    if (!why.empty()) {
      if (skipped++ == 0) example = "/dev/shm/" + n + " (" + why + ")";
      continue;
    }
    Header h;
    bool dead = false;
    if (::pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) &&
        h.magic == segfmt::kMagic) {
      dead =
          h.creator_pid > 0 && ::kill(static_cast<pid_t>(h.creator_pid), 0) != 0 && errno == ESRCH;
    } else {
      dead = std::time(nullptr) - st.st_mtime > 600;  // never finished its header
    }
    // /dev/shm is sticky: only this user (or root) can rename or remove the
    // entry just checked, so the name still means that file.
    if (dead) ::shm_unlink(("/" + n).c_str());
  }
  ::closedir(dir);
  if (skipped > 0 && warnings != nullptr)
    warnings->Add("skipped " + std::to_string(skipped) + " object" + (skipped > 1 ? "s" : "") +
                  " in /dev/shm that " + (skipped > 1 ? "are" : "is") +
                  " not this user's segments, leaving them alone, e.g. " + example);
}

SlotEntry* Segment::entry(uint32_t slot) const {
  return reinterpret_cast<SlotEntry*>(static_cast<char*>(table_) + entry_offset(slot));
}

uint64_t Segment::payload_offset(uint32_t slot) const {
  return header()->payload_offset + uint64_t{slot} * header()->payload_stride;
}

Status Segment::SetPass(uint32_t pass, const std::string& plan) {
  return SetPass(pass, std::vector<std::string_view>{plan});
}

Status Segment::SetPass(uint32_t pass, const std::vector<std::string_view>& pieces) {
  Header* h = header();
  const uint64_t plan_offset = TableBytes(h->slots);
  uint64_t plan_bytes = 0;
  for (const std::string_view piece : pieces) plan_bytes += piece.size();
  const uint64_t payload = RoundUp(plan_offset + plan_bytes, segfmt::kAlign);
  const uint64_t total = payload + uint64_t{h->slots} * h->payload_stride;
  if (::ftruncate(fd_.get(), static_cast<off_t>(total)) != 0)
    return FromErrno(errno, "segment " + name_ + ": ftruncate", Code::kCantCreate);
  const int err = ::posix_fallocate(fd_.get(), 0, static_cast<off_t>(payload));
  if (err != 0)
    return FromErrno(err, "cannot reserve shared segment /dev/shm" + name_, Code::kCantCreate);
  Checksum64Stream sum(plan_bytes);
  uint64_t at = plan_offset;
  for (const std::string_view piece : pieces) {
    MM_RETURN_IF_ERROR(PwriteFull(fd_.get(), piece.data(), piece.size(), at, "segment " + name_));
    sum.Add(piece.data(), piece.size());
    at += piece.size();
  }
  h->pass = pass;
  h->plan_offset = plan_offset;
  h->plan_bytes = plan_bytes;
  h->plan_checksum = sum.Done();
  h->payload_offset = payload;
  for (uint32_t s = 0; s < h->slots; ++s) std::memset(entry(s), 0, sizeof(SlotEntry));
  return Status::OK();
}

void Segment::PrepareSlot(uint32_t slot, uint32_t attempt, uint64_t row_begin, uint64_t row_end) {
  SlotEntry* e = entry(slot);
  std::memset(e, 0, sizeof *e);
  e->attempt = attempt;
  e->row_begin = row_begin;
  e->row_end = row_end;
  e->state = segfmt::kRunning;
}

Result<std::string> Segment::ReadPlan() const {
  const Header* h = header();
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return FromErrno(errno, "segment " + name_, Code::kIoErr);
  // Bounded by the segment's size before anything is allocated.
  if (h->plan_offset > static_cast<uint64_t>(st.st_size) ||
      h->plan_bytes > static_cast<uint64_t>(st.st_size) - h->plan_offset)
    return Error(Code::kDataErr, "segment " + name_ + ": plan out of bounds");
  std::string plan(h->plan_bytes, '\0');
  MM_RETURN_IF_ERROR(
      PReadAll(fd_.get(), plan.data(), plan.size(), h->plan_offset, "segment " + name_));
  if (Checksum64(plan.data(), plan.size()) != h->plan_checksum)
    return Error(Code::kDataErr, "segment " + name_ + ": plan checksum mismatch");
  return plan;
}

void Segment::SetProgress(uint32_t slot, uint64_t rows_done) {
  __atomic_store_n(&entry(slot)->rows_done, rows_done, __ATOMIC_RELAXED);
}

uint64_t Segment::Progress(uint32_t slot) const {
  return __atomic_load_n(&entry(slot)->rows_done, __ATOMIC_RELAXED);
}

Status Segment::Lock(uint32_t slot, bool write) const {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = write ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(entry_offset(slot));
  fl.l_len = static_cast<off_t>(segfmt::kSlotEntryBytes);
  while (::fcntl(fd_.get(), F_OFD_SETLKW, &fl) != 0) {
    if (errno != EINTR)
      return FromErrno(errno, "segment " + name_ + ": lock slot " + std::to_string(slot),
                       Code::kIoErr);
  }
  return Status::OK();
}

void Segment::Unlock(uint32_t slot) const {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = F_UNLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(entry_offset(slot));
  fl.l_len = static_cast<off_t>(segfmt::kSlotEntryBytes);
  ::fcntl(fd_.get(), F_OFD_SETLK, &fl);
}

Status Segment::WriteSlot(uint32_t slot, uint32_t attempt, uint32_t state,
                          const std::string& payload) {
  if (slot >= slots())
    return Error(Code::kDataErr, "segment " + name_ + ": no slot " + std::to_string(slot));
  if (payload.size() > header()->payload_stride)
    return Error(Code::kCantCreate, "segment " + name_ + ": partial result of " +
                                        std::to_string(payload.size()) + " bytes exceeds the slot");
  MM_RETURN_IF_ERROR(Lock(slot, true));
  Status st = [&]() -> Status {
    SlotEntry* e = entry(slot);
    if (e->attempt != attempt)
      return Error(Code::kDataErr,
                   "slot " + std::to_string(slot) + " was handed to another launch");
    const uint64_t off = payload_offset(slot);
    if (!payload.empty()) {
      const int err =
          ::posix_fallocate(fd_.get(), static_cast<off_t>(off), static_cast<off_t>(payload.size()));
      if (err != 0)
        return FromErrno(
            err, "cannot reserve " + std::to_string(payload.size()) + " bytes in /dev/shm" + name_,
            Code::kCantCreate);
      MM_RETURN_IF_ERROR(
          PwriteFull(fd_.get(), payload.data(), payload.size(), off, "segment " + name_));
    }
    e->payload_bytes = payload.size();
    e->payload_checksum = Checksum64(payload.data(), payload.size());
    e->entry_checksum = EntryChecksum(*e);
    __atomic_store_n(&e->state, state, __ATOMIC_RELEASE);  // commit last
    return Status::OK();
  }();
  Unlock(slot);
  return st;
}

Status Segment::CommitSlot(uint32_t slot, uint32_t attempt, const std::string& payload) {
  return WriteSlot(slot, attempt, segfmt::kCommitted, payload);
}

Status Segment::FailSlot(uint32_t slot, uint32_t attempt, const std::string& message) {
  return WriteSlot(slot, attempt, segfmt::kFailed, message);
}

Result<std::string> Segment::ReadCommitted(uint32_t slot, uint32_t attempt) const {
  std::string payload;
  MM_RETURN_IF_ERROR(CheckCommitted(slot, attempt, &payload));
  return payload;
}

Status Segment::VerifyCommitted(uint32_t slot, uint32_t attempt) const {
  return CheckCommitted(slot, attempt, nullptr);
}

Status Segment::CheckCommitted(uint32_t slot, uint32_t attempt, std::string* out) const {
  if (slot >= slots())
    return Error(Code::kWorkerFailed, "segment " + name_ + ": no slot " + std::to_string(slot));
  MM_RETURN_IF_ERROR(Lock(slot, false));
  const Status r = [&]() -> Status {
    const SlotEntry e = *entry(slot);
    const std::string where = "slot " + std::to_string(slot);
    if (e.state != segfmt::kCommitted)
      return Error(Code::kWorkerFailed, where + " was not committed");
    if (e.attempt != attempt)
      return Error(Code::kWorkerFailed, where + " holds another launch's result");
    if (e.entry_checksum != EntryChecksum(e))
      return Error(Code::kWorkerFailed, where + ": entry checksum mismatch");
    if (e.payload_bytes > header()->payload_stride)
      return Error(Code::kWorkerFailed, where + ": bad payload length");
    Checksum64Stream sum(e.payload_bytes);
    if (out != nullptr) {
      out->assign(e.payload_bytes, '\0');
      MM_RETURN_IF_ERROR(
          PReadAll(fd_.get(), out->data(), out->size(), payload_offset(slot), "segment " + name_));
      sum.Add(out->data(), out->size());
    } else {
      std::vector<char> piece(std::min<uint64_t>(e.payload_bytes, kVerifyPieceBytes));
      for (uint64_t at = 0; at < e.payload_bytes; at += piece.size()) {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(piece.size(), e.payload_bytes - at));
        MM_RETURN_IF_ERROR(
            PReadAll(fd_.get(), piece.data(), n, payload_offset(slot) + at, "segment " + name_));
        sum.Add(piece.data(), n);
      }
    }
    if (sum.Done() != e.payload_checksum)
      return Error(Code::kWorkerFailed, where + ": payload checksum mismatch");
    return Status::OK();
  }();
  Unlock(slot);
  return r;
}

std::string Segment::FailureMessage(uint32_t slot, uint32_t attempt) const {
  if (slot >= slots()) return "";
  const SlotEntry e = *entry(slot);
  if (e.state != segfmt::kFailed || e.attempt != attempt || e.entry_checksum != EntryChecksum(e) ||
      e.payload_bytes > 4096)
    return "";
  std::string msg(e.payload_bytes, '\0');
  if (!PReadAll(fd_.get(), msg.data(), msg.size(), payload_offset(slot), name_).ok()) return "";
  if (Checksum64(msg.data(), msg.size()) != e.payload_checksum) return "";
  return msg;
}

void Segment::CorruptPayloadForTest(uint32_t slot) {
  char b;
  if (::pread(fd_.get(), &b, 1, static_cast<off_t>(payload_offset(slot))) == 1) {
    b ^= 0x20;
    if (::pwrite(fd_.get(), &b, 1, static_cast<off_t>(payload_offset(slot))) != 1) return;
  }
}

}  // namespace mm
