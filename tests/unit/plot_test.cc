// Tests of the plot layer's pure parts: round ticks and their labels, the
// reduction of many lanes to pixels, the reader of result documents (bad
// documents one per line, each naming its key), and a smoke test of the
// renderer in both formats on awkward data (NaN only, no lanes, one value).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "plot/canvas.h"
#include "plot/plot_data.h"
#include "plot/render.h"
#include "plot/series.h"
#include "plot/ticks.h"

namespace mm {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Whether step is 1, 2 or 5 times a power of ten.
bool IsNice(double step) {
  const double m = step / std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  return std::fabs(m - 1) < 1e-9 || std::fabs(m - 2) < 1e-9 || std::fabs(m - 5) < 1e-9;
}

double SevenPerChar(const std::string& s) { return 7.0 * static_cast<double>(s.size()); }

TEST_CASE("Ticks: NiceStep is the smallest 1, 2 or 5 times a power of ten not below raw",
          "[plot]") {
  const std::vector<std::pair<double, double>> cases = {
      {0.7, 1},  {1, 1},       {1.2, 2},     {2, 2},     {2.1, 5},    {4.9, 5},
      {5.1, 10}, {0.03, 0.05}, {1e-5, 1e-5}, {123, 200}, {999, 1000}, {3e12, 5e12}};
  for (const auto& [raw, step] : cases) {
    INFO("raw " << raw);
    CHECK(NiceStep(raw) == Approx(step));
  }
  for (const double bad : {0.0, -1.0, kNaN, kInf, 5e-324}) CHECK(NiceStep(bad) == 0);
}

TEST_CASE("Ticks: TickValues are the multiples of the step in the range, bounded", "[plot]") {
  const std::vector<double> v = TickValues(0, 1, 0.2);
  REQUIRE(v.size() == 6);
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == Approx(0.2 * static_cast<double>(i)));
  CHECK(TickValues(-0.5, 9.5, 1).size() == 10);
  CHECK(TickValues(-0.5, 9.5, 1).front() == 0);
  CHECK(TickValues(1, 1.5, 1) == std::vector<double>{1});
  CHECK(TickValues(-1, 1, 5) == std::vector<double>{0});
  CHECK(std::signbit(TickValues(-1, 1, 5)[0]) == false);  // never -0
  CHECK(TickValues(kNaN, 1, 0.1).empty());
  CHECK(TickValues(0, kInf, 0.1).empty());
  CHECK(TickValues(0, 1, 0).empty());
  CHECK(TickValues(1, 0, 0.1).empty());
  CHECK(TickValues(0, 1e6, 1).empty());  // more than kMaxTicks
}

TEST_CASE("Ticks: labels have the step's decimals, short exponents, never -0", "[plot]") {
  CHECK(TickLabel(0.2, 0.2) == "0.2");
  CHECK(TickLabel(0.30000000000000004, 0.1) == "0.3");
  CHECK(TickLabel(-0.0, 1) == "0");
  CHECK(TickLabel(1e-17, 0.1) == "0");
  CHECK(TickLabel(-1e-17, 0.1) == "0");
  CHECK(TickLabel(1200, 200) == "1200");
  CHECK(TickLabel(-2.5, 0.5) == "-2.5");
  CHECK(TickLabel(0.05, 0.05) == "0.05");
  CHECK(TickLabel(2e6, 1e6) == "2e6");
  CHECK(TickLabel(1.5e7, 5e6) == "1.5e7");
  CHECK(TickLabel(1e7, 5e6) == "1e7");
  CHECK(TickLabel(2e-5, 1e-5) == "2e-5");
  CHECK(TickLabel(-3e-5, 1e-5) == "-3e-5");
  CHECK(TickLabel(kNaN, 1).empty());
}

TEST_CASE("Ticks: ChooseTicks leaves room between labels and keeps steps round", "[plot]") {
  for (const double length : {800.0, 300.0, 120.0, 40.0}) {
    for (const auto& [lo, hi] : std::vector<std::pair<double, double>>{
             {0, 1000}, {-3.55, 3.75}, {0, 1e7}, {1e-6, 3e-6}, {-0.5, 9.5}, {1e15, 1e15 + 64}}) {
      INFO("range [" << lo << ", " << hi << "] along " << length << " px");
      const Ticks t = ChooseTicks(lo, hi, length, 16, 12, false, SevenPerChar);
      REQUIRE(t.values.size() == t.labels.size());
      CHECK(t.values.size() <= 12);
      CHECK(!t.values.empty());
      if (t.values.empty()) continue;
      CHECK(IsNice(t.step));
      double widest = 0;
      for (const std::string& s : t.labels) widest = std::max(widest, SevenPerChar(s));
      if (t.values.size() > 1) CHECK(t.step / (hi - lo) * length >= widest + 16 - 1e-9);
      for (const double v : t.values) {
        CHECK(v >= lo - 1e-9 * t.step);
        CHECK(v <= hi + 1e-9 * t.step);
      }
      // Labels tell the ticks apart.
      for (size_t i = 1; i < t.labels.size(); ++i) CHECK(t.labels[i] != t.labels[i - 1]);
    }
  }
}

TEST_CASE("Ticks: an integer axis has steps of 1 or more; unusable ranges give no ticks",
          "[plot]") {
  const Ticks t = ChooseTicks(-0.5, 2.5, 800, 16, 12, true, SevenPerChar);
  CHECK(t.step == 1);
  CHECK(t.labels == std::vector<std::string>{"0", "1", "2"});
  CHECK(ChooseTicks(1, 1, 800, 16, 12, false, SevenPerChar).values.empty());
  CHECK(ChooseTicks(kNaN, 1, 800, 16, 12, false, SevenPerChar).values.empty());
  CHECK(ChooseTicks(-kInf, 1, 800, 16, 12, false, SevenPerChar).values.empty());
  // The widest ranges of doubles still get round ticks.
  CHECK(ChooseTicks(-1.7e308, 1.7e308, 800, 16, 12, false, SevenPerChar).labels ==
        std::vector<std::string>{"-1.5e308", "-1e308", "-5e307", "0", "5e307", "1e308", "1.5e308"});
  CHECK(ChooseTicks(0, 1, 0, 16, 12, false, SevenPerChar).values.empty());
  // Subnormal spans end (NiceStep gives 0) rather than loop, and so do
  // ranges of a few ulps far from 0 (a loop over k += 1 would not end).
  CHECK(ChooseTicks(0, 5e-324, 800, 16, 12, false, SevenPerChar).values.empty());
  CHECK(ChooseTicks(1.3e306, std::nextafter(std::nextafter(1.3e306, kInf), kInf), 800, 16, 12,
                    false, SevenPerChar)
            .values.empty());
  CHECK(TickValues(1e17, 1e17 + 512, 1).size() == 513);
}

TEST_CASE("Series: lines break at non-finite values; many lanes shrink to the columns", "[plot]") {
  const std::vector<double> y = {1, 2, kNaN, 4, kInf, 6, 7};
  const std::vector<Polyline> lines = LanePolylines(y.data(), y.size(), 100);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == Polyline{{0, 1}, {1, 2}});
  CHECK(lines[1] == Polyline{{3, 4}});
  CHECK(lines[2] == Polyline{{5, 6}, {6, 7}});

  std::vector<double> many(100000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = std::sin(static_cast<double>(i) / 997.0);
  many[50000] = 5;  // a spike survives the reduction
  const std::vector<Polyline> reduced = LanePolylines(many.data(), many.size(), 100);
  size_t points = 0;
  bool spike = false;
  for (const Polyline& l : reduced) {
    points += l.size();
    for (size_t i = 1; i < l.size(); ++i) CHECK(l[i].first > l[i - 1].first);  // lane order
    for (const auto& p : l) spike = spike || p.second == 5;
  }
  CHECK(points <= 200);
  CHECK(spike);
}

TEST_CASE("Series: bands follow runs of finite pairs; a lone lane is widened", "[plot]") {
  const std::vector<double> lo = {0, 1, kNaN, 2, 3};
  const std::vector<double> hi = {1, 2, 5, 4, kNaN};
  const std::vector<Polyline> bands = LaneBands(lo.data(), hi.data(), lo.size(), 100);
  REQUIRE(bands.size() == 2);
  CHECK(bands[0] == Polyline{{0, 1}, {1, 2}, {1, 1}, {0, 0}});
  CHECK(bands[1] == Polyline{{2.5, 4}, {3.5, 4}, {3.5, 2}, {2.5, 2}});
}

TEST_CASE("Series: column maxima and shrunk matrices", "[plot]") {
  std::vector<double> edges, counts;
  for (int i = 0; i <= 1000; ++i) edges.push_back(i);
  for (int i = 0; i < 1000; ++i) counts.push_back(i % 100 == 42 ? 1000 : 1);
  const std::vector<double> top = ColumnMaxima(edges, counts.data(), 10);
  REQUIRE(top.size() == 10);
  for (const double t : top) CHECK(t == 1000);
  const std::vector<double> m = {1, 3, 5, 7,  //
                                 2, 4, 6, 8};
  size_t rows = 0, cols = 0;
  CHECK(ShrinkMatrix(m.data(), 2, 4, 1, 2, &rows, &cols) == std::vector<double>{2.5, 6.5});
  CHECK(rows == 1);
  CHECK(cols == 2);
  CHECK(ShrinkMatrix(m.data(), 2, 4, 10, 10, &rows, &cols) == m);
}

TEST_CASE("PlotData: texts are made drawable, dates shown in UTC", "[plot]") {
  CHECK(SafeText("abc é ü") == "abc é ü");
  CHECK(SafeText("a\nb\tc") == "a?b?c");
  CHECK(SafeText("\xff\xfe") == "??");
  CHECK(SafeText("\xC0\xAF") == "??");       // overlong '/'
  CHECK(SafeText("\xED\xA0\x80") == "???");  // a surrogate
  CHECK(SafeText("\xE2\x82") == "??");       // cut short
  CHECK(SafeText(std::string("a\0b", 3)) == "a?b");
  CHECK(DisplayDate("2024-05-01T12:34:56Z") == "2024-05-01 12:34 UTC");
  CHECK(DisplayDate("2024-05-01T12:34:56.123456+00:00") == "2024-05-01 12:34 UTC");
  CHECK(DisplayDate("yesterday") == "yesterday");
  CHECK(DisplayDate("") == "");
}

Json Doc(const std::string& text) { return Json::parse(text); }

TEST_CASE("PlotData: results are classified by their keys", "[plot]") {
  std::string why;
  CHECK(ClassifyResult(Doc(R"({"counts": [1], "edges": [0, 1]})"), &why) == PlotKind::kHistogram);
  CHECK(ClassifyResult(Doc(R"({"values": 1.5})"), &why) == PlotKind::kQuantiles);
  CHECK(ClassifyResult(Doc(R"({"count": [3], "mean": [1]})"), &why) == PlotKind::kLaneStats);
  CHECK(ClassifyResult(Doc(R"({"count": 3, "mean": 1})"), &why) == PlotKind::kNone);
  CHECK(why.find("global stats") != std::string::npos);
  CHECK(ClassifyResult(Doc(R"({"count": [3], "var": [1]})"), &why) == PlotKind::kNone);
  CHECK(ClassifyResult(Doc(R"({"cov": [[1]], "corr": [[1]]})"), &why) == PlotKind::kNone);
  CHECK(ClassifyResult(Doc(R"({"path": "/x.npy", "shape": [2]})"), &why) == PlotKind::kNone);
  CHECK(ClassifyResult(Doc("[1, 2]"), &why) == PlotKind::kNone);
}

TEST_CASE("PlotData: a bad result names its key", "[plot]") {
  // {result, fragment of the message}
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"counts": [1, 2], "edges": [0, 1]})", "'results.a.counts': must end in lists of 1"},
      {R"({"counts": [1]})", "'results.a.edges': is missing"},
      {R"({"counts": [1], "edges": [0, "x"]})", "'results.a.edges[1]': must be a number"},
      {R"({"counts": [1], "edges": [1, 0]})", "'results.a.edges[1]': must not be less"},
      {R"({"counts": [1], "edges": [0, "Infinity"]})", "'results.a.edges[1]': must be finite"},
      {R"({"counts": [1], "edges": [0]})", "'results.a.edges': must be a list of at least 2"},
      {R"({"counts": [-1], "edges": [0, 1]})", "'results.a.counts': must hold finite counts"},
      {R"({"counts": ["NaN"], "edges": [0, 1]})", "'results.a.counts': must hold finite counts"},
      {R"({"counts": "/d/p.counts.npy", "edges": [0, 1]})", ".npy files"},
      {R"({"counts": [[1, 2], [3]], "edges": [0, 1, 2]})",
       "'results.a.counts[1]': must be a list of 2"},
      {R"({"counts": [[1, 2], 3], "edges": [0, 1, 2]})",
       "'results.a.counts[1]': must be a list of 2"},
      {R"({"counts": [[1, [2]]], "edges": [0, 1, 2]})",
       "'results.a.counts[0][1]': must be a number"},
      {R"({"counts": [1], "edges": [0, 1], "below": [1]})",
       "'results.a.below': must have the shape"},
      {R"({"counts": [1], "edges": [0, 1], "axis": "x"})", "'results.a.axis': must be null"},
      {R"({"values": [[1, 2], [3, 4]], "q": [0.1, 0.2, 0.3]})",
       "'results.a.values': has shape [2, 2]"},
      {R"({"values": [1, 2], "q": "x"})", "'results.a.q': must be a number or a list"},
      {R"({"values": [1, 2], "method": 3})", "'results.a.method': must be a string"},
      {R"({"values": []})", "'results.a.values': holds no values"},
      {R"({"mean": [1, 2], "std": [1]})", "'results.a.std': has shape [1], other fields [2]"},
      {R"({"mean": [1, 2], "min": 0})", "'results.a.min': must be a list"},
      {R"({"mean": [1, 2], "max": [true, 2]})", "'results.a.max[0]': must be a number"},
      {R"({"mean": [1, null]})", "'results.a.mean[1]': must be a number"},
      {R"({"mean": 1.5})", "'results.a': cannot be drawn: global stats"},
      {R"({"cov": [[1]]})", "'results.a': cannot be drawn: cov"},
      {R"(17)", "'results.a': cannot be drawn"},
  };
  for (const auto& [text, fragment] : cases) {
    INFO(text);
    const Result<PlotData> d = ReadPlotData(Doc(text), "a", DocumentInfo(), Json());
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == Code::kDataErr);
    CHECK_THAT(d.status().message(), Catch::Contains(fragment));
  }
}

TEST_CASE("PlotData: nesting and size are bounded before anything is read", "[plot]") {
  std::string deep = "1";
  for (int i = 0; i < 40; ++i) deep = "[" + deep + "]";
  Result<PlotData> d = ReadPlotData(Doc(R"({"mean": )" + deep + "}"), "a", DocumentInfo(), Json());
  REQUIRE_FALSE(d.ok());
  CHECK_THAT(d.status().message(), Catch::Contains("nested more than 32"));
  // 1001 x 1000 numbers: the shape alone refuses it.
  Json big = Json::array();
  Json row = Json::array();
  for (int i = 0; i < 1000; ++i) row.push_back(1.0);
  for (int i = 0; i < 1001; ++i) big.push_back(row);
  d = ReadPlotData(Json{{"mean", big}}, "a", DocumentInfo(), Json());
  REQUIRE_FALSE(d.ok());
  CHECK_THAT(d.status().message(), Catch::Contains("more than 1000000 numbers"));
}

TEST_CASE("PlotData: the document's dataset, date and shape; bad ones named", "[plot]") {
  Result<DocumentInfo> info = ReadDocumentInfo(Doc(
      R"({"mmrun": {"started": "2024-05-01T12:00:00Z"},
          "dataset": {"path": "/d/cube.h5", "name": "/t2m", "shape": [4, 3]}, "results": {}})"));
  REQUIRE(info.ok());
  CHECK(info->dataset == "cube.h5:/t2m");
  CHECK(info->started == "2024-05-01T12:00:00Z");
  CHECK(info->shape == std::vector<int64_t>{4, 3});
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"([])", "not a result document"},
      {R"({"dataset": {}})", "'results': is missing"},
      {R"({"shard": [0, 2], "nodes": []})", "mmrun merge"},
      {R"({"results": []})", "'results': must be an object"},
      {R"({"results": {}, "dataset": {"path": 3}})", "'dataset.path': must be a string"},
      {R"({"results": {}, "dataset": {"shape": [2, -1]}})", "'dataset.shape': must hold integers"},
      {R"({"results": {}, "mmrun": {"started": 5}})", "'mmrun.started': must be a string"},
  };
  for (const auto& [text, fragment] : bad) {
    INFO(text);
    info = ReadDocumentInfo(Doc(text));
    REQUIRE_FALSE(info.ok());
    CHECK_THAT(info.status().message(), Catch::Contains(fragment));
  }
}

TEST_CASE("PlotData: lanes are named from axis and shape; q from the result or the hints",
          "[plot]") {
  DocumentInfo info;
  info.shape = {100, 3};
  Result<PlotData> d = ReadPlotData(Doc(R"({"mean": [1, 2, 3], "count": [5, 0, 5], "axis": 0})"),
                                    "cols", info, Json());
  REQUIRE(d.ok());
  CHECK(d->x_label == "column (axis 1)");
  CHECK(std::isnan(d->mean[1]));  // count 0: not drawn
  CHECK(d->skipped_lanes == 1);
  d = ReadPlotData(Doc(R"({"values": [[1, 2, 3], [4, 5, 6]]})"), "q", info,
                   Json{{"q", {0.25, 0.75}}, {"axis", 0}});
  REQUIRE(d.ok());
  CHECK(d->per_lane);
  CHECK(d->series == 2);
  CHECK(d->lanes == 3);
  CHECK(d->series_labels == std::vector<std::string>{"q = 0.25", "q = 0.75"});
  // A scalar q with an axis: one value per lane, no q dimension.
  d = ReadPlotData(Doc(R"({"values": [1, 2, 3], "q": 0.5})"), "q", info, Json());
  REQUIRE(d.ok());
  CHECK(d->per_lane);
  CHECK(d->series == 1);
  CHECK(d->lanes == 3);
  // Without q, a list is global quantiles labelled by index.
  d = ReadPlotData(Doc(R"({"values": [1, 2, 3]})"), "q", info, Json());
  REQUIRE(d.ok());
  CHECK_FALSE(d->per_lane);
  CHECK(d->series == 3);
  CHECK(d->series_labels[2] == "q[2]");
  // A 3-d dataset with two kept axes.
  info.shape = {5, 2, 3};
  d = ReadPlotData(Doc(R"({"counts": [[[1], [2], [3]], [[4], [5], [6]]], "edges": [0, 1],
                          "axis": 0})"),
                   "h", info, Json());
  REQUIRE(d.ok());
  CHECK(d->lanes == 6);
  CHECK(d->lane_label == "lane (axes 1, 2 in C order)");
}

TEST_CASE("Render: every kind in both formats, also with nothing finite or no lanes", "[plot]") {
  DocumentInfo info;
  info.dataset = "data.f4";
  info.started = "2024-05-01T12:00:00Z";
  const std::vector<std::string> results = {
      R"({"counts": [1, 5, 0, 2], "edges": [0, 1, 2, 3, 4], "below": 1, "above": 0, "nan_count": 2})",
      R"({"counts": [[1, 5], [0, 2]], "edges": [0, 1, 2]})",
      R"({"counts": [[1],[1],[1],[1],[1],[1],[1],[1],[1],[1]], "edges": [3, 3]})",
      R"({"counts": [], "edges": [0, 1]})",
      R"({"mean": [1, "NaN", 2], "std": [0.5, "NaN", "Infinity"], "min": [0, "NaN", 1], "max": [2, "NaN", 3]})",
      R"({"mean": ["NaN", "NaN"]})",
      R"({"min": [1e308, -1e308], "max": [1e308, 1e308]})",
      R"({"mean": []})",
      R"({"values": 0.5})",
      R"({"values": [[1, 2, "NaN"], [2, 3, 4]]})",
      R"({"values": ["NaN", "-Infinity"]})",
  };
  for (const std::string& text : results) {
    for (const ImageFormat format : {ImageFormat::kSvg, ImageFormat::kPng}) {
      INFO(text);
      Result<PlotData> d = ReadPlotData(Doc(text), "a", info, Json());
      REQUIRE(d.ok());
      Result<std::string> bytes = RenderPlot(*d, format);
      REQUIRE(bytes.ok());
      if (format == ImageFormat::kPng)
        CHECK(bytes->compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
      else
        CHECK(bytes->compare(0, 5, "<?xml") == 0);
    }
  }
  ReleaseDrawingCaches();
}

TEST_CASE("Render: the format comes from the extension, in any case", "[plot]") {
  CHECK(FormatOfPath("a/b.svg") == ImageFormat::kSvg);
  CHECK(FormatOfPath("B.PNG") == ImageFormat::kPng);
  CHECK_FALSE(FormatOfPath("b.jpg").has_value());
  CHECK_FALSE(FormatOfPath("svg").has_value());
}

}  // namespace
}  // namespace mm
