#include "runner/shard.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "core/checksum.h"
#include "engine/config.h"
#include "io/file_identity.h"
#include "io/files.h"
#include "runner/commands.h"
#include "runner/plot_command.h"

namespace mm {

namespace {

Status UsageError(const std::string& msg) {
  return Error(Code::kUsage, msg + " (see mmrun --help)");
}

// A non-negative decimal integer that fits an int, or -1.
long ParseCount(const std::string& s) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::strtol(s.c_str(), nullptr, 10);
}

}  // namespace

Result<ShardSpec> ParseShard(const std::string& arg) {
  if (arg == "auto")
    return ShardFromSlurm([](const char* name) -> const char* { return std::getenv(name); });
  const size_t slash = arg.find('/');
  const long i = slash == std::string::npos ? -1 : ParseCount(arg.substr(0, slash));
  const long n = slash == std::string::npos ? -1 : ParseCount(arg.substr(slash + 1));
  if (i < 0 || n < 1)
    return UsageError("--shard takes I/N (0 <= I < N) or auto, got '" + arg + "'");
  if (i >= n)
    return UsageError("--shard " + arg + ": shard index " + std::to_string(i) + " is not below " +
                      std::to_string(n) + " (shards are numbered from 0)");
  return ShardSpec{static_cast<int>(i), static_cast<int>(n)};
}

Result<ShardSpec> ShardFromSlurm(const char* (*get)(const char*)) {
  auto read = [&](const char* name, long fallback, long* out) -> Status {
    const char* v = get(name);
    if (v == nullptr || *v == '\0') {
      if (fallback < 0)
        return UsageError(
            std::string("--shard auto: ") + name +
            " is not set (auto takes the shard from a SLURM job array; elsewhere use --shard I/N)");
      *out = fallback;
      return Status::OK();
    }
    *out = ParseCount(v);
    if (*out < 0)
      return UsageError(std::string("--shard auto: ") + name + "='" + v +
                        "' is not a non-negative integer");
    return Status::OK();
  };
  long id = 0, min = 0, step = 1, count = 0;
  MM_RETURN_IF_ERROR(read("SLURM_ARRAY_TASK_ID", -1, &id));
  MM_RETURN_IF_ERROR(read("SLURM_ARRAY_TASK_COUNT", -1, &count));
  MM_RETURN_IF_ERROR(read("SLURM_ARRAY_TASK_MIN", 0, &min));
  MM_RETURN_IF_ERROR(read("SLURM_ARRAY_TASK_STEP", 1, &step));
  const std::string vars = "SLURM_ARRAY_TASK_ID=" + std::to_string(id) +
                           ", MIN=" + std::to_string(min) + ", STEP=" + std::to_string(step) +
                           ", COUNT=" + std::to_string(count);
  if (step < 1 || count < 1 || id < min || (id - min) % step != 0 || (id - min) / step >= count)
    return UsageError("--shard auto: " + vars +
                      " do not make task ids MIN, MIN+STEP, ... (COUNT of them); use --shard I/N "
                      "for other arrays");
  return ShardSpec{static_cast<int>((id - min) / step), static_cast<int>(count)};
}

Status CheckSinglePass(const Plan& plan, const std::string& flag) {
  for (const auto& a : plan.analyses) {
    const Capabilities& caps = a->capabilities();
    if (caps.writes_dataset)
      return OpError(
          *a, "writes the dataset; " + flag + " works only with analyses that read it in one pass");
    if (caps.writes_outputs)
      return OpError(*a, "writes its output while scanning; " + flag +
                             " works only with analyses whose partials merge (stats, cov, "
                             "histogram with a range)");
    if (a->passes() != 1)
      return OpError(*a, "needs " + std::to_string(a->passes()) + " passes over the data; " + flag +
                             " works only with single-pass analyses (give a histogram its range; "
                             "quantiles cannot be split: run them without " +
                             flag + ")");
  }
  return Status::OK();
}

std::string CanonicalConfig(const Plan& plan) {
  // nlohmann::json (not ordered_json) keeps object keys sorted.
  return nlohmann::json::parse(plan.config_json.dump()).dump();
}

Result<Json> DatasetIdentity(const Plan& plan) {
  struct stat st;
  // The file the workers read (the run's descriptor), not whatever the path
  // names now.
  if (::fstat(plan.dataset.fd(), &st) != 0)
    return FromErrno(errno, plan.dataset.path, Code::kIoErr);
  Json j = DatasetJson(plan.dataset);
  j["file_bytes"] = static_cast<uint64_t>(st.st_size);
  j["mtime_ns"] = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return j;
}

std::pair<int64_t, int64_t> ShardRows(const Plan& plan, const ShardSpec& shard) {
  return plan.partition.RowsOf(shard.index, shard.count);
}

Result<Json> RunShard(Plan& plan, const ShardSpec& shard, const RunSettings& settings,
                      Segment& segment, Launcher& launcher) {
  const auto rows = ShardRows(plan, shard);
  MM_ASSIGN_OR_RETURN(Json identity, DatasetIdentity(plan));
  const std::vector<RowRange> ranges = SplitRows(plan, settings.workers, rows.first, rows.second);
  NodeTree tree;
  const int64_t first_block = plan.partition.first_block_of_row(rows.first);
  if (!ranges.empty()) {
    MM_ASSIGN_OR_RETURN(std::vector<std::string> payloads,
                        RunWorkers(plan, 0, ranges, settings, segment, launcher));
    for (size_t s = 0; s < payloads.size(); ++s)
      MM_RETURN_IF_ERROR(PushPayload(plan, 0, std::move(payloads[s]), "worker " + std::to_string(s),
                                     &tree, first_block));
  }
  Json part = Json::object();
  part["format"] = "mmrun-part";
  part["version"] = kPartFormatVersion;
  part["shard"] = Json{{"index", shard.index},
                       {"count", shard.count},
                       {"rows", Json::array({rows.first, rows.second})},
                       {"blocks", Json::array({plan.partition.first_block_of_row(rows.first),
                                               plan.partition.first_block_of_row(rows.second)})}};
  part["config"] = nlohmann::json::parse(CanonicalConfig(plan));
  part["dataset"] = std::move(identity);
  part["plan"] = plan.ToJson(0);
  part["nodes"] = EncodeNodes(tree.nodes());
  return part;
}

Json PartDocument(Json part, const RunSummary& summary, const std::string& config_path) {
  Json doc = Json::object();
  doc["format"] = part["format"];
  doc["version"] = part["version"];
  doc["mmrun"] = MmrunSection(summary);
  for (auto it = part.begin(); it != part.end(); ++it)
    if (!doc.contains(it.key()) && it.key() != "nodes") doc[it.key()] = it.value();
  const std::string canonical = part["config"].dump();
  doc["config_id"] = ChecksumHex(Checksum64(canonical.data(), canonical.size()));
  doc["config_path"] = config_path;
  doc["nodes"] = std::move(part["nodes"]);
  SealDocument(&doc);
  return doc;
}

Result<Part> ParsePart(const std::string& text, const std::string& path) {
  const std::string what = "part " + path;
  Part p;
  p.path = path;
  MM_ASSIGN_OR_RETURN(p.doc, ParseJson(text, what, Code::kDataErr));
  const Json& d = p.doc;
  if (!d.is_object() || !d.contains("format") || d["format"] != "mmrun-part")
    return Error(Code::kDataErr,
                 what +
                     ": not an mmrun part file (no \"format\": \"mmrun-part\"; write "
                     "parts with mmrun --shard I/N -o FILE)");
  if (!d.contains("version") || !d["version"].is_number_integer() ||
      d["version"].get<int64_t>() != kPartFormatVersion)
    return Error(Code::kDataErr,
                 what + ": part format version " +
                     (d.contains("version") ? d["version"].dump() : std::string("(none)")) +
                     "; this mmrun " + kVersion + " reads version " +
                     std::to_string(kPartFormatVersion) + " (rerun the shards with this mmrun)");
  MM_RETURN_IF_ERROR(CheckFields(d,
                                 {{"/mmrun", JsonKind::kObject},
                                  {"/mmrun/workers", JsonKind::kUnsigned},
                                  {"/mmrun/bytes_scanned", JsonKind::kUnsigned},
                                  {"/shard", JsonKind::kObject},
                                  {"/shard/index", JsonKind::kInt},
                                  {"/shard/count", JsonKind::kInt},
                                  {"/shard/rows", JsonKind::kArray},
                                  {"/shard/rows/0", JsonKind::kInt},
                                  {"/shard/rows/1", JsonKind::kInt},
                                  {"/config", JsonKind::kObject},
                                  {"/config_id", JsonKind::kString},
                                  {"/config_path", JsonKind::kString},
                                  {"/dataset", JsonKind::kObject},
                                  {"/plan", JsonKind::kObject},
                                  {"/plan/config", JsonKind::kObject},
                                  {"/plan/config_dir", JsonKind::kString},
                                  {"/plan/dataset", JsonKind::kObject},
                                  {"/plan/pass", JsonKind::kInt},
                                  {"/plan/pass_inputs", JsonKind::kArray},
                                  {"/plan/map_path", JsonKind::kString},
                                  {"/nodes", JsonKind::kArray},
                                  {"/checksum", JsonKind::kString}},
                                 what, Code::kDataErr));
  MM_RETURN_IF_ERROR(CheckSeal(d, what));
  if (const std::string key = FindNulString(d); !key.empty())
    return Error(Code::kDataErr, what + ": key '" + key + "' holds a NUL byte");
  const Json& s = d["shard"];
  if (s["rows"].size() != 2 || !s["index"].is_number_integer() || s["count"].get<int64_t>() < 1 ||
      s["count"].get<int64_t>() > (int64_t{1} << 30) || s["index"].get<int64_t>() < 0 ||
      s["index"].get<int64_t>() >= s["count"].get<int64_t>())
    return Error(Code::kDataErr, what + ": malformed \"shard\" " + s.dump());
  p.shard.index = static_cast<int>(s["index"].get<int64_t>());
  p.shard.count = static_cast<int>(s["count"].get<int64_t>());
  return p;
}

// ---------------------------------------------------------------- merge

namespace {

Result<Part> ReadPart(const std::string& path) {
  MM_ASSIGN_OR_RETURN(std::string text,
                      ReadRegularFile(path, "part " + path, kMaxDocumentBytes, Code::kDataErr));
  return ParsePart(text, path);
}

// The first key whose value differs between two identity objects.
std::string FirstDifference(const Json& a, const Json& b) {
  for (auto it = a.begin(); it != a.end(); ++it)
    if (!b.contains(it.key()) || b[it.key()] != it.value())
      return it.key() + " " + it.value().dump() + " vs " +
             (b.contains(it.key()) ? b[it.key()].dump() : "(none)");
  for (auto it = b.begin(); it != b.end(); ++it)
    if (!a.contains(it.key())) return it.key();
  return "";
}

// Recomputes the plan from the config file the parts name — never from
// what a part says alone, so an edited part cannot choose merge's output —
// and checks that every part's plan is that plan. Errors: the config file
// missing (66) or unreadable; kDataErr naming the part whose config or plan
// differs.
Result<std::unique_ptr<Plan>> PlanOfConfig(const Part& first, const std::vector<Part>& parts) {
  const std::string config_path = first.doc["config_path"].get<std::string>();
  Result<Json> config = ReadConfigJson(config_path);
  if (!config.ok()) return config.status().WithContext("part " + first.path + " names its config");
  const std::string canonical = nlohmann::json::parse(config->dump()).dump();
  if (canonical != first.doc["config"].dump())
    return Error(Code::kDataErr,
                 "part " + first.path + ": its config differs from " + config_path +
                     " (the config changed since the shards ran; rerun every shard)");
  Json plan_json = first.doc["plan"];
  plan_json["config"] = *config;
  plan_json["config_dir"] = DirName(config_path);
  Result<std::unique_ptr<Plan>> built = Plan::FromJson(plan_json);
  if (!built.ok()) return built.status().WithContext("part " + first.path);
  // Parts carry partials: their pass inputs must be those of a run that
  // keeps them (never the files a coordinator made, whatever a part says).
  (*built)->KeepPartials();
  const Json expect = (*built)->ToJson(0);
  for (const Part& p : parts)
    if (p.doc["plan"] != expect)
      return Error(Code::kDataErr, "part " + p.path + ": its plan differs from the plan of " +
                                       config_path + " (" + FirstDifference(p.doc["plan"], expect) +
                                       ")");
  return built;
}

std::string ShardText(const ShardSpec& s) {
  return std::to_string(s.index) + "/" + std::to_string(s.count);
}

Status Merge(const std::vector<std::string>& args) {
  RunSummary summary;
  summary.started = std::chrono::steady_clock::now();
  std::vector<std::string> paths;
  std::string output;
  bool output_flag = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-o" || a == "--output") {
      if (i + 1 >= args.size()) return UsageError("merge: " + a + " needs a FILE");
      output = args[++i];
      output_flag = true;
    } else if (a.rfind("--output=", 0) == 0) {
      output = a.substr(9);
      output_flag = true;
    } else if (a == "-q" || a == "--quiet") {
      // Nothing but errors goes to stderr anyway.
    } else if (a.size() > 1 && a[0] == '-') {
      return UsageError("merge: unknown option '" + a + "'");
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty())
    return UsageError(
        "merge takes the part files of every shard: mmrun merge PART.json... [-o OUT]");
  if (output_flag && output.empty()) return UsageError("merge: -o needs a FILE");
  std::vector<Part> parts;
  for (const std::string& p : paths) {
    MM_ASSIGN_OR_RETURN(Part part, ReadPart(p));
    parts.push_back(std::move(part));
  }
  const Part& first = parts[0];
  std::map<int, const Part*> by_index;
  for (const Part& p : parts) {
    if (p.doc["config"] != first.doc["config"])
      return Error(Code::kDataErr, "part " + p.path + ": from another config than part " +
                                       first.path + " (every part must come from the same config)");
    if (p.doc["dataset"] != first.doc["dataset"])
      return Error(Code::kDataErr, "part " + p.path + ": the dataset differs from part " +
                                       first.path + " (" +
                                       FirstDifference(p.doc["dataset"], first.doc["dataset"]) +
                                       "): the file changed between shards; rerun every shard");
    if (p.shard.count != first.shard.count)
      return Error(Code::kDataErr, "part " + p.path + " is shard " + ShardText(p.shard) +
                                       " but part " + first.path + " is shard " +
                                       ShardText(first.shard) +
                                       " (the parts come from different splits)");
    auto ins = by_index.emplace(p.shard.index, &p);
    if (!ins.second)
      return Error(Code::kDataErr, "parts " + ins.first->second->path + " and " + p.path +
                                       " are both shard " + ShardText(p.shard) +
                                       " (give each shard once)");
  }
  const int n = first.shard.count;
  if (static_cast<int>(by_index.size()) != n) {
    std::string missing;
    int count = 0;
    for (int i = 0; i < n; ++i) {
      if (by_index.count(i)) continue;
      if (count < 10)
        missing += (missing.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(n);
      ++count;
    }
    if (count > 10) missing += ", ...";
    return Error(Code::kDataErr, "merge: missing shard" + std::string(count > 1 ? "s " : " ") +
                                     missing + " (" + std::to_string(count) + " of " +
                                     std::to_string(n) + "; merge needs every shard 0.." +
                                     std::to_string(n - 1) + " once)");
  }
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Plan> built, PlanOfConfig(first, parts));
  Plan& plan = *built;
  if (plan.passes.size() != 1)
    return Error(Code::kDataErr, "part " + first.path + ": its config needs " +
                                     std::to_string(plan.passes.size()) +
                                     " passes; parts hold one");
  NodeTree tree;
  uint64_t bytes = 0;
  int64_t workers = 0;
  for (const auto& entry : by_index) {
    const Part& p = *entry.second;
    const auto rows = ShardRows(plan, p.shard);
    const Json& r = p.doc["shard"]["rows"];
    if (!r[0].is_number_integer() || !r[1].is_number_integer() ||
        r[0].get<int64_t>() != rows.first || r[1].get<int64_t>() != rows.second)
      return Error(Code::kDataErr, "part " + p.path + ": rows " + r.dump() + " are not shard " +
                                       ShardText(p.shard) + "'s rows [" +
                                       std::to_string(rows.first) + ", " +
                                       std::to_string(rows.second) + ")");
    MM_RETURN_IF_ERROR(PushNodes(plan, 0, p.doc["nodes"], "part " + p.path, Code::kDataErr, &tree));
    if (!tree.empty() && TreeEnd(tree) != plan.partition.first_block_of_row(rows.second))
      return Error(Code::kDataErr, "part " + p.path + ": its tree nodes end at block " +
                                       std::to_string(TreeEnd(tree)) +
                                       ", not at the end of shard " + ShardText(p.shard));
    bytes += p.doc["mmrun"]["bytes_scanned"].get<uint64_t>();
    workers += p.doc["mmrun"]["workers"].get<int64_t>();
  }
  MM_RETURN_IF_ERROR(PreparePass(plan, 0));
  {
    Status st = EndPassFromTree(plan, 0, &tree);
    if (!st.ok()) return Error(Code::kDataErr, "merge: " + st.message());
  }
  summary.workers = workers;
  summary.launch = "merge";
  summary.rows = plan.dataset.layout.rows();
  summary.bytes_scanned = bytes;
  summary.passes = plan.passes.size();
  summary.shards = n;
  // -o, else the config's output (where one run would have written), else stdout.
  const std::string target =
      ResultTarget(output_flag ? AbsolutePath(output) : plan.config.run.output.value_or(""));
  std::vector<NamedFile> inputs = {
      NamedFile{plan.dataset.path, "dataset.path"},  // identity, not names
      NamedFile{first.doc["config_path"].get<std::string>(), "the parts' config"}};
  for (const auto& entry : by_index) inputs.push_back(NamedFile{entry.second->path, "part"});
  if (!target.empty()) {
    const NamedFile result{target, output_flag ? "-o" : "config key 'output'"};
    MM_RETURN_IF_ERROR(CheckOutput(result, inputs));
    inputs.push_back(result);
  }
  // The PREFIX.FIELD.npy files of per-lane results, as one run checks them
  // (never a part, the dataset, the config or the result).
  for (const auto& an : plan.analyses)
    for (const std::string& path : an->CreatedFiles()) {
      const NamedFile file{
          path, "config key 'analyses[" + std::to_string(an->spec().index) + "].output'"};
      MM_RETURN_IF_ERROR(CheckOutput(file, inputs));
      inputs.push_back(file);
    }
  // The pictures of the config's "plot" keys, as one run would draw them.
  MM_RETURN_IF_ERROR(CheckPlotOutputs(plan, inputs));
  MM_ASSIGN_OR_RETURN(DocumentOutput out, DocumentOutput::Open(target));
  MM_ASSIGN_OR_RETURN(RunPlots plots, RunPlots::Open(plan, false));
  // Results last: they write the PREFIX.FIELD.npy files, which a failure
  // after names.
  MM_ASSIGN_OR_RETURN(Json results, FinishResults(plan));
  std::string committed = WrittenList(CommittedOutputs());
  Json doc =
      ResultDocument(summary, plan.dataset, std::move(results), nullptr, AnalysesSection(plan));
  MM_RETURN_IF_ERROR(plots.Draw(doc, &committed));
  const Status st = out.Write(std::move(doc));
  return st.ok() || committed.empty()
             ? st
             : Error(st.code(),
                     st.message() + ": " + committed + "; the result document was not written");
}

}  // namespace

Status MergeCommand(const std::vector<std::string>& args) {
  try {
    return Merge(args);
  } catch (const nlohmann::json::exception& e) {
    // Every key is type-checked by ParsePart; this only keeps a missed one
    // from aborting the process.
    return Error(Code::kDataErr, std::string("merge: malformed part: ") + e.what());
  }
}

}  // namespace mm
