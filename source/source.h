// Source: one opened array, cut into blocks, read a window of blocks at a
// time (DESIGN.md "Storage drivers"). Nothing above source/ knows where an
// element sits in a file: the worker loop, cov's column reads, transform's
// writes and --state's checksums all ask a Source (storage indices in,
// bytes out).
//
// A Source has an element type and shape (layout()), and a fixed cut into
// blocks (partition()) numbered from 0. Block b holds the storage indices
// [partition().block_begin(b), block_end(b)) in storage order; its extent in
// array coordinates is an N-D box (BlockBox) whenever the block is one: a
// raw or .npy block spans whole rows (or a piece of one row), a chunked
// format's block is one chunk.
//
// ReadWindow(first, n, writable) returns the bytes of blocks [first,
// first + n) as an owned Window: the blocks copied into a buffer (raw,
// .npy; writable ones too) or decoded into one (a chunked format). No
// window maps the file: on this kind of VM a page fault costs 15-20 us
// (docs/BENCHMARKS.md, sessions 14 and 15). The Window owns what it points
// into: every pointer it hands out (BlockData, Contiguous) is valid until the
// Window is destroyed, and never after. The scan keeps one Window alive at a
// time, so resident memory stays bounded by the window size.
//
// Writable windows (an in-place transform, or generate's new file) are
// written back by Close(): the file's pages whose bytes changed, nothing
// when nothing changed; their writeback starts there and SyncWrites makes
// it durable. Close() first checks that the file still holds the array (a
// write past a shrunk end would grow it again); a decoded window that
// could hold bytes past a shrunk end (H5Dread) checks too, and a copied
// one read every byte (a short read fails ReadWindow). Either way a file
// that shrank under the run is kIoErr naming the file.
//
// Thread and process rules: a Source and its Windows belong to one thread of
// one process. Every worker opens its own Source (forked workers from the
// descriptor they inherit, spawned ones from the descriptor they receive:
// never by name), so no Source crosses a fork.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/layout.h"
#include "core/status.h"
#include "source/partition.h"

namespace mm {

// The most bytes a write pass asks for in one window (the bound on a
// worker's window memory; the journal writes one record per window).
constexpr uint64_t kWindowBytes = uint64_t{16} << 20;
// The same for a write pass that closes each window behind the next
// (Scanner::CloseBehind: a journaled transform). Two windows are then
// alive, each with its copy as read: four buffers of 12 MiB keep a
// worker's peak resident memory under 64 MiB, where four of kWindowBytes
// took it to 70 MiB (docs/BENCHMARKS.md, session 22).
constexpr uint64_t kCloseBehindWindowBytes = uint64_t{12} << 20;
// The same for windows copied or decoded into a buffer (every read-only
// window): a window that stays in the core's L2 cache between the source
// writing it and the analyses reading it (blosc stats 17% and gzip 10%
// faster than 16 MiB windows; copied raw windows: docs/BENCHMARKS.md,
// "Copied windows"). A window always holds at least one block.
constexpr uint64_t kDecodedWindowBytes = uint64_t{1} << 20;

// The bytes of a run of consecutive blocks [first_block(), end_block()).
// Created by Source::ReadWindow; owns the memory it points into.
class Window {
 public:
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;
  virtual ~Window() = default;

  int64_t first_block() const { return first_; }
  int64_t end_block() const { return first_ + static_cast<int64_t>(blocks_.size()); }
  bool writable() const { return writable_; }
  // Block k's elements in storage order (partition().block_elements(k) of
  // them; for a chunk block, the box's elements in C order of the box).
  // REQUIRES first_block() <= k < end_block().
  // Valid until this Window is destroyed; writable only when writable().
  char* BlockData(int64_t k) const { return blocks_[static_cast<size_t>(k - first_)]; }
  // The window's elements as one storage-order run (storage indices
  // block_begin(first_block()) .. block_end(end_block() - 1)) when the
  // blocks are row blocks adjacent in memory (always for raw and .npy),
  // else nullptr (always for chunk blocks).
  // Same lifetime as BlockData.
  char* Contiguous() const { return contiguous_; }
  // Whether every block lies in memory this window alone owns and nothing
  // writes back (a read-only window's buffer): a decoding layer may then
  // overwrite the blocks in place (source/hdf5/cf_source.cc).
  bool owned() const { return owned_; }

  // Ends the use of the window: a writable window's changes start going to
  // disk (durable after Source::SyncWrites), and the source is checked to
  // still hold the whole array (kIoErr naming the file when it shrank).
  // Call once, after the last access; the memory stays valid until
  // destruction.
  virtual Status Close() = 0;

 protected:
  Window(int64_t first, bool writable) : first_(first), writable_(writable) {}
  // For drivers: block pointers in block order, and the contiguous run.
  std::vector<char*> blocks_;
  char* contiguous_ = nullptr;
  bool owned_ = false;

 private:
  int64_t first_;
  bool writable_;
};

class Source {
 public:
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;
  virtual ~Source() = default;

  // Element type, shape and storage order of the array (Layout::offset and
  // trailing_bytes are the raw driver's business: callers above source/ must
  // not use them).
  const Layout& layout() const { return layout_; }
  // The fixed cut into blocks; depends only on the array and its storage,
  // never on the worker count.
  const Partition& partition() const { return partition_; }

  // A hint: the caller is about to read blocks [first, end) in order, one
  // window after another. Drivers may read ahead inside that range.
  virtual void WillRead(int64_t /*first*/, int64_t /*end*/) {}

  // The most bytes of elements a scan should ask for in one window (it
  // always asks for at least one block), for a pass that writes or not:
  // kWindowBytes, or kDecodedWindowBytes for windows copied or decoded
  // into a buffer.
  virtual uint64_t window_bytes(bool /*writes*/) const { return kWindowBytes; }

  // Rewrites `elements` elements at `data` in place (same element size).
  using BlockFilter = std::function<void(char* data, uint64_t elements)>;
  // Asks the driver to run `filter` over every element it decodes into a
  // window, piece by piece as it writes them (while they are in cache),
  // instead of a second pass over the window. True: from now on every
  // window ReadWindow returns is owned() and holds filtered elements
  // (ReadElements does not filter). False (the default): the driver cannot;
  // nothing changes.
  virtual bool FilterWindowsWith(BlockFilter /*filter*/) { return false; }

  // The bytes of blocks [first, first + n), n >= 1; writable only from a
  // source opened writable. Errors: kIoErr naming the file.
  virtual Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) = 0;

  // Whether ReadParts works: drivers of chunk blocks, which then read no
  // more of a chunk than a part needs (a chunk stored as its elements:
  // only the part's bytes; others: decoded once, clipped), and the raw
  // driver for blocks of whole rows in C order (the part's runs alone).
  virtual bool ReadsParts() const { return false; }
  // Blocks [first, first + parts.size()) read-only, block k holding only
  // the elements of parts[k - first] (a non-empty box inside its block's
  // box) in C order of that box. Only when ReadsParts(); errors as
  // ReadWindow's.
  virtual Result<std::unique_ptr<Window>> ReadParts(int64_t /*first*/,
                                                    const std::vector<Box>& /*parts*/) {
    return Error(Code::kIoErr, "this storage driver cannot read parts of blocks");
  }

  // Makes every change written through writable windows durable (one
  // fdatasync of the file after the windows' writebacks were started).
  // Errors: kIoErr naming the file.
  virtual Status SyncWrites() { return Status::OK(); }

  // Copies the elements of storage indices [begin, end) into `out` (room for
  // (end - begin) * itemsize bytes). For reads that do not follow blocks
  // (cov's variable-major columns) and for --state's checksums. Errors:
  // kIoErr naming the file (also when it shrank under the run).
  virtual Status ReadElements(uint64_t begin, uint64_t end, char* out) = 0;

 protected:
  Source(Layout layout, Partition partition)
      : layout_(std::move(layout)), partition_(std::move(partition)) {}

 private:
  Layout layout_;
  Partition partition_;
};

}  // namespace mm
