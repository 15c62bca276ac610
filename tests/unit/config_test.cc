// Tests of engine/config: ParseConfig accepts good configs (paths resolved
// against the config's folder, names defaulting to the op) and rejects bad
// ones with kConfig naming the key. The bad inputs are listed one per line.
#include "engine/config.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/layout.h"

namespace mm {
namespace {

Json J(const std::string& text) { return Json::parse(text); }

struct BadCase {
  const char* json;
  Code code;
  const char* fragment;
};

// clang-format off
const std::vector<BadCase> kBad = {
  {R"([1, 2])", Code::kConfig, "must be a JSON object"},
  {R"({"analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset'"},
  {R"({"dataset": {"path": "a.dat"}})", Code::kConfig, "'analyses'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "ouput": "r.json"})", Code::kConfig, "unknown config key 'ouput' (did you mean 'output'?)"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "worker": 2})", Code::kConfig, "unknown config key 'worker' (did you mean 'workers'?)"},
  {R"({"datset": {"path": "a.dat"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "unknown config key 'datset' (did you mean 'dataset'?)"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "zzzzzzzzzzzz": 1})", Code::kConfig, "unknown config key 'zzzzzzzzzzzz'"},
  {R"({"dataset": {"path": "a.dat", "dtyp": "f4"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "unknown config key 'dataset.dtyp' (did you mean 'dtype'?)"},
  {R"({"dataset": {"path": "a.dat", "shpae": [1]}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shpae' (did you mean 'shape'?)"},
  {R"({"dataset": "a.dat", "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset': must be an object"},
  {R"({"dataset": {"dtype": "f4"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.path': is required"},
  {R"({"dataset": {"path": ""}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.path'"},
  {R"({"dataset": {"path": 7}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.path': must be a string"},
  {R"({"dataset": {"path": "a.dat", "format": "zarr"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.format'"},
  {R"({"dataset": {"path": "a.dat", "format": 1}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.format': must be a string"},
  {R"({"dataset": {"path": "a.dat", "dtype": 4}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.dtype': must be a string"},
  {R"({"dataset": {"path": "a.dat", "order": "X"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.order'"},
  {R"({"dataset": {"path": "a.dat", "order": "c"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.order'"},
  {R"({"dataset": {"path": "a.dat", "mode": "w"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.mode'"},
  {R"({"dataset": {"path": "a.dat", "mode": "rw"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.mode'"},
  {R"({"dataset": {"path": "a.dat", "shape": 5}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape'"},
  {R"({"dataset": {"path": "a.dat", "shape": []}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape'"},
  {R"({"dataset": {"path": "a.dat", "shape": "10,3"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape'"},
  {R"({"dataset": {"path": "a.dat", "shape": [1.5, 2]}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape': must be an integer"},
  {R"({"dataset": {"path": "a.dat", "shape": ["10"]}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape': must be an integer"},
  {R"({"dataset": {"path": "a.dat", "shape": [true, 3]}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape': must be an integer"},
  {R"({"dataset": {"path": "a.dat", "shape": [null]}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shape': must be an integer"},
  {R"({"dataset": {"path": "a.h5", "compression": "gzip"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.compression': applies to an HDF5 file generate writes (mode w+) only"},
  {R"({"dataset": {"path": "a.h5", "mode": "r+", "chunks": [1]}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.chunks': applies"},
  {R"({"dataset": {"path": "a.h5", "shuffle": true}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.shuffle': applies"},
  {R"({"dataset": {"path": "a.h5", "compresion": "lzf"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "(did you mean 'compression'?)"},
  {R"({"dataset": {"path": "a.dat", "offset": -1}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.offset'"},
  {R"({"dataset": {"path": "a.dat", "offset": "0"}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.offset': must be an integer"},
  {R"({"dataset": {"path": "a.dat", "offset": 18446744073709551615}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.offset'"},
  {R"({"dataset": {"path": "a.dat", "offset": 0.5}, "analyses": [{"op": "stats"}]})", Code::kConfig, "'dataset.offset': must be an integer"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": []})", Code::kConfig, "'analyses': must be a non-empty list"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": {"op": "stats"}})", Code::kConfig, "'analyses': must be a non-empty list"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": ["stats"]})", Code::kConfig, "'analyses[0]': must be an object"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"name": "s"}]})", Code::kConfig, "'analyses[0].op': is required"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}, {"axis": 0}]})", Code::kConfig, "'analyses[1].op': is required"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": 3}]})", Code::kConfig, "'analyses[0].op': must be a string"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats", "name": 3}]})", Code::kConfig, "'analyses[0].name': must be a string"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats", "name": ""}]})", Code::kConfig, "'analyses[0].name'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}, {"op": "stats"}]})", Code::kConfig, "duplicate analysis name 'stats'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats", "name": "x"}, {"op": "histogram", "name": "x"}]})", Code::kConfig, "'analyses[1].name': duplicate analysis name 'x'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats", "name": "histogram"}, {"op": "histogram"}]})", Code::kConfig, "duplicate analysis name 'histogram'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "workers": 0})", Code::kConfig, "'workers'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "workers": -3})", Code::kConfig, "'workers'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "workers": 100000})", Code::kConfig, "'workers'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "workers": "4"})", Code::kConfig, "'workers': must be an integer"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "workers": 2.5})", Code::kConfig, "'workers': must be an integer"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "launch": "bogus"})", Code::kConfig, "'launch': must be fork or spawn"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "launch": 1})", Code::kConfig, "'launch': must be a string"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "retries": -1})", Code::kConfig, "'retries'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "retries": 1000})", Code::kConfig, "'retries'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "retries": "1"})", Code::kConfig, "'retries': must be an integer"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "timeout": 0})", Code::kConfig, "'timeout'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "timeout": -5})", Code::kConfig, "'timeout'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "timeout": "10"})", Code::kConfig, "'timeout'"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "output": 5})", Code::kConfig, "'output': must be a string"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "output": ["a"]})", Code::kConfig, "'output': must be a string"},
  {R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "output": ""})", Code::kConfig, "'output'"},
};
// clang-format on

TEST_CASE("Config: rejects bad configs, naming the key", "[config]") {
  REQUIRE(kBad.size() >= 20);
  for (const BadCase& c : kBad) {
    INFO(c.json);
    Result<Config> r = ParseConfig(J(c.json), "/data/cfg");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == c.code);
    CHECK_THAT(r.status().message(), Catch::Contains(c.fragment));
  }
}

TEST_CASE("Config: unknown keys report the key path and nothing else", "[config]") {
  Result<Config> r = ParseConfig(
      J(R"({"dataset": {"path": "a", "ordre": "C"}, "analyses": [{"op": "stats"}]})"), "/x");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "unknown config key 'dataset.ordre' (did you mean 'order'?)");
}

// A shape entry beyond int64 wraps to a negative number (nlohmann's unsigned
// integer read as int64): 18446744073709551615 becomes -1 and is taken as
// "infer this axis". See the report: config.cc GetInt().
TEST_CASE("Config: rejects shape entries beyond 64 bits", "[config]") {
  for (
      const char* text : {
          R"({"dataset": {"path": "a.dat", "shape": [18446744073709551615, 10]}, "analyses": [{"op": "stats"}]})",
          R"({"dataset": {"path": "a.dat", "shape": [10, 18446744073709551614]}, "analyses": [{"op": "stats"}]})",
      }) {
    Result<Config> r = ParseConfig(J(text), "/x");
    std::string parsed;
    if (r.ok() && r->dataset.shape) parsed = "parsed shape " + ShapeString(*r->dataset.shape);
    INFO(text << " " << parsed);
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("Config: a minimal config takes the defaults", "[config]") {
  Result<Config> r = ParseConfig(
      J(R"({"dataset": {"path": "data/a.dat"}, "analyses": [{"op": "stats"}]})"), "/data/cfg");
  REQUIRE(r.ok());
  const Config& c = *r;
  CHECK(c.dir == "/data/cfg");
  CHECK(c.dataset.path == "/data/cfg/data/a.dat");
  CHECK(c.dataset.format == "auto");
  CHECK(c.dataset.mode == "r");
  CHECK_FALSE(c.dataset.dtype.has_value());
  CHECK_FALSE(c.dataset.shape.has_value());
  CHECK_FALSE(c.dataset.order.has_value());
  CHECK_FALSE(c.dataset.offset.has_value());
  REQUIRE(c.analyses.size() == 1);
  CHECK(c.analyses[0].name == "stats");
  CHECK(c.analyses[0].op == "stats");
  CHECK(c.analyses[0].index == 0);
  CHECK(c.analyses[0].dir == "/data/cfg");
  CHECK(c.analyses[0].params == Json::object());
  CHECK_FALSE(c.run.workers.has_value());
  CHECK_FALSE(c.run.launch.has_value());
  CHECK_FALSE(c.run.output.has_value());
  CHECK_FALSE(c.run.timeout.has_value());
  CHECK_FALSE(c.run.retries.has_value());
}

TEST_CASE("Config: a full config parses every key", "[config]") {
  const char* text = R"({
    "dataset": {"path": "/abs/cube.npy", "format": "npy", "dtype": ">f8", "shape": [-1, 3, 4],
                "order": "F", "offset": 128, "mode": "r+"},
    "analyses": [
      {"name": "columns", "op": "stats", "axis": 0, "ddof": 1},
      {"op": "histogram", "bins": 5, "range": [0, 1]},
      {"op": "stats", "name": "all"}
    ],
    "output": "out/result.json", "workers": 4, "launch": "spawn", "timeout": 2.5, "retries": 0
  })";
  Result<Config> r = ParseConfig(J(text), "/home/u/run");
  REQUIRE(r.ok());
  const Config& c = *r;
  CHECK(c.dataset.path == "/abs/cube.npy");  // absolute paths stay
  CHECK(c.dataset.format == "npy");
  CHECK(*c.dataset.dtype == ">f8");
  CHECK(*c.dataset.shape == std::vector<int64_t>{-1, 3, 4});
  CHECK(*c.dataset.order == 'F');
  CHECK(*c.dataset.offset == 128);
  CHECK(c.dataset.mode == "r+");
  REQUIRE(c.analyses.size() == 3);
  CHECK(c.analyses[0].name == "columns");
  CHECK(c.analyses[0].op == "stats");
  CHECK(c.analyses[0].params == J(R"({"axis": 0, "ddof": 1})"));
  CHECK(c.analyses[1].name == "histogram");
  CHECK(c.analyses[1].index == 1);
  CHECK(c.analyses[1].params == J(R"({"bins": 5, "range": [0, 1]})"));
  CHECK(c.analyses[2].name == "all");
  CHECK(c.analyses[2].index == 2);
  CHECK(*c.run.output == "/home/u/run/out/result.json");
  CHECK(*c.run.workers == 4);
  CHECK(*c.run.launch == "spawn");
  CHECK(*c.run.timeout == 2.5);
  CHECK(*c.run.retries == 0);
}

TEST_CASE("Config: accepts the boundary values", "[config]") {
  for (
      const char* text : {
          R"({"dataset": {"path": "a"}, "analyses": [{"op": "stats"}], "workers": 1, "retries": 100, "timeout": 0.001})",
          R"({"dataset": {"path": "a"}, "analyses": [{"op": "stats"}], "workers": 4096, "launch": "fork"})",
          R"({"dataset": {"path": "a", "format": "raw", "order": "C", "mode": "w+", "offset": 0}, "analyses": [{"op": "generate"}]})",
          R"({"dataset": {"path": "a.h5", "mode": "w+", "chunks": "auto", "compression": null, "shuffle": false}, "analyses": [{"op": "generate"}]})",
          R"({"dataset": {"path": "a", "format": "auto", "shape": [1]}, "analyses": [{"op": "stats"}]})",
      }) {
    INFO(text);
    CHECK(ParseConfig(J(text), "/x").ok());
  }
}

TEST_CASE("Config: relative paths resolve against the config's folder", "[config]") {
  Result<Config> r = ParseConfig(
      J(R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}], "output": "r.json"})"),
      "/srv/job");
  REQUIRE(r.ok());
  CHECK(r->dataset.path == "/srv/job/a.dat");
  CHECK(*r->run.output == "/srv/job/r.json");
  // Relative to "." means relative to the working directory: still absolute.
  Result<Config> here =
      ParseConfig(J(R"({"dataset": {"path": "a.dat"}, "analyses": [{"op": "stats"}]})"), ".");
  REQUIRE(here.ok());
  CHECK(here->dataset.path.front() == '/');
  CHECK(here->dataset.path.size() > std::string("/a.dat").size());
  CHECK(here->dataset.path.substr(here->dataset.path.size() - 6) == "/a.dat");
}

TEST_CASE("Config: CheckKeys names the closest known key", "[config]") {
  const Status ok = CheckKeys(J(R"({"bins": 3})"), {"bins", "range", "axis"}, "analyses[0]");
  CHECK(ok.ok());
  const Status bad =
      CheckKeys(J(R"({"bins": 3, "rnage": [0, 1]})"), {"bins", "range", "axis"}, "analyses[0]");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.code() == Code::kConfig);
  CHECK(bad.message() == "unknown config key 'analyses[0].rnage' (did you mean 'range'?)");
  const Status far = CheckKeys(J(R"({"qqqqqq": 3})"), {"bins", "range", "axis"}, "");
  REQUIRE_FALSE(far.ok());
  CHECK(far.message() == "unknown config key 'qqqqqq'");
}

}  // namespace
}  // namespace mm
