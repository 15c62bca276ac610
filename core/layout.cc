#include "core/layout.h"

namespace mm {

uint64_t Box::elements() const {
  uint64_t n = 1;
  for (const int64_t c : count) n *= static_cast<uint64_t>(c);
  return n;
}

uint64_t Layout::elements() const {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

uint64_t Layout::row_elements() const {
  uint64_t n = 1;
  for (int i = 0; i < ndim(); ++i)
    if (i != row_axis()) n *= static_cast<uint64_t>(shape[static_cast<size_t>(i)]);
  return n;
}

std::vector<int64_t> Layout::storage_dims() const {
  std::vector<int64_t> dims(shape.size());
  for (int s = 0; s < ndim(); ++s)
    dims[static_cast<size_t>(s)] = shape[static_cast<size_t>(storage_axis(s))];
  return dims;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Status ResolveShape(const std::vector<int64_t>& spec, uint64_t available_bytes, Layout* layout) {
  if (spec.empty()) return Error(Code::kConfig, "dataset.shape: must hold at least one dimension");
  int inferred = -1;
  unsigned __int128 known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) {
      if (inferred >= 0) return Error(Code::kConfig, "dataset.shape: only one entry may be -1");
      inferred = static_cast<int>(i);
    } else if (spec[i] <= 0) {
      return Error(
          Code::kConfig,
          "dataset.shape: entries must be positive integers or one -1, got " + ShapeString(spec));
    } else {
      known *= static_cast<unsigned __int128>(spec[i]);
      if (known > (static_cast<unsigned __int128>(1) << 62))
        return Error(Code::kConfig, "dataset.shape: " + ShapeString(spec) + " is too large");
    }
  }
  const uint64_t item = static_cast<uint64_t>(layout->dtype.itemsize());
  if (known * item > (static_cast<unsigned __int128>(1) << 62))
    return Error(Code::kConfig, "dataset.shape: " + ShapeString(spec) + " is too large");
  layout->shape = spec;
  if (inferred >= 0) {
    const unsigned __int128 slab = known * item;  // bytes per index of the inferred axis
    const uint64_t count = static_cast<uint64_t>(available_bytes / slab);
    const int row_axis = layout->order == 'F' ? static_cast<int>(spec.size()) - 1 : 0;
    if (count == 0 && inferred != row_axis) {
      return Error(Code::kDataErr, "file holds " + std::to_string(available_bytes) +
                                       " bytes of data, less than one row of shape " +
                                       ShapeString(spec) + " " + layout->dtype.name());
    }
    layout->shape[static_cast<size_t>(inferred)] = static_cast<int64_t>(count);
  }
  const uint64_t need = layout->data_bytes();
  if (need > available_bytes) {
    return Error(Code::kDataErr, "file too small: shape " + ShapeString(layout->shape) + " " +
                                     layout->dtype.name() + " needs " + std::to_string(need) +
                                     " bytes of data, the file has " +
                                     std::to_string(available_bytes));
  }
  layout->trailing_bytes = available_bytes - need;
  return Status::OK();
}

}  // namespace mm
