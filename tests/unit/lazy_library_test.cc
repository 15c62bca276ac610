// LazyLibrary (core/lazy_library.h) and the generated stubs that call
// through it (source/hdf5/hdf5_stubs.cc).
#include "core/lazy_library.h"

#include <hdf5.h>

#include <catch2/catch.hpp>

#include "source/hdf5/hdf5_library.h"

namespace mm {
namespace {

TEST_CASE("LazyLibrary: a library that cannot be loaded is one Status naming it, every time",
          "[lazy]") {
  LazyLibrary lib("libmmrun-no-such-library.so.7", "the tests");
  CHECK_FALSE(lib.loaded());
  const Status first = lib.Load();
  REQUIRE_FALSE(first.ok());
  CHECK(first.code() == Code::kIoErr);
  CHECK(first.message().find("libmmrun-no-such-library.so.7") != std::string::npos);
  CHECK(first.message().find("which mmrun needs for the tests") != std::string::npos);
  const Status again = lib.Load();
  CHECK(again.code() == first.code());
  CHECK(again.message() == first.message());
  CHECK_FALSE(lib.loaded());
}

TEST_CASE("LazyLibrary: a library of the system loads once and its functions can be called",
          "[lazy]") {
  LazyLibrary lib("libm.so.6", "the tests");
  REQUIRE(lib.Load().ok());
  CHECK(lib.loaded());
  REQUIRE(lib.Load().ok());
  auto* cosine = reinterpret_cast<double (*)(double)>(lib.Symbol("cos"));
  REQUIRE(cosine != nullptr);
  CHECK(cosine(0.0) == 1.0);
}

TEST_CASE("hdf5 stubs: the library's identifiers behind the type macros are copied after H5open",
          "[lazy]") {
  REQUIRE(Hdf5Load().ok());
  CHECK(Hdf5Library().loaded());
  CHECK(H5Tget_size(H5T_NATIVE_DOUBLE) == 8);
  CHECK(H5Tget_size(H5T_STD_I16BE) == 2);
  CHECK(H5Tget_order(H5T_STD_I16BE) == H5T_ORDER_BE);
  CHECK(H5Tget_order(H5T_IEEE_F32LE) == H5T_ORDER_LE);
  CHECK(H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0);
}

}  // namespace
}  // namespace mm
