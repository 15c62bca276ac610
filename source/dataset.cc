#include "source/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "core/npy.h"
#include "io/files.h"
#include "io/npy_file.h"
#include "source/raw/raw_format.h"
#include "source/raw/raw_source.h"
#include "source/registry.h"

namespace mm {

namespace {

Result<Dataset> Open(const DatasetSpec& spec) {
  Dataset d;
  d.path = spec.path;
  d.mode = spec.mode;
  if (spec.mode == "w+") {  // a file generate creates: raw, or .npy by its name
    if (spec.format == "hdf5" || spec.name)
      return Error(Code::kConfig,
                   "config key 'dataset.mode': w+ (generate) does not write HDF5 files yet");
    MM_RETURN_IF_ERROR(DescribeNew(spec, &d));
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
  const Format* format = FindFormat(spec.format);
  if (spec.format == "auto") {
    char first[kProbeBytes];
    const ssize_t got = ::pread(fd.get(), first, sizeof first, 0);
    if (got < 0) return FromErrno(errno, spec.path, Code::kIoErr);
    format = &ProbeFormat(std::string_view(first, static_cast<size_t>(got)), fd.get());
  }
  if (format == nullptr)
    return Error(Code::kConfig, "config key 'dataset.format': must be " + FormatChoices() +
                                    ", got '" + spec.format + "'");
  if (std::string(format->name) != "hdf5") {  // the HDF5-only keys
    if (spec.name)
      return Error(Code::kConfig, "config key 'dataset.name': only for HDF5 files; " + spec.path +
                                      " is " + format->name);
    if (spec.cf != "auto")
      return Error(Code::kConfig, "config key 'dataset.cf': only for HDF5 files; " + spec.path +
                                      " is " + format->name);
  }
  MM_RETURN_IF_ERROR(format->describe(spec, fd.get(), &d));
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
        probe.status().code() == Code::kNoPerm || spec.shape || FileHasNpyMagic(path))
      return probe;  // a .npy's own error is the real reason
    spec.dtype = "u1";
    MM_ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
    const uint64_t off = spec.offset.value_or(0);
    spec.shape = std::vector<int64_t>{static_cast<int64_t>(size > off ? size - off : 0)};
    if (size <= off) return Error(Code::kDataErr, path + ": no data after the offset");
  }
  return Open(spec);
}

Result<std::optional<Json>> InspectContainer(const std::string& path, const DatasetSpec& hints) {
  MM_ASSIGN_OR_RETURN(FileDescriptor fd,
                      FileDescriptor::Open(path, O_RDONLY | O_NONBLOCK, 0, Code::kIoErr));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FromErrno(errno, path, Code::kIoErr);
  if (!S_ISREG(st.st_mode)) return Error(Code::kNoInput, path + ": not a regular file");
  char first[kProbeBytes];
  const ssize_t got = ::pread(fd.get(), first, sizeof first, 0);
  if (got < 0) return FromErrno(errno, path, Code::kIoErr);
  const Format& format = ProbeFormat(std::string_view(first, static_cast<size_t>(got)), fd.get());
  if (format.inspect == nullptr) return std::optional<Json>();
  DatasetSpec spec = hints;
  spec.path = path;
  MM_ASSIGN_OR_RETURN(Json j, format.inspect(spec, fd.get()));
  return std::optional<Json>(std::move(j));
}

Status CheckNotShrunk(const Dataset& d) {
  if (d.fd() < 0) return Status::OK();
  return CheckFileNotShrunk(d.fd(), d.path, d.file_bytes);
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

namespace {

// "[a, b, c]" with axis `axis` replaced by `v` (the text of the value).
std::string ShapeWith(std::vector<int64_t> shape, size_t axis, int64_t v) {
  shape[axis] = v;
  return ShapeString(shape);
}

// Values near `v` (one below, one above; at most `span` away) for which
// `fits(value)` holds.
std::vector<int64_t> NearestFits(int64_t v, const std::function<bool(int64_t)>& fits) {
  const int64_t span = 100000;
  std::vector<int64_t> out;
  for (int64_t x = v - 1; x >= 1 && x >= v - span; --x)
    if (fits(x)) {
      out.push_back(x);
      break;
    }
  for (int64_t x = v + 1; x <= v + span; ++x)
    if (fits(x)) {
      out.push_back(x);
      break;
    }
  return out;
}

}  // namespace

Status CheckRows(const Dataset& d, bool growing) {
  if (growing || d.format != "raw" || d.mode == "w+" || d.layout.rows() > 0) return Status::OK();
  const uint64_t avail = d.file_bytes > d.layout.offset ? d.file_bytes - d.layout.offset : 0;
  return Error(Code::kDataErr,
               d.path + ": file holds " + std::to_string(avail) +
                   " bytes of data, less than one row of shape " + ShapeString(d.shape_spec) + " " +
                   d.layout.dtype.name() +
                   " (an append-only file not written yet is a run of 0 rows with --state)");
}

std::vector<std::string> LayoutWarnings(const Dataset& d, bool growing) {
  std::vector<std::string> out;
  const Layout& l = d.layout;
  // An HDF5 file says where its array is: no bytes are left unexplained.
  if (d.mode == "w+" || l.shape.empty() || d.format == "hdf5") return out;
  const std::string what = ShapeString(d.shape_spec) + " " + l.dtype.name();
  if (d.format == "npy") {
    if (l.trailing_bytes > 0)
      out.push_back(d.path + ": " + std::to_string(l.trailing_bytes) +
                    " bytes after the .npy array's data (shape " + ShapeString(l.shape) +
                    ") are ignored");
    return out;
  }
  const size_t row_axis = static_cast<size_t>(l.row_axis());
  const bool inferred = d.shape_spec[row_axis] == -1;
  // 0 rows: a growing file not written yet (else CheckRows refuses it).
  if (d.file_bytes < l.offset || l.rows() == 0) return out;
  const uint64_t avail = d.file_bytes - l.offset;
  const uint64_t item = static_cast<uint64_t>(l.dtype.itemsize());
  if (l.trailing_bytes == 0 || (inferred && growing)) return out;
  std::string text = d.path + ": shape " + what + " leaves " + std::to_string(l.trailing_bytes) +
                     " of the " + std::to_string(avail) + " data bytes unread";
  text += inferred ? " (a partial last row; numpy's reshape would refuse)"
                   : " (numpy's reshape would refuse)";
  std::vector<std::string> fits;
  // The row count that uses every byte with the same row shape.
  if (!inferred && avail % l.row_bytes() == 0)
    fits.push_back("shape " +
                   ShapeWith(d.shape_spec, row_axis, static_cast<int64_t>(avail / l.row_bytes())));
  // Row lengths near the configured one: vary the fastest axis of a row.
  const size_t fast = l.order == 'F' ? 0 : l.shape.size() - 1;
  if (fast != row_axis) {
    unsigned __int128 per_index = item;  // bytes of one row per index of `fast`
    for (size_t i = 0; i < l.shape.size(); ++i)
      if (i != row_axis && i != fast) per_index *= static_cast<uint64_t>(l.shape[i]);
    auto fit = [&](int64_t v) {
      const unsigned __int128 row = per_index * static_cast<uint64_t>(v);
      return inferred ? avail >= row && avail % row == 0
                      : row * static_cast<uint64_t>(l.rows()) == avail;
    };
    for (int64_t v : NearestFits(l.shape[fast], fit))
      fits.push_back("shape " + ShapeWith(d.shape_spec, fast, v));
  }
  // A header the offset does not skip: data ending at the end of the file.
  const uint64_t extra = inferred ? avail % l.row_bytes() : l.trailing_bytes;
  fits.push_back("offset " + std::to_string(l.offset + extra) +
                 " (if the file starts with a header of that size)");
  text += "; these would use every byte: ";
  for (size_t i = 0; i < fits.size(); ++i) text += (i ? ", or " : "") + fits[i];
  out.push_back(text);
  return out;
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
  if (d.format == "hdf5") {  // SPEC §7: which dataset, and how it is stored
    j["name"] = d.name;
    j["layout"] = d.storage;
    j["chunks"] = d.chunks.empty() ? Json(nullptr) : Json(d.chunks);
  }
  return j;
}

Partition PartitionOf(const Dataset& d) {
  return d.chunks.empty() ? Partition(d.layout) : Partition(d.layout, d.chunks);
}

}  // namespace mm
