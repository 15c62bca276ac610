// Tests of the partition-dependent half of --state (runner/state.h) over
// row blocks and over chunk blocks of a dataset growing along axis 0: which
// blocks are complete, where the tail starts, that complete blocks keep
// their numbers, extents and checksums when rows are appended, that a
// chunk block's checksum is of its box's elements (and changes with any of
// them, and only its own), and that the state's dataset identity of row
// blocks is the one states were written with before chunk blocks existed.
#include "runner/state.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/checksum.h"

namespace mm {
namespace {

// A chunked format as the scan sees it: block k's window holds its box's
// elements in C order of the box, copied out of the whole array.
class BoxSource : public Source {
 public:
  BoxSource(const Layout& layout, const Partition& partition, const std::vector<char>& bytes)
      : Source(layout, partition), bytes_(bytes) {}

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool) override {
    auto w = std::unique_ptr<BoxWindow>(new BoxWindow(first));
    for (int64_t k = first; k < first + n; ++k) {
      const Box box = *partition().BlockBox(k);
      auto buf = std::make_unique<std::vector<char>>(box.elements() * Item());
      ForEachBoxRun(layout(), box, [&](uint64_t off, uint64_t begin, uint64_t len) {
        std::memcpy(buf->data() + off * Item(), bytes_.data() + begin * Item(), len * Item());
      });
      w->Add(std::move(buf));
    }
    return std::unique_ptr<Window>(std::move(w));
  }
  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    ++element_reads_;
    std::memcpy(out, bytes_.data() + begin * Item(), (end - begin) * Item());
    return Status::OK();
  }
  int element_reads() const { return element_reads_; }

 private:
  class BoxWindow : public Window {
   public:
    explicit BoxWindow(int64_t first) : Window(first, false) {}
    void Add(std::unique_ptr<std::vector<char>> buf) {
      blocks_.push_back(buf->data());
      buffers_.push_back(std::move(buf));
    }
    Status Close() override { return Status::OK(); }

   private:
    std::vector<std::unique_ptr<std::vector<char>>> buffers_;
  };
  uint64_t Item() const { return static_cast<uint64_t>(layout().dtype.itemsize()); }

  std::vector<char> bytes_;
  int element_reads_ = 0;
};

Layout Cube(int64_t rows, const char* dtype = "<f4") {
  Layout l;
  l.dtype = *ParseDType(dtype);
  l.shape = {rows, 7, 5};
  return l;
}

std::vector<char> RandomBytes(uint64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<char> v(n);
  for (char& c : v) c = static_cast<char>(rng());
  return v;
}

TEST_CASE("State: complete blocks of a chunk grid growing along axis 0", "[state]") {
  const std::vector<int64_t> chunks = {3, 4, 2};
  for (int64_t seen = 0; seen <= 13; ++seen) {
    for (int64_t now : {seen, seen + 1, seen + 5, int64_t{40}}) {
      const Partition old_p(Cube(seen), chunks), p(Cube(now), chunks);
      INFO("rows seen " << seen << ", now " << now);
      // Oracle: a block is complete when its box holds a whole layer of
      // chunks[0] rows, all seen.
      int64_t complete = 0;
      while (complete < p.blocks()) {
        const Box box = *p.BlockBox(complete);
        if (box.start[0] + chunks[0] > seen) break;
        ++complete;
      }
      for (int64_t b = complete; b < p.blocks(); ++b)
        CHECK(p.BlockBox(b)->start[0] + chunks[0] > seen);  // a prefix
      CHECK(CompleteBlocks(p, seen) == complete);
      CHECK(CompleteBlocks(old_p, seen) == complete);
      // The tail starts at the first row after the complete layers.
      const int64_t tail = seen / chunks[0] * chunks[0];
      CHECK(RowOfBlock(p, complete) == tail);
      CHECK(RowOfBlock(old_p, complete) == tail);
      // Complete blocks keep their extent when rows are appended.
      for (int64_t b = 0; b < complete; ++b) CHECK(*old_p.BlockBox(b) == *p.BlockBox(b));
    }
  }
}

TEST_CASE("State: row blocks keep the formulas states were written with", "[state]") {
  // Whole-row blocks: rows / rows_per_block; pieces of rows: rows * pieces.
  Layout small = Cube(100);
  const Partition rows_p(small, 35 * 4 * 3);  // 3 rows per block
  REQUIRE(rows_p.rows_per_block() == 3);
  Layout wide = Cube(100);
  const Partition pieces_p(wide, 12 * 4);  // 35 elements a row: 3 pieces
  REQUIRE(pieces_p.pieces_per_row() == 3);
  for (int64_t rows = 0; rows <= 100; ++rows) {
    CHECK(CompleteBlocks(rows_p, rows) == rows / 3);
    CHECK(RowOfBlock(rows_p, rows / 3) == rows / 3 * 3);
    CHECK(CompleteBlocks(pieces_p, rows) == rows * 3);
    CHECK(RowOfBlock(pieces_p, rows * 3) == rows);
  }
}

TEST_CASE("State: a chunk block's checksum is of its box and survives appends", "[state]") {
  const std::vector<int64_t> chunks = {3, 4, 2};
  const Layout before = Cube(10, ">f8"), after = Cube(17, ">f8");
  const uint64_t item = 8, row = 35;
  // Appending rows along axis 0 (C order) appends bytes.
  const std::vector<char> grown = RandomBytes(17 * row * item, 5);
  const std::vector<char> old_bytes(grown.begin(), grown.begin() + 10 * row * item);
  BoxSource old_src(before, Partition(before, chunks), old_bytes);
  BoxSource new_src(after, Partition(after, chunks), grown);
  const int64_t complete = CompleteBlocks(new_src.partition(), 10);
  REQUIRE(complete == 3 * 2 * 3);  // three layers of 2 x 3 chunks
  for (int64_t b = 0; b < old_src.partition().blocks(); ++b) {
    Result<uint64_t> h_old = BlockChecksum(&old_src, b), h_new = BlockChecksum(&new_src, b);
    REQUIRE(h_old.ok());
    REQUIRE(h_new.ok());
    // Oracle: Checksum64 of the box's elements in C order of the box.
    const Box box = *old_src.partition().BlockBox(b);
    std::vector<char> expect;
    for (int64_t i = box.start[0]; i < box.start[0] + box.count[0]; ++i)
      for (int64_t j = box.start[1]; j < box.start[1] + box.count[1]; ++j)
        for (int64_t k = box.start[2]; k < box.start[2] + box.count[2]; ++k) {
          const uint64_t at = (static_cast<uint64_t>(i) * row + static_cast<uint64_t>(j) * 5 +
                               static_cast<uint64_t>(k)) *
                              item;
          expect.insert(expect.end(), old_bytes.begin() + at, old_bytes.begin() + at + item);
        }
    CHECK(*h_old == Checksum64(expect.data(), expect.size()));
    // Complete blocks are the same after the append; the last layer grew.
    if (b < complete)
      CHECK(*h_new == *h_old);
    else
      CHECK(*h_new != *h_old);
  }
  // No element read: chunk blocks are read as the scan reads them.
  CHECK(old_src.element_reads() == 0);

  // One changed byte changes its block's checksum and no other.
  std::vector<char> changed = grown;
  const uint64_t at = (4 * row + 6 * 5 + 3) * item + 2;  // element (4, 6, 3)
  changed[at] = static_cast<char>(changed[at] ^ 1);
  BoxSource changed_src(after, Partition(after, chunks), changed);
  int differ = 0;
  for (int64_t b = 0; b < new_src.partition().blocks(); ++b) {
    const Box box = *new_src.partition().BlockBox(b);
    const bool holds = box.start[0] <= 4 && 4 < box.start[0] + box.count[0] && box.start[1] <= 6 &&
                       6 < box.start[1] + box.count[1] && box.start[2] <= 3 &&
                       3 < box.start[2] + box.count[2];
    const bool same = *BlockChecksum(&changed_src, b) == *BlockChecksum(&new_src, b);
    CHECK(same == !holds);
    differ += !same;
  }
  CHECK(differ == 1);
}

TEST_CASE("State: checksums of more than 1 MiB fold the pieces' checksums", "[state]") {
  // A chunk of 1.5 MiB and a row range of the same bytes: Checksum64 of
  // the two pieces' Checksum64s, whichever way the bytes are read.
  Layout l;
  l.dtype = *ParseDType("<f8");
  l.shape = {4, 3 << 16};  // rows of 1.5 MiB
  const std::vector<char> bytes = RandomBytes(l.data_bytes(), 9);
  BoxSource src(l, Partition(l, std::vector<int64_t>{1, 3 << 16}), bytes);
  const uint64_t mib = 1 << 20, row_bytes = 3 * (mib / 2);
  const uint64_t pieces[2] = {Checksum64(bytes.data() + row_bytes, mib),
                              Checksum64(bytes.data() + row_bytes + mib, row_bytes - mib)};
  const uint64_t expect = Checksum64(pieces, sizeof pieces);
  CHECK(*BlockChecksum(&src, 1) == expect);
  CHECK(*RangeChecksum(&src, l.row_elements(), 2 * l.row_elements()) == expect);
}

TEST_CASE("State: the dataset identity names the chunk grid only for chunk blocks", "[state]") {
  Dataset d;
  d.path = "/data/cube.h5";
  d.format = "hdf5";
  d.layout = Cube(10);
  // Row blocks: exactly the keys of the states written before chunk blocks
  // existed, so those states are still reused.
  const Json rows = StateDatasetIdentity(d, Partition(d.layout));
  CHECK(rows.dump() ==
        R"({"path":"/data/cube.h5","format":"hdf5","dtype":"<f4","order":"C","offset":0,)"
        R"("row_shape":[7,5],"rows_per_block":7489,"pieces_per_row":0})");
  const std::vector<int64_t> chunks = {3, 4, 2};
  const Json chunked = StateDatasetIdentity(d, Partition(d.layout, chunks));
  CHECK(chunked["chunks"] == Json(chunks));
  CHECK(chunked["rows_per_block"] == 0);
  CHECK(chunked["pieces_per_row"] == 0);
  // The same for any row count (appends), different for another chunk grid.
  Dataset grown = d;
  grown.layout = Cube(1000);
  CHECK(StateDatasetIdentity(grown, Partition(grown.layout, chunks)) == chunked);
  CHECK(StateDatasetIdentity(d, Partition(d.layout, std::vector<int64_t>{3, 4, 1})) != chunked);
  CHECK(StateDatasetIdentity(d, Partition(d.layout, chunks)) != rows);
}

}  // namespace
}  // namespace mm
