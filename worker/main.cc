// mmworker: one worker of an mmrun run, started by `mmrun --launch spawn`.
//
//   mmworker --segment NAME --slot I --parent PID [--dataset-fd N]
//
// N is the coordinator's descriptor of the dataset, inherited across
// posix_spawn: the worker reads that file, never the path's current one.
// It reads its plan and row range from the run's shared segment, writes its
// partials into its slot, and exits with 0 or a SPEC §5 code. It dies with
// its coordinator (PR_SET_PDEATHSIG, plus a check that PID is its parent).
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "engine/scan.h"

int main(int argc, char** argv) {
  std::string segment;
  long slot = -1, parent = -1, dataset_fd = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--segment") == 0)
      segment = argv[i + 1];
    else if (std::strcmp(argv[i], "--slot") == 0)
      slot = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "--parent") == 0)
      parent = std::atol(argv[i + 1]);
    else if (std::strcmp(argv[i], "--dataset-fd") == 0)
      dataset_fd = std::atol(argv[i + 1]);
  }
  if (segment.empty() || slot < 0 || parent <= 0) {
    std::fprintf(stderr,
                 "mmworker: error: usage: mmworker --segment NAME --slot I --parent PID (started "
                 "by mmrun)\n");
    return 64;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != static_cast<pid_t>(parent)) return 70;  // the coordinator is already gone
  try {
    return mm::RunSpawnedWorker(segment, static_cast<uint32_t>(slot), static_cast<int>(dataset_fd));
  } catch (const std::exception& e) {  // one line and the coordinator's "failed", not an abort
    std::fprintf(stderr, "mmworker: error: internal error: %s\n", e.what());
    return 70;
  } catch (...) {
    std::fprintf(stderr, "mmworker: error: internal error\n");
    return 70;
  }
}
