#include "source/dataset.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "io/files.h"
#include "source/raw/raw_format.h"
#include "source/raw/raw_source.h"
#include "source/registry.h"

namespace mm {

namespace {

Status KeyError(const std::string& key, const std::string& why) {
  return Error(Code::kConfig, "config key 'dataset." + key + "': " + why);
}

// Mode w+: a file generate creates, raw, .npy or HDF5 by its name (SPEC §7
// "HDF5 outputs"); its layout comes from the config alone.
Result<Dataset> DescribeCreated(const DatasetSpec& spec) {
  Dataset d;
  d.path = spec.path;
  d.mode = spec.mode;
  const Format* named = FindFormat(spec.format);
  const bool hdf5_named = named != nullptr && named->inspect != nullptr;
  const bool hdf5 = HasHdf5OutputExtension(spec.path);
  if (HasHdf5Extension(spec.path) && !hdf5)  // .nc
    return KeyError("path",
                    "names a netCDF file (.nc): generate writes HDF5 (.h5, .hdf5), .npy or raw "
                    "files, and netCDF-4 readers need dimensions it does not write");
  if (hdf5_named && !hdf5)
    return KeyError("format", "is " + spec.format +
                                  ", but generate writes HDF5 only to a path ending in .h5 or "
                                  ".hdf5");
  if (hdf5 && named != nullptr && !hdf5_named)
    return KeyError("format",
                    "is " + spec.format + ", but the path names an HDF5 file (.h5, .hdf5)");
  if (!hdf5) {
    if (spec.name) return KeyError("name", "only for HDF5 files (.h5, .hdf5)");
    if (!spec.hdf5_output.empty())
      return KeyError(spec.hdf5_output.begin().key(), "applies to HDF5 files (.h5, .hdf5) only");
    MM_RETURN_IF_ERROR(DescribeNew(spec, &d));
    return d;
  }
  if (spec.order && *spec.order != 'C')
    return KeyError("order", "must be \"C\" for an HDF5 file (HDF5 stores C order)");
  if (spec.offset && *spec.offset != 0)
    return KeyError("offset", "not allowed for an HDF5 file (libhdf5 places the data)");
  DatasetSpec raw = spec;
  raw.format = "raw";
  MM_RETURN_IF_ERROR(DescribeNew(raw, &d));
  d.format = "hdf5";
  d.hdf5_output = spec.hdf5_output;
  if (spec.name) d.hdf5_output["output_name"] = *spec.name;
  return d;
}

Result<Dataset> Open(const DatasetSpec& spec) {
  Dataset d;
  d.path = spec.path;
  d.mode = spec.mode;
  if (spec.mode == "w+") return DescribeCreated(spec);
  struct stat st;
  MM_ASSIGN_OR_RETURN(FileDescriptor fd,
                      OpenRegularFile(spec.path, spec.mode == "r+" ? O_RDWR : O_RDONLY,
                                      Code::kIoErr, Code::kNoInput, &st));
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
  if (format->inspect == nullptr) {  // keys of formats holding named arrays (HDF5)
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

// The registry's first format that describes itself (has a probe).
const Format& FirstSelfDescribing() {
  for (const Format& f : Formats())
    if (f.probe != nullptr) return f;
  return Formats().front();  // unreachable: .npy has a probe
}

}  // namespace

Result<Dataset> OpenDataset(const DatasetSpec& spec) { return Open(spec); }

Result<Dataset> InspectFile(const std::string& path, const DatasetSpec& hints) {
  DatasetSpec spec = hints;
  spec.path = path;
  spec.mode = "r";
  if (spec.dtype && !spec.shape) spec.shape = std::vector<int64_t>{-1};
  if (!spec.dtype && !DescribesItself(spec.format)) {
    // Probe: a file that describes itself (a .npy) is described by the
    // format its bytes name; anything else is bytes. The self-describing
    // format tried when none is named is the registry's first.
    const Format* own = RecognizeFile(path);
    Result<Dataset> probe = [&]() -> Result<Dataset> {
      DatasetSpec p = spec;
      p.format = own != nullptr ? own->name : FirstSelfDescribing().name;
      return Open(p);
    }();
    if (probe.ok() || probe.status().code() == Code::kNoInput ||
        probe.status().code() == Code::kNoPerm || spec.shape || own != nullptr)
      return probe;  // a self-describing file's own error is the real reason
    spec.dtype = "u1";
    MM_ASSIGN_OR_RETURN(uint64_t size, FileSize(path));
    const uint64_t off = spec.offset.value_or(0);
    spec.shape = std::vector<int64_t>{static_cast<int64_t>(size > off ? size - off : 0)};
    if (size <= off) return Error(Code::kDataErr, path + ": no data after the offset");
  }
  return Open(spec);
}

Result<std::optional<Json>> InspectContainer(const std::string& path, const DatasetSpec& hints) {
  struct stat st;
  MM_ASSIGN_OR_RETURN(FileDescriptor fd,
                      OpenRegularFile(path, O_RDONLY, Code::kIoErr, Code::kNoInput, &st));
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

// The registry entry of a described dataset whose file exists (not mode
// w+): the one whose optional checks apply; nullptr otherwise.
const Format* ExistingFormat(const Dataset& d) {
  return d.mode == "w+" ? nullptr : FindFormat(d.format);
}

}  // namespace

Status CheckRows(const Dataset& d, bool growing) {
  const Format* f = ExistingFormat(d);
  return f != nullptr && f->check_rows != nullptr ? f->check_rows(d, growing) : Status::OK();
}

std::vector<std::string> LayoutWarnings(const Dataset& d, bool growing) {
  const Format* f = ExistingFormat(d);
  if (f == nullptr || f->warnings == nullptr || d.layout.shape.empty()) return {};
  return f->warnings(d, growing);
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
  if (!d.name.empty()) {  // SPEC §7 (HDF5): which dataset, and how it is stored
    j["name"] = d.name;
    j["layout"] = d.storage;
    j["chunks"] = d.chunks.empty() ? Json(nullptr) : Json(d.chunks);
    j["cf"] = d.cf.decoded ? d.cf.report : Json{{"decoded", false}};
  }
  return j;
}

Json CfDecodingJson(const CfDecoding& cf) {
  if (!cf.decoded) return Json{{"decoded", false}};
  return Json{{"decoded", true},
              {"stored", cf.stored.descr()},
              {"as_unsigned", cf.as_unsigned},
              {"equal", cf.equal},
              {"has_min", cf.has_min},
              {"has_max", cf.has_max},
              {"valid_min", cf.valid_min},
              {"valid_max", cf.valid_max},
              {"op", cf.op},
              {"multiply_kind", static_cast<int>(cf.multiply_kind)},
              {"scale", JsonNumber(cf.scale)},  // NaN and infinities too
              {"offset", JsonNumber(cf.offset)},
              {"report", cf.report}};
}

Result<CfDecoding> CfDecodingFromJson(const Json& j) {
  CfDecoding cf;
  try {
    cf.decoded = j.at("decoded").get<bool>();
    if (!cf.decoded) return cf;
    MM_ASSIGN_OR_RETURN(cf.stored, ParseDType(j.at("stored").get<std::string>()));
    cf.as_unsigned = j.at("as_unsigned").get<bool>();
    cf.equal = j.at("equal").get<std::vector<uint64_t>>();
    cf.has_min = j.at("has_min").get<bool>();
    cf.has_max = j.at("has_max").get<bool>();
    cf.valid_min = j.at("valid_min").get<uint64_t>();
    cf.valid_max = j.at("valid_max").get<uint64_t>();
    cf.op = j.at("op").get<int>();
    const int mk = j.at("multiply_kind").get<int>();
    cf.multiply_kind = static_cast<Kind>(mk);
    MM_ASSIGN_OR_RETURN(cf.scale, JsonToDouble(j.at("scale")));
    MM_ASSIGN_OR_RETURN(cf.offset, JsonToDouble(j.at("offset")));
    cf.report = j.at("report");
    if (cf.op < CfDecoding::kConvert || cf.op > CfDecoding::kOffset ||
        (cf.multiply_kind != Kind::kFloat32 && cf.multiply_kind != Kind::kFloat64))
      return Error(Code::kDataErr, "plan: malformed dataset: bad cf decoding");
  } catch (const nlohmann::json::exception& e) {
    return Error(Code::kDataErr, std::string("plan: malformed dataset cf: ") + e.what());
  }
  return cf;
}

namespace {

// Whether the file name of `path` ends (any case) in one of `exts`, after
// at least one character.
bool HasExtension(const std::string& path, std::initializer_list<const char*> exts) {
  std::string lower = path.substr(path.find_last_of('/') + 1);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* ext : exts) {
    const size_t n = std::strlen(ext);
    if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
  }
  return false;
}

}  // namespace

bool HasHdf5Extension(const std::string& path) {
  return HasExtension(path, {".h5", ".hdf5", ".nc"});
}

bool HasHdf5OutputExtension(const std::string& path) {
  return HasExtension(path, {".h5", ".hdf5"});
}

Partition PartitionOf(const Dataset& d) {
  Layout stored = d.layout;
  if (d.cf.decoded) stored.dtype = d.cf.stored;
  if (d.chunks.empty()) return Partition(stored);
  const int item = std::max(stored.dtype.itemsize(), d.layout.dtype.itemsize());
  return Partition(stored, ChunkBlockShape(d.chunks, static_cast<uint64_t>(item)));
}

}  // namespace mm
