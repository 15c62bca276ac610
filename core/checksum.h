// The checksums of mmrun's own formats, each written once here.
//
// Checksum64: the one non-cryptographic 64-bit checksum of mmrun's own
// formats — the segment's slots and plan (docs/SEGMENT_FORMAT.md), the seal
// of part and state files and the per-block checksums of a state
// (docs/PARTIAL_FORMAT.md). It detects accidental changes (any single byte,
// truncation, extension); it is not a MAC and does not stop a forger.
//
// Crc32c: CRC-32C (Castagnoli), the checksum of the transform journal's
// records (docs/JOURNAL_FORMAT.md; io/journal.h masks it). SSE4.2's crc32
// instruction when the CPU has it, else a table; both give the same bits.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mm {

uint64_t Checksum64(const void* data, size_t n);

// Checksum64 of `n` bytes fed in pieces of any sizes: Add each piece in
// order, then Done() == Checksum64 of their concatenation.
class Checksum64Stream {
 public:
  explicit Checksum64Stream(uint64_t n);
  void Add(const void* data, size_t n);
  uint64_t Done();

 private:
  void Word(const unsigned char* p);
  uint64_t h_;
  unsigned char carry_[8] = {};  // the bytes of an unfinished word
  size_t have_ = 0;
};

// CRC-32C of `data`, extending `crc` (0 to start): Crc32c(b, m, Crc32c(a, n))
// is the CRC of a followed by b.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// FNV-1a (32 bits) of `text`: the host tag of temporary output names
// (io/files.h TempOutput), which later runs on the same host must recognise,
// so it never changes.
uint32_t Fnv1a32(std::string_view text);

// Checksum64 as 16 lowercase hex digits.
std::string ChecksumHex(uint64_t h);

}  // namespace mm
