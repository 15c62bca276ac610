#include "source/hdf5/hdf5_chunks.h"

#include <blosc.h>
#include <libdeflate.h>

#include <cstring>

#include "source/hdf5/hdf5_file.h"
#include "source/hdf5/hdf5_library.h"

namespace mm {

namespace {

// libhdf5's H5Z shuffle undone: `n` bytes of elements of `s` bytes stored
// byte plane by byte plane; the n % s trailing bytes were left in place.
template <uint64_t S>
void UnshuffleFixed(const char* in, uint64_t elements, char* out) {
  for (uint64_t i = 0; i < elements; ++i)
    for (uint64_t j = 0; j < S; ++j) out[i * S + j] = in[j * elements + i];
}

void Unshuffle(const char* in, uint64_t n, uint64_t s, char* out) {
  const uint64_t elements = s > 0 ? n / s : 0;
  if (s <= 1 || elements <= 1) {
    std::memcpy(out, in, n);
    return;
  }
  switch (s) {
    case 2:
      UnshuffleFixed<2>(in, elements, out);
      break;
    case 4:
      UnshuffleFixed<4>(in, elements, out);
      break;
    case 8:
      UnshuffleFixed<8>(in, elements, out);
      break;
    default:
      for (uint64_t i = 0; i < elements; ++i)
        for (uint64_t j = 0; j < s; ++j) out[i * s + j] = in[j * elements + i];
  }
  std::memcpy(out + elements * s, in + elements * s, n - elements * s);
}

}  // namespace

bool H5DreadSkipsUnallocated(hid_t dset) {
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  H5D_fill_time_t when = H5D_FILL_TIME_IFSET;
  H5D_fill_value_t status = H5D_FILL_VALUE_UNDEFINED;
  const bool skips = !dcpl.valid() || H5Pget_fill_time(dcpl.get(), &when) < 0 ||
                     H5Pfill_value_defined(dcpl.get(), &status) < 0 ||
                     when == H5D_FILL_TIME_NEVER ||
                     (when == H5D_FILL_TIME_IFSET && status == H5D_FILL_VALUE_UNDEFINED);
  H5Eclear2(H5E_DEFAULT);
  return skips;
}

std::unique_ptr<ChunkDecoder> ChunkDecoder::Make(hid_t dset, hid_t type,
                                                 const std::vector<int64_t>& chunks,
                                                 uint64_t item) {
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  if (!dcpl.valid() || chunks.empty()) {
    H5Eclear2(H5E_DEFAULT);
    return nullptr;
  }
  std::unique_ptr<ChunkDecoder> d(new ChunkDecoder());
  const int n = H5Pget_nfilters(dcpl.get());
  bool shuffle = false, deflate = false, blosc = false;
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0, config = 0, cd[8] = {0};
    size_t nelmts = 8;
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelmts,
                                           cd, 0, nullptr, &config);
    if (id == H5Z_FILTER_SHUFFLE && !shuffle) {
      shuffle = true;
      d->steps_.push_back(Step::kShuffle);
      d->shuffle_item_ = nelmts >= 1 ? cd[0] : item;
    } else if (id == H5Z_FILTER_DEFLATE && !deflate) {
      deflate = true;
      d->steps_.push_back(Step::kDeflate);
    } else if (id == kBloscFilter && !blosc) {
      blosc = true;
      d->steps_.push_back(Step::kBlosc);
    } else {
      H5Eclear2(H5E_DEFAULT);
      return nullptr;  // another filter, or one twice: H5Dread
    }
  }
  unsigned opts = 0;
  // deflate's output room would not be the chunk's bytes; a codec library
  // that cannot be loaded leaves the chunks to libhdf5's own filters.
  if ((blosc && deflate) || (blosc && !BloscLibrary().Load().ok()) ||
      (deflate && !DeflateLibrary().Load().ok())) {
    H5Eclear2(H5E_DEFAULT);
    return nullptr;
  }
  if (n < 0 || (n > 0 && (H5Pget_chunk_opts(dcpl.get(), &opts) < 0 ||
                          (opts & H5D_CHUNK_DONT_FILTER_PARTIAL_CHUNKS) != 0))) {
    H5Eclear2(H5E_DEFAULT);
    return nullptr;
  }
  d->chunk_bytes_ = item;
  for (const int64_t c : chunks) d->chunk_bytes_ *= static_cast<uint64_t>(c);
  Hid space(H5Dget_space(dset), H5Sclose);
  std::vector<hsize_t> dims(chunks.size());
  if (!space.valid() || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) !=
                            static_cast<int>(dims.size())) {
    H5Eclear2(H5E_DEFAULT);
    return nullptr;
  }
  uint64_t grid = 1;
  for (size_t a = 0; a < dims.size() && grid <= kLocatedChunks; ++a)
    grid *= (dims[a] + static_cast<uint64_t>(chunks[a]) - 1) / static_cast<uint64_t>(chunks[a]);
  d->located_ = grid <= kLocatedChunks;
  if (d->located_) {
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    const bool relative = major == 1 && (minor < 14 || (minor == 14 && release < 4));
    Hid file(H5Iget_file_id(dset), H5Fclose);
    Hid fcpl(file.valid() ? H5Fget_create_plist(file.get()) : -1, H5Pclose);
    hsize_t user_block = 0;
    if (!fcpl.valid() || H5Pget_userblock(fcpl.get(), &user_block) < 0) {
      H5Eclear2(H5E_DEFAULT);
      return nullptr;
    }
    d->address_base_ = relative ? user_block : 0;
  }
  // The fill value as H5Dread gives it (the file comment); zeros otherwise.
  d->fill_.assign(item, 0);
  H5D_fill_time_t when = H5D_FILL_TIME_IFSET;
  H5D_fill_value_t status = H5D_FILL_VALUE_UNDEFINED;
  if (H5Pget_fill_time(dcpl.get(), &when) < 0 || H5Pfill_value_defined(dcpl.get(), &status) < 0 ||
      (when != H5D_FILL_TIME_NEVER && status != H5D_FILL_VALUE_UNDEFINED &&
       H5Pget_fill_value(dcpl.get(), type, d->fill_.data()) < 0)) {
    H5Eclear2(H5E_DEFAULT);
    return nullptr;
  }
  if (deflate) {
    d->inflater_ = libdeflate_alloc_decompressor();
    if (d->inflater_ == nullptr) return nullptr;
  }
  return d;
}

ChunkDecoder::~ChunkDecoder() {
  if (inflater_ != nullptr) libdeflate_free_decompressor(inflater_);
}

bool ChunkDecoder::Unfiltered(unsigned filter_mask) const {
  for (size_t i = 0; i < steps_.size(); ++i)
    if ((filter_mask & (1u << i)) == 0) return false;
  return true;
}

bool ChunkDecoder::Lookup(hid_t dset, const std::vector<int64_t>& origin, StoredChunk* out,
                          std::string* why) {
  std::vector<hsize_t> offset(origin.begin(), origin.end());
  *out = StoredChunk();
  if (!located_) {
    hsize_t size = 0;
    // Fails for a chunk never written as for an index error: H5Dread then
    // gives the fill value, or the error.
    if (H5Dget_chunk_storage_size(dset, offset.data(), &size) < 0 || size == 0) {
      H5Eclear2(H5E_DEFAULT);
      out->by_libhdf5 = true;
      return true;
    }
    out->allocated = true;
    out->size = size;
    return true;
  }
  haddr_t address = HADDR_UNDEF;
  hsize_t size = 0;
  unsigned mask = 0;
  if (H5Dget_chunk_info_by_coord(dset, offset.data(), &mask, &address, &size) < 0) {
    *why = Hdf5ErrorText();
    return false;
  }
  out->allocated = address != HADDR_UNDEF;
  out->located = true;
  out->address = out->allocated ? address + address_base_ : 0;
  out->size = out->allocated ? size : 0;
  out->filter_mask = out->allocated ? mask : 0;  // undefined for an unallocated chunk
  return true;
}

bool ChunkDecoder::ReadStored(hid_t dset, const std::vector<int64_t>& origin, char* out,
                              unsigned* filter_mask, std::string* why) {
  std::vector<hsize_t> offset(origin.begin(), origin.end());
  uint32_t mask = 0;
  if (H5Dread_chunk(dset, H5P_DEFAULT, offset.data(), &mask, out) < 0) {
    *why = Hdf5ErrorText();
    return false;
  }
  *filter_mask = mask;
  return true;
}

bool ChunkDecoder::Decode(const char* in, uint64_t size, unsigned filter_mask, char* out,
                          std::string* why) {
  // The steps to undo, last written first.
  std::vector<Step> undo;
  for (size_t i = steps_.size(); i-- > 0;)
    if ((filter_mask & (1u << i)) == 0) undo.push_back(steps_[i]);
  const char* at = in;
  for (size_t k = 0; k < undo.size(); ++k) {
    const bool last = k + 1 == undo.size();
    char* to = out;
    if (!last) {
      if (scratch_.size() < std::max(size, chunk_bytes_))
        scratch_.resize(std::max(size, chunk_bytes_));
      to = scratch_.data();
    }
    if (undo[k] == Step::kShuffle) {
      if (last && size != chunk_bytes_) break;  // reported below
      Unshuffle(at, size, shuffle_item_, to);
    } else if (undo[k] == Step::kBlosc) {
      if (!Unblosc(at, size, to, why)) return false;
      size = chunk_bytes_;
    } else {
      // An intermediate result lands in scratch_, sized for the chunk.
      size_t got = 0;
      const libdeflate_result r =
          libdeflate_zlib_decompress(inflater_, at, size, to, chunk_bytes_, &got);
      if (r != LIBDEFLATE_SUCCESS) {
        *why = r == LIBDEFLATE_INSUFFICIENT_SPACE
                   ? "the deflate filter failed: it inflates to more than the chunk's " +
                         std::to_string(chunk_bytes_) + " bytes"
                   : "the deflate filter failed: the stored bytes are not a valid zlib stream";
        return false;
      }
      size = got;
    }
    at = to;
  }
  if (size != chunk_bytes_) {
    *why = "the filter pipeline decodes the chunk to " + std::to_string(size) + " bytes, not " +
           std::to_string(chunk_bytes_);
    return false;
  }
  if (undo.empty()) std::memcpy(out, in, size);
  return true;
}

bool ChunkDecoder::Unblosc(const char* in, uint64_t size, char* out, std::string* why) const {
  // The header's sizes first, checked against the stored bytes and the
  // chunk, so that a hostile header neither reads past `in` nor writes past
  // `out` nor sizes an allocation (libblosc trusts them). Trailing bytes
  // after the stream are an error, as they are to hdf5plugin's filter.
  size_t nbytes = 0, cbytes = 0, blocksize = 0;
  if (size < BLOSC_MIN_HEADER_LENGTH) {
    *why = "the blosc filter failed: " + std::to_string(size) +
           " stored bytes are shorter than a blosc header";
    return false;
  }
  blosc_cbuffer_sizes(in, &nbytes, &cbytes, &blocksize);
  if (cbytes != size) {
    *why = "the blosc filter failed: the blosc header claims " + std::to_string(cbytes) +
           " compressed bytes, " + std::to_string(size) + " are stored";
    return false;
  }
  if (blosc_cbuffer_validate(in, size, &nbytes) < 0) {
    *why = "the blosc filter failed: the blosc header is not valid";
    return false;
  }
  if (nbytes != chunk_bytes_) {
    *why = "the blosc filter failed: the blosc header claims " + std::to_string(nbytes) +
           " bytes, not the chunk's " + std::to_string(chunk_bytes_);
    return false;
  }
  // libblosc allocates scratch space by the block size: blosc never makes a
  // block larger than the buffer.
  if (blocksize == 0 || blocksize > nbytes) {
    *why = "the blosc filter failed: the blosc header claims blocks of " +
           std::to_string(blocksize) + " bytes in " + std::to_string(nbytes);
    return false;
  }
  if (blosc_decompress_ctx(in, out, chunk_bytes_, 1) != static_cast<int>(chunk_bytes_)) {
    *why = "the blosc filter failed: the stored bytes do not decompress";
    return false;
  }
  return true;
}

std::vector<std::pair<uint64_t, uint64_t>> ChunkPartRuns(const std::vector<int64_t>& chunks,
                                                         const std::vector<int64_t>& origin,
                                                         const Box& part, uint64_t item) {
  const size_t rank = chunks.size();
  std::vector<uint64_t> stride(rank, item);  // bytes per index of each axis of the chunk
  for (size_t a = rank - 1; a > 0; --a)
    stride[a - 1] = stride[a] * static_cast<uint64_t>(chunks[a]);
  const uint64_t run = static_cast<uint64_t>(part.count[rank - 1]) * item;
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  std::vector<int64_t> idx(rank, 0);  // odometer over every axis but the last
  for (;;) {
    uint64_t from = 0;
    for (size_t a = 0; a < rank; ++a)
      from += static_cast<uint64_t>(part.start[a] - origin[a] + (a + 1 < rank ? idx[a] : 0)) *
              stride[a];
    if (!runs.empty() && runs.back().first + runs.back().second == from)
      runs.back().second += run;
    else
      runs.emplace_back(from, run);
    size_t a = rank - 1;
    while (a > 0 && ++idx[a - 1] == part.count[a - 1]) idx[--a] = 0;
    if (a == 0) return runs;
  }
}

void ClipChunk(const char* full, const std::vector<int64_t>& chunks,
               const std::vector<int64_t>& origin, const Box& part, uint64_t item, char* out) {
  for (const auto& [from, bytes] : ChunkPartRuns(chunks, origin, part, item)) {
    std::memcpy(out, full + from, bytes);
    out += bytes;
  }
}

}  // namespace mm
