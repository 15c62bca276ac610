// Tests of engine/document: the result document's sections and their
// members, in the order SPEC §4 and the existing documents print them, with
// the optional members only when they apply; and DocumentOutput, the one
// writer of a document to -o or stdout.
#include "engine/document.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/warnings.h"

namespace mm {
namespace {

std::vector<std::string> Keys(const Json& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

RunSummary Summary() {
  RunSummary s;
  s.started = std::chrono::steady_clock::now();
  s.workers = 3;
  s.launch = "fork";
  s.rows = 1000;
  s.bytes_scanned = 40000;
  s.passes = 2;
  return s;
}

Dataset SomeDataset() {
  Dataset d;
  d.path = "/data/x.dat";
  d.format = "raw";
  return d;
}

TEST_CASE("Document: the mmrun section of a plain run, merge and mpi", "[document]") {
  RunSummary s = Summary();
  Json meta = MmrunSection(s);
  CHECK(Keys(meta) == std::vector<std::string>{"version", "workers", "launch", "started",
                                               "elapsed_s", "rows", "bytes_scanned", "passes"});
  CHECK(meta["version"] == kVersion);
  CHECK(meta["workers"] == 3);
  CHECK(meta["launch"] == "fork");
  CHECK(meta["rows"] == 1000);
  CHECK(meta["bytes_scanned"] == 40000);
  CHECK(meta["passes"] == 2);
  CHECK(meta["elapsed_s"].is_number_float());
  CHECK(meta["elapsed_s"].get<double>() >= 0);

  s.launch = "merge";
  s.shards = 4;
  meta = MmrunSection(s);
  CHECK(Keys(meta) == std::vector<std::string>{"version", "workers", "launch", "started",
                                               "elapsed_s", "rows", "bytes_scanned", "passes",
                                               "shards"});
  CHECK(meta["shards"] == 4);
}

TEST_CASE("Document: optional mmrun members appear only when they apply", "[document]") {
  RunSummary s = Summary();
  s.workers_requested = 3;  // as many as started: not written
  s.row_axis = 0;
  CHECK(Keys(MmrunSection(s)) == std::vector<std::string>{"version", "workers", "launch", "started",
                                                          "elapsed_s", "rows", "row_axis",
                                                          "bytes_scanned", "passes"});
  s.workers_requested = 8;
  s.incremental = Json{{"state", "reused"}, {"rows_reused", 10}, {"rows_read", 5}};
  const Json meta = MmrunSection(s);
  CHECK(Keys(meta) == std::vector<std::string>{"version", "workers", "workers_requested", "launch",
                                               "started", "elapsed_s", "rows", "row_axis",
                                               "bytes_scanned", "passes", "incremental"});
  CHECK(meta["workers_requested"] == 8);
  CHECK(meta["row_axis"] == 0);
  CHECK(meta["incremental"] == s.incremental);
}

TEST_CASE("Document: mmrun, dataset and results in order; warnings when any", "[document]") {
  const Dataset d = SomeDataset();
  const Json results = Json{{"b", 1}, {"a", 2}};
  Json doc = ResultDocument(Summary(), d, results);
  CHECK(Keys(doc) == std::vector<std::string>{"mmrun", "dataset", "results"});
  CHECK(doc["dataset"] == DatasetJson(d));
  CHECK(doc["results"].dump() == R"({"b":1,"a":2})");  // config order kept

  const Warnings none(true);
  CHECK(Keys(ResultDocument(Summary(), d, results, &none)) ==
        std::vector<std::string>{"mmrun", "dataset", "results"});
  Warnings some(true);  // quiet: nothing printed
  some.Add("first");
  some.Add("second");
  doc = ResultDocument(Summary(), d, results, &some);
  CHECK(Keys(doc) == std::vector<std::string>{"mmrun", "dataset", "results", "warnings"});
  CHECK(doc["warnings"] == Json::array({"first", "second"}));
}

// A fresh folder, removed at the end.
struct Folder {
  std::string path;
  Folder() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/mmrun-document-XXXXXX";
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~Folder() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
  // The names in the folder, sorted.
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(path.c_str());
    REQUIRE(d != nullptr);
    while (struct dirent* e = ::readdir(d))
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") out.push_back(e->d_name);
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::string ReadAll(std::FILE* f) {
  std::string out;
  std::rewind(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string out = ReadAll(f);
  std::fclose(f);
  return out;
}

void WriteText(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(std::fwrite(text.data(), 1, text.size(), f) == text.size());
  std::fclose(f);
}

// A document of about `bytes` bytes.
Json BigDocument(size_t bytes) {
  Json values = Json::array();
  for (size_t i = 0; i * 8 < bytes; ++i) values.push_back(static_cast<double>(i) / 7);
  return ResultDocument(Summary(), SomeDataset(), Json{{"values", values}});
}

TEST_CASE("DocumentOutput: -o and stdout get the same bytes, DumpDocument's", "[document]") {
  Folder dir;
  const Json doc = BigDocument(100000);
  const std::string target = dir.path + "/result.json";
  {
    Result<DocumentOutput> out = DocumentOutput::Open(target, "-o");
    REQUIRE(out.ok());
    CHECK_FALSE(out->to_stream());
    // The temporary file exists from Open on; the target only after Write.
    CHECK(dir.Names().size() == 1);
    CHECK(::access(target.c_str(), F_OK) != 0);
    REQUIRE(out->Write(doc).ok());
  }
  CHECK(dir.Names() == std::vector<std::string>{"result.json"});
  std::FILE* stream = std::tmpfile();
  REQUIRE(stream != nullptr);
  {
    Result<DocumentOutput> out = DocumentOutput::Open("", "-o", stream);
    REQUIRE(out.ok());
    CHECK(out->to_stream());
    REQUIRE(out->Write(doc).ok());
  }
  const std::string streamed = ReadAll(stream);
  std::fclose(stream);
  CHECK(streamed == ReadFile(target));
  CHECK(streamed == DumpDocument(doc));
  CHECK(Json::parse(streamed) == doc);
}

TEST_CASE("DocumentOutput: a failed write leaves the target as it was and no file beside it",
          "[document]") {
  Folder dir;
  const std::string target = dir.path + "/result.json";
  WriteText(target, "the previous result\n");
  // Writes past 64 KiB fail (EFBIG; SIGXFSZ ignored) while the limit holds.
  struct rlimit before;
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &before) == 0);
  void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  Status st;
  {
    Result<DocumentOutput> out = DocumentOutput::Open(target, "-o");
    REQUIRE(out.ok());
    struct rlimit small = before;
    small.rlim_cur = 64 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    st = out->Write(BigDocument(1000000));
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &before) == 0);
    // Until the output is destroyed its temporary file (holding part of the
    // document) is beside the target; the target is untouched.
    CHECK(dir.Names().size() == 2);
    CHECK(ReadFile(target) == "the previous result\n");
  }
  std::signal(SIGXFSZ, old_handler);
  CHECK(st.code() == Code::kCantCreate);
  CHECK(st.message().find(target + ": write") == 0);
  CHECK(dir.Names() == std::vector<std::string>{"result.json"});
  CHECK(ReadFile(target) == "the previous result\n");
}

TEST_CASE("DocumentOutput: a failed rename leaves no target and no file beside it", "[document]") {
  Folder dir;
  const std::string target = dir.path + "/result.json";
  Status st;
  {
    Result<DocumentOutput> out = DocumentOutput::Open(target, "-o");
    REQUIRE(out.ok());
    REQUIRE(::setenv("MMRUN_TEST_FAULT", "rename_fail=1", 1) == 0);
    st = out->Write(BigDocument(1000));
    REQUIRE(::unsetenv("MMRUN_TEST_FAULT") == 0);
  }
  CHECK(st.code() == Code::kCantCreate);
  CHECK(st.message().find("cannot rename the output into place") != std::string::npos);
  CHECK(dir.Names().empty());
}

TEST_CASE("DocumentOutput: a stream whose reader went away is exit 128 + SIGPIPE", "[document]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  ::close(fds[0]);
  std::FILE* stream = ::fdopen(fds[1], "w");
  REQUIRE(stream != nullptr);
  void (*old_handler)(int) = std::signal(SIGPIPE, SIG_IGN);
  Status st;
  {
    Result<DocumentOutput> out = DocumentOutput::Open("", "-o", stream);
    REQUIRE(out.ok());
    st = out->Write(BigDocument(1000));
  }
  std::signal(SIGPIPE, old_handler);
  std::fclose(stream);
  CHECK(static_cast<int>(st.code()) == 128 + SIGPIPE);
  CHECK(st.message() == "stdout: the reader closed the pipe (EPIPE)");
}

TEST_CASE("DocumentOutput: an unwritable target fails at Open, before any work", "[document]") {
  Folder dir;
  Result<DocumentOutput> out = DocumentOutput::Open(dir.path + "/no/such/folder/r.json", "-o");
  CHECK(out.status().code() == Code::kCantCreate);
}

}  // namespace
}  // namespace mm
