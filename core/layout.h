// Layout: where an N-d array sits in a file and how its elements are ordered.
//
// A *row* is one index along the outermost storage axis: axis 0 for C order,
// the last axis for F order (SPEC §2). Storage order lists the axes from the
// slowest-varying to the fastest: the shape as is for C, reversed for F.
// Elements are numbered in storage order from 0 ("storage index").
#pragma once

#include <cstdint>
#include <string>
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

// "[1000, 10]"
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace mm
