// The HDF5 Source of a dataset that is not read in place (hdf5_format.h):
// chunked datasets, whose blocks are the chunks, and compact, external and
// virtual ones, whose blocks are row blocks.
//
// ReadWindow decodes each block of the window into the window's own buffer
// with H5Dread of the block's hyperslab (a chunk block: exactly one chunk,
// the box's elements in C order of the box). libhdf5 then applies every
// filter and plugin, the fill value of unwritten chunks, edge chunks and the
// chunks' filter-mask bits; its chunk cache is sized to hold a chunk
// (hdf5_file.h). The element type read is the file's own (no conversion), so
// the bytes are those the DType describes, in the file's byte order.
// ReadElements gathers a storage-index range (cov's columns, --state's
// checksums) as the boxes that tile it.
//
// Errors: kDataErr naming the chunk's grid coordinates and element ranges
// when a chunk fails to decode or fails its checksum (and, for row blocks,
// the storage range); kIoErr when the file shrank (Window::Close).
//
// Process rules: the Source opens its own HDF5 handles from the run's
// descriptor (hdf5_file.h) in the process that calls OpenHdf5Source, and
// closes them when destroyed: never keep one across a fork. Windows are
// plain buffers and hold no HDF5 handle.
#pragma once

#include <memory>
#include <vector>

#include "core/layout.h"
#include "source/dataset.h"
#include "source/source.h"

namespace mm {

Result<std::unique_ptr<Source>> OpenHdf5Source(const Dataset& d);

// The boxes, in C order, whose elements in C order are the storage indices
// [begin, end) of a C-order array of `shape` (at most 2 * ndim - 1 boxes).
std::vector<Box> BoxesOfRange(const std::vector<int64_t>& shape, uint64_t begin, uint64_t end);

}  // namespace mm
