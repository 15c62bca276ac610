// Tests of io/files' whole reads and writes (PreadFull, PwriteFull,
// PwritevFull, WriteFull, ReadToEnd), of ReopenForReading and of
// core/checksum's Fnv1a32: short transfers are continued, end of file is a
// short count, errors keep the caller's message and code (a full disk its
// own code when given), and a reopened file is the same file.
#include "io/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/checksum.h"

namespace mm {
namespace {

// An unlinked scratch file, open read-write.
struct ScratchFile {
  int fd = -1;
  ScratchFile() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/mmrun-files-XXXXXX";
    fd = ::mkstemp(templ.data());
    REQUIRE(fd >= 0);
    ::unlink(templ.c_str());
  }
  ~ScratchFile() { ::close(fd); }
  std::string Contents() const {
    std::string out(static_cast<size_t>(::lseek(fd, 0, SEEK_END)), '\0');
    REQUIRE(::pread(fd, out.data(), out.size(), 0) == static_cast<ssize_t>(out.size()));
    return out;
  }
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + i / 251);
  return s;
}

TEST_CASE("Files: PwriteFull and PreadFull move every byte; a read past the end is short") {
  ScratchFile f;
  const std::string data = Pattern(300001);
  REQUIRE(PwriteFull(f.fd, data.data(), data.size(), 5, "scratch").ok());
  CHECK(f.Contents() == std::string(5, '\0') + data);
  std::string back(data.size() + 100, 'x');
  Result<uint64_t> got = PreadFull(f.fd, back.data(), back.size(), 5, "scratch");
  REQUIRE(got.ok());
  CHECK(*got == data.size());
  CHECK(back.substr(0, data.size()) == data);
  got = PreadFull(f.fd, back.data(), 10, data.size() + 50, "scratch");
  REQUIRE(got.ok());
  CHECK(*got == 0);
}

TEST_CASE("Files: ReopenForReading opens the same file, even unlinked, with its own offset") {
  ScratchFile f;  // already unlinked: no name leads to it
  const std::string data = Pattern(5000);
  REQUIRE(PwriteFull(f.fd, data.data(), data.size(), 0, "scratch").ok());
  REQUIRE(::lseek(f.fd, 100, SEEK_SET) == 100);
  FileDescriptor own = ReopenForReading(f.fd);
  REQUIRE(own.valid());
  CHECK(own.get() != f.fd);
  Result<FileId> a = IdOfFd(f.fd, "a"), b = IdOfFd(own.get(), "b");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->dev == b->dev);
  CHECK(a->ino == b->ino);
  CHECK(::lseek(own.get(), 0, SEEK_CUR) == 0);  // its own offset
  std::string back(data.size(), 'x');
  CHECK(::read(own.get(), back.data(), back.size()) == static_cast<ssize_t>(back.size()));
  CHECK(back == data);
  CHECK(::fcntl(own.get(), F_GETFD) & FD_CLOEXEC);
  CHECK(!ReopenForReading(-1).valid());
}

TEST_CASE("Files: PwritevFull writes its buffers in order, skipping empty ones") {
  ScratchFile f;
  const std::string a = Pattern(40), b = Pattern(200000);
  std::string empty;
  struct iovec iov[3] = {{const_cast<char*>(a.data()), a.size()},
                         {empty.data(), 0},
                         {const_cast<char*>(b.data()), b.size()}};
  REQUIRE(PwritevFull(f.fd, iov, 3, 0, "scratch").ok());
  CHECK(f.Contents() == a + b);
}

TEST_CASE("Files: ReadToEnd continues short reads and stops past its limit") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const std::string data = Pattern(200000);  // more than a pipe holds: many short reads
  Status wrote;
  std::thread writer([&] {
    wrote = WriteFull(p[1], data.data(), data.size(), "pipe");
    ::close(p[1]);
  });
  std::string out = "head:";
  const Status st = ReadToEnd(p[0], 1 << 20, "pipe", &out);
  writer.join();
  REQUIRE(wrote.ok());
  REQUIRE(st.ok());
  CHECK(out == "head:" + data);
  ::close(p[0]);

  ScratchFile f;
  REQUIRE(PwriteFull(f.fd, data.data(), data.size(), 0, "scratch").ok());
  std::string some;
  REQUIRE(ReadToEnd(f.fd, 10, "scratch", &some).ok());
  CHECK(some.size() > 10);
  CHECK(some.size() < data.size());
  CHECK(some == data.substr(0, some.size()));
}

TEST_CASE("Files: a failed transfer is FromErrno of the caller's message and code") {
  char buf[4] = {};
  Result<uint64_t> r = PreadFull(-1, buf, sizeof buf, 0, "thing: read");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kIoErr);
  CHECK(r.status().message().rfind("thing: read: ", 0) == 0);
  Status st = PwriteFull(-1, buf, sizeof buf, 0, "out: write", Code::kCantCreate);
  CHECK(st.code() == Code::kCantCreate);
  CHECK(st.message().rfind("out: write: ", 0) == 0);

  // A full disk: `full` when given, else `otherwise`.
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (full >= 0) {
    CHECK(WriteFull(full, buf, sizeof buf, "dev").code() == Code::kIoErr);
    CHECK(WriteFull(full, buf, sizeof buf, "dev", Code::kIoErr, Code::kCantCreate).code() ==
          Code::kCantCreate);
    struct iovec iov[1] = {{buf, sizeof buf}};
    CHECK(PwritevFull(full, iov, 1, 0, "dev", Code::kIoErr, Code::kCantCreate).code() ==
          Code::kCantCreate);
    ::close(full);
  }
}

TEST_CASE("Checksum: Fnv1a32 matches the published FNV-1a test vectors") {
  CHECK(Fnv1a32("") == 0x811c9dc5u);
  CHECK(Fnv1a32("a") == 0xe40c292cu);
  CHECK(Fnv1a32("foobar") == 0xbf9cf968u);
}

}  // namespace
TEST_CASE("AbsolutePath takes '..' lexically, but after a symlink as the kernel does", "[files]") {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base ? base : "/tmp") + "/mmrun-paths-XXXXXX";
  REQUIRE(::mkdtemp(templ.data()) != nullptr);
  char real[PATH_MAX];
  REQUIRE(::realpath(templ.c_str(), real) != nullptr);
  const std::string dir = real;
  REQUIRE(::mkdir((dir + "/other").c_str(), 0700) == 0);
  REQUIRE(::mkdir((dir + "/other/in").c_str(), 0700) == 0);
  REQUIRE(::mkdir((dir + "/plain").c_str(), 0700) == 0);
  REQUIRE(::symlink("other/in", (dir + "/sub").c_str()) == 0);
  CHECK(AbsolutePath(dir + "/plain/../x") == dir + "/x");
  // Missing, or not a folder: the kernel refuses (ENOENT, ENOTDIR), so ".." stays.
  CHECK(AbsolutePath(dir + "/missing/../x") == dir + "/missing/../x");
  REQUIRE(::close(::open((dir + "/file").c_str(), O_CREAT | O_WRONLY, 0600)) == 0);
  CHECK(AbsolutePath(dir + "/file/../x") == dir + "/file/../x");
  CHECK(AbsolutePath(dir + "/plain/") == dir + "/plain/");  // a trailing '/' names a folder
  CHECK(AbsolutePath(dir + "/sub/../x") == dir + "/other/x");
  CHECK(AbsolutePath(dir + "/sub/../../x") == dir + "/x");
  CHECK(AbsolutePath(dir + "/sub/./y") == dir + "/sub/y");  // a symlink not before '..' stays
  CHECK(AbsolutePath(dir + "//plain///./z") == dir + "/plain/z");
  CHECK(ResolvePath(dir + "/sub", "../x") == dir + "/other/x");
  CHECK(AbsolutePath("/..") == "/");
  ::unlink((dir + "/sub").c_str());
  ::unlink((dir + "/file").c_str());
  ::rmdir((dir + "/plain").c_str());
  ::rmdir((dir + "/other/in").c_str());
  ::rmdir((dir + "/other").c_str());
  ::rmdir(dir.c_str());
}

}  // namespace mm
