// What a picture shows, read from a result document (SPEC §4): one
// analysis' result object, the dataset's name, the run's start time.
//
// The reader takes any JSON value, from mmrun or not (`mmrun plot` reads
// files anyone may have edited), and trusts no type, length or shape: a
// document it cannot draw is a kDataErr naming the key, e.g.
//   key 'results.spread.counts[2]': must be a list of 40 numbers, got a list of 39
// Numbers are JSON numbers or the strings "NaN", "Infinity", "-Infinity";
// a field of more than kMaxPlotNumbers numbers or kMaxPlotDims levels of
// lists is refused (mmrun writes results that large to .npy files), which
// bounds the time and memory of a picture.
//
// Which picture a result makes is read from its keys, since a result
// document does not record the op: "edges" is a histogram, "values"
// quantiles, stats fields ("mean", "min", ...) holding lists per-lane
// stats. The parameters a result may echo ("q", "axis", "method", "bins")
// are used when present; `hints` (a run's own analysis parameters) fills
// in those it lacks.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"

namespace mm {

constexpr size_t kMaxPlotNumbers = 1000000;
constexpr int kMaxPlotDims = 32;

enum class PlotKind {
  kNone,       // not drawn: global stats, cov, slice, ...
  kHistogram,  // one histogram, or one per lane (histogram with "axis")
  kLaneStats,  // stats with an axis that keeps lanes
  kQuantiles,  // quantiles, global or per lane
};

// The kind of picture `result` makes; for kNone, `why` (may be null) says
// why it is not drawn ("global stats: one number per field").
PlotKind ClassifyResult(const Json& result, std::string* why);

// What the document says about the run, for titles and axis labels.
struct DocumentInfo {
  std::string dataset;         // file name (":" and the HDF5 dataset's name); "" if unknown
  std::string started;         // mmrun.started as written; "" when absent
  std::vector<int64_t> shape;  // dataset.shape; empty when unknown
};

// Reads "dataset" (path, name, shape) and "mmrun" (started) of `doc`, all
// optional, checking the types of those present. Errors: kDataErr naming
// the key; `doc` not an object, or without a "results" object.
Result<DocumentInfo> ReadDocumentInfo(const Json& doc);

// The picture of one analysis, in numbers, plus its texts.
struct PlotData {
  PlotKind kind = PlotKind::kNone;
  std::string title;     // "DATASET — NAME"
  std::string subtitle;  // what is shown, notes (below, above, NaN), the date
  std::string x_label, y_label;
  std::string lane_label;  // the lanes' axis: "column (axis 1)", "lane", ...
  std::string lane_noun;   // "column", "row", "lane": names one lane in a legend
  bool per_lane = false;   // histogram and quantiles: one per lane
  size_t lanes = 0;        // lanes (1 for a global histogram or quantiles)

  // kHistogram: bins + 1 finite, non-decreasing edges; lanes x bins counts
  // (lane j's bins start at j * bins).
  std::vector<double> edges;
  std::vector<double> counts;

  // kLaneStats: `lanes` values each, empty when the result lacks the field;
  // NaN where a lane has no value (count 0) or a value that is not finite.
  std::vector<double> mean, std, min, max;
  size_t skipped_lanes = 0;  // lanes with no finite mean, min or max

  // kQuantiles: series x lanes values (one series per q); per series its
  // x position on a global plot (q, or its index when q is unknown) and its
  // legend label.
  size_t series = 0;
  std::vector<double> values;
  std::vector<double> q_x;
  bool q_known = false;
  std::vector<std::string> series_labels;
};

// The picture of analysis `name`, whose result object is `result`. `hints`
// is null or an object of the analysis' parameters. Errors: kDataErr
// "key 'results.NAME.KEY...': ..." for anything it cannot draw, kind kNone
// included (with ClassifyResult's reason).
Result<PlotData> ReadPlotData(const Json& result, const std::string& name, const DocumentInfo& info,
                              const Json& hints);

// "2024-05-01T12:34:56Z" (or with fractional seconds, or "+00:00") as
// "2024-05-01 12:34 UTC"; any other string as given, at most 40 characters.
std::string DisplayDate(const std::string& started);

// `text` with every byte that is not part of valid UTF-8, and every control
// character, replaced by '?', so that a text of any origin can be drawn.
std::string SafeText(const std::string& text);

}  // namespace mm
