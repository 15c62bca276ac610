// The mmrun subcommands (SPEC §1). Each takes the arguments after its name
// and returns its Status, whose code is the exit status; the dispatch
// (runner/cli.h) prints a failure with PrintError.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/document.h"  // kVersion
#include "runner/shard.h"     // ShardSpec

namespace mm {

class Plan;

// The options of a run (SPEC §1), from the command line.
struct RunArgs {
  std::string config;
  int workers = 0;  // 0: config or default
  std::string launch, output, lock;
  double timeout = -1;
  int retries = -1;
  bool quiet = false;
  bool progress_flag = false;
  double progress_secs = 10;
  std::optional<ShardSpec> shard;  // --shard (runner/shard.h)
  std::string state;               // --state FILE (runner/state.h)
  bool verify = false;             // --verify: check every old block of the state

  // A config built in memory (the quick commands, runner/quick.h) instead
  // of the file `config` (then ""); relative paths resolve against the
  // current folder.
  std::optional<Json> built_config;
  // Turns an error of the built config (kConfig, naming its keys) into the
  // command line's; the error as it is when empty.
  std::function<Status(const Status&)> config_error;
  // More checks of the plan, made before any worker starts or file is written.
  std::function<Status(const Plan&)> check_plan;
  // Not null: the result document is stored here instead of written.
  Json* document = nullptr;
};

// kUsage naming the first argument that is not UTF-8 (with \xHH for its
// bad bytes): configs, plans and results are JSON text, which cannot carry
// such a file name exactly (docs/CHOICES.md, "File names that are not
// UTF-8"). Every main checks its arguments with this first.
Status CheckArgumentsAreUtf8(const std::vector<std::string>& args);

// Parses the options of a run in `args`. Without `own`, the bare arguments
// are the CONFIG (exactly one); a command that adds its own options (`own`)
// finds them, and the bare arguments under `positional`, in `*vm`.
Result<RunArgs> ParseRunArgs(const std::vector<std::string>& args,
                             const boost::program_options::options_description* own = nullptr,
                             const char* positional = "config",
                             boost::program_options::variables_map* vm = nullptr);

// Runs what `a` says: checks, workers, the result document (SPEC §1).
Status RunWith(RunArgs a);

// The result's target of a run: the -o flag `flag`, else the config's
// "output"; "" for stdout (io/files.h ResultTarget).
std::string OutputPath(const std::string& flag, const Plan& plan);
// The name of the output for messages: "-o" or "config key 'output'".
std::string OutputKey(const std::string& flag);
// Registers the files a run reads (the config, the dataset by its open
// descriptor, the files an HDF5 dataset reads) for the identity checks of
// every output (io/file_identity.h).
void RegisterRunInputs(const Plan& plan, const std::string& config_path);
// Registers every file the run writes: the result `output` ("" for
// stdout), --state, the analyses' outputs, the pictures and --lock, each
// checked against every input and every other output before anything is
// written (kConfig naming both). Call after RegisterRunInputs.
Status RegisterRunOutputs(const Plan& plan, const RunArgs& a, const std::string& output);

// Prints "mmrun: error: MESSAGE" (one line) unless the status is OK.
void PrintError(const Status& st);

Status RunCommand(const std::vector<std::string>& args);       // mmrun [OPTIONS] CONFIG
Status ValidateCommand(const std::vector<std::string>& args);  // mmrun validate CONFIG
Status InspectCommand(const std::vector<std::string>& args);   // mmrun inspect FILE [...]

}  // namespace mm
