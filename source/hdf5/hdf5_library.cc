#include "source/hdf5/hdf5_library.h"

#include <hdf5.h>

namespace mm {

LazyLibrary& BloscLibrary() {
  static LazyLibrary lib(MMRUN_BLOSC_SONAME, "blosc-compressed HDF5 chunks");
  return lib;
}

LazyLibrary& DeflateLibrary() {
  static LazyLibrary lib(MMRUN_DEFLATE_SONAME, "deflate-compressed HDF5 chunks");
  return lib;
}

void Hdf5Quiet() {
  static bool quiet = false;  // one thread per process (hdf5_file.h)
  if (quiet) return;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  quiet = true;
}

}  // namespace mm
