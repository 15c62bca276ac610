// mmrun's command line (SPEC §1): the one table of subcommands, the help
// built from it, and the choice between a subcommand and a config to run.
//
// `mmrun WORD ARGS...` runs subcommand WORD when WORD names one. Otherwise
// the arguments are a run (`mmrun [OPTIONS] CONFIG`), except that a first
// argument that can only be a mistyped subcommand is refused as one: a bare
// word (no '/', no '.', not starting with '-'), naming nothing that exists,
// within ClosestName's distance (core/strings.h) of a subcommand:
//   mmrun: error: unknown command 'mege'; did you mean 'merge'?   (exit 64)
// Anything else (a path, an existing file, a word far from every name) is
// a config, so a missing config is still "CONFIG: No such file" (66).
//
// Called from main only, single-threaded.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mm {

struct Subcommand {
  const char* name;
  const char* args;         // the synopsis after the name, for the help
  const char* description;  // one line, for the help
  // Runs with the arguments after the name. Its Status' code is the exit
  // status; RunMmrun prints a failure (PrintError, runner/commands.h).
  std::function<Status(const std::vector<std::string>& args)> run;
  // `mmrun NAME --help`: its usage, options and an example ("": the
  // general help).
  std::string help;
};

// Every subcommand, in the order the help lists them.
const std::vector<Subcommand>& Subcommands();

// The text of `mmrun --help` and `mmrun help`.
std::string UsageText();

// mmrun's main, after the startup signal handling: `args` are argv[1..].
// Returns the exit status.
int RunMmrun(const std::vector<std::string>& args);

}  // namespace mm
