// Tests of slice and convert over chunk blocks (analysis/array_copy.h): the
// real analyses (MakeAnalysis) run once over row blocks, as over a raw
// file, and once over the chunk blocks of a chunk grid, each block handed
// to the scanner as a chunked format's worker loop does (BlockView::box set,
// data = the box's elements in C order of the box, windows of one to five
// chunks with the window hooks called per block, so that both the
// per-chunk writes and the gathered writes of several chunks run; blocks
// no analysis needs consumed with data == nullptr). Over
// random shapes (1-D to 4-D), chunk grids (edge chunks included), dtypes,
// selections (start, stop, negative steps, dropped axes along every axis)
// and conversions (axes, order, dtype; .npy and raw outputs), the output
// files must be the same bytes. NeedsBox must be exact for chunks and
// agree with NeedsBlock on the hull (conservative).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "analysis/array_copy.h"
#include "source/partition.h"

namespace mm {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mmrun-copy-chunks-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    const std::string cmd = "rm -rf '" + path + "'";
    (void)std::system(cmd.c_str());
  }
};

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The elements of `box` of the C-order array `all`, in C order of the box.
std::vector<char> BoxBytes(const std::vector<char>& all, const Layout& l, const Box& box) {
  const uint64_t item = static_cast<uint64_t>(l.dtype.itemsize());
  std::vector<char> out(box.elements() * item);
  ForEachBoxRun(l, box, [&](uint64_t off, uint64_t begin, uint64_t n) {
    std::copy_n(all.begin() + static_cast<ptrdiff_t>(begin * item), n * item,
                out.begin() + static_cast<ptrdiff_t>(off * item));
  });
  return out;
}

// Runs the analysis of `params` over `partition`'s blocks of `data` in one
// worker and returns the output file's bytes. Blocks come in windows of up
// to `window_blocks` needed blocks, as the worker loop reads them: a window
// of row blocks as one run, a window of chunk blocks as one run per block
// (window hooks for each run around the window's Consume calls).
std::string RunCopy(const Dataset& d, const Partition& partition, const std::string& op,
                    const Json& params, const std::vector<char>& data, int64_t window_blocks) {
  AnalysisSpec spec;
  spec.name = op;
  spec.op = op;
  spec.params = params;
  Result<std::unique_ptr<Analysis>> made = MakeAnalysis(spec, d, partition);
  REQUIRE(made.ok());
  Analysis& a = **made;
  REQUIRE(a.Prepare().ok());
  REQUIRE(a.SetPassInput(0, a.PassInput(0)).ok());
  std::unique_ptr<Scanner> scanner = a.NewScanner(0);
  std::unique_ptr<Partial> merged = a.NewPartial(0);
  const uint64_t item = static_cast<uint64_t>(d.layout.dtype.itemsize());
  auto consume = [&](const BlockView& view) {
    std::unique_ptr<Partial> p = a.NewPartial(0);
    REQUIRE(scanner->Consume(view, p.get()).ok());
    merged->Merge(*p);
  };
  for (int64_t b = 0; b < partition.blocks();) {
    BlockView view;
    view.block = b;
    view.begin = partition.block_begin(b);
    view.end = partition.block_end(b);
    if (partition.chunked()) {
      // Whether chunk k is needed; NeedsBox is exact (the box holds a
      // selected element) and implied by the conservative answer on the hull.
      auto needs = [&](int64_t k) {
        BlockView probe;
        probe.block = k;
        probe.begin = partition.block_begin(k);
        probe.end = partition.block_end(k);
        const Box box = *partition.BlockBox(k);
        probe.box = &box;
        const bool needed = a.NeedsBox(0, box);
        std::unique_ptr<Partial> counted = a.NewPartial(0);
        REQUIRE(scanner->Consume(probe, counted.get()).ok());
        REQUIRE(needed == (counted->ToJson()["written"].get<uint64_t>() > 0));
        if (needed) REQUIRE(a.NeedsBlock(0, probe.begin, probe.end));
        return needed;
      };
      if (!needs(b)) {
        const Box box = *partition.BlockBox(b);
        view.box = &box;
        consume(view);  // data == nullptr
        ++b;
        continue;
      }
      int64_t e = b + 1;
      while (e < partition.blocks() && e < b + window_blocks && needs(e)) ++e;
      // A window of chunks [b, e): one run per block, each with its box's
      // elements in C order of the box.
      std::vector<Box> boxes;
      std::vector<std::vector<char>> bytes;
      for (int64_t k = b; k < e; ++k) {
        boxes.push_back(*partition.BlockBox(k));
        bytes.push_back(BoxBytes(data, d.layout, boxes.back()));
      }
      std::vector<BlockView> runs;
      for (int64_t k = b; k < e; ++k) {
        BlockView run;
        run.block = k;
        run.begin = partition.block_begin(k);
        run.end = partition.block_end(k);
        run.box = &boxes[static_cast<size_t>(k - b)];
        run.data = bytes[static_cast<size_t>(k - b)].data();
        runs.push_back(run);
      }
      for (const BlockView& run : runs) REQUIRE(scanner->BeginWindow(run).ok());
      for (const BlockView& run : runs) consume(run);
      for (const BlockView& run : runs) REQUIRE(scanner->EndWindow(run).ok());
      b = e;
      continue;
    }
    if (!a.NeedsBlock(0, view.begin, view.end)) {
      consume(view);
      ++b;
      continue;
    }
    int64_t e = b + 1;
    while (e < partition.blocks() && e < b + window_blocks &&
           a.NeedsBlock(0, partition.block_begin(e), partition.block_end(e)))
      ++e;
    std::vector<char> bytes(
        data.begin() + static_cast<ptrdiff_t>(view.begin * item),
        data.begin() + static_cast<ptrdiff_t>(partition.block_end(e - 1) * item));
    BlockView window = view;
    window.data = bytes.data();
    window.end = partition.block_end(e - 1);
    REQUIRE(scanner->BeginWindow(window).ok());
    for (int64_t k = b; k < e; ++k) {
      BlockView block;
      block.block = k;
      block.begin = partition.block_begin(k);
      block.end = partition.block_end(k);
      block.data = bytes.data() + (block.begin - view.begin) * item;
      consume(block);
    }
    REQUIRE(scanner->EndWindow(window).ok());
    b = e;
  }
  scanner.reset();
  const Status st = a.EndPass(0, *merged);
  INFO(st.message());
  REQUIRE(st.ok());
  Result<Json> result = a.Finish();
  REQUIRE(result.ok());
  return ReadAll((*result)["path"].get<std::string>());
}

// An analysis that records what NeedsBlock was asked.
class HullProbe : public Analysis {
 public:
  HullProbe(const Dataset& d, const Partition& p) : Analysis(AnalysisSpec{}, d, p) {}
  bool NeedsBlock(int, uint64_t begin, uint64_t end) const override {
    asked = {begin, end};
    return begin % 2 == 0;
  }
  std::unique_ptr<Partial> NewPartial(int) const override { return nullptr; }
  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json&) const override {
    return std::unique_ptr<Partial>();
  }
  std::unique_ptr<Scanner> NewScanner(int) const override { return nullptr; }
  Status EndPass(int, const Partial&) override { return Status::OK(); }
  Result<Json> Finish() override { return Json(); }
  mutable std::pair<uint64_t, uint64_t> asked;  // test probe only
};

TEST_CASE("Analysis: NeedsBox defaults to NeedsBlock on the chunk's hull", "[array_copy]") {
  Dataset d;
  d.layout.dtype = *ParseDType("<f4");
  for (const auto& shape_chunks :
       std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>>{
           {{10}, {3}}, {{7, 9}, {2, 4}}, {{5, 6, 7}, {2, 5, 3}}, {{3, 4, 5, 6}, {2, 3, 2, 4}}}) {
    d.layout.shape = shape_chunks.first;
    const Partition grid(d.layout, shape_chunks.second);
    const HullProbe probe(d, grid);
    for (int64_t b = 0; b < grid.blocks(); ++b) {
      const bool needed = probe.NeedsBox(0, *grid.BlockBox(b));
      CHECK(probe.asked == std::make_pair(grid.block_begin(b), grid.block_end(b)));
      CHECK(needed == (grid.block_begin(b) % 2 == 0));
    }
  }
}

TEST_CASE("Slice and convert: chunk blocks write the same bytes as row blocks", "[array_copy]") {
  std::mt19937_64 rng(2024);
  auto uni = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const std::vector<std::vector<int64_t>> shapes = {{23},      {9, 7},       {1, 11},
                                                    {6, 5, 4}, {4, 3, 5, 3}, {3, 1, 4, 2}};
  const char* dtypes[] = {"<f8", ">f4", "<i2", ">i4", "|u1", "<f2", ">u8", "?"};
  const char* targets[] = {"<f8", ">f8", "<f4", "<i8", ">i2", "|u1"};
  TempDir dir;
  for (int round = 0; round < 300; ++round) {
    Dataset d;
    d.path = dir.path + "/input-never-opened";
    d.format = "raw";
    d.mode = "r";
    d.layout.dtype = *ParseDType(dtypes[uni(0, 7)]);
    d.layout.shape = shapes[static_cast<size_t>(round) % shapes.size()];
    d.shape_spec = d.layout.shape;
    d.file_bytes = d.layout.data_bytes();
    const int nd = d.layout.ndim();
    std::vector<int64_t> chunks;
    for (int64_t len : d.layout.shape) chunks.push_back(uni(1, len + 1));
    std::vector<char> data(d.layout.data_bytes());
    for (char& c : data) c = static_cast<char>(uni(0, 255));
    if (d.layout.dtype.is_bool())
      for (char& c : data) c = static_cast<char>(c & 1);

    std::string op;
    Json params;
    const std::string out_ext = uni(0, 2) == 0 ? ".raw" : ".npy";
    if (uni(0, 1) == 0) {
      op = "slice";
      std::string select = "[";
      for (int a = 0; a < nd; ++a) {
        const int64_t len = d.layout.shape[static_cast<size_t>(a)];
        if (a > 0) select += ", ";
        switch (uni(0, 3)) {
          case 0:
            select += std::to_string(uni(-len, len - 1));  // a dropped axis
            break;
          case 1:
            select += ":";
            break;
          default: {
            const int64_t step = uni(1, 3) * (uni(0, 1) ? 1 : -1);
            select += std::to_string(uni(-len, len)) + ":" + std::to_string(uni(-len, len)) + ":" +
                      std::to_string(step);
          }
        }
      }
      select += "]";
      params = Json{{"select", select}};
    } else {
      op = "convert";
      std::vector<int> axes(static_cast<size_t>(nd));
      for (int a = 0; a < nd; ++a) axes[static_cast<size_t>(a)] = a;
      std::shuffle(axes.begin(), axes.end(), rng);
      params = Json{{"axes", axes},
                    {"order", uni(0, 1) ? "F" : "C"},
                    {"dtype", targets[uni(0, 5)]},
                    {"casting", "unsafe"}};
    }
    params["output"] = dir.path + "/rows" + out_ext;
    INFO("round " << round << " shape " << ShapeString(d.layout.shape) << " chunks "
                  << ShapeString(chunks) << " " << d.layout.dtype.descr() << " " << op << " "
                  << params.dump());
    // Small row blocks: several rows per block, or pieces of one row.
    const Partition rows(d.layout, static_cast<uint64_t>(uni(1, 64)) *
                                       static_cast<uint64_t>(d.layout.dtype.itemsize()));
    const std::string by_rows = RunCopy(d, rows, op, params, data, uni(1, 3));
    params["output"] = dir.path + "/chunks" + out_ext;
    const Partition grid(d.layout, chunks);
    const std::string by_chunks = RunCopy(d, grid, op, params, data, uni(1, 6));
    REQUIRE(by_chunks == by_rows);
  }
}

TEST_CASE("Slice and convert: long chunk lines go through the staged writes", "[array_copy]") {
  // Rows of 20000 float64: chunk lines of 9000 elements (72 KB) are staged
  // and pwritten, the rest of the output is written through the mapping.
  Dataset d;
  TempDir dir;
  d.path = dir.path + "/input-never-opened";
  d.format = "raw";
  d.layout.dtype = *ParseDType("<f8");
  d.layout.shape = {5, 20000};
  d.shape_spec = d.layout.shape;
  std::vector<char> data(d.layout.data_bytes());
  std::mt19937_64 rng(7);
  for (char& c : data) c = static_cast<char>(rng());
  const Partition rows(d.layout);
  const Partition grid(d.layout, std::vector<int64_t>{2, 9000});
  for (const Json& params : {Json{{"select", "[:, 3:]"}}, Json{{"select", "[::-2, ::-1]"}},
                             Json{{"order", "F"}, {"dtype", "<f4"}, {"casting", "unsafe"}},
                             Json{{"axes", {1, 0}}, {"dtype", ">f8"}}}) {
    const std::string op = params.contains("select") ? "slice" : "convert";
    Json p = params;
    p["output"] = dir.path + "/rows.npy";
    const std::string by_rows = RunCopy(d, rows, op, p, data, 2);
    p["output"] = dir.path + "/chunks.npy";
    REQUIRE(RunCopy(d, grid, op, p, data, 1) == by_rows);
    REQUIRE(RunCopy(d, grid, op, p, data, 3) == by_rows);
  }
}

}  // namespace
}  // namespace mm
