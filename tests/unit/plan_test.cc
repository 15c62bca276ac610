// Tests of engine/plan's grouping of analyses into passes (reading analyses
// share a pass, a histogram without a range and quantiles need later
// passes, a writing analysis is a barrier, passes no analysis needs are not
// run) and of the analyses' Capabilities as the generic code asks them:
// --shard/--state refusal (CheckSinglePass), the run guard's lock and
// retries (RunGuard), the w+ checks of the plan. Everything goes through
// the public functions, over a small raw dataset in a scratch folder.
#include "engine/plan.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "io/journal_format.h"
#include "runner/run_guard.h"
#include "runner/shard.h"

namespace mm {
namespace {

constexpr int64_t kRows = 64, kCols = 4;

// A fresh folder under TMPDIR holding data.dat, a float32 raw dataset of
// kRows x kCols values; removed with what the test left at the end.
struct Scratch {
  std::string dir;
  std::string data;
  Scratch() {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/mmrun-plan-XXXXXX";
    REQUIRE(::mkdtemp(&templ[0]) != nullptr);
    dir = templ;
    data = dir + "/data.dat";
    std::vector<float> v(static_cast<size_t>(kRows * kCols));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 101);
    std::ofstream(data, std::ios::binary)
        .write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  }
  ~Scratch() { (void)std::system(("rm -rf '" + dir + "'").c_str()); }
};

// The config text over the scratch dataset (mode r/r+) or a new file (w+).
Json Config(const Scratch& s, const std::string& analyses, const std::string& mode) {
  const std::string path = mode == "w+" ? s.dir + "/new.dat" : s.data;
  return Json::parse(R"({"dataset": {"path": ")" + path +
                     R"(", "format": "raw", "dtype": "float32", "shape": [)" +
                     std::to_string(kRows) + ", " + std::to_string(kCols) + R"(], "mode": ")" +
                     mode + R"("}, "analyses": )" + analyses + "}");
}

std::unique_ptr<Plan> Build(const Scratch& s, const std::string& analyses,
                            const std::string& mode = "r") {
  Result<std::unique_ptr<Plan>> plan = Plan::Build(Config(s, analyses, mode), s.dir);
  INFO(analyses);
  REQUIRE(plan.ok());
  return std::move(*plan);
}

// The plan's passes as text: each pass "[name:pass ...]", "W" first in a
// pass that writes.
std::string Passes(const Plan& p) {
  std::string out;
  for (const PassPlan& pass : p.passes) {
    out += "[";
    std::string sep = pass.writes ? "W " : "";
    for (const PassStep& s : pass.steps) {
      out +=
          sep + p.analyses[static_cast<size_t>(s.analysis)]->name() + ":" + std::to_string(s.pass);
      sep = " ";
    }
    out += "]";
  }
  return out;
}

TEST_CASE("Plan: reading analyses share one pass") {
  Scratch s;
  auto plan = Build(s, R"([{"op": "stats"}, {"op": "cov"}, {"op": "histogram", "range": [0, 100]},
                            {"op": "quantiles", "q": 0.5, "axis": 1},
                            {"op": "slice", "select": "[0:2]", "output": "s.npy"}])");
  CHECK(Passes(*plan) == "[stats:0 cov:0 histogram:0 quantiles:0 slice:0]");
  CHECK(plan->MapPath(0) == s.data);
  // The pass reads every block once, whatever the number of analyses.
  CHECK(plan->BytesRead(0, 0, kRows) == static_cast<uint64_t>(kRows * kCols * 4));
}

TEST_CASE("Plan: a histogram without a range and quantiles need earlier passes") {
  Scratch s;
  auto plan = Build(s, R"([{"op": "stats"}, {"op": "histogram"}, {"op": "quantiles", "q": 0.5},
                            {"name": "after", "op": "stats"}])");
  const int hist = plan->analyses[1]->passes(), quant = plan->analyses[2]->passes();
  CHECK(plan->analyses[0]->passes() == 1);
  CHECK(hist == 2);
  REQUIRE(quant > hist);
  // Pass p holds, in config order, every analysis that has a pass p.
  std::string want = "[stats:0 histogram:0 quantiles:0 after:0][histogram:1 quantiles:1]";
  for (int p = 2; p < quant; ++p) want += "[quantiles:" + std::to_string(p) + "]";
  CHECK(Passes(*plan) == want);
}

TEST_CASE("Plan: a writing analysis is a barrier with passes of its own") {
  Scratch s;
  auto plan = Build(s,
                    R"([{"name": "before", "op": "stats"},
                        {"name": "norm", "op": "transform", "fn": "normalize", "axis": 0},
                        {"op": "histogram", "range": [0, 1]},
                        {"name": "scale", "op": "transform", "fn": "affine", "scale": 2},
                        {"name": "after", "op": "stats"}, {"op": "cov"}])",
                    "r+");
  // normalize reads its statistics first (a read-only pass), then writes.
  CHECK(Passes(*plan) == "[before:0][norm:0][W norm:1][histogram:0][W scale:0][after:0 cov:0]");
  for (size_t p = 0; p < plan->passes.size(); ++p)
    CHECK(plan->MapPath(static_cast<int>(p)) == s.data);
  // An in-place writer reads the blocks it rewrites.
  CHECK(plan->BytesRead(2, 0, kRows) == static_cast<uint64_t>(kRows * kCols * 4));
}

TEST_CASE("Plan: generate creates the dataset in a writing pass before the readers") {
  Scratch s;
  auto plan =
      Build(s, R"([{"op": "generate", "fill": {"kind": "arange"}}, {"op": "stats"}])", "w+");
  CHECK(Passes(*plan) == "[W generate:0][stats:0]");
  // w+ needs an analysis that creates the dataset first; the message names
  // the ops that do (from the registry).
  Result<std::unique_ptr<Plan>> bad = Plan::Build(
      Config(s, R"([{"op": "stats"}, {"op": "generate", "fill": {"kind": "arange"}}])", "w+"),
      s.dir);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kConfig);
  CHECK(bad.status().message().find("first analysis must be generate") != std::string::npos);
  // Without w+, an analysis that creates the dataset is refused before the
  // file is opened (the file does not exist: the mode is the fix).
  Json j = Config(s, R"([{"op": "generate", "fill": {"kind": "arange"}}])", "r");
  j["dataset"]["path"] = s.dir + "/missing.dat";
  bad = Plan::Build(j, s.dir);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kConfig);
  CHECK(bad.status().message().find("'dataset.mode': analyses[0] is generate, which creates") !=
        std::string::npos);
}

TEST_CASE("Plan: generate writing HDF5 runs alone; a worker's plan has its parameters") {
  Scratch s;
  Json j = Config(s, R"([{"op": "generate", "fill": {"kind": "arange"}}])", "w+");
  j["dataset"]["path"] = s.dir + "/new.h5";
  j["dataset"].erase("format");
  j["dataset"]["compression"] = "lzf";
  j["dataset"]["chunks"] = Json::array({10, 4});
  j["dataset"]["name"] = "/g/x";
  Result<std::unique_ptr<Plan>> plan = Plan::Build(j, s.dir);
  REQUIRE(plan.ok());
  CHECK((*plan)->dataset.format == "hdf5");
  CHECK(Passes(**plan) == "[W generate:0]");
  Result<std::unique_ptr<Plan>> worker = Plan::FromJson((*plan)->ToJson(0));
  REQUIRE(worker.ok());
  CHECK((*worker)->dataset.hdf5_output == (*plan)->dataset.hdf5_output);
  CHECK((*worker)->dataset.hdf5_output["output_name"] == "/g/x");
  // The file is described only once it exists: nothing may read it in the same run.
  j["analyses"].push_back(Json{{"op", "stats"}});
  Result<std::unique_ptr<Plan>> bad = Plan::Build(j, s.dir);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kConfig);
  CHECK(bad.status().message().find("'analyses[1]'") != std::string::npos);
  // Bad HDF5 parameters name the dataset's key.
  j["analyses"].erase(1);
  j["dataset"]["compression"] = "gzip:10";
  bad = Plan::Build(j, s.dir);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("'dataset.compression'") != std::string::npos);
}

TEST_CASE("Plan: passes no analysis needs are not run") {
  Scratch s;
  // A small quantiles gathers every value in pass 0: its later passes are
  // needed by no one, unless another analysis (a histogram without a
  // range) needs one of them.
  auto alone = Build(s, R"([{"op": "quantiles", "q": [0.1, 0.9]}])");
  REQUIRE(alone->passes.size() > 2);
  CHECK(alone->PassNeeded(0));
  for (size_t p = 1; p < alone->passes.size(); ++p)
    CHECK_FALSE(alone->PassNeeded(static_cast<int>(p)));

  auto mixed = Build(s, R"([{"op": "quantiles", "q": [0.1, 0.9]}, {"op": "histogram"}])");
  REQUIRE(mixed->passes.size() > 2);
  CHECK(mixed->PassNeeded(0));
  CHECK(mixed->PassNeeded(1));
  for (size_t p = 2; p < mixed->passes.size(); ++p)
    CHECK_FALSE(mixed->PassNeeded(static_cast<int>(p)));
  // A skipped pass reads nothing.
  mixed->passes[2].skipped = true;
  CHECK(mixed->BytesRead(2, 0, kRows) == 0);
  CHECK(mixed->BytesRead(1, 0, kRows) == static_cast<uint64_t>(kRows * kCols * 4));
}

TEST_CASE("Plan: a worker's plan has the coordinator's passes and partition") {
  Scratch s;
  auto plan = Build(s, R"([{"op": "stats"}, {"op": "histogram"}, {"op": "quantiles", "q": 0.5}])");
  Result<std::unique_ptr<Plan>> worker = Plan::FromJson(plan->ToJson(0));
  REQUIRE(worker.ok());
  CHECK(Passes(**worker) == Passes(*plan));
  CHECK((*worker)->partition.blocks() == plan->partition.blocks());
  CHECK((*worker)->partition.rows_per_block() == plan->partition.rows_per_block());
}

// ---------------------------------------------------------------- capabilities

// A dataset description (no file) for building analyses directly.
Dataset SmallDataset(const std::string& mode) {
  Dataset d;
  d.path = "/nonexistent/x.dat";
  d.format = "raw";
  d.mode = mode;
  d.layout.dtype.kind = Kind::kFloat32;
  d.layout.shape = {kRows, kCols};
  d.file_bytes = d.layout.data_bytes();
  return d;
}

std::unique_ptr<Analysis> Make(const std::string& params, const Dataset& d, const Partition& part) {
  AnalysisSpec spec;
  spec.params = Json::parse(params);
  spec.op = spec.params["op"].get<std::string>();
  spec.params.erase("op");
  spec.name = spec.op;
  spec.dir = "/nonexistent";
  Result<std::unique_ptr<Analysis>> a = MakeAnalysis(spec, d, part);
  INFO(params);
  REQUIRE(a.ok());
  return std::move(*a);
}

// The capabilities as text, e.g. "writes_dataset journaled".
std::string Caps(const Analysis& a) {
  const Capabilities& c = a.capabilities();
  std::string out;
  auto add = [&](bool on, const char* what) {
    if (on) out += (out.empty() ? "" : " ") + std::string(what);
  };
  add(c.writes_dataset, "writes_dataset");
  add(c.creates_dataset, "creates_dataset");
  add(c.journaled, "journaled");
  add(c.writes_outputs, "writes_outputs");
  add(c.writes_in_place(), "in_place");
  return out;
}

TEST_CASE("Capabilities: each analysis declares what it does beyond reading") {
  const Dataset r = SmallDataset("r"), rw = SmallDataset("r+"), create = SmallDataset("w+");
  const Partition part(r.layout);
  CHECK(Caps(*Make(R"({"op": "stats"})", r, part)).empty());
  CHECK(Caps(*Make(R"({"op": "cov"})", r, part)).empty());
  CHECK(Caps(*Make(R"({"op": "histogram"})", r, part)).empty());
  CHECK(Caps(*Make(R"({"op": "quantiles", "q": 0.5})", r, part)).empty());
  CHECK(Caps(*Make(R"({"op": "slice", "select": "[1]", "output": "s.npy"})", r, part)) ==
        "writes_outputs");
  CHECK(Caps(*Make(R"({"op": "convert", "dtype": "float64", "output": "c.npy"})", r, part)) ==
        "writes_outputs");
  CHECK(Caps(*Make(R"({"op": "transform", "fn": "clip", "min": 0, "max": 1})", rw, part)) ==
        "writes_dataset journaled in_place");
  CHECK(Caps(*Make(R"({"op": "transform", "fn": "clip", "min": 0, "max": 1, "journal": false})", rw,
                   part)) == "writes_dataset in_place");
  CHECK(Caps(*Make(R"({"op": "generate", "fill": {"kind": "arange"}})", create, part)) ==
        "writes_dataset creates_dataset");
  CHECK(OpCreatesDataset("generate"));
  CHECK_FALSE(OpCreatesDataset("transform"));
  CHECK_FALSE(OpCreatesDataset("no such op"));
  CHECK(OpsCreatingDataset() == std::vector<std::string>{"generate"});
}

TEST_CASE("Capabilities: an analysis works on the partition it is handed") {
  // Quantiles along the inner axis keep each lane inside one block (one
  // pass) only when blocks hold whole rows: with the plan's partition of
  // 1 MiB blocks they do; with blocks smaller than a row they do not.
  const Dataset d = SmallDataset("r");
  const std::string q = R"({"op": "quantiles", "q": 0.5, "axis": 1})";
  const Partition whole_rows(d.layout);
  const Partition pieces(d.layout, /*block_bytes=*/8);  // a row is 16 bytes
  REQUIRE(whole_rows.rows_per_block() > 0);
  REQUIRE(pieces.rows_per_block() == 0);
  CHECK(Make(q, d, whole_rows)->passes() == 1);
  CHECK(Make(q, d, pieces)->passes() > 1);
}

TEST_CASE("Capabilities: --shard and --state refuse analyses whose partials do not merge") {
  Scratch s;
  CHECK(CheckSinglePass(*Build(s, R"([{"op": "stats"}, {"op": "cov"},
                                       {"op": "histogram", "range": [0, 1]},
                                       {"op": "quantiles", "q": 0.5, "axis": 1}])"),
                        "--shard")
            .ok());
  struct Refused {
    const char* analyses;
    const char* mode;
    const char* fragment;
  };
  // clang-format off
  const std::vector<Refused> refused = {
    {R"([{"op": "stats"}, {"op": "slice", "select": "[1]", "output": "s.npy"}])", "r", "'analyses[1].op' (slice): 'slice' writes its output while scanning; --shard works only"},
    {R"([{"op": "convert", "dtype": "float64", "output": "c.npy"}])", "r", "'analyses[0].op' (convert): 'convert' writes its output while scanning"},
    {R"([{"op": "transform", "fn": "clip", "min": 0, "max": 1}])", "r+", "'analyses[0].op' (transform): 'transform' writes the dataset; --shard"},
    {R"([{"op": "generate", "fill": {"kind": "arange"}}])", "w+", "'generate' writes the dataset"},
    {R"([{"op": "stats"}, {"op": "histogram"}])", "r", "'analyses[1].op' (histogram): 'histogram' needs 2 passes over the data"},
    {R"([{"op": "quantiles", "q": 0.5}])", "r", "'quantiles' needs"},
  };
  // clang-format on
  for (const Refused& r : refused) {
    INFO(r.analyses);
    Status st = CheckSinglePass(*Build(s, r.analyses, r.mode), "--shard");
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Code::kConfig);
    CHECK(st.message().find(r.fragment) != std::string::npos);
  }
}

// The strongest lock held on the dataset's lock byte by another open file
// description: F_UNLCK, F_RDLCK or F_WRLCK.
short HeldLock(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  short held = F_UNLCK;
  for (short type : {F_RDLCK, F_WRLCK}) {
    struct flock probe = {};
    probe.l_type = type;
    probe.l_whence = SEEK_SET;
    probe.l_start = jfmt::kLockByte;
    probe.l_len = 1;
    REQUIRE(::fcntl(fd, F_OFD_GETLK, &probe) == 0);
    if (probe.l_type != F_UNLCK) {
      held = probe.l_type;
      break;
    }
  }
  ::close(fd);
  return held;
}

TEST_CASE("Capabilities: the run guard locks for in-place writers and retries journaled ones") {
  Scratch s;
  struct Case {
    const char* analyses;
    const char* mode;
    short lock;   // what the guard holds
    int retries;  // of 3 requested
  };
  // clang-format off
  const std::vector<Case> cases = {
    {R"([{"op": "stats"}, {"op": "slice", "select": "[1]", "output": "s.npy"}])", "r", F_RDLCK, 3},
    {R"([{"op": "stats"}, {"op": "transform", "fn": "clip", "min": 0, "max": 1}])", "r+", F_WRLCK, 3},
    {R"([{"op": "transform", "fn": "clip", "min": 0, "max": 1, "journal": false}])", "r+", F_WRLCK, 0},
    {R"([{"op": "generate", "fill": {"kind": "arange"}}])", "w+", F_UNLCK, 3},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO(c.analyses);
    auto plan = Build(s, c.analyses, c.mode);
    {
      Result<RunGuard> guard = RunGuard::ForPlan(*plan);
      REQUIRE(guard.ok());
      CHECK(HeldLock(s.data) == c.lock);
      CHECK(guard->Retries(3) == c.retries);
    }
    CHECK(HeldLock(s.data) == F_UNLCK);
  }
}

}  // namespace
}  // namespace mm
