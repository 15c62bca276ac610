// Tests of io/journal and io/dataset_lock: CRC-32C, records that
// round-trip, a reader that drops an uncounted torn tail but refuses a
// truncated journal or a flipped byte anywhere else, rollback that restores
// the exact bytes (newest transform first) and refuses a foreign or
// incomplete journal, permissions, links, planted symlinks, the full-disk
// test hook, and locks that conflict as documented. Uses real files in a temporary folder.
#include "io/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/checksum.h"
#include "io/dataset_lock.h"
#include "io/journal_format.h"

namespace mm {
namespace {

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A temporary folder holding DATA (removed with everything in it).
class Scratch {
 public:
  Scratch() {
    char tmpl[] = "/tmp/mmjournal-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path = dir_ + "/data.bin";
  }
  ~Scratch() { (void)std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string path;

  void Write(const std::string& bytes) const {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }
  std::string Read(const std::string& p) const { return ReadFile(p); }
  std::string Data() const { return ReadFile(path); }

 private:
  std::string dir_;
};

std::string Bytes(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed) * 7) & 0xff);
  return s;
}

DatasetIdentity Identity(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY));
  Result<DatasetIdentity> id = IdentityOf(fd.get(), path);
  REQUIRE(id.ok());
  return *id;
}

// One record written and counted, as a transform's worker does in two steps.
Status Append(JournalWriter* w, uint64_t offset, const char* data, uint64_t length) {
  MM_RETURN_IF_ERROR(w->Write(offset, data, length));
  return w->Commit();
}

// Journals [offset, offset+len) of DATA, then overwrites it with `fill`.
void JournalAndChange(JournalWriter* w, const std::string& path, uint64_t offset, size_t len,
                      char fill) {
  std::string data = ReadFile(path);
  REQUIRE(Append(w, offset, data.data() + offset, len).ok());
  FileDescriptor fd(::open(path.c_str(), O_RDWR));
  const std::string repl(len, fill);
  REQUIRE(::pwrite(fd.get(), repl.data(), len, static_cast<off_t>(offset)) ==
          static_cast<ssize_t>(len));
}

void FlipByte(const std::string& file, uint64_t pos) {
  FileDescriptor fd(::open(file.c_str(), O_RDWR));
  char b = 0;
  REQUIRE(::pread(fd.get(), &b, 1, static_cast<off_t>(pos)) == 1);
  b ^= 0x20;
  REQUIRE(::pwrite(fd.get(), &b, 1, static_cast<off_t>(pos)) == 1);
}

Result<JournalFile> ReadBack(const std::string& file) {
  FileDescriptor fd(::open(file.c_str(), O_RDONLY));
  return ReadJournalFile(fd.get(), file, true);
}

TEST_CASE("Journal: CRC-32C matches the standard check value and masks round-trip") {
  const char* check = "123456789";
  CHECK(Crc32c(check, 9) == 0xE3069283U);
  CHECK(Crc32c(check + 4, 5, Crc32c(check, 4)) == 0xE3069283U);  // extends
  const std::string big = Bytes(100003, 3);
  CHECK(Crc32c(big.data(), big.size()) ==
        Crc32c(big.data() + 7, big.size() - 7, Crc32c(big.data(), 7)));
  for (uint32_t v : {0U, 1U, 0xE3069283U, 0xffffffffU}) CHECK(UnmaskCrc(MaskCrc(v)) == v);
  CHECK(MaskCrc(0xE3069283U) != 0xE3069283U);
}

TEST_CASE("Journal: records round-trip and rollback restores the exact bytes") {
  Scratch s;
  const std::string original = Bytes(10000, 1);
  s.Write(original);
  REQUIRE(CreateJournalDir(s.path).ok());
  REQUIRE(JournalExists(s.path));
  auto w = JournalWriter::Create(s.path, Identity(s.path), 1234, 0);
  REQUIRE(w.ok());
  JournalAndChange(w->get(), s.path, 0, 4000, 'a');
  JournalAndChange(w->get(), s.path, 4000, 4000, 'b');
  JournalAndChange(w->get(), s.path, 8000, 2000, 'c');
  CHECK((*w)->records() == 3);
  Result<JournalFile> f = ReadBack((*w)->path());
  REQUIRE(f.ok());
  CHECK(f->records.size() == 3);
  CHECK(f->records[1].offset == 4000);
  CHECK(f->records[1].length == 4000);
  CHECK(f->coordinator_pid == 1234);
  CHECK(f->worker_pid == static_cast<uint32_t>(::getpid()));
  CHECK_FALSE(f->torn_tail);
  CHECK(s.Data() != original);
  w->reset();
  Result<DatasetLock> lock = DatasetLock::Acquire(s.path, true);
  REQUIRE(lock.ok());
  Result<RollBackReport> r = RollBack(s.path, lock->fd(), 0);
  REQUIRE(r.ok());
  CHECK(r->records == 3);
  CHECK(r->bytes == 10000);
  CHECK(s.Data() == original);
  CHECK_FALSE(JournalExists(s.path));
}

TEST_CASE("Journal: a later transform's records are restored before an earlier one's") {
  Scratch s;
  const std::string original = Bytes(6000, 2);
  s.Write(original);
  REQUIRE(CreateJournalDir(s.path).ok());
  {
    auto first = JournalWriter::Create(s.path, Identity(s.path), 1, 0);
    REQUIRE(first.ok());
    JournalAndChange(first->get(), s.path, 0, 6000, 'x');
  }
  {
    // A second transform (analysis 1) of the same run journals the changed bytes.
    auto second = JournalWriter::Create(s.path, Identity(s.path), 1, 1);
    REQUIRE(second.ok());
    JournalAndChange(second->get(), s.path, 1000, 3000, 'y');
  }
  Result<DatasetLock> lock = DatasetLock::Acquire(s.path, true);
  REQUIRE(lock.ok());
  REQUIRE(RollBack(s.path, lock->fd(), 0).ok());
  CHECK(s.Data() == original);
}

TEST_CASE("Journal: counted records must all be there; only an uncounted tail may be torn") {
  Scratch s;
  s.Write(Bytes(3000, 3));
  REQUIRE(CreateJournalDir(s.path).ok());
  auto w = JournalWriter::Create(s.path, Identity(s.path), 1, 0);
  REQUIRE(w.ok());
  JournalAndChange(w->get(), s.path, 0, 1000, 'a');
  JournalAndChange(w->get(), s.path, 1000, 1000, 'b');
  const std::string file = (*w)->path();
  w->reset();
  const uint64_t rec0 = jfmt::kRecordsStart;
  const uint64_t rec1 = rec0 + jfmt::kRecordHeaderBytes + 1000;
  const uint64_t end = rec1 + jfmt::kRecordHeaderBytes + 1000;
  const std::string saved = s.Read(file);
  REQUIRE(saved.size() == end);
  auto append = [&](const std::string& bytes) {
    std::ofstream(file, std::ios::binary | std::ios::app) << bytes;
  };

  SECTION("both records counted and read back") {
    Result<JournalFile> f = ReadBack(file);
    REQUIRE(f.ok());
    CHECK(f->counted == 2);
    CHECK(f->records.size() == 2);
    CHECK_FALSE(f->torn_tail);
  }
  SECTION("an uncounted record cut short after them: a torn tail, ignored") {
    append(saved.substr(rec1, jfmt::kRecordHeaderBytes + 10));
    Result<JournalFile> f = ReadBack(file);
    REQUIRE(f.ok());
    CHECK(f->records.size() == 2);
    CHECK(f->torn_tail);
  }
  SECTION("truncated inside the last counted record") {
    REQUIRE(::truncate(file.c_str(), static_cast<off_t>(end - 10)) == 0);
    Result<JournalFile> f = ReadBack(file);
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().code() == Code::kDataErr);
    CHECK(f.status().message().find("count says 2") != std::string::npos);
  }
  SECTION("truncated at a record boundary") {
    REQUIRE(::truncate(file.c_str(), static_cast<off_t>(rec1)) == 0);
    Result<JournalFile> f = ReadBack(file);
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().message().find("holds 1 complete records, its count says 2") !=
          std::string::npos);
  }
  SECTION("a flipped bit in the last record's data") {
    FlipByte(file, end - 5);
    Result<JournalFile> f = ReadBack(file);
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().message().find("record 1") != std::string::npos);
    CHECK(f.status().message().find("checksum") != std::string::npos);
  }
  SECTION("first record's data flipped") {
    FlipByte(file, rec0 + jfmt::kRecordHeaderBytes + 500);
    Result<JournalFile> f = ReadBack(file);
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().code() == Code::kDataErr);
    CHECK(f.status().message().find("record 0") != std::string::npos);
  }
  SECTION("first record's header flipped") {
    FlipByte(file, rec0 + jfmt::kOffRecOffset + 1);
    Result<JournalFile> f = ReadBack(file);
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().message().find("header checksum") != std::string::npos);
  }
  SECTION(
      "the newest count slot flipped: the older count is used and the last record kept as "
      "uncounted") {
    FlipByte(file, jfmt::kSlotOffset[0] + 2);  // count 2 lives in slot 2 % 2
    Result<JournalFile> f = ReadBack(file);
    REQUIRE(f.ok());
    CHECK(f->counted == 1);
    CHECK(f->records.size() == 2);
    CHECK(f->uncounted);
  }
  SECTION("both count slots flipped") {
    FlipByte(file, jfmt::kSlotOffset[0] + 2);
    FlipByte(file, jfmt::kSlotOffset[1] + 2);
    CHECK(ReadBack(file).status().message().find("no valid record count") != std::string::npos);
  }
  SECTION("two records past the count") {
    FlipByte(file, jfmt::kSlotOffset[0] + 2);
    append(saved.substr(rec1));
    CHECK(ReadBack(file).status().code() == Code::kDataErr);
  }
  SECTION("file header flipped, magic and version") {
    FlipByte(file, jfmt::kOffIno);
    CHECK(ReadBack(file).status().code() == Code::kDataErr);
    FlipByte(file, jfmt::kOffIno);
    FlipByte(file, jfmt::kOffMagic);
    CHECK(ReadBack(file).status().message().find("magic") != std::string::npos);
  }
  SECTION("a corrupt journal is refused by RollBack before any byte changes") {
    FlipByte(file, rec0 + jfmt::kRecordHeaderBytes + 10);
    const std::string before = s.Data();
    Result<DatasetLock> lock = DatasetLock::Acquire(s.path, true);
    REQUIRE(lock.ok());
    CHECK(RollBack(s.path, lock->fd(), 0).status().code() == Code::kDataErr);
    CHECK(s.Data() == before);
    CHECK(JournalExists(s.path));
  }
  SECTION("a journal file listed in the manifest but missing is refused") {
    REQUIRE(::unlink(file.c_str()) == 0);
    const std::string before = s.Data();
    Result<DatasetLock> lock = DatasetLock::Acquire(s.path, true);
    REQUIRE(lock.ok());
    Result<RollBackReport> r = RollBack(s.path, lock->fd(), 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kDataErr);
    CHECK(r.status().message().find("missing") != std::string::npos);
    CHECK(s.Data() == before);
  }
  SECTION("a journal file with records but no manifest is refused") {
    REQUIRE(::unlink((JournalDirFor(s.path) + "/manifest").c_str()) == 0);
    Result<DatasetLock> lock = DatasetLock::Acquire(s.path, true);
    REQUIRE(lock.ok());
    Result<RollBackReport> r = RollBack(s.path, lock->fd(), 0);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("manifest is missing") != std::string::npos);
  }
  REQUIRE(RemoveJournalDir(s.path).ok());
}

TEST_CASE("Journal: RollBack refuses a journal written for another file") {
  Scratch s;
  s.Write(Bytes(2000, 4));
  REQUIRE(CreateJournalDir(s.path).ok());
  auto w = JournalWriter::Create(s.path, Identity(s.path), 1, 0);
  REQUIRE(w.ok());
  JournalAndChange(w->get(), s.path, 0, 500, 'z');
  w->reset();
  // The data and its journal copied beside another name: another inode.
  const std::string other = s.path + ".copy";
  REQUIRE(std::system(("cp '" + s.path + "' '" + other + "' && cp -a '" + JournalDirFor(s.path) +
                       "' '" + JournalDirFor(other) + "'")
                          .c_str()) == 0);
  const std::string before = s.Read(other);
  Result<DatasetLock> lock = DatasetLock::Acquire(other, true);
  REQUIRE(lock.ok());
  Result<RollBackReport> r = RollBack(other, lock->fd(), 0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("another file") != std::string::npos);
  CHECK(s.Read(other) == before);
  REQUIRE(RemoveJournalDir(s.path).ok());
}

TEST_CASE("Journal: private folder, the dataset's permission bits, found through links") {
  Scratch s;
  s.Write(Bytes(2000, 5));
  REQUIRE(::chmod(s.path.c_str(), 0640) == 0);
  const std::string link = s.path + ".link", hard = s.path + ".hard";
  REQUIRE(::symlink(s.path.c_str(), link.c_str()) == 0);
  REQUIRE(::link(s.path.c_str(), hard.c_str()) == 0);
  CHECK(JournalDirFor(link) == JournalDirFor(s.path));
  REQUIRE(CreateJournalDir(link).ok());
  auto w = JournalWriter::Create(link, Identity(link), 1, 0);
  REQUIRE(w.ok());
  JournalAndChange(w->get(), s.path, 0, 700, 'q');
  struct stat st;
  REQUIRE(::stat(JournalDirFor(s.path).c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(::stat((*w)->path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0640);
  w->reset();
  // Through the hard link (its own name has no journal) the journal is found.
  FileDescriptor fd(::open(hard.c_str(), O_RDONLY));
  Result<std::string> found = FindJournal(hard, fd.get());
  REQUIRE(found.ok());
  CHECK(*found == JournalDirFor(s.path));
  CHECK(CheckNoStaleJournal(hard).code() == Code::kDataErr);
  CHECK(CheckNoStaleJournal(link).code() == Code::kDataErr);
  // A folder writable by others is not trusted.
  REQUIRE(::chmod(JournalDirFor(s.path).c_str(), 0777) == 0);
  const Status st_untrusted = CheckNoStaleJournal(s.path);
  CHECK(st_untrusted.code() == Code::kNoPerm);
  CHECK(st_untrusted.message().find("writable by group or others") != std::string::npos);
  REQUIRE(::chmod(JournalDirFor(s.path).c_str(), 0700) == 0);
  Result<DatasetLock> lock = DatasetLock::Acquire(hard, true);
  REQUIRE(lock.ok());
  REQUIRE(RollBack(hard, lock->fd(), 0).ok());
  CHECK(s.Data() == Bytes(2000, 5));
  CHECK_FALSE(JournalExists(s.path));
}

TEST_CASE("Journal: the commit never follows a planted .committed symlink") {
  Scratch s;
  s.Write(Bytes(100, 6));
  const std::string precious = s.path + ".precious";
  REQUIRE(::mkdir(precious.c_str(), 0700) == 0);
  std::ofstream(precious + "/keep", std::ios::binary) << "keep";
  const std::string planted = JournalDirFor(s.path) + jfmt::kCommittedSuffix;
  REQUIRE(::symlink(precious.c_str(), planted.c_str()) == 0);
  REQUIRE(::symlink(precious.c_str(), (planted + "-0123456789abcdef").c_str()) == 0);
  REQUIRE(CreateJournalDir(s.path).ok());
  REQUIRE(RemoveJournalDir(s.path).ok());
  CHECK(s.Read(precious + "/keep") == "keep");
  CHECK_FALSE(JournalExists(s.path));
  // The journal folder itself as a symlink: refused, not followed.
  REQUIRE(::symlink(precious.c_str(), JournalDirFor(s.path).c_str()) == 0);
  CHECK(CheckNoStaleJournal(s.path).code() == Code::kNoPerm);
  CHECK(CreateJournalDir(s.path).code() == Code::kNoPerm);
  CHECK(RemoveJournalDir(s.path).code() == Code::kNoPerm);
  CHECK(s.Read(precious + "/keep") == "keep");
  struct stat st;
  CHECK(::lstat(JournalDirFor(s.path).c_str(), &st) == 0);  // left where it was
}

TEST_CASE("Journal: the journal_enospc hook fails a record's Write with kCantCreate") {
  Scratch s;
  s.Write(Bytes(2000, 5));
  REQUIRE(CreateJournalDir(s.path).ok());
  ::setenv("MMRUN_TEST_FAULT", "journal_enospc=1", 1);
  auto w = JournalWriter::Create(s.path, Identity(s.path), 1, 0);
  ::unsetenv("MMRUN_TEST_FAULT");
  REQUIRE(w.ok());
  const std::string data = Bytes(100, 6);
  CHECK(Append(w->get(), 0, data.data(), 100).ok());
  const Status st = Append(w->get(), 100, data.data(), 100);
  CHECK(st.code() == Code::kCantCreate);
  CHECK(st.message().find("space") != std::string::npos);
  w->reset();
  REQUIRE(RemoveJournalDir(s.path).ok());
  CHECK_FALSE(JournalExists(s.path));
}

TEST_CASE("Journal: Write, Commit, Write...: one uncounted record at a time") {
  Scratch s;
  s.Write(Bytes(2000, 5));
  REQUIRE(CreateJournalDir(s.path).ok());
  auto w = JournalWriter::Create(s.path, Identity(s.path), 1, 0);
  REQUIRE(w.ok());
  const std::string data = Bytes(300, 6);
  CHECK((*w)->Commit().code() == Code::kWorkerFailed);  // nothing written
  REQUIRE((*w)->Write(0, data.data(), 100).ok());
  CHECK((*w)->Write(100, data.data(), 100).code() == Code::kWorkerFailed);  // 0 not counted
  REQUIRE((*w)->Commit().ok());
  REQUIRE(Append(w->get(), 100, data.data() + 100, 100).ok());
  REQUIRE((*w)->Write(200, data.data() + 200, 100).ok());  // left uncounted
  CHECK((*w)->records() == 2);
  Result<FileDescriptor> fd = FileDescriptor::Open((*w)->path(), O_RDONLY, 0, Code::kIoErr);
  REQUIRE(fd.ok());
  Result<JournalFile> f = ReadJournalFile(fd->get(), (*w)->path(), /*verify_data=*/true);
  REQUIRE(f.ok());
  CHECK(f->counted == 2);
  CHECK(f->uncounted);
  REQUIRE(f->records.size() == 3);
  for (uint64_t i = 0; i < 3; ++i) {
    CHECK(f->records[i].seq == i);
    CHECK(f->records[i].offset == 100 * i);
    CHECK(f->records[i].length == 100);
  }
  w->reset();
  REQUIRE(RemoveJournalDir(s.path).ok());
}

TEST_CASE("Journal: creating a folder that exists (not ours) is a stale journal") {
  Scratch s;
  s.Write("x");
  REQUIRE(::mkdir(JournalDirFor(s.path).c_str(), 0755) == 0);
  const Status st = CreateJournalDir(s.path);
  CHECK(st.code() == Code::kDataErr);
  CHECK(st.message().find("mmrun recover") != std::string::npos);
  CHECK(CheckNoStaleJournal(s.path).code() == Code::kDataErr);
  REQUIRE(RemoveJournalDir(s.path).ok());
  CHECK(CheckNoStaleJournal(s.path).ok());
}

TEST_CASE("DatasetLock: shared locks coexist; exclusive conflicts both ways and names the pid") {
  Scratch s;
  s.Write("abc");
  Result<DatasetLock> r1 = DatasetLock::Acquire(s.path, false);
  Result<DatasetLock> r2 = DatasetLock::Acquire(s.path, false);
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  // OFD locks of different open files conflict even within one process.
  Result<DatasetLock> x = DatasetLock::Acquire(s.path, true);
  REQUIRE_FALSE(x.ok());
  CHECK(x.status().code() == Code::kLocked);
  r1 = DatasetLock();
  r2 = DatasetLock();
  // A holder in another process is named by its pid.
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t child = ::fork();
  if (child == 0) {
    Result<DatasetLock> held = DatasetLock::Acquire(s.path, true);
    const char ok = held.ok() ? '1' : '0';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    _exit(0);
  }
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  CHECK(ok == '1');
  Result<DatasetLock> shared = DatasetLock::Acquire(s.path, false);
  REQUIRE_FALSE(shared.ok());
  CHECK(shared.status().code() == Code::kLocked);
  CHECK(shared.status().message().find("pid " + std::to_string(child)) != std::string::npos);
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  CHECK(DatasetLock::Acquire(s.path, true).ok());  // released by the holder's death
}

}  // namespace
}  // namespace mm
