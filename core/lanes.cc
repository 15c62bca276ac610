#include "core/lanes.h"

#include <algorithm>

namespace mm {

LaneGeometry::LaneGeometry(const Layout& layout, const std::vector<int>& reduced)
    : layout_(layout) {
  const int nd = layout.ndim();
  auto is_reduced = [&](int axis) {
    return std::find(reduced.begin(), reduced.end(), axis) != reduced.end();
  };
  // Storage dims with their kept flag; lane strides over kept dims in storage order.
  std::vector<uint64_t> sdims;
  std::vector<bool> kept;
  for (int s = 0; s < nd; ++s) {
    sdims.push_back(
        static_cast<uint64_t>(layout.shape[static_cast<size_t>(layout.storage_axis(s))]));
    kept.push_back(!is_reduced(layout.storage_axis(s)));
  }
  std::vector<uint64_t> stride(static_cast<size_t>(nd), 0);
  uint64_t acc = 1;
  for (int s = nd; s-- > 0;) {
    if (kept[static_cast<size_t>(s)]) {
      stride[static_cast<size_t>(s)] = acc;
      acc *= sdims[static_cast<size_t>(s)];
    }
  }
  lanes_ = acc;
  row_kept_ = kept[0];
  row_elems_ = layout.row_elements();
  lanes_per_row_ = 1;  // the kept dims but the row's (also when there are 0 rows)
  for (int s = 1; s < nd; ++s)
    if (kept[static_cast<size_t>(s)]) lanes_per_row_ *= sdims[static_cast<size_t>(s)];
  if (!row_kept_) lanes_per_row_ = lanes_;
  empty_ = layout.elements() == 0;
  for (int s = 0; s < nd; ++s)
    if (kept[static_cast<size_t>(s)]) kept_storage_sizes_.push_back(sdims[static_cast<size_t>(s)]);
  for (int a = 0; a < nd; ++a)
    if (!is_reduced(a)) kept_shape_.push_back(layout.shape[static_cast<size_t>(a)]);
  reversed_out_ = layout.order == 'F' && kept_shape_.size() >= 2;
  Coalesce(sdims, kept, stride, false);
  // More than kMaxDims groups needs dims of size 1 (the elements are fewer
  // than 2^62): those hold no index and are dropped then.
  if (dims_.size() > kMaxDims) Coalesce(sdims, kept, stride, true);
  // Inside one index of a reduced first dim followed by kept dims, then at
  // most reduced ones, a later element's lane is never smaller: the first
  // dim where two indices differ is kept (its lane stride exceeds what the
  // kept dims after it can add) or reduced with only reduced dims after it.
  if (!row_kept_ && strides_[0] == 0 && dims_.size() >= 2 && dims_.size() <= 3) {
    rising_span_ = 1;
    for (size_t d = 1; d < dims_.size(); ++d) rising_span_ *= dims_[d];
  }
}

void LaneGeometry::Coalesce(const std::vector<uint64_t>& sdims, const std::vector<bool>& kept,
                            const std::vector<uint64_t>& stride, bool skip_ones) {
  // Coalesce neighbours that are both reduced or both kept.
  dims_.clear();
  strides_.clear();
  for (size_t i = 0; i < sdims.size(); ++i) {
    if (skip_ones && sdims[i] == 1) continue;
    if (!dims_.empty() && (strides_.back() == 0) == !kept[i]) {
      dims_.back() *= sdims[i];
      if (kept[i]) strides_.back() = stride[i];
    } else {
      dims_.push_back(sdims[i]);
      strides_.push_back(stride[i]);
    }
  }
  if (dims_.empty()) {  // every dim of size 1 dropped: one element, lane 0
    dims_.push_back(1);
    strides_.push_back(0);
  }
}

bool LaneGeometry::lane_is_index_in_row() const {
  if (row_kept_ || empty_ || lanes_ != row_elems_) return false;
  if (lanes_ == 1) return true;  // rows of one element, all in lane 0
  // Coalesced: [rows (reduced),] one kept dim of lane stride 1 spanning
  // the row (a row axis of one index is left out).
  return !dims_.empty() && strides_.back() == 1 &&
         (dims_.size() == 1 || (dims_.size() == 2 && strides_[0] == 0));
}

std::pair<uint64_t, uint64_t> LaneGeometry::LaneRange(uint64_t begin, uint64_t end) const {
  if (begin >= end) return {0, lanes_};
  if (!row_kept_) {
    if (rising_span_ != 0 && begin / rising_span_ == (end - 1) / rising_span_)
      return {LaneOf(begin), LaneOf(end - 1) + 1};
    return {0, lanes_};
  }
  const uint64_t first_row = begin / row_elems_, last_row = (end - 1) / row_elems_ + 1;
  return {first_row * lanes_per_row_, last_row * lanes_per_row_};
}

std::pair<uint64_t, uint64_t> LaneGeometry::BlockLaneRange(const Box* box, uint64_t begin,
                                                           uint64_t end) const {
  if (box == nullptr) return LaneRange(begin, end);
  return {LaneOf(begin), LaneOf(end - 1) + 1};
}

uint64_t LaneGeometry::LaneOf(uint64_t i) const {
  uint64_t lane = 0;
  for (size_t d = dims_.size(); d-- > 0;) {
    lane += i % dims_[d] * strides_[d];
    i /= dims_[d];
  }
  return lane;
}

uint64_t LaneGeometry::OutputIndex(uint64_t lane) const {
  if (!reversed_out_) return lane;
  // Internal: C order over kept dims in storage order (axes reversed).
  // Output: C order over the same dims reversed.
  const size_t k = kept_storage_sizes_.size();
  uint64_t out = 0, rest = lane;
  std::vector<uint64_t> idx(k);
  for (size_t d = k; d-- > 0;) {
    idx[d] = rest % kept_storage_sizes_[d];
    rest /= kept_storage_sizes_[d];
  }
  for (size_t d = k; d-- > 0;) out = out * kept_storage_sizes_[d] + idx[d];
  return out;
}

Status ReadLaneRange(const Json& j, uint64_t lanes, const std::string& who, uint64_t* lo,
                     uint64_t* hi) {
  if (!j.is_object() || !j.contains("lo") || !j.contains("hi") || !j["lo"].is_number_unsigned() ||
      !j["hi"].is_number_unsigned())
    return Error(Code::kDataErr, who + ": no lane range");
  *lo = j["lo"].get<uint64_t>();
  *hi = j["hi"].get<uint64_t>();
  if (*hi < *lo || *hi > lanes)
    return Error(Code::kDataErr, who + ": lanes [" + std::to_string(*lo) + ", " +
                                     std::to_string(*hi) + ") outside the " +
                                     std::to_string(lanes) + " lanes");
  return Status::OK();
}

}  // namespace mm
