// mmrun: the command line (SPEC §1). A table of subcommands; everything
// else lives in runner/commands.cc and common/.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/fault.h"
#include "runner/commands.h"
#include "runner/launcher.h"
#include "runner/recover.h"
#include "runner/shard.h"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(const std::vector<std::string>& args);
};

const Subcommand kSubcommands[] = {
    {"validate", &mm::ValidateCommand},
    {"inspect", &mm::InspectCommand},
    {"merge", &mm::MergeCommand},
    {"recover", &mm::RecoverCommand},
};

// Before main and before mmrun's own static initializers: the window in
// which a signal kills the process by default is the dynamic loader's only.
__attribute__((constructor(101))) void BlockSignalsBeforeMain() { mm::BlockSignalsAtStartup(); }

}  // namespace

int main(int argc, char** argv) {
  // First: a stop signal from now on is held pending, never the default
  // death that would leave a segment or a temporary output behind.
  mm::BlockSignalsAtStartup();
  if (mm::FaultEnabled("stop_at_start")) ::raise(SIGSTOP);  // tests signal it here, then SIGCONT
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(mm::UsageText().c_str(), stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("mmrun %s\n", mm::kVersion);
      return 0;
    }
  }
  if (!args.empty()) {
    for (const Subcommand& s : kSubcommands) {
      if (args[0] != s.name) continue;
      mm::ReleaseStartupSignals();  // these commands keep the default signal actions
      return s.run(std::vector<std::string>(args.begin() + 1, args.end()));
    }
  }
  return mm::RunCommand(args);
}
