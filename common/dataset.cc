#include "common/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/files.h"
#include "common/npy.h"

namespace mm {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status Contradiction(const std::string& key, const std::string& path, const std::string& config_value,
                     const std::string& header_value) {
  return Error(Code::kConfig, "config key 'dataset." + key + "': " + config_value +
                                  " contradicts the .npy header of " + path + " (" + header_value + ")");
}

// Layout of a .npy dataset: the header rules; config keys may only agree.
Status NpyLayout(const DatasetSpec& spec, const NpyHeader& h, Dataset* d) {
  if (spec.dtype) {
    MM_ASSIGN_OR_RETURN(DType want, ParseDType(*spec.dtype));
    if (want != h.dtype) return Contradiction("dtype", d->path, *spec.dtype, h.dtype.descr());
  }
  if (spec.order && *spec.order != (h.fortran_order ? 'F' : 'C'))
    return Contradiction("order", d->path, std::string(1, *spec.order), h.fortran_order ? "F" : "C");
  if (spec.offset && *spec.offset != h.header_bytes)
    return Contradiction("offset", d->path, std::to_string(*spec.offset), std::to_string(h.header_bytes));
  if (h.shape.empty()) return Error(Code::kDataErr, d->path + ": 0-d arrays are not supported");
  for (int64_t n : h.shape)
    if (n == 0) return Error(Code::kDataErr, d->path + ": the array is empty (shape " + ShapeString(h.shape) + ")");
  if (spec.shape) {
    bool agree = spec.shape->size() == h.shape.size();
    for (size_t i = 0; agree && i < h.shape.size(); ++i)
      agree = (*spec.shape)[i] == h.shape[i] || (*spec.shape)[i] == -1;
    if (!agree) return Contradiction("shape", d->path, ShapeString(*spec.shape), ShapeString(h.shape));
  }
  d->format = "npy";
  d->npy_major = h.major;
  d->npy_minor = h.minor;
  d->layout.dtype = h.dtype;
  d->layout.order = h.fortran_order ? 'F' : 'C';
  d->layout.offset = h.header_bytes;
  d->shape_spec = h.shape;
  if (d->file_bytes < h.header_bytes)
    return Error(Code::kDataErr, d->path + ": malformed .npy header: file ends inside the header");
  return ResolveShape(h.shape, d->file_bytes - h.header_bytes, &d->layout).WithContext(d->path);
}

Status RawLayout(const DatasetSpec& spec, Dataset* d) {
  if (!spec.dtype) return Error(Code::kConfig, "config key 'dataset.dtype': is required for raw file " + d->path);
  if (!spec.shape) return Error(Code::kConfig, "config key 'dataset.shape': is required for raw file " + d->path);
  MM_ASSIGN_OR_RETURN(d->layout.dtype, ParseDType(*spec.dtype));
  d->format = "raw";
  d->layout.order = spec.order.value_or('C');
  d->layout.offset = spec.offset.value_or(0);
  d->shape_spec = *spec.shape;
  if (d->mode == "w+") {
    for (int64_t n : *spec.shape)
      if (n == -1) return Error(Code::kConfig, "config key 'dataset.shape': -1 is not allowed with mode w+");
    MM_RETURN_IF_ERROR(ResolveShape(*spec.shape, UINT64_MAX / 2, &d->layout));
    d->layout.trailing_bytes = 0;
    return Status::OK();
  }
  if (d->file_bytes < d->layout.offset) {
    return Error(Code::kDataErr, d->path + ": file too small: " + std::to_string(d->file_bytes) +
                                     " bytes, less than the offset " + std::to_string(d->layout.offset));
  }
  return ResolveShape(*spec.shape, d->file_bytes - d->layout.offset, &d->layout).WithContext(d->path);
}

Result<Dataset> Open(const DatasetSpec& spec) {
  Dataset d;
  d.path = spec.path;
  d.mode = spec.mode;
  if (spec.mode == "w+") {
    const bool npy = spec.format == "npy" || (spec.format == "auto" && EndsWith(spec.path, ".npy"));
    if (!spec.dtype) return Error(Code::kConfig, "config key 'dataset.dtype': is required with mode w+");
    if (!spec.shape) return Error(Code::kConfig, "config key 'dataset.shape': is required with mode w+");
    if (npy && spec.offset && *spec.offset != 0)
      return Error(Code::kConfig, "config key 'dataset.offset': not allowed for a .npy file");
    MM_RETURN_IF_ERROR(RawLayout(spec, &d));
    if (npy) {
      d.format = "npy";
      d.npy_major = 1;
      const std::string header = BuildNpyHeader(d.layout.dtype, d.layout.shape, d.layout.order == 'F');
      d.npy_major = static_cast<unsigned char>(header[6]);
      d.layout.offset = header.size();
    }
    d.file_bytes = d.layout.offset + d.layout.data_bytes();
    return d;
  }
  // O_NONBLOCK: a FIFO or device given as the dataset must not block the open.
  MM_ASSIGN_OR_RETURN(
      FileDescriptor fd,
      FileDescriptor::Open(spec.path, (spec.mode == "r+" ? O_RDWR : O_RDONLY) | O_NONBLOCK, 0,
                           Code::kIoErr));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FromErrno(errno, spec.path, Code::kIoErr);
  if (!S_ISREG(st.st_mode)) return Error(Code::kNoInput, spec.path + ": not a regular file");
  d.file_bytes = static_cast<uint64_t>(st.st_size);
  d.dev = static_cast<uint64_t>(st.st_dev);
  d.ino = static_cast<uint64_t>(st.st_ino);
  char magic[6] = {0};
  const ssize_t got = ::pread(fd.get(), magic, sizeof magic, 0);
  if (got < 0) return FromErrno(errno, spec.path, Code::kIoErr);
  const bool has_magic = HasNpyMagic(std::string_view(magic, static_cast<size_t>(got)));
  if (spec.format == "npy" || (spec.format == "auto" && has_magic)) {
    MM_ASSIGN_OR_RETURN(NpyHeader h, ReadNpyHeader(fd.get(), spec.path));
    MM_RETURN_IF_ERROR(NpyLayout(spec, h, &d));
  } else {
    MM_RETURN_IF_ERROR(RawLayout(spec, &d));
  }
  d.file = std::make_shared<FileDescriptor>(std::move(fd));
  return d;
}

}  // namespace

Result<Dataset> OpenDataset(const DatasetSpec& spec) { return Open(spec); }

Result<Dataset> InspectFile(const std::string& path, const DatasetSpec& hints) {
  DatasetSpec spec = hints;
  spec.path = path;
  spec.mode = "r";
  if (spec.dtype && !spec.shape) spec.shape = std::vector<int64_t>{-1};
  if (!spec.dtype && spec.format != "npy") {
    // Probe: a .npy describes itself; anything else is bytes.
    Result<Dataset> probe = [&]() -> Result<Dataset> {
      DatasetSpec p = spec;
      p.format = "npy";
      return Open(p);
    }();
    if (probe.ok() || probe.status().code() == Code::kNoInput ||
        probe.status().code() == Code::kNoPerm || spec.shape ||
        FileHasNpyMagic(path))  // a .npy's own error, not a guess as bytes
      return probe;
    spec.dtype = "u1";
    MM_ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
    const uint64_t off = spec.offset.value_or(0);
    spec.shape = std::vector<int64_t>{static_cast<int64_t>(size > off ? size - off : 0)};
    if (size <= off) return Error(Code::kDataErr, path + ": no data after the offset");
  }
  return Open(spec);
}

Status CheckNotShrunk(const Dataset& d) {
  if (d.fd() < 0) return Status::OK();
  struct stat st;
  if (::fstat(d.fd(), &st) != 0) return FromErrno(errno, d.path, Code::kIoErr);
  if (static_cast<uint64_t>(st.st_size) >= d.file_bytes) return Status::OK();
  return Error(Code::kIoErr, d.path + ": the file shrank under the run (" +
                                 std::to_string(st.st_size) + " bytes, " +
                                 std::to_string(d.file_bytes) + " when the run started)");
}

Status AdoptDatasetFd(Dataset* d, int fd) {
  FileDescriptor owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return FromErrno(errno, d->path + ": the descriptor passed by the coordinator", Code::kIoErr);
  if (static_cast<uint64_t>(st.st_dev) != d->dev || static_cast<uint64_t>(st.st_ino) != d->ino)
    return Error(
        Code::kIoErr,
        d->path + ": the descriptor passed by the coordinator is not the file the run opened");
  d->file = std::make_shared<FileDescriptor>(std::move(owned));
  return Status::OK();
}

Json DatasetJson(const Dataset& d) {
  Json j = Json::object();
  j["path"] = d.path;
  j["format"] = d.format;
  j["dtype"] = d.layout.dtype.descr();
  j["shape"] = d.layout.shape;
  j["order"] = std::string(1, d.layout.order);
  j["offset"] = d.layout.offset;
  j["trailing_bytes"] = d.layout.trailing_bytes;
  return j;
}

}  // namespace mm
