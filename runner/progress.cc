#include "runner/progress.h"

#include <cstdio>
#include <ctime>

namespace mm {

Progress::Progress(Mode mode, double interval_s, uint64_t total_rows, uint64_t row_bytes,
                   int passes, int row_axis)
    : mode_(mode),
      interval_s_(interval_s),
      total_rows_(total_rows),
      row_bytes_(row_bytes),
      passes_(passes),
      row_axis_(row_axis),
      start_(Clock::now()),
      last_(start_) {}

void Progress::Update(int pass, uint64_t rows_done) {
  if (mode_ == Mode::kOff) return;
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (since < (mode_ == Mode::kLive ? 0.2 : interval_s_)) return;
  last_ = now;
  Print(pass, rows_done);
}

void Progress::Print(int pass, uint64_t rows_done) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double total = static_cast<double>(total_rows_) * passes_;
  const double done = static_cast<double>(total_rows_) * pass + static_cast<double>(rows_done);
  const double pct = total > 0 ? 100.0 * done / total : 100.0;
  const double gbs = elapsed > 0 ? done * static_cast<double>(row_bytes_) / elapsed / 1e9 : 0.0;
  const double eta = done > 0 ? elapsed * (total - done) / done : 0.0;
  char line[256];
  snprintf(line, sizeof line,
           "mmrun: pass %d/%d %5.1f%% %llu/%llu rows (axis %d) %.2f GB/s ETA %.0fs", pass + 1,
           passes_, pct, static_cast<unsigned long long>(rows_done),
           static_cast<unsigned long long>(total_rows_), row_axis_, gbs, eta);
  Emit(line);
}

void Progress::Emit(const char* line) {
  if (mode_ == Mode::kLive) {
    std::fprintf(stderr, "\r\033[K%s", line);
    printed_ = true;
  } else {
    char stamp[32];
    const std::time_t t = std::time(nullptr);
    struct tm tm;
    gmtime_r(&t, &tm);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::fprintf(stderr, "%s %s\n", stamp, line);
  }
  std::fflush(stderr);
}

void Progress::Finish(bool ok) {
  if (mode_ == Mode::kOff) return;
  if (ok) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const double bytes =
        static_cast<double>(total_rows_) * static_cast<double>(row_bytes_) * passes_;
    char line[256];
    snprintf(line, sizeof line,
             "mmrun: done 100.0%% %llu rows (axis %d) x %d pass%s in %.2fs, %.2f GB/s",
             static_cast<unsigned long long>(total_rows_), row_axis_, passes_,
             passes_ == 1 ? "" : "es", elapsed, elapsed > 0 ? bytes / elapsed / 1e9 : 0.0);
    Emit(line);
  }
  if (mode_ == Mode::kLive && printed_) {
    std::fputs(ok ? "\n" : "\r\033[K", stderr);  // keep the final line, or clear the live one
    std::fflush(stderr);
  }
}

}  // namespace mm
