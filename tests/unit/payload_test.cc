// Tests of engine/payload: the partial wire format. A worker's payload
// decodes and re-encodes to the same bytes; payloads of any split of the
// blocks, decoded and pushed in block order, merge to the same bytes as one
// scan of everything; and every malformed node is refused with its error
// before it reaches the tree.
#include "engine/payload.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/scan.h"
#include "runner/coordinator.h"

namespace mm {
namespace {

// 16 float64 columns: 128-byte rows, 8192 rows per 1 MiB block; 13 blocks,
// the last one short.
constexpr int64_t kRows = 12 * 8192 + 100;
constexpr int kCols = 16;

// A dataset file in a fresh folder and the plan of a pass of three
// analyses over it; the folder is removed at the end.
struct Fixture {
  std::string dir;
  std::unique_ptr<Plan> plan;
  int64_t rows;

  // `cols` columns of float64 (kCols by default: 13 blocks).
  explicit Fixture(int64_t rows_ = kRows, int cols = kCols) : rows(rows_) {
    const char* base = std::getenv("TMPDIR");
    std::string templ = std::string(base ? base : "/tmp") + "/mmrun-payload-XXXXXX";
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    dir = templ;
    std::vector<double> data(static_cast<size_t>(rows * cols));
    std::mt19937_64 rng(11);
    std::normal_distribution<double> normal(0, 1);
    for (double& x : data) x = normal(rng);
    data[777] = std::nan("");
    FILE* f = std::fopen((dir + "/data.f8").c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(data.data(), sizeof(double), data.size(), f) == data.size());
    std::fclose(f);
    const Json config = Json::parse(R"({
      "dataset": {"path": "data.f8", "format": "raw", "dtype": "float64", "shape": [)" +
                                    std::to_string(rows) + ", " + std::to_string(cols) + R"(]},
      "analyses": [{"name": "columns", "op": "stats", "axis": 0},
                   {"name": "hist", "op": "histogram", "bins": 9, "range": [-2, 2]},
                   {"name": "overall", "op": "stats"}]})");
    Result<std::unique_ptr<Plan>> built = Plan::Build(config, dir);
    REQUIRE(built.ok());
    plan = std::move(*built);
    REQUIRE(plan->passes.size() == 1);
    REQUIRE(plan->passes[0].steps.size() == 3);
    if (cols == kCols) REQUIRE(plan->partition.blocks() == 13);
    REQUIRE(PreparePass(*plan, 0).ok());
  }
  ~Fixture() { (void)std::system(("rm -rf '" + dir + "'").c_str()); }

  // The first row of block b (blocks hold whole rows here).
  int64_t Row(int64_t b) const {
    return b >= plan->partition.blocks() ? rows : b * plan->partition.rows_per_block();
  }

  // A worker's payload for rows [lo, hi), from the real scan.
  std::string Scan(int64_t lo, int64_t hi) const {
    WorkerTask task;
    task.plan = plan.get();
    task.pass = 0;
    task.map_path = plan->MapPath(0);
    task.attempt = 1;
    task.row_begin = lo;
    task.row_end = hi;
    Result<std::string> payload = ScanTask(task, [](uint64_t) {});
    REQUIRE(payload.ok());
    return *payload;
  }
};

// The bytes of a tree's root: every partial's JSON.
std::string RootBytes(NodeTree* tree) {
  REQUIRE_FALSE(tree->empty());
  const PartialSet root = tree->Finish();
  Json parts = Json::array();
  for (const auto& p : root.parts) parts.push_back(p->ToJson());
  return parts.dump();
}

// Pushes the payloads of the row ranges cut at blocks `cuts` (sorted, the
// first 0, the last the block count) in order; returns the root's bytes.
std::string MergeSplit(const Fixture& fx, const std::vector<int64_t>& cuts) {
  NodeTree tree;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    if (cuts[i] == cuts[i + 1]) continue;
    const std::string payload = fx.Scan(fx.Row(cuts[i]), fx.Row(cuts[i + 1]));
    const Status st = PushPayload(*fx.plan, 0, payload, "worker " + std::to_string(i), &tree);
    REQUIRE(st.ok());
  }
  CHECK(TreeEnd(tree) == fx.plan->partition.blocks());
  return RootBytes(&tree);
}

// The message of pushing node list `nodes` into `tree`, "" when accepted.
std::string PushError(const Fixture& fx, const Json& nodes, NodeTree* tree,
                      int64_t first_block = 0) {
  const Status st = PushNodes(*fx.plan, 0, nodes, "part p.json", Code::kDataErr, tree, first_block);
  if (st.ok()) return "";
  CHECK(st.code() == Code::kDataErr);
  return st.message();
}

// A node of the whole-file payload: its leaf node at block b, level 0, from
// a scan of that one block.
Json LeafNode(const Fixture& fx, int64_t b) {
  Result<Json> doc = DecodePayload(fx.Scan(fx.Row(b), fx.Row(b + 1)), "w");
  REQUIRE(doc.ok());
  BinaryToBase64(&*doc);  // as a part file holds it
  REQUIRE((*doc)["nodes"].size() == 1);
  return (*doc)["nodes"][0];
}

TEST_CASE("Payload: a decoded payload encodes to the same bytes", "[payload]") {
  Fixture fx;
  // Whole file: a node of level 3 (blocks 0-7), 2 (8-11) and 0 (12).
  for (const auto& range : {std::make_pair(0, 13), std::make_pair(3, 11), std::make_pair(12, 13)}) {
    INFO("blocks [" << range.first << ", " << range.second << ")");
    const std::string payload = fx.Scan(fx.Row(range.first), fx.Row(range.second));
    NodeTree tree;
    REQUIRE(PushPayload(*fx.plan, 0, payload, "worker 0", &tree, range.first).ok());
    CHECK(TreeEnd(tree) == range.second);
    CHECK(EncodePayload(tree.nodes()) == payload);
    // The payload's JSON, its bytes columns as base64 text: a part file's nodes.
    Result<Json> decoded = DecodePayload(payload, "w");
    REQUIRE(decoded.ok());
    BinaryToBase64(&*decoded);
    CHECK(Json{{"nodes", EncodeNodes(tree.nodes())}} == *decoded);
  }
  NodeTree whole;
  REQUIRE(PushPayload(*fx.plan, 0, fx.Scan(0, kRows), "w", &whole).ok());
  std::vector<std::pair<int, int64_t>> shape;
  for (const auto& n : whole.nodes()) shape.emplace_back(n.level, n.start);
  CHECK(shape == std::vector<std::pair<int, int64_t>>{{3, 0}, {2, 8}, {0, 12}});
  // No node: the empty payload of a worker without rows.
  CHECK(EncodePayload({}) == R"({"nodes":[]})");
  NodeTree empty;
  REQUIRE(PushPayload(*fx.plan, 0, R"({"nodes":[]})", "w", &empty).ok());
  CHECK(empty.empty());
  CHECK(TreeEnd(empty, 5) == 5);
}

TEST_CASE("Payload: bytes columns travel as raw bytes before the JSON, and come back whole",
          "[payload]") {
  // 512 float64 columns: each stats column is 4096 bytes; 256 rows a
  // block, 4 blocks.
  Fixture fx(3 * 256 + 10, 512);
  REQUIRE(fx.plan->partition.blocks() == 4);
  const std::string payload = fx.Scan(0, fx.rows);
  const size_t nul = payload.rfind('\0');
  REQUIRE(nul != std::string::npos);
  // The columns' bytes hold NULs of their own (zero counts, 0.0): the last
  // one splits.
  CHECK(payload.find('\0') < nul);
  CHECK(payload.find("\"$bin\"", nul) != std::string::npos);
  const Json doc = Json::parse(payload.substr(nul + 1));
  REQUIRE(doc["nodes"].size() == 1);
  // Decoded, re-encoded: the same bytes; and the same partials as the
  // plain nodes a part file holds.
  NodeTree tree;
  REQUIRE(PushPayload(*fx.plan, 0, payload, "worker 0", &tree).ok());
  CHECK(EncodePayload(tree.nodes()) == payload);
  const Json plain = EncodeNodes(tree.nodes());
  CHECK(plain.dump().find("$bin") == std::string::npos);
  NodeTree again;
  REQUIRE(PushNodes(*fx.plan, 0, plain, "part p.json", Code::kDataErr, &again).ok());
  CHECK(RootBytes(&again) == RootBytes(&tree));
  // Any split: the same root.
  NodeTree split;
  for (const auto& r :
       {std::make_pair(int64_t{0}, int64_t{1}), std::make_pair(int64_t{1}, int64_t{4})})
    REQUIRE(PushPayload(*fx.plan, 0, fx.Scan(fx.Row(r.first), fx.Row(r.second)), "w", &split).ok());
  NodeTree whole;
  REQUIRE(PushPayload(*fx.plan, 0, payload, "w", &whole).ok());
  CHECK(RootBytes(&split) == RootBytes(&whole));
  // A reference outside the blobs, of the wrong form, or a blob cut short:
  // refused whole, exit 70, nothing pushed.
  const std::string blobs = payload.substr(0, nul), json = payload.substr(nul + 1);
  const size_t at = json.find("{\"$bin\":[");
  REQUIRE(at != std::string::npos);
  const size_t end = json.find("]}", at) + 2;
  for (const std::string& ref :
       {std::string("{\"$bin\":[0,") + std::to_string(nul + 1) + "]}",
        std::string("{\"$bin\":[") + std::to_string(nul) + ",1]}",
        std::string("{\"$blob\":[") + std::to_string(nul) + ",1]}",
        std::string("{\"$bin\":[18446744073709551615,2]}"), std::string("{\"$bin\":[0]}"),
        std::string("{\"$bin\":[-1,5]}"), std::string("{\"$bin\":\"x\"}")}) {
    INFO(ref);
    const std::string bad = blobs + '\0' + json.substr(0, at) + ref + json.substr(end);
    NodeTree t;
    const Status st = PushPayload(*fx.plan, 0, bad, "worker 1", &t);
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Code::kWorkerFailed);
    CHECK(st.message() == "worker 1: malformed partials (a blob reference)");
    CHECK(t.empty());
  }
  // References that reuse one blob: never more bytes restored than the
  // blob area holds (a corrupt payload cannot multiply the memory).
  {
    std::string refs;
    for (int k = 0; k < 4000; ++k)
      refs += std::string(k ? "," : "") + "{\"$bin\":[0," + std::to_string(nul) + "]}";
    const std::string bad =
        blobs + '\0' + R"({"nodes":[{"level":0,"start":0,"partials":[)" + refs + "]}]}";
    NodeTree t;
    const Status st = PushPayload(*fx.plan, 0, bad, "worker 1", &t);
    REQUIRE_FALSE(st.ok());
    CHECK(st.message() == "worker 1: malformed partials (a blob reference)");
  }
  // A blob one byte short: the column's base64 no longer decodes.
  const std::string short_blob = blobs.substr(1) + '\0' + json;
  NodeTree t;
  const Status st = PushPayload(*fx.plan, 0, short_blob, "worker 1", &t);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Code::kWorkerFailed);
}

TEST_CASE("Payload: any split of the blocks merges to the same bytes", "[payload]") {
  Fixture fx;
  const int64_t blocks = fx.plan->partition.blocks();
  const std::string want = MergeSplit(fx, {0, blocks});
  // The workers' split for 1..7 workers.
  for (int workers = 1; workers <= 7; ++workers) {
    INFO(workers << " workers");
    std::vector<int64_t> cuts = {0};
    for (const RowRange& r : SplitRows(*fx.plan, workers, 0, kRows))
      cuts.push_back(fx.plan->partition.first_block_of_row(r.end));
    CHECK(MergeSplit(fx, cuts) == want);
  }
  // Random cuts at block boundaries, and every block alone.
  std::mt19937 rng(3);
  for (int round = 0; round < 6; ++round) {
    std::vector<int64_t> cuts = {0, blocks};
    for (int k = 0; k < round + 1; ++k)
      cuts.push_back(std::uniform_int_distribution<int64_t>(1, blocks - 1)(rng));
    std::sort(cuts.begin(), cuts.end());
    INFO("cuts " << Json(cuts).dump());
    CHECK(MergeSplit(fx, cuts) == want);
  }
  std::vector<int64_t> all;
  for (int64_t b = 0; b <= blocks; ++b) all.push_back(b);
  CHECK(MergeSplit(fx, all) == want);
  // The merged root differs from a root that misses a block: the comparison
  // can fail.
  NodeTree partial;
  REQUIRE(PushPayload(*fx.plan, 0, fx.Scan(0, fx.Row(12)), "w", &partial).ok());
  CHECK(RootBytes(&partial) != want);
}

TEST_CASE("Payload: payloads pushed out of block order are refused", "[payload]") {
  Fixture fx;
  const std::string first = fx.Scan(0, fx.Row(5)), second = fx.Scan(fx.Row(5), kRows);
  NodeTree tree;
  const Status st = PushPayload(*fx.plan, 0, second, "worker 1", &tree);
  CHECK(tree.empty());
  CHECK(st.code() == Code::kWorkerFailed);
  CHECK(st.message() ==
        "worker 1: tree node (level 0, block 5) does not continue the block tree "
        "at block 0");
  REQUIRE(PushPayload(*fx.plan, 0, first, "worker 0", &tree).ok());
  // The same payload twice: the second starts at block 0 again.
  CHECK(PushPayload(*fx.plan, 0, first, "worker 0", &tree).message() ==
        "worker 0: tree node (level 2, block 0) does not continue the block tree at block 5");
  REQUIRE(PushPayload(*fx.plan, 0, second, "worker 1", &tree).ok());
  CHECK(TreeEnd(tree) == 13);
}

TEST_CASE("Payload: rejects a bad level or a start outside the block range", "[payload]") {
  Fixture fx;
  const Json leaf0 = LeafNode(fx, 0), leaf1 = LeafNode(fx, 1), leaf12 = LeafNode(fx, 12);
  auto with = [](Json node, int64_t level, int64_t start) {
    node["level"] = level;
    node["start"] = start;
    return Json::array({node});
  };
  const std::string tail = ") does not continue the block tree at block ";
  struct Case {
    int64_t level, start, first_block;
    std::string message;
  };
  const Case cases[] = {
      {-1, 0, 0, "part p.json: tree node (level -1, block 0" + tail + "0"},
      {63, 0, 0, "part p.json: tree node (level 63, block 0" + tail + "0"},
      {4, 0, 0, "part p.json: tree node (level 4, block 0" + tail + "0"},  // 16 blocks > 13
      {0, 1, 0, "part p.json: tree node (level 0, block 1" + tail + "0"},  // a gap
      {0, -1, 0, "part p.json: tree node (level 0, block -1" + tail + "0"},
      {1, 1, 1, "part p.json: tree node (level 1, block 1" + tail + "1"},      // misaligned
      {0, 13, 13, "part p.json: tree node (level 0, block 13" + tail + "13"},  // past the end
      {1, 12, 12, "part p.json: tree node (level 1, block 12" + tail + "12"},  // runs past it
      {0, 4, 5, "part p.json: tree node (level 0, block 4" + tail + "5"},      // before the range
  };
  for (const Case& c : cases) {
    INFO("level " << c.level << ", start " << c.start << ", first block " << c.first_block);
    NodeTree tree;
    CHECK(PushError(fx, with(leaf0, c.level, c.start), &tree, c.first_block) == c.message);
    CHECK(tree.empty());
  }
  // The accepted neighbours of those cases.
  NodeTree tree;
  CHECK(PushError(fx, Json::array({leaf0, leaf1}), &tree) == "");
  CHECK(TreeEnd(tree) == 2);
  NodeTree last;
  CHECK(PushError(fx, Json::array({leaf12}), &last, 12) == "");
  CHECK(TreeEnd(last) == 13);
  // A bad node after good ones: the good ones are in the tree, the bad one not.
  NodeTree mixed;
  CHECK(PushError(fx, Json::array({leaf0, leaf0}), &mixed) ==
        "part p.json: tree node (level 0, block 0" + tail + "1");
  CHECK(TreeEnd(mixed) == 1);
}

TEST_CASE("Payload: rejects malformed nodes and a wrong partial count", "[payload]") {
  Fixture fx;
  const Json leaf = LeafNode(fx, 0);
  std::vector<Json> bad;
  {
    Json n = leaf;
    n["partials"].erase(2);  // two partials for three analyses
    bad.push_back(n);
    n = leaf;
    n["partials"].push_back(leaf["partials"][0]);  // four
    bad.push_back(n);
    n = leaf;
    n["partials"] = Json::object();
    bad.push_back(n);
    n = leaf;
    n.erase("partials");
    bad.push_back(n);
    n = leaf;
    n.erase("level");
    bad.push_back(n);
    n = leaf;
    n["level"] = "0";
    bad.push_back(n);
    n = leaf;
    n["level"] = 0.5;
    bad.push_back(n);
    n = leaf;
    n.erase("start");
    bad.push_back(n);
    n = leaf;
    n["start"] = nullptr;
    bad.push_back(n);
    bad.push_back(Json::array({leaf}));
    bad.push_back(Json(7));
  }
  for (const Json& node : bad) {
    INFO(node.dump().substr(0, 200));
    NodeTree tree;
    CHECK(PushError(fx, Json::array({node}), &tree) == "part p.json: malformed partials");
    CHECK(tree.empty());
  }
  for (const Json& nodes : {Json::object(), Json("nodes"), Json(nullptr), leaf}) {
    NodeTree tree;
    CHECK(PushError(fx, nodes, &tree) == "part p.json: malformed partials (no node list)");
  }
  // A partial its analysis refuses: the analysis' message after `where`.
  Json n = leaf;
  n["partials"][1] = "x";
  NodeTree tree;
  const std::string msg = PushError(fx, Json::array({n}), &tree);
  CHECK(msg.rfind("part p.json: ", 0) == 0);
  CHECK(msg != "part p.json: malformed partials");
  CHECK(tree.empty());
  // The error kind is the caller's.
  const Status st =
      PushNodes(*fx.plan, 0, Json::array({n}), "worker 3", Code::kWorkerFailed, &tree);
  CHECK(st.code() == Code::kWorkerFailed);
  CHECK(st.message().rfind("worker 3: ", 0) == 0);
}

TEST_CASE("Payload: a truncated or malformed payload text is refused whole", "[payload]") {
  Fixture fx;
  const std::string payload = fx.Scan(0, fx.Row(4));
  for (size_t cut : {size_t{0}, size_t{1}, size_t{9}, payload.size() / 2, payload.size() - 1}) {
    INFO("cut at " << cut << " of " << payload.size());
    NodeTree tree;
    const Status st = PushPayload(*fx.plan, 0, payload.substr(0, cut), "worker 2", &tree);
    CHECK(st.code() == Code::kWorkerFailed);
    CHECK(st.message().rfind("worker 2 partials: ", 0) == 0);
    CHECK(tree.empty());
  }
  for (const char* text : {R"([])", R"({"node": []})", R"("nodes")", R"(7)"}) {
    INFO(text);
    NodeTree tree;
    const Status st = PushPayload(*fx.plan, 0, text, "worker 2", &tree);
    CHECK(st.code() == Code::kWorkerFailed);
    CHECK(st.message() == "worker 2: malformed partials");
  }
  NodeTree tree;
  CHECK(PushPayload(*fx.plan, 0, R"({"nodes": 1})", "worker 2", &tree).message() ==
        "worker 2: malformed partials (no node list)");
}

TEST_CASE("Framed JSON: binary values and long strings round-trip; bad text is refused",
          "[payload]") {
  std::vector<uint8_t> bytes(100000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + (i >> 9));
  bytes[5] = 0;  // NULs inside the bytes: the last NUL splits
  const std::string long_text(5000, 'x');
  Json doc =
      Json{{"a", 1},
           {"cols",
            Json::array({BytesColumn(bytes.data(), bytes.size()), BytesColumn(bytes.data(), 3)})},
           {"s", long_text},
           {"short", "y"}};
  const Json want = doc;
  const std::string framed = EncodeFramed(doc);
  // The bytes travel raw, not as base64 or a list of numbers.
  CHECK(framed.size() < bytes.size() + 3 + long_text.size() + 200);
  Result<Json> back = DecodeFramed(framed, "plan", Code::kDataErr);
  REQUIRE(back.ok());
  CHECK(*back == want);
  // In pieces (the segment writes them so): the same bytes, the columns
  // moved out of the document, not copied.
  const FramedPieces pieces = FrameInPieces(want);
  std::string joined;
  for (const std::string_view piece : pieces.Views()) joined.append(piece);
  CHECK(joined == framed);
  CHECK(pieces.blobs.size() == 3);
  CHECK(pieces.bytes == bytes.size() + 3 + long_text.size());
  CHECK(FrameInPieces(Json{{"a", 1}}).Views() == std::vector<std::string_view>{R"({"a":1})"});
  // Without bytes to carry, framed text is the JSON text itself; an empty
  // bytes column is still a reference (never nlohmann's {"bytes": []}).
  CHECK(EncodeFramed(Json{{"a", 1}}) == R"({"a":1})");
  const Json empty = Json{{"a", Json::binary({})}};
  CHECK(EncodeFramed(empty) == R"({"a":{"$bin":[0,0]}})");
  Result<Json> empty_back = DecodeFramed(EncodeFramed(empty), "plan", Code::kDataErr);
  REQUIRE(empty_back.ok());
  CHECK(*empty_back == empty);
  // Truncations and references past the bytes are errors of the kind asked.
  for (size_t cut : {size_t{0}, size_t{1}, size_t{50000}, framed.size() - 1}) {
    INFO("cut at " << cut);
    Result<Json> bad = DecodeFramed(framed.substr(0, cut), "plan", Code::kDataErr);
    CHECK(bad.status().code() == Code::kDataErr);
  }
  // A NUL inside the text is spelt out: these hold the bytes, a NUL, then the JSON.
  const std::string nul(1, '\0');
  for (const std::string& text :
       {std::string(R"({"$bin": [0, 1]})"), "x" + nul + R"({"$bin": [0, 2]})",
        "xy" + nul + R"([{"$blob": [1, 1]}, {"$bin": [0, 2]}])", "x" + nul + R"({"$bin": [-1, 1]})",
        "x" + nul + R"({"$bin": [0]})"}) {
    INFO(text);
    CHECK(DecodeFramed(text, "plan", Code::kDataErr).status().code() == Code::kDataErr);
  }
}

}  // namespace
}  // namespace mm
