#include "core/checksum.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "core/dtype.h"

namespace mm {

namespace {

// CRC-32C (Castagnoli): slicing-by-8 tables, or SSE4.2's crc32 instruction.
struct CrcTables {
  uint32_t t[8][256];
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82f63b78U & (0U - (c & 1U)));
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
};

const CrcTables& Tables() {
  static const CrcTables tables;
  return tables;
}

uint32_t CrcSoftware(const unsigned char* p, size_t n, uint32_t c) {
  const CrcTables& T = Tables();
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (HostIsBigEndian()) w = ByteSwap(w);
    w ^= c;
    c = T.t[7][w & 0xff] ^ T.t[6][(w >> 8) & 0xff] ^ T.t[5][(w >> 16) & 0xff] ^
        T.t[4][(w >> 24) & 0xff] ^ T.t[3][(w >> 32) & 0xff] ^ T.t[2][(w >> 40) & 0xff] ^
        T.t[1][(w >> 48) & 0xff] ^ T.t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ T.t[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t CrcHardware(const unsigned char* p, size_t n,
                                                       uint32_t c) {
  uint64_t c64 = c;
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c64 = __builtin_ia32_crc32di(c64, w);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
bool HaveHardwareCrc() {
  static const bool have = __builtin_cpu_supports("sse4.2");
  return have;
}
#endif

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

}  // namespace

Checksum64Stream::Checksum64Stream(uint64_t n) : h_(0x6a09e667f3bcc909ULL ^ n) {}

void Checksum64Stream::Word(const unsigned char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  h_ = (h_ ^ (w * 0x9e3779b97f4a7c15ULL));
  h_ = ((h_ << 31) | (h_ >> 33)) * 0x87c37b91114253d5ULL;
}

void Checksum64Stream::Add(const void* data, size_t n) {
  if (n == 0) return;  // `data` may then be null (an empty vector's)
  const unsigned char* p = static_cast<const unsigned char*>(data);
  if (have_ > 0) {  // first the word the piece before left unfinished
    const size_t take = std::min(n, 8 - have_);
    std::memcpy(carry_ + have_, p, take);
    have_ += take;
    p += take;
    n -= take;
    if (have_ < 8) return;
    Word(carry_);
    have_ = 0;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8) Word(p + i);
  have_ = n - i;
  if (have_ > 0) std::memcpy(carry_, p + i, have_);
}

uint64_t Checksum64Stream::Done() {
  uint64_t tail = 0;
  for (size_t k = 0; k < have_; ++k) tail |= uint64_t{carry_[k]} << (8 * k);
  return Mix64(h_ ^ (tail * 0x4cf5ad432745937fULL));
}

uint64_t Checksum64(const void* data, size_t n) {
  Checksum64Stream sum(n);
  sum.Add(data, n);
  return sum.Done();
}

uint32_t Crc32c(const void* data, size_t n, uint32_t crc) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
#if defined(__x86_64__)
  if (HaveHardwareCrc()) return ~CrcHardware(p, n, c);
#endif
  return ~CrcSoftware(p, n, c);
}

uint32_t Fnv1a32(std::string_view text) {
  uint32_t h = 2166136261u;
  for (const char c : text) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

std::string ChecksumHex(uint64_t h) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace mm
