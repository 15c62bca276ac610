// The rollback journal's on-disk layout: constants only. Prose:
// docs/JOURNAL_FORMAT.md.
//
// A transform of DATA keeps its journal in the folder R.mmrun-journal/
// beside R, the real file (DATA with every symlink resolved), mode 0700.
// It holds one manifest, written by the coordinator before any worker
// starts, and one file per worker process, "w<pid>-a<analysis>.jnl":
//
//   manifest = [manifest header: kManifestHeaderBytes][entry][entry]...
//              one entry per journal file, appended before its first record
//   journal  = [file header: kFileHeaderBytes][count slot][count slot]
//              [record][record]...
//   record   = [record header: kRecordHeaderBytes][length bytes: the original
//              bytes of DATA at [offset, offset + length)]
//
// All integers are little-endian, whatever the host. Checksums are CRC-32C
// (Castagnoli), masked as leveldb does so that a checksum of a region that
// itself holds checksums is not trivially related to them.
#pragma once

#include <cstdint>

namespace mm {
namespace jfmt {

constexpr const char* kDirSuffix = ".mmrun-journal";  // R + this: the journal folder
constexpr const char* kFileSuffix = ".jnl";           // one file per worker process
constexpr const char* kManifestName = "manifest";     // the folder's list of journal files
// At the commit the folder is renamed to R.mmrun-journal.committed-<16 hex>
// (never onto an existing name), then deleted; a leftover one is garbage,
// removed by the next transform or recover of R if it is a real folder of
// theirs (never through a symlink).
constexpr const char* kCommittedSuffix = ".committed";
// Extended attribute on DATA while a journaled transform runs: the absolute
// path of its journal folder (so runs through any name of the file find it).
constexpr const char* kMarkXattr = "user.mmrun.journal";

constexpr uint32_t kVersion = 2;  // of the manifest and of every journal file

// Manifest header (64 bytes).
constexpr uint64_t kManifestMagic = 0x324e414d4a524d4dULL;  // "MMRJMAN2" read as little-endian
constexpr uint64_t kManifestHeaderBytes = 64;
constexpr uint64_t kOffManMagic = 0;         // u64 kManifestMagic
constexpr uint64_t kOffManVersion = 8;       // u32 kVersion
constexpr uint64_t kOffManHeaderBytes = 12;  // u32 kManifestHeaderBytes
constexpr uint64_t kOffManDev = 16;          // u64 st_dev of DATA
constexpr uint64_t kOffManIno = 24;          // u64 st_ino of DATA
constexpr uint64_t kOffManSize = 32;         // u64 size of DATA in bytes
constexpr uint64_t kOffManNonce = 40;        // u64 random id of the run's journal
constexpr uint64_t kOffManCoordinator = 48;  // u32 pid of the run's coordinator
constexpr uint64_t kOffManReserved = 52;     // u32 zero, u32 zero
constexpr uint64_t kOffManHeaderCrc = 60;    // u32 masked CRC-32C of bytes [0, 60)
// Manifest entry (16 bytes): one journal file, w<worker>-a<analysis>.jnl.
constexpr uint32_t kEntryMagic = 0x4e454d4dU;  // "MMEN" read as little-endian
constexpr uint64_t kEntryBytes = 16;
constexpr uint64_t kOffEntMagic = 0;     // u32 kEntryMagic
constexpr uint64_t kOffEntWorker = 4;    // u32 pid of the worker
constexpr uint64_t kOffEntAnalysis = 8;  // u32 index of the transform
constexpr uint64_t kOffEntCrc = 12;      // u32 masked CRC-32C of bytes [0, 12)

// Journal file header (64 bytes).
constexpr uint64_t kFileMagic = 0x314c4e524a524d4dULL;  // "MMRJRNL1" read as little-endian
constexpr uint64_t kFileHeaderBytes = 64;
constexpr uint64_t kOffMagic = 0;         // u64 kFileMagic
constexpr uint64_t kOffVersion = 8;       // u32 kVersion
constexpr uint64_t kOffHeaderBytes = 12;  // u32 kFileHeaderBytes
constexpr uint64_t kOffDev = 16;          // u64 st_dev of DATA
constexpr uint64_t kOffIno = 24;          // u64 st_ino of DATA
constexpr uint64_t kOffSize = 32;         // u64 size of DATA in bytes
constexpr uint64_t kOffCoordinator = 40;  // u32 pid of the run's coordinator
constexpr uint64_t kOffWorker = 44;       // u32 pid of the writing worker
constexpr uint64_t kOffAnalysis = 48;     // u32 index of the transform in the config's analyses
constexpr uint64_t kOffNonce = 52;        // u64 the manifest's nonce
constexpr uint64_t kOffHeaderCrc = 60;    // u32 masked CRC-32C of bytes [0, 60)

// Two count slots (16 bytes each) follow the header. After record k is
// durable the writer stores count k + 1 in slot (k + 1) % 2 and makes it
// durable; only then is the record's window changed. The valid slot with
// the higher count tells how many records the file must hold.
constexpr uint64_t kSlotBytes = 16;
constexpr uint64_t kSlotOffset[2] = {64, 80};
constexpr uint32_t kSlotMagic = 0x544e434dU;  // "MCNT" read as little-endian
constexpr uint64_t kOffSlotCount = 0;         // u64 records counted
constexpr uint64_t kOffSlotMagic = 8;         // u32 kSlotMagic
constexpr uint64_t kOffSlotCrc = 12;          // u32 masked CRC-32C of bytes [0, 12)
constexpr uint64_t kRecordsStart = 96;        // the first record's header

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
constexpr int64_t kLockByte = int64_t{1}
                              << 62;  // OFD lock: shared (readers) / exclusive (transform)
constexpr int64_t kPidBeaconByte =
    kLockByte + 1;  // POSIX lock of the same kind: tells the holder's pid

}  // namespace jfmt
}  // namespace mm
