// Tests of analysis/array_copy: for random layouts, selections, axis maps and
// output orders, Count and WriteRange over a random cut of the input into
// ranges (whole rows or not) must produce exactly the brute-force output.
#include "analysis/array_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace mm {
namespace {

struct TempFile {
  std::string path;
  TempFile() {
    char tmpl[] = "/tmp/mmrun-array-copy-test-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = tmpl;
  }
  ~TempFile() { ::unlink(path.c_str()); }
};

// Row-major strides of `dims`.
std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) s[i - 1] = s[i] * dims[i];
  return s;
}

TEST_CASE("ArrayCopy: random selections match a brute-force copy", "[array_copy]") {
  std::mt19937_64 rng(12345);
  auto uni = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  // The larger shapes give contiguous output runs long enough to be staged and pwritten.
  const std::vector<std::vector<int64_t>> shapes = {
      {7}, {4, 3}, {3, 4, 5}, {2, 3, 2, 3}, {1, 6, 1}, {40, 50, 30}, {3, 20000}};
  for (int round = 0; round < 700; ++round) {
    Layout in;
    in.shape = shapes[static_cast<size_t>(round) % shapes.size()];
    in.order = uni(0, 1) ? 'F' : 'C';
    in.dtype = ParseDType(uni(0, 1) ? ">f8" : "<f8").value();
    const int nd = in.ndim();
    // A random basic selection per axis.
    std::vector<AxisSelect> sel(static_cast<size_t>(nd));
    std::vector<int> kept;
    for (int a = 0; a < nd; ++a) {
      AxisSelect& s = sel[static_cast<size_t>(a)];
      const int64_t len = in.shape[static_cast<size_t>(a)];
      if (uni(0, 3) == 0) {
        s.dropped = true;
        s.start = uni(0, len - 1);
        s.count = 1;
        continue;
      }
      s.step = uni(1, 3) * (uni(0, 1) ? 1 : -1);
      s.count = uni(0, 1 + (len - 1) / std::abs(s.step));
      s.start = s.step > 0 ? uni(0, len - 1 - (s.count > 0 ? (s.count - 1) * s.step : 0))
                           : uni(s.count > 0 ? (s.count - 1) * -s.step : 0, len - 1);
      kept.push_back(a);
    }
    // Kept axes go to a random permutation of the output axes.
    std::vector<int> perm(kept.size());
    for (size_t j = 0; j < perm.size(); ++j) perm[j] = static_cast<int>(j);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<int> out_axis_of(static_cast<size_t>(nd), -1);
    for (size_t j = 0; j < kept.size(); ++j) out_axis_of[static_cast<size_t>(kept[j])] = perm[j];
    const char out_order = uni(0, 1) ? 'F' : 'C';
    const DType out_dtype = ParseDType(uni(0, 1) ? "<f4" : ">f8").value();
    const uint64_t header = static_cast<uint64_t>(uni(0, 100));
    ArrayCopy copy(in, sel, out_axis_of, out_order, out_dtype, header);

    // Input: element value = its storage index.
    const uint64_t n = in.elements();
    std::vector<char> data(n * 8);
    for (uint64_t i = 0; i < n; ++i) {
      double v = static_cast<double>(i);
      if (in.dtype.needs_swap()) v = ByteSwap(v);
      std::memcpy(&data[i * 8], &v, 8);
    }
    TempFile file;
    REQUIRE(::truncate(file.path.c_str(), static_cast<off_t>(copy.out_file_bytes())) == 0);
    OutputFile out;
    struct stat st;
    REQUIRE(::stat(file.path.c_str(), &st) == 0);
    const FileId id{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
    REQUIRE_FALSE(out.Open(file.path, "test output", FileId{id.dev, id.ino + 1}).ok());
    REQUIRE(out.Open(file.path, "test output", id).ok());
    std::vector<char> stage;
    // A random cut of [0, n) into ranges.
    uint64_t total = 0;
    for (uint64_t b = 0; b < n;) {
      const uint64_t e =
          std::min<uint64_t>(n, b + static_cast<uint64_t>(uni(1, static_cast<int64_t>(n))));
      total += copy.Count(b, e);
      REQUIRE(copy.WriteRange(data.data() + b * 8, b, e, &out, &stage).ok());
      b = e;
    }
    out.Release();
    INFO("round " << round << " order " << in.order << " out order " << out_order);
    REQUIRE(total == copy.out_elements());

    // Brute force: every output multi-index (C order) and its source.
    const std::vector<int64_t>& oshape = copy.out_shape();
    const size_t ond = oshape.size();
    std::vector<int64_t> ostride(ond, 1);  // in the output's storage order
    int64_t acc = 1;
    for (size_t k = 0; k < ond; ++k) {
      const size_t j = out_order == 'C' ? ond - 1 - k : k;
      ostride[j] = acc;
      acc *= oshape[j];
    }
    const std::vector<int64_t> in_dims = in.storage_dims();
    const std::vector<int64_t> in_strides = Strides(in_dims);
    std::vector<char> got(copy.out_file_bytes());
    {
      const int fd = ::open(file.path.c_str(), O_RDONLY);
      REQUIRE(::pread(fd, got.data(), got.size(), 0) == static_cast<ssize_t>(got.size()));
      ::close(fd);
    }
    std::vector<int64_t> t(ond, 0);
    for (uint64_t e = 0; e < copy.out_elements(); ++e) {
      int64_t src = 0, pos = 0;
      for (int s = 0; s < nd; ++s) {
        const int a = in.storage_axis(s);
        const AxisSelect& as = sel[static_cast<size_t>(a)];
        const int j = out_axis_of[static_cast<size_t>(a)];
        const int64_t coord =
            as.dropped ? as.start : as.start + as.step * t[static_cast<size_t>(j)];
        src += coord * in_strides[static_cast<size_t>(s)];
      }
      for (size_t j = 0; j < ond; ++j) pos += t[j] * ostride[j];
      const char* p = got.data() + header +
                      static_cast<uint64_t>(pos) * static_cast<uint64_t>(out_dtype.itemsize());
      double v;
      if (out_dtype.itemsize() == 4) {
        float f;
        std::memcpy(&f, p, 4);
        v = f;
      } else {
        std::memcpy(&v, p, 8);
        if (out_dtype.needs_swap()) v = ByteSwap(v);
      }
      REQUIRE(v == static_cast<double>(src));
      for (size_t j = ond; j-- > 0;) {
        if (++t[j] < oshape[j]) break;
        t[j] = 0;
      }
    }
  }
}

TEST_CASE("OutputFile: writes around the page cache land where buffered ones would",
          "[array_copy]") {
  // In the current folder (the build tree), not /tmp, which may be a
  // tmpfs.
  char tmpl[] = "mmrun-direct-test-XXXXXX";
  const int made = ::mkstemp(tmpl);
  REQUIRE(made >= 0);
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_it{tmpl};
  const uint64_t block = OutputFile::kDirectBytes;  // the shortest write that goes direct
  const uint64_t size = 60 * block + 12345;
  // Space reserved as the coordinator reserves it (unwritten extents).
  REQUIRE(::posix_fallocate(made, 0, static_cast<off_t>(size)) == 0);
  ::close(made);
  struct stat st;
  REQUIRE(::stat(tmpl, &st) == 0);
  OutputFile out;
  REQUIRE(out.Open(tmpl, "test output",
                   FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)})
              .ok());
  const bool direct = out.direct();
  if (!direct) WARN("O_DIRECT refused here: only the buffered path is tested");
  std::mt19937_64 rng(35);
  std::vector<char> expect(size, 0);
  // An aligned source buffer with room to start it at any offset.
  std::vector<char> src(size + 2 * kDirectAlign);
  char* base = src.data() + (kDirectAlign - reinterpret_cast<uintptr_t>(src.data()) % kDirectAlign);
  // Disjoint pieces in a random order: at and off block edges, sources
  // congruent to the offset (no copy) and not (the bounce buffer, several
  // rounds of it), shorter and longer than kDirectBytes, Span writes
  // between.
  std::vector<std::pair<uint64_t, uint64_t>> pieces;
  for (uint64_t at = 0; at < size;) {
    uint64_t len = 1 + rng() % (12 * block);
    if (rng() % 3 == 0) len = kDirectAlign - at % kDirectAlign + (rng() % 8) * block;  // to an edge
    len = std::min(size - at, len);
    pieces.emplace_back(at, len);
    at += len;
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  for (size_t k = 0; k < pieces.size(); ++k) {
    const auto [at, len] = pieces[k];
    const bool congruent = rng() % 2 == 0;
    char* p = base + (congruent ? at % kDirectAlign : (at + 1 + rng() % 4000) % kDirectAlign);
    for (uint64_t i = 0; i < len; ++i) p[i] = expect[at + i] = static_cast<char>(rng());
    if (k % 5 == 4 && len <= OutputFile::kSpanBytes) {
      auto span = out.Span(at, at + len);
      REQUIRE(span.ok());
      std::memcpy(*span, p, len);
    } else {
      REQUIRE(out.WriteAt(at, p, len).ok());
    }
  }
  out.Release();
  // Still direct: no direct write failed and fell back to the page cache.
  CHECK(out.direct() == direct);
  const int fd = ::open(tmpl, O_RDONLY);
  REQUIRE(fd >= 0);
  REQUIRE(::fsync(fd) == 0);
  std::vector<char> got(size);
  REQUIRE(::pread(fd, got.data(), size, 0) == static_cast<ssize_t>(size));
  ::close(fd);
  REQUIRE(std::memcmp(got.data(), expect.data(), size) == 0);
  // What the disk holds (around the cache, after the fsync), where it can
  // be read so.
  const int dfd = ::open(tmpl, O_RDONLY | O_DIRECT);
  if (dfd >= 0) {
    const uint64_t whole = size / kDirectAlign * kDirectAlign;
    std::memset(base, 0, whole);
    const ssize_t r = ::pread(dfd, base, whole, 0);
    ::close(dfd);
    REQUIRE(r == static_cast<ssize_t>(whole));
    REQUIRE(std::memcmp(base, expect.data(), whole) == 0);
  }
}

}  // namespace
}  // namespace mm
