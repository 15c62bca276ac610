// Tests of HDF5 outputs' building blocks (source/hdf5/hdf5_output.h): the
// parameters and their errors, "auto" chunks, and chunks compressed through
// every filter, stored by the one writer and read back with H5Dread (h5py
// reads mmrun's whole outputs in tests/integration/test_hdf5_output.py).
#include "source/hdf5/hdf5_output.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/files.h"

namespace mm {
namespace {

DType F32() { return *ParseDType("<f4"); }

Status ParseError(const Json& params, std::vector<int64_t> shape = {10, 20}) {
  Result<Hdf5OutputSpec> r = ParseHdf5Output(params, shape, F32(), "analyses[0].", "data");
  return r.ok() ? Status::OK() : r.status();
}

TEST_CASE("Hdf5 output: bad parameters are config errors naming the key", "[hdf5_output]") {
  struct Case {
    Json params;
    std::string key, fragment;
  };
  const std::vector<Case> cases = {
      {{{"compression", "zip"}}, "analyses[0].compression", "must be one of"},
      {{{"compression", "gzip:10"}}, "analyses[0].compression", "levels are 1 to 9"},
      {{{"compression", "gzip:0"}}, "analyses[0].compression", "levels are 1 to 9"},
      {{{"compression", "blosc:snappy"}}, "analyses[0].compression", "blosc compressor"},
      {{{"compression", 3}}, "analyses[0].compression", "must be one of"},
      {{{"compression", "gzip"}, {"chunks", nullptr}}, "analyses[0].compression", "needs chunks"},
      {{{"chunks", {10, 21}}}, "analyses[0].chunks", "larger than the output's axis 1"},
      {{{"chunks", {10}}}, "analyses[0].chunks", "one extent per axis"},
      {{{"chunks", {0, 5}}}, "analyses[0].chunks", "not a positive integer"},
      {{{"chunks", "big"}}, "analyses[0].chunks", "\"auto\", a list"},
      {{{"shuffle", "yes"}}, "analyses[0].shuffle", "true or false"},
      {{{"shuffle", true}, {"compression", "bitshuffle"}}, "analyses[0].shuffle", "bits itself"},
      {{{"output_name", ""}}, "analyses[0].output_name", "dataset's path"},
  };
  for (const Case& c : cases) {
    INFO(c.params.dump());
    const Status s = ParseError(c.params);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Code::kConfig);
    CHECK_THAT(s.message(), Catch::Contains("'" + c.key + "'"));
    CHECK_THAT(s.message(), Catch::Contains(c.fragment));
  }
}

TEST_CASE("Hdf5 output: defaults and normalized names", "[hdf5_output]") {
  Result<Hdf5OutputSpec> none = ParseHdf5Output(Json::object(), {10, 20}, F32(), "", "data");
  REQUIRE(none.ok());
  CHECK(none->chunks.empty());
  CHECK(none->compression.empty());
  CHECK_FALSE(none->shuffle);
  CHECK(none->name == "data");
  Result<Hdf5OutputSpec> gz =
      ParseHdf5Output({{"compression", "gzip"}, {"output_name", "/g/x"}}, {10, 20}, F32(), "", "d");
  REQUIRE(gz.ok());
  CHECK(gz->compression == "gzip:4");
  CHECK(gz->shuffle);
  CHECK(gz->auto_chunks);
  CHECK(gz->chunks == std::vector<int64_t>{10, 20});  // the whole (small) array
  CHECK(gz->name == "/g/x");
  Result<Hdf5OutputSpec> bl = ParseHdf5Output({{"compression", "blosc:zstd"}, {"shuffle", false}},
                                              {10, 20}, F32(), "", "d");
  REQUIRE(bl.ok());
  CHECK(bl->compression == "blosc:zstd:5");
  CHECK_FALSE(bl->shuffle);
}

TEST_CASE("Hdf5 output: auto chunks are balanced, at most 2 MiB, at least 1 MiB", "[hdf5_output]") {
  const std::vector<std::pair<std::vector<int64_t>, uint64_t>> cases = {
      {{1000, 1000, 1000}, 1}, {{630, 630, 630}, 4},   {{365, 360, 720}, 4},
      {{100000, 50}, 8},       {{3, 10000, 10000}, 2}, {{7, 50000000}, 1}};
  for (const auto& [shape, item] : cases) {
    const std::vector<int64_t> c = AutoChunks(shape, item);
    INFO(Json(shape).dump() << " x" << item << " -> " << Json(c).dump());
    REQUIRE(c.size() == shape.size());
    uint64_t bytes = item;
    for (size_t a = 0; a < c.size(); ++a) {
      CHECK(c[a] >= 1);
      CHECK(c[a] <= shape[a]);
      bytes *= static_cast<uint64_t>(c[a]);
    }
    CHECK(bytes <= kAutoChunkBytes);
    CHECK(bytes >= kAutoChunkBytes / 2);
    // Balanced: every axis not cut to 1 or kept whole is cut into about
    // the same number of chunks.
    std::vector<double> per_axis;
    for (size_t a = 0; a < c.size(); ++a)
      if (c[a] > 1 && c[a] < shape[a])
        per_axis.push_back(static_cast<double>(shape[a]) / static_cast<double>(c[a]));
    for (double x : per_axis) CHECK(x / per_axis[0] == Approx(1.0).epsilon(0.1));
  }
  CHECK(AutoChunks({5, 7}, 8) == std::vector<int64_t>{5, 7});
  CHECK(AutoChunks({0, 7}, 8) == std::vector<int64_t>{1, 7});
}

struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/mmrun-h5out-test-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() {
    for (const char* f : {"/a.h5", "/b.h5"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A sink that writes with pwrite into `fd`; fails with ENOSPC's message
// once `budget` bytes have been written (-1: never).
struct CountingSink {
  Hdf5FileSink sink;
  uint64_t written = 0;
  int64_t budget = -1;
  explicit CountingSink(int fd) {
    sink.fd = fd;
    sink.write = [this](uint64_t off, const char* p, uint64_t n) -> Status {
      if (budget >= 0 && written + n > static_cast<uint64_t>(budget))
        return Error(Code::kCantCreate, "out.h5: write: No space left on device");
      written += n;
      return PwriteFull(sink.fd, p, n, off, "out.h5: write");
    };
  }
};

// A 2-D float32 array of shape (13, 9) in chunks (4, 4): edge chunks on
// both axes. Writes it with `compression` into `path` (with `sink`: through
// it, on its descriptor), then reads it back.
void RoundTrip(const std::string& compression, const std::string& path,
               Hdf5FileSink* sink = nullptr) {
  const std::vector<int64_t> shape = {13, 9};
  std::vector<float> a(13 * 9);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) * 0.5f + (i / 50);
  Json params = {{"chunks", {4, 4}}, {"output_name", "grp/x"}};
  if (!compression.empty()) params["compression"] = compression;
  Result<Hdf5OutputSpec> spec = ParseHdf5Output(params, shape, F32(), "", "data");
  REQUIRE(spec.ok());
  Result<std::unique_ptr<ChunkCompressor>> comp = ChunkCompressor::Make(*spec, F32());
  REQUIRE(comp.ok());
  REQUIRE((*comp)->chunk_bytes() == 4 * 4 * 4);
  Result<std::unique_ptr<Hdf5ChunkWriter>> w =
      Hdf5ChunkWriter::Create(path, "out.h5", *spec, F32(), shape, sink);
  REQUIRE(w.ok());
  std::vector<float> chunk(16);
  std::vector<char> stored;
  for (int64_t r = 0; r < 13; r += 4)
    for (int64_t c = 0; c < 9; c += 4) {
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < 4; ++j)
          chunk[static_cast<size_t>(i * 4 + j)] =
              r + i < 13 && c + j < 9 ? a[static_cast<size_t>((r + i) * 9 + c + j)] : 0.0f;
      uint32_t mask = 0;
      REQUIRE((*comp)->Compress(reinterpret_cast<const char*>(chunk.data()), &stored, &mask).ok());
      REQUIRE((*w)->WriteChunk({r, c}, stored.data(), stored.size(), mask).ok());
    }
  REQUIRE((*w)->Close().ok());
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, "/grp/x", H5P_DEFAULT);
  REQUIRE(d >= 0);
  std::vector<float> back(a.size(), -1.0f);
  REQUIRE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()) >= 0);
  CHECK(back == a);
  // No times recorded (they would make every output differ): 0 when untracked.
  for (hid_t obj : {d, static_cast<hid_t>(H5Gopen2(f, "/grp", H5P_DEFAULT))}) {
    H5O_info_t info;
    REQUIRE(H5Oget_info2(obj, &info, H5O_INFO_TIME) >= 0);
    CHECK(info.mtime == 0);
    CHECK(info.ctime == 0);
    if (obj != d) H5Gclose(obj);
  }
  H5Dclose(d);
  H5Fclose(f);
}

TEST_CASE("Hdf5 output: chunks through every filter read back as written, same bytes twice",
          "[hdf5_output]") {
  for (const std::string c : {"", "gzip:1", "gzip:9", "lzf", "lz4", "bzip2", "szip", "blosc",
                              "blosc:zstd:3", "blosc:zlib", "bitshuffle"}) {
    INFO("compression " << c);
    TempDir dir;
    RoundTrip(c, dir.path + "/a.h5");
    RoundTrip(c, dir.path + "/b.h5");
    CHECK(ReadAll(dir.path + "/a.h5") == ReadAll(dir.path + "/b.h5"));
    // Through a sink (the coordinator's way): libhdf5 lays out the same
    // bytes as with its own driver, and every byte goes through the sink.
    // The file starts with junk longer than the output: it is truncated.
    const std::string via = dir.path + "/c.h5";
    REQUIRE(::close(::open(via.c_str(), O_CREAT | O_WRONLY, 0644)) == 0);
    FileDescriptor fd(::open(via.c_str(), O_RDWR));
    REQUIRE(fd.valid());
    REQUIRE(PwriteFull(fd.get(), std::string(100000, 'x').data(), 100000, 0, "junk").ok());
    CountingSink counting(fd.get());
    RoundTrip(c, "/proc/self/fd/" + std::to_string(fd.get()), &counting.sink);
    const std::string bytes = ReadAll(via);
    CHECK(bytes == ReadAll(dir.path + "/a.h5"));
    CHECK(counting.written >= bytes.size());
  }
}

TEST_CASE("Hdf5 output: a sink's failed write fails the writer with the sink's error",
          "[hdf5_output]") {
  const std::vector<int64_t> shape = {64, 64};
  Result<Hdf5OutputSpec> spec = ParseHdf5Output({{"chunks", {8, 64}}}, shape, F32(), "", "data");
  REQUIRE(spec.ok());
  std::vector<char> chunk(8 * 64 * 4, 1);
  // Writes the file through a sink that fails once `budget` bytes are
  // written (-1: never); returns the writer's status, and the bytes written
  // before Close in *before.
  const auto write = [&](int64_t budget, uint64_t* before, uint64_t* total) -> Status {
    TempDir dir;
    const std::string path = dir.path + "/a.h5";
    FileDescriptor fd(::open(path.c_str(), O_CREAT | O_RDWR, 0644));
    REQUIRE(fd.valid());
    CountingSink counting(fd.get());
    counting.budget = budget;
    Status st;
    {
      Result<std::unique_ptr<Hdf5ChunkWriter>> w =
          Hdf5ChunkWriter::Create("/proc/self/fd/" + std::to_string(fd.get()), "out.h5", *spec,
                                  F32(), shape, &counting.sink);
      if (!w.ok()) st = w.status();
      for (int64_t r = 0; st.ok() && r < 64; r += 8)
        st = (*w)->WriteChunk({r, 0}, chunk.data(), chunk.size(), 0);
      *before = counting.written;
      if (st.ok()) st = (*w)->Close();
    }
    *total = counting.written;
    // Nothing stays open in libhdf5 (a file closed twice, or flushed
    // through the dead sink at exit, is a use of freed memory).
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
    return st;
  };
  uint64_t before = 0, total = 0;
  REQUIRE(write(-1, &before, &total).ok());
  REQUIRE(total > before);
  // Budgets that run out while creating the file, while storing chunks, and
  // while Close flushes the metadata and closes the file.
  for (int64_t budget :
       {int64_t{0}, int64_t{100}, int64_t{3000}, int64_t{6000}, int64_t{8000}, int64_t{16000},
        static_cast<int64_t>(before), static_cast<int64_t>((before + total) / 2),
        static_cast<int64_t>(total) - 1}) {
    INFO("budget " << budget << " of " << total << " (" << before << " before Close)");
    uint64_t b = 0, t = 0;
    const Status st = write(budget, &b, &t);
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Code::kCantCreate);
    CHECK(st.message() == "out.h5: write: No space left on device");
  }
}

TEST_CASE("Hdf5 output: a contiguous dataset is allocated at an offset", "[hdf5_output]") {
  TempDir dir;
  Result<Hdf5OutputSpec> spec = ParseHdf5Output(Json::object(), {6, 5}, F32(), "", "data");
  REQUIRE(spec.ok());
  const std::string path = dir.path + "/a.h5";
  Result<std::unique_ptr<Hdf5ChunkWriter>> w =
      Hdf5ChunkWriter::Create(path, "out.h5", *spec, F32(), {6, 5});
  REQUIRE(w.ok());
  const uint64_t off = (*w)->data_offset();
  REQUIRE((*w)->Close().ok());
  CHECK(off > 0);
  std::vector<float> a(30);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) - 3.25f;
  {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(off));
    io.write(reinterpret_cast<const char*>(a.data()), 120);
  }
  const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t d = H5Dopen2(f, "/data", H5P_DEFAULT);
  std::vector<float> back(30);
  REQUIRE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()) >= 0);
  CHECK(back == a);
  H5Dclose(d);
  H5Fclose(f);
}

}  // namespace
}  // namespace mm
