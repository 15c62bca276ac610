// Tests of the Scanner contract (analysis/analysis.h): a scanner's state is
// working memory only, so the partial of a block is the same whatever the
// scanner consumed before and whatever another scanner of the same analysis
// does meanwhile. Each reading analysis is run over blocks of different
// sizes and lane ranges (NaNs included), once with one long-lived scanner
// per analysis, interleaved with a second one, and once with a fresh scanner
// per block; the partials' JSON must match exactly.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "source/partition.h"

namespace mm {
namespace {

constexpr int64_t kRows = 2000, kCols = 48;

Dataset FloatDataset() {
  Dataset d;
  d.path = "/nonexistent/scanner_test.f32";  // never opened: blocks come from memory
  d.format = "raw";
  d.mode = "r";
  d.layout.dtype = *ParseDType("<f4");
  d.layout.shape = {kRows, kCols};
  d.file_bytes = d.layout.data_bytes();
  d.shape_spec = d.layout.shape;
  return d;
}

std::vector<float> Data() {
  std::mt19937_64 rng(13);
  std::normal_distribution<float> normal(5.0f, 3.0f);
  std::vector<float> v(static_cast<size_t>(kRows * kCols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 97 == 3 ? NAN : normal(rng);
  return v;
}

// Blocks of whole rows [row0, row1), in an order that makes a long-lived
// scanner see a big block before a small one and the reverse.
struct Rows {
  int64_t row0, row1;
};
const Rows kBlocks[] = {{0, 700}, {700, 703}, {703, 1500}, {1500, 1501}, {1501, 2000}, {5, 400}};

BlockView View(std::vector<float>* v, Rows r, int64_t number) {
  BlockView b;
  b.begin = static_cast<uint64_t>(r.row0 * kCols);
  b.end = static_cast<uint64_t>(r.row1 * kCols);
  b.data = reinterpret_cast<char*>(v->data() + b.begin);
  b.block = number;
  return b;
}

std::string Consumed(Scanner* scanner, const Analysis& a, const BlockView& block) {
  std::unique_ptr<Partial> p = a.NewPartial(0);
  REQUIRE(scanner->Consume(block, p.get()).ok());
  return p->ToJson().dump();
}

TEST_CASE("Scanner: a block's partial does not depend on what the scanner consumed before") {
  const Dataset dataset = FloatDataset();
  std::vector<float> data = Data();
  const std::vector<std::pair<std::string, Json>> cases = {
      {"stats", Json::object()},
      {"stats", Json{{"axis", 0}}},
      {"stats", Json{{"axis", 1}}},
      {"histogram", Json{{"bins", 17}, {"range", {0.0, 9.0}}, {"axis", 0}}},
      {"quantiles", Json{{"q", {0.1, 0.5, 0.9}}}},
      {"quantiles", Json{{"q", {0.25, 0.75}}, {"axis", 1}}},
      {"cov", Json::object()},
  };
  for (const auto& c : cases) {
    AnalysisSpec spec;
    spec.name = c.first;
    spec.op = c.first;
    spec.params = c.second;
    INFO(spec.op << " " << spec.params.dump());
    Result<std::unique_ptr<Analysis>> a = MakeAnalysis(spec, dataset, Partition(dataset.layout));
    REQUIRE(a.ok());
    REQUIRE((*a)->NeedsBlock(0, 0, kCols));  // reads its blocks from memory
    std::unique_ptr<Scanner> one = (*a)->NewScanner(0), other = (*a)->NewScanner(0);
    int64_t n = 0;
    for (const Rows& r : kBlocks) {
      const BlockView block = View(&data, r, n++);
      const std::string fresh = Consumed((*a)->NewScanner(0).get(), **a, block);
      CHECK(Consumed(one.get(), **a, block) == fresh);
      // Another scanner of the same analysis, used in between, on other rows.
      const Rows shifted{(r.row0 + 333) % kRows, (r.row0 + 333) % kRows + 1};
      (void)Consumed(other.get(), **a, View(&data, shifted, 99));
      CHECK(Consumed(one.get(), **a, block) == fresh);
    }
  }
}

TEST_CASE("Scanner: the scanners' partials merge to the one-block result") {
  // A stats scanner over the blocks, merged in order, gives the count and
  // NaN count of the whole array: the scanner adds each element once.
  const Dataset dataset = FloatDataset();
  std::vector<float> data = Data();
  AnalysisSpec spec;
  spec.name = spec.op = "stats";
  Result<std::unique_ptr<Analysis>> a = MakeAnalysis(spec, dataset, Partition(dataset.layout));
  REQUIRE(a.ok());
  std::unique_ptr<Scanner> scanner = (*a)->NewScanner(0);
  std::unique_ptr<Partial> merged;
  int64_t n = 0;
  for (const Rows& r : kBlocks) {
    if (r.row0 == 5) break;  // the repeat at the end is not part of the cut
    std::unique_ptr<Partial> p = (*a)->NewPartial(0);
    REQUIRE(scanner->Consume(View(&data, r, n++), p.get()).ok());
    if (merged) {
      merged->Merge(*p);
    } else {
      merged = std::move(p);
    }
  }
  int64_t nans = 0;
  for (float x : data) nans += std::isnan(x);
  // One lane: each count column is its one value (docs/ARCHITECTURE.md "Partials of stats").
  const Json j = merged->ToJson();
  CHECK(j["n"].get<int64_t>() == kRows * kCols - nans);
  CHECK(j["nan"].get<int64_t>() == nans);
}

}  // namespace
}  // namespace mm
