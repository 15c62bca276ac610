#include "plot/plot_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/strings.h"

namespace mm {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kStatsFields[] = {"count", "nan_count", "sum", "mean",
                                        "var",   "std",       "min", "max"};

// A short description of a JSON value for messages (never its whole dump).
std::string Describe(const Json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number()) return j.dump();
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    return "\"" + SafeText(s.size() > 40 ? s.substr(0, 40) + "..." : s) + "\"";
  }
  if (j.is_array()) return "a list of " + std::to_string(j.size());
  return "an object";
}

Status KeyError(const std::string& key, const std::string& why) {
  return Error(Code::kDataErr, "key '" + SafeText(key) + "': " + why);
}

std::string IndexKey(const std::string& key, const std::vector<size_t>& index) {
  std::string k = key;
  for (const size_t i : index) k += "[" + std::to_string(i) + "]";
  return k;
}

// A number of the document: a JSON number or one of the three strings.
Status ReadNumber(const Json& j, const std::string& key, double* out) {
  if (j.is_number()) {
    *out = j.get<double>();
    return Status::OK();
  }
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "NaN") *out = kNaN;
    if (s == "Infinity") *out = std::numeric_limits<double>::infinity();
    if (s == "-Infinity") *out = -std::numeric_limits<double>::infinity();
    if (s == "NaN" || s == "Infinity" || s == "-Infinity") return Status::OK();
  }
  return KeyError(key,
                  "must be a number (or \"NaN\", \"Infinity\", \"-Infinity\"), got " + Describe(j));
}

// A field of nested lists of numbers (or one number: an empty shape),
// flattened in C order.
struct Array {
  std::vector<size_t> shape;
  std::vector<double> values;
  size_t size() const { return values.size(); }
};

class ArrayReader {
 public:
  ArrayReader(const std::string& key, Array* out) : key_(key), out_(out) {}

  Status Read(const Json& j) {
    if (j.is_string() && j != "NaN" && j != "Infinity" && j != "-Infinity")
      return KeyError(key_, "is " + Describe(j) +
                                ", not numbers (a result written to .npy files with \"output\" "
                                "cannot be drawn: plot draws the numbers a document holds)");
    // The shape from the first element of each level, then every element
    // checked against it.
    size_t total = 1;
    for (const Json* level = &j; level->is_array(); level = &(*level)[0]) {
      if (out_->shape.size() >= static_cast<size_t>(kMaxPlotDims))
        return KeyError(key_, "lists nested more than " + std::to_string(kMaxPlotDims) + " deep");
      out_->shape.push_back(level->size());
      if (level->empty()) break;
      total = level->size() > kMaxPlotNumbers ? kMaxPlotNumbers + 1 : total * level->size();
      if (total > kMaxPlotNumbers)
        return KeyError(key_, "more than " + std::to_string(kMaxPlotNumbers) +
                                  " numbers (more than mmrun writes into a document)");
    }
    for (const size_t n : out_->shape)
      if (n == 0) total = 0;
    out_->values.reserve(total);
    std::vector<size_t> index;
    return Fill(j, 0, &index);
  }

 private:
  Status Fill(const Json& j, size_t depth, std::vector<size_t>* index) {
    if (depth == out_->shape.size()) {
      double v = 0;
      MM_RETURN_IF_ERROR(ReadNumber(j, IndexKey(key_, *index), &v));
      out_->values.push_back(v);
      return Status::OK();
    }
    const size_t n = out_->shape[depth];
    if (!j.is_array() || j.size() != n)
      return KeyError(IndexKey(key_, *index), "must be a list of " + std::to_string(n) +
                                                  " (as its first element is), got " + Describe(j));
    for (size_t i = 0; i < n; ++i) {
      index->push_back(i);
      MM_RETURN_IF_ERROR(Fill(j[i], depth + 1, index));
      index->pop_back();
    }
    return Status::OK();
  }

  const std::string& key_;
  Array* out_;
};

Result<Array> ReadArray(const Json& j, const std::string& key) {
  Array a;
  MM_RETURN_IF_ERROR(ArrayReader(key, &a).Read(j));
  return a;
}

// The shape as "[3, 4]".
std::string ShapeText(const std::vector<size_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "%g" with enough digits to tell 0.01 from 0.011 and no trailing noise.
std::string ShortNumber(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// The lanes' axes: how to name a lane, from the result's (or the hints')
// "axis" and the dataset's shape. Only labels depend on it: anything that
// does not fit the lane count gives the plain "lane".
struct LaneNames {
  std::string noun = "lane";
  std::string axis_label = "lane";
};

Result<LaneNames> NameLanes(const Json& axis, const std::string& key,
                            const std::vector<int64_t>& shape, size_t lanes) {
  LaneNames names;
  if (axis.is_null()) return names;
  std::vector<int64_t> reduced;
  if (axis.is_number_integer()) {
    reduced.push_back(axis.get<int64_t>());
  } else if (axis.is_array() && axis.size() <= static_cast<size_t>(kMaxPlotDims)) {
    for (const Json& a : axis) {
      if (!a.is_number_integer())
        return KeyError(key,
                        "must be null, an integer or a list of integers, got " + Describe(axis));
      reduced.push_back(a.get<int64_t>());
    }
  } else {
    return KeyError(key, "must be null, an integer or a list of integers, got " + Describe(axis));
  }
  const int64_t ndim = static_cast<int64_t>(shape.size());
  std::vector<bool> is_reduced(shape.size(), false);
  for (int64_t a : reduced) {
    if (a < 0) a += ndim;
    if (a < 0 || a >= ndim) return names;
    is_reduced[static_cast<size_t>(a)] = true;
  }
  std::vector<int> kept;
  double product = 1;
  for (size_t a = 0; a < shape.size(); ++a)
    if (!is_reduced[a]) {
      kept.push_back(static_cast<int>(a));
      product *= static_cast<double>(shape[a]);
    }
  if (kept.empty() || product != static_cast<double>(lanes)) return names;
  if (kept.size() == 1) {
    const int a = kept[0];
    if (ndim == 2) {
      names.noun = a == 1 ? "column" : "row";
      names.axis_label = names.noun + " (axis " + std::to_string(a) + ")";
    } else {
      names.axis_label = "index along axis " + std::to_string(a);
    }
    return names;
  }
  std::string axes;
  for (const int a : kept) axes += (axes.empty() ? "" : ", ") + std::to_string(a);
  names.axis_label = "lane (axes " + axes + " in C order)";
  return names;
}

// The parameter `key` from the result, else from the hints; null if neither.
const Json& Param(const Json& result, const Json& hints, const char* key) {
  static const Json kNull;
  if (result.contains(key)) return result[key];
  if (hints.is_object() && hints.contains(key)) return hints[key];
  return kNull;
}

bool IsStatsResult(const Json& result) {
  for (const char* f : kStatsFields)
    if (result.contains(f)) return true;
  return false;
}

// The first stats field present.
const char* FirstStatsField(const Json& result) {
  for (const char* f : kStatsFields)
    if (result.contains(f)) return f;
  return nullptr;
}

Status ReadHistogram(const Json& r, const std::string& key, const DocumentInfo& info,
                     const Json& hints, PlotData* d) {
  for (const char* k : {"counts", "edges"})
    if (!r.contains(k)) return KeyError(key + k, "is missing (a histogram has counts and edges)");
  MM_ASSIGN_OR_RETURN(Array edges, ReadArray(r["edges"], key + "edges"));
  if (edges.shape.size() != 1 || edges.size() < 2)
    return KeyError(key + "edges",
                    "must be a list of at least 2 numbers, got " +
                        (edges.shape.empty() ? "one number" : "shape " + ShapeText(edges.shape)));
  for (size_t i = 0; i < edges.size(); ++i) {
    if (!std::isfinite(edges.values[i]))
      return KeyError(key + "edges[" + std::to_string(i) + "]", "must be finite");
    if (i > 0 && edges.values[i] < edges.values[i - 1])
      return KeyError(key + "edges[" + std::to_string(i) + "]",
                      "must not be less than the edge before it");
  }
  const size_t bins = edges.size() - 1;
  MM_ASSIGN_OR_RETURN(Array counts, ReadArray(r["counts"], key + "counts"));
  // Histograms of no lane (a kept axis of length 0) are an empty list.
  const bool no_lanes = counts.shape == std::vector<size_t>{0};
  if (no_lanes) counts.shape.push_back(bins);
  if (counts.shape.empty() || counts.shape.back() != bins)
    return KeyError(key + "counts", "must end in lists of " + std::to_string(bins) +
                                        " counts (one per bin of edges), got shape " +
                                        ShapeText(counts.shape));
  for (size_t i = 0; i < counts.size(); ++i)
    if (!(counts.values[i] >= 0) || !std::isfinite(counts.values[i]))
      return KeyError(key + "counts",
                      "must hold finite counts >= 0, got " + ShortNumber(counts.values[i]));
  d->kind = PlotKind::kHistogram;
  d->edges = std::move(edges.values);
  d->per_lane = counts.shape.size() > 1;
  d->lanes = counts.size() / bins;
  d->counts = std::move(counts.values);
  // below, above, nan_count: shaped like the lanes; their totals are shown.
  std::vector<std::string> notes;
  for (const auto& [k, label] : {std::pair<const char*, const char*>{"below", "below"},
                                 {"above", "above"},
                                 {"nan_count", "NaN"}}) {
    if (!r.contains(k)) continue;
    MM_ASSIGN_OR_RETURN(Array a, ReadArray(r[k], key + k));
    const std::vector<size_t> lane_shape(counts.shape.begin(), counts.shape.end() - 1);
    if (a.shape != lane_shape && !(no_lanes && a.size() == 0))
      return KeyError(key + k, "must have the shape of the lanes " + ShapeText(lane_shape) +
                                   ", got " + ShapeText(a.shape));
    double total = 0;
    for (const double v : a.values) total += v;
    notes.push_back(std::string(label) + " " + ShortNumber(total));
  }
  MM_ASSIGN_OR_RETURN(LaneNames names,
                      NameLanes(Param(r, hints, "axis"), key + "axis", info.shape, d->lanes));
  d->lane_noun = names.noun;
  d->lane_label = names.axis_label;
  d->x_label = "value";
  d->y_label = "count";
  d->subtitle = "histogram · " + Plural(bins, "bin", "bins");
  if (d->per_lane) d->subtitle += " · " + Plural(d->lanes, names.noun, names.noun + "s");
  if (!notes.empty())
    d->subtitle += std::string(" · ") + (d->per_lane ? "in all: " : "") + Join(notes, " · ");
  return Status::OK();
}

// The lanes of a per-lane stats field (NaN where the lane has no value).
Status ReadLaneField(const Json& r, const std::string& key, const char* field,
                     std::vector<size_t>* shape, std::vector<double>* out) {
  if (!r.contains(field)) return Status::OK();
  MM_ASSIGN_OR_RETURN(Array a, ReadArray(r[field], key + field));
  if (a.shape.empty()) return KeyError(key + field, "must be a list (one value per lane)");
  if (shape->empty()) *shape = a.shape;
  if (a.shape != *shape)
    return KeyError(key + field,
                    "has shape " + ShapeText(a.shape) + ", other fields " + ShapeText(*shape));
  *out = std::move(a.values);
  return Status::OK();
}

Status ReadLaneStats(const Json& r, const std::string& key, const DocumentInfo& info,
                     const Json& hints, PlotData* d) {
  std::vector<size_t> shape;
  std::vector<double> count;
  MM_RETURN_IF_ERROR(ReadLaneField(r, key, "count", &shape, &count));
  MM_RETURN_IF_ERROR(ReadLaneField(r, key, "mean", &shape, &d->mean));
  MM_RETURN_IF_ERROR(ReadLaneField(r, key, "std", &shape, &d->std));
  MM_RETURN_IF_ERROR(ReadLaneField(r, key, "min", &shape, &d->min));
  MM_RETURN_IF_ERROR(ReadLaneField(r, key, "max", &shape, &d->max));
  if (!r.contains("mean") && !r.contains("min") && !r.contains("max"))
    return KeyError(key + "mean",
                    "is missing, and so are min and max: nothing to draw (plot draws mean, std, "
                    "min and max per lane)");
  d->kind = PlotKind::kLaneStats;
  d->per_lane = true;
  size_t lanes = 1;
  for (const size_t n : shape) lanes *= n;
  d->lanes = lanes;
  // A lane without values (count 0, or no finite statistic) is left out.
  auto finite_at = [](const std::vector<double>& v, size_t i) {
    return !v.empty() && std::isfinite(v[i]);
  };
  for (size_t i = 0; i < lanes; ++i) {
    const bool empty = !count.empty() && !(count[i] > 0);
    for (std::vector<double>* v : {&d->mean, &d->std, &d->min, &d->max})
      if (!v->empty() && (empty || !std::isfinite((*v)[i]))) (*v)[i] = kNaN;
    if (!finite_at(d->mean, i) && !finite_at(d->min, i) && !finite_at(d->max, i))
      ++d->skipped_lanes;
  }
  MM_ASSIGN_OR_RETURN(LaneNames names,
                      NameLanes(Param(r, hints, "axis"), key + "axis", info.shape, lanes));
  d->lane_noun = names.noun;
  d->lane_label = names.axis_label;
  d->x_label = names.axis_label;
  d->y_label = "value";
  d->subtitle = "stats · " + Plural(lanes, names.noun, names.noun + "s");
  if (d->skipped_lanes > 0)
    d->subtitle += " · " + Plural(d->skipped_lanes, names.noun, names.noun + "s") +
                   " without values not drawn";
  return Status::OK();
}

Status ReadQuantiles(const Json& r, const std::string& key, const DocumentInfo& info,
                     const Json& hints, PlotData* d) {
  MM_ASSIGN_OR_RETURN(Array values, ReadArray(r["values"], key + "values"));
  const Json& qj = Param(r, hints, "q");
  std::vector<double> q;
  bool scalar_q = false;
  if (qj.is_number()) {
    scalar_q = true;
    q.push_back(qj.get<double>());
  } else if (qj.is_array()) {
    MM_ASSIGN_OR_RETURN(Array qa, ReadArray(qj, key + "q"));
    if (qa.shape.size() != 1 || qa.size() == 0)
      return KeyError(key + "q", "must be a number or a non-empty list of numbers");
    q = std::move(qa.values);
  } else if (!qj.is_null()) {
    return KeyError(key + "q", "must be a number or a list of numbers, got " + Describe(qj));
  }
  // values: [q, lanes...]; without q's dimension for a scalar q. A
  // document that does not say q: a list is taken as global quantiles.
  size_t series = 1, lanes = 1;
  if (scalar_q) {
    for (const size_t n : values.shape) lanes *= n;
    d->per_lane = !values.shape.empty();
  } else if (!values.shape.empty()) {
    series = values.shape[0];
    for (size_t i = 1; i < values.shape.size(); ++i) lanes *= values.shape[i];
    d->per_lane = values.shape.size() > 1;
  }
  if (!q.empty() && q.size() != series)
    return KeyError(key + "values", "has shape " + ShapeText(values.shape) + " for " +
                                        Plural(q.size(), "q", "q values"));
  if (series == 0) return KeyError(key + "values", "holds no values");
  d->kind = PlotKind::kQuantiles;
  d->series = series;
  d->lanes = lanes;
  d->values = std::move(values.values);
  d->q_known = !q.empty();
  for (size_t s = 0; s < series; ++s) {
    d->q_x.push_back(d->q_known ? q[s] : static_cast<double>(s));
    d->series_labels.push_back(d->q_known ? "q = " + ShortNumber(q[s])
                                          : "q[" + std::to_string(s) + "]");
  }
  const Json& method = Param(r, hints, "method");
  if (!method.is_null() && !method.is_string())
    return KeyError(key + "method", "must be a string, got " + Describe(method));
  d->subtitle = "quantiles" + (method.is_string() ? " (" + method.get<std::string>() + ")" : "");
  if (d->per_lane) {
    MM_ASSIGN_OR_RETURN(LaneNames names,
                        NameLanes(Param(r, hints, "axis"), key + "axis", info.shape, lanes));
    d->lane_noun = names.noun;
    d->lane_label = names.axis_label;
    d->x_label = names.axis_label;
    d->subtitle += " · " + Plural(series, "q", "q values") + " · " +
                   Plural(lanes, names.noun, names.noun + "s");
  } else {
    d->x_label = d->q_known ? "q" : "quantile (index in the document's q list)";
    d->subtitle += " · " + Plural(series, "q", "q values");
  }
  d->y_label = "value";
  return Status::OK();
}

}  // namespace

PlotKind ClassifyResult(const Json& result, std::string* why) {
  std::string reason;
  PlotKind kind = PlotKind::kNone;
  if (!result.is_object()) {
    reason = "its result is not an object";
  } else if (result.contains("edges") || result.contains("counts")) {
    kind = PlotKind::kHistogram;
  } else if (result.contains("values")) {
    kind = PlotKind::kQuantiles;
  } else if (result.contains("cov") || result.contains("corr")) {
    reason = "cov results are matrices, not drawn";
  } else if (IsStatsResult(result)) {
    const Json& first = result[FirstStatsField(result)];
    if (first.is_array()) {
      kind = PlotKind::kLaneStats;
      if (!result.contains("mean") && !result.contains("min") && !result.contains("max")) {
        kind = PlotKind::kNone;
        reason = "stats without mean, min or max: nothing to draw";
      }
    } else {
      reason = "global stats (no axis): one number per field, nothing to draw";
    }
  } else {
    reason = "not a histogram, quantiles or per-lane stats result";
  }
  if (why != nullptr) *why = reason;
  return kind;
}

Result<DocumentInfo> ReadDocumentInfo(const Json& doc) {
  if (!doc.is_object()) return Error(Code::kDataErr, "not a result document (not a JSON object)");
  if (!doc.contains("results"))
    return KeyError("results", "is missing: not a result document" +
                                   std::string(doc.contains("shard")
                                                   ? " (a part of --shard: run mmrun merge first)"
                                                   : ""));
  if (!doc["results"].is_object()) return KeyError("results", "must be an object");
  DocumentInfo info;
  if (doc.contains("dataset")) {
    const Json& ds = doc["dataset"];
    if (!ds.is_object()) return KeyError("dataset", "must be an object, got " + Describe(ds));
    for (const char* k : {"path", "name"})
      if (ds.contains(k) && !ds[k].is_string())
        return KeyError(std::string("dataset.") + k, "must be a string, got " + Describe(ds[k]));
    if (ds.contains("path")) info.dataset = BaseName(ds["path"].get<std::string>());
    if (ds.contains("name")) info.dataset += ":" + ds["name"].get<std::string>();
    if (ds.contains("shape")) {
      const Json& s = ds["shape"];
      if (!s.is_array() || s.size() > static_cast<size_t>(kMaxPlotDims))
        return KeyError("dataset.shape", "must be a list of at most " +
                                             std::to_string(kMaxPlotDims) + " integers, got " +
                                             Describe(s));
      for (const Json& n : s) {
        if (!n.is_number_integer() || n.get<int64_t>() < 0)
          return KeyError("dataset.shape", "must hold integers >= 0, got " + Describe(n));
        info.shape.push_back(n.get<int64_t>());
      }
    }
  }
  if (doc.contains("mmrun") && doc["mmrun"].is_object() && doc["mmrun"].contains("started")) {
    const Json& s = doc["mmrun"]["started"];
    if (!s.is_string()) return KeyError("mmrun.started", "must be a string, got " + Describe(s));
    info.started = s.get<std::string>();
  }
  return info;
}

Result<PlotData> ReadPlotData(const Json& result, const std::string& name, const DocumentInfo& info,
                              const Json& hints) {
  const std::string key = "results." + name + ".";
  std::string why;
  PlotData d;
  switch (ClassifyResult(result, &why)) {
    case PlotKind::kNone:
      return Error(Code::kDataErr, "key 'results." + SafeText(name) + "': cannot be drawn: " + why);
    case PlotKind::kHistogram:
      MM_RETURN_IF_ERROR(ReadHistogram(result, key, info, hints, &d));
      break;
    case PlotKind::kLaneStats:
      MM_RETURN_IF_ERROR(ReadLaneStats(result, key, info, hints, &d));
      break;
    case PlotKind::kQuantiles:
      MM_RETURN_IF_ERROR(ReadQuantiles(result, key, info, hints, &d));
      break;
  }
  d.title = info.dataset.empty() ? name : info.dataset + " — " + name;
  if (!info.started.empty()) d.subtitle += " · " + DisplayDate(info.started);
  d.title = SafeText(d.title);
  d.subtitle = SafeText(d.subtitle);
  for (std::string& label : d.series_labels) label = SafeText(label);
  return d;
}

std::string DisplayDate(const std::string& started) {
  // YYYY-MM-DDTHH:MM, then anything, then Z or +00:00.
  const std::string& s = started;
  auto digits = [&s](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i)
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return false;
    return true;
  };
  const bool iso = s.size() >= 17 && digits(0, 4) && s[4] == '-' && digits(5, 2) && s[7] == '-' &&
                   digits(8, 2) && (s[10] == 'T' || s[10] == ' ') && digits(11, 2) &&
                   s[13] == ':' && digits(14, 2);
  const bool utc = (!s.empty() && s.back() == 'Z') ||
                   (s.size() >= 6 && s.compare(s.size() - 6, 6, "+00:00") == 0);
  if (iso && utc) return s.substr(0, 10) + " " + s.substr(11, 5) + " UTC";
  return SafeText(s.size() > 40 ? s.substr(0, 40) : s);
}

std::string SafeText(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    }
    bool ok = n > 0 && i + n <= text.size();
    for (size_t k = 1; ok && k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static const uint32_t kMinOf[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMinOf[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) {
      out += '?';
      ++i;
      continue;
    }
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
      out += '?';
    else
      out.append(text, i, n);
    i += n;
  }
  return out;
}

}  // namespace mm
