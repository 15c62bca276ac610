// Tests of the HDF5 driver: the boxes that tile a storage-index range
// (ReadElements' selection), the signature probe (at 0 and after a user
// block), the dataset keys `name` and `cf`, and the chunked Source over a
// file this test writes with the C API (each chunk block's bytes, edge
// chunks, chunks never written, ReadElements, every handle closed after
// describe). Analyses over real files are tests/integration/test_hdf5.py
// (h5py as the oracle).
#include <hdf5.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "source/dataset.h"
#include "source/hdf5/hdf5_chunks.h"
#include "source/hdf5/hdf5_file.h"
#include "source/hdf5/hdf5_format.h"
#include "source/hdf5/hdf5_source.h"
#include "source/registry.h"

namespace mm {
namespace {

// The C-order storage indices of a box's elements, in C order of the box.
std::vector<uint64_t> Indices(const std::vector<int64_t>& shape, const Box& box) {
  std::vector<uint64_t> out;
  std::vector<int64_t> x = box.start;
  const size_t n = shape.size();
  for (uint64_t e = 0; e < box.elements(); ++e) {
    uint64_t index = 0;
    for (size_t a = 0; a < n; ++a) index = index * static_cast<uint64_t>(shape[a]) + x[a];
    out.push_back(index);
    for (size_t a = n; a-- > 0;) {
      if (++x[a] < box.start[a] + box.count[a]) break;
      x[a] = box.start[a];
    }
  }
  return out;
}

TEST_CASE("Hdf5: the boxes of a storage range hold exactly its indices, in order", "[hdf5]") {
  const std::vector<std::vector<int64_t>> shapes = {
      {7}, {5, 3}, {4, 3, 5}, {2, 3, 2, 4}, {1, 6, 1}};
  for (const auto& shape : shapes) {
    uint64_t total = 1;
    for (int64_t s : shape) total *= static_cast<uint64_t>(s);
    for (uint64_t b = 0; b <= total; ++b)
      for (uint64_t e = b; e <= total; ++e) {
        std::vector<uint64_t> got;
        const std::vector<Box> boxes = BoxesOfRange(shape, b, e);
        CHECK(boxes.size() <= 2 * shape.size());
        for (const Box& box : boxes) {
          CHECK(box.elements() > 0);
          for (uint64_t i : Indices(shape, box)) got.push_back(i);
        }
        std::vector<uint64_t> want;
        for (uint64_t i = b; i < e; ++i) want.push_back(i);
        INFO("shape rank " << shape.size() << " range " << b << ".." << e);
        REQUIRE(got == want);
      }
  }
}

TEST_CASE("Hdf5: the probe finds the signature at 0 and after a user block", "[hdf5]") {
  const std::string sig("\211HDF\r\n\032\n", 8);
  CHECK(ProbeHdf5(sig + "rest", -1));
  CHECK(std::string(ProbeFormat(sig).name) == "hdf5");
  CHECK_FALSE(ProbeHdf5("\211HDF\r\n", -1));
  CHECK_FALSE(ProbeHdf5(std::string(64, '\0'), -1));
  char path[] = "/tmp/mmrun-hdf5-probe-XXXXXX";
  const int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  for (size_t block : {512, 1024, 4096}) {
    std::string bytes(block, 'u');
    bytes += sig + std::string(100, '\0');
    REQUIRE(::ftruncate(fd, 0) == 0);
    REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
    CHECK(ProbeHdf5(bytes.substr(0, 64), fd));
    CHECK(std::string(ProbeFormat(bytes.substr(0, 64), fd).name) == "hdf5");
  }
  const std::string other(3000, 'x');  // no signature at any power of two
  REQUIRE(::ftruncate(fd, 0) == 0);
  REQUIRE(::pwrite(fd, other.data(), other.size(), 0) == static_cast<ssize_t>(other.size()));
  CHECK_FALSE(ProbeHdf5(other.substr(0, 64), fd));
  CHECK(std::string(ProbeFormat(other.substr(0, 64), fd).name) == "raw");
  ::close(fd);
  ::unlink(path);
}

TEST_CASE("Hdf5: the dataset keys name and cf", "[hdf5][config]") {
  Result<Config> c =
      ParseConfig(Json::parse(R"({"dataset": {"path": "/d/a.h5", "name": "g/x", "cf": false},
                      "analyses": [{"op": "stats"}]})"),
                  "/d");
  REQUIRE(c.ok());
  CHECK(*c->dataset.name == "g/x");
  CHECK(c->dataset.cf == "false");
  c = ParseConfig(Json::parse(R"({"dataset": {"path": "a.h5"}, "analyses": [{"op": "stats"}]})"),
                  "/d");
  REQUIRE(c.ok());
  CHECK_FALSE(c->dataset.name);
  CHECK(c->dataset.cf == "auto");
  // clang-format off
  for (const char* bad : {
      R"({"dataset": {"path": "a.h5", "name": ""}, "analyses": [{"op": "stats"}]})",
      R"({"dataset": {"path": "a.h5", "name": 3}, "analyses": [{"op": "stats"}]})",
      R"({"dataset": {"path": "a.h5", "cf": "yes"}, "analyses": [{"op": "stats"}]})",
      R"({"dataset": {"path": "a.h5", "cf": 1}, "analyses": [{"op": "stats"}]})"}) {
    // clang-format on
    Result<Config> r = ParseConfig(Json::parse(bad), "/d");
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kConfig);
    CHECK(r.status().message().find("dataset.") != std::string::npos);
  }
}

// A temporary file removed at the end of the test.
struct TempPath {
  std::string path;
  TempPath() {
    char name[] = "/tmp/mmrun-hdf5-test-XXXXXX";
    const int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
  }
  ~TempPath() { ::unlink(path.c_str()); }
};

// Writes dataset "/g/v" of `shape`, big-endian int16, chunked `chunks`,
// deflate, fill value -3, with only the elements of `written` (a box)
// written: value = 7 * C index - 1000. Returns the expected array (the fill
// value elsewhere).
std::vector<int16_t> WriteChunked(const std::string& path, const std::vector<hsize_t>& shape,
                                  const std::vector<hsize_t>& chunks, const Box& written) {
  const int rank = static_cast<int>(shape.size());
  uint64_t total = 1;
  for (hsize_t n : shape) total *= n;
  std::vector<int16_t> expect(total, -3);
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t group = H5Gcreate2(file, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t space = H5Screate_simple(rank, shape.data(), nullptr);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, rank, chunks.data());
  H5Pset_deflate(dcpl, 4);
  const int16_t fill = -3;
  H5Pset_fill_value(dcpl, H5T_NATIVE_INT16, &fill);
  const hid_t dset = H5Dcreate2(group, "v", H5T_STD_I16BE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  std::vector<int64_t> shape64(shape.begin(), shape.end());
  std::vector<int16_t> values;
  std::vector<uint64_t> idx = Indices(shape64, written);
  for (uint64_t i : idx) {
    const int16_t v = static_cast<int16_t>(7 * static_cast<int64_t>(i) - 1000);
    values.push_back(v);
    expect[i] = v;
  }
  std::vector<hsize_t> start(written.start.begin(), written.start.end());
  std::vector<hsize_t> count(written.count.begin(), written.count.end());
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  const hsize_t n = values.size();
  const hid_t mem = H5Screate_simple(1, &n, nullptr);
  REQUIRE(H5Dwrite(dset, H5T_NATIVE_INT16, mem, space, H5P_DEFAULT, values.data()) >= 0);
  H5Sclose(mem);
  H5Dclose(dset);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Gclose(group);
  H5Fclose(file);
  return expect;
}

int16_t BigEndian16(const char* p) {
  return static_cast<int16_t>((static_cast<unsigned char>(p[0]) << 8) |
                              static_cast<unsigned char>(p[1]));
}

// The chunks (4, 3, 2) hold fewer than kMinBlockRows rows: a block is a run
// of 4 chunks along axis 0 (16 rows, clipped to the 10 of the shape: the
// third chunk of a block holds 2 rows), each decoded into its place.
TEST_CASE("Hdf5: the byte ranges of a part of a chunk, joined where adjacent", "[hdf5]") {
  const std::vector<int64_t> chunks = {3, 4, 5}, origin = {3, 4, 0};
  using Runs = std::vector<std::pair<uint64_t, uint64_t>>;
  // Whole rows along the last axis: one range per index of axis 0.
  CHECK(ChunkPartRuns(chunks, origin, Box{{4, 5, 0}, {2, 2, 5}}, 2) ==
        Runs{{(20 + 5) * 2, 20}, {(40 + 5) * 2, 20}});
  // Whole slabs of axis 0: one range.
  CHECK(ChunkPartRuns(chunks, origin, Box{{4, 4, 0}, {2, 4, 5}}, 2) == Runs{{40, 80}});
  // A column: one range per element.
  CHECK(ChunkPartRuns(chunks, origin, Box{{3, 4, 2}, {1, 3, 1}}, 1) ==
        Runs{{2, 1}, {7, 1}, {12, 1}});
  // ClipChunk copies exactly those bytes, in order.
  std::vector<char> full(60), out(3);
  for (size_t i = 0; i < full.size(); ++i) full[i] = static_cast<char>(i);
  ClipChunk(full.data(), chunks, origin, Box{{3, 4, 2}, {1, 3, 1}}, 1, out.data());
  CHECK(out == std::vector<char>{2, 7, 12});
}

TEST_CASE("Hdf5: a chunked source decodes each chunk block in box C order", "[hdf5]") {
  TempPath tmp;
  const std::vector<hsize_t> shape = {10, 7, 5}, chunks = {4, 3, 2};
  const Box written{{1, 2, 0}, {6, 4, 5}};  // chunks outside it are never written
  const std::vector<int16_t> expect = WriteChunked(tmp.path, shape, chunks, written);
  DatasetSpec spec;
  spec.path = tmp.path;
  spec.name = "g/v";
  Result<Dataset> d = OpenDataset(spec);
  REQUIRE(d.ok());
  CHECK(d->format == "hdf5");
  CHECK(d->name == "/g/v");
  CHECK(d->storage == "chunked");
  CHECK(d->chunks == std::vector<int64_t>{4, 3, 2});
  CHECK(d->layout.dtype.descr() == ">i2");
  // describe closed every handle: the coordinator may fork now.
  CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
  Result<std::unique_ptr<Source>> s = OpenSource(*d);
  REQUIRE(s.ok());
  const Partition& part = (*s)->partition();
  // Deflated chunks are decoded: windows that stay in cache.
  CHECK((*s)->window_bytes(false) == kDecodedWindowBytes);
  REQUIRE(part.chunked());
  REQUIRE(part.chunks() == std::vector<int64_t>{16, 3, 2});
  REQUIRE(part.blocks() == 1 * 3 * 3);
  for (int64_t n : {1, 4, 9}) {
    for (int64_t first = 0; first + n <= part.blocks(); first += n) {
      Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(first, n, false);
      REQUIRE(w.ok());
      CHECK((*w)->Contiguous() == nullptr);
      for (int64_t k = first; k < first + n; ++k) {
        const std::vector<uint64_t> idx = Indices(d->layout.shape, *part.BlockBox(k));
        REQUIRE(idx.size() == part.block_elements(k));
        const char* data = (*w)->BlockData(k);
        for (size_t i = 0; i < idx.size(); ++i) {
          INFO("block " << k << " element " << i);
          REQUIRE(BigEndian16(data + 2 * i) == expect[idx[i]]);
        }
      }
      CHECK((*w)->Close().ok());
    }
  }
  // ReadParts: each block holds only its part, in C order of the part:
  // the block less its first index along each axis, its last element, a
  // middle slab along axis 1 (parts of deflated, edge and unwritten chunks).
  REQUIRE((*s)->ReadsParts());
  for (int variant = 0; variant < 3; ++variant) {
    std::vector<Box> parts;
    for (int64_t k = 0; k < part.blocks(); ++k) {
      Box p = *part.BlockBox(k);
      for (size_t a = 0; a < p.start.size(); ++a) {
        if (variant == 0 && p.count[a] > 1) ++p.start[a], --p.count[a];
        if (variant == 1) p.start[a] += p.count[a] - 1, p.count[a] = 1;
        if (variant == 2 && a == 1 && p.count[a] > 2) ++p.start[a], p.count[a] = 1;
      }
      parts.push_back(p);
    }
    Result<std::unique_ptr<Window>> w = (*s)->ReadParts(0, parts);
    REQUIRE(w.ok());
    for (int64_t k = 0; k < part.blocks(); ++k) {
      const std::vector<uint64_t> idx = Indices(d->layout.shape, parts[static_cast<size_t>(k)]);
      const char* data = (*w)->BlockData(k);
      for (size_t i = 0; i < idx.size(); ++i) {
        INFO("variant " << variant << " block " << k << " element " << i);
        REQUIRE(BigEndian16(data + 2 * i) == expect[idx[i]]);
      }
    }
    CHECK((*w)->Close().ok());
  }
  std::vector<char> buf(2 * 350);
  for (uint64_t b : {0, 3, 35, 36, 100})
    for (uint64_t e : {b, b + 1, b + 34, uint64_t{350}}) {
      if (e < b || e > 350) continue;
      REQUIRE((*s)->ReadElements(b, e, buf.data()).ok());
      for (uint64_t i = b; i < e; ++i) REQUIRE(BigEndian16(&buf[2 * (i - b)]) == expect[i]);
    }
  s->reset();
  CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
}

TEST_CASE("Hdf5: describe refuses what it cannot read, naming it", "[hdf5]") {
  TempPath tmp;
  WriteChunked(tmp.path, {6, 4}, {3, 3}, Box{{0, 0}, {6, 4}});
  DatasetSpec spec;
  spec.path = tmp.path;
  struct Case {
    std::optional<std::string> name;
    std::string mode, cf;
    Code code;
    const char* fragment;
  };
  // clang-format off
  const std::vector<Case> cases = {
    {std::string("g/w"), "r", "auto", Code::kConfig, "'/g/v'"},
    {std::string("g"), "r", "auto", Code::kConfig, "is a group"},
    {std::string("/g/v"), "r+", "auto", Code::kConfig, "chunked"},
    // cf true decodes (default-fill masking): never in place.
    {std::string("/g/v"), "r+", "true", Code::kConfig, "dataset.cf"},
  };
  // clang-format on
  for (const Case& c : cases) {
    spec.name = c.name;
    spec.mode = c.mode;
    spec.cf = c.cf;
    Result<Dataset> d = OpenDataset(spec);
    INFO(c.fragment);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == c.code);
    CHECK(d.status().message().find(c.fragment) != std::string::npos);
    CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0);
  }
}

TEST_CASE("Hdf5: n-bit and non-IEEE types are read as their full-size standard type", "[hdf5]") {
  struct Case {
    hid_t base;
    size_t precision, offset;
    bool float_fields;  // a 4-byte float with a 15-bit mantissa
    hid_t want;
  };
  // clang-format off
  const std::vector<Case> cases = {
    {H5T_STD_I32BE, 20, 0, false, H5T_STD_I32BE},
    {H5T_STD_U16LE, 12, 3, false, H5T_STD_U16LE},
    {H5T_STD_I8LE, 5, 0, false, H5T_STD_I8LE},
    {H5T_STD_U64BE, 40, 0, false, H5T_STD_U64BE},
    {H5T_IEEE_F32LE, 24, 0, true, H5T_IEEE_F32LE},
    {H5T_STD_I16BE, 16, 0, false, H5T_STD_I16BE},   // full precision: unchanged
    {H5T_IEEE_F64BE, 64, 0, false, H5T_IEEE_F64BE},
  };
  // clang-format on
  for (const Case& c : cases) {
    Hid file_type(H5Tcopy(c.base), H5Tclose);
    if (c.float_fields) REQUIRE(H5Tset_fields(file_type.get(), 23, 15, 8, 0, 15) >= 0);
    REQUIRE(H5Tset_precision(file_type.get(), c.precision) >= 0);
    REQUIRE(H5Tset_offset(file_type.get(), c.offset) >= 0);
    Hid mem = Hdf5MemoryType(file_type.get());
    INFO(c.precision << " bits at " << c.offset);
    REQUIRE(mem.valid());
    CHECK(H5Tequal(mem.get(), c.want) > 0);
  }
}

}  // namespace
}  // namespace mm
