// Tests of io/file_identity and of the temporary-output sweep in
// io/files: outputs are compared with inputs by device and inode (a
// symlink, a hard link, "./name" are the same file), a device or FIFO is
// never an output, and only a dead process's temporary output is removed.
#include "io/file_identity.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/files.h"

namespace mm {
namespace {

// A fresh folder under TMPDIR, removed (with what the test left) at the end.
struct Folder {
  std::string path;
  Folder() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/mmrun-identity-XXXXXX";
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~Folder() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
  std::string File(const std::string& name, const std::string& text = "x") const {
    const std::string p = path + "/" + name;
    FILE* f = std::fopen(p.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return p;
  }
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

TEST_CASE("FileIdentity: a symlink, a hard link and ./name are the dataset") {
  Folder d;
  const std::string data = d.File("data.dat");
  REQUIRE(::symlink("data.dat", (d.path + "/link.dat").c_str()) == 0);
  REQUIRE(::link(data.c_str(), (d.path + "/hard.dat").c_str()) == 0);
  const std::vector<NamedFile> inputs = {{data, "dataset.path"}};
  for (const std::string& out :
       {data, d.path + "/./data.dat", d.path + "/link.dat", d.path + "/hard.dat"}) {
    const Status st = CheckOutput(NamedFile{out, "-o"}, inputs);
    CHECK(st.code() == Code::kConfig);
    CHECK(st.message().find("-o") != std::string::npos);
    CHECK(st.message().find("dataset.path") != std::string::npos);
  }
  CHECK(CheckOutput(NamedFile{d.File("other.json"), "-o"}, inputs).ok());
  CHECK(CheckOutput(NamedFile{d.path + "/new.json", "-o"}, inputs).ok());
}

TEST_CASE("FileIdentity: two names of a file that does not exist yet are the same file") {
  Folder d;
  REQUIRE(::mkdir((d.path + "/sub").c_str(), 0700) == 0);
  const Status st = CheckOutput(NamedFile{d.path + "/sub/../out.npy", "analyses[1].output"},
                                {{d.path + "/out.npy", "dataset.path"}});
  CHECK(st.code() == Code::kConfig);
}

TEST_CASE("FileIdentity: a device, a FIFO or a folder is never an output (73)") {
  Folder d;
  const std::string fifo = d.path + "/out.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  for (const std::string& out : {std::string("/dev/null"), fifo, d.path}) {
    const Status st = CheckOutput(NamedFile{out, "-o"}, {});
    CHECK(st.code() == Code::kCantCreate);
  }
}

TEST_CASE("FileIdentity: a registered input keeps the identity it was registered with") {
  Folder d;
  const std::string data = d.File("reg.dat");
  RegisterInput(NamedFile{data, "dataset.path"}, KeyOfPath(data));
  Result<TempOutput> out = TempOutput::Create(data, "-o");
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().code() == Code::kConfig);
  // Renamed away, the registered file is still protected under its new name.
  REQUIRE(::rename(data.c_str(), (d.path + "/moved.dat").c_str()) == 0);
  CHECK(TempOutput::Create(d.path + "/moved.dat", "-o").status().code() == Code::kConfig);
  CHECK(TempOutput::Create(data, "-o").ok());
  ForgetInputs();
}

TEST_CASE("TempOutput: names carry the pid; only a dead process's own temporary output is swept") {
  Folder d;
  Result<TempOutput> mine = TempOutput::Create(d.path + "/out.json");
  REQUIRE(mine.ok());
  const std::string name = mine->temp_path().substr(d.path.size() + 1);
  const std::string marker = ".out.json.mmrun-tmp-";
  REQUIRE(name.compare(0, marker.size(), marker) == 0);
  const std::string host = name.substr(marker.size(), 8);
  CHECK(name.find("-" + std::to_string(::getpid()) + "-") != std::string::npos);
  // A child that has exited (and been reaped): its pid is dead.
  const pid_t child = ::fork();
  if (child == 0) _exit(0);
  REQUIRE(child > 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  const std::string dead = d.File(".a.json.mmrun-tmp-" + host + "-" + std::to_string(child) + "-0");
  const std::string live =
      d.File(".b.json.mmrun-tmp-" + host + "-" + std::to_string(::getppid()) + "-0");
  const std::string other_host =
      d.File(".c.json.mmrun-tmp-" + std::string(host == "00000000" ? "11111111" : "00000000") +
             "-" + std::to_string(child) + "-0");
  const std::string not_temp = d.File("a.json");
  CHECK(RemoveDeadTempOutputs(d.path) == 1);
  CHECK_FALSE(Exists(dead));
  CHECK(Exists(live));
  CHECK(Exists(other_host));
  CHECK(Exists(not_temp));
  CHECK(Exists(mine->temp_path()));  // this process's own, in use
}

}  // namespace
}  // namespace mm
