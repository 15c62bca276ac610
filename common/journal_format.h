// The rollback journal's on-disk layout: constants only. Prose:
// docs/JOURNAL_FORMAT.md.
//
// A transform of DATA keeps its journal in the folder DATA.mmrun-journal/.
// Each worker process writes one file there, "w<pid>-a<analysis>.jnl":
//
//   [file header: kFileHeaderBytes][record][record]...
//   record = [record header: kRecordHeaderBytes][length bytes: the original
//            bytes of DATA at [offset, offset + length)]
//
// All integers are little-endian, whatever the host. Checksums are CRC-32C
// (Castagnoli), masked as leveldb does so that a checksum of a region that
// itself holds checksums is not trivially related to them.
#pragma once

#include <cstdint>

namespace mm {
namespace jfmt {

constexpr const char* kDirSuffix = ".mmrun-journal";   // DATA + this: the journal folder
constexpr const char* kFileSuffix = ".jnl";            // one file per worker process
// The folder is renamed to DATA.mmrun-journal.committed when the transform
// is complete (the commit point), then deleted; a leftover one is garbage.
constexpr const char* kCommittedSuffix = ".committed";

// File header (64 bytes).
constexpr uint64_t kFileMagic = 0x314c4e524a524d4dULL;  // "MMRJRNL1" read as little-endian
constexpr uint32_t kVersion = 1;
constexpr uint64_t kFileHeaderBytes = 64;
// Offsets of the file header's fields.
constexpr uint64_t kOffMagic = 0;          // u64 kFileMagic
constexpr uint64_t kOffVersion = 8;        // u32 kVersion
constexpr uint64_t kOffHeaderBytes = 12;   // u32 kFileHeaderBytes
constexpr uint64_t kOffDev = 16;           // u64 st_dev of DATA
constexpr uint64_t kOffIno = 24;           // u64 st_ino of DATA
constexpr uint64_t kOffSize = 32;          // u64 size of DATA in bytes
constexpr uint64_t kOffCoordinator = 40;   // u32 pid of the run's coordinator
constexpr uint64_t kOffWorker = 44;        // u32 pid of the writing worker
constexpr uint64_t kOffAnalysis = 48;      // u32 index of the transform in the config's analyses
constexpr uint64_t kOffReserved = 52;      // u32 zero, u32 zero
constexpr uint64_t kOffHeaderCrc = 60;     // u32 masked CRC-32C of bytes [0, 60)

// Record header (40 bytes), followed by `length` bytes of original data.
constexpr uint32_t kRecordMagic = 0x5243524dU;  // "MRCR" read as little-endian
constexpr uint64_t kRecordHeaderBytes = 40;
constexpr uint64_t kOffRecMagic = 0;       // u32 kRecordMagic
constexpr uint64_t kOffRecReserved = 4;    // u32 zero
constexpr uint64_t kOffRecSeq = 8;         // u64 record number in this file, from 0
constexpr uint64_t kOffRecOffset = 16;     // u64 byte offset in DATA
constexpr uint64_t kOffRecLength = 24;     // u64 bytes that follow the header
constexpr uint64_t kOffRecDataCrc = 32;    // u32 masked CRC-32C of the data bytes
constexpr uint64_t kOffRecHeaderCrc = 36;  // u32 masked CRC-32C of bytes [0, 36) of this header

// leveldb-style checksum mask.
constexpr uint32_t kCrcMaskDelta = 0xa282ead8U;

// Advisory locks (OFD and POSIX record locks on DATA; see dataset_lock.h).
// They sit far past the end of any real file so they never cover data that
// other tools might lock.
constexpr int64_t kLockByte = int64_t{1} << 62;        // OFD lock: shared (readers) / exclusive (transform)
constexpr int64_t kPidBeaconByte = kLockByte + 1;      // POSIX lock of the same kind: tells the holder's pid

}  // namespace jfmt
}  // namespace mm
