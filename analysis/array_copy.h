// The copy engine behind `slice` and `convert`: every output element is one
// input element (selected with basic indexing, axes permuted, dtype cast),
// and workers write the output elements whose source lies in their rows.
//
// ArrayCopy describes the map: each input axis is either dropped (one fixed
// index) or tied to one output axis through coordinate = start + step * t
// (t = the output coordinate). The output is a file of `out_order` storage
// order and `out_dtype` starting `out_offset` bytes in (after a .npy
// header). Given a range of input storage indices that is in memory (a
// worker's mapped window), WriteRange writes exactly the output elements
// whose sources lie in it, walking them in output storage order so that
// writes go forward through the file; runs of at least kStagedRunBytes
// contiguous output bytes are staged in a bounded buffer and pwritten, and
// scattered elements (transpositions) go through a writable shared mapping
// of bounded spans (OutputFile), so resident memory stays bounded whatever
// the array size. Count says how many output elements a range produces
// (for the partials). CountBox and WriteBox do the same for a chunk block
// (an N-D box of the input whose elements are held in storage order of the
// box): the same loops with the box's own strides, so the output bytes do
// not depend on how the input was cut into blocks.
//
// Thread-safety: ArrayCopy is immutable after construction; an OutputFile
// and a staging buffer are owned by one scanner (one thread of one worker).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "analysis/hdf5_copy.h"
#include "core/layout.h"
#include "core/select_parser.h"
#include "io/files.h"

namespace mm {

// A writable window onto an output file: spans of at most kSpanBytes are
// mapped on demand and unmapped when the writer moves past them.
class OutputFile {
 public:
  static constexpr uint64_t kSpanBytes = 16 << 20;

  OutputFile() = default;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile();

  // Opens `path` (which must exist with its final size) for writing.
  // Errors: kCantCreate / kNoPerm naming `target` (the user's name for it).
  // `id`: what the coordinator created under `path` (checked after the
  // open: kIoErr when another file took the name).
  Status Open(const std::string& path, const std::string& target, const FileId& id);
  // Writes into the caller's open file `fd` (duplicated here), which grows
  // as it is written: WriteAt has no size bound, and Span is refused.
  // Errors: kIoErr naming `target`.
  Status Adopt(int fd, const std::string& target);
  bool is_open() const { return fd_.valid(); }
  // Writable memory for bytes [lo, hi) of the file. REQUIRES hi - lo <=
  // kSpanBytes, hi <= file size. Errors: kIoErr naming the target.
  Result<char*> Span(uint64_t lo, uint64_t hi);
  // Unmaps the current span (the data stays in the page cache; the
  // coordinator's fsync makes it durable).
  void Release();
  // pwrite of n bytes at file offset `off` (long contiguous runs take this
  // path: no page faults, and whole pages are never read first). The whole
  // kDirectAlign blocks of a write of at least kDirectBytes go around the
  // page cache (O_DIRECT), straight from `p` when p and off are congruent
  // modulo kDirectAlign, else through a bounded aligned buffer; the partial
  // blocks at its ends, shorter writes, and every write where O_DIRECT is
  // refused are buffered. A full disk is kCantCreate, other errors kIoErr.
  // A block is written whole by one write or touched only by buffered
  // ones, never both, and no process reads the output ahead into large
  // page-cache folios while it is written (Span: no read-ahead)
  // (docs/CHOICES.md "Outputs written around the page cache").
  Status WriteAt(uint64_t off, const char* p, uint64_t n);
  static constexpr uint64_t kDirectBytes = 256 << 10;
  // Whether writes may still go around the page cache.
  bool direct() const { return direct_.valid(); }

 private:
  Status WriteDirect(uint64_t off, const char* p, uint64_t n);
  // After the file is open: O_DIRECT where pages are kDirectAlign.
  void OpenDirect();

  FileDescriptor fd_;
  FileDescriptor direct_;      // the file again, O_DIRECT; invalid: buffered writes only
  bool random_spans_ = false;  // spans mapped without read-ahead (O_DIRECT was opened)
  std::unique_ptr<char, void (*)(void*)> bounce_{nullptr, std::free};
  std::string target_;
  uint64_t size_ = 0;
  bool growing_ = false;  // Adopt: no size bound, no spans
  char* map_ = nullptr;
  uint64_t map_lo_ = 0, map_hi_ = 0;
};

class ArrayCopy {
 public:
  ArrayCopy() = default;
  // `in`: the input layout (offset ignored). `sel`: one entry per input
  // axis. `out_axis_of`: per input axis its output axis, -1 exactly for
  // dropped axes; every output axis appears once. The output shape is
  // sel[a].count at out_axis_of[a].
  ArrayCopy(const Layout& in, std::vector<AxisSelect> sel, std::vector<int> out_axis_of,
            char out_order, DType out_dtype, uint64_t out_offset);

  const std::vector<int64_t>& out_shape() const { return out_shape_; }
  // This copy with the output's elements starting `offset` bytes into the
  // file (an HDF5 output's contiguous dataset, known once it is created).
  ArrayCopy AtOffset(uint64_t offset) const {
    ArrayCopy c = *this;
    c.out_offset_ = offset;
    return c;
  }
  // This copy writing the output's elements in the order the input's
  // storage holds their sources (output axes ordered by the storage axis
  // they come from, slowest first) instead of out_order: a chunked HDF5
  // output's stage, written in long forward runs whatever the transposition
  // (a C-order stage of a Fortran-order input wrote every 16 bytes of it
  // from another window: 40 MB/s).
  ArrayCopy InInputOrder() const;
  // Elements per index of each output axis in the output file.
  const std::vector<int64_t>& out_strides() const { return out_strides_; }
  uint64_t out_elements() const { return out_elements_; }
  // Header plus data.
  uint64_t out_file_bytes() const;
  char out_order() const { return out_order_; }
  uint64_t out_offset() const { return out_offset_; }
  DType out_dtype() const { return out_dtype_; }

  // Output elements whose source storage index lies in [begin, end).
  uint64_t Count(uint64_t begin, uint64_t end) const;
  // Writes them into `out`; `data` holds input storage indices [begin, end)
  // (in the input's dtype and byte order). `stage`: the caller's staging
  // buffer, reused between calls (its contents do not matter).
  Status WriteRange(const char* data, uint64_t begin, uint64_t end, OutputFile* out,
                    std::vector<char>* stage) const;
  // Output elements whose source lies in `box` (input array coordinates,
  // inside the input's shape).
  uint64_t CountBox(const mm::Box& box) const;
  // Writes them into `out`; `data` holds the elements of `box` in storage
  // order of the box (C order of the box for an order 'C' input: a chunk
  // block's BlockView::data). `stage` as for WriteRange.
  Status WriteBox(const char* data, const mm::Box& box, OutputFile* out,
                  std::vector<char>* stage) const;

  // The most consecutive output elements a write of `box` produces in one
  // go (0 when it selects nothing): how long its output lines are.
  uint64_t OutputRun(const mm::Box& box) const;

  // A box of an index space as [lo, hi) per dimension.
  struct IndexBox {
    std::vector<int64_t> lo, hi;
  };
  // Splits the C-order (row-major) index range [begin, end) of an array of
  // extents `dims` into at most 2 * dims.size() boxes, in index order: box k
  // holds the indices that follow box k - 1's.
  static std::vector<IndexBox> RangeBoxes(const std::vector<int64_t>& dims, uint64_t begin,
                                          uint64_t end);

 private:
  struct Loop {
    int64_t count, in_stride, out_stride;  // elements
  };
  // The loops that write the output elements of `box` (storage coordinates;
  // data_strides as for WriteStorageBox), outermost first in output storage
  // order, merged where both sides stay contiguous, the innermost of output
  // stride 1; adds the first selected element's offsets to *in_base and
  // sets *out_base. False when the box selects nothing.
  bool BuildLoops(const IndexBox& box, const std::vector<int64_t>& data_strides, __int128* in_base,
                  int64_t* out_base, std::vector<Loop>* loops) const;
  // Consecutive output elements written by the innermost loops of `loops`.
  static int64_t ContiguousRun(const std::vector<Loop>& loops);
  // `box` in storage dims.
  IndexBox ToStorage(const mm::Box& box) const;
  uint64_t CountStorageBox(const IndexBox& box) const;
  // Writes the output elements whose source lies in `box`; the element of
  // storage coordinates x is at data[(base + sum x[s] * strides[s]) * itemsize].
  Status WriteStorageBox(const char* data, __int128 base, const std::vector<int64_t>& strides,
                         const IndexBox& box, OutputFile* out, std::vector<char>* stage) const;
  // The t range [t0, t1) of input axis `axis` whose coordinates lie in [lo, hi).
  std::pair<int64_t, int64_t> TRange(int axis, int64_t lo, int64_t hi) const;

  Layout in_;
  std::vector<AxisSelect> sel_;
  std::vector<int> out_axis_of_;
  std::vector<int64_t> out_shape_;
  char out_order_ = 'C';
  DType out_dtype_;
  uint64_t out_offset_ = 0;
  uint64_t out_elements_ = 0;
  std::vector<int64_t> in_dims_;      // per input storage dim
  std::vector<int64_t> in_strides_;   // per input storage dim, elements
  std::vector<int64_t> out_strides_;  // per output axis, elements of the output's storage order
};

}  // namespace mm

// ---------------------------------------------------------------- analyses

namespace mm {

// The Analysis both `slice` and `convert` are: one pass; the coordinator
// creates the output under a temporary name (header written, space
// reserved) in Prepare(); workers learn its name through PassInput(0),
// map only the blocks that hold selected elements (NeedsBlock; NeedsBox for
// a chunk block) and their scanners write each mapped window's elements in
// EndWindow (a chunk block's with WriteBox); EndPass checks that every
// output element was written and renames the file into place.
class CopyAnalysis : public Analysis {
 public:
  // `output`: absolute target path; `header`: the .npy header ("" for raw);
  // `hdf5`: the output's parameters when it is an HDF5 file
  // (analysis/hdf5_copy.h; `copy` then writes C order at offset 0).
  CopyAnalysis(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition,
               ArrayCopy copy, std::string output, std::string header, bool fortran_flag,
               std::optional<Hdf5OutputSpec> hdf5 = std::nullopt);

  // Two for a chunked HDF5 output (stage, then compress), else one.
  int passes() const override;
  std::unique_ptr<Partial> NewPartial(int pass) const override;
  Result<std::unique_ptr<Partial>> PartialFromJson(int pass, const Json& j) const override;
  bool NeedsBlock(int pass, uint64_t begin, uint64_t end) const override;
  // Exact for a chunk block: whether its box holds a selected element.
  bool NeedsBox(int pass, const Box& box) const override;
  std::unique_ptr<Scanner> NewScanner(int pass) const override;
  Json PassInput(int pass) const override;
  Status SetPassInput(int pass, const Json& input) override;
  Status Prepare() override;
  std::vector<std::string> CreatedFiles() const override { return {output_}; }
  Status EndPass(int pass, const Partial& merged) override;
  // path, format, shape, dtype, order (of the file's bytes), bytes (file
  // size); for HDF5 the dataset, chunks, filters and compression ratio.
  Result<Json> Finish() override;

 protected:
  ArrayCopy copy_;
  std::string output_;
  std::string header_;
  bool fortran_flag_;
  std::optional<Hdf5OutputSpec> hdf5_;
  TempOutput out_;             // coordinator: a raw or .npy output
  Hdf5OutputFile h5_;          // coordinator: an HDF5 output (its file, a chunked one's spool)
  TempOutput stage_out_;       // coordinator: a chunked HDF5's stage
  std::string temp_path_;      // coordinator and workers: where pass 0 writes
  std::string spool_path_;     // coordinator and workers (pass 1)
  FileId temp_id_, spool_id_;  // what the coordinator created under those names

 private:
  bool chunked_hdf5() const { return hdf5_ && !hdf5_->chunks.empty(); }
  class CopyScanner;  // a worker's writer of the output (array_copy.cc)
};

}  // namespace mm
