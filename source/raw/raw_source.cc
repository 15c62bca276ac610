#include "source/raw/raw_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "source/buffer_window.h"

namespace mm {

namespace {

// A writable mapping of whole blocks; the blocks are adjacent in it.
class MappedWindow : public Window {
 public:
  MappedWindow(int64_t first, MappedRegion region, std::shared_ptr<FileDescriptor> file,
               std::string name, uint64_t min_file_bytes)
      : Window(first, /*writable=*/true),
        region_(std::move(region)),
        file_(std::move(file)),
        name_(std::move(name)),
        min_file_bytes_(min_file_bytes) {
    contiguous_ = region_.data();
  }
  void SetBlocks(std::vector<char*> blocks) { blocks_ = std::move(blocks); }

  Status Close() override {
    MM_RETURN_IF_ERROR(region_.StartWriteback(file_->get(), name_));
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
      // The next window is read while this one is written.
      if (first + n < scan_end_) {
        const uint64_t next = ByteOffset(end);
        const uint64_t until = ByteOffset(part.block_end(scan_end_ - 1));
        ::posix_fadvise(file_->get(), static_cast<off_t>(next),
                        static_cast<off_t>(std::min<uint64_t>(kWindowBytes, until - next)),
                        POSIX_FADV_WILLNEED);
      }
      for (int64_t k = 0; k < n; ++k)
        blocks[static_cast<size_t>(k)] =
            region.data() + (part.block_begin(first + k) - begin) * item_;
      auto w =
          std::make_unique<MappedWindow>(first, std::move(region), file_, name_, min_file_bytes_);
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

  // Copies [pos, pos + bytes) into `out` from this source's own open file
  // description of the file (ReadDescriptor).
  Status Read(uint64_t pos, uint64_t bytes, char* out) {
    MM_ASSIGN_OR_RETURN(const uint64_t got,
                        PreadFull(ReadDescriptor(), out, bytes, pos, name_ + ": read"));
    if (got < bytes)
      return Error(Code::kIoErr,
                   name_ + ": unexpected end of file (the file shrank under the run)");
    return Status::OK();
  }

  // The descriptor read-only windows are copied from: a second open file
  // description of the run's file, private to this source (ReopenForReading),
  // so that every worker has its own read-ahead state and the kernel sees
  // one sequential reader per worker (advised POSIX_FADV_SEQUENTIAL: a
  // larger read-ahead window). Two workers sharing the inherited descriptor
  // took 0.47-1.08 s for a cold 2 GB scan, their own 0.40-0.59 s
  // (docs/BENCHMARKS.md, "Copied windows"). The run's descriptor when the
  // file cannot be reopened so.
  int ReadDescriptor() {
    if (!own_tried_) {
      own_tried_ = true;
      own_ = ReopenForReading(file_->get());
      if (own_.valid()) (void)::posix_fadvise(own_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return own_.valid() ? own_.get() : file_->get();
  }

  std::shared_ptr<FileDescriptor> file_;
  std::string name_;
  uint64_t item_;
  uint64_t min_file_bytes_;
  int64_t scan_end_ = 0;  // WillRead's end: read-ahead stops there
  FileDescriptor own_;    // ReadDescriptor's
  bool own_tried_ = false;
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
