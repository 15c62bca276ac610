#include "source/partition.h"

#include <algorithm>

namespace mm {

Partition::Partition(const Layout& layout, uint64_t block_bytes) {
  rows_ = layout.rows();
  row_elems_ = layout.row_elements();
  const uint64_t row_bytes = layout.row_bytes();
  if (row_bytes <= block_bytes) {
    rows_per_block_ = static_cast<int64_t>(block_bytes / row_bytes);
    blocks_ = (rows_ + rows_per_block_ - 1) / rows_per_block_;
  } else {
    // In elements, so that no piece is empty: pieces = ceil(R / B) and
    // piece = ceil(R / pieces) <= B give (pieces - 1) * piece < R.
    const uint64_t item = static_cast<uint64_t>(layout.dtype.itemsize());
    const uint64_t block_elems = std::max<uint64_t>(1, block_bytes / item);
    pieces_per_row_ = static_cast<int64_t>((row_elems_ + block_elems - 1) / block_elems);
    piece_elems_ = (row_elems_ + static_cast<uint64_t>(pieces_per_row_) - 1) /
                   static_cast<uint64_t>(pieces_per_row_);
    blocks_ = rows_ * pieces_per_row_;
  }
}

uint64_t Partition::block_begin(int64_t b) const {
  if (rows_per_block_ > 0) return static_cast<uint64_t>(b * rows_per_block_) * row_elems_;
  const int64_t row = b / pieces_per_row_, piece = b % pieces_per_row_;
  return static_cast<uint64_t>(row) * row_elems_ +
         std::min(row_elems_, static_cast<uint64_t>(piece) * piece_elems_);
}

uint64_t Partition::block_end(int64_t b) const {
  if (rows_per_block_ > 0)
    return static_cast<uint64_t>(std::min(rows_, (b + 1) * rows_per_block_)) * row_elems_;
  const int64_t row = b / pieces_per_row_, piece = b % pieces_per_row_;
  return static_cast<uint64_t>(row) * row_elems_ +
         std::min(row_elems_, static_cast<uint64_t>(piece + 1) * piece_elems_);
}

int64_t Partition::first_block_of_row(int64_t row) const {
  if (rows_per_block_ > 0) return (row + rows_per_block_ - 1) / rows_per_block_;
  return row * pieces_per_row_;
}

int64_t Partition::RowOfUnit(int64_t unit) const {
  if (rows_per_block_ > 0) return std::min(rows_, unit * rows_per_block_);
  return unit;
}

int64_t Partition::UnitOfRow(int64_t row) const {
  if (rows_per_block_ > 0) return row / rows_per_block_;
  return row;
}

std::pair<int64_t, int64_t> Partition::RowsOf(int worker, int workers) const {
  return RowsOf(worker, workers, 0, rows_);
}

std::pair<int64_t, int64_t> Partition::RowsOf(int worker, int workers, int64_t row_lo,
                                              int64_t row_hi) const {
  // The units that hold rows of the range: the first may start before
  // row_lo and the last end after row_hi; the split is clipped to the range.
  const int64_t u_lo = UnitOfRow(row_lo), u_hi = UnitOfRow(row_hi - 1) + 1;
  const int64_t n = u_hi - u_lo;
  const int64_t a = u_lo + n * worker / workers, b = u_lo + n * (worker + 1) / workers;
  auto clip = [&](int64_t r) { return std::min(row_hi, std::max(row_lo, r)); };
  return {clip(RowOfUnit(a)), clip(RowOfUnit(b))};
}

}  // namespace mm
