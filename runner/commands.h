// The mmrun subcommands (SPEC §1). Each takes the arguments after its name
// and returns the process exit status; errors are printed by PrintError.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "engine/document.h"  // kVersion

namespace mm {

// Prints "mmrun: error: MESSAGE" (one line) unless the status is OK.
void PrintError(const Status& st);

int RunCommand(const std::vector<std::string>& args);       // mmrun [OPTIONS] CONFIG
int ValidateCommand(const std::vector<std::string>& args);  // mmrun validate CONFIG
int InspectCommand(const std::vector<std::string>& args);   // mmrun inspect FILE [...]
int NotYetCommand(const std::string& name);                 // merge, recover: later issues

// The usage text of `mmrun --help`.
std::string UsageText();

}  // namespace mm
