#include "core/layout.h"

#include <algorithm>
#include <cstring>

namespace mm {

uint64_t Box::elements() const {
  uint64_t n = 1;
  for (const int64_t c : count) n *= static_cast<uint64_t>(c);
  return n;
}

Box Intersect(const Box& a, const Box& b) {
  Box r = a;
  for (size_t i = 0; i < a.start.size(); ++i) {
    r.start[i] = std::max(a.start[i], b.start[i]);
    r.count[i] = std::max<int64_t>(
        0, std::min(a.start[i] + a.count[i], b.start[i] + b.count[i]) - r.start[i]);
  }
  return r;
}

Box Hull(const Box& a, const Box& b) {
  Box r = a;
  for (size_t i = 0; i < a.start.size(); ++i) {
    r.start[i] = std::min(a.start[i], b.start[i]);
    r.count[i] = std::max(a.start[i] + a.count[i], b.start[i] + b.count[i]) - r.start[i];
  }
  return r;
}

std::pair<uint64_t, uint64_t> StorageSpan(const Layout& layout, const Box& box) {
  uint64_t first = 0, last = 0;
  for (int s = 0; s < layout.ndim(); ++s) {
    const size_t a = static_cast<size_t>(layout.storage_axis(s));
    const uint64_t dim = static_cast<uint64_t>(layout.shape[a]);
    first = first * dim + static_cast<uint64_t>(box.start[a]);
    last = last * dim + static_cast<uint64_t>(box.start[a] + box.count[a] - 1);
  }
  return {first, last + 1};
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

void CopyInnerBox(const Layout& layout, const Box& outer, const char* outer_data, const Box& inner,
                  size_t itemsize, std::vector<char>* out, uint64_t* begin, uint64_t* end) {
  const int n = layout.ndim();
  out->resize(inner.elements() * itemsize);
  bool first = true;
  ForEachBoxRun(layout, inner, [&](uint64_t at, uint64_t sbegin, uint64_t len) {
    // The run's place in outer's arrangement: its storage coordinates,
    // relative to outer, in outer's storage-order counts. A run spans only
    // storage dims inner (so outer) spans whole: it is one run of outer too.
    uint64_t rest = sbegin, offset = 0, scale = 1;
    for (int s = n - 1; s >= 0; --s) {
      const size_t a = static_cast<size_t>(layout.storage_axis(s));
      const uint64_t dim = static_cast<uint64_t>(layout.shape[a]);
      const uint64_t x = rest % dim - static_cast<uint64_t>(outer.start[a]);
      rest /= dim;
      offset += x * scale;
      scale *= static_cast<uint64_t>(outer.count[a]);
    }
    std::memcpy(out->data() + at * itemsize, outer_data + offset * itemsize, len * itemsize);
    if (first) *begin = sbegin;
    first = false;
    *end = sbegin + len;
  });
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
