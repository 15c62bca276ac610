// HDF5 outputs (SPEC §7 "HDF5 outputs"; docs/HDF5_OUTPUTS.md): what an
// output dataset is asked to be, its creation properties, the chunks workers
// compress through libhdf5's own filter pipeline, and the one writer that
// puts compressed chunks in place.
//
// Workers compress: ChunkCompressor runs a chunk through the dataset's
// filter pipeline in a private in-memory HDF5 file (the core driver, no
// backing store) and hands back the filtered bytes and filter mask, exactly
// what libhdf5 (and every plugin) would have stored. One process writes:
// Hdf5ChunkWriter creates the dataset and stores each chunk with
// H5Dwrite_chunk, in a fixed order, so the file's bytes depend only on the
// array, the parameters and that order, never on the worker count. Object
// modification times are not recorded (they would make every file differ).
//
// Thread and process rules: as hdf5_file.h (one thread; nothing opened here
// crosses a fork). The classes keep their libhdf5 handles out of this
// header, so analyses use them without libhdf5's headers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/json_util.h"
#include "core/status.h"

namespace mm {

// The most bytes of one "auto" chunk (SPEC: chunks of 1-4 MiB; see
// AutoChunks).
constexpr uint64_t kAutoChunkBytes = uint64_t{2} << 20;

struct Hdf5OutputSpec {
  std::string name = "data";    // the dataset's path in the file
  std::vector<int64_t> chunks;  // empty: contiguous
  bool auto_chunks = false;     // chunks came from "auto"
  // Normalized: "" (none), "gzip:L", "lzf", "lz4", "bzip2", "szip",
  // "blosc:CNAME:L", "bitshuffle".
  std::string compression;
  bool shuffle = false;
};

// Reads "output_name", "chunks", "compression" and "shuffle" from `params`
// for an array of `shape` and `dtype`. Errors are kConfig naming
// `where` + the key (e.g. "analyses[0].chunks"): an unknown compression, a
// gzip level outside 1-9, chunks of the wrong rank, below 1 or larger than
// the array, compression without chunks, a filter whose plugin libhdf5
// cannot load (naming the plugin folders).
Result<Hdf5OutputSpec> ParseHdf5Output(const Json& params, const std::vector<int64_t>& shape,
                                       DType dtype, const std::string& where,
                                       const std::string& default_name);

// "chunks": "auto" for `shape` and `itemsize`: the largest balanced chunk
// of at most kAutoChunkBytes, balanced meaning that every axis is cut into
// about the same number of chunks (extent_a = round(shape_a * f), at least
// 1, for one fraction f), so a full slice along any axis reads about the
// same bytes (Unidata's "balanced" chunking; docs/HDF5_OUTPUTS.md). Each
// step of f changes an extent by one, so such a chunk holds 1-2 MiB unless
// the array is smaller (then it is the whole array). Deterministic.
std::vector<int64_t> AutoChunks(const std::vector<int64_t>& shape, uint64_t itemsize);

// Runs whole chunks through the output's filter pipeline (the file comment).
class ChunkCompressor {
 public:
  static Result<std::unique_ptr<ChunkCompressor>> Make(const Hdf5OutputSpec& spec, DType dtype);
  ChunkCompressor(const ChunkCompressor&) = delete;
  ChunkCompressor& operator=(const ChunkCompressor&) = delete;
  ~ChunkCompressor();

  // The bytes of one whole chunk (C order of the chunk shape).
  uint64_t chunk_bytes() const { return chunk_bytes_; }
  // Filters `chunk` (chunk_bytes()) into *out (resized to the stored
  // bytes) and *mask (bit i set: filter i skipped, as libhdf5 does for an
  // optional filter that failed or did not shrink). Errors: kIoErr with
  // libhdf5's reason.
  Status Compress(const char* chunk, std::vector<char>* out, uint32_t* mask);

 private:
  struct Handles;
  ChunkCompressor();
  Status Reopen();
  Hdf5OutputSpec spec_;
  DType dtype_;
  uint64_t chunk_bytes_ = 0;
  int uses_ = 0;  // chunks through the current in-memory file
  std::unique_ptr<Handles> h_;
};

// Where libhdf5 puts the bytes of a file the caller writes itself
// (Hdf5ChunkWriter::Create with a sink; hdf5_sink_driver.h): the caller's
// open file `fd` (`name` in messages), read with pread, written only
// through `write` (which must write all n bytes at `off` or fail, naming
// the file).
struct Hdf5FileSink {
  int fd = -1;
  std::string name;
  std::function<Status(uint64_t off, const char* p, uint64_t n)> write;
  Status error;          // the first failed read, write or truncate
  bool closing = false;  // the file is being closed: failures are kept, never returned
  bool discard = false;  // the output is abandoned: writes and truncates are skipped
};

// The one writer of an output file.
class Hdf5ChunkWriter {
 public:
  // Creates (or truncates: the caller's own empty temporary, as
  // /proc/self/fd/N) the HDF5 file `path` holding the dataset spec.name of
  // `shape` and `dtype` (intermediate groups created; a 0-d shape is a
  // scalar). A contiguous dataset is allocated at once: its elements are
  // then written at data_offset() by whoever has the file, as raw bytes.
  // With `sink` (which must outlive the writer), the file is sink->fd,
  // truncated, and every byte libhdf5 writes goes through sink->write
  // (`path` only names it inside libhdf5); else libhdf5 opens `path`
  // and writes it with pwrite.
  // Errors: kCantCreate naming `target` (the user's name for the file).
  static Result<std::unique_ptr<Hdf5ChunkWriter>> Create(const std::string& path,
                                                         const std::string& target,
                                                         const Hdf5OutputSpec& spec, DType dtype,
                                                         const std::vector<int64_t>& shape,
                                                         Hdf5FileSink* sink = nullptr);
  Hdf5ChunkWriter(const Hdf5ChunkWriter&) = delete;
  Hdf5ChunkWriter& operator=(const Hdf5ChunkWriter&) = delete;
  ~Hdf5ChunkWriter();

  // Contiguous: the file offset of the dataset's first element.
  uint64_t data_offset() const { return data_offset_; }
  // Stores the chunk whose first element is `origin` (ChunkCompressor's
  // output). Errors: kIoErr naming the target (a full disk included: the
  // sink's error when its write failed).
  Status WriteChunk(const std::vector<int64_t>& origin, const char* bytes, uint64_t size,
                    uint32_t mask);
  // Flushes and closes the file. Errors: kIoErr naming the target.
  Status Close();

 private:
  struct Handles;
  Hdf5ChunkWriter();
  // Closes the file in libhdf5, once (the file comment in hdf5_output.cc);
  // returns H5Fclose's result (negative: failed).
  int CloseOnce();
  // The sink's failed write when there is one (it names the file and the
  // reason), else Hdf5WriteError(otherwise, what).
  Status WriteError(Code otherwise, const std::string& what) const;
  std::string target_;
  uint64_t data_offset_ = 0;
  Hdf5FileSink* sink_ = nullptr;
  std::unique_ptr<Handles> h_;
};

// The output's description for the result: chunks (or null), filters,
// and (given the stored and logical bytes) the compression ratio.
Json DescribeHdf5Output(const Hdf5OutputSpec& spec, uint64_t stored_bytes, uint64_t logical_bytes);

}  // namespace mm
