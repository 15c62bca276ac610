#include "plot/cairo_library.h"

namespace mm {

LazyLibrary& CairoLibrary() {
  static LazyLibrary lib(MMRUN_CAIRO_SONAME, "pictures (mmrun plot)");
  return lib;
}

LazyLibrary& FontconfigLibrary() {
  static LazyLibrary lib(MMRUN_FONTCONFIG_SONAME, "the fonts of pictures (mmrun plot)");
  return lib;
}

}  // namespace mm
