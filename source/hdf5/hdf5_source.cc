#include "source/hdf5/hdf5_source.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "io/files.h"
#include "source/buffer_window.h"
#include "source/hdf5/hdf5_chunks.h"
#include "source/hdf5/hdf5_file.h"
#include "source/raw/raw_source.h"

namespace mm {

std::vector<Box> BoxesOfRange(const std::vector<int64_t>& shape, uint64_t begin, uint64_t end) {
  const size_t n = shape.size();
  std::vector<uint64_t> stride(n, 1);  // elements per index of each axis
  for (size_t a = n - 1; a > 0; --a) stride[a - 1] = stride[a] * static_cast<uint64_t>(shape[a]);
  std::vector<Box> out;
  while (begin < end) {
    // The outermost axis at which `begin` is aligned (every finer index 0)
    // and that still fits at least one step before `end`.
    size_t a = 0;
    while (a + 1 < n && (begin % stride[a] != 0 || end - begin < stride[a])) ++a;
    Box box;
    box.start.resize(n);
    box.count.assign(n, 1);
    for (size_t i = 0; i < n; ++i)
      box.start[i] = static_cast<int64_t>(begin / stride[i] % static_cast<uint64_t>(shape[i]));
    const uint64_t room = static_cast<uint64_t>(shape[a] - box.start[a]);
    const uint64_t steps = std::min(room, (end - begin) / stride[a]);
    box.count[a] = static_cast<int64_t>(steps);
    for (size_t i = a + 1; i < n; ++i) box.count[i] = shape[i];
    out.push_back(box);
    begin += steps * stride[a];
  }
  return out;
}

namespace {

// The largest gap between one window's stored bytes and the next window's
// for which the second still counts as read sequentially.
constexpr uint64_t kGapBytes = uint64_t{1} << 20;

std::string RangesText(const Box& box) {
  std::string s = "[";
  for (size_t a = 0; a < box.start.size(); ++a)
    s += (a ? ", " : "") + std::to_string(box.start[a]) + ":" +
         std::to_string(box.start[a] + box.count[a]);
  return s + "]";
}

// Blocks read or decoded into one buffer (BufferWindow), and Close's check
// that the file still holds the dataset: H5Dread does not always fail on a
// file that shrank under the run.
class Hdf5Window : public BufferWindow {
 public:
  Hdf5Window(int64_t first, std::shared_ptr<SpareBuffer> spare, WindowBuffer buffer,
             std::vector<char*> blocks, bool contiguous, std::shared_ptr<FileDescriptor> file,
             std::string name, uint64_t min_file_bytes)
      : BufferWindow(first, std::move(spare), std::move(buffer), std::move(blocks), contiguous),
        file_(std::move(file)),
        name_(std::move(name)),
        min_file_bytes_(min_file_bytes) {}
  Status Close() override { return CheckFileNotShrunk(file_->get(), name_, min_file_bytes_); }

 private:
  std::shared_ptr<FileDescriptor> file_;
  std::string name_;
  uint64_t min_file_bytes_;
};

class Hdf5Source : public Source {
 public:
  Hdf5Source(const Dataset& d, Hid file, Hid dset, Hid space, Hid type)
      : Source(d.layout, PartitionOf(d)),
        run_file_(d.file),
        name_(d.path),
        dataset_name_(d.name),
        min_file_bytes_(d.file_bytes),
        item_(static_cast<uint64_t>(d.layout.dtype.itemsize())),
        file_(std::move(file)),
        dset_(std::move(dset)),
        space_(std::move(space)),
        type_(std::move(type)),
        chunks_(d.chunks) {
    if (!d.chunks.empty()) {
      // Direct reads give the stored bytes: only when the memory type is the
      // file's own (an n-bit type is converted by H5Dread: masked, sign
      // extended).
      Hid file_type(H5Dget_type(dset_.get()), H5Tclose);
      if (file_type.valid() && H5Tequal(file_type.get(), type_.get()) > 0)
        decoder_ = ChunkDecoder::Make(dset_.get(), type_.get(), d.chunks, item_);
      H5Eclear2(H5E_DEFAULT);
      zero_unallocated_ = H5DreadSkipsUnallocated(dset_.get());
    }
  }

  ~Hdf5Source() override {  // objects before their file
    type_.Reset();
    space_.Reset();
    dset_.Reset();
    file_.Reset();
  }

  // Every block is read or decoded into the window's buffer, small enough
  // to stay in the core's cache until the analyses read it.
  uint64_t window_bytes(bool /*writes*/) const override { return kDecodedWindowBytes; }

  // Each piece of a block is filtered in the window's buffer once written.
  bool FilterWindowsWith(BlockFilter filter) override {
    filter_ = std::move(filter);
    return true;
  }

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) override {
    if (writable)
      return Error(Code::kIoErr, name_ + ": dataset '" + dataset_name_ +
                                     "' is not stored contiguously: it cannot be written in place");
    const Partition& part = partition();
    if (part.chunked()) return ReadChunks(first, n, nullptr);
    const uint64_t begin = part.block_begin(first), end = part.block_end(first + n - 1);
    const uint64_t bytes = std::max<uint64_t>(end - begin, 1) * item_;
    WindowBuffer buffer = spare_->Take(bytes);
    std::vector<char*> blocks(static_cast<size_t>(n));
    for (int64_t k = first; k < first + n; ++k)
      blocks[static_cast<size_t>(k - first)] =
          buffer.data() + (part.block_begin(k) - begin) * item_;
    MM_RETURN_IF_ERROR(ReadElements(begin, end, buffer.data()));
    if (filter_) filter_(buffer.data(), end - begin);
    return std::unique_ptr<Window>(std::make_unique<Hdf5Window>(first, spare_, std::move(buffer),
                                                                std::move(blocks), true, run_file_,
                                                                name_, min_file_bytes_));
  }

  bool ReadsParts() const override { return partition().chunked(); }
  Result<std::unique_ptr<Window>> ReadParts(int64_t first, const std::vector<Box>& parts) override {
    return ReadChunks(first, static_cast<int64_t>(parts.size()), &parts);
  }

  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    if (begin >= end) return Status::OK();
    if (zero_unallocated_) std::memset(out, 0, (end - begin) * item_);
    std::string why;
    if (ReadBoxes(BoxesOfRange(layout().shape, begin, end), out, &why)) return Status::OK();
    return Error(Code::kDataErr, name_ + ": dataset '" + dataset_name_ +
                                     "': cannot read or decode elements " + std::to_string(begin) +
                                     " to " + std::to_string(end) + " (storage order)" +
                                     (why.empty() ? "" : ": " + why));
  }

 private:
  // The window's chunks read directly (hdf5_chunks.h): a whole chunk stored
  // as its elements is read with pread straight into its block of the
  // window's buffer; every other chunk is read with pread (or through
  // libhdf5), then decoded, clipped to its box or filled, into its block.
  // Nothing is mapped: on this project's machines copying cached pages is
  // 2-3x faster than mapping them (docs/BENCHMARKS.md, "Copied windows").
  // Every chunk's stored range is checked to lie inside the file before it
  // is read.
  //
  // `parts` non-null: block first + i holds only the elements of
  // (*parts)[i] (ReadParts). Stored chunks outside it are not read; of a
  // chunk stored as its elements only the part's byte ranges are read
  // (when they are few); any other chunk is decoded whole and clipped.
  Result<std::unique_ptr<Window>> ReadChunks(int64_t first, int64_t n,
                                             const std::vector<Box>* parts) {
    const Partition& part = partition();
    if (!decoder_) return ReadChunksThroughLibrary(first, n, parts);
    struct stat st;
    if (::fstat(run_file_->get(), &st) != 0) return FromErrno(errno, name_, Code::kIoErr);
    const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
    const size_t count = static_cast<size_t>(n);
    // Each block's stored chunks (one, or a run along axis 0: ChunkBlockShape),
    // in the block's C order, each a contiguous run of the block's elements.
    struct Piece {
      size_t block;
      Box box;   // the stored chunk, clipped to the shape
      Box part;  // what the window holds of it
      StoredChunk c;
    };
    std::vector<Piece> pieces;
    std::vector<size_t> first_piece(count + 1);
    uint64_t lo = UINT64_MAX, hi = 0;
    std::vector<std::pair<uint64_t, uint64_t>> stored_ranges;  // [begin, end) in the file
    std::string why;
    for (size_t i = 0; i < count; ++i) {
      first_piece[i] = pieces.size();
      for (Box& box : ChunkPieces(*part.BlockBox(first + static_cast<int64_t>(i)))) {
        Box wanted = parts ? Intersect(box, (*parts)[i]) : box;
        if (wanted.elements() > 0)
          pieces.push_back(Piece{i, std::move(box), std::move(wanted), StoredChunk()});
      }
    }
    first_piece[count] = pieces.size();
    for (Piece& p : pieces) {
      StoredChunk& c = p.c;
      if (!decoder_->Lookup(dset_.get(), p.box.start, &c, &why)) return ChunkError(p.box, why);
      if (!c.allocated || c.by_libhdf5) continue;
      // Stored bytes far beyond any encoding of the chunk (a hand-written
      // chunk with trailing bytes): left to H5Dread, which accepts what it
      // accepts, so stored_ does not grow with them.
      if (c.size > 2 * decoder_->chunk_bytes() + 4096) {
        c.by_libhdf5 = true;
        continue;
      }
      if (!c.located) continue;  // ReadStored: libhdf5 checks the address
      if (c.address > file_bytes || c.size > file_bytes - c.address)
        return ChunkError(p.box, "its " + std::to_string(c.size) + " stored bytes at offset " +
                                     std::to_string(c.address) + " lie past the end of the file (" +
                                     std::to_string(file_bytes) + " bytes)");
      lo = std::min(lo, c.address);
      hi = std::max(hi, c.address + c.size);
      stored_ranges.emplace_back(c.address, c.address + c.size);
    }
    // A window whose stored bytes do not follow the last window's (a slice
    // across the chunk grid) asks for exactly its chunks' bytes: the
    // kernel's read-ahead would read up to read_ahead_kb (8 MiB here)
    // around every chunk, 4x the bytes of a 2 MiB chunk (docs/BENCHMARKS.md,
    // session 13). Sequential windows keep the kernel's read-ahead.
    const bool sparse = !stored_ranges.empty() && next_lo_ != kNoWindowYet &&
                        (lo < next_lo_ || lo - next_lo_ > kGapBytes);
    if (sparse) AskForRanges(&stored_ranges);
    if (!stored_ranges.empty()) next_lo_ = hi;
    // Whether the window takes the whole stored chunk (not an edge chunk, not a part).
    auto whole = [&](const Piece& p) { return p.box.count == chunks_ && p.part == p.box; };
    auto as_is = [&](const Piece& p) {  // a whole chunk, in the file as its elements
      const StoredChunk& c = p.c;
      return c.located && c.allocated && !c.by_libhdf5 && p.box.count == chunks_ &&
             decoder_->Unfiltered(c.filter_mask) && c.size == decoder_->chunk_bytes();
    };
    uint64_t total = 0;
    for (const Piece& p : pieces) total += p.part.elements() * item_;
    WindowBuffer buffer = spare_->Take(total);
    std::vector<char*> blocks(count);
    char* at = buffer.data();
    for (size_t i = 0; i < count; ++i) {
      blocks[i] = at;
      for (size_t k = first_piece[i]; k < first_piece[i + 1]; ++k) {
        const Piece& p = pieces[k];
        const StoredChunk& c = p.c;
        const uint64_t elements = p.part.elements();
        if (c.by_libhdf5) {
          if (zero_unallocated_) std::memset(at, 0, elements * item_);
          if (!ReadBoxes({p.part}, at, &why)) return ChunkError(p.box, why);
        } else if (!c.allocated) {
          const std::vector<char>& fill = decoder_->FillBytes();
          if (std::all_of(fill.begin(), fill.end(), [](char b) { return b == 0; }))
            std::memset(at, 0, elements * item_);
          else
            for (uint64_t e = 0; e < elements; ++e) std::memcpy(at + e * item_, fill.data(), item_);
        } else {
          const char* in = nullptr;
          unsigned mask = c.filter_mask;
          // A whole chunk stored as its elements: read straight into the
          // block (one copy, no second chunk-sized buffer).
          bool direct = as_is(p) && whole(p);
          if (as_is(p) && !direct) {
            // Part of a chunk stored as its elements: its byte ranges alone,
            // when they are few (a tile's rows of a (1, lat, lon) chunk: one).
            const auto runs = ChunkPartRuns(chunks_, p.box.start, p.part, item_);
            if (runs.size() <= kMostPartReads) {
              char* to = at;
              for (const auto& [from, bytes] : runs) {
                MM_RETURN_IF_ERROR(PreadStored(c, from, bytes, to));
                to += bytes;
              }
              direct = true;
            }
          }
          if (direct) {
            if (whole(p)) MM_RETURN_IF_ERROR(PreadStored(c, 0, c.size, at));
          } else if (!c.located) {
            stored_.resize(c.size);
            if (!decoder_->ReadStored(dset_.get(), p.box.start, stored_.data(), &mask, &why))
              return ChunkError(p.box, why);
            in = stored_.data();
          } else {
            stored_.resize(c.size);
            MM_RETURN_IF_ERROR(PreadStored(c, 0, c.size, stored_.data()));
            in = stored_.data();
          }
          if (!direct) {
            char* full = at;
            if (!whole(p)) {
              edge_.resize(decoder_->chunk_bytes());
              full = edge_.data();
            }
            if (!decoder_->Decode(in, c.size, mask, full, &why)) return ChunkError(p.box, why);
            if (!whole(p)) ClipChunk(full, chunks_, p.box.start, p.part, item_, at);
          }
        }
        if (filter_) filter_(at, elements);
        at += elements * item_;
      }
    }
    return std::unique_ptr<Window>(std::make_unique<Hdf5Window>(first, spare_, std::move(buffer),
                                                                std::move(blocks), false, run_file_,
                                                                name_, min_file_bytes_));
  }

  // Window blocks (or their parts) read through H5Dread, chunk by chunk:
  // a chunk that fails is the one named.
  Result<std::unique_ptr<Window>> ReadChunksThroughLibrary(int64_t first, int64_t n,
                                                           const std::vector<Box>* parts) {
    const Partition& part = partition();
    uint64_t total = 0;
    for (int64_t k = first; k < first + n; ++k)
      total += parts ? (*parts)[static_cast<size_t>(k - first)].elements() : part.block_elements(k);
    const uint64_t bytes = std::max<uint64_t>(total, 1) * item_;
    WindowBuffer buffer = spare_->Take(bytes);
    // Zeroed when H5Dread leaves unallocated chunks untouched (ChunkDecoder).
    if (zero_unallocated_) std::memset(buffer.data(), 0, bytes);
    std::vector<char*> blocks(static_cast<size_t>(n));
    char* at = buffer.data();
    for (int64_t k = first; k < first + n; ++k) {
      blocks[static_cast<size_t>(k - first)] = at;
      for (const Box& piece : ChunkPieces(*part.BlockBox(k))) {
        const Box wanted =
            parts ? Intersect(piece, (*parts)[static_cast<size_t>(k - first)]) : piece;
        if (wanted.elements() == 0) continue;
        std::string why;
        if (!ReadBoxes({wanted}, at, &why)) return ChunkError(piece, why);
        if (filter_) filter_(at, wanted.elements());
        at += wanted.elements() * item_;
      }
    }
    return std::unique_ptr<Window>(std::make_unique<Hdf5Window>(first, spare_, std::move(buffer),
                                                                std::move(blocks), false, run_file_,
                                                                name_, min_file_bytes_));
  }

  // Stored bytes [from, from + bytes) of located chunk `c` into `to`.
  Status PreadStored(const StoredChunk& c, uint64_t from, uint64_t bytes, char* to) {
    MM_ASSIGN_OR_RETURN(const uint64_t got,
                        PreadFull(run_file_->get(), to, bytes, c.address + from, name_ + ": read"));
    if (got < bytes)
      return Error(Code::kIoErr,
                   name_ + ": unexpected end of file (the file shrank under the run)");
    return Status::OK();
  }

  // POSIX_FADV_WILLNEED of each range (adjacent or overlapping ones
  // merged): exactly those bytes are queued for reading at once, and the
  // preads that then find their pages cached read nothing around them.
  void AskForRanges(std::vector<std::pair<uint64_t, uint64_t>>* ranges) const {
    std::sort(ranges->begin(), ranges->end());
    uint64_t b = 0, e = 0;
    bool open = false;
    auto ask = [&] {
      if (open)
        ::posix_fadvise(run_file_->get(), static_cast<off_t>(b), static_cast<off_t>(e - b),
                        POSIX_FADV_WILLNEED);
    };
    for (const auto& r : *ranges) {
      if (open && r.first <= e) {
        e = std::max(e, r.second);
        continue;
      }
      ask();
      b = r.first;
      e = r.second;
      open = true;
    }
    ask();
  }

  // Reads the disjoint `boxes` (in C order) into `out`, one after the other,
  // each in C order of the box. On failure, returns false with libhdf5's
  // reason in *why (taken before any other HDF5 call clears the error
  // stack).
  bool ReadBoxes(const std::vector<Box>& boxes, char* out, std::string* why) {
    const size_t rank = layout().shape.size();
    std::vector<hsize_t> start(rank), count(rank);
    for (const Box& box : boxes) {
      for (size_t a = 0; a < rank; ++a) {
        start[a] = static_cast<hsize_t>(box.start[a]);
        count[a] = static_cast<hsize_t>(box.count[a]);
      }
      // A memory space of the box's own shape: libhdf5 then sees selections
      // of the same shape and copies whole runs (with a 1-D memory space it
      // maps every element, about 3x slower overall, measured on gzip
      // chunks of 4 MiB).
      Hid mem(H5Screate_simple(static_cast<int>(rank), count.data(), nullptr), H5Sclose);
      if (!mem.valid() ||
          H5Sselect_hyperslab(space_.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                              nullptr) < 0 ||
          H5Dread(dset_.get(), type_.get(), mem.get(), space_.get(), H5P_DEFAULT, out) < 0) {
        *why = Hdf5ErrorText();
        // A filter libhdf5 cannot load, which describe did not ask about
        // because the chunk decoder handles the pipeline (hdf5_format.cc).
        if (const std::string missing = MissingFilterText(dset_.get()); !missing.empty())
          *why = "the dataset " + missing;
        return false;
      }
      out += box.elements() * item_;
    }
    return true;
  }

  // The stored chunks of a block (one, or a run along axis 0:
  // ChunkBlockShape), in order: consecutive runs of the block's elements in
  // its C order.
  std::vector<Box> ChunkPieces(const Box& block) const {
    std::vector<Box> pieces;
    const int64_t end0 = block.start[0] + block.count[0];
    for (int64_t r = block.start[0]; r < end0; r += chunks_[0]) {
      Box piece = block;
      piece.start[0] = r;
      piece.count[0] = std::min(chunks_[0], end0 - r);
      pieces.push_back(std::move(piece));
    }
    return pieces;
  }

  // A chunk that failed to decode: its grid coordinates and elements.
  Status ChunkError(const Box& box, const std::string& why) {
    const std::vector<int64_t>& chunks = chunks_;
    std::string grid = "[";
    for (size_t a = 0; a < chunks.size(); ++a)
      grid += (a ? ", " : "") + std::to_string(box.start[a] / chunks[a]);
    grid += "]";
    return Error(Code::kDataErr, name_ + ": dataset '" + dataset_name_ + "': chunk " + grid +
                                     " (elements " + RangesText(box) +
                                     ") cannot be read or decoded" +
                                     (why.empty() ? "" : ": " + why));
  }

  std::shared_ptr<FileDescriptor> run_file_;  // the run's descriptor: Close()'s shrink check
  std::string name_;
  std::string dataset_name_;
  uint64_t min_file_bytes_;
  uint64_t item_;
  Hid file_, dset_, space_, type_;
  std::vector<int64_t> chunks_;  // the stored chunk shape (empty: not chunked)
  // Direct chunk reads (null: every block through H5Dread), and its
  // buffers, each at most 2 chunks' bytes + 4 KiB.
  std::unique_ptr<ChunkDecoder> decoder_;
  bool zero_unallocated_ = false;  // H5Dread leaves unallocated chunks untouched
  BlockFilter filter_;             // FilterWindowsWith's (empty: none)
  std::vector<char> stored_, edge_;
  std::shared_ptr<SpareBuffer> spare_ = std::make_shared<SpareBuffer>();  // window buffers
  // Where the last window's stored bytes ended: a window starting there,
  // or at most kGapBytes after, reads on sequentially. A worker's first
  // window is not sparse (nothing to follow): the kernel's read-ahead
  // starts with it.
  static constexpr uint64_t kNoWindowYet = UINT64_MAX;
  // The most preads of one part of a chunk stored as its elements; a part
  // of more ranges is read with the whole chunk and clipped.
  static constexpr size_t kMostPartReads = 64;
  uint64_t next_lo_ = kNoWindowYet;
};

}  // namespace

Result<std::unique_ptr<Source>> OpenHdf5Source(const Dataset& d) {
  if (d.fd() < 0) return Error(Code::kIoErr, d.path + ": the file is not open");
  MM_ASSIGN_OR_RETURN(Hid file, OpenHdf5File(d.fd(), d.path, d.dev, d.ino, d.file_bytes));
  MM_ASSIGN_OR_RETURN(Hid dset, OpenH5Dataset(file.get(), d.name, DirName(d.path), d.path));
  Hid space(H5Dget_space(dset.get()), H5Sclose);
  Hid file_type(H5Dget_type(dset.get()), H5Tclose);
  Hid type = file_type.valid() ? Hdf5MemoryType(file_type.get()) : Hid();
  if (!space.valid() || !type.valid())
    return Hdf5Error(Code::kIoErr, d.path + ": dataset '" + d.name + "'");
  std::vector<hsize_t> dims(d.layout.shape.size());
  if (H5Sget_simple_extent_ndims(space.get()) != static_cast<int>(dims.size()) ||
      H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0 || dims.empty() ||
      dims[0] < static_cast<hsize_t>(d.layout.shape[0]) ||
      !std::equal(dims.begin() + 1, dims.end(), d.layout.shape.begin() + 1,
                  [](hsize_t a, int64_t b) { return a == static_cast<hsize_t>(b); }))
    return Error(Code::kIoErr, d.path + ": dataset '" + d.name +
                                   "' changed shape under the run (only growing along axis 0 "
                                   "is allowed)");
  return std::unique_ptr<Source>(std::make_unique<Hdf5Source>(d, std::move(file), std::move(dset),
                                                              std::move(space), std::move(type)));
}

}  // namespace mm
