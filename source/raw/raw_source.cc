#include "source/raw/raw_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "source/buffer_window.h"

namespace mm {

namespace {

// A mapping of whole blocks; the blocks are adjacent in it.
class MappedWindow : public Window {
 public:
  MappedWindow(int64_t first, bool writable, MappedRegion region,
               std::shared_ptr<FileDescriptor> file, std::string name, uint64_t min_file_bytes)
      : Window(first, writable),
        region_(std::move(region)),
        file_(std::move(file)),
        name_(std::move(name)),
        min_file_bytes_(min_file_bytes) {
    contiguous_ = region_.data();
  }
  void SetBlocks(std::vector<char*> blocks) { blocks_ = std::move(blocks); }
  MappedRegion& region() { return region_; }

  Status Close() override {
    if (writable()) MM_RETURN_IF_ERROR(region_.StartWriteback(file_->get(), name_));
    return CheckFileNotShrunk(file_->get(), name_, min_file_bytes_);
  }

 private:
  MappedRegion region_;
  std::shared_ptr<FileDescriptor> file_;  // the source's descriptor, shared: valid in Close()
  std::string name_;
  uint64_t min_file_bytes_;
};

class RawSource : public Source {
 public:
  RawSource(std::shared_ptr<FileDescriptor> file, std::string name, const Layout& layout,
            const Partition& partition, uint64_t min_file_bytes)
      : Source(layout, partition),
        file_(std::move(file)),
        name_(std::move(name)),
        item_(static_cast<uint64_t>(layout.dtype.itemsize())),
        min_file_bytes_(min_file_bytes) {}

  Status SyncWrites() override {
    if (::fdatasync(file_->get()) != 0)
      return FromErrno(errno, name_ + ": fdatasync", Code::kIoErr);
    return Status::OK();
  }

  void WillRead(int64_t first, int64_t end) override {
    (void)first;
    scan_end_ = end;
    asked_until_ = 0;
  }

  // Read-only windows are copied (Read), small enough to stay in the core's
  // cache between the copy and the analyses; writable ones are mapped.
  uint64_t window_bytes(bool writes) const override {
    return writes ? kWindowBytes : kDecodedWindowBytes;
  }

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) override {
    const Partition& part = partition();
    const uint64_t begin = part.block_begin(first), end = part.block_end(first + n - 1);
    std::vector<char*> blocks(static_cast<size_t>(n));
    if (writable) {
      MM_ASSIGN_OR_RETURN(MappedRegion region,
                          MappedRegion::Map(file_->get(), name_, true, ByteOffset(begin),
                                            (end - begin) * item_, Code::kIoErr));
      region.AdviseSequential();
      StartReadAhead(ByteOffset(end));
      for (int64_t k = 0; k < n; ++k)
        blocks[static_cast<size_t>(k)] =
            region.data() + (part.block_begin(first + k) - begin) * item_;
      auto w = std::make_unique<MappedWindow>(first, true, std::move(region), file_, name_,
                                              min_file_bytes_);
      w->SetBlocks(std::move(blocks));
      return std::unique_ptr<Window>(std::move(w));
    }
    const uint64_t bytes = (end - begin) * item_;
    WindowBuffer buffer = spare_->Take(bytes);
    MM_RETURN_IF_ERROR(Read(ByteOffset(begin), bytes, buffer.data()));
    for (int64_t k = 0; k < n; ++k)
      blocks[static_cast<size_t>(k)] =
          buffer.data() + (part.block_begin(first + k) - begin) * item_;
    return std::unique_ptr<Window>(std::make_unique<BufferWindow>(
        first, spare_, std::move(buffer), std::move(blocks), /*contiguous=*/true));
  }

  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    const uint64_t len = (end - begin) * item_, off = ByteOffset(begin);
    MM_ASSIGN_OR_RETURN(const uint64_t got,
                        PreadFull(file_->get(), out, len, off, name_ + ": read"));
    if (got < len)
      return Error(Code::kIoErr,
                   name_ + ": unexpected end of file (the file shrank under the run)");
    return Status::OK();
  }

 private:
  uint64_t ByteOffset(uint64_t index) const { return layout().offset + index * item_; }

  // Copies [pos, pos + bytes) into `out`. What the page cache holds is
  // copied first without waiting; a byte that is not cached makes this a
  // cold scan, which from then on asks the kernel to read ahead
  // (StartReadAhead) before it waits for the disk. A warm scan asks
  // nothing: the hint would cost a page-cache lookup per page for nothing.
  Status Read(uint64_t pos, uint64_t bytes, char* out) {
    const uint64_t cached = cold_ ? 0 : PreadCached(file_->get(), out, bytes, pos);
    if (cached == bytes) return Status::OK();
    cold_ = true;
    StartReadAhead(pos + cached);
    MM_ASSIGN_OR_RETURN(const uint64_t got, PreadFull(file_->get(), out + cached, bytes - cached,
                                                      pos + cached, name_ + ": read"));
    if (cached + got < bytes)
      return Error(Code::kIoErr,
                   name_ + ": unexpected end of file (the file shrank under the run)");
    return Status::OK();
  }

  // Keeps kWindowBytes of the scan's remaining bytes past `pos` asked for
  // (POSIX_FADV_WILLNEED), so the disk reads while the worker computes.
  // Tops the request up once half of it is used.
  void StartReadAhead(uint64_t pos) {
    if (scan_end_ <= 0) return;
    const uint64_t until = ByteOffset(partition().block_end(scan_end_ - 1));
    if (pos >= until) return;
    if (asked_until_ > pos + kWindowBytes / 2) return;
    const uint64_t from = std::max(asked_until_, pos);
    const uint64_t to = std::min(until, pos + kWindowBytes);
    if (to <= from) return;
    ::posix_fadvise(file_->get(), static_cast<off_t>(from), static_cast<off_t>(to - from),
                    POSIX_FADV_WILLNEED);
    asked_until_ = to;
  }

  std::shared_ptr<FileDescriptor> file_;
  std::string name_;
  uint64_t item_;
  uint64_t min_file_bytes_;
  int64_t scan_end_ = 0;      // WillRead's end: read-ahead stops there
  bool cold_ = false;         // a window was not cached: read ahead from now on
  uint64_t asked_until_ = 0;  // the end of what read-ahead asked for so far
  std::shared_ptr<SpareBuffer> spare_ = std::make_shared<SpareBuffer>();
};

}  // namespace

Status CheckFileNotShrunk(int fd, const std::string& name, uint64_t min_bytes) {
  if (min_bytes == 0) return Status::OK();
  struct stat st;
  if (::fstat(fd, &st) != 0) return FromErrno(errno, name, Code::kIoErr);
  if (static_cast<uint64_t>(st.st_size) >= min_bytes) return Status::OK();
  return Error(Code::kIoErr, name + ": the file shrank under the run (" +
                                 std::to_string(st.st_size) + " bytes, " +
                                 std::to_string(min_bytes) + " when the run started)");
}

Result<std::unique_ptr<Source>> OpenRawFile(std::shared_ptr<FileDescriptor> file,
                                            const std::string& name, const Layout& layout,
                                            const Partition& partition, uint64_t min_file_bytes) {
  if (!file || !file->valid()) return Error(Code::kIoErr, name + ": the file is not open");
  return std::unique_ptr<Source>(
      std::make_unique<RawSource>(std::move(file), name, layout, partition, min_file_bytes));
}

Result<std::unique_ptr<Source>> OpenRawDataset(const Dataset& d) {
  return OpenRawFile(d.file, d.path, d.layout, PartitionOf(d), d.file_bytes);
}

uint64_t RawByteOffset(const Dataset& d, uint64_t index) {
  return d.layout.offset + index * static_cast<uint64_t>(d.layout.dtype.itemsize());
}

}  // namespace mm
