#include "analysis/analysis.h"

#include <algorithm>

#include "analysis/convert.h"
#include "analysis/cov.h"
#include "analysis/generate.h"
#include "analysis/histogram.h"
#include "analysis/quantiles.h"
#include "analysis/slice.h"
#include "analysis/stats.h"
#include "analysis/transform.h"
#include "core/strings.h"
#include "io/files.h"

namespace mm {

namespace {

using Factory = Result<std::unique_ptr<Analysis>> (*)(const AnalysisSpec&, const Dataset&,
                                                      const Partition&);

struct Registration {
  const char* op;
  Factory make;
  bool creates_dataset = false;  // Capabilities::creates_dataset
  // The parameters its result echoes (Analysis::parameters), as a JSON
  // object of their defaults; nullptr: none.
  const char* echoed = nullptr;
};

constexpr bool kCreatesDataset = true;

// The registry: one line per analysis, the only list of ops.
const Registration kRegistry[] = {
    {"stats", &MakeStats, false, R"({"axis": null, "ddof": 0})"},
    {"generate", &MakeGenerate, kCreatesDataset},
    {"cov", &MakeCov, false, R"({"axis": 0, "ddof": 1})"},
    {"slice", &MakeSlice},
    {"convert", &MakeConvert},
    {"histogram", &MakeHistogram, false, R"({"bins": 10, "range": null, "axis": null})"},
    {"quantiles", &MakeQuantiles, false, R"({"q": null, "method": "linear", "axis": null})"},
    {"transform", &MakeTransform},
};

}  // namespace

bool Analysis::NeedsBox(int pass, const Box& box) const {
  const auto [first, end] = StorageSpan(dataset_.layout, box);
  return NeedsBlock(pass, first, end);
}

Json TempFilesJson(const TempFiles& f) {
  return Json{{"temp_path", f.temp_path},
              {"temp_id", {f.temp_id.dev, f.temp_id.ino}},
              {"spool_path", f.spool_path},
              {"spool_id", {f.spool_id.dev, f.spool_id.ino}},
              {"data_offset", f.data_offset}};
}

Result<TempFiles> TempFilesFromJson(const Json& j, const std::string& who) {
  const auto is_id = [&j](const char* key) {
    const Json* v = j.is_object() && j.contains(key) ? &j[key] : nullptr;
    return v != nullptr && v->is_array() && v->size() == 2 && (*v)[0].is_number_unsigned() &&
           (*v)[1].is_number_unsigned();
  };
  if (!j.is_object() || !j.contains("temp_path") || !j["temp_path"].is_string() ||
      !j.contains("spool_path") || !j["spool_path"].is_string() || !j.contains("data_offset") ||
      !j["data_offset"].is_number_unsigned() || !is_id("temp_id") || !is_id("spool_id"))
    return Error(Code::kDataErr, who + ": malformed pass input");
  TempFiles f;
  f.temp_path = j["temp_path"].get<std::string>();
  f.spool_path = j["spool_path"].get<std::string>();
  f.temp_id = FileId{j["temp_id"][0].get<uint64_t>(), j["temp_id"][1].get<uint64_t>()};
  f.spool_id = FileId{j["spool_id"][0].get<uint64_t>(), j["spool_id"][1].get<uint64_t>()};
  f.data_offset = j["data_offset"].get<uint64_t>();
  return f;
}

Status ParamError(const AnalysisSpec& spec, const std::string& key, const std::string& why) {
  return Error(Code::kConfig, "config key 'analyses[" + std::to_string(spec.index) + "]." + key +
                                  "' (" + spec.name + "): " + why);
}

Status OpError(const Analysis& a, const std::string& why) {
  return ParamError(a.spec(), "op", "'" + a.op() + "' " + why);
}

Result<std::string> ParseOutputPrefix(const AnalysisSpec& spec) {
  if (!spec.params.contains("output")) return std::string();
  const Json& o = spec.params["output"];
  if (!o.is_string() || o.get<std::string>().empty())
    return ParamError(spec, "output", "must be a path prefix");
  return ResolvePath(spec.dir, o.get<std::string>());
}

Result<std::vector<int>> ParseAxes(const AnalysisSpec& spec, const Json& axis, int ndim) {
  std::vector<int> axes;
  if (axis.is_null()) {
    for (int a = 0; a < ndim; ++a) axes.push_back(a);
    return axes;
  }
  std::vector<Json> items;
  if (axis.is_array()) {
    items.assign(axis.begin(), axis.end());
  } else {
    items.push_back(axis);
  }
  for (const Json& item : items) {
    if (!item.is_number_integer())
      return ParamError(spec, "axis",
                        "must be null, an integer or a list of integers, got " + axis.dump());
    int64_t a = item.get<int64_t>();
    if (a < -ndim || a >= ndim)
      return ParamError(spec, "axis",
                        "axis " + std::to_string(a) + " is out of range for a " +
                            std::to_string(ndim) + "-d array");
    if (a < 0) a += ndim;
    if (std::find(axes.begin(), axes.end(), static_cast<int>(a)) != axes.end())
      return ParamError(spec, "axis", "axis " + std::to_string(a) + " is repeated");
    axes.push_back(static_cast<int>(a));
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

namespace {

// The "plot" key of `spec` (absolute; "" when absent), and `spec` without
// it in *rest: the key is the same for every op, so it is parsed here once.
Result<std::string> TakePlotPath(const AnalysisSpec& spec, AnalysisSpec* rest) {
  *rest = spec;
  if (!spec.params.is_object() || !spec.params.contains("plot")) return std::string();
  const Json& p = spec.params["plot"];
  if (!p.is_string() || p.get<std::string>().empty())
    return ParamError(spec, "plot",
                      "must be the path of a picture (.svg or .png), got " + p.dump());
  const std::string path = p.get<std::string>();
  if (!EndsWithNoCase(path, ".svg") && !EndsWithNoCase(path, ".png"))
    return ParamError(spec, "plot",
                      "must end in .svg or .png (the picture's format), got '" + path + "'");
  rest->params.erase("plot");
  return ResolvePath(spec.dir, path);
}

}  // namespace

Result<std::unique_ptr<Analysis>> MakeAnalysis(const AnalysisSpec& spec, const Dataset& dataset,
                                               const Partition& partition) {
  std::vector<std::string> ops;
  for (const Registration& r : kRegistry) {
    if (spec.op == r.op) {
      AnalysisSpec rest;
      MM_ASSIGN_OR_RETURN(std::string plot, TakePlotPath(spec, &rest));
      MM_ASSIGN_OR_RETURN(std::unique_ptr<Analysis> a, r.make(rest, dataset, partition));
      a->caps_.creates_dataset = r.creates_dataset;
      const Json echoed = r.echoed != nullptr ? Json::parse(r.echoed) : Json::object();
      for (const auto& [key, fallback] : echoed.items())
        a->parameters_[key] = spec.params.contains(key) ? spec.params[key] : fallback;
      if (plot.empty()) return a;
      if (!a->caps_.plottable)
        return ParamError(spec, "plot",
                          "this '" + spec.op +
                              "' result cannot be drawn: plot draws histogram and quantiles "
                              "results, and stats with an axis that keeps lanes (and mean, min "
                              "or max among its stats)");
      if (spec.params.contains("output"))
        return ParamError(spec, "plot",
                          "cannot be combined with \"output\": the numbers then go to .npy "
                          "files, not into the result document the picture is drawn from");
      a->plot_path_ = std::move(plot);
      return a;
    }
    ops.push_back(r.op);
  }
  return Error(Code::kConfig, "config key 'analyses[" + std::to_string(spec.index) +
                                  "].op': unknown op '" + spec.op + "'" + DidYouMean(spec.op, ops) +
                                  "; known: " + Join(ops, ", "));
}

bool OpCreatesDataset(const std::string& op) {
  for (const Registration& r : kRegistry)
    if (op == r.op) return r.creates_dataset;
  return false;
}

std::vector<std::string> OpsCreatingDataset() {
  std::vector<std::string> ops;
  for (const Registration& r : kRegistry)
    if (r.creates_dataset) ops.push_back(r.op);
  return ops;
}

Result<std::unique_ptr<Partial>> WrittenCount::FromJson(const Json& j, uint64_t most,
                                                        const std::string& who) {
  if (!j.is_object() || j.size() != 1 || !j.contains("written") ||
      !j["written"].is_number_unsigned() || j["written"].get<uint64_t>() > most)
    return Error(Code::kDataErr, who + " partial: malformed");
  auto p = std::make_unique<WrittenCount>();
  p->n = j["written"].get<uint64_t>();
  return std::unique_ptr<Partial>(std::move(p));
}

Status WrittenCount::CheckAll(uint64_t all, const std::string& units,
                              const std::string& who) const {
  if (n == all) return Status::OK();
  return Error(Code::kWorkerFailed, who + ": workers wrote " + std::to_string(n) + " of " +
                                        std::to_string(all) + " " + units);
}

}  // namespace mm
