#include "runner/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/checksum.h"
#include "core/warnings.h"
#include "engine/document.h"
#include "io/files.h"
#include "runner/shard.h"
#include "source/registry.h"

namespace mm {

namespace {

int RowAxis(const Layout& layout) {
  return layout.order == 'F' ? static_cast<int>(layout.shape.size()) - 1 : 0;
}

// Rows of one unit of p, the indivisible row range its blocks tile: a
// block of whole rows, one row cut into pieces, one layer of the chunk grid.
int64_t RowsPerUnit(const Partition& p) {
  if (p.chunked()) return p.chunks()[0];
  return p.rows_per_block() > 0 ? p.rows_per_block() : 1;
}

// Pieces of at most this many bytes are checksummed one by one (a multiple
// of every itemsize).
constexpr uint64_t kChecksumPiece = 1 << 20;

// Checksum64 of `bytes` bytes: of the one piece when they fit kChecksumPiece,
// else of the array of the pieces' Checksum64s. read(offset, n) returns the
// n bytes at `offset` (valid until the next call).
template <class Read>
Result<uint64_t> PieceChecksum(uint64_t bytes, Read read) {
  std::vector<uint64_t> digests;
  for (uint64_t pos = 0; pos < bytes;) {
    const uint64_t n = std::min(bytes - pos, kChecksumPiece);
    MM_ASSIGN_OR_RETURN(const char* p, read(pos, n));
    digests.push_back(Checksum64(p, static_cast<size_t>(n)));
    pos += n;
  }
  if (digests.size() == 1) return digests[0];
  return Checksum64(digests.data(), digests.size() * sizeof(uint64_t));
}

// The dataset's source for checksums, over the run's own descriptor (opened
// once by the plan, never closed during the run, so the checksums are of the
// file the workers read, even if the path is renamed over meanwhile). The
// caller destroys it before workers are started (a format library may not
// survive a fork).
Result<std::unique_ptr<Source>> ChecksumSource(const Plan& plan) {
  if (plan.dataset.fd() < 0)
    return Error(Code::kIoErr, plan.dataset.path + ": the dataset is not open");
  return OpenSource(plan.dataset);
}

}  // namespace

int64_t CompleteBlocks(const Partition& p, int64_t rows) {
  return p.block_of_row(rows / RowsPerUnit(p) * RowsPerUnit(p));
}

int64_t RowOfBlock(const Partition& p, int64_t b) {
  const int64_t unit_blocks = p.block_of_row(RowsPerUnit(p));  // >= 1
  return b / unit_blocks * RowsPerUnit(p);
}

Result<uint64_t> RangeChecksum(Source* source, uint64_t elem_begin, uint64_t elem_end) {
  const uint64_t item = static_cast<uint64_t>(source->layout().dtype.itemsize());
  std::vector<char> buf;
  return PieceChecksum(
      (elem_end - elem_begin) * item, [&](uint64_t pos, uint64_t n) -> Result<const char*> {
        buf.resize(static_cast<size_t>(n));
        const uint64_t first = elem_begin + pos / item;
        MM_RETURN_IF_ERROR(source->ReadElements(first, first + n / item, buf.data()));
        return static_cast<const char*>(buf.data());
      });
}

Result<uint64_t> BlockChecksum(Source* source, int64_t b) {
  const Partition& p = source->partition();
  if (!p.chunked()) return RangeChecksum(source, p.block_begin(b), p.block_end(b));
  // A chunk block: its elements in C order of its box, as the source hands
  // them to the scan.
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Window> window, source->ReadWindow(b, 1, false));
  const char* data = window->BlockData(b);
  const uint64_t bytes =
      p.block_elements(b) * static_cast<uint64_t>(source->layout().dtype.itemsize());
  MM_ASSIGN_OR_RETURN(uint64_t h,
                      PieceChecksum(bytes, [&](uint64_t pos, uint64_t) -> Result<const char*> {
                        return data + pos;
                      }));
  MM_RETURN_IF_ERROR(window->Close());
  return h;
}

Json StateDatasetIdentity(const Dataset& d, const Partition& p) {
  const Layout& l = d.layout;
  std::vector<int64_t> row_shape = l.shape;
  row_shape.erase(row_shape.begin() + RowAxis(l));
  Json j = Json{{"path", d.path},
                {"format", d.format},
                {"dtype", l.dtype.descr()},
                {"order", std::string(1, l.order)},
                {"offset", l.offset},
                {"row_shape", row_shape},
                {"rows_per_block", p.rows_per_block()},
                {"pieces_per_row", p.pieces_per_row()}};
  // Only for chunk blocks, so that the identity of row blocks (and the
  // states written before chunk blocks existed) is unchanged.
  if (p.chunked()) j["chunks"] = p.chunks();
  return j;
}

namespace {

// A state read back. `discard` is the reason not to reuse it (empty when
// it applies): its data changed, or its version, config or layout.
struct Loaded {
  int64_t complete_blocks = 0;
  std::vector<uint64_t> block_checksums;  // one per complete block
  int64_t run = 0;                        // "verify_run"
  std::string discard;
};

Result<std::vector<uint64_t>> ParseChecksums(const std::string& hex, int64_t count) {
  if (count < 0 || hex.size() != static_cast<uint64_t>(count) * 16)
    return Error(Code::kDataErr, "");
  std::vector<uint64_t> out(static_cast<size_t>(count));
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t v = 0;
    for (size_t k = 0; k < 16; ++k) {
      const char c = hex[i * 16 + k];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return Error(Code::kDataErr, "");
      v = v << 4 | static_cast<uint64_t>(d);
    }
    out[i] = v;
  }
  return out;
}

// The text of the state file at `path`, opened O_NOFOLLOW|O_NONBLOCK and
// checked with fstat before it is read: its seal only catches accidents
// (anyone can reseal an edited state), so a state another user could have
// written is refused (kNoPerm naming its owner or mode and the fix): one
// not owned by the running user, or writable by group or others. A symbolic
// link is refused too (kNoPerm); not a regular file -> kCantCreate.
Result<std::string> ReadTrustedState(const std::string& path, const std::string& what) {
  if (path.find('\0') != std::string::npos)
    return Error(Code::kUsage, what + ": the path holds a NUL byte");
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ELOOP)
      return Error(Code::kNoPerm, what +
                                      ": is a symbolic link; mmrun never follows one for a "
                                      "state file (give the real path)");
    if (errno == EACCES) return FromErrno(errno, what, Code::kNoPerm);
    return FromErrno(errno, what, Code::kCantCreate);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FromErrno(errno, what, Code::kIoErr);
  if (S_ISREG(st.st_mode) && st.st_uid != ::geteuid())
    return Error(Code::kNoPerm,
                 what + ": owned by " + OwnerName(st.st_uid) + ", not by you (" +
                     OwnerName(::geteuid()) +
                     "): another user could have forged it; remove it to start over");
  if (S_ISREG(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error(Code::kNoPerm, what + ": mode " + mode +
                                    " lets group or others write it (another user could have "
                                    "forged it); chmod go-w it, or remove it to start over");
  }
  return ReadOpenedFile(fd.get(), what, kMaxDocumentBytes, Code::kCantCreate);
}

// Reads the state at `path`. Errors (the run stops): not a regular file
// (73); not the user's or writable by others (77, ReadTrustedState); not JSON, a key missing or of
// the wrong type, a checksum mismatch (65, naming the file and key). A state that no longer applies
// comes back with `discard` set. Complete blocks b with b % kStateVerifyRuns == run %
// kStateVerifyRuns (all of them when `verify`) are re-read and compared with their recorded
// checksums; on success `tree` holds the nodes.
Result<Loaded> LoadState(const Plan& plan, const std::string& path, bool verify, NodeTree* tree) {
  const std::string what = "--state " + path;
  MM_ASSIGN_OR_RETURN(std::string text, ReadTrustedState(path, what));
  const std::string hint = " (delete it to start over)";
  Result<Json> parsed = ParseState(text, what);
  if (!parsed.ok()) return Error(Code::kDataErr, parsed.status().message() + hint);
  const Json& s = *parsed;
  Loaded l;
  if (s["version"] != kStateFormatVersion) {
    l.discard = "state format version " + s["version"].dump() + ", this mmrun reads " +
                std::to_string(kStateFormatVersion);
    return l;
  }
  auto malformed = [&](const std::string& key) {
    return Error(Code::kDataErr,
                 what + ": key '" + key + "' does not match the rest of the state" + hint);
  };
  if (s["config"].dump() != CanonicalConfig(plan)) {
    l.discard = "the config changed";
    return l;
  }
  if (s["dataset"] != StateDatasetIdentity(plan.dataset, plan.partition)) {
    l.discard = "the dataset's layout or block size changed";
    return l;
  }
  const int64_t rows_old = s["rows"].get<int64_t>();
  const int64_t rows_now = plan.dataset.layout.rows();
  if (rows_now < rows_old) {
    l.discard = "the file shrank from " + std::to_string(rows_old) + " to " +
                std::to_string(rows_now) + " rows";
    return l;
  }
  const int64_t c = s["complete_blocks"].get<int64_t>();
  if (c != CompleteBlocks(plan.partition, rows_old)) return malformed("complete_blocks");
  Result<std::vector<uint64_t>> sums = ParseChecksums(s["block_checksums"].get<std::string>(), c);
  if (!sums.ok()) return malformed("block_checksums");
  l.complete_blocks = c;
  l.block_checksums = std::move(*sums);
  l.run = s["verify_run"].get<int64_t>();
  const Json& tail = s["tail"];
  const int64_t t0 = tail["rows"][0].get<int64_t>(), t1 = tail["rows"][1].get<int64_t>();
  if (t0 != RowOfBlock(plan.partition, c) || t1 != rows_old) return malformed("tail.rows");
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Source> source, ChecksumSource(plan));
  for (int64_t b = 0; b < c; ++b) {
    if (!verify && b % kStateVerifyRuns != l.run % kStateVerifyRuns) continue;
    MM_ASSIGN_OR_RETURN(uint64_t h, BlockChecksum(source.get(), b));
    if (h != l.block_checksums[static_cast<size_t>(b)]) {
      l.discard = "rows already seen changed (block " + std::to_string(b) + "'s checksum differs)";
      return l;
    }
  }
  const uint64_t re = plan.dataset.layout.row_elements();
  MM_ASSIGN_OR_RETURN(uint64_t h, RangeChecksum(source.get(), static_cast<uint64_t>(t0) * re,
                                                static_cast<uint64_t>(t1) * re));
  if (ChecksumHex(h) != tail["checksum"].get<std::string>()) {
    l.discard = "rows already seen changed (rows [" + std::to_string(t0) + ", " +
                std::to_string(t1) + ") differ)";
    return l;
  }
  Status st = PushNodes(plan, 0, s["nodes"], what, Code::kDataErr, tree);
  if (!st.ok()) return Error(Code::kDataErr, st.message() + hint);
  if (TreeEnd(*tree) != c) return malformed("nodes");
  return l;
}

}  // namespace

Result<Json> ParseState(const std::string& text, const std::string& what) {
  MM_ASSIGN_OR_RETURN(Json s, ParseJson(text, what, Code::kDataErr));
  if (!s.is_object() || !s.contains("format") || s["format"] != "mmrun-state")
    return Error(Code::kDataErr,
                 what + ": not an mmrun state file (no \"format\": \"mmrun-state\")");
  MM_RETURN_IF_ERROR(CheckFields(s, {{"/version", JsonKind::kInt}}, what, Code::kDataErr));
  if (s["version"] != kStateFormatVersion) return s;
  MM_RETURN_IF_ERROR(CheckFields(s,
                                 {{"/config", JsonKind::kObject},
                                  {"/dataset", JsonKind::kObject},
                                  {"/rows", JsonKind::kUnsigned},
                                  {"/complete_blocks", JsonKind::kUnsigned},
                                  {"/verify_run", JsonKind::kUnsigned},
                                  {"/block_checksums", JsonKind::kString},
                                  {"/tail", JsonKind::kObject},
                                  {"/tail/rows", JsonKind::kArray},
                                  {"/tail/rows/0", JsonKind::kUnsigned},
                                  {"/tail/rows/1", JsonKind::kUnsigned},
                                  {"/tail/checksum", JsonKind::kString},
                                  {"/nodes", JsonKind::kArray},
                                  {"/checksum", JsonKind::kString}},
                                 what, Code::kDataErr));
  MM_RETURN_IF_ERROR(CheckSeal(s, what));
  return s;
}

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
                            Warnings* warnings, bool verify, Segment& segment, Launcher& launcher,
                            IncrementalStats* info) {
  const std::string path = AbsolutePath(state_path);
  const Partition& part = plan.partition;
  const int64_t rows = plan.dataset.layout.rows();
  NodeTree tree;
  int64_t reuse = 0;
  Loaded old;
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    MM_ASSIGN_OR_RETURN(old, LoadState(plan, path, verify, &tree));
    if (old.discard.empty()) {
      reuse = old.complete_blocks;
      info->state = "reused";
    } else {
      tree = NodeTree();
      info->state = "discarded";
      warnings->Add("--state " + path + ": " + old.discard +
                    "; discarding it and reading every row");
      old = Loaded();
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
    if (s == n_complete) state_nodes = EncodeNodes(tree.nodes());
    if (s == payloads.size()) break;
    MM_RETURN_IF_ERROR(
        PushPayload(plan, 0, std::move(payloads[s]), "worker " + std::to_string(s), &tree));
  }
  MM_RETURN_IF_ERROR(EndPassFromTree(plan, 0, &tree));
  MM_ASSIGN_OR_RETURN(Json results, FinishResults(plan));

  // Checksums of the complete blocks: the old state's for the blocks it
  // covered, the others read again now (they were just scanned: cached).
  std::vector<uint64_t> sums = std::move(old.block_checksums);
  sums.resize(static_cast<size_t>(std::min(reuse, complete)));
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Source> source, ChecksumSource(plan));
  std::string hex;
  hex.reserve(static_cast<size_t>(complete) * 16);
  for (int64_t b = 0; b < complete; ++b) {
    if (b >= static_cast<int64_t>(sums.size())) {
      MM_ASSIGN_OR_RETURN(uint64_t h, BlockChecksum(source.get(), b));
      sums.push_back(h);
    }
    hex += ChecksumHex(sums[static_cast<size_t>(b)]);
  }
  const uint64_t re = plan.dataset.layout.row_elements();
  MM_ASSIGN_OR_RETURN(uint64_t tail_sum,
                      RangeChecksum(source.get(), static_cast<uint64_t>(tail_row) * re,
                                    static_cast<uint64_t>(rows) * re));
  source.reset();
  Json state = Json::object();
  state["format"] = "mmrun-state";
  state["version"] = kStateFormatVersion;
  state["mmrun_version"] = kVersion;
  state["config"] = nlohmann::json::parse(CanonicalConfig(plan));
  state["dataset"] = StateDatasetIdentity(plan.dataset, plan.partition);
  state["rows"] = rows;
  state["complete_blocks"] = complete;
  state["verify_run"] = info->state == "reused" ? old.run + 1 : 0;
  state["block_checksums"] = std::move(hex);
  state["tail"] =
      Json{{"rows", Json::array({tail_row, rows})}, {"checksum", ChecksumHex(tail_sum)}};
  state["nodes"] = std::move(state_nodes);
  SealDocument(&state);
  // Written 0600 (ReadTrustedState refuses a state others may write) and
  // renamed over the old one.
  MM_ASSIGN_OR_RETURN(TempOutput out, TempOutput::Create(path, "--state"));
  if (::fchmod(out.fd(), 0600) != 0)
    return FromErrno(errno, "--state " + path + ": chmod 0600", Code::kCantCreate);
  MM_RETURN_IF_ERROR(out.Write(JsonText(state) + "\n"));
  MM_RETURN_IF_ERROR(out.Commit());
  info->rows_reused = start_row;
  info->rows_read = rows - start_row;
  return results;
}

}  // namespace mm
