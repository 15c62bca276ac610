// The HDF5 driver's access to libhdf5 (internal to source/hdf5/): owned
// handles, opening the run's file safely, and turning HDF5's error stack
// into one Status line.
//
// Opening: the run's dataset is opened once, by OpenDataset (O_NONBLOCK,
// fstat checked, dev/ino recorded). libhdf5 opens files by name, so it is
// given "/proc/self/fd/N" of that descriptor (the same file even if the
// path was renamed over since), and the dev/ino of what it opened
// (H5Fget_vfd_handle, fstat) must equal the recorded ones. Files are opened
// read-only: a contiguous dataset's in-place writes go through the raw
// driver's mapping, never through libhdf5.
//
// Fork rule: libhdf5 is not fork-safe. Whoever opens a file closes every
// handle before the process forks (the coordinator: describe and inspect
// close all they opened before returning); every worker opens its own.
// H5F_CLOSE_STRONG makes closing the file close every object in it.
//
// Thread rules: libhdf5 (Debian's serial build) is used from one thread of
// a process only.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

#include "core/status.h"

namespace mm {

// An owned HDF5 identifier, closed by its class's close function in the
// destructor. Move-only.
class Hid {
 public:
  Hid() = default;
  Hid(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      Reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { Reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void Reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }
  // Gives up the identifier without closing it.
  hid_t Release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_ = -1;
  herr_t (*close_)(hid_t) = nullptr;
};

// The innermost messages of the current thread's HDF5 error stack, as
// "A (B)", or "" when the stack is empty. Clears the stack.
std::string Hdf5ErrorText();

// `what` + ": " + Hdf5ErrorText() (when there is one) as a Status of `code`.
Status Hdf5Error(Code code, const std::string& what);

// A failed write through libhdf5 (a chunk, the file's metadata): when the
// error stack holds the system's errno (libhdf5's file drivers report
// "errno = N" with a descriptor path and buffer address), `what` + ": " +
// strerror(N), kCantCreate for a full disk or quota (ENOSPC, EDQUOT) and
// `otherwise` for other errors; else Hdf5Error(otherwise, what). Clears
// the stack.
Status Hdf5WriteError(Code otherwise, const std::string& what);

// The folders libhdf5 loads filter plugins from, ':'-separated, for messages.
std::string PluginFolders();

// "needs filter 'NAME' (id N), which is not available: no plugin for it in
// FOLDERS (HDF5_PLUGIN_PATH)" for the first filter of dataset `dset`'s
// pipeline that libhdf5 cannot load, or "" when it can load them all.
// Loads the plugins it asks about. Clears the HDF5 error stack.
std::string MissingFilterText(hid_t dset);

// Opens the HDF5 file behind the open descriptor `fd` read-only (see the
// file comment), checking that it is the file with identity `dev`/`ino`
// (kIoErr otherwise). `name` is the file's path in messages. Errors:
// kDataErr when libhdf5 cannot read the file as HDF5 (truncated, corrupt
// superblock), kIoErr when /proc/self/fd cannot be opened, kLocked when
// libhdf5's file lock says another process has the file open for writing
// (HDF5_USE_FILE_LOCKING=FALSE, read by libhdf5, turns that check off);
// kIoErr when libhdf5 cannot read it and it is now shorter than
// `recorded_bytes`, its size when the run opened it (cut short under the
// run; 0: not checked).
Result<Hid> OpenHdf5File(int fd, const std::string& name, uint64_t dev, uint64_t ino,
                         uint64_t recorded_bytes);

// Whether the HDF5 object `obj` lives in the file with identity dev/ino
// (false for a dataset reached through an external link). `name` is the
// run's file in messages; kIoErr when the object's file cannot be checked.
Result<bool> Hdf5InFile(hid_t obj, uint64_t dev, uint64_t ino, const std::string& name);

// Opens dataset `path` of `file` with a dataset access property list whose
// chunk cache holds at least two of its chunks (DESIGN "Dependencies": the
// default 1 MiB cache makes compressed reads ~3x slower).
// External raw files and virtual datasets' source files resolve against
// `folder` (H5Pset_efile_prefix, H5Pset_virtual_prefix): libhdf5 only knows
// the file as /proc/self/fd/N. `name` is the file's path in messages;
// kConfig when there is no dataset `path`.
Result<Hid> OpenH5Dataset(hid_t file, const std::string& path, const std::string& folder,
                          const std::string& name);

// The memory type H5Dread reads dataset elements of `file_type` as: a copy
// of it, except for what the describe step's type mapping (hdf5_format.cc,
// where this is defined) reads converted: an integer of reduced precision
// or with a bit offset (n-bit types) becomes the standard full-size integer
// of its size, sign and byte order; a non-IEEE float of 4 or 8 bytes the
// IEEE float of its size and byte order (what h5py reads). Invalid on error.
Hid Hdf5MemoryType(hid_t file_type);

}  // namespace mm
