#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "analysis/npy_fields.h"
#include "analysis/stats_kernel.h"
#include "core/lanes.h"
#include "io/files.h"

namespace mm {

namespace {

// A count column of at most one run of equal values per this many lanes
// goes as its runs (StatsPartial::ToJson).
constexpr size_t kLanesPerRun = 16;

const std::vector<std::string> kFields = {"count", "nan_count", "sum", "mean",
                                          "var",   "std",       "min", "max"};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "stats partials carry their columns as the host's bytes, little-endian");

// The optional columns of a stats partial: a run keeps only those its
// fields need (count, sum and mean need n and sum, which every partial
// keeps). The running mean is kept only with m2, whose merge (Chan's)
// needs it; without it the mean is sum / n, as numpy's. Dropping a column
// changes no bit of the others: each is merged on its own but for n and
// mean, which every merge reads.
struct StatsColumns {
  bool nan = true;     // nan_count
  bool m2 = true;      // var, std (and the running mean)
  bool minmax = true;  // min, max
};

// A partial over lanes [lo, hi): one column per kept LaneStats member, so a
// many-lane partial (a reduction over the row axis of a large array) takes
// 8 bytes per lane and kept column, and encodes as a few base64 strings.
class StatsPartial : public Partial {
 public:
  StatsPartial(bool integer, StatsColumns keep) : integer_(integer), keep_(keep) {}
  uint64_t lo = 0, hi = 0;  // lanes [lo, hi)
  std::vector<int64_t> n, nan;
  std::vector<double> mean, mean_lo, m2;
  std::vector<double> sum, min, max;     // floating-point data
  std::vector<int128> isum, imin, imax;  // integers and bool

  // Every kept column to k lanes of count 0.
  void Resize(size_t k) {
    ForEachColumn([k](auto& c) { c.assign(k, {}); });
  }

  // Lane lo + i from a kernel's LaneStats (the kept members).
  void Set(size_t i, const LaneStats& s) {
    n[i] = s.n;
    if (keep_.m2) mean[i] = s.mean, mean_lo[i] = s.mean_lo;
    if (keep_.nan) nan[i] = s.nan;
    if (keep_.m2) m2[i] = s.m2;
    if (integer_) {
      isum[i] = s.isum;
      if (keep_.minmax) imin[i] = s.imin, imax[i] = s.imax;
    } else {
      sum[i] = s.sum;
      if (keep_.minmax) min[i] = s.min, max[i] = s.max;
    }
  }

  // Lane lo + i as a LaneStats (members not kept are 0).
  LaneStats Get(size_t i) const {
    LaneStats s;
    s.n = n[i];
    if (keep_.m2) s.mean = mean[i], s.mean_lo = mean_lo[i];
    if (keep_.nan) s.nan = nan[i];
    if (keep_.m2) s.m2 = m2[i];
    if (integer_) {
      s.isum = isum[i];
      if (keep_.minmax) s.imin = imin[i], s.imax = imax[i];
    } else {
      s.sum = sum[i];
      if (keep_.minmax) s.min = min[i], s.max = max[i];
    }
    return s;
  }

  // Folds the partial of the blocks just after into this one: the lane
  // range grows to the union (new lanes start at count 0) and each lane of
  // `right` merges into its place with MergeLane's operations, in the same
  // order, column by column.
  void Merge(const Partial& right_base) override {
    const auto& r = static_cast<const StatsPartial&>(right_base);
    if (r.lo == r.hi) return;
    if (lo == hi) {
      *this = r;
      return;
    }
    const uint64_t nlo = std::min(lo, r.lo), nhi = std::max(hi, r.hi);
    if (nlo != lo || nhi != hi) {
      const size_t at = static_cast<size_t>(lo - nlo), k = static_cast<size_t>(nhi - nlo);
      ForEachColumn([at, k](auto& c) {
        std::remove_reference_t<decltype(c)> grown(k);
        std::copy(c.begin(), c.end(), grown.begin() + static_cast<ptrdiff_t>(at));
        c.swap(grown);
      });
      lo = nlo;
      hi = nhi;
    }
    const size_t off = static_cast<size_t>(r.lo - lo), k = static_cast<size_t>(r.hi - r.lo);
    for (size_t j = 0; j < k; ++j) {
      const size_t i = off + j;
      if (keep_.nan) nan[i] += r.nan[j];
      const int64_t bn = r.n[j];
      if (bn == 0) continue;
      if (n[i] == 0) {  // MergeLane: *a = b but for the NaN count
        n[i] = bn;
        if (keep_.m2) mean[i] = r.mean[j], mean_lo[i] = r.mean_lo[j], m2[i] = r.m2[j];
        if (integer_) {
          isum[i] = r.isum[j];
          if (keep_.minmax) imin[i] = r.imin[j], imax[i] = r.imax[j];
        } else {
          sum[i] = r.sum[j];
          if (keep_.minmax) min[i] = r.min[j], max[i] = r.max[j];
        }
        continue;
      }
      if (keep_.m2) {
        const double na = static_cast<double>(n[i]), nb = static_cast<double>(bn);
        const double nn = na + nb;
        const double delta = (r.mean[j] - mean[i]) + (r.mean_lo[j] - mean_lo[i]);
        MoveMean(&mean[i], &mean_lo[i], delta * (nb / nn));
        m2[i] = m2[i] + r.m2[j] + delta * delta * (na * nb / nn);
      }
      n[i] += bn;
      if (integer_) {
        isum[i] += r.isum[j];
        if (keep_.minmax)
          imin[i] = std::min(imin[i], r.imin[j]), imax[i] = std::max(imax[i], r.imax[j]);
      } else {
        sum[i] += r.sum[j];
        if (keep_.minmax) min[i] = std::min(min[i], r.min[j]), max[i] = std::max(max[i], r.max[j]);
      }
    }
  }

  // {"lo", "hi", then each kept column by name: "n", "nan", "sum", "mean",
  // "mean_lo" and "m2" (all or none), "min", "max"}. A column is the base64 text
  // of its hi - lo values as little-endian bytes (int64 counts, float64, or
  // 16-byte two's complement int128 sums and extremes of integer data); a
  // count column whose lanes all hold one value is instead that value as a
  // JSON integer, and one of at most (hi - lo) / kLanesPerRun runs of equal
  // values the list of its runs [[count, lanes], ...]
  // (docs/ARCHITECTURE.md "Partials of stats").
  Json ToJson() const override {
    Json j = Json::object();
    j["lo"] = lo;
    j["hi"] = hi;
    NamedColumns([&j](const char* name, const auto& c) {
      using T = typename std::remove_reference_t<decltype(c)>::value_type;
      if constexpr (std::is_same_v<T, int64_t>) {
        if (!c.empty() && std::all_of(c.begin(), c.end(), [&c](int64_t v) { return v == c[0]; })) {
          j[name] = c[0];
          return;
        }
        // Counts are constant over long runs of lanes (a land mask, a
        // missing region): runs when there are few.
        size_t runs = 1;
        for (size_t i = 1; i < c.size(); ++i) runs += c[i] != c[i - 1];
        if (runs <= c.size() / kLanesPerRun) {
          Json list = Json::array();
          for (size_t i = 0; i < c.size();) {
            size_t e = i + 1;
            while (e < c.size() && c[e] == c[i]) ++e;
            list.push_back(Json::array({c[i], static_cast<uint64_t>(e - i)}));
            i = e;
          }
          j[name] = std::move(list);
          return;
        }
      }
      j[name] = Base64Encode(c.data(), c.size() * sizeof(T));
    });
    return j;
  }

  // Inverse of ToJson for a run keeping `keep`, over at most `max_lanes`
  // lanes; anything else (a column missing, extra, of the wrong length or
  // alphabet) is kDataErr, before any allocation larger than the lanes.
  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, bool integer, StatsColumns keep,
                                                   uint64_t max_lanes) {
    auto p = std::make_unique<StatsPartial>(integer, keep);
    MM_RETURN_IF_ERROR(ReadLaneRange(j, max_lanes, "stats partial", &p->lo, &p->hi));
    const size_t k = static_cast<size_t>(p->hi - p->lo);
    p->Resize(k);
    size_t columns = 2;
    Status st = Status::OK();
    p->NamedColumns([&](const char* name, auto& c) {
      using T = typename std::remove_reference_t<decltype(c)>::value_type;
      ++columns;
      if (!st.ok()) return;
      const std::string what = std::string("stats partial: column '") + name + "'";
      if (!j.contains(name)) {
        st = Error(Code::kDataErr, what + " is missing");
        return;
      }
      const Json& v = j[name];
      if constexpr (std::is_same_v<T, int64_t>) {
        if (v.is_number_integer()) {
          c.assign(k, v.get<int64_t>());
          return;
        }
        if (v.is_array()) {
          // A run's lane count: a positive integer (0 for anything else).
          auto lanes_of = [](const Json& x) -> uint64_t {
            if (x.is_number_unsigned()) return x.get<uint64_t>();
            if (x.is_number_integer() && x.get<int64_t>() > 0)
              return static_cast<uint64_t>(x.get<int64_t>());
            return 0;
          };
          size_t at = 0;
          for (const Json& run : v) {
            const uint64_t n = run.is_array() && run.size() == 2 ? lanes_of(run[1]) : 0;
            if (n == 0 || !run[0].is_number_integer() || n > k - at) {
              st = Error(Code::kDataErr, what + " must be runs [count, lanes] covering its " +
                                             std::to_string(k) + " lanes");
              return;
            }
            std::fill(c.begin() + static_cast<ptrdiff_t>(at),
                      c.begin() + static_cast<ptrdiff_t>(at + n), run[0].get<int64_t>());
            at += n;
          }
          if (at != k)
            st = Error(Code::kDataErr, what + " must be runs [count, lanes] covering its " +
                                           std::to_string(k) + " lanes");
          return;
        }
      }
      if (!v.is_string()) {
        st = Error(Code::kDataErr, what + " must be a base64 string");
        return;
      }
      st = Base64DecodeTo(v.get_ref<const std::string&>(), c.data(), k * sizeof(T), what);
    });
    MM_RETURN_IF_ERROR(st);
    if (j.size() != columns)
      return Error(Code::kDataErr, "stats partial: " + std::to_string(j.size() - 2) +
                                       " columns, expected " + std::to_string(columns - 2));
    return std::unique_ptr<Partial>(std::move(p));
  }

 private:
  // f(name, column) for every kept column, in ToJson's order.
  template <class F>
  void NamedColumns(F&& f) {
    f("n", n);
    if (keep_.nan) f("nan", nan);
    if (integer_)
      f("sum", isum);
    else
      f("sum", sum);
    if (keep_.m2) {
      f("mean", mean);
      f("mean_lo", mean_lo);
      f("m2", m2);
    }
    if (keep_.minmax) {
      if (integer_) {
        f("min", imin);
        f("max", imax);
      } else {
        f("min", min);
        f("max", max);
      }
    }
  }
  template <class F>
  void NamedColumns(F&& f) const {
    const_cast<StatsPartial*>(this)->NamedColumns(
        [&f](const char* name, const auto& c) { f(name, c); });
  }
  template <class F>
  void ForEachColumn(F&& f) {
    NamedColumns([&f](const char*, auto& c) { f(c); });
  }

  bool integer_;
  StatsColumns keep_;
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
        integer_(!dataset.layout.dtype.is_float()) {
    auto wants = [this](const char* f) {
      return std::find(fields_.begin(), fields_.end(), f) != fields_.end();
    };
    keep_.nan = wants("nan_count");
    keep_.m2 = wants("var") || wants("std");
    keep_.minmax = wants("min") || wants("max");
    merged_ = StatsPartial(integer_, keep_);
    // Per-lane means and ranges can be drawn; global stats are single numbers.
    caps_.plottable = !geo_.kept_shape().empty() && (wants("mean") || keep_.minmax);
  }

  std::vector<std::string> CreatedFiles() const override { return NpyFieldPaths(output_, fields_); }
  std::unique_ptr<Partial> NewPartial(int) const override {
    return std::make_unique<StatsPartial>(integer_, keep_);
  }

  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    return StatsPartial::FromJson(j, integer_, keep_, geo_.lanes());
  }

  std::unique_ptr<Scanner> NewScanner(int) const override {
    stats_kernel::Scratch scratch;
    scratch.deviations = keep_.m2;
    scratch.minmax = keep_.minmax;
    return MakeScanner(std::move(scratch), [this](const BlockView& block, Partial* base,
                                                  stats_kernel::Scratch* scratch) {
      auto* p = static_cast<StatsPartial*>(base);
      // A chunk block's lane range may hold lanes it does not reach: they
      // keep count 0, which merges as an identity (MergeLane).
      const auto range = geo_.BlockLaneRange(block.box, block.begin, block.end);
      p->lo = range.first;
      p->hi = range.second;
      const size_t k = static_cast<size_t>(range.second - range.first);
      p->Resize(k);
      stats_kernel::SweepBlockTo(
          dataset_.layout.dtype, geo_, block.data, block.begin, block.end, p->lo, k,
          [p](size_t l, const LaneStats& s) { p->Set(l, s); }, scratch, block.box);
      return Status::OK();
    });
  }

  Status EndPass(int, const Partial& merged) override {
    merged_ = static_cast<const StatsPartial&>(merged);
    if (geo_.empty() && merged_.lo == merged_.hi) {  // numpy's result for empty input
      merged_.lo = 0;
      merged_.hi = geo_.lanes();
      merged_.Resize(static_cast<size_t>(merged_.hi));
    }
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
    if (f == "mean") {
      if (s.n == 0) return JsonNumber(nan);
      // Integers have an exact sum: their mean is it over n, rounded once,
      // whatever the blocks (the merged mean of chunk blocks is not: a lane
      // of sum 0 gave -5.6e-17).
      if (!integer_ && finite && keep_.m2) return JsonNumber(s.mean + s.mean_lo);
      const double total = integer_ ? static_cast<double>(s.isum) : s.sum;
      return JsonNumber(total / static_cast<double>(s.n));
    }
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
  StatsColumns keep_;
  StatsPartial merged_{false, {}};
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
    for (uint64_t i = 0; i < lanes; ++i) flat.push_back(Field(f, merged_.Get(order[i])));
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
      const Json v = Field(f, merged_.Get(lane));
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
  const double delta = (b.mean - a->mean) + (b.mean_lo - a->mean_lo);
  MoveMean(&a->mean, &a->mean_lo, delta * (nb / n));
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
