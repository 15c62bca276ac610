// Progress on stderr (--progress): a live line on a terminal, or a
// timestamped line every N seconds for log files, and after a successful run
// one final line (100%, elapsed time, GB/s). Fed by the rows-done counters
// the workers keep in their slots. Rows run along `row_axis` (0 for C order,
// the last axis for F order); the lines say so.
#pragma once

#include <chrono>
#include <cstdint>

namespace mm {

class Progress {
 public:
  enum class Mode { kOff, kLive, kLines };
  Progress(Mode mode, double interval_s, uint64_t total_rows, uint64_t row_bytes, int passes,
           int row_axis);
  // Called often; prints at most every 0.2 s (live) or interval_s (lines).
  void Update(int pass, uint64_t rows_done);
  // Ends the live line; when `ok`, prints the final line.
  void Finish(bool ok);

 private:
  void Print(int pass, uint64_t rows_done);
  void Emit(const char* line);  // the live line, or a timestamped log line
  using Clock = std::chrono::steady_clock;
  Mode mode_;
  double interval_s_;
  uint64_t total_rows_, row_bytes_;
  int passes_;
  int row_axis_;
  Clock::time_point start_, last_;
  bool printed_ = false;
};

}  // namespace mm
