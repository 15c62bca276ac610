#include "source/source.h"

#include <algorithm>

namespace mm {

std::optional<Box> PartitionBlockBox(const Layout& layout, const Partition& partition, int64_t b) {
  const int n = layout.ndim();
  const std::vector<int64_t> dims = layout.storage_dims();
  // The box in storage order: dims[0] is the row axis.
  std::vector<int64_t> start(static_cast<size_t>(n), 0), count = dims;
  const uint64_t row = layout.row_elements();
  const uint64_t begin = partition.block_begin(b), end = partition.block_end(b);
  if (partition.rows_per_block() > 0 || row == 0) {
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
  Box box;
  box.start.resize(static_cast<size_t>(n));
  box.count.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    box.start[static_cast<size_t>(layout.storage_axis(i))] = start[static_cast<size_t>(i)];
    box.count[static_cast<size_t>(layout.storage_axis(i))] = count[static_cast<size_t>(i)];
  }
  return box;
}

}  // namespace mm
