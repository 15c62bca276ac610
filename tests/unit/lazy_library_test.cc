// LazyLibrary (core/lazy_library.h) and the generated stubs that call
// through it (source/hdf5/codec_stubs.cc).
#include "core/lazy_library.h"

#include <libdeflate.h>

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

TEST_CASE("codec stubs: libdeflate is loaded on first use and its functions are called through it",
          "[lazy]") {
  REQUIRE(DeflateLibrary().Load().ok());
  CHECK(DeflateLibrary().loaded());
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  REQUIRE(d != nullptr);
  // zlib's stream of the empty input: header, one empty fixed-Huffman block, Adler-32 of nothing.
  const unsigned char stream[] = {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
  char out[4];
  size_t got = 99;
  CHECK(libdeflate_zlib_decompress(d, stream, sizeof stream, out, sizeof out, &got) ==
        LIBDEFLATE_SUCCESS);
  CHECK(got == 0);
  CHECK(libdeflate_zlib_decompress(d, stream, sizeof stream - 1, out, sizeof out, &got) !=
        LIBDEFLATE_SUCCESS);
  libdeflate_free_decompressor(d);
}

}  // namespace
}  // namespace mm
