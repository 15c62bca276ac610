// In-memory Sources for tests (source/source.h): the scan loop and the
// analyses run over them without files or processes.
//
// MemorySource: the array's bytes in one buffer; a window points straight
// into it (zero-copy, as the raw driver's mappings), so writable windows
// write the buffer.
//
// ChunkedMemorySource: what a chunked, compressed format looks like to the
// scan: every block is "decoded" into its own buffer, owned by the window.
// Given a chunk partition (Partition(layout, chunks)) a block is one chunk,
// decoded in C order of its box, as a chunked driver hands it over; given
// row blocks, a block is its storage range. ReadElements gathers from the
// in-memory array.
// When a window is destroyed its buffers are poisoned (filled with 0xA5) and
// kept, so a block view used after its window is gone reads poison (and
// changes the results) instead of the right bytes; it also counts the live
// windows and the most decoded bytes alive at once. Read-only.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "source/source.h"

namespace mm {
namespace testing {

class MemorySource : public Source {
 public:
  MemorySource(const Layout& layout, const Partition& partition, std::vector<char> bytes)
      : Source(layout, partition), bytes_(std::move(bytes)) {}

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) override {
    auto w = std::unique_ptr<ViewWindow>(new ViewWindow(first, writable));
    for (int64_t k = first; k < first + n; ++k) w->Add(At(partition().block_begin(k)));
    w->SetContiguous(At(partition().block_begin(first)));
    return std::unique_ptr<Window>(std::move(w));
  }
  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    std::memcpy(out, At(begin), (end - begin) * Item());
    return Status::OK();
  }
  const std::vector<char>& bytes() const { return bytes_; }

 private:
  class ViewWindow : public Window {
   public:
    ViewWindow(int64_t first, bool writable) : Window(first, writable) {}
    void Add(char* p) { blocks_.push_back(p); }
    void SetContiguous(char* p) { contiguous_ = p; }
    Status Close() override { return Status::OK(); }
  };
  uint64_t Item() const { return static_cast<uint64_t>(layout().dtype.itemsize()); }
  char* At(uint64_t index) { return bytes_.data() + index * Item(); }

  std::vector<char> bytes_;
};

class ChunkedMemorySource : public Source {
 public:
  ChunkedMemorySource(const Layout& layout, const Partition& partition, std::vector<char> bytes)
      : Source(layout, partition), bytes_(std::move(bytes)) {}

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) override {
    if (writable) return Error(Code::kIoErr, "chunked memory source: read-only");
    auto w = std::unique_ptr<DecodedWindow>(new DecodedWindow(first, this));
    const uint64_t item = Item();
    for (int64_t k = first; k < first + n; ++k) {
      auto buf = std::make_unique<std::vector<char>>(partition().block_elements(k) * item);
      if (partition().chunked()) {
        ForEachBoxRun(layout(), *partition().BlockBox(k),
                      [&](uint64_t data, uint64_t begin, uint64_t length) {
                        std::memcpy(buf->data() + data * item, bytes_.data() + begin * item,
                                    length * item);
                      });
      } else {
        std::memcpy(buf->data(), bytes_.data() + partition().block_begin(k) * item, buf->size());
      }
      w->Add(std::move(buf));
    }
    ++live_windows_;
    max_live_windows_ = std::max(max_live_windows_, live_windows_);
    live_bytes_ += w->bytes();
    max_live_bytes_ = std::max(max_live_bytes_, live_bytes_);
    ++windows_read_;
    return std::unique_ptr<Window>(std::move(w));
  }
  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    std::memcpy(out, bytes_.data() + begin * Item(), (end - begin) * Item());
    return Status::OK();
  }

  int live_windows() const { return live_windows_; }
  int max_live_windows() const { return max_live_windows_; }
  uint64_t max_live_bytes() const { return max_live_bytes_; }
  int windows_read() const { return windows_read_; }

 private:
  class DecodedWindow : public Window {
   public:
    DecodedWindow(int64_t first, ChunkedMemorySource* owner)
        : Window(first, false), owner_(owner) {}
    ~DecodedWindow() override {
      for (auto& buf : buffers_) {
        std::fill(buf->begin(), buf->end(), static_cast<char>(0xA5));
        owner_->graveyard_.push_back(std::move(buf));
      }
      --owner_->live_windows_;
      owner_->live_bytes_ -= bytes_;
    }
    void Add(std::unique_ptr<std::vector<char>> buf) {
      bytes_ += buf->size();
      blocks_.push_back(buf->data());
      buffers_.push_back(std::move(buf));
    }
    uint64_t bytes() const { return bytes_; }
    Status Close() override { return Status::OK(); }

   private:
    ChunkedMemorySource* owner_;
    std::vector<std::unique_ptr<std::vector<char>>> buffers_;
    uint64_t bytes_ = 0;
  };
  uint64_t Item() const { return static_cast<uint64_t>(layout().dtype.itemsize()); }

  std::vector<char> bytes_;
  // Poisoned buffers of destroyed windows, kept so stale views read poison.
  std::vector<std::unique_ptr<std::vector<char>>> graveyard_;
  int live_windows_ = 0, max_live_windows_ = 0, windows_read_ = 0;
  uint64_t live_bytes_ = 0, max_live_bytes_ = 0;
};

}  // namespace testing
}  // namespace mm
