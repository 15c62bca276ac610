#include "common/files.h"

#include "common/fault.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/file_mapping.hpp>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <random>
#include <vector>

namespace bip = boost::interprocess;

namespace mm {

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

Result<FileDescriptor> FileDescriptor::Open(const std::string& path, int flags, mode_t mode,
                                            Code otherwise) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return FromErrno(errno, path, otherwise);
  return FileDescriptor(fd);
}

Result<MappedRegion> MappedRegion::Map(const std::string& path, bool writable, uint64_t offset, uint64_t size,
                                       Code otherwise) {
  MappedRegion m;
  try {
    const bip::mode_t mode = writable ? bip::read_write : bip::read_only;
    bip::file_mapping file(path.c_str(), mode);
    m.region_ = bip::mapped_region(file, mode, static_cast<bip::offset_t>(offset), size, nullptr,
                                   writable ? MAP_POPULATE : 0);
  } catch (const bip::interprocess_exception& e) {
    const int err = e.get_native_error();
    if (err != 0) return FromErrno(err, path + ": cannot map", otherwise);
    return Error(otherwise, path + ": cannot map: " + e.what());
  }
  return m;
}

bool MappedRegion::LooksResident() const {
  constexpr uint64_t kProbes = 8;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t start = reinterpret_cast<uintptr_t>(data());
  const uint64_t bytes = size();
  if (bytes == 0) return true;
  for (uint64_t i = 0; i < kProbes; ++i) {
    const uintptr_t at = (start + bytes / kProbes * i) / page * page;
    unsigned char resident = 0;
    if (::mincore(reinterpret_cast<void*>(at), page, &resident) != 0 || (resident & 1) == 0) return false;
  }
  return true;
}

void MappedRegion::Populate() {
#ifdef MADV_POPULATE_READ
  if (size() == 0) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t start = reinterpret_cast<uintptr_t>(data()) / page * page;
  const uintptr_t end = reinterpret_cast<uintptr_t>(data()) + size();
  (void)::madvise(reinterpret_cast<void*>(start), end - start, MADV_POPULATE_READ);
#endif
}

Status MappedRegion::Flush(const std::string& what) {
  if (region_.get_size() == 0) return Status::OK();
  if (!region_.flush(0, 0, /*async=*/false)) return FromErrno(errno, what + ": msync", Code::kIoErr);
  return Status::OK();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

// Removes "." and "name/.." components and repeated slashes, lexically
// (symlinks are left alone, as the user wrote them).
std::string Normalize(const std::string& abs) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= abs.size()) {
    const size_t slash = abs.find('/', pos);
    const std::string part = abs.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

}  // namespace

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path[0] == '/') return Normalize(path);
  char buf[PATH_MAX];
  if (::getcwd(buf, sizeof buf) == nullptr) return path;
  return Normalize(std::string(buf) + "/" + path);
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (!path.empty() && path[0] == '/') return AbsolutePath(path);
  return AbsolutePath(base_dir == "." ? path : base_dir + "/" + path);
}

TempOutput& TempOutput::operator=(TempOutput&& o) noexcept {
  if (this != &o) {
    if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
    fd_ = std::move(o.fd_);
    temp_path_ = std::move(o.temp_path_);
    target_ = std::move(o.target_);
    committed_ = o.committed_;
    o.temp_path_.clear();
    o.committed_ = true;
  }
  return *this;
}

TempOutput::~TempOutput() {
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Result<TempOutput> TempOutput::Create(const std::string& target) {
  const std::string dir = DirName(target);
  const std::string base = target.substr(target.rfind('/') == std::string::npos ? 0 : target.rfind('/') + 1);
  std::random_device rd;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[17];
    snprintf(suffix, sizeof suffix, "%08x%08x", rd(), rd());
    std::string temp = dir + "/." + base + ".mmrun-tmp-" + suffix;
    int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) return FromErrno(errno, target + ": cannot create output", Code::kCantCreate);
    TempOutput out;
    out.fd_ = FileDescriptor(fd);
    out.temp_path_ = temp;
    out.target_ = target;
    return out;
  }
  return Error(Code::kCantCreate, target + ": cannot create a temporary file beside it");
}

Status TempOutput::Reserve(uint64_t bytes) {
  if (bytes == 0) return Status::OK();
  const int err = ::posix_fallocate(fd_.get(), 0, static_cast<off_t>(bytes));
  if (err != 0) return FromErrno(err, target_ + ": cannot reserve " + std::to_string(bytes) + " bytes", Code::kCantCreate);
  return Status::OK();
}

Status TempOutput::Write(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd_.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FromErrno(errno, target_ + ": write", Code::kCantCreate);
    done += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status TempOutput::Commit() {
  if (::fsync(fd_.get()) != 0) return FromErrno(errno, target_ + ": fsync", Code::kIoErr);
  if (FaultEnabled("rename_fail")) return FromErrno(EIO, target_ + ": cannot rename the output into place", Code::kCantCreate);
  if (::rename(temp_path_.c_str(), target_.c_str()) != 0)
    return FromErrno(errno, target_ + ": cannot rename the output into place", Code::kCantCreate);
  committed_ = true;
  FileDescriptor dir(::open(DirName(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());  // best effort: the data itself is already durable
  return Status::OK();
}

Status WriteFileAtomically(const std::string& target, const std::string& contents) {
  MM_ASSIGN_OR_RETURN(TempOutput out, TempOutput::Create(target));
  MM_RETURN_IF_ERROR(out.Write(contents));
  return out.Commit();
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FromErrno(errno, path, Code::kIoErr);
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace mm
