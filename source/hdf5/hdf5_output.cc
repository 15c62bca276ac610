#include "source/hdf5/hdf5_output.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "source/hdf5/hdf5_file.h"
#include "source/hdf5/hdf5_library.h"
#include "source/hdf5/hdf5_sink_driver.h"

namespace mm {

namespace {

// The plugin filters of Debian's hdf5-filter-plugin, bitshuffle and
// hdf5-plugin-lzf packages (their registered HDF5 filter ids).
constexpr int kLzf = 32000;
constexpr int kBlosc = 32001;
constexpr int kLz4 = 32004;
constexpr int kBitshuffle = 32008;
constexpr int kBzip2 = 307;

// blosc's compressor codes (blosc.h BLOSC_*_FORMAT order).
const std::map<std::string, int>& BloscCodes() {
  static const std::map<std::string, int> codes = {
      {"blosclz", 0}, {"lz4", 1}, {"lz4hc", 2}, {"zlib", 4}, {"zstd", 5}};
  return codes;
}

Status KeyError(const std::string& where, const std::string& key, const std::string& why) {
  return Error(Code::kConfig, "config key '" + where + key + "' " + why);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

// A level "1".."9" (or `lo`..`hi`), or -1.
int Level(const std::string& text, int lo, int hi) {
  if (text.empty() || text.size() > 2 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return -1;
  const int v = std::stoi(text);
  return v >= lo && v <= hi ? v : -1;
}

const char kCompressions[] =
    "null, \"gzip\", \"gzip:1\" to \"gzip:9\", \"lzf\", \"lz4\", \"bzip2\", \"szip\", \"blosc\", "
    "\"blosc:lz4|lz4hc|blosclz|zlib|zstd[:0-9]\" or \"bitshuffle\"";

// The normalized name of `text`, or "" with *why set.
std::string NormalizeCompression(const std::string& text, std::string* why) {
  const std::vector<std::string> parts = Split(text, ':');
  const std::string& kind = parts[0];
  if (kind == "gzip" && parts.size() <= 2) {
    const int level = parts.size() == 1 ? 4 : Level(parts[1], 1, 9);
    if (level < 0) {
      *why = "has a gzip level of '" + parts[1] + "': the levels are 1 to 9";
      return "";
    }
    return "gzip:" + std::to_string(level);
  }
  if ((kind == "lzf" || kind == "lz4" || kind == "bzip2" || kind == "szip" ||
       kind == "bitshuffle") &&
      parts.size() == 1)
    return kind;
  if (kind == "blosc" && parts.size() <= 3) {
    const std::string cname = parts.size() >= 2 ? parts[1] : "lz4";
    if (BloscCodes().count(cname) == 0) {
      *why = "names the blosc compressor '" + cname +
             "': the compressors are lz4, lz4hc, blosclz, zlib and zstd";
      return "";
    }
    const int level = parts.size() == 3 ? Level(parts[2], 0, 9) : 5;
    if (level < 0) {
      *why = "has a blosc level of '" + parts[2] + "': the levels are 0 to 9";
      return "";
    }
    return "blosc:" + cname + ":" + std::to_string(level);
  }
  *why = "must be one of " + std::string(kCompressions) + ", got \"" + text + "\"";
  return "";
}

// The filter ids `compression` needs (the shuffle filter aside).
int FilterId(const std::string& compression) {
  const std::string kind = Split(compression, ':')[0];
  if (kind == "gzip") return H5Z_FILTER_DEFLATE;
  if (kind == "szip") return H5Z_FILTER_SZIP;
  if (kind == "lzf") return kLzf;
  if (kind == "lz4") return kLz4;
  if (kind == "bzip2") return kBzip2;
  if (kind == "blosc") return kBlosc;
  return kBitshuffle;
}

}  // namespace

std::vector<int64_t> AutoChunks(const std::vector<int64_t>& shape, uint64_t itemsize) {
  const size_t n = shape.size();
  auto chunks_at = [&](double f) {
    std::vector<int64_t> c(n);
    for (size_t a = 0; a < n; ++a) {
      const int64_t extent = std::max<int64_t>(shape[a], 1);
      c[a] = std::clamp<int64_t>(std::llround(static_cast<double>(extent) * f), 1, extent);
    }
    return c;
  };
  auto bytes = [&](const std::vector<int64_t>& c) {
    double b = static_cast<double>(itemsize);
    for (int64_t x : c) b *= static_cast<double>(x);
    return b;
  };
  // The largest fraction f of every axis whose chunk stays within the
  // bound, by bisection on f (the chunk grows with f).
  const double target = static_cast<double>(kAutoChunkBytes);
  if (bytes(chunks_at(1.0)) <= target) return chunks_at(1.0);
  double lo = 0.0, hi = 1.0;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (bytes(chunks_at(mid)) <= target ? lo : hi) = mid;
  }
  return chunks_at(lo);
}

Result<Hdf5OutputSpec> ParseHdf5Output(const Json& params, const std::vector<int64_t>& shape,
                                       DType dtype, const std::string& where,
                                       const std::string& default_name) {
  Hdf5Quiet();
  Hdf5OutputSpec spec;
  spec.name = default_name;
  if (params.contains("output_name")) {
    const Json& v = params["output_name"];
    if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>() == "/")
      return KeyError(where, "output_name",
                      "must be the dataset's path in the output file, such as \"data\" or "
                      "\"/group/data\", got " +
                          v.dump());
    spec.name = v.get<std::string>();
  }
  if (params.contains("compression") && !params["compression"].is_null()) {
    const Json& v = params["compression"];
    if (!v.is_string())
      return KeyError(where, "compression",
                      "must be one of " + std::string(kCompressions) + ", got " + v.dump());
    std::string why;
    spec.compression = NormalizeCompression(v.get<std::string>(), &why);
    if (spec.compression.empty()) return KeyError(where, "compression", why);
  }
  const std::string kind = spec.compression.empty() ? "" : Split(spec.compression, ':')[0];
  spec.shuffle = kind == "gzip" || kind == "blosc";
  if (params.contains("shuffle")) {
    if (!params["shuffle"].is_boolean())
      return KeyError(where, "shuffle", "must be true or false, got " + params["shuffle"].dump());
    spec.shuffle = params["shuffle"].get<bool>();
    if (spec.shuffle && kind == "bitshuffle")
      return KeyError(where, "shuffle",
                      "cannot be true with \"bitshuffle\", which shuffles bits itself");
  }
  const Json chunks = params.contains("chunks")
                          ? params["chunks"]
                          : (spec.compression.empty() ? Json(nullptr) : Json("auto"));
  const uint64_t item = static_cast<uint64_t>(dtype.itemsize());
  if (chunks.is_string() && chunks == "auto") {
    spec.chunks = AutoChunks(shape, item);
    spec.auto_chunks = true;
  } else if (chunks.is_array()) {
    if (chunks.size() != shape.size())
      return KeyError(where, "chunks",
                      "must list one extent per axis of the " + std::to_string(shape.size()) +
                          "-d output, got " + chunks.dump());
    uint64_t bytes = item;
    for (size_t a = 0; a < shape.size(); ++a) {
      const Json& c = chunks[a];
      const int64_t extent = std::max<int64_t>(shape[a], 1);
      if (!c.is_number_integer() || c.get<int64_t>() < 1)
        return KeyError(where, "chunks", "entry " + c.dump() + " is not a positive integer");
      if (c.get<int64_t>() > extent)
        return KeyError(where, "chunks",
                        "entry " + c.dump() + " is larger than the output's axis " +
                            std::to_string(a) + " (" + std::to_string(shape[a]) + ")");
      spec.chunks.push_back(c.get<int64_t>());
      bytes *= static_cast<uint64_t>(c.get<int64_t>());
    }
    if (bytes >= (uint64_t{1} << 32))
      return KeyError(where, "chunks",
                      "makes chunks of " + std::to_string(bytes) +
                          " bytes: HDF5 chunks must be smaller than 4 GiB");
  } else if (!chunks.is_null()) {
    return KeyError(where, "chunks",
                    "must be \"auto\", a list of extents or null, got " + chunks.dump());
  }
  if (spec.chunks.empty() && !spec.compression.empty())
    return KeyError(where, "compression", "needs chunks: \"chunks\" is null (contiguous)");
  if (spec.chunks.empty() && spec.shuffle)
    return KeyError(where, "shuffle", "needs chunks: \"chunks\" is null (contiguous)");
  if (!spec.compression.empty()) {
    const int id = FilterId(spec.compression);
    unsigned config = 0;
    if (H5Zfilter_avail(id) <= 0 || H5Zget_filter_info(id, &config) < 0 ||
        (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED) == 0) {
      H5Eclear2(H5E_DEFAULT);
      return KeyError(
          where, "compression",
          "is \"" + spec.compression + "\", but libhdf5 has no encoder for HDF5 filter " +
              std::to_string(id) + " (" + kind +
              "): install its plugin (scripts/bootstrap) in the plugin folders " + PluginFolders());
    }
  }
  return spec;
}

Json DescribeHdf5Output(const Hdf5OutputSpec& spec, uint64_t stored_bytes, uint64_t logical_bytes) {
  Json filters = Json::array();
  if (spec.shuffle && Split(spec.compression, ':')[0] != "blosc") filters.push_back("shuffle");
  if (!spec.compression.empty()) filters.push_back(spec.compression);
  Json j = Json::object();
  j["name"] = spec.name[0] == '/' ? spec.name : "/" + spec.name;
  j["chunks"] = spec.chunks.empty() ? Json(nullptr) : Json(spec.chunks);
  j["filters"] = filters;
  j["stored_bytes"] = stored_bytes;
  j["logical_bytes"] = logical_bytes;
  j["compression_ratio"] =
      JsonNumber(stored_bytes > 0 ? static_cast<double>(logical_bytes) / stored_bytes : 1.0);
  return j;
}

namespace {

// The dataset creation properties of `spec` (chunks, filters in write
// order, no modification times).
Hid OutputDcpl(const Hdf5OutputSpec& spec) {
  Hid dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (!dcpl.valid()) return Hid();
  bool ok = H5Pset_obj_track_times(dcpl.get(), 0) >= 0;
  if (!spec.chunks.empty()) {
    std::vector<hsize_t> dims(spec.chunks.begin(), spec.chunks.end());
    ok = ok && H5Pset_chunk(dcpl.get(), static_cast<int>(dims.size()), dims.data()) >= 0;
  }
  const std::vector<std::string> parts = Split(spec.compression, ':');
  const std::string& kind = parts[0];
  if (spec.shuffle && kind != "blosc") ok = ok && H5Pset_shuffle(dcpl.get()) >= 0;
  auto plugin = [&](int id, std::vector<unsigned> cd) {
    return H5Pset_filter(dcpl.get(), static_cast<H5Z_filter_t>(id), H5Z_FLAG_OPTIONAL, cd.size(),
                         cd.data()) >= 0;
  };
  if (kind == "gzip") {
    ok = ok && H5Pset_deflate(dcpl.get(), static_cast<unsigned>(std::stoi(parts[1]))) >= 0;
  } else if (kind == "szip") {
    ok = ok && H5Pset_szip(dcpl.get(), H5_SZIP_NN_OPTION_MASK, 8) >= 0;
  } else if (kind == "lzf") {
    ok = ok && plugin(kLzf, {});
  } else if (kind == "lz4") {
    ok = ok && plugin(kLz4, {0});  // block size: the plugin's default
  } else if (kind == "bzip2") {
    ok = ok && plugin(kBzip2, {9});
  } else if (kind == "blosc") {
    // hdf5plugin's layout: 4 values the plugin fills, level, shuffle, compressor.
    ok = ok &&
         plugin(kBlosc, {0, 0, 0, 0, static_cast<unsigned>(std::stoi(parts[2])),
                         spec.shuffle ? 1u : 0u, static_cast<unsigned>(BloscCodes().at(parts[1]))});
  } else if (kind == "bitshuffle") {
    ok = ok && plugin(kBitshuffle, {0, 2});  // default block, lz4 inside (as hdf5plugin)
  }
  return ok ? std::move(dcpl) : Hid();
}

}  // namespace

namespace {

// The HDF5 file type of `dtype` as h5py writes it (bool: an enum of int8
// {FALSE, TRUE}; float16: IEEE half). Invalid on error.
Hid Hdf5FileType(DType dtype) {
  const bool be = dtype.big_endian;
  hid_t base = -1;
  switch (dtype.kind) {
    case Kind::kBool: {
      Hid t(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
      const signed char no = 0, yes = 1;
      if (!t.valid() || H5Tenum_insert(t.get(), "FALSE", &no) < 0 ||
          H5Tenum_insert(t.get(), "TRUE", &yes) < 0)
        return Hid();
      return t;
    }
    case Kind::kInt8:
      base = H5T_STD_I8LE;
      break;
    case Kind::kUInt8:
      base = H5T_STD_U8LE;
      break;
    case Kind::kInt16:
      base = be ? H5T_STD_I16BE : H5T_STD_I16LE;
      break;
    case Kind::kUInt16:
      base = be ? H5T_STD_U16BE : H5T_STD_U16LE;
      break;
    case Kind::kInt32:
      base = be ? H5T_STD_I32BE : H5T_STD_I32LE;
      break;
    case Kind::kUInt32:
      base = be ? H5T_STD_U32BE : H5T_STD_U32LE;
      break;
    case Kind::kInt64:
      base = be ? H5T_STD_I64BE : H5T_STD_I64LE;
      break;
    case Kind::kUInt64:
      base = be ? H5T_STD_U64BE : H5T_STD_U64LE;
      break;
    case Kind::kFloat32:
      base = be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE;
      break;
    case Kind::kFloat64:
      base = be ? H5T_IEEE_F64BE : H5T_IEEE_F64LE;
      break;
    case Kind::kFloat16: {
      // IEEE half as h5py defines it: sign bit 15, exponent 10-14, mantissa 0-9.
      Hid t(H5Tcopy(be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE), H5Tclose);
      if (!t.valid() || H5Tset_fields(t.get(), 15, 10, 5, 0, 10) < 0 ||
          H5Tset_size(t.get(), 2) < 0 || H5Tset_ebias(t.get(), 15) < 0)
        return Hid();
      return t;
    }
  }
  return Hid(H5Tcopy(base), H5Tclose);
}

}  // namespace

struct ChunkCompressor::Handles {
  Hid file, dset, type;
  ~Handles() {  // objects before their file
    dset.Reset();
    type.Reset();
    file.Reset();
  }
};

struct Hdf5ChunkWriter::Handles {
  Hid file, dset;
  ~Handles() {
    dset.Reset();
    file.Reset();
  }
};

ChunkCompressor::ChunkCompressor() : h_(std::make_unique<Handles>()) {}
Hdf5ChunkWriter::Hdf5ChunkWriter() : h_(std::make_unique<Handles>()) {}

Result<std::unique_ptr<ChunkCompressor>> ChunkCompressor::Make(const Hdf5OutputSpec& spec,
                                                               DType dtype) {
  Hdf5Quiet();
  std::unique_ptr<ChunkCompressor> c(new ChunkCompressor());
  c->spec_ = spec;
  c->dtype_ = dtype;
  c->chunk_bytes_ = static_cast<uint64_t>(dtype.itemsize());
  for (int64_t x : spec.chunks) c->chunk_bytes_ *= static_cast<uint64_t>(x);
  MM_RETURN_IF_ERROR(c->Reopen());
  return c;
}

ChunkCompressor::~ChunkCompressor() = default;

// A fresh in-memory file of one chunk: libhdf5 frees a rewritten chunk's
// old bytes inside the file, so a new file every few hundred chunks keeps
// its memory to a few chunks whatever the compressed sizes.
Status ChunkCompressor::Reopen() {
  h_ = std::make_unique<Handles>();
  uses_ = 0;
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_fapl_core(fapl.get(), 1 << 20, 0) < 0)
    return Hdf5Error(Code::kIoErr, "HDF5 output: in-memory file");
  // The name only identifies the file inside libhdf5 (no backing store).
  const std::string name = "mmrun-chunk-" + std::to_string(reinterpret_cast<uintptr_t>(this));
  h_->file = Hid(H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
  h_->type = Hdf5FileType(dtype_);
  Hid dcpl = OutputDcpl(spec_);
  std::vector<hsize_t> dims(spec_.chunks.begin(), spec_.chunks.end());
  Hid space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  // No chunk cache: a written chunk goes through the filters at once.
  Hid dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  if (!h_->file.valid() || !h_->type.valid() || !dcpl.valid() || !space.valid() || !dapl.valid() ||
      H5Pset_chunk_cache(dapl.get(), 0, 0, 1.0) < 0)
    return Hdf5Error(Code::kIoErr, "HDF5 output: in-memory file");
  h_->dset = Hid(H5Dcreate2(h_->file.get(), "c", h_->type.get(), space.get(), H5P_DEFAULT,
                            dcpl.get(), dapl.get()),
                 H5Dclose);
  if (!h_->dset.valid()) return Hdf5Error(Code::kIoErr, "HDF5 output: in-memory dataset");
  return Status::OK();
}

Status ChunkCompressor::Compress(const char* chunk, std::vector<char>* out, uint32_t* mask) {
  if (uses_ >= 256) MM_RETURN_IF_ERROR(Reopen());
  ++uses_;
  const std::vector<hsize_t> origin(spec_.chunks.size(), 0);
  hsize_t size = 0;
  if (H5Dwrite(h_->dset.get(), h_->type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, chunk) < 0 ||
      H5Dget_chunk_storage_size(h_->dset.get(), origin.data(), &size) < 0)
    return Hdf5Error(Code::kIoErr, "HDF5 output: compressing a chunk");
  out->resize(static_cast<size_t>(size));
  uint32_t m = 0;
  if (H5Dread_chunk(h_->dset.get(), H5P_DEFAULT, origin.data(), &m, out->data()) < 0)
    return Hdf5Error(Code::kIoErr, "HDF5 output: compressing a chunk");
  *mask = m;
  return Status::OK();
}

Result<std::unique_ptr<Hdf5ChunkWriter>> Hdf5ChunkWriter::Create(
    const std::string& path, const std::string& target, const Hdf5OutputSpec& spec, DType dtype,
    const std::vector<int64_t>& shape, Hdf5FileSink* sink) {
  Hdf5Quiet();
  std::unique_ptr<Hdf5ChunkWriter> w(new Hdf5ChunkWriter());
  w->target_ = target;
  w->sink_ = sink;
  auto fail = [&](const std::string& what) {
    return w->WriteError(Code::kCantCreate, target + ": " + what);
  };
  Hid fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  Hid gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose);
  if (!fcpl.valid() || !gcpl.valid() || H5Pset_obj_track_times(fcpl.get(), 0) < 0 ||
      H5Pset_obj_track_times(gcpl.get(), 0) < 0)
    return fail("cannot set up the file");
  Hid fapl;
  if (sink != nullptr) {
    MM_ASSIGN_OR_RETURN(fapl, SinkFileAccess(sink));
  }
  w->h_->file = Hid(
      H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.valid() ? fapl.get() : H5P_DEFAULT),
      H5Fclose);
  if (!w->h_->file.valid()) return fail("cannot create the HDF5 file");
  // Intermediate groups one by one, each without modification times.
  const std::vector<std::string> parts =
      Split(spec.name[0] == '/' ? spec.name.substr(1) : spec.name, '/');
  std::string at;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    at += "/" + parts[i];
    if (H5Lexists(w->h_->file.get(), at.c_str(), H5P_DEFAULT) > 0) continue;
    Hid g(H5Gcreate2(w->h_->file.get(), at.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT),
          H5Gclose);
    if (!g.valid()) return fail("cannot create group '" + at + "'");
  }
  Hid type = Hdf5FileType(dtype);
  Hid dcpl = OutputDcpl(spec);
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Hid space(dims.empty() ? H5Screate(H5S_SCALAR)
                         : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
            H5Sclose);
  if (!type.valid() || !dcpl.valid() || !space.valid()) return fail("cannot describe the dataset");
  if (spec.chunks.empty() && H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY) < 0)
    return fail("cannot describe the dataset");
  // The dataset's path as given (intermediate groups exist now).
  w->h_->dset = Hid(H5Dcreate2(w->h_->file.get(), spec.name.c_str(), type.get(), space.get(),
                               H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
                    H5Dclose);
  if (!w->h_->dset.valid()) return fail("cannot create dataset '" + spec.name + "'");
  uint64_t elements = 1;
  for (int64_t x : shape) elements *= static_cast<uint64_t>(x);
  if (spec.chunks.empty() && elements > 0) {
    const haddr_t off = H5Dget_offset(w->h_->dset.get());
    if (off == HADDR_UNDEF) return fail("the contiguous dataset has no address");
    w->data_offset_ = static_cast<uint64_t>(off);
  }
  return w;
}

// libhdf5 1.10 frees a file whose close failed but keeps its identifier
// (CVE-2020-10812, fixed in 1.14.1): closing it again, or the close of
// every open file at exit, then uses freed memory. So a file is closed
// exactly once, and with a sink in a mode where no read, write or truncate
// fails (a failure is kept in the sink's error); the writer's old
// `h_->file = Hid()` after H5Fclose closed every file twice.
int Hdf5ChunkWriter::CloseOnce() {
  if (sink_ != nullptr) sink_->closing = true;
  return H5Fclose(h_->file.Release());
}

// Destroyed before Close, the output is abandoned: libhdf5 must still
// close the file now, while the sink lives (an open file would be flushed
// through it at exit), and its last writes are skipped.
Hdf5ChunkWriter::~Hdf5ChunkWriter() {
  if (sink_ != nullptr) sink_->discard = true;
  h_->dset.Reset();
  if (h_->file.valid()) {
    CloseOnce();
    H5Eclear2(H5E_DEFAULT);
  }
}

Status Hdf5ChunkWriter::WriteChunk(const std::vector<int64_t>& origin, const char* bytes,
                                   uint64_t size, uint32_t mask) {
  std::vector<hsize_t> offset(origin.begin(), origin.end());
  if (H5Dwrite_chunk(h_->dset.get(), H5P_DEFAULT, mask, offset.data(), static_cast<size_t>(size),
                     bytes) < 0)
    return WriteError(Code::kIoErr, target_ + ": cannot write a chunk");
  return Status::OK();
}

Status Hdf5ChunkWriter::WriteError(Code otherwise, const std::string& what) const {
  if (sink_ == nullptr || sink_->error.ok()) return Hdf5WriteError(otherwise, what);
  H5Eclear2(H5E_DEFAULT);
  return sink_->error;  // names the file and the reason
}

Status Hdf5ChunkWriter::Close() {
  h_->dset.Reset();
  if (!h_->file.valid()) return Status::OK();
  Status st = Status::OK();
  if (H5Fflush(h_->file.get(), H5F_SCOPE_GLOBAL) < 0) {
    st = WriteError(Code::kIoErr, target_ + ": cannot finish the file");
    if (sink_ != nullptr) sink_->discard = true;  // abandoned
  }
  const herr_t closed = CloseOnce();
  if (st.ok() && sink_ != nullptr && !sink_->error.ok()) st = sink_->error;
  if (st.ok() && closed < 0) st = WriteError(Code::kIoErr, target_ + ": cannot finish the file");
  H5Eclear2(H5E_DEFAULT);
  return st;
}

}  // namespace mm
