// The quick commands (SPEC §8): a question that needs no config file.
//
//   mmrun stats FILE [--axis A] [--ddof D] [layout options] [run options]
//   mmrun histogram FILE [--bins B] [--range LO,HI] [--axis A] ...
//   mmrun quantiles FILE --q 0.01,0.5,0.99 [--method M] [--axis A] ...
//   mmrun show FILE [SELECT] [layout options]
//
// Each builds in memory the config a user would have written,
//   {"dataset": {"path": FILE, LAYOUT...}, "analyses": [{"op": OP, PARAMS...}]}
// and runs it as `mmrun [run options] CONFIG` would (runner/commands.h
// RunWith): the same document, the same checks, the same exit codes. An
// error the config would report under a key is reported under its flag
// (`--bins: must be a positive integer, got 0`, exit 64).
//
// `show` runs a `slice` of SELECT (default: everything) into a .npy in a
// private temporary folder, prints it as numpy prints arrays
// (core/array_text.h) and removes the folder; more than kShowLimit elements
// are refused before anything runs (exit 64, suggesting `slice`).
//
// The commands and their flags come from one table (quick.cc), which also
// makes each command's --help and its lines in `mmrun --help`.
#pragma once

#include <cstdint>

#include "runner/cli.h"

namespace mm {

constexpr uint64_t kShowLimit = 10000;

// The quick commands' lines of the subcommand table (runner/cli.h).
std::vector<Subcommand> QuickSubcommands();

}  // namespace mm
