// HDF5 outputs of `slice` and `convert` (SPEC §7 "HDF5 outputs";
// docs/HDF5_OUTPUTS.md): the parts of CopyAnalysis that only HDF5 needs.
//
// A contiguous output is created (dataset allocated) by the coordinator
// before the scan; workers then write its elements at the dataset's offset
// exactly as for a raw file. A chunked output takes two passes:
//
//   pass 0  workers write the output's elements, C order, into a stage file
//           (a raw temporary beside the target), as for a raw output;
//   pass 1  no input is read: the output's chunks, numbered in grid C
//           order, are dealt to the blocks (block k of B takes chunks
//           [M k / B, M (k + 1) / B)), and each worker gathers its chunks
//           from the stage, compresses them (ChunkCompressor) and writes
//           each into its slot of a sparse spool file (slot c at
//           c * SlotBytes), its partial listing each chunk's stored size
//           and filter mask;
//   then    the coordinator alone creates the HDF5 file and stores every
//           chunk from the spool with H5Dwrite_chunk, in chunk order, so
//           the file's bytes do not depend on the worker count.
//
// Each input byte is read once (pass 0); each output byte is written twice
// before compression (stage, then gathered from the page cache), and each
// compressed byte twice (spool, then the file).
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

// Pass 1's partial: the stored size and filter mask of chunks [first,
// first + sizes.size()).
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

// Pass 1's scanner: for each block, its chunks gathered from the stage
// (`stage_path`, the output's elements in C order) and compressed into
// their slots of `spool_path`.
// Each is checked to be the file the coordinator created (`stage_id`,
// `spool_id`) once opened.
std::unique_ptr<Scanner> NewCompressScanner(const Hdf5OutputSpec& spec, DType dtype,
                                            const ChunkGrid& grid, int64_t blocks,
                                            std::string stage_path, FileId stage_id,
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

}  // namespace mm
