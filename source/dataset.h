// Dataset: a config's dataset block checked against the file it names.
//
// OpenDataset decides the format through the registry (source/registry.h:
// "auto" asks each format's probe; .npy by its magic bytes, else raw), reads
// the .npy header, resolves the shape and checks that the file holds the
// array, without reading any data. For mode "w+" the file need not exist:
// the layout comes from the config alone (the format from the path's
// extension), and the file is created by `generate`.
//
// The file is opened once, here, and that descriptor is the run's only way
// to its bytes (docs/ARCHITECTURE.md "One file for the whole run"): forked
// workers inherit it, spawned workers receive it (and check dev/ino), and
// every read and mapping goes to the file it names (reads through a second
// open file description of it, ReopenForReading), so a file renamed over
// the path during the run is never read or written.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/layout.h"
#include "io/files.h"
#include "source/partition.h"

namespace mm {

struct DatasetSpec {
  std::string path;             // absolute (resolved against the config's folder)
  std::string format = "auto";  // "auto" or a format's name (source/registry.h)
  std::optional<std::string> dtype;
  std::optional<std::vector<int64_t>> shape;
  std::optional<char> order;
  std::optional<uint64_t> offset;
  std::string mode = "r";  // r | r+ | w+
  // HDF5: the dataset's path in the file (a leading '/' optional); none =
  // the file's only numeric dataset.
  std::optional<std::string> name;
  // HDF5: CF decoding, "auto" | "true" | "false" (SPEC §7; docs/HDF5.md
  // "CF attributes").
  std::string cf = "auto";
  // Mode w+ with a path ending in .h5 or .hdf5 (generate writes HDF5): the
  // keys "chunks", "compression" and "shuffle" as configured (SPEC §7
  // "HDF5 outputs"); an empty object otherwise.
  Json hdf5_output = Json::object();
};

// The CF decoding of an HDF5 / netCDF-4 variable (SPEC §7 `cf`,
// docs/HDF5.md "CF attributes"), as netCDF4-python applies it by default;
// filled by the HDF5 describe, applied element by element by the decoding
// Source (source/hdf5/cf_source.h, source/hdf5/cf_decode.h). Plain values:
// serialized in the plan so every worker decodes alike.
struct CfDecoding {
  bool decoded = false;  // false: nothing below applies, layout.dtype is stored
  DType stored;          // the file's element type (what the wrapped Source reads)
  // _Unsigned on a signed integer type: values are compared and unpacked as
  // the unsigned type of the same size (the "compare type"; else the stored
  // type itself).
  bool as_unsigned = false;
  // An element is masked (decoded as NaN) when it equals one of `equal`, or
  // is < valid_min (has_min) or > valid_max (has_max). Each value is in the
  // compare type, held as its native bits in the low bytes of the uint64.
  std::vector<uint64_t> equal;
  bool has_min = false, has_max = false;
  uint64_t valid_min = 0, valid_max = 0;
  // Unpacking into the decoded type F (layout.dtype, native float32/64, or
  // the compare type when nothing is masked or unpacked): kConvert: F(v);
  // kScaleOffset: F(M(v) * M(scale)) + F(offset), M = multiply_kind;
  // kScale: F(v) * F(scale); kOffset: F(v) + F(offset). Each operation is
  // rounded in its type (no fused multiply-add), as numpy computes it.
  enum Op : int { kConvert = 0, kScaleOffset = 1, kScale = 2, kOffset = 3 };
  int op = kConvert;
  Kind multiply_kind = Kind::kFloat64;
  double scale = 1, offset = 0;
  // What was decoded, for the result's dataset.cf (DatasetJson).
  Json report;
};

// The plan's serialization of a CfDecoding, and back (kDataErr when malformed).
Json CfDecodingJson(const CfDecoding& cf);
Result<CfDecoding> CfDecodingFromJson(const Json& j);

struct Dataset {
  std::string path;                  // absolute
  std::string format;                // its format's name (source/registry.h)
  std::string mode;                  // r | r+ | w+
  int npy_major = 0, npy_minor = 0;  // 0.0 for raw
  Layout layout;
  uint64_t file_bytes = 0;          // size now (w+: the size generate will create)
  std::vector<int64_t> shape_spec;  // the shape as configured (may hold -1)
  // The storage's chunk shape when the format stores the array in chunks
  // (one entry per axis; the blocks are then the chunks: source/partition.h),
  // empty otherwise.
  std::vector<int64_t> chunks;
  // The other files the data is read from (HDF5: external raw files and
  // virtual datasets' sources that exist), as libhdf5 will open them: the
  // run registers them as inputs, so no output of the run replaces one.
  // Coordinator only (not in the plan sent to workers).
  std::vector<std::string> read_files;
  // HDF5: the dataset's path in the file ("/group/data"), and its storage
  // layout: "contiguous" (then read as a raw array at layout.offset),
  // "chunked", "compact", "external" or "virtual". Empty for raw and .npy.
  std::string name;
  std::string storage;
  // HDF5: CF decoding (then layout.dtype is the decoded type, cf.stored the
  // file's; the partition stays the stored array's: PartitionOf).
  CfDecoding cf;
  // Mode w+, format "hdf5" (the file generate writes is HDF5): its output
  // parameters as configured, "output_name" being the dataset's `name`
  // (analysis/hdf5_copy.h reads them); null otherwise.
  Json hdf5_output;
  // The open file (O_RDONLY|O_NONBLOCK, O_RDWR for r+; none for w+), shared
  // by copies, and its identity when opened.
  std::shared_ptr<FileDescriptor> file;
  uint64_t dev = 0, ino = 0;
  int fd() const { return file ? file->get() : -1; }
};

// kIoErr naming the file when the dataset's open file is now smaller than
// it was when the run planned it (a shrink of even one byte: no SIGBUS
// happens inside the last page). OK for w+ (no file yet).
Status CheckNotShrunk(const Dataset& d);

// Adopts `fd` (received by a spawned worker) as the dataset's file after
// checking that it is the file the coordinator opened (same dev and ino);
// kIoErr otherwise.
Status AdoptDatasetFd(Dataset* d, int fd);

// Errors: kNoInput (file missing), kNoPerm, kDataErr (too small, malformed
// or unsupported .npy), kConfig (missing or contradicting dtype/shape/order/
// offset; messages name the key).
Result<Dataset> OpenDataset(const DatasetSpec& spec);

// Layout described by explicit parameters over an existing file; used by
// `mmrun inspect`.
Result<Dataset> InspectFile(const std::string& path, const DatasetSpec& hints);

// `mmrun inspect`'s description of a file in a format that holds several
// arrays (HDF5: every dataset, or hints.name), from the format's registry
// entry; std::nullopt when the file's format holds one array (describe it
// with InspectFile). Errors: kNoInput, kNoPerm, kIoErr opening the file;
// the format's own (an HDF5 name that is no dataset: kConfig).
Result<std::optional<Json>> InspectContainer(const std::string& path, const DatasetSpec& hints);

// The format's refusal of a layout a run must not take (its registry
// entry's check_rows, source/registry.h; e.g. a raw -1 shape that found no
// whole row, valid only for a growing file: `growing`, --state). OK for
// mode w+ and for a format without one.
Status CheckRows(const Dataset& d, bool growing);

// What the layout leaves unread, each a warning text naming the file and
// the bytes (its registry entry's warnings: raw's trailing bytes after a
// fixed shape or a partial last row, with the shapes or offset that would
// use them exactly; the bytes after a .npy's data). Empty for mode w+, for
// an empty shape and for a format without warnings.
std::vector<std::string> LayoutWarnings(const Dataset& d, bool growing);

// Whether `path` names an HDF5 file by its extension (.h5, .hdf5, .nc,
// any case), and whether it names one that slice, convert and generate
// write as HDF5 (.h5, .hdf5: SPEC §7 "HDF5 outputs"; they refuse .nc).
bool HasHdf5Extension(const std::string& path);
bool HasHdf5OutputExtension(const std::string& path);

// The dataset's fixed cut into blocks: its chunks when the format stores it
// in chunks (d.chunks), else row blocks of about kBlockBytes of the STORED
// elements (a CF-decoded dataset is cut as its stored array: the same blocks
// whether decoded or not). The plan's partition, and every Source's.
Partition PartitionOf(const Dataset& d);

// The result document's "dataset" object (SPEC §4; for HDF5 also name,
// layout, chunks and "cf": d.cf.report, or {"decoded": false}).
Json DatasetJson(const Dataset& d);

}  // namespace mm
