// The HDF5 (and netCDF-4) storage driver's registry entry (SPEC §7,
// docs/HDF5.md): probe, describe, open and inspect.
//
// describe opens the run's file through its descriptor (hdf5_file.h), finds
// the dataset (dataset.name, or the file's only numeric dataset), maps its
// element type to a DType (every numeric type of SPEC §2 in either byte
// order, h5py's float16 and bool; n-bit integers and non-IEEE floats as
// the full-size type H5Dread converts them to: Hdf5MemoryType in
// hdf5_file.h) and reads its shape and storage layout:
//   contiguous (allocated, no external files): Dataset::storage
//     "contiguous", layout.offset = the data's file offset; the Source is the
//     raw driver at that offset (byte-identical to a raw copy;
//     mode r+ allowed, so transform works);
//   chunked: Dataset::chunks = the chunk shape (the blocks are the chunks),
//     every filter checked available; the Source decodes chunk by chunk
//     with H5Dread (hdf5_source.h);
//   compact, external, virtual (and a contiguous dataset never written or
//     of a converted type): row blocks read with H5Dread. External files
//     and virtual sources must be regular files (a missing virtual source
//     reads as the fill value, as in h5py).
// CF decoding ("cf", docs/HDF5.md "CF attributes"): Dataset::cf says what
// is decoded, layout.dtype becomes the decoded type, and the Source is the
// one above wrapped by the decoder (cf_source.h).
// Every HDF5 handle is closed before describe and inspect return (the
// coordinator forks after them; hdf5_file.h).
//
// Errors: kConfig (78) for a missing, misspelt or group name (naming the
// closest dataset), for dtype/shape/order/offset keys that contradict the
// file, for mode r+ on a dataset not stored contiguously or CF-decoded, and
// for an integer scale_factor/add_offset; kDataErr (65) for an unsupported
// element type (naming it), a filter that is not available (naming it and
// the plugin folders), a file libhdf5 cannot read or a contiguous dataset
// past the end of the file; kIoErr (74) when the file HDF5 opened is not
// the run's; kNoInput (66) for an external file or virtual source that is
// not a regular file; kLocked (75) when another process has the file open
// for writing.
//
// Thread rules: hdf5_file.h (one thread per process).
#pragma once

#include <memory>
#include <string_view>

#include "source/dataset.h"
#include "source/source.h"

namespace mm {

// Whether the file has the HDF5 signature at byte 0 (in `first_bytes`) or
// after a user block of 512, 1024, 2048 ... bytes (pread from `fd`, when
// >= 0, up to the file's size).
bool ProbeHdf5(std::string_view first_bytes, int fd);

Status DescribeHdf5(const DatasetSpec& spec, int fd, Dataset* d);

// Whether a described HDF5 dataset is read in place through the raw
// driver (contiguous, allocated, no external files).
bool Hdf5MappedInPlace(const Dataset& d);

// The bytes of the chunk cache a worker gives a dataset whose chunks hold
// `chunk_bytes` (decoded): room for two chunks, at least libhdf5's default
// 1 MiB. With the window of decoded blocks (source.h), the bound on a
// worker's decoded memory that `validate` prints.
uint64_t Hdf5ChunkCacheBytes(uint64_t chunk_bytes);
// Hdf5ChunkCacheBytes of the dataset's stored chunk (0 when not chunked),
// plus, for a CF-decoded dataset, the stored window the decoder holds while
// it decodes one: its registry entry's cache_bytes.
uint64_t Hdf5CacheBytes(const Dataset& d);

// The dataset's Source over the run's descriptor d.file: the raw driver for
// a contiguous dataset, else an Hdf5Source that opens the file
// itself (call it in the process that reads: never across a fork).
Result<std::unique_ptr<Source>> OpenHdf5Dataset(const Dataset& d);

// `mmrun inspect`: every dataset of the file (spec.name: that one), each
// with name, dtype (or the unsupported type), shape, layout, chunk shape,
// filters, fill value, CF attributes, stored and logical bytes.
Result<Json> InspectHdf5(const DatasetSpec& spec, int fd);

}  // namespace mm
