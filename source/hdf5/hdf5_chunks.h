// Direct chunk reads of a chunked HDF5 dataset (internal to source/hdf5/):
// the chunk's file address, stored size and filter mask from libhdf5's
// chunk index (H5Dget_chunk_info_by_coord), then the stored bytes decoded
// here instead of by H5Dread (docs/HDF5.md "What is read, and how").
//
// Only pipelines made of at most one shuffle and at most one deflate filter
// (in either order, each skippable per chunk by its filter-mask bit), or at
// most one shuffle and one blosc filter (hdf5-blosc's, id 32001), are
// decoded here: deflate with libdeflate (a chunk that does not inflate, or
// inflates to another size than the chunk's bytes, is an error), shuffle by
// a byte transposition identical to libhdf5's (trailing bytes that do not
// make an element stay in place), blosc with libblosc (any inner codec and
// shuffle it was built with; the stream's own header says which, so the
// filter's cd_values are not needed; a header whose sizes do not fit the
// stored bytes or the chunk is an error before anything is decompressed). Every other dataset
// (other filters, or partial edge chunks stored unfiltered, H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS)
// gets no ChunkDecoder and is read by H5Dread.
//
// An unallocated chunk reads as libhdf5 makes H5Dread read it into a zeroed
// buffer: the fill value (in the file's type) unless the fill time is NEVER
// or the fill value is undefined, then zeros.
//
// Thread and process rules: one ChunkDecoder belongs to the thread and
// process of the Hdf5Source that made it; Lookup uses its dataset handle.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/layout.h"

struct libdeflate_decompressor;

namespace mm {

// hdf5-blosc's registered HDF5 filter id (hdf5plugin and Debian's plugin).
constexpr H5Z_filter_t kBloscFilter = 32001;

// Where a chunk's stored bytes are in the file.
struct StoredChunk {
  bool allocated = false;    // false: never written, reads as FillBytes()
  bool located = false;      // address and filter_mask are known
  bool by_libhdf5 = false;   // not found by the quick lookup: read with H5Dread
  uint64_t address = 0;      // file offset of the stored bytes (when located)
  uint64_t size = 0;         // stored bytes
  unsigned filter_mask = 0;  // when located; else ReadStored gives it
};

// Datasets with at most this many chunks in their grid are looked up with
// H5Dget_chunk_info_by_coord, which gives the address (for reading in
// place) but walks the chunk index up to the chunk in libhdf5 1.10 (8 us
// for the last of 216 chunks, 46 ms for the last of 62500); larger grids
// with H5Dget_chunk_storage_size and H5Dread_chunk (~5 us at any size).
constexpr uint64_t kLocatedChunks = 512;

class ChunkDecoder {
 public:
  // The decoder of chunked dataset `dset` (file type `type`, chunk shape
  // `chunks`, elements of `item` bytes), or nullptr when its chunks are left
  // to H5Dread (see the file comment). Clears the HDF5 error stack.
  static std::unique_ptr<ChunkDecoder> Make(hid_t dset, hid_t type,
                                            const std::vector<int64_t>& chunks, uint64_t item);
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  // The bytes of a whole (unclipped) chunk.
  uint64_t chunk_bytes() const { return chunk_bytes_; }
  // One element's bytes of an unallocated chunk (item bytes).
  const std::vector<char>& FillBytes() const { return fill_; }
  // Whether a chunk with this filter mask is stored as its elements, so its
  // stored bytes can be used as they are.
  bool Unfiltered(unsigned filter_mask) const;

  // Looks up the chunk whose first element is `origin` in `dset` (see
  // kLocatedChunks). False with libhdf5's reason in *why when the chunk
  // index cannot be read. In a large grid a chunk that the quick lookup
  // does not find (never written, or an index error) is by_libhdf5.
  bool Lookup(hid_t dset, const std::vector<int64_t>& origin, StoredChunk* out, std::string* why);
  // Reads the stored bytes of a chunk that is not located (H5Dread_chunk:
  // libhdf5 checks its address) into `out` (room for its size) and gives
  // its filter mask. False with libhdf5's reason in *why.
  bool ReadStored(hid_t dset, const std::vector<int64_t>& origin, char* out, unsigned* filter_mask,
                  std::string* why);

  // Decodes `size` stored bytes of a chunk with `filter_mask` into `out`
  // (chunk_bytes() of room): the whole chunk's elements in C order. False
  // with the reason in *why when they do not decode to exactly
  // chunk_bytes(). `in` is only read; it may be a read-only mapping.
  bool Decode(const char* in, uint64_t size, unsigned filter_mask, char* out, std::string* why);

 private:
  ChunkDecoder() = default;
  enum class Step { kShuffle, kDeflate, kBlosc };
  // Decompresses the blosc stream of `size` stored bytes at `in` into `out`
  // (chunk_bytes() of room). False with the reason in *why unless the
  // header fits the stored bytes and claims exactly chunk_bytes().
  bool Unblosc(const char* in, uint64_t size, char* out, std::string* why) const;
  std::vector<Step> steps_;  // the pipeline in write order; bit i of a mask skips steps_[i]
  uint64_t shuffle_item_ = 1;
  uint64_t chunk_bytes_ = 0;
  bool located_ = false;  // the grid has at most kLocatedChunks chunks
  // Added to H5Dget_chunk_info_by_coord's addresses: the file's user block
  // before libhdf5 1.14.4, whose chunk addresses leave it out (HDF5 pull
  // request 4236; H5Dget_offset always included it). 0 from 1.14.4 on.
  uint64_t address_base_ = 0;
  std::vector<char> fill_;
  std::vector<char> scratch_;  // between two decode steps
  libdeflate_decompressor* inflater_ = nullptr;
};

// Whether H5Dread leaves the memory of dataset `dset`'s unallocated chunks
// untouched (fill time NEVER, or IFSET without a fill value): a caller that
// wants zeros there (what h5py reads) zeroes its buffer first.
bool H5DreadSkipsUnallocated(hid_t dset);

// The byte ranges {offset in the chunk, bytes} that hold the elements of
// `part` (a non-empty box inside the chunk of shape `chunks` whose first
// element is `origin`), in C order of the part, adjacent ranges joined.
std::vector<std::pair<uint64_t, uint64_t>> ChunkPartRuns(const std::vector<int64_t>& chunks,
                                                         const std::vector<int64_t>& origin,
                                                         const Box& part, uint64_t item);

// Copies the elements of `part` (as ChunkPartRuns) out of the whole chunk
// `full` into `out`, in C order of the part.
void ClipChunk(const char* full, const std::vector<int64_t>& chunks,
               const std::vector<int64_t>& origin, const Box& part, uint64_t item, char* out);

}  // namespace mm
