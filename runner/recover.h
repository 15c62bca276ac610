// `mmrun recover FILE`: rolls back an interrupted in-place transform
// (SPEC §1, §3 `transform`; journal in docs/JOURNAL_FORMAT.md).
//
// Takes the dataset's exclusive lock (waiting a few seconds for the
// workers of a run that was just killed to die), restores FILE byte for
// byte from its journal folder FILE.mmrun-journal/ and removes the folder.
// On a file without a journal it changes nothing and says so. Prints one
// JSON object on stdout; errors are one line on stderr with a SPEC §5 code.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace mm {

Status RecoverCommand(const std::vector<std::string>& args);

}  // namespace mm
