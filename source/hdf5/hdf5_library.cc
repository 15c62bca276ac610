#include "source/hdf5/hdf5_library.h"

#include <hdf5.h>

namespace mm {

LazyLibrary& Hdf5Library() {
  static LazyLibrary lib(MMRUN_HDF5_SONAME, "HDF5 and netCDF-4 files");
  return lib;
}

LazyLibrary& BloscLibrary() {
  static LazyLibrary lib(MMRUN_BLOSC_SONAME, "blosc-compressed HDF5 chunks");
  return lib;
}

LazyLibrary& DeflateLibrary() {
  static LazyLibrary lib(MMRUN_DEFLATE_SONAME, "deflate-compressed HDF5 chunks");
  return lib;
}

Status Hdf5Load() {
  static bool quiet = false;  // one thread per process (hdf5_file.h)
  if (quiet) return Status::OK();
  for (LazyLibrary* lib : {&Hdf5Library(), &BloscLibrary(), &DeflateLibrary()}) {
    Status st = lib->Load();
    if (!st.ok()) return st;
  }
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  quiet = true;
  return Status::OK();
}

}  // namespace mm
