// mmrun: the command line (SPEC §1). main only blocks the stop signals
// first; the subcommand table and dispatch are runner/cli.h.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
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

// A closed stdin, stdout or stderr (`mmrun cfg.json >&-`) would be the
// number of the next file mmrun opens: the document would go into the
// dataset or the --lock file. Each closed one becomes /dev/null opened
// the wrong way, so its reads or writes fail (EBADF) as on a closed one.
void ReserveStandardFds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // The lowest free number: `fd`, the ones below it being open by now.
    if (::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) != fd) ::_exit(71);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // First: a stop signal from now on is held pending, never the default
  // death that would leave a segment or a temporary output behind.
  mm::BlockSignalsAtStartup();
  ReserveStandardFds();
  mm::TuneHeapForWindows();
  if (mm::FaultEnabled("stop_at_start")) ::raise(SIGSTOP);  // tests signal it here, then SIGCONT
  return mm::RunMmrun(std::vector<std::string>(argv + 1, argv + argc));
}
