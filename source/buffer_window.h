// BufferWindow: a window whose blocks a source copied or decoded into a
// heap buffer, and the one spare buffer a source keeps between windows so
// that a scan allocates (and faults in) its window memory once, not per
// window.
//
// The source owns a SpareBuffer through a shared_ptr; Take() hands out the
// spare when it is large enough (else a new buffer), and the BufferWindow
// that holds it gives it back when destroyed. A scan keeps one window alive
// at a time, so a source holds at most one window's memory besides the
// window in use. Buffers are page-aligned (a pread into them copies whole
// pages). One thread of one process, like the source.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "source/source.h"

namespace mm {

class WindowBuffer {
 public:
  char* data() const { return bytes_.get(); }
  uint64_t capacity() const { return capacity_; }

 private:
  friend class SpareBuffer;
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> bytes_;
  uint64_t capacity_ = 0;
};

class SpareBuffer {
 public:
  // A buffer of at least `bytes` (at least one page): the spare when it is
  // large enough, else a new one (std::bad_alloc when none can be had).
  WindowBuffer Take(uint64_t bytes);
  // Keeps `b` as the spare when it is larger than the one kept.
  void Give(WindowBuffer b);

 private:
  WindowBuffer spare_;
};

class BufferWindow : public Window {
 public:
  // Blocks [first, first + blocks.size()) at `blocks`, pointers into
  // `buffer`; `contiguous`: they are adjacent in block order from
  // buffer.data() (row blocks).
  BufferWindow(int64_t first, std::shared_ptr<SpareBuffer> spare, WindowBuffer buffer,
               std::vector<char*> blocks, bool contiguous);
  ~BufferWindow() override;
  // Every byte was read when the window was made (a read that came up
  // short failed it); drivers that read otherwise check more.
  Status Close() override { return Status::OK(); }

 private:
  std::shared_ptr<SpareBuffer> spare_;
  WindowBuffer buffer_;
};

}  // namespace mm
