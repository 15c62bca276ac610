// Layout: where an N-d array sits in a file and how its elements are ordered.
//
// A *row* is one index along the outermost storage axis: axis 0 for C order,
// the last axis for F order (SPEC §2). Storage order lists the axes from the
// slowest-varying to the fastest: the shape as is for C, reversed for F.
// Elements are numbered in storage order from 0 ("storage index").
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace mm {

struct Layout {
  DType dtype;
  std::vector<int64_t> shape;   // resolved: entries >= 1, except rows() may be 0 (an empty dataset)
  char order = 'C';             // 'C' or 'F'
  uint64_t offset = 0;          // bytes before the first element
  uint64_t trailing_bytes = 0;  // bytes after the last whole row

  int ndim() const { return static_cast<int>(shape.size()); }
  int row_axis() const { return order == 'C' ? 0 : ndim() - 1; }
  int64_t rows() const { return shape[static_cast<size_t>(row_axis())]; }
  uint64_t elements() const;
  // Elements of one row: the product of the other axes (defined for 0 rows).
  uint64_t row_elements() const;
  uint64_t row_bytes() const { return row_elements() * static_cast<uint64_t>(dtype.itemsize()); }
  uint64_t data_bytes() const { return elements() * static_cast<uint64_t>(dtype.itemsize()); }
  // Axis number of storage dimension s (0 = the row axis).
  int storage_axis(int s) const { return order == 'C' ? s : ndim() - 1 - s; }
  std::vector<int64_t> storage_dims() const;
};

// Resolves a shape with at most one -1 against the bytes available after the
// offset, as numpy's reshape does with whole rows. A -1 on the row axis
// (layout->order must be set) resolves to 0 when the bytes hold no whole row:
// an empty dataset (an append-only file not yet written). Errors: kConfig for
// a bad shape (two -1, zero or negative entries, empty), kDataErr when the
// bytes do not hold the array ("needs N bytes, has M").
Status ResolveShape(const std::vector<int64_t>& spec, uint64_t available_bytes, Layout* layout);

// An N-D box in array coordinates (the axis order of Layout::shape, not
// storage order): elements start[i] <= x[i] < start[i] + count[i].
struct Box {
  std::vector<int64_t> start;
  std::vector<int64_t> count;
  bool operator==(const Box& o) const { return start == o.start && count == o.count; }
  uint64_t elements() const;
};

// The elements of both boxes (of one rank): a box of no elements (some
// count 0) when they do not meet.
Box Intersect(const Box& a, const Box& b);
// The smallest box holding both (of one rank).
Box Hull(const Box& a, const Box& b);
// The storage indices [first, last + 1) of a non-empty `box`'s first and
// last elements in `layout` (its hull in storage order).
std::pair<uint64_t, uint64_t> StorageSpan(const Layout& layout, const Box& box);

// Calls f(data_offset, storage_begin, length) for each maximal run of
// consecutive storage indices of `box`, in storage order: the box's
// elements, stored one after the other in storage order (C order of the
// box for an order 'C' layout), hold storage indices [storage_begin,
// storage_begin + length) at elements [data_offset, data_offset + length).
// Runs coalesce the box's inner dimensions that span their whole axis.
template <class F>
void ForEachBoxRun(const Layout& layout, const Box& box, F&& f);

// Copies the elements of `inner` (a box inside `outer`) from `outer_data`,
// the elements of `outer` stored as ForEachBoxRun describes, into *out in
// the same arrangement for `inner`; `itemsize` bytes each. *begin and *end
// get the storage index of inner's first element and one past its last
// (its hull). REQUIRES inner within outer, both non-empty.
void CopyInnerBox(const Layout& layout, const Box& outer, const char* outer_data, const Box& inner,
                  size_t itemsize, std::vector<char>* out, uint64_t* begin, uint64_t* end);

// "[1000, 10]"
std::string ShapeString(const std::vector<int64_t>& shape);

template <class F>
void ForEachBoxRun(const Layout& layout, const Box& box, F&& f) {
  const int n = layout.ndim();  // at most 64 (numpy allows 32)
  if (n == 0) {
    f(uint64_t{0}, uint64_t{0}, uint64_t{1});
    return;
  }
  // Storage-order dims, box start and count; then the run: the innermost
  // storage dims the box spans whole, plus the first one it does not.
  uint64_t dims[64] = {}, start[64] = {}, count[64] = {};
  for (int s = 0; s < n; ++s) {
    const size_t a = static_cast<size_t>(layout.storage_axis(s));
    dims[s] = static_cast<uint64_t>(layout.shape[a]);
    start[s] = static_cast<uint64_t>(box.start[a]);
    count[s] = static_cast<uint64_t>(box.count[a]);
    if (count[s] == 0) return;
  }
  int d = n - 1;  // the run covers storage dims d..n-1
  uint64_t run = count[n - 1];
  while (d > 0 && count[d] == dims[d]) {
    --d;
    run *= count[d];
  }
  uint64_t below = 1;  // elements of one index of dim d
  for (int s = d + 1; s < n; ++s) below *= dims[s];
  uint64_t idx[64] = {};
  for (int s = 0; s < d; ++s) idx[s] = 0;
  uint64_t offset = 0;
  for (;;) {
    uint64_t begin = 0;
    for (int s = 0; s < d; ++s) begin = begin * dims[s] + start[s] + idx[s];
    begin = begin * dims[d] * below + start[d] * below;
    f(offset, begin, run);
    offset += run;
    int s = d - 1;
    for (; s >= 0; --s) {
      if (++idx[s] < count[s]) break;
      idx[s] = 0;
    }
    if (s < 0) return;
  }
}

}  // namespace mm
