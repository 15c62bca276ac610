#include "source/buffer_window.h"

#include <algorithm>
#include <new>

namespace mm {

namespace {
constexpr uint64_t kPage = 4096;
}  // namespace

WindowBuffer SpareBuffer::Take(uint64_t bytes) {
  WindowBuffer b = std::move(spare_);
  spare_ = WindowBuffer();
  if (b.bytes_ && b.capacity_ >= bytes) return b;
  const uint64_t capacity = (std::max<uint64_t>(bytes, 1) + kPage - 1) / kPage * kPage;
  b.bytes_.reset(static_cast<char*>(std::aligned_alloc(kPage, capacity)));
  if (!b.bytes_) throw std::bad_alloc();
  b.capacity_ = capacity;
  return b;
}

void SpareBuffer::Give(WindowBuffer b) {
  if (b.bytes_ && (!spare_.bytes_ || b.capacity_ > spare_.capacity_)) spare_ = std::move(b);
}

BufferWindow::BufferWindow(int64_t first, std::shared_ptr<SpareBuffer> spare, WindowBuffer buffer,
                           std::vector<char*> blocks, bool contiguous)
    : Window(first, false), spare_(std::move(spare)), buffer_(std::move(buffer)) {
  blocks_ = std::move(blocks);
  if (contiguous) contiguous_ = buffer_.data();
  owned_ = true;
}

BufferWindow::~BufferWindow() { spare_->Give(std::move(buffer_)); }

}  // namespace mm
