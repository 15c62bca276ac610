// mmrun: the command line (SPEC §1). main only blocks the stop signals
// first; the subcommand table and dispatch are runner/cli.h.
#include <signal.h>

#include <string>
#include <vector>

#include "core/fault.h"
#include "engine/scan.h"
#include "runner/cli.h"
#include "runner/launcher.h"

namespace {

// Before main and before mmrun's own static initializers: the window in
// which a signal kills the process by default is the dynamic loader's only.
__attribute__((constructor(101))) void BlockSignalsBeforeMain() { mm::BlockSignalsAtStartup(); }

}  // namespace

int main(int argc, char** argv) {
  // First: a stop signal from now on is held pending, never the default
  // death that would leave a segment or a temporary output behind.
  mm::BlockSignalsAtStartup();
  mm::TuneHeapForWindows();
  if (mm::FaultEnabled("stop_at_start")) ::raise(SIGSTOP);  // tests signal it here, then SIGCONT
  return mm::RunMmrun(std::vector<std::string>(argv + 1, argv + argc));
}
