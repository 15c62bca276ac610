// The run config (SPEC §2) parsed into plain structs, with every key
// checked: unknown keys are kConfig errors naming the key path and the
// closest known key. Analysis parameters stay JSON here; each analysis
// validates its own (see analysis.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json_util.h"
#include "common/status.h"

namespace mm {

struct DatasetSpec {
  std::string path;                    // absolute (resolved against the config's folder)
  std::string format = "auto";         // auto | raw | npy
  std::optional<std::string> dtype;
  std::optional<std::vector<int64_t>> shape;
  std::optional<char> order;
  std::optional<uint64_t> offset;
  std::string mode = "r";              // r | r+ | w+
};

struct AnalysisSpec {
  std::string name;  // unique; defaults to op
  std::string op;
  Json params;       // the analysis object without "name" and "op"
  int index = 0;     // position in the config's list
  std::string dir;   // folder that relative output paths resolve against
};

// Run options of a config's top level; a command-line flag overrides each.
struct RunOptions {
  std::optional<int> workers;
  std::optional<std::string> launch;
  std::optional<std::string> output;  // absolute
  std::optional<double> timeout;
  std::optional<int> retries;
};

struct Config {
  std::string path;  // absolute path of the config file ("" when parsed from memory)
  std::string dir;   // folder that relative paths resolve against
  DatasetSpec dataset;
  std::vector<AnalysisSpec> analyses;
  RunOptions run;
};

// Reads a config file's JSON. Errors: kNoInput, kNoPerm, kConfig (invalid JSON).
Result<Json> ReadConfigJson(const std::string& path);
// Reads and parses a config file. Errors: kNoInput (missing), kNoPerm,
// kConfig (invalid JSON, bad or unknown keys; the message names the key).
Result<Config> LoadConfig(const std::string& path);
// Parses a config object; relative paths resolve against `dir`.
Result<Config> ParseConfig(const Json& j, const std::string& dir);

// Rejects keys of `obj` not in `known`, naming "where.key" and the closest
// known key. Shared by the config and the analyses.
Status CheckKeys(const Json& obj, const std::vector<std::string>& known, const std::string& where);

}  // namespace mm
