// Incremental runs over an append-only dataset (SPEC §1 --state, §6;
// the state file's format is in docs/PARTIAL_FORMAT.md).
//
// The block tree over a grown file has more blocks, but every block that
// was complete before is unchanged, and the maximal aligned subtrees over
// blocks [0, C) — the TreeReducer's stack after pushing them — are exactly
// what a full run would form from those blocks. So a run keeps those nodes
// in the state file; the next run pushes them, then the nodes of the rows
// from block C on (the last, partial block of the previous run is re-read),
// and finishes the tree: `results` are byte-identical to a full run.
//
// Blocks may be row blocks or chunk blocks (a chunked format growing along
// axis 0: complete blocks are those of complete layers of the chunk grid).
//
// The state records a Checksum64 of every complete block. Before reusing a
// state the run checks that it belongs to the same config and layout, that
// the file did not shrink, that the previous partial block is unchanged,
// and re-reads a rotating share of the old blocks: block b is compared in
// the runs r with b % kStateVerifyRuns == r % kStateVerifyRuns, so every
// old block is checked at least once in any kStateVerifyRuns consecutive
// runs; --verify compares all of them. A difference discards the state with
// one warning (into the run's Warnings: stderr unless -q, and the result's
// "warnings" list) and reads every row, so the
// result equals a full run. What is NOT detected: a change to an old block
// in a run where that block is not in the share (it is caught within
// kStateVerifyRuns runs, and the results until then use the old rows).
// A state not owned by the running user, writable by group or others, or a
// symbolic link is refused (77: its seal only stops accidents; mmrun writes
// it 0600). A state that is not a regular file (73), not JSON, of the wrong types or
// whose checksum seal fails (65) stops the run.
#pragma once

#include <string>

#include "engine/plan.h"
#include "runner/coordinator.h"
#include "source/source.h"

namespace mm {
class Warnings;
}

namespace mm {

// The state-file format version this mmrun writes and reads.
constexpr int kStateFormatVersion = 5;
// K: every old block is verified at least once in any K consecutive runs.
constexpr int64_t kStateVerifyRuns = 16;

struct IncrementalStats {
  std::string state = "created";  // created | reused | discarded
  int64_t rows_reused = 0;        // rows whose partials came from the state
  int64_t rows_read = 0;          // rows scanned by this run
};

// Parses the text of the state file `what` and checks every key's type
// and its checksum seal. Errors (kDataErr naming `what` and the key): not
// JSON, not a state, a key missing or of the wrong type, a broken seal. A
// state of another format version is returned unchecked (its "version"
// differs) for the caller to discard.
Result<Json> ParseState(const std::string& text, const std::string& what);

// --state needs single-pass read-only analyses (CheckSinglePass) and a
// dataset whose configured shape has -1 on the row axis (axis 0 for C
// order, the last for F). Errors: kConfig naming the key.
Status CheckIncremental(const Plan& plan);

// The pieces of a state that depend on the partition (any kind: row
// blocks, pieces of rows, chunk blocks; source/partition.h). A state keeps
// the blocks made only of rows it has seen; since a unit's blocks (a block
// of whole rows, a row's pieces, a layer of the chunk grid) are numbered
// consecutively and units in row order, those blocks are [0, C) and keep
// their numbers and extents when rows are appended.

// C: the number of blocks made only of rows [0, rows) (whole units).
int64_t CompleteBlocks(const Partition& p, int64_t rows);
// The first row of block b; REQUIRES b is the first block of a unit, or
// p.blocks().
int64_t RowOfBlock(const Partition& p, int64_t b);
// Checksum64 of the elements of storage indices [elem_begin, elem_end), read
// with source->ReadElements: of the bytes when they hold at most 1 MiB, else
// of the array of the Checksum64s of their 1 MiB pieces.
Result<uint64_t> RangeChecksum(Source* source, uint64_t elem_begin, uint64_t elem_end);
// The checksum of block b of source->partition(), by the same rule over its
// elements: storage indices [block_begin, block_end) for a row block, the
// box's elements in C order of the box (one window of the block) for a
// chunk block. Errors: the source's (kIoErr naming the file, kDataErr for a
// chunk that does not decode).
Result<uint64_t> BlockChecksum(Source* source, int64_t b);
// The state's "dataset": what must not change for a state to apply (the
// layout without the row count, and the block geometry; "chunks" only for
// chunk blocks, so row blocks keep the identity states were written with).
Json StateDatasetIdentity(const Dataset& d, const Partition& p);

// Runs the single pass incrementally with `state_path` and writes the new
// state atomically; returns the "results" object. `verify` (--verify)
// compares every old block with its checksum instead of the rotating share. REQUIRES:
// CheckIncremental(plan) is OK and segment.slots() >= the worker count + 1
// (the last, partial block gets a range of its own).
Result<Json> RunIncremental(Plan& plan, const std::string& state_path, const RunSettings& settings,
                            Warnings* warnings, bool verify, Segment& segment, Launcher& launcher,
                            IncrementalStats* info);

}  // namespace mm
