// Lanes: where each element of a reduction goes.
//
// Reducing an array over some axes leaves one *lane* per index of the kept
// axes. Internally lanes are numbered in storage order of the kept axes, so
// that the lanes of a run of rows are one contiguous range when the row axis
// is kept; LaneGeometry::OutputIndex maps an internal lane to its position in
// numpy's result (C order of the kept axes in axis order).
//
// ForEachRun walks a storage-index range as runs of consecutive elements that
// either all fall into one lane (inner axis reduced) or into consecutive
// lanes (inner axis kept). A chunk block (an N-D box whose elements are
// stored in C order of the box, core/layout.h) is walked the same way, box
// run by box run (ForEachRunOfBlock); the lanes it reaches lie inside
// BlockLaneRange.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/layout.h"
#include "core/status.h"

namespace mm {

class LaneGeometry {
 public:
  LaneGeometry() = default;
  // `reduced` are axis numbers (sorted, unique).
  LaneGeometry(const Layout& layout, const std::vector<int>& reduced);

  uint64_t lanes() const { return lanes_; }
  // numpy's result shape: the kept axes in axis order.
  const std::vector<int64_t>& kept_shape() const { return kept_shape_; }
  bool row_kept() const { return row_kept_; }
  // Lanes [first, last) touched by storage range [begin, end): the rows'
  // lanes when the row axis is kept; when it is reduced, every lane, but
  // for a range inside one row (a block that is a piece of a long row)
  // whose lanes rise with the storage index (the axes after the row are
  // kept, then reduced: "axis 0" of a C-order array), just the lanes from
  // its first element's to its last element's. A per-lane partial of such
  // a block then holds its own lanes, not the whole row's.
  std::pair<uint64_t, uint64_t> LaneRange(uint64_t begin, uint64_t end) const;
  // The lanes of a block: LaneRange(begin, end) for a row block (box ==
  // nullptr); for a chunk block (*box, hull [begin, end)) the lanes from its
  // first element's to its last element's: a lane is a sum of kept indices
  // times non-negative strides, least at the box's first corner and
  // greatest at its last, so every lane the box reaches lies inside (lanes
  // in between that it does not reach stay untouched).
  std::pair<uint64_t, uint64_t> BlockLaneRange(const Box* box, uint64_t begin, uint64_t end) const;
  // The lane of the element at storage index i.
  uint64_t LaneOf(uint64_t i) const;
  // Whether the element at index i of every row is lane i: the row axis
  // reduced and every other axis kept, stored in the lanes' order ("axis
  // 0" of a C-order array). A block then gives each of its lanes at most
  // one value.
  bool lane_is_index_in_row() const;
  uint64_t OutputIndex(uint64_t lane) const;
  // Whether OutputIndex(l) == l for every lane (all but F order with two or
  // more kept axes).
  bool lanes_in_output_order() const { return !reversed_out_; }
  // OK when a merged partial over lanes [lo, hi) covers every lane; else
  // kWorkerFailed naming `analysis` (a partial went missing in transit).
  Status CheckCovers(const std::string& analysis, uint64_t lo, uint64_t hi) const {
    if (lo == 0 && hi == lanes_) return Status::OK();
    return Error(Code::kWorkerFailed, analysis + ": merged partials do not cover every lane");
  }

  // True when the layout has no element (0 rows): such a dataset merges to
  // a partial over no lane, which its analysis widens to every lane at
  // count 0 (numpy's result for empty input: counts 0, NaN means).
  bool empty() const { return empty_; }

  // f(offset_in_range, length, lane, kept): elements [begin+offset,
  // begin+offset+length) go to lane `lane` (kept == false) or to lanes
  // lane, lane+1, ... (kept == true).
  template <class F>
  void ForEachRun(uint64_t begin, uint64_t end, F&& f) const;

  // Like ForEachRun, but hands over `rows` consecutive runs at once when
  // they map to the same lanes (inner axis kept, the next one reduced):
  // f(offset_in_range, rows, length, lane, kept) covers rows * length
  // elements, row r at offset + r * length.
  template <class F>
  void ForEachTile(uint64_t begin, uint64_t end, F&& f) const;

  // ForEachRun / ForEachTile over one block's elements: the storage range
  // [begin, end) when `box` is nullptr (a row block; exactly ForEachRun /
  // ForEachTile), else the elements of *box stored in C order of the box
  // (a chunk block; begin/end, its hull, are unused). Offsets handed to f
  // are positions in the block's data. Per box run the cost is one
  // ForEachRun set-up (a few divisions, no allocation).
  template <class F>
  void ForEachRunOfBlock(const Box* box, uint64_t begin, uint64_t end, F&& f) const;
  template <class F>
  void ForEachTileOfBlock(const Box* box, uint64_t begin, uint64_t end, F&& f) const;

  // The most coalesced dims (ForEachRun's fixed index array).
  static constexpr size_t kMaxDims = 64;

 private:
  void Coalesce(const std::vector<uint64_t>& sdims, const std::vector<bool>& kept,
                const std::vector<uint64_t>& stride, bool skip_ones);

  Layout layout_;                  // shape and order, for ForEachBoxRun
  std::vector<uint64_t> dims_;     // coalesced storage dims, outermost first
  std::vector<uint64_t> strides_;  // lane stride of each coalesced dim (0 = reduced)
  uint64_t lanes_ = 1;
  uint64_t row_elems_ = 1;
  uint64_t lanes_per_row_ = 0;
  bool row_kept_ = false;
  // When the row axis is reduced and the coalesced dims are reduced, kept
  // [, reduced]: the elements per index of the first (where LaneOf rises
  // with the storage index); else 0.
  uint64_t rising_span_ = 0;
  bool empty_ = false;  // the layout has no element
  std::vector<int64_t> kept_shape_;
  std::vector<uint64_t> kept_storage_sizes_;  // kept dims in storage order
  bool reversed_out_ = false;                 // F order with >= 2 kept axes
};

// The lane range {"lo": L, "hi": H} of a per-lane partial's JSON `j`:
// unsigned integers with L <= H <= lanes, else kDataErr "<who>: ..." (before
// the reader allocates anything for the lanes).
Status ReadLaneRange(const Json& j, uint64_t lanes, const std::string& who, uint64_t* lo,
                     uint64_t* hi);

template <class F>
void LaneGeometry::ForEachRun(uint64_t begin, uint64_t end, F&& f) const {
  const size_t nd = dims_.size();
  const uint64_t inner = dims_[nd - 1];
  const bool inner_kept = strides_[nd - 1] != 0;
  // Multi-index of `begin` over the outer coalesced dims, and the lane base.
  uint64_t idx[kMaxDims];
  uint64_t rest = begin;
  for (size_t d = nd; d-- > 0;) {
    idx[d] = rest % dims_[d];
    rest /= dims_[d];
  }
  uint64_t base = 0;
  for (size_t d = 0; d + 1 < nd; ++d) base += idx[d] * strides_[d];
  uint64_t pos = begin;
  while (pos < end) {
    const uint64_t len = std::min(inner - idx[nd - 1], end - pos);
    f(pos - begin, len, base + (inner_kept ? idx[nd - 1] : 0), inner_kept);
    pos += len;
    idx[nd - 1] += len;
    if (idx[nd - 1] == inner && pos < end) {
      idx[nd - 1] = 0;
      for (size_t d = nd - 1; d-- > 0;) {
        base += strides_[d];
        if (++idx[d] < dims_[d]) break;
        base -= strides_[d] * dims_[d];
        idx[d] = 0;
      }
    }
  }
}

template <class F>
void LaneGeometry::ForEachTile(uint64_t begin, uint64_t end, F&& f) const {
  const size_t nd = dims_.size();
  if (nd < 2 || strides_[nd - 1] == 0 || strides_[nd - 2] != 0) {
    ForEachRun(begin, end, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
      f(off, 1, len, lane, kept);
    });
    return;
  }
  // Inner dim kept (lanes base..base+inner), the next dim reduced: whole
  // inner rows within one index of the dims outside it share their lanes.
  const uint64_t inner = dims_[nd - 1], next = dims_[nd - 2];
  uint64_t pos = begin;
  while (pos < end) {
    const uint64_t in_row = pos % inner;
    if (in_row != 0 || end - pos < inner) {
      const uint64_t len = std::min(inner - in_row, end - pos);
      ForEachRun(pos, pos + len, [&](uint64_t off, uint64_t l, uint64_t lane, bool kept) {
        f(pos - begin + off, 1, l, lane, kept);
      });
      pos += len;
      continue;
    }
    const uint64_t row = pos / inner;                 // index over all outer dims
    const uint64_t left_in_next = next - row % next;  // rows until the next dim wraps
    const uint64_t rows = std::min(left_in_next, (end - pos) / inner);
    uint64_t lane = 0;
    ForEachRun(pos, pos + 1, [&](uint64_t, uint64_t, uint64_t l, bool) { lane = l; });
    f(pos - begin, rows, inner, lane, true);
    pos += rows * inner;
  }
}

template <class F>
void LaneGeometry::ForEachRunOfBlock(const Box* box, uint64_t begin, uint64_t end, F&& f) const {
  if (box == nullptr) return ForEachRun(begin, end, f);
  ForEachBoxRun(layout_, *box, [&](uint64_t data, uint64_t sbegin, uint64_t len) {
    ForEachRun(sbegin, sbegin + len, [&](uint64_t off, uint64_t n, uint64_t lane, bool kept) {
      f(data + off, n, lane, kept);
    });
  });
}

template <class F>
void LaneGeometry::ForEachTileOfBlock(const Box* box, uint64_t begin, uint64_t end, F&& f) const {
  if (box == nullptr) return ForEachTile(begin, end, f);
  ForEachBoxRun(layout_, *box, [&](uint64_t data, uint64_t sbegin, uint64_t len) {
    ForEachTile(sbegin, sbegin + len,
                [&](uint64_t off, uint64_t rows, uint64_t n, uint64_t lane, bool kept) {
                  f(data + off, rows, n, lane, kept);
                });
  });
}

// Merges `right` into `left`, two partials over lane ranges [lo, hi) (a
// worker's blocks touch a range of lanes): an empty side is skipped or
// replaced; otherwise `grow(lo, hi)` widens `left` to the union of the
// ranges when it is narrower (keeping its counts), then left.AddFrom(right)
// adds right's lanes into their places. P has members lo, hi and AddFrom.
template <class P, class Grow>
void MergeLaneRanges(P* left, const P& right, Grow grow) {
  if (right.lo == right.hi) return;
  if (left->lo == left->hi) {
    *left = right;
    return;
  }
  const uint64_t lo = left->lo < right.lo ? left->lo : right.lo;
  const uint64_t hi = left->hi > right.hi ? left->hi : right.hi;
  if (lo != left->lo || hi != left->hi) grow(lo, hi);
  left->AddFrom(right);
}

}  // namespace mm
