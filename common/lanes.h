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
// lanes (inner axis kept).
#pragma once

#include <cstdint>
#include <vector>

#include "common/layout.h"

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
  // Lanes [first, last) touched by storage range [begin, end).
  std::pair<uint64_t, uint64_t> LaneRange(uint64_t begin, uint64_t end) const;
  uint64_t OutputIndex(uint64_t lane) const;

  // f(offset_in_range, length, lane, kept): elements [begin+offset,
  // begin+offset+length) go to lane `lane` (kept == false) or to lanes
  // lane, lane+1, ... (kept == true).
  template <class F>
  void ForEachRun(uint64_t begin, uint64_t end, F&& f) const;

 private:
  std::vector<uint64_t> dims_;     // coalesced storage dims, outermost first
  std::vector<uint64_t> strides_;  // lane stride of each coalesced dim (0 = reduced)
  uint64_t lanes_ = 1;
  uint64_t row_elems_ = 1;
  uint64_t lanes_per_row_ = 0;
  bool row_kept_ = false;
  std::vector<int64_t> kept_shape_;
  std::vector<uint64_t> kept_storage_sizes_;  // kept dims in storage order
  bool reversed_out_ = false;                 // F order with >= 2 kept axes
};

template <class F>
void LaneGeometry::ForEachRun(uint64_t begin, uint64_t end, F&& f) const {
  const size_t nd = dims_.size();
  const uint64_t inner = dims_[nd - 1];
  const bool inner_kept = strides_[nd - 1] != 0;
  // Multi-index of `begin` over the outer coalesced dims, and the lane base.
  std::vector<uint64_t> idx(nd, 0);
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

}  // namespace mm
