// Tests of io/segment: the shared segment's plan and slots round-trip,
// and the reader refuses anything it cannot trust: a flipped payload byte, a
// slot written by another launch, an uncommitted slot, a file that is not a
// segment. Uses real POSIX shared memory in /dev/shm.
#include "io/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace mm {
namespace {

std::string ShmPath(const std::string& name) { return "/dev/shm" + name; }

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Segment MakeSegment(uint32_t slots, const std::string& plan = "{\"pass\": 0}") {
  Result<Segment> seg = Segment::Create(slots);
  REQUIRE(seg.ok());
  REQUIRE(seg->SetPass(0, plan).ok());
  return std::move(seg).value();
}

// A /dev/shm object of ours that is not a segment; unlinked on destruction.
class FakeShm {
 public:
  FakeShm(const std::string& contents, mode_t mode) {
    std::random_device rd;
    name_ = "/" + std::string(segfmt::kNamePrefix) + std::to_string(::getuid()) + "-unittest" +
            std::to_string(rd());
    const int fd = ::shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::fchmod(fd, mode) == 0);
    REQUIRE(::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()));
    ::close(fd);
  }
  ~FakeShm() { ::shm_unlink(name_.c_str()); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

TEST_CASE("Segment: create, set a pass and read the plan back", "[segment]") {
  Result<Segment> seg = Segment::Create(3);
  REQUIRE(seg.ok());
  CHECK(seg->slots() == 3);
  CHECK(seg->name().rfind("/mmrun-" + std::to_string(::getuid()) + "-", 0) == 0);
  const std::string plan =
      "{\"analyses\": [1, 2, 3], \"text\": \"" + std::string(10000, 'x') + "\"}";
  REQUIRE(seg->SetPass(0, plan).ok());
  Result<std::string> back = seg->ReadPlan();
  REQUIRE(back.ok());
  CHECK(*back == plan);
  // A worker opening it by name reads the same plan and slot count.
  Result<Segment> worker = Segment::Open(seg->name());
  REQUIRE(worker.ok());
  CHECK(worker->slots() == 3);
  Result<std::string> wplan = worker->ReadPlan();
  REQUIRE(wplan.ok());
  CHECK(*wplan == plan);
  // A later pass replaces the plan.
  REQUIRE(seg->SetPass(1, "second").ok());
  CHECK(*worker->ReadPlan() == "second");
  // A plan given in pieces of any sizes is their concatenation, its
  // checksum the whole's (ReadPlan checks it).
  const std::string a(13, 'a'), b(4099, '\0'), c = "{\"c\": 3}";
  REQUIRE(seg->SetPass(2, std::vector<std::string_view>{a, "", b, c}).ok());
  Result<std::string> pieces = worker->ReadPlan();
  REQUIRE(pieces.ok());
  CHECK(*pieces == a + b + c);
}

TEST_CASE("Segment: a committed slot returns its payload", "[segment]") {
  Segment seg = MakeSegment(2);
  seg.PrepareSlot(0, 1, 0, 100);
  seg.PrepareSlot(1, 1, 100, 250);
  CHECK(seg.Entry(1).row_begin == 100);
  CHECK(seg.Entry(1).row_end == 250);
  CHECK(seg.Entry(1).attempt == 1);
  CHECK(seg.Entry(1).state == segfmt::kRunning);
  Result<Segment> worker = Segment::Open(seg.name());
  REQUIRE(worker.ok());
  std::string big(300000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  REQUIRE(worker->CommitSlot(0, 1, "{\"nodes\": []}").ok());
  REQUIRE(worker->CommitSlot(1, 1, big).ok());
  Result<std::string> p0 = seg.ReadCommitted(0, 1);
  REQUIRE(p0.ok());
  CHECK(*p0 == "{\"nodes\": []}");
  Result<std::string> p1 = seg.ReadCommitted(1, 1);
  REQUIRE(p1.ok());
  CHECK(*p1 == big);
  CHECK(seg.VerifyCommitted(0, 1).ok());
  CHECK(seg.VerifyCommitted(1, 1).ok());
  CHECK(seg.Entry(0).state == segfmt::kCommitted);
  // A payload of several verification pieces, of a length not a multiple of 8.
  std::string huge(2600003, '\0');
  for (size_t i = 0; i < huge.size(); ++i) huge[i] = static_cast<char>(i * 29 + i / 4099);
  seg.PrepareSlot(1, 2, 100, 250);
  REQUIRE(worker->CommitSlot(1, 2, huge).ok());
  CHECK(seg.VerifyCommitted(1, 2).ok());
  CHECK(*seg.ReadCommitted(1, 2) == huge);
  seg.CorruptPayloadForTest(1);
  CHECK_FALSE(seg.VerifyCommitted(1, 2).ok());
  // An empty payload is a valid commit too.
  seg.PrepareSlot(0, 2, 0, 100);
  REQUIRE(worker->CommitSlot(0, 2, "").ok());
  Result<std::string> empty = seg.ReadCommitted(0, 2);
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("Segment: rejects a flipped payload byte", "[segment]") {
  Segment seg = MakeSegment(2);
  seg.PrepareSlot(1, 1, 0, 10);
  REQUIRE(seg.CommitSlot(1, 1, "a payload worth protecting").ok());
  REQUIRE(seg.ReadCommitted(1, 1).ok());
  seg.CorruptPayloadForTest(1);
  Result<std::string> r = seg.ReadCommitted(1, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kWorkerFailed);
  CHECK_THAT(r.status().message(), Catch::Contains("checksum"));
  CHECK_THAT(r.status().message(), Catch::Contains("slot 1"));
  const Status v = seg.VerifyCommitted(1, 1);
  CHECK(v.code() == Code::kWorkerFailed);
  CHECK(v.message() == r.status().message());
  // Flipping it back restores the slot: the checksum covers the bytes only.
  seg.CorruptPayloadForTest(1);
  CHECK(seg.ReadCommitted(1, 1).ok());
}

TEST_CASE("Segment: rejects the result of another attempt", "[segment]") {
  Segment seg = MakeSegment(1);
  seg.PrepareSlot(0, 2, 0, 10);
  // A worker of attempt 1 (superseded) may not write the slot.
  const Status stale = seg.CommitSlot(0, 1, "old");
  CHECK_FALSE(stale.ok());
  CHECK(seg.Entry(0).state == segfmt::kRunning);
  REQUIRE(seg.CommitSlot(0, 2, "new").ok());
  // The coordinator asking for attempt 3 does not get attempt 2's payload.
  Result<std::string> r = seg.ReadCommitted(0, 3);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kWorkerFailed);
  CHECK(*seg.ReadCommitted(0, 2) == "new");
}

TEST_CASE("Segment: rejects an uncommitted slot", "[segment]") {
  Segment seg = MakeSegment(2);
  // Never prepared.
  Result<std::string> never = seg.ReadCommitted(0, 1);
  REQUIRE_FALSE(never.ok());
  CHECK(never.status().code() == Code::kWorkerFailed);
  CHECK_THAT(never.status().message(), Catch::Contains("not committed"));
  // Prepared, running.
  seg.PrepareSlot(1, 1, 0, 5);
  seg.SetProgress(1, 3);
  CHECK(seg.Progress(1) == 3);
  Result<std::string> running = seg.ReadCommitted(1, 1);
  REQUIRE_FALSE(running.ok());
  CHECK(running.status().code() == Code::kWorkerFailed);
  // Committed, then a new pass clears every slot.
  REQUIRE(seg.CommitSlot(1, 1, "x").ok());
  REQUIRE(seg.SetPass(1, "{}").ok());
  Result<std::string> cleared = seg.ReadCommitted(1, 1);
  REQUIRE_FALSE(cleared.ok());
  CHECK(cleared.status().code() == Code::kWorkerFailed);
  // Preparing a new attempt discards a committed result.
  seg.PrepareSlot(0, 1, 0, 5);
  REQUIRE(seg.CommitSlot(0, 1, "y").ok());
  seg.PrepareSlot(0, 2, 0, 5);
  CHECK_FALSE(seg.ReadCommitted(0, 1).ok());
  CHECK_FALSE(seg.ReadCommitted(0, 2).ok());
}

TEST_CASE("Segment: a failed slot carries its message", "[segment]") {
  Segment seg = MakeSegment(2);
  seg.PrepareSlot(0, 1, 0, 10);
  Result<Segment> worker = Segment::Open(seg.name());
  REQUIRE(worker.ok());
  REQUIRE(worker->FailSlot(0, 1, "data.bin: rows [0, 10): cannot map: No such device").ok());
  CHECK(seg.Entry(0).state == segfmt::kFailed);
  CHECK(seg.FailureMessage(0, 1) == "data.bin: rows [0, 10): cannot map: No such device");
  CHECK(seg.FailureMessage(0, 2) == "");  // another attempt's message
  CHECK(seg.FailureMessage(1, 1) == "");  // no failure there
  Result<std::string> r = seg.ReadCommitted(0, 1);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kWorkerFailed);
  // A committed slot has no failure message.
  seg.PrepareSlot(1, 1, 10, 20);
  REQUIRE(seg.CommitSlot(1, 1, "fine").ok());
  CHECK(seg.FailureMessage(1, 1) == "");
}

TEST_CASE("Segment: the file is private and removed with its creator", "[segment]") {
  std::string path;
  {
    Segment holder;
    {
      Segment seg = MakeSegment(4);
      path = ShmPath(seg.name());
      struct stat st;
      REQUIRE(::stat(path.c_str(), &st) == 0);
      CHECK((st.st_mode & 07777) == 0600);
      CHECK(st.st_uid == ::getuid());
      {
        // A worker's handle going away leaves the segment in place.
        Result<Segment> worker = Segment::Open(seg.name());
        REQUIRE(worker.ok());
      }
      CHECK(Exists(path));
      holder = std::move(seg);
    }
    // So does the moved-from shell of a moved segment.
    CHECK(Exists(path));
    CHECK(holder.ReadPlan().ok());
  }
  CHECK_FALSE(Exists(path));
}

TEST_CASE("Segment: Open refuses a bad magic", "[segment]") {
  std::string junk(8192, '\0');
  std::memcpy(&junk[0], "NOTASEGMENT!", 12);
  FakeShm fake(junk, 0600);
  Result<Segment> r = Segment::Open(fake.name());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kDataErr);
  CHECK_THAT(r.status().message(), Catch::Contains("bad magic"));
  CHECK_THAT(r.status().message(), Catch::Contains(fake.name()));
}

TEST_CASE("Segment: Open refuses a wrong version", "[segment]") {
  // A real header with the next version number.
  std::string bytes(8192, '\0');
  segfmt::Header h{};
  h.magic = segfmt::kMagic;
  h.version = segfmt::kVersion + 1;
  h.slots = 1;
  std::memcpy(&bytes[0], &h, sizeof h);
  FakeShm fake(bytes, 0600);
  Result<Segment> r = Segment::Open(fake.name());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kDataErr);
}

TEST_CASE("Segment: Open refuses an empty or truncated object", "[segment]") {
  FakeShm empty("", 0600);
  CHECK_FALSE(Segment::Open(empty.name()).ok());
  // A valid header claiming more slots than the object holds.
  std::string bytes(4096, '\0');
  segfmt::Header h{};
  h.magic = segfmt::kMagic;
  h.version = segfmt::kVersion;
  h.slots = 1000;
  std::memcpy(&bytes[0], &h, sizeof h);
  FakeShm truncated(bytes, 0600);
  Result<Segment> r = Segment::Open(truncated.name());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kDataErr);
}

TEST_CASE("Segment: Open refuses a segment others can read", "[segment]") {
  std::string bytes(8192, '\0');
  segfmt::Header h{};
  h.magic = segfmt::kMagic;
  h.version = segfmt::kVersion;
  h.slots = 1;
  std::memcpy(&bytes[0], &h, sizeof h);
  FakeShm fake(bytes, 0644);
  Result<Segment> r = Segment::Open(fake.name());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNoPerm);
  // The same bytes with mode 0600 open fine.
  FakeShm good(bytes, 0600);
  CHECK(Segment::Open(good.name()).ok());
}

TEST_CASE("Segment: Open of a missing name fails", "[segment]") {
  Result<Segment> r = Segment::Open("/mmrun-" + std::to_string(::getuid()) + "-doesnotexist0000");
  CHECK_FALSE(r.ok());
}

TEST_CASE("Segment: writing a slot that does not exist fails", "[segment]") {
  Segment seg = MakeSegment(2);
  const Status st = seg.CommitSlot(2, 0, "x");
  CHECK_FALSE(st.ok());
  CHECK_FALSE(seg.FailSlot(7, 0, "x").ok());
}

TEST_CASE("Segment: a worker process commits, the coordinator reads", "[segment]") {
  Segment seg = MakeSegment(2);
  seg.PrepareSlot(1, 1, 5, 9);
  const std::string name = seg.name();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    Result<Segment> w = Segment::Open(name);
    if (!w.ok()) ::_exit(2);
    const segfmt::SlotEntry e = w->Entry(1);
    if (e.row_begin != 5 || e.row_end != 9) ::_exit(3);
    w->SetProgress(1, 4);
    ::_exit(w->CommitSlot(1, e.attempt, "from the child").ok() ? 0 : 4);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(seg.Progress(1) == 4);
  Result<std::string> r = seg.ReadCommitted(1, 1);
  REQUIRE(r.ok());
  CHECK(*r == "from the child");
}

TEST_CASE("Segment: a worker killed while holding its slot lock does not wedge the reader",
          "[segment]") {
  Segment seg = MakeSegment(2);
  seg.PrepareSlot(0, 1, 0, 1);
  const std::string name = seg.name();
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Take the OFD write lock on slot 0's entry, as CommitSlot does, and die
    // holding it.
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(segfmt::kHeaderBytes);
    fl.l_len = static_cast<off_t>(segfmt::kSlotEntryBytes);
    const char ok = (fd >= 0 && ::fcntl(fd, F_OFD_SETLK, &fl) == 0) ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char ok = 0;
  REQUIRE(::read(ready[0], &ok, 1) == 1);
  ::close(ready[0]);
  CHECK(ok == 'y');
  ::kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  ::alarm(10);  // a wedged reader ends the test run instead of hanging it
  Result<std::string> r = seg.ReadCommitted(0, 1);
  ::alarm(0);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.status().message(), Catch::Contains("not committed"));
}

TEST_CASE("Segment: Checksum64 changes when any byte changes", "[segment]") {
  std::mt19937_64 rng(99);
  for (size_t n : {1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 200}) {
    std::string data(n, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    const uint64_t base = Checksum64(data.data(), data.size());
    for (size_t i = 0; i < n; ++i) {
      for (unsigned char flip : {0x01, 0x20, 0x80, 0xff}) {
        std::string changed = data;
        changed[i] = static_cast<char>(changed[i] ^ flip);
        INFO("length " << n << " byte " << i << " xor " << int(flip));
        CHECK(Checksum64(changed.data(), changed.size()) != base);
      }
    }
    // The length counts: a trailing zero byte changes the sum.
    std::string longer = data + '\0';
    CHECK(Checksum64(longer.data(), longer.size()) != base);
    // Deterministic.
    CHECK(Checksum64(data.data(), data.size()) == base);
  }
  CHECK(Checksum64("", 0) != Checksum64("\0", 1));
}

TEST_CASE("Segment: Checksum64Stream fed in pieces is Checksum64 of the whole", "[segment]") {
  std::mt19937_64 rng(7);
  std::string data(1000, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t n : {0, 5, 8, 64, 999, 1000})
    for (size_t piece : {1, 3, 7, 8, 13, 16, 96, 1024}) {  // any sizes
      Checksum64Stream sum(n);
      for (size_t at = 0; at < n; at += piece) sum.Add(data.data() + at, std::min(piece, n - at));
      INFO("length " << n << " pieces of " << piece);
      CHECK(sum.Done() == Checksum64(data.data(), n));
    }
  // An empty piece (an empty vector's null data) after an unfinished word.
  Checksum64Stream sum(10);
  sum.Add(data.data(), 5);
  sum.Add(nullptr, 0);
  sum.Add(data.data() + 5, 5);
  CHECK(sum.Done() == Checksum64(data.data(), 10));
}

TEST_CASE(
    "Segment: the stale sweep and Open never block on, follow or remove a planted FIFO, link or "
    "folder",
    "[segment]") {
  const std::string base = "/dev/shm/mmrun-" + std::to_string(::getuid()) + "-0000000000c0ffe";
  const std::string fifo = base + "1", link = base + "2", dir = base + "3";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  REQUIRE(::symlink("/etc/passwd", link.c_str()) == 0);
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  // Held open so that concurrent test runs see them in use, not leaked.
  const int held[] = {::open(fifo.c_str(), O_RDWR | O_NONBLOCK),
                      ::open(link.c_str(), O_PATH | O_NOFOLLOW), ::open(dir.c_str(), O_RDONLY)};
  Segment::RemoveStale(/*warnings=*/nullptr);  // returns: no open(2) blocked on the FIFO
  CHECK(Exists(fifo));
  CHECK(Exists(dir));
  struct stat st;
  CHECK(::lstat(link.c_str(), &st) == 0);
  for (const std::string& name : {fifo, link, dir}) {
    Result<Segment> r = Segment::Open(name.substr(std::string("/dev/shm").size()));
    CHECK_FALSE(r.ok());
  }
  ::unlink(fifo.c_str());
  ::unlink(link.c_str());
  ::rmdir(dir.c_str());
  for (int fd : held)
    if (fd >= 0) ::close(fd);
}

}  // namespace
}  // namespace mm
