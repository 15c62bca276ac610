// Tests of engine/merge: EndPassFromTree hands the root of a complete tree to
// the pass' analyses (the same results for any split of the blocks among
// workers, checked against a direct computation over the data), refuses a
// tree that is empty or ends early, and gives a dataset of no blocks the
// analyses' empty partials.
#include "engine/merge.h"

#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/scan.h"

namespace mm {
namespace {

// 8 int32 columns: 32-byte rows, 32768 rows per 1 MiB block; 5 blocks, the
// last one short.
constexpr int64_t kCols = 8;

// A raw int32 dataset of `rows` x kCols in a fresh folder, and the plan of
// one pass of stats over it; the folder is removed at the end.
struct Fixture {
  std::string dir;
  std::vector<int32_t> data;
  std::unique_ptr<Plan> plan;

  explicit Fixture(int64_t rows) {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/mmrun-merge-XXXXXX";
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    dir = templ;
    data.resize(static_cast<size_t>(rows * kCols));
    std::mt19937 rng(5);
    std::uniform_int_distribution<int32_t> values(-1000000, 1000000);
    for (int32_t& x : data) x = values(rng);
    FILE* f = std::fopen((dir + "/data.i4").c_str(), "wb");
    REQUIRE(f != nullptr);
    if (!data.empty())  // fwrite takes no null pointer, even for 0 items
      REQUIRE(std::fwrite(data.data(), sizeof(int32_t), data.size(), f) == data.size());
    std::fclose(f);
    const Json config = Json::parse(R"({
      "dataset": {"path": "data.i4", "format": "raw", "dtype": "int32", "shape": [-1, 8]},
      "analyses": [{"name": "all", "op": "stats"}]})");
    Result<std::unique_ptr<Plan>> built = Plan::Build(config, dir);
    REQUIRE(built.ok());
    plan = std::move(*built);
    REQUIRE(plan->passes.size() == 1);
    REQUIRE(PreparePass(*plan, 0).ok());
  }
  ~Fixture() { (void)std::system(("rm -rf '" + dir + "'").c_str()); }

  // A worker's payload for the rows of blocks [b0, b1), from the real scan.
  std::string Scan(int64_t b0, int64_t b1) const {
    const int64_t per = plan->partition.rows_per_block(), rows = plan->partition.rows();
    WorkerTask task;
    task.plan = plan.get();
    task.pass = 0;
    task.map_path = plan->MapPath(0);
    task.attempt = 1;
    task.row_begin = std::min(rows, b0 * per);
    task.row_end = std::min(rows, b1 * per);
    Result<std::string> payload = ScanTask(task, [](uint64_t) {});
    REQUIRE(payload.ok());
    return *payload;
  }

  // The tree of the payloads of the block ranges cut at `cuts`.
  NodeTree Tree(const std::vector<int64_t>& cuts) const {
    NodeTree tree;
    for (size_t i = 0; i + 1 < cuts.size(); ++i)
      REQUIRE(PushPayload(*plan, 0, Scan(cuts[i], cuts[i + 1]), "worker", &tree).ok());
    return tree;
  }
};

TEST_CASE("Merge: EndPassFromTree gives the data's stats for any split", "[merge]") {
  const int64_t rows = 4 * 32768 + 77;
  std::string first;
  for (const std::vector<int64_t>& cuts :
       std::vector<std::vector<int64_t>>{{0, 5}, {0, 1, 5}, {0, 2, 3, 5}, {0, 1, 2, 3, 4, 5}}) {
    Fixture fx(rows);
    REQUIRE(fx.plan->partition.blocks() == 5);
    NodeTree tree = fx.Tree(cuts);
    REQUIRE(EndPassFromTree(*fx.plan, 0, &tree).ok());
    Result<Json> results = FinishResults(*fx.plan);
    REQUIRE(results.ok());
    const Json& all = (*results)["all"];
    int64_t lo = fx.data[0], hi = fx.data[0], sum = 0;
    for (int32_t x : fx.data) {
      lo = std::min<int64_t>(lo, x);
      hi = std::max<int64_t>(hi, x);
      sum += x;
    }
    CHECK(all["count"].get<int64_t>() == rows * kCols);
    CHECK(all["min"].get<int64_t>() == lo);
    CHECK(all["max"].get<int64_t>() == hi);
    CHECK(all["sum"].get<double>() == static_cast<double>(sum));
    if (first.empty()) first = results->dump();
    CHECK(results->dump() == first);  // the same bytes for every split
  }
}

TEST_CASE("Merge: EndPassFromTree refuses a tree that is empty or ends early", "[merge]") {
  Fixture fx(4 * 32768 + 77);
  NodeTree empty;
  Status st = EndPassFromTree(*fx.plan, 0, &empty);
  CHECK(st.code() == Code::kWorkerFailed);
  CHECK(st.message() == "no worker produced a partial");
  NodeTree part = fx.Tree({0, 3});
  st = EndPassFromTree(*fx.plan, 0, &part);
  CHECK(st.code() == Code::kWorkerFailed);
  CHECK(st.message() == "the partials cover blocks [0, 3) of 5");
}

TEST_CASE("Merge: a dataset of no blocks ends its pass with empty partials", "[merge]") {
  Fixture fx(0);
  REQUIRE(fx.plan->partition.blocks() == 0);
  NodeTree unused;
  REQUIRE(EndPassFromTree(*fx.plan, 0, &unused).ok());
  Result<Json> results = FinishResults(*fx.plan);
  REQUIRE(results.ok());
  CHECK((*results)["all"]["count"].get<int64_t>() == 0);
}

}  // namespace
}  // namespace mm
