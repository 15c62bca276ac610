#include "source/partition.h"

#include <algorithm>

namespace mm {

std::vector<int64_t> ChunkBlockShape(const std::vector<int64_t>& chunks, uint64_t itemsize) {
  if (chunks.empty() || chunks[0] >= kMinBlockRows) return chunks;
  uint64_t chunk_bytes = itemsize;
  for (const int64_t c : chunks) chunk_bytes *= static_cast<uint64_t>(c);
  const int64_t wanted = (kMinBlockRows + chunks[0] - 1) / chunks[0];
  const int64_t fits = static_cast<int64_t>(kMaxGroupBytes / std::max<uint64_t>(chunk_bytes, 1));
  std::vector<int64_t> block = chunks;
  block[0] = chunks[0] * std::max<int64_t>(1, std::min(wanted, fits));
  return block;
}

Partition::Partition(const Layout& layout, const std::vector<int64_t>& chunks)
    : layout_(layout), chunks_(chunks) {
  rows_ = layout.rows();
  row_elems_ = layout.row_elements();
  layer_blocks_ = 1;
  for (size_t i = 0; i < chunks.size(); ++i) {
    grid_.push_back((layout.shape[i] + chunks[i] - 1) / chunks[i]);
    if (i > 0) layer_blocks_ *= grid_.back();
  }
  blocks_ = grid_.empty() ? 0 : grid_[0] * layer_blocks_;
}

Partition::Partition(const Layout& layout, uint64_t block_bytes) : layout_(layout) {
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

std::optional<Box> Partition::BlockBox(int64_t b) const {
  const int n = layout_.ndim();
  Box box;
  box.start.assign(static_cast<size_t>(n), 0);
  box.count = layout_.shape;
  if (chunked()) {
    for (int i = n - 1; i >= 0; --i) {
      const size_t a = static_cast<size_t>(i);
      box.start[a] = b % grid_[a] * chunks_[a];
      box.count[a] = std::min(chunks_[a], layout_.shape[a] - box.start[a]);
      b /= grid_[a];
    }
    return box;
  }
  const std::vector<int64_t> dims = layout_.storage_dims();
  // The box in storage order: dims[0] is the row axis.
  std::vector<int64_t> start(static_cast<size_t>(n), 0), count = dims;
  const uint64_t row = row_elems_;
  const uint64_t begin = block_begin(b), end = block_end(b);
  if (rows_per_block_ > 0 || row == 0) {
    start[0] = static_cast<int64_t>(begin / std::max<uint64_t>(row, 1));
    count[0] = static_cast<int64_t>((end - begin) / std::max<uint64_t>(row, 1));
  } else {
    // A piece [s, e) of row r: a box when some storage dimension d has s and
    // e on multiples of the elements below it and both inside one index of
    // the dimension above it.
    start[0] = static_cast<int64_t>(begin / row);
    count[0] = 1;
    const uint64_t s = begin % row, e = s + (end - begin);
    uint64_t inner = 1;  // elements of one index of storage dimension d
    bool found = false;
    for (int d = n - 1; d >= 1 && !found; --d) {
      const uint64_t outer = inner * static_cast<uint64_t>(dims[static_cast<size_t>(d)]);
      if (s % inner == 0 && e % inner == 0 && s / outer == (e - 1) / outer) {
        // Dimensions above d: the one index s / outer spells; below d: whole.
        uint64_t rest = s / outer;
        for (int a = d - 1; a >= 1; --a) {
          start[static_cast<size_t>(a)] =
              static_cast<int64_t>(rest % static_cast<uint64_t>(dims[static_cast<size_t>(a)]));
          count[static_cast<size_t>(a)] = 1;
          rest /= static_cast<uint64_t>(dims[static_cast<size_t>(a)]);
        }
        start[static_cast<size_t>(d)] = static_cast<int64_t>(s % outer / inner);
        count[static_cast<size_t>(d)] = static_cast<int64_t>((e - s) / inner);
        found = true;
      }
      inner = outer;
    }
    if (!found) return std::nullopt;
  }
  // Storage order to array axes.
  for (int i = 0; i < n; ++i) {
    box.start[static_cast<size_t>(layout_.storage_axis(i))] = start[static_cast<size_t>(i)];
    box.count[static_cast<size_t>(layout_.storage_axis(i))] = count[static_cast<size_t>(i)];
  }
  return box;
}

namespace {

// The storage index of array coordinates x (C order).
uint64_t CIndex(const std::vector<int64_t>& shape, const std::vector<int64_t>& x) {
  uint64_t index = 0;
  for (size_t a = 0; a < shape.size(); ++a)
    index = index * static_cast<uint64_t>(shape[a]) + static_cast<uint64_t>(x[a]);
  return index;
}

}  // namespace

uint64_t Partition::block_elements(int64_t b) const {
  if (chunked()) return BlockBox(b)->elements();
  return block_end(b) - block_begin(b);
}

int64_t Partition::block_of_row(int64_t row) const {
  if (chunked()) return row / chunks_[0] * layer_blocks_;
  return rows_per_block_ > 0 ? row / rows_per_block_ : row * pieces_per_row_;
}

int64_t Partition::units() const {
  if (chunked()) return grid_[0];
  return rows_per_block_ > 0 ? blocks_ : rows_;
}

uint64_t Partition::block_begin(int64_t b) const {
  if (chunked()) return CIndex(layout_.shape, BlockBox(b)->start);
  if (rows_per_block_ > 0) return static_cast<uint64_t>(b * rows_per_block_) * row_elems_;
  const int64_t row = b / pieces_per_row_, piece = b % pieces_per_row_;
  return static_cast<uint64_t>(row) * row_elems_ +
         std::min(row_elems_, static_cast<uint64_t>(piece) * piece_elems_);
}

uint64_t Partition::block_end(int64_t b) const {
  if (chunked()) {
    Box box = *BlockBox(b);
    for (size_t a = 0; a < box.start.size(); ++a) box.start[a] += box.count[a] - 1;
    return CIndex(layout_.shape, box.start) + 1;
  }
  if (rows_per_block_ > 0)
    return static_cast<uint64_t>(std::min(rows_, (b + 1) * rows_per_block_)) * row_elems_;
  const int64_t row = b / pieces_per_row_, piece = b % pieces_per_row_;
  return static_cast<uint64_t>(row) * row_elems_ +
         std::min(row_elems_, static_cast<uint64_t>(piece + 1) * piece_elems_);
}

int64_t Partition::first_block_of_row(int64_t row) const {
  if (chunked()) return (row + chunks_[0] - 1) / chunks_[0] * layer_blocks_;
  if (rows_per_block_ > 0) return (row + rows_per_block_ - 1) / rows_per_block_;
  return row * pieces_per_row_;
}

int64_t Partition::RowOfUnit(int64_t unit) const {
  if (chunked()) return std::min(rows_, unit * chunks_[0]);
  if (rows_per_block_ > 0) return std::min(rows_, unit * rows_per_block_);
  return unit;
}

int64_t Partition::UnitOfRow(int64_t row) const {
  if (chunked()) return row / chunks_[0];
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
