// libFuzzer target: the .npy header parser (core/npy.h).
//
// Property: ParseNpyHeader never crashes, and a header it accepts survives a
// round trip through BuildNpyHeader unchanged (dtype, order, shape).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mm::Result<mm::NpyHeader> h = mm::ParseNpyHeader(bytes);
  if (!h.ok()) return 0;
  if (h->shape.size() > 64) return 0;  // keep the rebuilt header small
  const std::string again = mm::BuildNpyHeader(h->dtype, h->shape, h->fortran_order);
  mm::Result<mm::NpyHeader> back = mm::ParseNpyHeader(again);
  if (!back.ok() || back->dtype != h->dtype || back->shape != h->shape ||
      back->fortran_order != h->fortran_order || back->header_bytes != again.size())
    std::abort();
  return 0;
}
