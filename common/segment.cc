#include "common/segment.h"

#include "common/fault.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

#include <boost/interprocess/shared_memory_object.hpp>

namespace mm {

namespace bip = boost::interprocess;

namespace {

using segfmt::Header;
using segfmt::SlotEntry;

uint64_t RoundUp(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }
uint64_t TableBytes(uint32_t slots) { return segfmt::kHeaderBytes + RoundUp(uint64_t{slots} * segfmt::kSlotEntryBytes, segfmt::kAlign); }

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t EntryChecksum(const SlotEntry& e) {
  const uint64_t fields[] = {e.attempt, e.row_begin, e.row_end, e.payload_bytes, e.payload_checksum};
  return Checksum64(fields, sizeof fields);
}

Status PWriteAll(int fd, const char* data, size_t n, uint64_t off, const std::string& what) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return FromErrno(errno, what, Code::kIoErr);
    data += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return Status::OK();
}

Status PReadAll(int fd, char* data, size_t n, uint64_t off, const std::string& what) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, data, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return FromErrno(errno, what, Code::kIoErr);
    if (r == 0) return Error(Code::kIoErr, what + ": unexpected end of segment");
    data += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return Status::OK();
}

}  // namespace

uint64_t Checksum64(const void* data, size_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x6a09e667f3bcc909ULL ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ (w * 0x9e3779b97f4a7c15ULL));
    h = ((h << 31) | (h >> 33)) * 0x87c37b91114253d5ULL;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < n; ++k) tail |= uint64_t{p[i + k]} << (8 * k);
  h ^= tail * 0x4cf5ad432745937fULL;
  return Mix64(h);
}

Segment::Segment(Segment&& o) noexcept { *this = std::move(o); }

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    if (owner_ && !name_.empty()) ::shm_unlink(name_.c_str());
    name_ = std::move(o.name_);
    fd_ = std::move(o.fd_);
    table_.swap(o.table_);
    owner_ = o.owner_;
    o.owner_ = false;
    o.name_.clear();
  }
  return *this;
}

Segment::~Segment() {
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
    snprintf(name, sizeof name, "/%s%u-%016llx", segfmt::kNamePrefix, static_cast<unsigned>(::getuid()),
             static_cast<unsigned long long>(r));
    // shm_open adds O_NOFOLLOW; O_EXCL refuses any existing file or link.
    fd = ::shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST) return FromErrno(errno, "cannot create shared segment /dev/shm" + std::string(name), Code::kCantCreate);
    if (fd >= 0) seg.name_ = name;
  }
  if (fd < 0) return Error(Code::kCantCreate, "cannot create a shared segment: names keep colliding");
  seg.fd_ = FileDescriptor(fd);
  seg.owner_ = true;
  if (::fchmod(fd, 0600) != 0) return FromErrno(errno, "segment " + seg.name_ + ": fchmod", Code::kCantCreate);
  const uint64_t table = TableBytes(slots);
  if (::ftruncate(fd, static_cast<off_t>(table)) != 0)
    return FromErrno(errno, "segment " + seg.name_ + ": ftruncate", Code::kCantCreate);
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(table));
  if (err != 0) return FromErrno(err, "cannot reserve shared segment /dev/shm" + seg.name_, Code::kCantCreate);
  try {
    bip::shared_memory_object shm(bip::open_only, seg.name_.c_str() + 1, bip::read_write);
    seg.table_ = bip::mapped_region(shm, bip::read_write, 0, table);
  } catch (const bip::interprocess_exception& e) {
    return Error(Code::kCantCreate, "segment " + seg.name_ + ": cannot map: " + e.what());
  }
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
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_NOFOLLOW, 0);
  if (fd < 0) return FromErrno(errno, "cannot open shared segment " + name, Code::kIoErr);
  seg.fd_ = FileDescriptor(fd);
  seg.name_ = name;
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, "segment " + name, Code::kIoErr);
  if (st.st_uid != ::getuid() || (st.st_mode & 0077) != 0)
    return Error(Code::kNoPerm, "segment " + name + ": not owned by this user with mode 0600; refusing it");
  Header probe;
  MM_RETURN_IF_ERROR(PReadAll(fd, reinterpret_cast<char*>(&probe), sizeof probe, 0, "segment " + name));
  if (probe.magic != segfmt::kMagic || probe.version != segfmt::kVersion)
    return Error(Code::kDataErr, "segment " + name + ": bad magic or version");
  const uint64_t table = TableBytes(probe.slots);
  if (static_cast<uint64_t>(st.st_size) < table) return Error(Code::kDataErr, "segment " + name + ": truncated");
  try {
    bip::shared_memory_object shm(bip::open_only, name.c_str() + 1, bip::read_write);
    seg.table_ = bip::mapped_region(shm, bip::read_write, 0, table);
  } catch (const bip::interprocess_exception& e) {
    return Error(Code::kIoErr, "segment " + name + ": cannot map: " + e.what());
  }
  return seg;
}

void Segment::RemoveStale() {
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return;
  const std::string prefix = std::string(segfmt::kNamePrefix) + std::to_string(::getuid()) + "-";
  while (struct dirent* e = ::readdir(dir)) {
    const std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0) continue;
    const int fd = ::shm_open(("/" + n).c_str(), O_RDONLY | O_NOFOLLOW, 0);
    if (fd < 0) continue;
    FileDescriptor guard(fd);
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_uid != ::getuid()) continue;
    Header h;
    bool dead = false;
    if (::pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) && h.magic == segfmt::kMagic) {
      dead = h.creator_pid > 0 && ::kill(static_cast<pid_t>(h.creator_pid), 0) != 0 && errno == ESRCH;
    } else {
      dead = std::time(nullptr) - st.st_mtime > 600;  // never finished its header
    }
    if (dead) ::shm_unlink(("/" + n).c_str());
  }
  ::closedir(dir);
}

SlotEntry* Segment::entry(uint32_t slot) const {
  return reinterpret_cast<SlotEntry*>(static_cast<char*>(table_.get_address()) + entry_offset(slot));
}

uint64_t Segment::payload_offset(uint32_t slot) const {
  return header()->payload_offset + uint64_t{slot} * header()->payload_stride;
}

Status Segment::SetPass(uint32_t pass, const std::string& plan) {
  Header* h = header();
  const uint64_t plan_offset = TableBytes(h->slots);
  const uint64_t payload = RoundUp(plan_offset + plan.size(), segfmt::kAlign);
  const uint64_t total = payload + uint64_t{h->slots} * h->payload_stride;
  if (::ftruncate(fd_.get(), static_cast<off_t>(total)) != 0)
    return FromErrno(errno, "segment " + name_ + ": ftruncate", Code::kCantCreate);
  const int err = ::posix_fallocate(fd_.get(), 0, static_cast<off_t>(payload));
  if (err != 0) return FromErrno(err, "cannot reserve shared segment /dev/shm" + name_, Code::kCantCreate);
  MM_RETURN_IF_ERROR(PWriteAll(fd_.get(), plan.data(), plan.size(), plan_offset, "segment " + name_));
  h->pass = pass;
  h->plan_offset = plan_offset;
  h->plan_bytes = plan.size();
  h->plan_checksum = Checksum64(plan.data(), plan.size());
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
  std::string plan(h->plan_bytes, '\0');
  MM_RETURN_IF_ERROR(PReadAll(fd_.get(), plan.data(), plan.size(), h->plan_offset, "segment " + name_));
  if (Checksum64(plan.data(), plan.size()) != h->plan_checksum)
    return Error(Code::kDataErr, "segment " + name_ + ": plan checksum mismatch");
  return plan;
}

void Segment::SetProgress(uint32_t slot, uint64_t rows_done) {
  __atomic_store_n(&entry(slot)->rows_done, rows_done, __ATOMIC_RELAXED);
}

uint64_t Segment::Progress(uint32_t slot) const { return __atomic_load_n(&entry(slot)->rows_done, __ATOMIC_RELAXED); }

Status Segment::Lock(uint32_t slot, bool write) const {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);
  fl.l_type = write ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(entry_offset(slot));
  fl.l_len = static_cast<off_t>(segfmt::kSlotEntryBytes);
  while (::fcntl(fd_.get(), F_OFD_SETLKW, &fl) != 0) {
    if (errno != EINTR) return FromErrno(errno, "segment " + name_ + ": lock slot " + std::to_string(slot), Code::kIoErr);
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

Status Segment::WriteSlot(uint32_t slot, uint32_t attempt, uint32_t state, const std::string& payload) {
  if (slot >= slots()) return Error(Code::kDataErr, "segment " + name_ + ": no slot " + std::to_string(slot));
  if (payload.size() > header()->payload_stride)
    return Error(Code::kCantCreate, "segment " + name_ + ": partial result of " + std::to_string(payload.size()) +
                                        " bytes exceeds the slot");
  MM_RETURN_IF_ERROR(Lock(slot, true));
  Status st = [&]() -> Status {
    SlotEntry* e = entry(slot);
    if (e->attempt != attempt) return Error(Code::kDataErr, "slot " + std::to_string(slot) + " was handed to another launch");
    const uint64_t off = payload_offset(slot);
    if (!payload.empty()) {
      const int err = ::posix_fallocate(fd_.get(), static_cast<off_t>(off), static_cast<off_t>(payload.size()));
      if (err != 0) return FromErrno(err, "cannot reserve " + std::to_string(payload.size()) + " bytes in /dev/shm" + name_, Code::kCantCreate);
      MM_RETURN_IF_ERROR(PWriteAll(fd_.get(), payload.data(), payload.size(), off, "segment " + name_));
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
  if (slot >= slots()) return Error(Code::kWorkerFailed, "segment " + name_ + ": no slot " + std::to_string(slot));
  MM_RETURN_IF_ERROR(Lock(slot, false));
  Result<std::string> r = [&]() -> Result<std::string> {
    const SlotEntry e = *entry(slot);
    const std::string where = "slot " + std::to_string(slot);
    if (e.state != segfmt::kCommitted) return Error(Code::kWorkerFailed, where + " was not committed");
    if (e.attempt != attempt) return Error(Code::kWorkerFailed, where + " holds another launch's result");
    if (e.entry_checksum != EntryChecksum(e)) return Error(Code::kWorkerFailed, where + ": entry checksum mismatch");
    if (e.payload_bytes > header()->payload_stride) return Error(Code::kWorkerFailed, where + ": bad payload length");
    std::string payload(e.payload_bytes, '\0');
    MM_RETURN_IF_ERROR(PReadAll(fd_.get(), payload.data(), payload.size(), payload_offset(slot), "segment " + name_));
    if (Checksum64(payload.data(), payload.size()) != e.payload_checksum)
      return Error(Code::kWorkerFailed, where + ": payload checksum mismatch");
    return payload;
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
