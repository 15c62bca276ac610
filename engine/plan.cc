#include "engine/plan.h"

#include <algorithm>
#include <optional>

#include "core/strings.h"

namespace mm {

namespace {

Json DatasetInternalJson(const Dataset& d) {
  Json j = DatasetJson(d);
  j["mode"] = d.mode;
  j["npy_major"] = d.npy_major;
  j["npy_minor"] = d.npy_minor;
  j["file_bytes"] = d.file_bytes;
  j["shape_spec"] = d.shape_spec;
  j["chunks"] = d.chunks;
  if (d.cf.decoded) j["cf_decoding"] = CfDecodingJson(d.cf);       // HDF5 CF (raw: no key)
  if (!d.hdf5_output.is_null()) j["hdf5_output"] = d.hdf5_output;  // generate writes HDF5
  j["dev"] = d.dev;  // a spawned worker checks the descriptor it receives against these
  j["ino"] = d.ino;
  return j;
}

Result<Dataset> DatasetFromInternalJson(const Json& j) {
  Dataset d;
  try {
    d.path = j.at("path").get<std::string>();
    d.format = j.at("format").get<std::string>();
    d.mode = j.at("mode").get<std::string>();
    d.npy_major = j.at("npy_major").get<int>();
    d.npy_minor = j.at("npy_minor").get<int>();
    MM_ASSIGN_OR_RETURN(d.layout.dtype, ParseDType(j.at("dtype").get<std::string>()));
    d.layout.shape = j.at("shape").get<std::vector<int64_t>>();
    d.layout.order = j.at("order").get<std::string>()[0];
    d.layout.offset = j.at("offset").get<uint64_t>();
    d.layout.trailing_bytes = j.at("trailing_bytes").get<uint64_t>();
    d.file_bytes = j.at("file_bytes").get<uint64_t>();
    d.shape_spec = j.at("shape_spec").get<std::vector<int64_t>>();
    d.chunks = j.at("chunks").get<std::vector<int64_t>>();
    if (j.contains("layout")) {  // HDF5 (DatasetJson)
      d.name = j.at("name").get<std::string>();
      d.storage = j.at("layout").get<std::string>();
    }
    if (j.contains("hdf5_output")) d.hdf5_output = j.at("hdf5_output");
    if (j.contains("cf_decoding")) {
      MM_ASSIGN_OR_RETURN(d.cf, CfDecodingFromJson(j.at("cf_decoding")));
    }
    d.dev = j.at("dev").get<uint64_t>();
    d.ino = j.at("ino").get<uint64_t>();
    if (!d.chunks.empty() &&
        (d.chunks.size() != d.layout.shape.size() || d.layout.order != 'C' ||
         std::any_of(d.chunks.begin(), d.chunks.end(), [](int64_t c) { return c < 1; })))
      return Error(Code::kDataErr, "plan: malformed dataset: bad chunks");
  } catch (const nlohmann::json::exception& e) {
    return Error(Code::kDataErr, std::string("plan: malformed dataset: ") + e.what());
  }
  return d;
}

}  // namespace

Status Plan::BuildAnalyses() {
  for (const AnalysisSpec& spec : config.analyses) {
    MM_ASSIGN_OR_RETURN(std::unique_ptr<Analysis> a, MakeAnalysis(spec, dataset, partition));
    analyses.push_back(std::move(a));
  }
  if (dataset.mode == "w+" && !analyses[0]->capabilities().creates_dataset)
    return Error(Code::kConfig,
                 "config key 'analyses[0].op': mode w+ creates the dataset, so the first "
                 "analysis must be " +
                     Join(OpsCreatingDataset(), " or "));
  PlanPasses();
  return Status::OK();
}

void Plan::KeepPartials() {
  for (const auto& a : analyses) a->KeepPartials();
  PlanPasses();
}

void Plan::PlanPasses() {
  passes.clear();
  const int n = static_cast<int>(analyses.size());
  auto writes = [&](int i) {
    return analyses[static_cast<size_t>(i)]->capabilities().writes_dataset;
  };
  for (int i = 0; i < n;) {
    if (writes(i)) {
      for (int p = 0; p < analyses[static_cast<size_t>(i)]->passes(); ++p)
        passes.push_back(
            PassPlan{{PassStep{i, p}}, analyses[static_cast<size_t>(i)]->WritesInPass(p)});
      ++i;
      continue;
    }
    int j = i, most = 0;
    while (j < n && !writes(j)) most = std::max(most, analyses[static_cast<size_t>(j++)]->passes());
    for (int p = 0; p < most; ++p) {
      PassPlan pass;
      for (int k = i; k < j; ++k)
        if (p < analyses[static_cast<size_t>(k)]->passes()) pass.steps.push_back(PassStep{k, p});
      passes.push_back(pass);
    }
    i = j;
  }
}

Result<std::unique_ptr<Plan>> Plan::Build(const Json& config_json, const std::string& config_dir) {
  auto plan = std::make_unique<Plan>();
  plan->config_json = config_json;
  plan->config_dir = config_dir;
  MM_ASSIGN_OR_RETURN(plan->config, ParseConfig(config_json, config_dir));
  // Before the dataset is opened: without w+ a missing file would hide the fix.
  for (const AnalysisSpec& a : plan->config.analyses)
    if (OpCreatesDataset(a.op) && plan->config.dataset.mode != "w+")
      return Error(Code::kConfig,
                   "config key 'dataset.mode': analyses[" + std::to_string(a.index) + "] is " +
                       a.op + ", which creates the dataset: set \"mode\": \"w+\" (it is \"" +
                       plan->config.dataset.mode + "\")");
  MM_ASSIGN_OR_RETURN(plan->dataset, OpenDataset(plan->config.dataset));
  plan->partition = PartitionOf(plan->dataset);
  MM_RETURN_IF_ERROR(plan->BuildAnalyses());
  // The HDF5 file generate writes is described only once it exists.
  if (plan->dataset.mode == "w+" && plan->dataset.format == "hdf5" && plan->analyses.size() > 1)
    return Error(Code::kConfig,
                 "config key 'analyses[1]': a run that generates an HDF5 file (" +
                     plan->dataset.path +
                     ") does nothing else; run the other analyses over the file in a second run");
  return plan;
}

Result<std::unique_ptr<Plan>> Plan::FromJson(const Json& j) {
  auto plan = std::make_unique<Plan>();
  if (!j.is_object() || !j.contains("config") || !j.contains("config_dir") ||
      !j.contains("dataset") || !j.contains("pass_inputs") || !j["config_dir"].is_string() ||
      (j.contains("pass") && !j["pass"].is_number_integer()))
    return Error(Code::kDataErr, "plan: malformed");
  plan->config_json = j["config"];
  plan->config_dir = j["config_dir"].get<std::string>();
  MM_ASSIGN_OR_RETURN(plan->config, ParseConfig(plan->config_json, plan->config_dir));
  MM_ASSIGN_OR_RETURN(plan->dataset, DatasetFromInternalJson(j["dataset"]));
  plan->partition = PartitionOf(plan->dataset);
  MM_RETURN_IF_ERROR(plan->BuildAnalyses());
  const int64_t wide_pass = j.value("pass", int64_t{0});  // checked before it narrows
  if (wide_pass < 0 || wide_pass >= static_cast<int64_t>(plan->passes.size()))
    return Error(Code::kDataErr, "plan: bad pass");
  const int pass = static_cast<int>(wide_pass);
  const Json& inputs = j["pass_inputs"];
  const auto& steps = plan->passes[static_cast<size_t>(pass)].steps;
  if (!inputs.is_array() || inputs.size() != steps.size())
    return Error(Code::kDataErr, "plan: bad pass inputs");
  for (size_t s = 0; s < steps.size(); ++s)
    MM_RETURN_IF_ERROR(plan->analyses[static_cast<size_t>(steps[s].analysis)]->SetPassInput(
        steps[s].pass, inputs[s]));
  // A pass input may have put an analysis back on partials (KeepPartials:
  // a shard's part read by mmrun merge), which can change its passes.
  const size_t step_count = steps.size();  // `steps` goes with the old passes
  plan->PlanPasses();
  if (pass >= static_cast<int>(plan->passes.size()) ||
      plan->passes[static_cast<size_t>(pass)].steps.size() != step_count)
    return Error(Code::kDataErr, "plan: bad pass");
  return plan;
}

bool Plan::PassNeeded(int pass) const {
  for (const PassStep& s : passes[static_cast<size_t>(pass)].steps)
    if (analyses[static_cast<size_t>(s.analysis)]->PassNeeded(s.pass)) return true;
  return false;
}

bool Plan::BlockNeeded(int pass, int64_t b) const {
  const PassPlan& p = passes[static_cast<size_t>(pass)];
  std::optional<Box> box;
  if (partition.chunked()) box = partition.BlockBox(b);
  for (const PassStep& s : p.steps) {
    const Analysis& a = *analyses[static_cast<size_t>(s.analysis)];
    if (box ? a.NeedsBox(s.pass, *box)
            : a.NeedsBlock(s.pass, partition.block_begin(b), partition.block_end(b)))
      return true;
  }
  return false;
}

bool Plan::PassReadsParts(int pass) const {
  for (const PassStep& s : passes[static_cast<size_t>(pass)].steps)
    if (analyses[static_cast<size_t>(s.analysis)]->ReadsParts(s.pass)) return true;
  return false;
}

Box Plan::BlockPart(int pass, int64_t b) const {
  const Box box = *partition.BlockBox(b);
  std::optional<Box> part;
  for (const PassStep& s : passes[static_cast<size_t>(pass)].steps) {
    const Analysis& a = *analyses[static_cast<size_t>(s.analysis)];
    if (!a.NeedsBox(s.pass, box)) continue;
    const Box mine = a.PartOfBox(s.pass, box);
    part = part ? Hull(*part, mine) : mine;
  }
  return part ? *part : box;
}

uint64_t Plan::BytesRead(int pass, int64_t row_lo, int64_t row_hi) const {
  const PassPlan& p = passes[static_cast<size_t>(pass)];
  // A pass that writes a new file (generate) reads nothing; an in-place
  // transform reads the blocks it rewrites.
  if (p.skipped || row_lo >= row_hi || (p.writes && MapPath(pass) != dataset.path)) return 0;
  auto needed = [&](int64_t b) { return BlockNeeded(pass, b); };
  uint64_t elems = 0;
  if (partition.chunked()) {
    // The chunks a scan of the rows reads (engine/scan.cc): chunks of the
    // grid layers starting in [row_lo, row_hi), their elements (not their
    // hulls), or those of their parts (the drivers of chunked storage read
    // parts).
    const bool parts = !p.writes && PassReadsParts(pass);
    for (int64_t b = partition.first_block_of_row(row_lo), e = partition.first_block_of_row(row_hi);
         b < e; ++b)
      if (needed(b)) elems += parts ? BlockPart(pass, b).elements() : partition.block_elements(b);
    return elems * static_cast<uint64_t>(dataset.layout.dtype.itemsize());
  }
  const uint64_t row_elems = dataset.layout.row_elements();
  const uint64_t lo = static_cast<uint64_t>(row_lo) * row_elems,
                 hi = static_cast<uint64_t>(row_hi) * row_elems;
  // Blocks of whole rows may be read in parts (the same part of each row).
  const bool parts = !p.writes && partition.rows_per_block() > 0 && PassReadsParts(pass);
  for (int64_t b = partition.block_of_row(row_lo);
       b < partition.blocks() && partition.block_begin(b) < hi; ++b) {
    const uint64_t begin = std::max(lo, partition.block_begin(b)),
                   end = std::min(hi, partition.block_end(b));
    if (!needed(b)) continue;
    elems += parts ? (end - begin) / row_elems *
                         (BlockPart(pass, b).elements() / partition.BlockBox(b)->count[0])
                   : end - begin;
  }
  return elems * static_cast<uint64_t>(dataset.layout.dtype.itemsize());
}

std::string Plan::MapPath(int pass) const {
  const PassPlan& p = passes[static_cast<size_t>(pass)];
  if (p.writes) return analyses[static_cast<size_t>(p.steps[0].analysis)]->WritePath();
  return dataset.path;
}

Json Plan::ToJson(int pass, bool binary) const {
  Json j = Json::object();
  j["config"] = config_json;
  j["config_dir"] = config_dir;
  j["dataset"] = DatasetInternalJson(dataset);
  j["pass"] = pass;
  Json inputs = Json::array();
  for (const PassStep& s : passes[static_cast<size_t>(pass)].steps)
    inputs.push_back(analyses[static_cast<size_t>(s.analysis)]->PassInput(s.pass));
  if (!binary) BinaryToBase64(&inputs);
  j["pass_inputs"] = std::move(inputs);
  j["map_path"] = MapPath(pass);
  return j;
}

Json Plan::Describe() const {
  Json j = Json::object();
  j["dataset"] = DatasetJson(dataset);
  j["rows"] = dataset.layout.rows();
  j["blocks"] = partition.blocks();
  Json ps = Json::array();
  for (const PassPlan& p : passes) {
    Json steps = Json::array();
    for (const PassStep& s : p.steps) {
      const Analysis& a = *analyses[static_cast<size_t>(s.analysis)];
      steps.push_back(Json{{"analysis", a.name()}, {"op", a.op()}, {"pass", s.pass}});
    }
    ps.push_back(Json{{"writes", p.writes}, {"analyses", steps}});
  }
  j["passes"] = ps;
  return j;
}

}  // namespace mm
