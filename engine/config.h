// The run config (SPEC §2) parsed into plain structs, with every key
// checked: unknown keys are kConfig errors naming the key path and the
// closest known key. Analysis parameters stay JSON here; each analysis
// validates its own (see analysis.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "core/json_util.h"
#include "core/status.h"
#include "source/dataset.h"

namespace mm {

// Run options of a config's top level; a command-line flag overrides each.
struct RunOptions {
  std::optional<int> workers;
  std::optional<std::string> launch;
  std::optional<std::string> output;  // absolute
  std::optional<double> timeout;
  std::optional<int> retries;
};

struct Config {
  std::string dir;  // folder that relative paths resolve against
  DatasetSpec dataset;
  std::vector<AnalysisSpec> analyses;
  RunOptions run;
};

// Reads a config file's JSON. Errors: kNoInput, kNoPerm, kConfig (invalid JSON).
Result<Json> ReadConfigJson(const std::string& path);
// Parses a config object; relative paths resolve against `dir`.
Result<Config> ParseConfig(const Json& j, const std::string& dir);

}  // namespace mm
