// Partition: the fixed cut of a dataset into blocks, and of blocks into
// worker ranges.
//
// Blocks depend only on the layout (never on the worker count), which is
// what makes results identical for any split (DESIGN §2, §5). A block is
// either a run of whole rows holding about kBlockBytes, or, when one row is
// larger than that, an equal piece of one row. Blocks are numbered from 0 in
// file order. Workers receive contiguous runs of whole rows, i.e. contiguous
// runs of blocks.
#pragma once

#include <cstdint>
#include <vector>

#include "core/layout.h"

namespace mm {

constexpr uint64_t kBlockBytes = 1 << 20;

class Partition {
 public:
  Partition() = default;
  explicit Partition(const Layout& layout, uint64_t block_bytes = kBlockBytes);

  int64_t blocks() const { return blocks_; }
  int64_t rows() const { return rows_; }
  // Storage-index range [begin, end) of block b.
  uint64_t block_begin(int64_t b) const;
  uint64_t block_end(int64_t b) const;
  // Blocks [first, last) covering rows [row_begin, row_end); rows must be a
  // unit boundary (see units()).
  int64_t first_block_of_row(int64_t row) const;
  // The block holding row `row` (its first piece when blocks are pieces).
  int64_t block_of_row(int64_t row) const {
    return rows_per_block_ > 0 ? row / rows_per_block_ : row * pieces_per_row_;
  }

  // The indivisible units handed to workers: blocks when blocks hold whole
  // rows, rows when blocks are pieces of one row.
  int64_t units() const { return rows_per_block_ > 0 ? blocks_ : rows_; }
  // The block geometry: rows per block (> 0 when blocks hold whole rows),
  // else pieces per row (> 0 when blocks are pieces of one row).
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
};

}  // namespace mm
