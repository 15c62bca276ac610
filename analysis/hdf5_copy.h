// HDF5 outputs (SPEC §7 "HDF5 outputs"; docs/HDF5_OUTPUTS.md): the parts
// of CopyAnalysis (`slice`, `convert`) and of `generate` that only HDF5
// needs.
//
// A contiguous output is created (dataset allocated) by the coordinator
// before the scan; workers then write its elements at the dataset's offset
// exactly as for a raw file. A chunked output is written in chunks that
// workers compress into their slots of a sparse spool file (slot c at
// c * SlotBytes; ChunkSpoolWriter), each partial listing its chunks' stored
// sizes and filter masks; the coordinator alone then creates the HDF5 file
// and stores every chunk from the spool with H5Dwrite_chunk, in chunk
// order, so the file's bytes do not depend on the worker count
// (Hdf5OutputFile). Where a worker's chunks come from is its analysis'
// business:
//
//   slice, convert  pass 0: workers write the output's elements into a
//                   stage file (a raw temporary beside the target) as for a
//                   raw output, but in the order the input holds their
//                   sources (ArrayCopy::InInputOrder), so that each window's
//                   elements go out in long forward runs whatever the
//                   transposition; pass 1: no input is read: the output's
//                   chunks, numbered in grid C order, are dealt to the
//                   blocks (block k of B takes chunks [M k / B,
//                   M (k + 1) / B)), and each worker gathers its chunks from
//                   the stage with pread, transposing tiles of 32 x 32
//                   elements where the stage's order is not the chunk's
//                   (NewCompressScanner);
//   generate        one pass, no stage: the chunks are dealt to the blocks
//                   the same way and each worker computes its chunks'
//                   elements directly (every value depends only on its
//                   index).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "io/files.h"
#include "source/hdf5/hdf5_output.h"

namespace mm {

// The output's HDF5 parameters when `output` names an HDF5 file (.h5,
// .hdf5), else nullopt. kConfig naming analyses[i].KEY for a bad one, for
// an HDF5 key given with another kind of output, and for .nc (netCDF-4
// outputs are not written).
Result<std::optional<Hdf5OutputSpec>> ParseCopyOutput(const AnalysisSpec& spec,
                                                      const std::string& output,
                                                      const std::vector<int64_t>& shape,
                                                      DType dtype);
// The keys ParseCopyOutput reads (for CheckKeys).
const std::vector<std::string>& Hdf5OutputKeys();

// The chunk grid of an output of `shape` in chunks `chunks`.
class ChunkGrid {
 public:
  ChunkGrid() = default;
  ChunkGrid(std::vector<int64_t> shape, std::vector<int64_t> chunks);
  uint64_t count() const { return count_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  // Chunks along each axis.
  const std::vector<int64_t>& per_axis() const { return grid_; }
  // Chunk c's extent (clipped to the shape), c in grid C order.
  Box ChunkBox(uint64_t c) const;
  // The chunks block k of `blocks` deals with: [first, end).
  std::pair<uint64_t, uint64_t> ChunksOfBlock(int64_t k, int64_t blocks) const;

 private:
  std::vector<int64_t> shape_, chunks_, grid_;
  uint64_t count_ = 0;
};

// Bytes of a chunk's spool slot: room for any filter's output.
uint64_t SlotBytes(uint64_t chunk_bytes);

// The partial of the pass that compresses: the stored size and filter mask
// of chunks [first, first + sizes.size()).
class ChunkListPartial : public Partial {
 public:
  uint64_t first = 0;
  std::vector<uint64_t> sizes;
  std::vector<uint32_t> masks;
  void Merge(const Partial& right) override;
  Json ToJson() const override;
  // Inverse of ToJson; kDataErr unless it lists chunks inside [0, chunks)
  // with sizes of at most `slot` bytes.
  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, uint64_t chunks, uint64_t slot);
};

// slice and convert's pass 1: for each block, its chunks gathered from the
// stage (`stage_path`, the output's elements, `stage_strides` elements apart
// along each output axis) and compressed into their slots of `spool_path`.
// Each is checked to be the file the coordinator created (`stage_id`,
// `spool_id`) once opened.
std::unique_ptr<Scanner> NewCompressScanner(const Hdf5OutputSpec& spec, DType dtype,
                                            const ChunkGrid& grid,
                                            const std::vector<int64_t>& stage_strides,
                                            int64_t blocks, std::string stage_path, FileId stage_id,
                                            std::string spool_path, FileId spool_id,
                                            std::string target);

// The coordinator's writer: creates the HDF5 output in the open, empty file
// `fd` and stores chunks [0, grid.count()) from the spool `spool_fd` in
// order. Returns the stored bytes. Errors: kIoErr naming `target`.
Result<uint64_t> WriteChunkedOutput(int fd, int spool_fd, const std::string& target,
                                    const Hdf5OutputSpec& spec, DType dtype,
                                    const std::vector<int64_t>& shape, const ChunkGrid& grid,
                                    const ChunkListPartial& chunks);

// Creates the HDF5 output with a contiguous dataset in the open, empty file
// `fd`; returns the dataset's file offset. Errors: kCantCreate naming `target`.
Result<uint64_t> CreateContiguousOutput(int fd, const std::string& target,
                                        const Hdf5OutputSpec& spec, DType dtype,
                                        const std::vector<int64_t>& shape);

// The bytes of one whole chunk of `spec` (spec.chunks not empty).
uint64_t ChunkBytes(const Hdf5OutputSpec& spec, DType dtype);

// A worker's writer of compressed chunks into the spool: runs each chunk
// through the output's filters (ChunkCompressor) and writes the stored
// bytes into its slot. Owned by one scanner (one thread of one worker).
class ChunkSpoolWriter {
 public:
  // `spool_path` must be the spool the coordinator created (`spool_id`,
  // checked once opened); `target` names the output in errors.
  ChunkSpoolWriter(const Hdf5OutputSpec& spec, DType dtype, std::string spool_path, FileId spool_id,
                   std::string target);
  // Opens the spool and makes the compressor, once (later calls do
  // nothing). Errors: kIoErr naming the target (another file under the
  // spool's name included), or libhdf5's.
  Status Open();
  // The buffer of one whole chunk (chunk_bytes(), C order of the chunk
  // shape) that Put compresses. REQUIRES Open() succeeded.
  char* chunk() { return chunk_.data(); }
  uint64_t chunk_bytes() const { return chunk_.size(); }
  // Compresses chunk() as chunk `c` into its slot and appends its stored
  // size and filter mask to *out. Errors: kIoErr naming the target (a full
  // disk included).
  Status Put(uint64_t c, ChunkListPartial* out);
  // The same for a whole chunk held elsewhere (chunk_bytes() at `chunk`).
  Status Put(uint64_t c, const char* chunk, ChunkListPartial* out);

 private:
  Hdf5OutputSpec spec_;
  DType dtype_;
  std::string spool_path_;
  FileId spool_id_;
  std::string target_;
  std::unique_ptr<ChunkCompressor> compressor_;
  FileDescriptor spool_;
  uint64_t slot_ = 0;
  std::vector<char> chunk_, stored_;
};

// The coordinator's side of one HDF5 output `target`: its temporaries
// beside the target, created, filled and committed or (destroyed
// uncommitted) removed. Contiguous: CreateContiguous before the scan,
// Commit once the workers wrote every element at data_offset(). Chunked:
// CreateSpool before the pass that compresses, WriteChunks after it, then
// Commit. Describe adds the result's fields.
class Hdf5OutputFile {
 public:
  Hdf5OutputFile() = default;
  Hdf5OutputFile(std::string target, Hdf5OutputSpec spec, DType dtype, std::vector<int64_t> shape);

  const Hdf5OutputSpec& spec() const { return spec_; }
  bool chunked() const { return !spec_.chunks.empty(); }
  ChunkGrid grid() const { return ChunkGrid(shape_, spec_.chunks); }
  // The stored size of every chunk is at most this (ChunkListPartial::FromJson).
  uint64_t slot_bytes() const { return SlotBytes(ChunkBytes(spec_, dtype_)); }

  // Contiguous: the HDF5 file under a temporary name with its dataset
  // allocated and the file's bytes reserved (a full disk: kCantCreate
  // before any work). Errors name the target.
  Status CreateContiguous();
  // Contiguous, after CreateContiguous: where workers write the elements
  // (C order), the temporary's name and identity.
  uint64_t data_offset() const { return data_offset_; }
  const std::string& temp_path() const { return out_.temp_path(); }
  FileId temp_id() const { return temp_id_; }

  // Chunked: the sparse spool (a temporary beside the target sized for
  // every chunk's slot), its name and identity.
  Status CreateSpool();
  const std::string& spool_path() const { return spool_.temp_path(); }
  FileId spool_id() const { return spool_id_; }
  // Chunked, once the workers compressed every chunk (`chunks`, merged):
  // creates the HDF5 file under a temporary name and stores the chunks
  // from the spool in order; the spool is removed. Errors: kWorkerFailed
  // when chunks are missing; kIoErr / kCantCreate naming the target.
  Status WriteChunks(const ChunkListPartial& chunks);

  // fsync, rename over the target, fsync the folder.
  Status Commit();
  // "format": "hdf5", "order": "C", "bytes" (the file's size) and "hdf5"
  // (DescribeHdf5Output) into *j. REQUIRES the file was created.
  Status Describe(Json* j) const;

 private:
  std::string target_;
  Hdf5OutputSpec spec_;
  DType dtype_;
  std::vector<int64_t> shape_;
  TempOutput out_, spool_;
  FileId temp_id_, spool_id_;
  uint64_t data_offset_ = 0, stored_bytes_ = 0;
};

}  // namespace mm
