// Partition: the fixed cut of a dataset into blocks, and of blocks into
// worker ranges.
//
// Blocks depend only on the layout and the storage's chunk grid (never on
// the worker count), which is what makes results identical for any split
// (DESIGN §2, §5). Two kinds:
//
// - Row blocks (raw, .npy, contiguous HDF5: Partition(layout)): a block is
//   either a run of whole rows holding about kBlockBytes, or, when one row
//   is larger than that, an equal piece of one row. Blocks are numbered
//   from 0 in file order; block b holds the storage indices
//   [block_begin(b), block_end(b)).
// - Chunk blocks (a chunked format: Partition(layout, chunks)): a block is
//   one chunk of the grid, an N-D box clipped to the shape (edge chunks are
//   smaller), numbered in chunk-grid C order. The grid is the storage's
//   chunk grid coarsened along axis 0 (ChunkBlockShape): a block may be a
//   run of stored chunks along axis 0, which are consecutive runs of the
//   block's elements in its C order. Its elements are not one run
//   of storage indices: block_begin/block_end are the hull (the storage
//   index of its first element, and one past its last), block_elements(b)
//   counts them, and BlockBox(b) says which they are. C order only.
//
// Workers receive contiguous runs of whole rows (SPEC's row axis): for
// chunk blocks the unit is one layer of the chunk grid (chunks[0] rows,
// every chunk with the same index along axis 0), so a worker's blocks are a
// contiguous run of the grid order too.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/layout.h"

namespace mm {

constexpr uint64_t kBlockBytes = 1 << 20;

// The block shape of a chunked dataset stored in chunks of shape `chunks`:
// the chunks themselves, or, when a chunk holds fewer than kMinBlockRows
// rows (axis 0), a run of consecutive chunks along axis 0 making at least
// kMinBlockRows rows, as long as the run takes at most kMaxGroupBytes.
// A block with few rows costs a reduction over axis 0 a whole partial of
// its lanes and a merge per block: a netCDF-4 variable stored one time step
// per chunk gave every lane a partial of one value (docs/BENCHMARKS.md).
// Depends only on the layout and the chunk shape, never on the shape along
// axis 0, so a growing dataset keeps its blocks (--state).
constexpr int64_t kMinBlockRows = 16;
constexpr uint64_t kMaxGroupBytes = uint64_t{16} << 20;
// `itemsize`: the larger of the stored and the decoded element (a CF-packed
// int8 variable decodes to float64: its blocks are sized by 8 bytes).
std::vector<int64_t> ChunkBlockShape(const std::vector<int64_t>& chunks, uint64_t itemsize);

class Partition {
 public:
  Partition() = default;
  explicit Partition(const Layout& layout, uint64_t block_bytes = kBlockBytes);
  // Chunk blocks over the grid `chunks` (one entry >= 1 per axis; a layout
  // of order 'C').
  Partition(const Layout& layout, const std::vector<int64_t>& chunks);

  // Whether blocks are chunks of a grid (else row blocks), and the grid's
  // chunk shape (empty for row blocks).
  bool chunked() const { return !chunks_.empty(); }
  const std::vector<int64_t>& chunks() const { return chunks_; }
  // The number of elements of block b (block_end - block_begin for row
  // blocks).
  uint64_t block_elements(int64_t b) const;
  // The extent of block b as a box in array coordinates: always for chunk
  // blocks and whole-row blocks; for a piece of one row when the piece is
  // aligned to the row's inner axes (always for 2-D arrays); std::nullopt
  // otherwise.
  std::optional<Box> BlockBox(int64_t b) const;

  int64_t blocks() const { return blocks_; }
  int64_t rows() const { return rows_; }
  // Storage-index range [begin, end) of block b (the hull for chunk blocks).
  uint64_t block_begin(int64_t b) const;
  uint64_t block_end(int64_t b) const;
  // Blocks [first, last) covering rows [row_begin, row_end); rows must be a
  // unit boundary (see units()).
  int64_t first_block_of_row(int64_t row) const;
  // The block holding row `row` (its first piece when blocks are pieces).
  int64_t block_of_row(int64_t row) const;

  // The indivisible units handed to workers: blocks when blocks hold whole
  // rows, rows when blocks are pieces of one row, layers of the grid for
  // chunk blocks.
  int64_t units() const;
  // The row-block geometry: rows per block (> 0 when blocks hold whole
  // rows), else pieces per row (> 0 when blocks are pieces of one row); both
  // 0 for chunk blocks.
  int64_t rows_per_block() const { return rows_per_block_; }
  int64_t pieces_per_row() const { return pieces_per_row_; }

  // Worker w of n gets rows [RowsOf(w, n).first, .second); empty when
  // there are fewer units than workers.
  std::pair<int64_t, int64_t> RowsOf(int worker, int workers) const;
  // The same split over a row range [row_lo, row_hi) (shards); REQUIRES
  // row_lo < row_hi. Boundaries inside the range fall on unit boundaries.
  std::pair<int64_t, int64_t> RowsOf(int worker, int workers, int64_t row_lo, int64_t row_hi) const;

 private:
  int64_t RowOfUnit(int64_t unit) const;
  int64_t UnitOfRow(int64_t row) const;

  int64_t rows_ = 0;
  uint64_t row_elems_ = 0;
  int64_t rows_per_block_ = 0;  // > 0: blocks of whole rows
  int64_t pieces_per_row_ = 0;  // > 0: blocks are pieces of one row
  uint64_t piece_elems_ = 0;
  int64_t blocks_ = 0;
  Layout layout_;                // shape and order, for boxes
  std::vector<int64_t> chunks_;  // chunk blocks: the chunk shape
  std::vector<int64_t> grid_;    // chunks along each axis
  int64_t layer_blocks_ = 0;     // chunks per layer of the grid (one unit)
};

}  // namespace mm
