#include "source/raw/raw_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "source/buffer_window.h"

namespace mm {

namespace {

// A writable window: whole blocks read into a buffer (adjacent in it) and
// kept as read in a second buffer; Close() writes back the file's pages
// whose bytes the caller changed, and no other page: a window nothing
// changed in writes nothing (a transform that changes nothing leaves the
// file untouched), and a page another process wrote meanwhile is not
// overwritten unless this window changed it too. Mapping the file instead
// cost a fault per page: 2 GB transformed in 7.6 s, 1.1 s so on this kind
// of VM (docs/BENCHMARKS.md, session 15).
class WriteBackWindow : public Window {
 public:
  WriteBackWindow(int64_t first, std::shared_ptr<SpareBuffer> spare,
                  std::shared_ptr<SpareBuffer> original_spare, WindowBuffer buffer,
                  WindowBuffer original, std::vector<char*> blocks, int fd, std::string name,
                  uint64_t offset, uint64_t bytes, uint64_t min_file_bytes)
      : Window(first, /*writable=*/true),
        spare_(std::move(spare)),
        original_spare_(std::move(original_spare)),
        buffer_(std::move(buffer)),
        original_(std::move(original)),
        fd_(fd),
        name_(std::move(name)),
        offset_(offset),
        bytes_(bytes),
        min_file_bytes_(min_file_bytes) {
    blocks_ = std::move(blocks);
    contiguous_ = buffer_.data();  // not owned(): what changes in it is written to the file
  }
  ~WriteBackWindow() override {
    spare_->Give(std::move(buffer_));
    original_spare_->Give(std::move(original_));
  }

  // Writes each run of changed pages with one pwrite and starts their
  // writeback (durable after Source::SyncWrites). The file must still hold
  // the array before anything is written: a pwrite past a shrunk end would
  // grow it again.
  Status Close() override {
    MM_RETURN_IF_ERROR(CheckFileNotShrunk(fd_, name_, min_file_bytes_));
    constexpr uint64_t kPage = 4096;
    const char* now = buffer_.data();
    const char* was = original_.data();
    uint64_t run_begin = 0, run_end = 0;  // pending changed pages, as window offsets
    const auto flush = [&]() -> Status {
      if (run_end == run_begin) return Status::OK();
      MM_RETURN_IF_ERROR(PwriteFull(fd_, now + run_begin, run_end - run_begin, offset_ + run_begin,
                                    name_ + ": write", Code::kIoErr));
      run_begin = run_end = 0;
      return Status::OK();
    };
    for (uint64_t p = 0; p < bytes_;) {
      // Window offsets that end on the file's pages.
      const uint64_t q = std::min(bytes_, (offset_ + p) / kPage * kPage + kPage - offset_);
      if (std::memcmp(now + p, was + p, q - p) != 0) {
        if (run_end != p) MM_RETURN_IF_ERROR(flush());
        if (run_end == run_begin) run_begin = p;
        run_end = q;
      }
      p = q;
    }
    MM_RETURN_IF_ERROR(flush());
    if (::sync_file_range(fd_, static_cast<off_t>(offset_), static_cast<off_t>(bytes_),
                          SYNC_FILE_RANGE_WRITE) != 0)
      return FromErrno(errno, name_ + ": sync_file_range", Code::kIoErr);
    return CheckFileNotShrunk(fd_, name_, min_file_bytes_);
  }

 private:
  std::shared_ptr<SpareBuffer> spare_, original_spare_;
  WindowBuffer buffer_, original_;
  int fd_;  // the source's writable descriptor: the source outlives its windows
  std::string name_;
  uint64_t offset_, bytes_;  // the window's bytes in the file
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
    const uint64_t bytes = (end - begin) * item_;
    WindowBuffer buffer = spare_->Take(bytes);
    MM_RETURN_IF_ERROR(Read(ByteOffset(begin), bytes, buffer.data()));
    for (int64_t k = 0; k < n; ++k)
      blocks[static_cast<size_t>(k)] =
          buffer.data() + (part.block_begin(first + k) - begin) * item_;
    if (writable) {
      WindowBuffer original = original_spare_->Take(bytes);
      std::memcpy(original.data(), buffer.data(), bytes);
      return std::unique_ptr<Window>(std::make_unique<WriteBackWindow>(
          first, spare_, original_spare_, std::move(buffer), std::move(original), std::move(blocks),
          file_->get(), name_, ByteOffset(begin), bytes, min_file_bytes_));
    }
    return std::unique_ptr<Window>(std::make_unique<BufferWindow>(
        first, spare_, std::move(buffer), std::move(blocks), /*contiguous=*/true));
  }

  // Parts of blocks of whole rows (stats' tiles of a time mean): each
  // part's runs read alone, one pread a row.
  bool ReadsParts() const override {
    return partition().rows_per_block() > 0 && layout().order == 'C';
  }
  Result<std::unique_ptr<Window>> ReadParts(int64_t first, const std::vector<Box>& parts) override {
    uint64_t total = 0;
    for (const Box& p : parts) total += p.elements() * item_;
    WindowBuffer buffer = spare_->Take(std::max<uint64_t>(total, 1));
    std::vector<char*> blocks(parts.size());
    char* at = buffer.data();
    for (size_t k = 0; k < parts.size(); ++k) {
      blocks[k] = at;
      Status st;
      ForEachBoxRun(layout(), parts[k], [&](uint64_t data, uint64_t sbegin, uint64_t len) {
        if (st.ok()) st = Read(ByteOffset(sbegin), len * item_, at + data * item_);
      });
      MM_RETURN_IF_ERROR(st);
      at += parts[k].elements() * item_;
    }
    return std::unique_ptr<Window>(std::make_unique<BufferWindow>(
        first, spare_, std::move(buffer), std::move(blocks), /*contiguous=*/false));
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
  std::shared_ptr<SpareBuffer> original_spare_ = std::make_shared<SpareBuffer>();  // writes only
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
