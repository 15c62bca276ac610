// The mmrun subcommands (SPEC §1). Each takes the arguments after its name
// and returns its Status, whose code is the exit status; the dispatch
// (runner/cli.h) prints a failure with PrintError.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "engine/document.h"  // kVersion

namespace mm {

// Prints "mmrun: error: MESSAGE" (one line) unless the status is OK.
void PrintError(const Status& st);

Status RunCommand(const std::vector<std::string>& args);       // mmrun [OPTIONS] CONFIG
Status ValidateCommand(const std::vector<std::string>& args);  // mmrun validate CONFIG
Status InspectCommand(const std::vector<std::string>& args);   // mmrun inspect FILE [...]

}  // namespace mm
