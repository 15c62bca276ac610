#include "source/hdf5/hdf5_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "source/hdf5/hdf5_format.h"
#include "source/hdf5/hdf5_library.h"
#include "source/raw/raw_source.h"

namespace mm {

namespace {

herr_t CollectMessage(unsigned /*n*/, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::vector<std::string>*>(data);
  if (e->desc != nullptr && e->desc[0] != '\0') out->push_back(e->desc);
  return 0;
}

}  // namespace

namespace {

herr_t FindMinor(unsigned /*n*/, const H5E_error2_t* e, void* data) {
  auto* want = static_cast<std::pair<hid_t, bool>*>(data);
  if (e->min_num == want->first) want->second = true;
  return 0;
}

// Whether the current error stack holds the minor error `minor` (leaves
// the stack as it is).
bool Hdf5StackHas(hid_t minor) {
  std::pair<hid_t, bool> want(minor, false);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, FindMinor, &want);
  return want.second;
}

}  // namespace

std::string Hdf5ErrorText() {
  std::vector<std::string> messages;  // outermost (the API call) first
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, CollectMessage, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "";
  // The innermost message says what went wrong ("data error detected by
  // Fletcher32 checksum", "truncated file: eof = ..."); the one above it
  // usually says where.
  std::string text = messages.back();
  if (messages.size() >= 2 && messages[messages.size() - 2] != text)
    text += " (" + messages[messages.size() - 2] + ")";
  return text;
}

Status Hdf5Error(Code code, const std::string& what) {
  const std::string why = Hdf5ErrorText();
  return Error(code, why.empty() ? what : what + ": " + why);
}

Status Hdf5WriteError(Code otherwise, const std::string& what) {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, CollectMessage, &messages);
  for (const std::string& m : messages) {
    const size_t at = m.find("errno = ");
    if (at == std::string::npos) continue;
    const int err = std::atoi(m.c_str() + at + 8);
    if (err <= 0) continue;
    H5Eclear2(H5E_DEFAULT);
    return FromErrno(err, what, err == ENOSPC || err == EDQUOT ? Code::kCantCreate : otherwise);
  }
  return Hdf5Error(otherwise, what);
}

namespace {

// fstat of the descriptor behind an open HDF5 file (sec2 driver).
Status StatOfHdf5File(hid_t file, const std::string& name, struct stat* st) {
  Hid fapl(H5Fget_access_plist(file), H5Pclose);
  void* handle = nullptr;
  if (!fapl.valid() || H5Fget_vfd_handle(file, fapl.get(), &handle) < 0 || handle == nullptr)
    return Hdf5Error(Code::kIoErr, name + ": cannot check the file HDF5 opened");
  if (::fstat(*static_cast<int*>(handle), st) != 0) return FromErrno(errno, name, Code::kIoErr);
  return Status::OK();
}

}  // namespace

Result<Hid> OpenHdf5File(int fd, const std::string& name, uint64_t dev, uint64_t ino,
                         uint64_t recorded_bytes) {
  Hdf5Quiet();
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0 ||
      H5Pset_fapl_sec2(fapl.get()) < 0)
    return Hdf5Error(Code::kIoErr, name + ": cannot set up HDF5 file access");
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  struct stat st;
  if (::stat(proc.c_str(), &st) != 0)
    return FromErrno(errno, name + ": reading HDF5 needs " + proc, Code::kIoErr);
  Hid file(H5Fopen(proc.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.valid()) {
    // libhdf5's file locking (1.10+): another process holds the file open
    // for writing. Temporary (SPEC §5); HDF5_USE_FILE_LOCKING=FALSE in the
    // environment turns the locking off (libhdf5 reads it itself).
    if (Hdf5StackHas(H5E_CANTLOCKFILE))
      return Hdf5Error(Code::kLocked, name +
                                          ": another process has it open for writing (HDF5 "
                                          "file lock); try again when it has closed the file");
    // A file cut short since the run measured it is an I/O error, not a
    // bad file.
    const Status st = CheckFileNotShrunk(fd, name, recorded_bytes);
    if (!st.ok()) {
      H5Eclear2(H5E_DEFAULT);
      return st;
    }
    return Hdf5Error(Code::kDataErr, name + ": not a readable HDF5 file");
  }
  MM_RETURN_IF_ERROR(StatOfHdf5File(file.get(), name, &st));
  if (static_cast<uint64_t>(st.st_dev) != dev || static_cast<uint64_t>(st.st_ino) != ino)
    return Error(Code::kIoErr, name + ": HDF5 opened another file than the run's");
  return file;
}

Result<bool> Hdf5InFile(hid_t obj, uint64_t dev, uint64_t ino, const std::string& name) {
  Hid file(H5Iget_file_id(obj), H5Fclose);
  if (!file.valid()) return Hdf5Error(Code::kIoErr, name + ": cannot find an object's file");
  struct stat st;
  MM_RETURN_IF_ERROR(StatOfHdf5File(file.get(), name, &st));
  return static_cast<uint64_t>(st.st_dev) == dev && static_cast<uint64_t>(st.st_ino) == ino;
}

Result<Hid> OpenH5Dataset(hid_t file, const std::string& path, const std::string& folder,
                          const std::string& name) {
  // The prefixes before the first open: libhdf5 refuses to open a dataset
  // that is already open (a second source over it in one process: cov's
  // column reads) with other prefixes than its open one's.
  Hid dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  if (!dapl.valid() || H5Pset_efile_prefix(dapl.get(), folder.c_str()) < 0 ||
      H5Pset_virtual_prefix(dapl.get(), folder.c_str()) < 0)
    return Hdf5Error(Code::kIoErr, name + ": cannot set up HDF5 dataset access");
  Hid probe(H5Dopen2(file, path.c_str(), dapl.get()), H5Dclose);
  if (!probe.valid())
    return Hdf5Error(Code::kConfig, name + ": cannot open dataset '" + path + "'");
  Hid dcpl(H5Dget_create_plist(probe.get()), H5Pclose);
  Hid type(H5Dget_type(probe.get()), H5Tclose);
  if (!dcpl.valid() || !type.valid())
    return Hdf5Error(Code::kDataErr, name + ": dataset '" + path + "'");
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    const int rank = H5Pget_chunk(dcpl.get(), 0, nullptr);
    std::vector<hsize_t> dims(static_cast<size_t>(rank > 0 ? rank : 0));
    if (rank > 0 && H5Pget_chunk(dcpl.get(), rank, dims.data()) == rank) {
      uint64_t bytes = H5Tget_size(type.get());
      for (hsize_t n : dims) bytes *= static_cast<uint64_t>(n);
      // A prime number of slots, well above the chunks that fit.
      if (H5Pset_chunk_cache(dapl.get(), 521, Hdf5ChunkCacheBytes(bytes), 1.0) < 0)
        return Hdf5Error(Code::kIoErr, name + ": cannot size the HDF5 chunk cache");
    }
  }
  probe.Reset();
  Hid dset(H5Dopen2(file, path.c_str(), dapl.get()), H5Dclose);
  if (!dset.valid())
    return Hdf5Error(Code::kDataErr, name + ": cannot open dataset '" + path + "'");
  return dset;
}

std::string PluginFolders() {
  unsigned n = 0;
  std::string text;
  if (H5PLsize(&n) >= 0)
    for (unsigned i = 0; i < n; ++i) {
      char buf[4096];
      if (H5PLget(i, buf, sizeof buf) > 0) text += (text.empty() ? "" : ":") + std::string(buf);
    }
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? "(none)" : text;
}

std::string MissingFilterText(hid_t dset) {
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  const int n = dcpl.valid() ? H5Pget_nfilters(dcpl.get()) : 0;
  std::string text;
  for (int i = 0; i < n && text.empty(); ++i) {
    unsigned flags = 0, config = 0;
    size_t nelmts = 0;
    char name[256] = {0};
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelmts,
                                           nullptr, sizeof name, name, &config);
    if (id < 0 || H5Zfilter_avail(id) > 0) continue;
    text = "needs filter '" +
           (name[0] != '\0' ? std::string(name) : "filter " + std::to_string(id)) + "' (id " +
           std::to_string(id) + "), which is not available: no plugin in " + PluginFolders() +
           " (HDF5_PLUGIN_PATH) provides it, or the one there could not be loaded (its own "
           "libraries missing)";
  }
  H5Eclear2(H5E_DEFAULT);
  return text;
}

}  // namespace mm
