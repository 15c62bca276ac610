// The shared segment's layout: constants only. Prose: docs/SEGMENT_FORMAT.md.
//
//   [Header 4096 bytes][slot table: slots x 64 bytes, padded to 4096]
//   [plan: plan_bytes of framed JSON (engine/payload.h EncodeFramed), padded to 4096]
//   [payload areas: slots x payload_stride]
//
// All integers are little-endian (the host's order; a segment never leaves
// its machine). The coordinator writes the header, the table and the plan
// before it starts a pass's workers; each worker writes only its own slot
// entry and payload area, under an OFD write lock on its slot entry's bytes.
#pragma once

#include <cstdint>

namespace mm {
namespace segfmt {

constexpr uint64_t kMagic = 0x3147455331524d4dULL;  // "MMR1SEG1" read as little-endian
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 4096;
constexpr uint64_t kSlotEntryBytes = 64;
constexpr uint64_t kAlign = 4096;
// Virtual size of one payload area; only the bytes a worker writes are
// allocated (the worker fallocates them first, so a full /dev/shm is an
// error, never a SIGBUS).
constexpr uint64_t kPayloadStride = uint64_t{1} << 32;
constexpr const char* kNamePrefix = "mmrun-";  // full name: mmrun-<uid>-<16 hex digits>

struct Header {
  uint64_t magic;
  uint32_t version;
  uint32_t slots;
  uint64_t creator_pid;
  uint64_t plan_offset;
  uint64_t plan_bytes;
  uint64_t plan_checksum;
  uint64_t payload_offset;
  uint64_t payload_stride;
  uint32_t pass;
  uint32_t reserved;
};
static_assert(sizeof(Header) <= kHeaderBytes, "header too large");

enum SlotState : uint32_t { kEmpty = 0, kRunning = 1, kCommitted = 2, kFailed = 3 };

struct SlotEntry {
  uint32_t state;    // SlotState
  uint32_t attempt;  // which launch of this slot wrote it
  uint64_t row_begin;
  uint64_t row_end;
  uint64_t rows_done;  // progress; written without the lock, read as a hint
  uint64_t payload_bytes;
  uint64_t payload_checksum;  // Checksum64 of the payload
  uint64_t entry_checksum;    // Checksum64 of the fields above, state excluded
  uint64_t reserved;
};
static_assert(sizeof(SlotEntry) == kSlotEntryBytes, "slot entry must be 64 bytes");

}  // namespace segfmt
}  // namespace mm
