// Segment: the per-run shared-memory object through which workers hand their
// partials to the coordinator (DESIGN "Shared segment", docs/SEGMENT_FORMAT.md).
//
// The coordinator Create()s it (unpredictable name, O_CREAT|O_EXCL, mode
// 0600, owner checked), lays out each pass with SetPass(), and removes it in
// its destructor. A worker Open()s it by name, reads the plan, and writes
// only its slot: CommitSlot/FailSlot hold an OFD write lock on the slot's
// entry while writing, so the kernel releases the lock if the worker dies.
// The coordinator accepts a slot only through ReadCommitted, which checks
// state, attempt, length and both checksums under a read lock.
//
// Not thread-safe; one Segment object per process.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/checksum.h"
#include "core/status.h"
#include "io/files.h"
#include "io/segment_format.h"

namespace mm {

class Warnings;

class Segment {
 public:
  Segment() = default;
  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  // Coordinator: a new segment with `slots` slots. kCantCreate on failure.
  static Result<Segment> Create(uint32_t slots);
  // Worker: the segment `name`, which must belong to this uid.
  static Result<Segment> Open(const std::string& name);
  // Removes segments of this uid whose creator process is gone. Every name
  // with this uid's prefix is opened O_NOFOLLOW|O_NONBLOCK and checked with
  // fstat before it is read: anything that is not a regular file owned by
  // this user with mode 0600 (a FIFO, symlink, directory, another user's
  // file) is left alone; all of them make ONE summary warning (their count
  // and one example) added to `warnings` (when not null). Never blocks.
  static void RemoveStale(Warnings* warnings);

  const std::string& name() const { return name_; }
  uint32_t slots() const { return header()->slots; }

  // Coordinator, with no worker running: clears the slots and stores the
  // plan text of pass `pass`.
  Status SetPass(uint32_t pass, const std::string& plan);
  // The same, the plan given as pieces written one after the other (a
  // framed plan's columns, written without joining them: FrameInPieces).
  Status SetPass(uint32_t pass, const std::vector<std::string_view>& pieces);
  // Coordinator: marks slot `slot` as handed to launch `attempt` for rows.
  void PrepareSlot(uint32_t slot, uint32_t attempt, uint64_t row_begin, uint64_t row_end);
  Result<std::string> ReadPlan() const;
  // A copy of slot `slot`'s entry (the worker learns its attempt and rows).
  // REQUIRES: slot < slots().
  segfmt::SlotEntry Entry(uint32_t slot) const { return *entry(slot); }

  // Worker side.
  void SetProgress(uint32_t slot, uint64_t rows_done);
  Status CommitSlot(uint32_t slot, uint32_t attempt, const std::string& payload);
  Status FailSlot(uint32_t slot, uint32_t attempt, const std::string& message);

  // Coordinator side: the verified payload of a committed slot, or
  // kWorkerFailed saying what is wrong with it.
  Result<std::string> ReadCommitted(uint32_t slot, uint32_t attempt) const;
  // ReadCommitted's checks without keeping the payload (it is read in
  // pieces of 1 MiB): the coordinator checks a worker's slot when it exits
  // and reads it only when the merge needs it.
  Status VerifyCommitted(uint32_t slot, uint32_t attempt) const;
  // The failure message a worker left in its slot, if any.
  std::string FailureMessage(uint32_t slot, uint32_t attempt) const;
  uint64_t Progress(uint32_t slot) const;

  // For tests: flips one byte of slot `slot`'s payload.
  void CorruptPayloadForTest(uint32_t slot);

 private:
  // ReadCommitted's checks; the payload into *out when out is non-null.
  Status CheckCommitted(uint32_t slot, uint32_t attempt, std::string* out) const;
  static constexpr uint64_t kVerifyPieceBytes = 1 << 20;  // a multiple of 8
  segfmt::Header* header() const { return static_cast<segfmt::Header*>(table_); }
  segfmt::SlotEntry* entry(uint32_t slot) const;
  uint64_t entry_offset(uint32_t slot) const {
    return segfmt::kHeaderBytes + slot * segfmt::kSlotEntryBytes;
  }
  uint64_t payload_offset(uint32_t slot) const;
  Status MapTable(uint64_t bytes, Code otherwise);
  Status Lock(uint32_t slot, bool write) const;
  void Unlock(uint32_t slot) const;
  Status WriteSlot(uint32_t slot, uint32_t attempt, uint32_t state, const std::string& payload);

  std::string name_;
  FileDescriptor fd_;
  void* table_ = nullptr;  // header + slot table, mmap'ed from fd_
  size_t table_bytes_ = 0;
  bool owner_ = false;
};

}  // namespace mm
