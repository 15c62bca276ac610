#include "runner/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/files.h"
#include "runner/commands.h"
#include "runner/shard.h"

namespace mm {

namespace {

int RowAxis(const Layout& layout) {
  return layout.order == 'F' ? static_cast<int>(layout.shape.size()) - 1 : 0;
}

// Blocks wholly made of rows [0, rows): blocks of whole rows that are full,
// or every piece of every row.
int64_t CompleteBlocks(const Partition& p, int64_t rows) {
  return p.rows_per_block() > 0 ? rows / p.rows_per_block() : rows * p.pieces_per_row();
}

// The first row of block b, for b on a row boundary (b <= CompleteBlocks).
int64_t RowOfBlock(const Partition& p, int64_t b) {
  return p.rows_per_block() > 0 ? b * p.rows_per_block() : b / p.pieces_per_row();
}

// A read-only descriptor of the dataset kept open until the process exits:
// this process holds the dataset's lock (common/dataset_lock.h), and closing
// any descriptor of the file would drop its POSIX pid beacon.
Result<int> DatasetFd(const std::string& path) {
  static std::string open_path;
  static int fd = -1;
  if (fd >= 0 && open_path == path) return fd;
  MM_ASSIGN_OR_RETURN(FileDescriptor f, FileDescriptor::Open(path, O_RDONLY, 0, Code::kIoErr));
  if (fd >= 0) (void)FileDescriptor(fd);  // a different dataset (tests): close the old one
  fd = f.release();
  open_path = path;
  return fd;
}

// FNV-1a (64 bits) of a range of the dataset's elements, as 16 hex digits.
Result<std::string> Checksum(const Plan& plan, uint64_t elem_begin, uint64_t elem_end) {
  uint64_t h = 1469598103934665603ull;
  const uint64_t item = static_cast<uint64_t>(plan.dataset.layout.dtype.itemsize());
  MM_ASSIGN_OR_RETURN(int fd, DatasetFd(plan.dataset.path));
  std::vector<unsigned char> buf(1 << 20);
  uint64_t pos = plan.dataset.layout.offset + elem_begin * item;
  const uint64_t end = plan.dataset.layout.offset + elem_end * item;
  while (pos < end) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
    const ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(pos));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return FromErrno(errno, plan.dataset.path + ": read", Code::kIoErr);
    if (got == 0)
      return Error(Code::kIoErr, plan.dataset.path + ": the file shrank while being read");
    for (ssize_t i = 0; i < got; ++i) {
      h ^= buf[static_cast<size_t>(i)];
      h *= 1099511628211ull;
    }
    pos += static_cast<uint64_t>(got);
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return std::string(text);
}

// The blocks whose checksums a state keeps: a few spread over [0, c).
std::vector<int64_t> SampleBlocks(int64_t c) {
  std::set<int64_t> s;
  if (c > 0)
    for (int k = 0; k <= 4; ++k) s.insert(std::min(c - 1, c * k / 4));
  return std::vector<int64_t>(s.begin(), s.end());
}

// What a state must agree on besides its samples.
Json LayoutIdentity(const Plan& plan) {
  const Layout& l = plan.dataset.layout;
  std::vector<int64_t> row_shape = l.shape;
  row_shape.erase(row_shape.begin() + RowAxis(l));
  const Partition& p = plan.partition;
  return Json{{"path", plan.dataset.path},
              {"format", plan.dataset.format},
              {"dtype", l.dtype.descr()},
              {"order", std::string(1, l.order)},
              {"offset", l.offset},
              {"row_shape", row_shape},
              {"rows_per_block", p.rows_per_block()},
              {"pieces_per_row", p.pieces_per_row()}};
}

// Loads the state into `tree` (the nodes over its complete blocks) and
// returns the number of those blocks; an error's message is the reason to
// discard the state.
Result<int64_t> LoadState(const Plan& plan, const std::string& path, NodeTree* tree) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kIoErr, std::string("cannot read it: ") + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  MM_ASSIGN_OR_RETURN(Json s, ParseJson(ss.str(), "not JSON", Code::kDataErr));
  if (!s.is_object() || s.value("format", std::string()) != "mmrun-state")
    return Error(Code::kDataErr, "not an mmrun state file");
  if (!s.contains("version") || s["version"] != kStateFormatVersion)
    return Error(Code::kDataErr, "state format version " +
                                     (s.contains("version") ? s["version"].dump() : "?") +
                                     ", this mmrun reads " + std::to_string(kStateFormatVersion));
  try {
    if (s.at("config").dump() != CanonicalConfig(plan))
      return Error(Code::kDataErr, "the config changed");
    const Json want = LayoutIdentity(plan);
    if (s.at("dataset") != want)
      return Error(Code::kDataErr, "the dataset's layout or block size changed");
    const int64_t rows_old = s.at("rows").get<int64_t>();
    const int64_t rows_now = plan.dataset.layout.rows();
    if (rows_now < rows_old)
      return Error(Code::kDataErr, "the file shrank from " + std::to_string(rows_old) + " to " +
                                       std::to_string(rows_now) + " rows");
    const int64_t c = s.at("complete_blocks").get<int64_t>();
    if (c != CompleteBlocks(plan.partition, rows_old))
      return Error(Code::kDataErr, "malformed (complete_blocks)");
    for (const Json& sample : s.at("samples")) {
      const int64_t b = sample.at("block").get<int64_t>();
      if (b < 0 || b >= c) return Error(Code::kDataErr, "malformed (sample block)");
      MM_ASSIGN_OR_RETURN(std::string h, Checksum(plan, plan.partition.block_begin(b),
                                                  plan.partition.block_end(b)));
      if (h != sample.at("fnv1a64").get<std::string>())
        return Error(Code::kDataErr, "rows already seen changed (block " + std::to_string(b) +
                                         "'s checksum differs)");
    }
    const Json& tail = s.at("tail");
    const int64_t t0 = tail.at("rows").at(0).get<int64_t>(),
                  t1 = tail.at("rows").at(1).get<int64_t>();
    if (t0 != RowOfBlock(plan.partition, c) || t1 != rows_old)
      return Error(Code::kDataErr, "malformed (tail)");
    const uint64_t re = plan.dataset.layout.row_elements();
    MM_ASSIGN_OR_RETURN(std::string h, Checksum(plan, static_cast<uint64_t>(t0) * re,
                                                static_cast<uint64_t>(t1) * re));
    if (h != tail.at("fnv1a64").get<std::string>())
      return Error(Code::kDataErr, "rows already seen changed (rows [" + std::to_string(t0) + ", " +
                                       std::to_string(t1) + ") differ)");
    Status st = PushNodes(plan, 0, s.at("nodes"), "nodes", Code::kDataErr, tree);
    if (!st.ok()) return Error(Code::kDataErr, "malformed: " + st.message());
    int64_t end = 0;
    if (!tree->empty())
      end = tree->nodes().back().start + (int64_t{1} << tree->nodes().back().level);
    if (end != c)
      return Error(Code::kDataErr, "malformed: its nodes do not cover its complete blocks");
    return c;
  } catch (const nlohmann::json::exception& e) {
    return Error(Code::kDataErr, std::string("malformed: ") + e.what());
  }
}

}  // namespace

Status CheckIncremental(const Plan& plan) {
  MM_RETURN_IF_ERROR(CheckSinglePass(plan, "--state"));
  const Layout& l = plan.dataset.layout;
  const std::vector<int64_t>& spec = plan.dataset.shape_spec;
  const int axis = RowAxis(l);
  if (spec.size() != l.shape.size() || spec[static_cast<size_t>(axis)] != -1)
    return Error(
        Code::kConfig,
        std::string("config key 'dataset.shape': --state needs an append-only dataset whose "
                    "shape has -1 on the row axis (axis ") +
            (l.order == 'F' ? "-1 for F order" : "0 for C order") + "), got " + Json(spec).dump());
  return Status::OK();
}

Result<Json> RunIncremental(Plan& plan, const std::string& state_path, const RunSettings& settings,
                            bool quiet, Segment& segment, Launcher& launcher,
                            IncrementalStats* info) {
  const std::string path = AbsolutePath(state_path);
  const Partition& part = plan.partition;
  const int64_t rows = plan.dataset.layout.rows();
  NodeTree tree;
  int64_t reuse = 0;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    Result<int64_t> loaded = LoadState(plan, path, &tree);
    if (loaded.ok()) {
      reuse = *loaded;
      info->state = "reused";
    } else {
      tree = NodeTree();
      info->state = "discarded";
      if (!quiet)
        std::fprintf(stderr,
                     "mmrun: warning: --state %s: %s; discarding it and reading every row\n",
                     path.c_str(), loaded.status().message().c_str());
    }
  }
  const int64_t start_row = RowOfBlock(part, reuse);
  const int64_t complete = CompleteBlocks(part, rows);
  const int64_t tail_row = RowOfBlock(part, complete);
  std::vector<RowRange> ranges = SplitRows(plan, settings.workers, start_row, tail_row);
  const size_t n_complete = ranges.size();
  if (tail_row < rows) ranges.push_back(RowRange{std::max(start_row, tail_row), rows});
  MM_RETURN_IF_ERROR(PreparePass(plan, 0));
  std::vector<std::string> payloads;
  if (!ranges.empty()) {
    MM_ASSIGN_OR_RETURN(payloads, RunWorkers(plan, 0, ranges, settings, segment, launcher));
  }
  Json state_nodes;
  for (size_t s = 0; s <= payloads.size(); ++s) {
    // The state keeps the tree over the complete blocks only.
    if (s == n_complete) state_nodes = NodesToJson(tree.nodes());
    if (s == payloads.size()) break;
    const std::string where = "worker " + std::to_string(s);
    MM_ASSIGN_OR_RETURN(Json doc, ParseJson(payloads[s], where + " partials", Code::kWorkerFailed));
    if (!doc.is_object() || !doc.contains("nodes"))
      return Error(Code::kWorkerFailed, where + ": malformed partials");
    MM_RETURN_IF_ERROR(PushNodes(plan, 0, doc["nodes"], where, Code::kWorkerFailed, &tree));
  }
  MM_RETURN_IF_ERROR(EndPassFromTree(plan, 0, &tree));
  MM_ASSIGN_OR_RETURN(Json results, FinishResults(plan));

  Json state = Json::object();
  state["format"] = "mmrun-state";
  state["version"] = kStateFormatVersion;
  state["mmrun_version"] = kVersion;
  state["config"] = nlohmann::json::parse(CanonicalConfig(plan));
  state["dataset"] = LayoutIdentity(plan);
  state["rows"] = rows;
  state["complete_blocks"] = complete;
  Json samples = Json::array();
  for (int64_t b : SampleBlocks(complete)) {
    MM_ASSIGN_OR_RETURN(std::string h, Checksum(plan, part.block_begin(b), part.block_end(b)));
    samples.push_back(Json{{"block", b}, {"fnv1a64", h}});
  }
  state["samples"] = samples;
  const uint64_t re = plan.dataset.layout.row_elements();
  MM_ASSIGN_OR_RETURN(std::string tail_hash, Checksum(plan, static_cast<uint64_t>(tail_row) * re,
                                                      static_cast<uint64_t>(rows) * re));
  state["tail"] = Json{{"rows", Json::array({tail_row, rows})}, {"fnv1a64", tail_hash}};
  state["nodes"] = std::move(state_nodes);
  MM_RETURN_IF_ERROR(WriteFileAtomically(path, state.dump() + "\n"));
  info->rows_reused = start_row;
  info->rows_read = rows - start_row;
  return results;
}

}  // namespace mm
