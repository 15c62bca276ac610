// Tests of engine/document: the result document's sections and their
// members, in the order SPEC §4 and the existing documents print them, with
// the optional members only when they apply.
#include "engine/document.h"

#include <catch2/catch.hpp>
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
  CHECK(Keys(meta) == std::vector<std::string>{"version", "workers", "launch", "elapsed_s", "rows",
                                               "bytes_scanned", "passes"});
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
  CHECK(Keys(meta) == std::vector<std::string>{"version", "workers", "launch", "elapsed_s", "rows",
                                               "bytes_scanned", "passes", "shards"});
  CHECK(meta["shards"] == 4);
}

TEST_CASE("Document: optional mmrun members appear only when they apply", "[document]") {
  RunSummary s = Summary();
  s.workers_requested = 3;  // as many as started: not written
  s.row_axis = 0;
  CHECK(Keys(MmrunSection(s)) == std::vector<std::string>{"version", "workers", "launch",
                                                          "elapsed_s", "rows", "row_axis",
                                                          "bytes_scanned", "passes"});
  s.workers_requested = 8;
  s.incremental = Json{{"state", "reused"}, {"rows_reused", 10}, {"rows_read", 5}};
  const Json meta = MmrunSection(s);
  CHECK(Keys(meta) == std::vector<std::string>{"version", "workers", "workers_requested", "launch",
                                               "elapsed_s", "rows", "row_axis", "bytes_scanned",
                                               "passes", "incremental"});
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

}  // namespace
}  // namespace mm
