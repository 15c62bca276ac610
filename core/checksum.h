// Checksum64: the one non-cryptographic 64-bit checksum of mmrun's own
// formats — the segment's slots and plan (docs/SEGMENT_FORMAT.md), the seal
// of part and state files and the per-block checksums of a state
// (docs/PARTIAL_FORMAT.md). It detects accidental changes (any single byte,
// truncation, extension); it is not a MAC and does not stop a forger.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mm {

uint64_t Checksum64(const void* data, size_t n);

// Checksum64 as 16 lowercase hex digits.
std::string ChecksumHex(uint64_t h);

}  // namespace mm
