// Tests of engine/scan's loop over a Source (ScanSource), without processes:
// the raw driver over a real file, an in-memory source and an in-memory
// chunked source (decoded blocks in owned buffers, poisoned when their window
// goes) must give the same result documents, bit for bit, for 1 to 7
// workers; windows stay bounded and are released one by one.
//
// Chunk blocks (a chunked format: blocks are the chunks of a grid, each
// decoded in C order of its box) run through every reading analysis: the
// documents are the same bytes for 1 to 7 workers, and equal to the same
// array scanned as row blocks: exactly for counts, extremes, integer sums,
// histograms and quantiles, within 1e-12 for floating-point sums, means,
// variances and co-moments (their merge order follows the blocks).
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

#include "core/dtype.h"
#include "core/merge_tree.h"
#include "engine/payload.h"
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
  // Creates data.f4 as a sparse file of `bytes` zero bytes; returns its path.
  std::string Sparse(uint64_t bytes) const {
    const std::string file = path + "/data.f4";
    { std::ofstream(file, std::ios::binary); }
    REQUIRE(::truncate(file.c_str(), static_cast<off_t>(bytes)) == 0);
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

// Scans every row of `plan`'s pass 0 over `source` as one worker; the
// progress reports go to *progress.
Result<std::string> ScanAll(const Plan& plan, Source* source, std::vector<uint64_t>* progress) {
  WorkerTask task;
  task.plan = &plan;
  task.map_path = plan.dataset.path;
  task.row_begin = 0;
  task.row_end = plan.partition.rows();
  return ScanSource(task, source, [&](uint64_t r) { progress->push_back(r); });
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
    // Workers rebuild the plan from what the coordinator hands them: the
    // framed text a spawned worker reads from the segment.
    Result<Json> framed =
        DecodeFramed(EncodeFramed(plan.ToJson(pass, /*binary=*/true)), "plan", Code::kDataErr);
    REQUIRE(framed.ok());
    Result<std::unique_ptr<Plan>> wplan = Plan::FromJson(*framed);
    REQUIRE(wplan.ok());
    (*wplan)->dataset.file = plan.dataset.file;
    NodeTree tree;
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
      // The coordinator's reader (blobs, node checks, PartialFromJson).
      const Status pushed = PushPayload(plan, pass, *payload, "worker", &tree, TreeEnd(tree));
      INFO(pushed.message());
      REQUIRE(pushed.ok());
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
  const std::string path = dir.Sparse(bytes.size());
  const Json stats = {{{"op", "stats"}}};
  std::unique_ptr<Plan> plan = MakePlan(dir.path, path, rows, 4, stats);  // 1 KiB chunks
  ChunkedMemorySource source(plan->dataset.layout, plan->partition, bytes);
  std::vector<uint64_t> progress;
  Result<std::string> payload = ScanAll(*plan, &source, &progress);
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
  Result<Json> doc = DecodePayload(*payload, "w");
  REQUIRE(doc.ok());
  int64_t covered = 0;
  for (const Json& node : (*doc)["nodes"]) {
    CHECK(node["start"].get<int64_t>() == covered);
    covered += int64_t{1} << node["level"].get<int>();
  }
  CHECK(covered == plan->partition.blocks());
}

// ---- Chunk blocks through the analyses ----

const Json kStatsOnly = {{{"op", "stats"}}};

// n values of `dtype` in its byte order: floats ~ normal(3, 2) with every
// 53rd a NaN, int16 uniform in [-1000, 30000], uint64 over its whole range.
std::vector<char> MakeTyped(const std::string& dtype, uint64_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  const DType dt = ParseDType(dtype).value();
  std::vector<char> bytes(n * static_cast<uint64_t>(dt.itemsize()));
  std::normal_distribution<double> normal(3.0, 2.0);
  std::uniform_int_distribution<int> small(-1000, 30000);
  for (uint64_t i = 0; i < n; ++i) {
    char* out = bytes.data() + i * static_cast<uint64_t>(dt.itemsize());
    const bool nan = i % 53 == 7;
    if (dt.kind == Kind::kFloat32) {
      const float v = nan ? std::nanf("") : static_cast<float>(normal(rng));
      std::memcpy(out, &v, 4);
    } else if (dt.kind == Kind::kFloat64) {
      double v = nan ? std::nan("") : normal(rng);
      if (dt.needs_swap()) v = ByteSwap(v);
      std::memcpy(out, &v, 8);
    } else if (dt.kind == Kind::kInt16) {
      const int16_t v = static_cast<int16_t>(small(rng));
      std::memcpy(out, &v, 2);
    } else {
      REQUIRE(dt.kind == Kind::kUInt64);
      const uint64_t v = rng();
      std::memcpy(out, &v, 8);
    }
  }
  return bytes;
}

// The reading analyses over an nd-dim array (cov for 2-D), each by name;
// `range` is a histogram range inside the values.
Json ChunkAnalyses(int nd, const Json& range) {
  Json a = Json::array();
  a.push_back({{"name", "stats_all"}, {"op", "stats"}});
  a.push_back({{"name", "stats_0"}, {"op", "stats"}, {"axis", 0}});
  if (nd >= 2) a.push_back({{"name", "stats_1"}, {"op", "stats"}, {"axis", 1}});
  if (nd >= 3) a.push_back({{"name", "stats_02"}, {"op", "stats"}, {"axis", {0, 2}}});
  a.push_back({{"name", "stats_last"}, {"op", "stats"}, {"axis", -1}, {"ddof", 1}});
  a.push_back({{"name", "hist_auto"}, {"op", "histogram"}, {"bins", 16}});
  a.push_back({{"name", "hist_range"}, {"op", "histogram"}, {"bins", 12}, {"range", range}});
  a.push_back({{"name", "hist_0"}, {"op", "histogram"}, {"bins", 5}, {"axis", 0}});
  a.push_back(
      {{"name", "hist_last"}, {"op", "histogram"}, {"bins", 4}, {"axis", -1}, {"range", range}});
  a.push_back({{"name", "q_all"}, {"op", "quantiles"}, {"q", {0, 0.1, 0.5, 0.9, 1}}});
  a.push_back({{"name", "q_0"}, {"op", "quantiles"}, {"q", {0.25, 0.5}}, {"axis", 0}});
  a.push_back({{"name", "q_last"},
               {"op", "quantiles"},
               {"q", {0.3, 1}},
               {"axis", -1},
               {"method", "midpoint"}});
  if (nd == 2) {
    a.push_back({{"name", "cov_0"}, {"op", "cov"}});
    a.push_back({{"name", "cov_1"}, {"op", "cov"}, {"axis", 1}});
  }
  return a;
}

// The plan of `analyses` over the raw file `path` (dtype, shape), with the
// default row blocks.
std::unique_ptr<Plan> TypedPlan(const std::string& dir, const std::string& path,
                                const std::string& dtype, const std::vector<int64_t>& shape,
                                const Json& analyses) {
  const Json config = {{"dataset", {{"path", path}, {"dtype", dtype}, {"shape", shape}}},
                       {"analyses", analyses}};
  Result<std::unique_ptr<Plan>> plan = Plan::Build(config, dir);
  REQUIRE(plan.ok());
  return std::move(*plan);
}

// `plan` with its dataset stored in chunks of `chunks` (what a chunked
// format's describe says), rebuilt from its JSON as workers rebuild it: the
// partition and every analysis follow the chunk grid.
std::unique_ptr<Plan> ChunkedPlan(const Plan& plan, const std::vector<int64_t>& chunks) {
  Json j = plan.ToJson(0);
  j["dataset"]["chunks"] = chunks;
  Result<std::unique_ptr<Plan>> chunked = Plan::FromJson(j);
  REQUIRE(chunked.ok());
  (*chunked)->dataset.file = plan.dataset.file;
  REQUIRE((*chunked)->partition.chunked());
  return std::move(*chunked);
}

// Fields whose values depend on the merge order (floating-point sums).
bool Approximate(const std::string& analysis, const std::string& field, bool integer) {
  if (analysis.rfind("stats", 0) == 0)
    return field == "mean" || field == "var" || field == "std" || (field == "sum" && !integer);
  if (analysis.rfind("cov", 0) == 0) return field == "cov" || field == "corr";
  return false;
}

// The largest magnitude among the numbers of `j`.
double Magnitude(const Json& j) {
  if (j.is_number()) return std::fabs(j.get<double>());
  double m = 0;
  if (j.is_array() || j.is_object())
    for (const Json& x : j) m = std::max(m, Magnitude(x));
  return m;
}

// Compares `got` with `want` (one field's value): the same JSON, numbers
// within `tol` relative (of the number, or of `scale`) when tol > 0.
void CompareField(const Json& got, const Json& want, double tol, double scale,
                  const std::string& where, int* bad) {
  if (*bad > 10) return;
  if (tol > 0 && got.is_number() && want.is_number() && !want.is_number_integer()) {
    const double a = got.get<double>(), b = want.get<double>();
    const double bound = tol * std::max({std::fabs(a), std::fabs(b), scale});
    if (!(std::fabs(a - b) <= bound)) {
      ++*bad;
      FAIL_CHECK(where << ": " << a << " vs row blocks' " << b);
    }
    return;
  }
  if (tol > 0 && got.is_array() && want.is_array() && got.size() == want.size()) {
    for (size_t i = 0; i < got.size(); ++i)
      CompareField(got[i], want[i], tol, scale, where + "[" + std::to_string(i) + "]", bad);
    return;
  }
  if (got != want) {
    ++*bad;
    FAIL_CHECK(where << ": " << got.dump() << " vs row blocks' " << want.dump());
  }
}

struct ChunkCase {
  std::string dtype;
  std::vector<int64_t> shape, chunks;
};

// Scans `c` as chunk blocks with 1..7 workers (the same bytes each time) and
// compares with the row-block scan of the same array.
void CheckChunkCase(const ChunkCase& c) {
  INFO("dtype " << c.dtype << " shape " << ShapeString(c.shape) << " chunks "
                << ShapeString(c.chunks));
  TempDir dir;
  uint64_t n = 1;
  for (int64_t d : c.shape) n *= static_cast<uint64_t>(d);
  const std::vector<char> bytes = MakeTyped(c.dtype, n, static_cast<uint32_t>(n));
  const std::string path = dir.Write(bytes);
  const DType dt = ParseDType(c.dtype).value();
  const Json range = dt.kind == Kind::kInt16    ? Json{0, 20000}
                     : dt.kind == Kind::kUInt64 ? Json{1e18, 1.5e19}
                                                : Json{0.5, 6.0};
  const Json analyses = ChunkAnalyses(static_cast<int>(c.shape.size()), range);
  auto memory = [&](const Plan& p) {
    return std::unique_ptr<Source>(new MemorySource(p.dataset.layout, p.partition, bytes));
  };
  auto chunked = [&](const Plan& p) {
    REQUIRE(p.partition.chunked());
    return std::unique_ptr<Source>(new ChunkedMemorySource(p.dataset.layout, p.partition, bytes));
  };
  std::unique_ptr<Plan> rows = TypedPlan(dir.path, path, c.dtype, c.shape, analyses);
  REQUIRE_FALSE(rows->partition.chunked());
  const Json want = Json::parse(RunInProcess(*rows, 1, memory));
  std::string first;
  for (int workers = 1; workers <= 7; ++workers) {
    INFO("workers " << workers);
    std::unique_ptr<Plan> plan =
        ChunkedPlan(*TypedPlan(dir.path, path, c.dtype, c.shape, analyses), c.chunks);
    const std::string doc = RunInProcess(*plan, workers, chunked);
    if (workers == 1) {
      first = doc;
    } else {
      CHECK(doc == first);
    }
  }
  const Json got = Json::parse(first);
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (const auto& [name, result] : want.items()) {
    REQUIRE(got.contains(name));
    for (const auto& [field, value] : result.items()) {
      REQUIRE(got[name].contains(field));
      const bool approx = Approximate(name, field, !dt.is_float());
      const double scale = name.rfind("cov", 0) == 0 ? Magnitude(value) : 0.0;
      CompareField(got[name][field], value, approx ? 1e-12 : 0.0, scale, name + "." + field, &bad);
    }
  }
  CHECK(bad == 0);
  // The document holds the data's statistics (not an empty result).
  CHECK(got["stats_all"]["count"].get<uint64_t>() == (dt.is_float() ? n - (n + 45) / 53 : n));
}

TEST_CASE("Scan: chunk blocks give the row blocks' results, the same bytes for 1-7 workers") {
  const std::vector<ChunkCase> cases = {
      {"f4", {1000}, {64}},                // 1-D, an edge chunk
      {"i2", {777}, {100}},                //
      {"f8", {37, 23}, {8, 5}},            // chunks split rows and variables
      {"i2", {37, 23}, {8, 5}},            //
      {"u8", {50, 6}, {7, 6}},             // chunks span the variables
      {">f8", {40, 3}, {40, 1}},           // one layer, one variable per chunk
      {"f4", {29, 17}, {29, 17}},          // one chunk
      {">f8", {9, 10, 11}, {4, 3, 5}},     // 3-D
      {"u8", {6, 5, 4}, {1, 5, 4}},        // chunks of whole rows
      {"f4", {5, 6, 4, 7}, {2, 4, 3, 3}},  // 4-D
      {"i2", {5, 6, 4, 7}, {5, 1, 4, 2}},  //
      {"f8", {3, 4, 5, 6}, {2, 4, 5, 6}},  //
  };
  for (const ChunkCase& c : cases) CheckChunkCase(c);
}

TEST_CASE("Scan: chunk blocks through every refinement pass of quantiles") {
  // A gather cap of 3 values makes every lane go through the 16-bit
  // bucket passes (the cap is read when the analyses are built).
  REQUIRE(::setenv("MMRUN_TEST_QUANTILE_CAP", "3", 1) == 0);
  CheckChunkCase({"f4", {31, 13}, {6, 4}});
  CheckChunkCase({"i2", {7, 8, 9}, {3, 3, 4}});
  ::unsetenv("MMRUN_TEST_QUANTILE_CAP");
}

TEST_CASE("Scan: chunk windows hold whole chunks of at most kWindowBytes of elements") {
  TempDir dir;
  // 1-D float32, 40 MiB in chunks of 3 MiB + 4 bytes: five chunks (15 MiB
  // of elements) fit in a window, their hull too; the scan must count the
  // elements, and a window of chunks whose hulls exceed kWindowBytes is
  // still allowed when their elements fit (2-D below).
  const int64_t rows = (int64_t{40} << 20) / 4, chunk = (int64_t{3} << 20) / 4 + 1;
  const std::vector<char> bytes(static_cast<size_t>(rows * 4), 0);
  const std::string path = dir.Sparse(bytes.size());
  std::unique_ptr<Plan> plan =
      ChunkedPlan(*TypedPlan(dir.path, path, "f4", {rows}, kStatsOnly), {chunk});
  ChunkedMemorySource source(plan->dataset.layout, plan->partition, bytes);
  std::vector<uint64_t> progress;
  Result<std::string> payload = ScanAll(*plan, &source, &progress);
  REQUIRE(payload.ok());
  CHECK(source.live_windows() == 0);
  CHECK(source.max_live_bytes() <= kWindowBytes);
  CHECK(source.max_live_bytes() == 5 * static_cast<uint64_t>(chunk) * 4);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  CHECK(source.windows_read() == static_cast<int>((chunks + 4) / 5));
  REQUIRE(!progress.empty());
  CHECK(std::is_sorted(progress.begin(), progress.end()));
  CHECK(progress.back() == static_cast<uint64_t>(rows));

  // 2-D: 64 x 65536 float32 (16 MiB) in chunks of 64 x 1024 (256 KiB of
  // elements, a hull of nearly 16 MiB): a window takes 64 chunks.
  TempDir dir2;
  const std::vector<char> bytes2(size_t{64} * 65536 * 4, 0);
  const std::string path2 = dir2.Sparse(bytes2.size());
  std::unique_ptr<Plan> plan2 =
      ChunkedPlan(*TypedPlan(dir2.path, path2, "f4", {64, 65536}, kStatsOnly), {64, 1024});
  ChunkedMemorySource source2(plan2->dataset.layout, plan2->partition, bytes2);
  progress.clear();
  payload = ScanAll(*plan2, &source2, &progress);
  REQUIRE(payload.ok());
  CHECK(source2.windows_read() == 1);
  CHECK(source2.max_live_bytes() == kWindowBytes);
  CHECK(progress == std::vector<uint64_t>{64});
}

TEST_CASE("Scan: BytesRead counts a chunk block's elements, not its hull") {
  TempDir dir;
  const std::vector<char> bytes = MakeTyped("f8", 37 * 23, 5);
  const std::string path = dir.Write(bytes);
  std::unique_ptr<Plan> rows = TypedPlan(dir.path, path, "f8", {37, 23}, kStatsOnly);
  std::unique_ptr<Plan> plan = ChunkedPlan(*rows, {8, 5});
  CHECK(rows->BytesRead(0, 0, 37) == 37 * 23 * 8);
  CHECK(plan->BytesRead(0, 0, 37) == 37 * 23 * 8);
  // Rows [8, 24): layers 1 and 2 (two of the 8-row layers of 5 chunks).
  CHECK(plan->BytesRead(0, 8, 24) == 16 * 23 * 8);
  CHECK(plan->BytesRead(0, 32, 37) == 5 * 23 * 8);
}

}  // namespace
}  // namespace mm
