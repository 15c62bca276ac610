// Tests of source/: block boxes, the format registry, and the raw/.npy
// driver's windows (right bytes, write-through, shrink detection, lifetime).
#include "source/source.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/npy.h"
#include "fake_sources.h"
#include "source/dataset.h"
#include "source/raw/raw_source.h"
#include "source/registry.h"

namespace mm {
namespace {

Layout MakeLayout(const char* dtype, std::vector<int64_t> shape, char order = 'C') {
  Layout l;
  l.dtype = ParseDType(dtype).value();
  l.shape = std::move(shape);
  l.order = order;
  return l;
}

// The storage index of array coordinates x.
uint64_t StorageIndex(const Layout& l, const std::vector<int64_t>& x) {
  uint64_t index = 0;
  for (int s = 0; s < l.ndim(); ++s) {
    const size_t a = static_cast<size_t>(l.storage_axis(s));
    index = index * static_cast<uint64_t>(l.shape[a]) + static_cast<uint64_t>(x[a]);
  }
  return index;
}

// Every element of the box, as storage indices in storage order.
std::vector<uint64_t> BoxIndices(const Layout& l, const Box& box) {
  std::vector<uint64_t> out;
  std::vector<int64_t> x = box.start;
  const int n = l.ndim();
  for (;;) {
    out.push_back(StorageIndex(l, x));
    int s = n - 1;
    for (; s >= 0; --s) {
      const size_t a = static_cast<size_t>(l.storage_axis(s));
      if (++x[a] < box.start[a] + box.count[a]) break;
      x[a] = box.start[a];
    }
    if (s < 0) return out;
  }
}

// A block's box, when it has one, holds exactly the block's storage indices.
void CheckBoxes(const Layout& l, uint64_t block_bytes, bool all_boxes) {
  const Partition p(l, block_bytes);
  INFO("shape " << ShapeString(l.shape) << " order " << l.order << " block_bytes " << block_bytes);
  for (int64_t b = 0; b < p.blocks(); ++b) {
    const std::optional<Box> box = p.BlockBox(b);
    if (!box) {
      CHECK_FALSE(all_boxes);
      continue;
    }
    std::vector<uint64_t> want;
    for (uint64_t i = p.block_begin(b); i < p.block_end(b); ++i) want.push_back(i);
    CHECK(BoxIndices(l, *box) == want);
  }
}

TEST_CASE("Source: blocks of whole rows are boxes spanning the other axes") {
  CheckBoxes(MakeLayout("<f4", {100, 7}), 7 * 4 * 3, true);
  CheckBoxes(MakeLayout("<f4", {100, 7}, 'F'), 100 * 4 * 2, true);
  CheckBoxes(MakeLayout("<i2", {9, 4, 5}), 4 * 5 * 2 * 2, true);
  CheckBoxes(MakeLayout("<i2", {9, 4, 5}, 'F'), 9 * 4 * 2 * 3, true);
  const Layout l = MakeLayout("<f8", {10, 3});
  const Partition p(l, 3 * 8 * 4);  // 4 rows a block
  const std::optional<Box> box = p.BlockBox(2);
  REQUIRE(box);
  CHECK(box->start == std::vector<int64_t>{8, 0});
  CHECK(box->count == std::vector<int64_t>{2, 3});  // the last block is short
}

TEST_CASE("Source: a piece of a row is a box when it is aligned to the row's axes") {
  // 2-D: every piece of a row is a box.
  CheckBoxes(MakeLayout("<f4", {3, 1000}), 4 * 300, true);
  CheckBoxes(MakeLayout("<f4", {1000, 3}, 'F'), 4 * 300, true);
  // 3-D rows of 4 x 6: pieces of 6 elements are one index of axis 1 each.
  CheckBoxes(MakeLayout("<u1", {2, 4, 6}), 6, true);
  // Pieces of 5 elements straddle axis 1: not boxes.
  const Layout l = MakeLayout("<u1", {2, 4, 6});
  const Partition p(l, 5);
  REQUIRE(p.pieces_per_row() > 0);
  CHECK_FALSE(p.BlockBox(1));
  CheckBoxes(l, 5, false);
}

TEST_CASE("Registry: formats, auto probing and the config's choices") {
  CHECK(FormatChoices() == "auto, raw, npy or hdf5");
  REQUIRE(FindFormat("raw") != nullptr);
  REQUIRE(FindFormat("npy") != nullptr);
  REQUIRE(FindFormat("hdf5") != nullptr);
  CHECK(FindFormat("zarr") == nullptr);
  CHECK(std::string(ProbeFormat("\x93NUMPY\x01\x00").name) == "npy");
  CHECK(std::string(ProbeFormat("\x93NUMP").name) == "raw");
  CHECK(std::string(ProbeFormat("").name) == "raw");
  CHECK(std::string(ProbeFormat("PK\x03\x04").name) == "raw");
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& bytes) {
    const char* base = ::getenv("TMPDIR");
    path = std::string(base ? base : "/tmp") + "/mmrun-source-test-XXXXXX";
    const int fd = ::mkstemp(path.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(path, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  ~TempFile() { std::remove(path.c_str()); }
};

// n int32 values 0, 1, ..., n-1, as bytes.
std::string Counting(int n) {
  std::string s(static_cast<size_t>(n) * 4, '\0');
  for (int i = 0; i < n; ++i) std::memcpy(&s[static_cast<size_t>(i) * 4], &i, 4);
  return s;
}

int32_t Int(const char* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

TEST_CASE("Raw source: a .npy's windows hold the blocks' elements, past the header") {
  const int64_t rows = 600000, cols = 1;  // 2.4 MB of int32: 3 blocks
  const DType i4 = ParseDType("<i4").value();
  const std::string header = BuildNpyHeader(i4, {rows, cols}, false);
  TempFile f(header + Counting(static_cast<int>(rows * cols)));
  DatasetSpec spec;
  spec.path = f.path;
  Result<Dataset> d = OpenDataset(spec);
  REQUIRE(d.ok());
  CHECK(d->format == "npy");
  Result<std::unique_ptr<Source>> s = OpenSource(*d);
  REQUIRE(s.ok());
  const Partition& p = (*s)->partition();
  REQUIRE(p.blocks() == 3);
  Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(1, 2, false);
  REQUIRE(w.ok());
  CHECK((*w)->first_block() == 1);
  CHECK((*w)->end_block() == 3);
  for (int64_t k = 1; k < 3; ++k) {
    const char* data = (*w)->BlockData(k);
    CHECK(Int(data) == static_cast<int32_t>(p.block_begin(k)));
    CHECK(Int(data + (p.block_end(k) - p.block_begin(k) - 1) * 4) ==
          static_cast<int32_t>(p.block_end(k) - 1));
  }
  CHECK((*w)->Contiguous() == (*w)->BlockData(1));
  CHECK((*w)->Close().ok());
  std::vector<char> buf(10 * 4);
  REQUIRE((*s)->ReadElements(12345, 12355, buf.data()).ok());
  for (int i = 0; i < 10; ++i) CHECK(Int(buf.data() + i * 4) == 12345 + i);
}

// rows x 10 int32 after a 16-byte header, opened for writing.
DatasetSpec WritableInt32(const std::string& path, int64_t rows) {
  DatasetSpec spec;
  spec.path = path;
  spec.dtype = "int32";
  spec.shape = std::vector<int64_t>{rows, 10};
  spec.offset = 16;
  spec.mode = "r+";
  return spec;
}

TEST_CASE("Raw source: a writable window writes through to the file at the offset") {
  TempFile f(std::string(16, 'h') + Counting(1000));
  Result<Dataset> d = OpenDataset(WritableInt32(f.path, 100));
  REQUIRE(d.ok());
  Result<std::unique_ptr<Source>> s = OpenSource(*d);
  REQUIRE(s.ok());
  {
    Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(0, 1, true);
    REQUIRE(w.ok());
    const int32_t v = -7;
    std::memcpy((*w)->BlockData(0) + 5 * 4, &v, 4);
    CHECK((*w)->Close().ok());
  }
  std::ifstream in(f.path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(all.substr(0, 16) == std::string(16, 'h'));
  CHECK(Int(&all[16 + 5 * 4]) == -7);
  CHECK(Int(&all[16 + 6 * 4]) == 6);
  CHECK(RawByteOffset(*d, 5) == 16 + 5 * 4);
}

// Writable windows are copies written back page by page (WriteBackWindow):
// a window nothing changed in writes nothing (the file's mtime stays), and a
// changed one writes only the pages whose bytes changed, so a byte another
// process wrote meanwhile into a page the window left alone survives.
TEST_CASE("Raw source: a writable window writes back only the pages that changed") {
  const std::string header(16, 'h');
  std::string want = header + Counting(30000);
  TempFile f(want);
  Result<Dataset> d = OpenDataset(WritableInt32(f.path, 3000));
  REQUIRE(d.ok());
  Result<std::unique_ptr<Source>> s = OpenSource(*d);
  REQUIRE(s.ok());
  const int64_t blocks = (*s)->partition().blocks();
  const auto read_all = [&] {
    std::ifstream in(f.path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
  REQUIRE(::utimensat(AT_FDCWD, f.path.c_str(), old, 0) == 0);
  const auto mtime = [&] {
    struct stat st;
    REQUIRE(::stat(f.path.c_str(), &st) == 0);
    return st.st_mtim.tv_sec;
  };
  {  // nothing changed: nothing written
    Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(0, blocks, true);
    REQUIRE(w.ok());
    REQUIRE((*w)->Close().ok());
  }
  CHECK(mtime() == 1000000000);
  CHECK(read_all() == want);
  {
    Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(0, blocks, true);
    REQUIRE(w.ok());
    char* data = (*w)->Contiguous();
    REQUIRE(data != nullptr);
    // Another writer changes a byte in the file's third page meanwhile.
    {
      const int fd = ::open(f.path.c_str(), O_WRONLY);
      REQUIRE(fd >= 0);
      REQUIRE(::pwrite(fd, "Z", 1, 2 * 4096 + 100) == 1);
      ::close(fd);
      want[2 * 4096 + 100] = 'Z';
    }
    // The window changes its first element, one in the sixth page and its last.
    const int32_t v = -7;
    for (uint64_t i : {uint64_t{0}, uint64_t{(5 * 4096 + 40 - 16) / 4}, uint64_t{29999}}) {
      std::memcpy(data + i * 4, &v, 4);
      std::memcpy(&want[16 + i * 4], &v, 4);
    }
    REQUIRE((*w)->Close().ok());
  }
  CHECK(mtime() != 1000000000);
  CHECK(read_all() == want);
}

TEST_CASE("Raw source: windows and ReadElements report a file that shrank") {
  TempFile f(Counting(1000));
  DatasetSpec spec;
  spec.path = f.path;
  spec.dtype = "int32";
  spec.shape = std::vector<int64_t>{100, 10};
  spec.mode = "r+";
  Result<Dataset> d = OpenDataset(spec);
  REQUIRE(d.ok());
  Result<std::unique_ptr<Source>> s = OpenSource(*d);
  REQUIRE(s.ok());
  // A writable window: Close compares the size before writing back.
  Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(0, 1, true);
  REQUIRE(w.ok());
  REQUIRE(::truncate(f.path.c_str(), 3999) == 0);  // inside the last page: no SIGBUS
  const Status closed = (*w)->Close();
  CHECK(closed.code() == Code::kIoErr);
  CHECK(closed.message().find("shrank") != std::string::npos);
  // A copied (read-only) window: the read comes up short.
  Result<std::unique_ptr<Window>> r = (*s)->ReadWindow(0, 1, false);
  CHECK(r.status().code() == Code::kIoErr);
  CHECK(r.status().message().find("shrank") != std::string::npos);
  CHECK(r.status().message().find(f.path) != std::string::npos);
  std::vector<char> buf(8);
  const Status read = (*s)->ReadElements(998, 1000, buf.data());
  CHECK(read.code() == Code::kIoErr);
  CHECK(read.message().find(f.path) != std::string::npos);
}

TEST_CASE("Raw source: opens from the run's descriptor, not the path") {
  TempFile f(Counting(100));
  DatasetSpec spec;
  spec.path = f.path;
  spec.dtype = "int32";
  spec.shape = std::vector<int64_t>{-1};
  Result<Dataset> d = OpenDataset(spec);
  REQUIRE(d.ok());
  // Another file renamed over the path after planning is not what is read.
  TempFile other(std::string(400, '\xff'));
  REQUIRE(std::rename(other.path.c_str(), f.path.c_str()) == 0);
  Result<std::unique_ptr<Source>> s = OpenSource(*d);
  REQUIRE(s.ok());
  Result<std::unique_ptr<Window>> w = (*s)->ReadWindow(0, 1, false);
  REQUIRE(w.ok());
  CHECK(Int((*w)->BlockData(0) + 42 * 4) == 42);
}

TEST_CASE("Chunked memory source: a destroyed window's blocks read as poison") {
  const Layout l = MakeLayout("<i4", {64, 4});
  const Partition p(l, 4 * 4 * 2);  // chunks of 2 rows
  std::string bytes = Counting(256);
  testing::ChunkedMemorySource s(l, p, std::vector<char>(bytes.begin(), bytes.end()));
  const char* stale = nullptr;
  {
    Result<std::unique_ptr<Window>> w = s.ReadWindow(3, 2, false);
    REQUIRE(w.ok());
    CHECK((*w)->Contiguous() == nullptr);  // decoded buffers, one per block
    CHECK(Int((*w)->BlockData(4)) == 32);
    CHECK(s.live_windows() == 1);
    stale = (*w)->BlockData(4);
  }
  CHECK(s.live_windows() == 0);
  CHECK(Int(stale) != 32);  // poisoned (kept alive by the fake to be checkable)
  CHECK_FALSE(s.ReadWindow(0, 1, true).ok());
}

// The dataset of the file `path` as a config's dataset block describes it.
Dataset Described(const std::string& path, const std::string& format,
                  std::optional<std::vector<int64_t>> shape = std::nullopt) {
  DatasetSpec spec;
  spec.path = path;
  spec.format = format;
  if (format == "raw") spec.dtype = "int32";
  spec.shape = std::move(shape);
  Result<Dataset> d = OpenDataset(spec);
  REQUIRE(d.ok());
  return *d;
}

TEST_CASE("Registry: a format's row check, warnings and version come from its entry") {
  const Format& raw = *FindFormat("raw");
  const Format& npy = *FindFormat("npy");
  CHECK(raw.check_rows != nullptr);
  CHECK(raw.warnings != nullptr);
  CHECK(raw.version == nullptr);
  CHECK(npy.check_rows == nullptr);
  CHECK(npy.warnings != nullptr);
  CHECK(npy.version != nullptr);
  CHECK(DescribesItself("npy"));
  CHECK_FALSE(DescribesItself("raw"));
  CHECK_FALSE(DescribesItself("auto"));
  CHECK_FALSE(DescribesItself("no-such-format"));

  // raw: 3 bytes hold no row of 4 int32; a 4-row shape over 17 rows' bytes
  // plus 2 leaves bytes unread.
  const TempFile short_file(std::string(3, 'x'));
  const Dataset none = Described(short_file.path, "raw", std::vector<int64_t>{-1, 4});
  const Status st = CheckRows(none, false);
  CHECK(st.code() == Code::kDataErr);
  CHECK(st.message() == short_file.path +
                            ": file holds 3 bytes of data, less than one row of shape [-1, 4] "
                            "int32 (an append-only file not written yet is a run of 0 rows with "
                            "--state)");
  CHECK(CheckRows(none, true).ok());  // a growing file not written yet
  CHECK(LayoutWarnings(none, false).empty());
  const TempFile ragged(Counting(17 * 4) + "ab");
  const Dataset r = Described(ragged.path, "raw", std::vector<int64_t>{-1, 4});
  CHECK(CheckRows(r, false).ok());
  const std::vector<std::string> w = LayoutWarnings(r, false);
  REQUIRE(w.size() == 1);
  CHECK(w[0].find(ragged.path + ": shape [-1, 4] int32 leaves 2 of the 274 data bytes unread") ==
        0);
  CHECK(LayoutWarnings(r, true).empty());  // a partial last row of a growing file

  // .npy: bytes after the data, and the header's version.
  const std::string header = BuildNpyHeader(ParseDType("<i4").value(), {4, 2}, false);
  const TempFile npy_file(header + Counting(8) + "tail");
  const Dataset n = Described(npy_file.path, "auto");
  CHECK(n.format == "npy");
  CHECK(CheckRows(n, false).ok());
  CHECK(LayoutWarnings(n, false) ==
        std::vector<std::string>{npy_file.path +
                                 ": 4 bytes after the .npy array's data (shape [4, 2]) are "
                                 "ignored"});
  CHECK(npy.version(n) == std::to_string(n.npy_major) + "." + std::to_string(n.npy_minor));

  // A format without the optional parts, and mode w+, add nothing.
  Dataset other = r;
  other.format = "no-such-format";
  CHECK(CheckRows(other, false).ok());
  CHECK(LayoutWarnings(other, false).empty());
  Dataset created = none;
  created.mode = "w+";
  CHECK(CheckRows(created, false).ok());
  CHECK(LayoutWarnings(created, false).empty());

  // RecognizeFile: the format a file's bytes name, else none.
  REQUIRE(RecognizeFile(npy_file.path) != nullptr);
  CHECK(std::string(RecognizeFile(npy_file.path)->name) == "npy");
  CHECK(RecognizeFile(ragged.path) == nullptr);
  CHECK(RecognizeFile(ragged.path + ".missing") == nullptr);
}

}  // namespace
}  // namespace mm
