// Tests of engine/scan's loop over a Source (ScanSource), without processes:
// the raw driver over a real file, an in-memory source and an in-memory
// chunked source (decoded blocks in owned buffers, poisoned when their window
// goes) must give the same result documents, bit for bit, for 1 to 7
// workers; windows stay bounded and are released one by one.
#include "engine/scan.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/merge_tree.h"
#include "engine/plan.h"
#include "fake_sources.h"
#include "source/raw/raw_source.h"
#include "source/registry.h"

namespace mm {
namespace {

using testing::ChunkedMemorySource;
using testing::MemorySource;

constexpr int64_t kRows = 1000, kCols = 64;  // float32: 250 KiB

struct TempDir {
  std::string path;
  TempDir() {
    const char* base = ::getenv("TMPDIR");
    path = std::string(base ? base : "/tmp") + "/mmrun-scan-test-XXXXXX";
    REQUIRE(::mkdtemp(path.data()) != nullptr);
  }
  ~TempDir() {
    std::remove((path + "/data.f4").c_str());
    ::rmdir(path.c_str());
  }
  // Writes `bytes` as data.f4; returns its path.
  std::string Write(const std::vector<char>& bytes) const {
    const std::string file = path + "/data.f4";
    std::ofstream out(file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return file;
  }
};

// Random float32 values with some NaNs, as bytes.
std::vector<char> MakeBytes(uint32_t seed, int64_t rows) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(3.0f, 2.0f);
  std::vector<float> v(static_cast<size_t>(rows * kCols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 997 == 5 ? std::nanf("") : normal(rng);
  std::vector<char> bytes(v.size() * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

// The plan of `analyses` over the float32 file `path` of `rows` x kCols,
// with blocks of `block_rows` rows (the coordinator's cut, which the
// workers' sources are given too).
std::unique_ptr<Plan> MakePlan(const std::string& dir, const std::string& path, int64_t rows,
                               int64_t block_rows, const Json& analyses) {
  const Json config = {
      {"dataset", {{"path", path}, {"dtype", "float32"}, {"shape", {rows, kCols}}}},
      {"analyses", analyses}};
  Result<std::unique_ptr<Plan>> plan = Plan::Build(config, dir);
  REQUIRE(plan.ok());
  (*plan)->partition =
      Partition((*plan)->dataset.layout, static_cast<uint64_t>(block_rows * kCols) * 4);
  return std::move(*plan);
}

const Json kReadingAnalyses = {{{"name", "all"}, {"op", "stats"}},
                               {{"name", "columns"}, {"op", "stats"}, {"axis", 0}},
                               {{"op", "histogram"}, {"bins", 32}},
                               {{"op", "quantiles"}, {"q", {0.01, 0.5, 0.99}}}};

// Runs every pass of `plan` as `workers` workers would, each scanning its
// rows over its own source from `open_source(worker_plan)` (every worker
// opens its own), then merges the payloads along the block tree as the
// coordinator does. Returns the results object, dumped.
template <class OpenSource>
std::string RunInProcess(Plan& plan, int workers, OpenSource open_source) {
  for (int pass = 0; pass < static_cast<int>(plan.passes.size()); ++pass) {
    if (!plan.PassNeeded(pass)) continue;
    const PassPlan& pp = plan.passes[static_cast<size_t>(pass)];
    // Workers rebuild the plan from what the coordinator hands them.
    Result<std::unique_ptr<Plan>> wplan = Plan::FromJson(plan.ToJson(pass));
    REQUIRE(wplan.ok());
    (*wplan)->dataset.file = plan.dataset.file;
    TreeReducer<PartialSet> tree;
    for (int w = 0; w < workers; ++w) {
      const auto rows = plan.partition.RowsOf(w, workers);
      if (rows.first >= rows.second) continue;
      WorkerTask task;
      task.plan = wplan->get();
      task.pass = pass;
      task.map_path = plan.dataset.path;
      task.row_begin = rows.first;
      task.row_end = rows.second;
      std::unique_ptr<Source> source = open_source(**wplan);
      Result<std::string> payload = ScanSource(task, source.get(), [](uint64_t) {});
      REQUIRE(payload.ok());
      const Json doc = Json::parse(*payload);
      for (const Json& node : doc["nodes"]) {
        PartialSet set;
        for (size_t i = 0; i < pp.steps.size(); ++i) {
          const Analysis& a = *plan.analyses[static_cast<size_t>(pp.steps[i].analysis)];
          Result<std::unique_ptr<Partial>> p =
              a.PartialFromJson(pp.steps[i].pass, node["partials"][i]);
          REQUIRE(p.ok());
          set.parts.push_back(std::move(*p));
        }
        tree.Push(node["level"].get<int>(), node["start"].get<int64_t>(), std::move(set));
      }
    }
    REQUIRE(tree.nodes().back().start + (int64_t{1} << tree.nodes().back().level) ==
            plan.partition.blocks());
    PartialSet root = tree.Finish();
    for (size_t i = 0; i < pp.steps.size(); ++i)
      REQUIRE(plan.analyses[static_cast<size_t>(pp.steps[i].analysis)]
                  ->EndPass(pp.steps[i].pass, *root.parts[i])
                  .ok());
  }
  Json results = Json::object();
  for (auto& a : plan.analyses) {
    Result<Json> r = a->Finish();
    REQUIRE(r.ok());
    results[a->name()] = *r;
  }
  return results.dump();
}

TEST_CASE("Scan: raw, in-memory and chunked sources give identical documents for 1-7 workers") {
  TempDir dir;
  const std::vector<char> bytes = MakeBytes(11, kRows);
  const std::string path = dir.Write(bytes);
  for (const int64_t block_rows : {3, 16}) {
    INFO("blocks of " << block_rows << " rows");
    std::unique_ptr<Plan> reference = MakePlan(dir.path, path, kRows, block_rows, kReadingAnalyses);
    const Partition cut = reference->partition;
    REQUIRE(cut.blocks() == (kRows + block_rows - 1) / block_rows);
    auto raw = [&](const Plan& p) {
      Result<std::unique_ptr<Source>> s =
          OpenRawFile(p.dataset.file, p.dataset.path, p.dataset.layout, cut, p.dataset.file_bytes);
      REQUIRE(s.ok());
      return std::move(*s);
    };
    auto memory = [&](const Plan& p) {
      return std::unique_ptr<Source>(new MemorySource(p.dataset.layout, cut, bytes));
    };
    auto chunked = [&](const Plan& p) {
      return std::unique_ptr<Source>(new ChunkedMemorySource(p.dataset.layout, cut, bytes));
    };
    const std::string expected = RunInProcess(*reference, 1, raw);
    // The document holds the data's statistics (not an empty result).
    const Json doc = Json::parse(expected);
    CHECK(doc["all"]["count"].get<int64_t>() == kRows * kCols - (kRows * kCols + 991) / 997);
    CHECK(doc["histogram"]["counts"].size() == 32);
    for (int workers = 1; workers <= 7; ++workers) {
      INFO("workers " << workers);
      std::unique_ptr<Plan> a = MakePlan(dir.path, path, kRows, block_rows, kReadingAnalyses);
      CHECK(RunInProcess(*a, workers, raw) == expected);
      std::unique_ptr<Plan> b = MakePlan(dir.path, path, kRows, block_rows, kReadingAnalyses);
      CHECK(RunInProcess(*b, workers, memory) == expected);
      std::unique_ptr<Plan> c = MakePlan(dir.path, path, kRows, block_rows, kReadingAnalyses);
      CHECK(RunInProcess(*c, workers, chunked) == expected);
    }
  }
}

TEST_CASE("Scan: a chunked source's windows are released one by one and stay bounded") {
  TempDir dir;
  // 40 MiB of zeros: more than two windows.
  const int64_t rows = (int64_t{40} << 20) / (kCols * 4);
  const std::vector<char> bytes(static_cast<size_t>(rows * kCols * 4), 0);
  const std::string path = dir.path + "/data.f4";
  { std::ofstream(path, std::ios::binary); }
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(bytes.size())) == 0);  // sparse
  const Json stats = {{{"op", "stats"}}};
  std::unique_ptr<Plan> plan = MakePlan(dir.path, path, rows, 4, stats);  // 1 KiB chunks
  ChunkedMemorySource source(plan->dataset.layout, plan->partition, bytes);
  WorkerTask task;
  task.plan = plan.get();
  task.map_path = path;
  task.row_begin = 0;
  task.row_end = rows;
  std::vector<uint64_t> progress;
  Result<std::string> payload =
      ScanSource(task, &source, [&](uint64_t r) { progress.push_back(r); });
  REQUIRE(payload.ok());
  CHECK(source.live_windows() == 0);
  CHECK(source.max_live_windows() == 1);
  CHECK(source.max_live_bytes() <= kWindowBytes);
  CHECK(source.windows_read() >= 3);
  CHECK(source.windows_read() == static_cast<int>(progress.size()));
  CHECK(std::is_sorted(progress.begin(), progress.end()));
  REQUIRE(!progress.empty());
  CHECK(progress.back() == static_cast<uint64_t>(rows));
  // One worker holding every block hands over the aligned subtrees.
  const Json doc = Json::parse(*payload);
  int64_t covered = 0;
  for (const Json& node : doc["nodes"]) {
    CHECK(node["start"].get<int64_t>() == covered);
    covered += int64_t{1} << node["level"].get<int>();
  }
  CHECK(covered == plan->partition.blocks());
}

}  // namespace
}  // namespace mm
