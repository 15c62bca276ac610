#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "analysis/npy_fields.h"
#include "analysis/stats_kernel.h"
#include "core/lanes.h"
#include "io/files.h"

namespace mm {

namespace {

const std::vector<std::string> kFields = {"count", "nan_count", "sum", "mean",
                                          "var",   "std",       "min", "max"};

class StatsPartial : public Partial {
 public:
  StatsPartial(bool integer) : integer_(integer) {}
  uint64_t lo = 0, hi = 0;  // lanes [lo, hi)
  std::vector<LaneStats> lanes;

  void Merge(const Partial& right_base) override {
    const auto& r = static_cast<const StatsPartial&>(right_base);
    MergeLaneRange(&lo, &hi, &lanes, r.lo, r.hi, r.lanes,
                   [this](LaneStats* a, const LaneStats& b) { MergeLane(a, b, integer_); });
  }

  Json ToJson() const override {
    Json j = Json::object();
    j["lo"] = lo;
    j["hi"] = hi;
    Json n = Json::array(), nan = Json::array(), sum = Json::array(), mean = Json::array(),
         m2 = Json::array(), mn = Json::array(), mx = Json::array();
    for (const LaneStats& s : lanes) {
      n.push_back(s.n);
      nan.push_back(s.nan);
      mean.push_back(JsonNumber(s.mean));
      m2.push_back(JsonNumber(s.m2));
      if (integer_) {
        sum.push_back(Int128ToString(s.isum));
        mn.push_back(Int128ToString(s.imin));
        mx.push_back(Int128ToString(s.imax));
      } else {
        sum.push_back(JsonNumber(s.sum));
        mn.push_back(JsonNumber(s.min));
        mx.push_back(JsonNumber(s.max));
      }
    }
    j["n"] = std::move(n);
    j["nan"] = std::move(nan);
    j["sum"] = std::move(sum);
    j["mean"] = std::move(mean);
    j["m2"] = std::move(m2);
    j["min"] = std::move(mn);
    j["max"] = std::move(mx);
    return j;
  }

  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, bool integer) {
    auto p = std::make_unique<StatsPartial>(integer);
    try {
      p->lo = j.at("lo").get<uint64_t>();
      p->hi = j.at("hi").get<uint64_t>();
      const size_t k = static_cast<size_t>(p->hi - p->lo);
      const Json &n = j.at("n"), &nan = j.at("nan"), &sum = j.at("sum"), &mean = j.at("mean"),
                 &m2 = j.at("m2"), &mn = j.at("min"), &mx = j.at("max");
      if (p->hi < p->lo || n.size() != k || nan.size() != k || sum.size() != k ||
          mean.size() != k || m2.size() != k || mn.size() != k || mx.size() != k)
        return Error(Code::kDataErr, "stats partial: inconsistent lane counts");
      p->lanes.resize(k);
      for (size_t i = 0; i < k; ++i) {
        LaneStats& s = p->lanes[i];
        s.n = n[i].get<int64_t>();
        s.nan = nan[i].get<int64_t>();
        MM_ASSIGN_OR_RETURN(s.mean, JsonToDouble(mean[i]));
        MM_ASSIGN_OR_RETURN(s.m2, JsonToDouble(m2[i]));
        if (integer) {
          MM_ASSIGN_OR_RETURN(s.isum, JsonToInt128(sum[i]));
          MM_ASSIGN_OR_RETURN(s.imin, JsonToInt128(mn[i]));
          MM_ASSIGN_OR_RETURN(s.imax, JsonToInt128(mx[i]));
        } else {
          MM_ASSIGN_OR_RETURN(s.sum, JsonToDouble(sum[i]));
          MM_ASSIGN_OR_RETURN(s.min, JsonToDouble(mn[i]));
          MM_ASSIGN_OR_RETURN(s.max, JsonToDouble(mx[i]));
        }
      }
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, std::string("stats partial: ") + e.what());
    }
    return std::unique_ptr<Partial>(std::move(p));
  }

 private:
  bool integer_;
};

class Stats : public Analysis {
 public:
  Stats(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition,
        LaneGeometry geo, std::vector<std::string> fields, int64_t ddof, std::string output)
      : Analysis(spec, dataset, partition),
        geo_(std::move(geo)),
        fields_(std::move(fields)),
        ddof_(ddof),
        output_(std::move(output)),
        integer_(!dataset.layout.dtype.is_float()) {}

  std::unique_ptr<Partial> NewPartial(int) const override {
    return std::make_unique<StatsPartial>(integer_);
  }

  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    return StatsPartial::FromJson(j, integer_);
  }

  std::unique_ptr<Scanner> NewScanner(int) const override {
    return MakeScanner(stats_kernel::Scratch(), [this](const BlockView& block, Partial* base,
                                                       stats_kernel::Scratch* scratch) {
      auto* p = static_cast<StatsPartial*>(base);
      // A chunk block's lane range may hold lanes it does not reach: they
      // keep count 0, which merges as an identity (MergeLane).
      const auto range = geo_.BlockLaneRange(block.box, block.begin, block.end);
      p->lo = range.first;
      p->hi = range.second;
      p->lanes.assign(range.second - range.first, LaneStats());
      stats_kernel::SweepBlockOf(dataset_.layout.dtype, geo_, block.data, block.begin, block.end,
                                 p->lo, &p->lanes, scratch, block.box);
      return Status::OK();
    });
  }

  Status EndPass(int, const Partial& merged) override {
    merged_ = static_cast<const StatsPartial&>(merged);
    geo_.CoverIfEmpty(&merged_);
    MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged_.lo, merged_.hi));
    return Status::OK();
  }

  Result<Json> Finish() override;

 private:
  // Field value of one lane as JSON.
  Json Field(const std::string& f, const LaneStats& s) const {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double dof = static_cast<double>(s.n - ddof_);
    // An infinity among the values makes the sum infinite (or NaN): then,
    // as numpy, the mean is sum / n and the variance NaN (the merged mean
    // and m2 would have met inf - inf).
    const bool finite = integer_ || std::isfinite(s.sum);
    const double var = (s.n > 0 && dof > 0 && finite) ? s.m2 / dof : nan;
    if (f == "count") return s.n;
    if (f == "nan_count") return s.nan;
    if (f == "sum") return integer_ ? JsonInt(s.isum) : JsonNumber(s.n ? s.sum : 0.0);
    if (f == "mean")
      return JsonNumber(s.n ? (finite ? s.mean : s.sum / static_cast<double>(s.n)) : nan);
    if (f == "var") return JsonNumber(var);
    if (f == "std") return JsonNumber(std::sqrt(var));
    if (f == "min")
      return integer_ ? (s.n ? JsonInt(s.imin) : Json("NaN")) : JsonNumber(s.n ? s.min : nan);
    return integer_ ? (s.n ? JsonInt(s.imax) : Json("NaN")) : JsonNumber(s.n ? s.max : nan);
  }
  Result<Json> WriteFiles(const std::vector<uint64_t>& order) const;

  LaneGeometry geo_;
  std::vector<std::string> fields_;
  int64_t ddof_;
  std::string output_;
  bool integer_;
  StatsPartial merged_{false};
};

Result<Json> Stats::Finish() {
  const uint64_t lanes = geo_.lanes();
  std::vector<uint64_t> order(lanes);  // output position -> internal lane
  for (uint64_t l = 0; l < lanes; ++l) order[geo_.OutputIndex(l)] = l;
  if (lanes * fields_.size() > kMaxInlineNumbers) return WriteFiles(order);
  Json result = Json::object();
  for (const std::string& f : fields_) {
    std::vector<Json> flat;
    flat.reserve(lanes);
    for (uint64_t i = 0; i < lanes; ++i) flat.push_back(Field(f, merged_.lanes[order[i]]));
    result[f] = NestFlat(flat, geo_.kept_shape());
  }
  return result;
}

Result<Json> Stats::WriteFiles(const std::vector<uint64_t>& order) const {
  std::vector<NpyField> fields;
  for (const std::string& f : fields_) {
    NpyField field;
    field.name = f;
    field.shape = geo_.kept_shape();
    // count/nan_count and exact integer fields as int64, the rest float64.
    field.is_int =
        f == "count" || f == "nan_count" || (integer_ && (f == "sum" || f == "min" || f == "max"));
    for (const uint64_t lane : order) {
      const Json v = Field(f, merged_.lanes[lane]);
      if (!field.is_int) {
        MM_ASSIGN_OR_RETURN(double x, JsonToDouble(v));
        field.doubles.push_back(x);
      } else if (v.is_number_integer() && !v.is_number_unsigned()) {
        field.ints.push_back(v.get<int64_t>());
      } else if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
        field.ints.push_back(static_cast<int64_t>(v.get<uint64_t>()));
      } else {
        return ParamError(
            spec_, "output",
            "field '" + f + "' has values beyond int64, which an int64 .npy cannot hold");
      }
    }
    fields.push_back(std::move(field));
  }
  MM_ASSIGN_OR_RETURN(Json files, WriteNpyFields(output_, fields));
  return Json{{"shape", geo_.kept_shape()}, {"files", files}};
}

}  // namespace

void MergeLane(LaneStats* a, const LaneStats& b, bool integer) {
  a->nan += b.nan;
  if (b.n == 0) return;
  if (a->n == 0) {
    const int64_t nan = a->nan;
    *a = b;
    a->nan = nan;
    return;
  }
  const double na = static_cast<double>(a->n), nb = static_cast<double>(b.n);
  const double n = na + nb;
  const double delta = b.mean - a->mean;
  a->mean = a->mean + delta * (nb / n);
  a->m2 = a->m2 + b.m2 + delta * delta * (na * nb / n);
  a->n += b.n;
  if (integer) {
    a->isum += b.isum;
    a->imin = std::min(a->imin, b.imin);
    a->imax = std::max(a->imax, b.imax);
  } else {
    a->sum += b.sum;
    a->min = std::min(a->min, b.min);
    a->max = std::max(a->max, b.max);
  }
}

Result<std::unique_ptr<Analysis>> MakeStats(const AnalysisSpec& spec, const Dataset& dataset,
                                            const Partition& partition) {
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, {"axis", "ddof", "stats", "output"},
                               "analyses[" + std::to_string(spec.index) + "]"));
  const Json axis = spec.params.contains("axis") ? spec.params["axis"] : Json(nullptr);
  MM_ASSIGN_OR_RETURN(std::vector<int> reduced, ParseAxes(spec, axis, dataset.layout.ndim()));
  int64_t ddof = 0;
  if (spec.params.contains("ddof")) {
    const Json& d = spec.params["ddof"];
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      return ParamError(spec, "ddof", "must be a non-negative integer, got " + d.dump());
    ddof = d.get<int64_t>();
  }
  std::vector<std::string> fields = kFields;
  if (spec.params.contains("stats")) {
    const Json& s = spec.params["stats"];
    if (!s.is_array() || s.empty())
      return ParamError(spec, "stats", "must be a non-empty list of field names");
    std::vector<std::string> wanted;
    for (const Json& f : s) {
      if (!f.is_string() ||
          std::find(kFields.begin(), kFields.end(), f.get<std::string>()) == kFields.end())
        return ParamError(spec, "stats",
                          "unknown field " + f.dump() +
                              "; known: count, nan_count, sum, mean, var, std, min, max");
      wanted.push_back(f.get<std::string>());
    }
    fields.clear();
    for (const std::string& f : kFields)
      if (std::find(wanted.begin(), wanted.end(), f) != wanted.end()) fields.push_back(f);
  }
  MM_ASSIGN_OR_RETURN(std::string output, ParseOutputPrefix(spec));
  LaneGeometry geo(dataset.layout, reduced);
  if (geo.lanes() * fields.size() > kMaxInlineNumbers && output.empty())
    return ParamError(spec, "output",
                      "the result would hold " + std::to_string(geo.lanes() * fields.size()) +
                          " numbers (more than 1000000); give \"output\": \"PREFIX\" to write "
                          "each field to PREFIX.FIELD.npy");
  return std::unique_ptr<Analysis>(
      new Stats(spec, dataset, partition, std::move(geo), fields, ddof, output));
}

}  // namespace mm
