// Tests of the HDF5 driver's pieces that need no HDF5 file: the boxes that
// tile a storage-index range (ReadElements' selection), the signature probe
// (at 0 and after a user block) and the dataset keys `name` and `cf`.
// Reading real files is tests/integration/test_hdf5.py (h5py as the oracle).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/config.h"
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

}  // namespace
}  // namespace mm
