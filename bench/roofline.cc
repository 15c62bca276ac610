// The read roofline for `make bench`: how fast N processes can read a file
// and sum its float32 values, with nothing else in the way. mmrun's figures
// are reported as ratios to this, measured in the same run.
//
//   mmrun_roofline FILE PROCESSES [populate|fault|pread]
//       -> prints seconds and GB/s as JSON
//
// `populate` maps each process's range with MAP_POPULATE (one call faults
// every page in); `fault` (the default) lets the sum's page faults map the
// cached pages, several per fault; `pread` copies the range 1 MiB at a time
// into one buffer and sums that (how mmrun reads). Which is fastest depends
// on the kernel and the host; the harness runs all three and takes the
// fastest as the roofline.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

// Sixteen float32 accumulators: one vector add per value group, no widening.
float Sum(const float* f, size_t cnt) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= cnt; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += f[i + j];
  float total = 0;
  for (int j = 0; j < 16; ++j) total += acc[j];
  for (; i < cnt; ++i) total += f[i];
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  const bool populate = argc == 4 && std::strcmp(argv[3], "populate") == 0;
  const bool copy = argc == 4 && std::strcmp(argv[3], "pread") == 0;
  if (argc < 3 || argc > 4 ||
      (argc == 4 && !populate && !copy && std::strcmp(argv[3], "fault") != 0)) {
    std::fprintf(stderr, "usage: mmrun_roofline FILE PROCESSES [populate|fault|pread]\n");
    return 64;
  }
  const int procs = std::atoi(argv[2]);
  const int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || procs < 1) {
    std::perror(argv[1]);
    return 66;
  }
  const size_t n = static_cast<size_t>(st.st_size) / sizeof(float);
  const auto t0 = std::chrono::steady_clock::now();
  for (int p = 0; p < procs; ++p) {
    if (fork() == 0) {
      const size_t lo = n * p / procs, hi = n * (p + 1) / procs;
      float total = 0;
      if (copy) {
        const size_t piece = (size_t{1} << 20) / sizeof(float);
        std::vector<float> buffer(piece);
        for (size_t at = lo; at < hi; at += piece) {
          const size_t cnt = std::min(piece, hi - at);
          if (pread(fd, buffer.data(), cnt * sizeof(float),
                    static_cast<off_t>(at * sizeof(float))) !=
              static_cast<ssize_t>(cnt * sizeof(float)))
            _exit(1);
          total += Sum(buffer.data(), cnt);
        }
      } else {
        const size_t page = 4096, off = lo * sizeof(float) / page * page;
        const size_t len = hi * sizeof(float) - off;
        void* m = mmap(nullptr, len, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd,
                       static_cast<off_t>(off));
        if (m == MAP_FAILED) _exit(1);
        madvise(m, len, MADV_SEQUENTIAL);
        total =
            Sum(reinterpret_cast<const float*>(static_cast<char*>(m) + (lo * sizeof(float) - off)),
                hi - lo);
      }
      _exit(total == 12345.678f ? 2 : 0);  // keep the sum alive
    }
  }
  int status, failed = 0;
  while (wait(&status) > 0) failed |= !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"seconds\": %.6f, \"gbps\": %.4f}\n", s,
              static_cast<double>(st.st_size) / s / 1e9);
  return failed;
}
