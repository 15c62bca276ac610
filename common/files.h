// Owners of operating-system resources: file descriptors, mapped regions,
// and outputs that appear atomically.
//
// FileDescriptor and MappedRegion are move-only and release in their
// destructors. Mappings use Boost.Interprocess (file_mapping/mapped_region),
// which handles offsets that are not page-aligned. TempOutput is a file
// written under a temporary name beside its target and renamed over it by
// Commit(); destroyed uncommitted, it removes itself, so a failed or
// interrupted run leaves no partial output (SPEC §5).
#pragma once

#include <sys/types.h>

#include <boost/interprocess/mapped_region.hpp>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace mm {

class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& o) noexcept : fd_(o.release()) {}
  FileDescriptor& operator=(FileDescriptor&& o) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor();

  // open(2) with O_CLOEXEC; errors through FromErrno(errno, path, otherwise).
  static Result<FileDescriptor> Open(const std::string& path, int flags, mode_t mode, Code otherwise);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// A mapped byte range of a file. data() points at the requested offset.
class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(MappedRegion&&) = default;
  MappedRegion& operator=(MappedRegion&&) = default;

  // Maps [offset, offset + size) of `path`. size must be > 0. Errors name
  // the path. Writable regions are populated (MAP_POPULATE); read-only ones
  // are left to Populate() or to the page faults of the first touches, which
  // map cached pages several at a time and cost less than populating them
  // (docs/BENCHMARKS.md).
  static Result<MappedRegion> Map(const std::string& path, bool writable, uint64_t offset, uint64_t size,
                                  Code otherwise);

  char* data() const { return static_cast<char*>(region_.get_address()); }
  uint64_t size() const { return region_.get_size(); }
  void AdviseSequential() { region_.advise(boost::interprocess::mapped_region::advice_sequential); }
  // Whether the region's pages look cached: mincore(2) on a few pages
  // spread over it (no I/O). A hint; false when unsure.
  bool LooksResident() const;
  // Faults every page in with one call (MADV_POPULATE_READ): for pages that
  // must come from disk, its large sequential reads beat a fault per
  // read-ahead window. A no-op on kernels without it.
  void Populate();
  // msync of the whole region; kIoErr naming `what` on failure.
  Status Flush(const std::string& what);

 private:
  boost::interprocess::mapped_region region_;
};

// The folder part of a path ("." for a bare name), and absolute resolution
// of `path` against `base_dir` when it is relative.
std::string DirName(const std::string& path);
std::string ResolvePath(const std::string& base_dir, const std::string& path);
std::string AbsolutePath(const std::string& path);

// A file created as DIR/.NAME.mmrun-tmp-XXXXXX beside `target` (mode 0644
// minus umask) and renamed over target by Commit().
class TempOutput {
 public:
  TempOutput() = default;
  TempOutput(TempOutput&& o) noexcept { *this = std::move(o); }
  TempOutput& operator=(TempOutput&& o) noexcept;
  TempOutput(const TempOutput&) = delete;
  TempOutput& operator=(const TempOutput&) = delete;
  ~TempOutput();

  // Errors: kCantCreate (or kNoPerm) naming the target.
  static Result<TempOutput> Create(const std::string& target);
  const std::string& temp_path() const { return temp_path_; }
  const std::string& target() const { return target_; }
  int fd() const { return fd_.get(); }
  // Reserves `bytes` with posix_fallocate and sets the size; ENOSPC -> kCantCreate.
  Status Reserve(uint64_t bytes);
  Status Write(const std::string& bytes);
  // fsync, rename over the target, fsync the folder.
  Status Commit();

 private:
  FileDescriptor fd_;
  std::string temp_path_;
  std::string target_;
  bool committed_ = false;
};

// TempOutput::Create + Write + Commit.
Status WriteFileAtomically(const std::string& target, const std::string& contents);

// Size of the file at `path` by stat(2); errors through FromErrno(kIoErr).
Result<uint64_t> FileSize(const std::string& path);

}  // namespace mm
