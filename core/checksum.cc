#include "core/checksum.h"

#include <cstdio>
#include <cstring>

namespace mm {

namespace {

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

uint64_t Checksum64(const void* data, size_t n) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x6a09e667f3bcc909ULL ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ (w * 0x9e3779b97f4a7c15ULL));
    h = ((h << 31) | (h >> 33)) * 0x87c37b91114253d5ULL;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i + k < n; ++k) tail |= uint64_t{p[i + k]} << (8 * k);
  h ^= tail * 0x4cf5ad432745937fULL;
  return Mix64(h);
}

std::string ChecksumHex(uint64_t h) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace mm
