// Progress on stderr (SPEC §1 --progress): a live line on a terminal, or a
// timestamped line every N seconds for log files. Fed by the rows-done
// counters the workers keep in their slots.
#pragma once

#include <chrono>
#include <cstdint>

namespace mm {

class Progress {
 public:
  enum class Mode { kOff, kLive, kLines };
  Progress(Mode mode, double interval_s, uint64_t total_rows, uint64_t row_bytes, int passes);
  // Called often; prints at most every 0.2 s (live) or interval_s (lines).
  void Update(int pass, uint64_t rows_done);
  // Ends the live line.
  void Finish();

 private:
  void Print(int pass, uint64_t rows_done);
  using Clock = std::chrono::steady_clock;
  Mode mode_;
  double interval_s_;
  uint64_t total_rows_, row_bytes_;
  int passes_;
  Clock::time_point start_, last_;
  bool printed_ = false;
};

}  // namespace mm
