#include "plot/render.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "plot/series.h"
#include "plot/ticks.h"

namespace mm {

namespace {

const Rgb kInk = Hex(0x222222);
const Rgb kMuted = Hex(0x5a5a5a);
const Rgb kGrid = Hex(0xe8e8e8);
const Rgb kBar = Hex(0x1f77b4);  // histogram bars, the mean and mean ± std
const Rgb kRange = Hex(0x8c8c8c);
// matplotlib's "tab10": lines of lanes and of q values.
const Rgb kPalette[] = {Hex(0x1f77b4), Hex(0xff7f0e), Hex(0x2ca02c), Hex(0xd62728), Hex(0x9467bd),
                        Hex(0x8c564b), Hex(0xe377c2), Hex(0x7f7f7f), Hex(0xbcbd22), Hex(0x17becf)};
constexpr size_t kPaletteSize = sizeof kPalette / sizeof kPalette[0];
// viridis at 10 evenly spaced points: the heat map's colours, low to high.
const Rgb kViridis[] = {Hex(0x440154), Hex(0x482878), Hex(0x3e4a89), Hex(0x31688e), Hex(0x26828e),
                        Hex(0x1f9e89), Hex(0x35b779), Hex(0x6dcd59), Hex(0xb4de2c), Hex(0xfde725)};
constexpr size_t kViridisSize = sizeof kViridis / sizeof kViridis[0];

constexpr double kTitleSize = 17, kSubtitleSize = 12.5, kTickSize = 12, kLabelSize = 13,
                 kLegendSize = 12;
constexpr double kTickLength = 5, kEdge = 16;
constexpr size_t kMaxLegendEntries = 10;

Rgb Viridis(double t) {
  t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * (kViridisSize - 1);
  const size_t i = std::min(static_cast<size_t>(t), kViridisSize - 2);
  const double f = t - static_cast<double>(i);
  const Rgb& a = kViridis[i];
  const Rgb& b = kViridis[i + 1];
  return Rgb{a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f};
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void Add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(lo <= hi); }
};

// [lo, hi] with `fraction` of its span added on each side; an empty range
// is [0, 1], a single value a small range around it. Any finite values
// give a finite range (spans are taken in halves: -1e308 .. 1e308 works).
Range Padded(Range r, double fraction) {
  if (r.empty()) return Range{0, 1};
  constexpr double kMax = std::numeric_limits<double>::max();
  const double half = r.hi / 2 - r.lo / 2;
  if (!(half > std::max(std::fabs(r.lo), std::fabs(r.hi)) * 1e-12)) {
    const double d = r.lo != 0 ? std::fabs(r.lo) * 0.05 : 0.5;
    return Range{std::max(r.lo - d, -kMax), std::min(r.hi + d, kMax)};
  }
  return Range{std::max(r.lo - half * 2 * fraction, -kMax),
               std::min(r.hi + half * 2 * fraction, kMax)};
}

// Where v lies in [lo, hi], 0 to 1, computed in halves (no overflow).
double Fraction(double v, const Range& r) { return (v / 2 - r.lo / 2) / (r.hi / 2 - r.lo / 2); }

struct LegendEntry {
  enum Style { kLine, kDot, kBand, kErrorBar, kWhisker } style;
  Rgb color;
  std::string label;
};

// The axes' box, its data ranges and everything around it.
class Figure {
 public:
  Figure(Canvas* canvas, const PlotData& data) : c_(*canvas), d_(data) {}

  // Places the plot area for these ranges, labels, legend and colour bar
  // (heat maps: its ticks for [0, colour_max]).
  void Layout(Range x, bool x_int, Range y, bool y_int, const std::string& x_label,
              const std::string& y_label, std::vector<LegendEntry> legend, double colour_max = -1) {
    xr_ = x;
    yr_ = y;
    x_label_ = x_label;
    y_label_ = y_label;
    legend_ = std::move(legend);
    colour_max_ = colour_max;
    const double w = c_.width(), h = c_.height();
    c_.SetFont(kTickSize);
    const double tick_h = c_.FontHeight();
    const auto width_of = [this](const std::string& s) { return c_.TextWidth(s); };
    const auto height_of = [tick_h](const std::string&) { return tick_h; };
    c_.SetFont(kLabelSize);
    const double label_h = c_.FontHeight();
    y0_ = 70;
    y1_ = std::round(h - (kTickLength + 5 + tick_h + 10 + label_h + 12));
    yt_ = ChooseTicks(yr_.lo, yr_.hi, y1_ - y0_, 18, 10, y_int, height_of);
    c_.SetFont(kTickSize);
    double widest = 0;
    for (const std::string& s : yt_.labels) widest = std::max(widest, c_.TextWidth(s));
    x0_ = std::round(kEdge + label_h + 10 + widest + 4 + kTickLength);
    double right = 28;
    if (!legend_.empty()) {
      c_.SetFont(kLegendSize);
      double lw = 0;
      for (const LegendEntry& e : legend_) lw = std::max(lw, c_.TextWidth(e.label));
      right = 18 + 24 + 8 + std::min(lw, 220.0) + kEdge;
    }
    if (colour_max_ >= 0) {
      ct_ = ChooseTicks(0, colour_max_, y1_ - y0_, 18, 10, false, height_of);
      c_.SetFont(kTickSize);
      double cw = 0;
      for (const std::string& s : ct_.labels) cw = std::max(cw, c_.TextWidth(s));
      right = 20 + 14 + kTickLength + 4 + cw + 10 + label_h + kEdge;
    }
    x1_ = std::round(w - right);
    xt_ = ChooseTicks(xr_.lo, xr_.hi, x1_ - x0_, 16, 12, x_int, width_of);
  }

  double X(double v) const { return std::clamp(x0_ + Fraction(v, xr_) * (x1_ - x0_), -1e5, 1e5); }
  double Y(double v) const { return std::clamp(y1_ - Fraction(v, yr_) * (y1_ - y0_), -1e5, 1e5); }
  double x0() const { return x0_; }
  double x1() const { return x1_; }
  double y0() const { return y0_; }
  double y1() const { return y1_; }

  // Title, subtitle and the grid, under the data.
  void DrawBackground() {
    cairo_t* cr = c_.cr();
    const double w = c_.width();
    c_.SetFont(kTitleSize, true);
    c_.SetColor(kInk);
    c_.Text(kEdge + 4, 24, c_.Fit(d_.title, w - 2 * kEdge - 8), 0);
    c_.SetFont(kSubtitleSize);
    c_.SetColor(kMuted);
    c_.Text(kEdge + 4, 46, c_.Fit(subtitle_.empty() ? d_.subtitle : subtitle_, w - 2 * kEdge - 8),
            0);
    cairo_set_line_width(cr, 1);
    c_.SetColor(kGrid);
    for (const double v : yt_.values) {
      const double y = std::floor(Y(v)) + 0.5;
      cairo_move_to(cr, x0_, y);
      cairo_line_to(cr, x1_, y);
    }
    for (const double v : xt_.values) {
      const double x = std::floor(X(v)) + 0.5;
      cairo_move_to(cr, x, y0_);
      cairo_line_to(cr, x, y1_);
    }
    cairo_stroke(cr);
  }

  // Replaces the data's subtitle (before DrawBackground).
  void SetSubtitle(const std::string& s) { subtitle_ = s; }

  void ClipToPlot() {
    cairo_save(c_.cr());
    cairo_rectangle(c_.cr(), x0_, y0_, x1_ - x0_, y1_ - y0_);
    cairo_clip(c_.cr());
  }
  void EndClip() { cairo_restore(c_.cr()); }

  // Axes, ticks, labels, legend and colour bar, over the data.
  void DrawAxes() {
    cairo_t* cr = c_.cr();
    c_.SetColor(kInk);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, x0_ - 0.5, y0_);
    cairo_line_to(cr, x0_ - 0.5, y1_ + 0.5);
    cairo_line_to(cr, x1_, y1_ + 0.5);
    for (const double v : yt_.values) {
      const double y = std::floor(Y(v)) + 0.5;
      cairo_move_to(cr, x0_ - 0.5, y);
      cairo_line_to(cr, x0_ - 0.5 - kTickLength, y);
    }
    for (const double v : xt_.values) {
      const double x = std::floor(X(v)) + 0.5;
      cairo_move_to(cr, x, y1_ + 0.5);
      cairo_line_to(cr, x, y1_ + 0.5 + kTickLength);
    }
    cairo_stroke(cr);
    c_.SetFont(kTickSize);
    const double tick_h = c_.FontHeight();
    for (size_t i = 0; i < yt_.values.size(); ++i)
      c_.Text(x0_ - kTickLength - 4, std::floor(Y(yt_.values[i])) + 0.5, yt_.labels[i], 1);
    for (size_t i = 0; i < xt_.values.size(); ++i)
      c_.Text(std::floor(X(xt_.values[i])) + 0.5, y1_ + kTickLength + 5 + tick_h / 2, xt_.labels[i],
              0.5);
    c_.SetFont(kLabelSize);
    const double label_h = c_.FontHeight();
    c_.Text((x0_ + x1_) / 2, c_.height() - 12 - label_h / 2, c_.Fit(x_label_, x1_ - x0_), 0.5);
    c_.Text(kEdge + label_h / 2, (y0_ + y1_) / 2, c_.Fit(y_label_, y1_ - y0_), 0.5, true);
    DrawLegend();
    if (colour_max_ >= 0) DrawColourBar();
  }

  // "No finite values" in the middle of the plot area.
  void DrawEmptyNote(const std::string& note) {
    c_.SetFont(kLabelSize);
    c_.SetColor(kMuted);
    c_.Text((x0_ + x1_) / 2, (y0_ + y1_) / 2, note, 0.5);
  }

 private:
  void DrawLegend() {
    cairo_t* cr = c_.cr();
    c_.SetFont(kLegendSize);
    const double x = x1_ + 18;
    double y = y0_ + 8;
    for (const LegendEntry& e : legend_) {
      c_.SetColor(e.color, e.style == LegendEntry::kBand ? 0.35 : 1);
      switch (e.style) {
        case LegendEntry::kLine:
          cairo_set_line_width(cr, 2);
          cairo_move_to(cr, x, y);
          cairo_line_to(cr, x + 24, y);
          cairo_stroke(cr);
          break;
        case LegendEntry::kDot:
          cairo_arc(cr, x + 12, y, 4, 0, 2 * M_PI);
          cairo_fill(cr);
          break;
        case LegendEntry::kBand:
          cairo_rectangle(cr, x, y - 6, 24, 12);
          cairo_fill(cr);
          break;
        case LegendEntry::kErrorBar:
        case LegendEntry::kWhisker: {
          const double half = e.style == LegendEntry::kErrorBar ? 6 : 8;
          cairo_set_line_width(cr, e.style == LegendEntry::kErrorBar ? 2 : 1);
          cairo_move_to(cr, x + 12, y - half);
          cairo_line_to(cr, x + 12, y + half);
          cairo_move_to(cr, x + 8, y - half);
          cairo_line_to(cr, x + 16, y - half);
          cairo_move_to(cr, x + 8, y + half);
          cairo_line_to(cr, x + 16, y + half);
          cairo_stroke(cr);
          break;
        }
      }
      c_.SetColor(kInk);
      c_.Text(x + 32, y, c_.Fit(e.label, 220), 0);
      y += 24;
    }
  }

  void DrawColourBar() {
    cairo_t* cr = c_.cr();
    const double x = x1_ + 20, w = 14;
    cairo_pattern_t* g = cairo_pattern_create_linear(0, y1_, 0, y0_);
    for (size_t i = 0; i < kViridisSize; ++i) {
      const Rgb& v = kViridis[i];
      cairo_pattern_add_color_stop_rgb(g, static_cast<double>(i) / (kViridisSize - 1), v.r, v.g,
                                       v.b);
    }
    cairo_rectangle(cr, x, y0_, w, y1_ - y0_);
    cairo_set_source(cr, g);
    cairo_fill(cr);
    cairo_pattern_destroy(g);
    c_.SetColor(kInk);
    cairo_set_line_width(cr, 1);
    const auto bar_y = [&](double v) {
      return std::floor(y1_ - v / std::max(colour_max_, 1e-300) * (y1_ - y0_)) + 0.5;
    };
    for (const double v : ct_.values) {
      cairo_move_to(cr, x + w, bar_y(v));
      cairo_line_to(cr, x + w + kTickLength, bar_y(v));
    }
    cairo_stroke(cr);
    c_.SetFont(kTickSize);
    double widest = 0;
    for (size_t i = 0; i < ct_.values.size(); ++i) {
      c_.Text(x + w + kTickLength + 4, bar_y(ct_.values[i]), ct_.labels[i], 0);
      widest = std::max(widest, c_.TextWidth(ct_.labels[i]));
    }
    c_.SetFont(kLabelSize);
    c_.Text(x + w + kTickLength + 4 + widest + 10 + c_.FontHeight() / 2, (y0_ + y1_) / 2, "count",
            0.5, true);
  }

  Canvas& c_;
  const PlotData& d_;
  Range xr_, yr_;
  Ticks xt_, yt_, ct_;
  std::string x_label_, y_label_, subtitle_;
  std::vector<LegendEntry> legend_;
  double colour_max_ = -1;
  double x0_ = 0, x1_ = 0, y0_ = 0, y1_ = 0;
};

// Adds `line` (data coordinates) to the current path as a new sub-path.
void Trace(cairo_t* cr, const Figure& f, const Polyline& line) {
  for (size_t i = 0; i < line.size(); ++i) {
    if (i == 0)
      cairo_move_to(cr, f.X(line[i].first), f.Y(line[i].second));
    else
      cairo_line_to(cr, f.X(line[i].first), f.Y(line[i].second));
  }
}

void StrokePolylines(cairo_t* cr, const Figure& f, const std::vector<Polyline>& lines) {
  for (const Polyline& line : lines) {
    if (line.size() == 1) {  // a lone point: a short dash, visible
      cairo_move_to(cr, f.X(line[0].first) - 1.5, f.Y(line[0].second));
      cairo_line_to(cr, f.X(line[0].first) + 1.5, f.Y(line[0].second));
      continue;
    }
    Trace(cr, f, line);
  }
  cairo_stroke(cr);
}

void FillBands(cairo_t* cr, const Figure& f, const std::vector<Polyline>& bands) {
  for (const Polyline& band : bands) {
    Trace(cr, f, band);
    cairo_close_path(cr);
  }
  cairo_fill(cr);
}

// The step outline of one histogram (bins counts over edges), as a path:
// exact steps when the bins fit in the pixels, else each pixel column's
// largest count.
void HistogramOutline(cairo_t* cr, const Figure& f, const std::vector<double>& edges,
                      const double* counts) {
  const size_t bins = edges.size() - 1;
  const size_t columns = static_cast<size_t>(f.x1() - f.x0());
  cairo_move_to(cr, f.X(edges[0]), f.Y(0));
  if (bins <= columns) {
    for (size_t b = 0; b < bins; ++b) {
      cairo_line_to(cr, f.X(edges[b]), f.Y(counts[b]));
      cairo_line_to(cr, f.X(edges[b + 1]), f.Y(counts[b]));
    }
  } else {
    const std::vector<double> top = ColumnMaxima(edges, counts, columns);
    for (size_t c = 0; c < columns; ++c) {
      cairo_line_to(cr, f.x0() + static_cast<double>(c), f.Y(top[c]));
      cairo_line_to(cr, f.x0() + static_cast<double>(c + 1), f.Y(top[c]));
    }
  }
  cairo_line_to(cr, f.X(edges.back()), f.Y(0));
}

Range EdgeRange(const std::vector<double>& edges) {
  Range r{edges.front(), edges.back()};
  return r.hi > r.lo ? r : Padded(r, 0);
}

void DrawHistogram(Canvas& c, const PlotData& d) {
  cairo_t* cr = c.cr();
  const size_t bins = d.edges.size() - 1;
  Range y{0, 0};
  for (const double v : d.counts) y.Add(v);
  y.hi = y.hi > 0 ? y.hi * 1.05 : 1;
  Figure f(&c, d);
  std::vector<LegendEntry> legend;
  if (d.per_lane)
    for (size_t j = 0; j < d.lanes && j < kMaxLegendEntries; ++j)
      legend.push_back(
          {LegendEntry::kLine, kPalette[j % kPaletteSize], d.lane_noun + " " + std::to_string(j)});
  f.Layout(EdgeRange(d.edges), false, y, true, d.x_label, d.y_label, legend);
  f.DrawBackground();
  f.ClipToPlot();
  if (!d.per_lane && bins <= kMaxBars) {
    // One filled path per bar with a count: the bars a reader counts.
    c.SetColor(kBar);
    for (size_t b = 0; b < bins; ++b) {
      if (!(d.counts[b] > 0)) continue;
      const double xa = f.X(d.edges[b]), xb = f.X(d.edges[b + 1]);
      const double inset = xb - xa >= 4 ? 0.5 : 0;
      cairo_rectangle(cr, xa + inset, f.Y(d.counts[b]), std::max(xb - xa - 2 * inset, 0.5),
                      f.Y(0) - f.Y(d.counts[b]));
      cairo_fill(cr);
    }
  } else if (!d.per_lane) {
    c.SetColor(kBar);
    HistogramOutline(cr, f, d.edges, d.counts.data());
    cairo_close_path(cr);
    cairo_fill(cr);
  } else {
    cairo_set_line_width(cr, 1.6);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (size_t j = 0; j < d.lanes; ++j) {
      c.SetColor(kPalette[j % kPaletteSize]);
      HistogramOutline(cr, f, d.edges, d.counts.data() + j * bins);
      cairo_stroke(cr);
    }
  }
  f.EndClip();
  f.DrawAxes();
}

void DrawHeatMap(Canvas& c, const PlotData& d) {
  cairo_t* cr = c.cr();
  const size_t bins = d.edges.size() - 1;
  Figure f(&c, d);
  // Layout needs the colour scale's top: the largest (averaged) cell. The
  // plot area does not depend on it beyond its labels' width, so lay out
  // once with a provisional scale, shrink to the area, lay out again.
  Range lanes{-0.5, static_cast<double>(d.lanes) - 0.5};
  f.Layout(EdgeRange(d.edges), false, lanes, true, d.x_label, d.lane_label, {}, 1);
  size_t rows = 0, cols = 0;
  std::vector<double> cells =
      ShrinkMatrix(d.counts.data(), d.lanes, bins, static_cast<size_t>(f.y1() - f.y0()),
                   static_cast<size_t>(f.x1() - f.x0()), &rows, &cols);
  double top = *std::max_element(cells.begin(), cells.end());
  if (!(top > 0)) top = 1;
  f.Layout(EdgeRange(d.edges), false, lanes, true, d.x_label, d.lane_label, {}, top);
  const bool merged = rows < d.lanes || cols < bins;
  f.SetSubtitle(d.subtitle + (merged ? " · each pixel the mean count of the cells it covers" : ""));
  f.DrawBackground();
  const int pw = static_cast<int>(f.x1() - f.x0()), ph = static_cast<int>(f.y1() - f.y0());
  cairo_surface_t* image = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
  if (cairo_surface_status(image) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(image);
    unsigned char* pixels = cairo_image_surface_get_data(image);
    const int stride = cairo_image_surface_get_stride(image);
    // Each pixel column's bin through the edges (any spacing), each pixel
    // row's lane (lane 0 at the bottom), then the cell of the shrunk matrix.
    std::vector<size_t> col_of(static_cast<size_t>(pw));
    const double lo = d.edges.front(), half = d.edges.back() / 2 - d.edges.front() / 2;
    for (int px = 0; px < pw; ++px) {
      const double v = lo + (px + 0.5) / pw * half * 2;
      const size_t b = static_cast<size_t>(std::upper_bound(d.edges.begin(), d.edges.end(), v) -
                                           d.edges.begin());
      const size_t bin = std::min(b == 0 ? 0 : b - 1, bins - 1);
      col_of[static_cast<size_t>(px)] = bin * cols / bins;
    }
    for (int py = 0; py < ph; ++py) {
      const size_t lane = std::min(d.lanes - 1, static_cast<size_t>((ph - 1 - py + 0.5) / ph *
                                                                    static_cast<double>(d.lanes)));
      const size_t row = lane * rows / d.lanes;
      uint32_t* line = reinterpret_cast<uint32_t*>(pixels + static_cast<ptrdiff_t>(py) * stride);
      for (int px = 0; px < pw; ++px) {
        const Rgb rgb = Viridis(cells[row * cols + col_of[static_cast<size_t>(px)]] / top);
        line[px] = (static_cast<uint32_t>(std::lround(rgb.r * 255)) << 16) |
                   (static_cast<uint32_t>(std::lround(rgb.g * 255)) << 8) |
                   static_cast<uint32_t>(std::lround(rgb.b * 255));
      }
    }
    cairo_surface_mark_dirty(image);
    cairo_set_source_surface(cr, image, f.x0(), f.y0());
    cairo_paint(cr);
  }
  cairo_surface_destroy(image);
  f.DrawAxes();
}

void DrawLaneStats(Canvas& c, const PlotData& d) {
  cairo_t* cr = c.cr();
  const size_t n = d.lanes;
  const bool has_std = !d.std.empty() && !d.mean.empty();
  const bool has_range = !d.min.empty() && !d.max.empty();
  std::vector<double> below(n, NAN), above(n, NAN);
  Range y;
  for (size_t i = 0; i < n; ++i) {
    if (!d.mean.empty()) y.Add(d.mean[i]);
    if (!d.min.empty()) y.Add(d.min[i]);
    if (!d.max.empty()) y.Add(d.max[i]);
    if (has_std) {
      below[i] = d.mean[i] - d.std[i];
      above[i] = d.mean[i] + d.std[i];
      y.Add(below[i]);
      y.Add(above[i]);
    }
  }
  const bool nothing = y.empty();
  const bool markers = n <= kMaxMarkerLanes;
  std::vector<LegendEntry> legend;
  if (!d.mean.empty())
    legend.push_back({markers ? LegendEntry::kDot : LegendEntry::kLine, kBar, "mean"});
  if (has_std)
    legend.push_back({markers ? LegendEntry::kErrorBar : LegendEntry::kBand, kBar, "mean ± std"});
  if (!d.min.empty() || !d.max.empty())
    legend.push_back({markers ? LegendEntry::kWhisker : LegendEntry::kBand, kRange,
                      has_range        ? "min … max"
                      : !d.min.empty() ? "min"
                                       : "max"});
  Figure f(&c, d);
  f.Layout(Range{-0.5, static_cast<double>(n) - 0.5}, true, Padded(y, 0.05), false, d.x_label,
           d.y_label, legend);
  f.DrawBackground();
  f.ClipToPlot();
  const size_t columns = static_cast<size_t>(f.x1() - f.x0());
  if (markers) {
    const double slot = (f.x1() - f.x0()) / static_cast<double>(n);
    const double cap = std::clamp(slot * 0.2, 2.0, 7.0);
    for (size_t i = 0; i < n; ++i) {
      const double x = f.X(static_cast<double>(i));
      auto bar = [&](double lo, double hi, double half, double width, const Rgb& color) {
        c.SetColor(color);
        cairo_set_line_width(cr, width);
        if (std::isfinite(lo) && std::isfinite(hi)) {
          cairo_move_to(cr, x, f.Y(lo));
          cairo_line_to(cr, x, f.Y(hi));
        }
        for (const double v : {lo, hi}) {
          if (!std::isfinite(v)) continue;
          cairo_move_to(cr, x - half, f.Y(v));
          cairo_line_to(cr, x + half, f.Y(v));
        }
        cairo_stroke(cr);
      };
      if (!d.min.empty() || !d.max.empty())
        bar(d.min.empty() ? NAN : d.min[i], d.max.empty() ? NAN : d.max[i], cap, 1, kRange);
      if (has_std) bar(below[i], above[i], cap * 0.7, 2, kBar);
      if (!d.mean.empty() && std::isfinite(d.mean[i])) {
        cairo_arc(cr, x, f.Y(d.mean[i]), 4, 0, 2 * M_PI);
        c.SetColor(kBar);
        cairo_fill_preserve(cr);
        c.SetColor(Hex(0xffffff));
        cairo_set_line_width(cr, 1);
        cairo_stroke(cr);
      }
    }
  } else {
    if (has_range) {
      c.SetColor(kRange, 0.35);
      FillBands(cr, f, LaneBands(d.min.data(), d.max.data(), n, columns));
    } else if (!d.min.empty() || !d.max.empty()) {
      c.SetColor(kRange);
      cairo_set_line_width(cr, 1);
      StrokePolylines(cr, f, LanePolylines((d.min.empty() ? d.max : d.min).data(), n, columns));
    }
    if (has_std) {
      c.SetColor(kBar, 0.35);
      FillBands(cr, f, LaneBands(below.data(), above.data(), n, columns));
    }
    if (!d.mean.empty()) {
      c.SetColor(kBar);
      cairo_set_line_width(cr, 1.5);
      cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
      StrokePolylines(cr, f, LanePolylines(d.mean.data(), n, columns));
    }
  }
  f.EndClip();
  if (nothing) f.DrawEmptyNote("no lane has a finite value to draw");
  f.DrawAxes();
}

void DrawQuantiles(Canvas& c, const PlotData& d) {
  cairo_t* cr = c.cr();
  Range y;
  for (const double v : d.values) y.Add(v);
  const bool nothing = y.empty();
  Figure f(&c, d);
  if (!d.per_lane) {
    // Value against q (or the q's index when the document does not say q).
    Range x;
    for (const double q : d.q_x) x.Add(q);
    if (d.q_known) {
      x.Add(0);  // probabilities: the whole [0, 1] unless q lies outside it
      x.Add(1);
    }
    f.Layout(d.q_known ? Padded(x, 0.03) : Range{x.lo - 0.5, x.hi + 0.5}, !d.q_known,
             Padded(y, 0.08), false, d.x_label, d.y_label, {});
    f.DrawBackground();
    f.ClipToPlot();
    std::vector<std::pair<double, double>> points;
    for (size_t s = 0; s < d.series; ++s)
      if (std::isfinite(d.values[s]) && std::isfinite(d.q_x[s]))
        points.emplace_back(d.q_x[s], d.values[s]);
    std::sort(points.begin(), points.end());
    c.SetColor(kBar);
    cairo_set_line_width(cr, 1.5);
    StrokePolylines(cr, f, {Polyline(points.begin(), points.end())});
    for (const auto& [q, v] : points) {
      cairo_arc(cr, f.X(q), f.Y(v), 4, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  } else {
    std::vector<LegendEntry> legend;
    for (size_t s = 0; s < d.series && s < kMaxLegendEntries; ++s)
      legend.push_back({LegendEntry::kLine, kPalette[s % kPaletteSize], d.series_labels[s]});
    if (d.series > kMaxLegendEntries)
      legend.back().label = "… " + std::to_string(d.series - kMaxLegendEntries + 1) + " more";
    const size_t n = d.lanes;
    f.Layout(Range{-0.5, static_cast<double>(n) - 0.5}, true, Padded(y, 0.05), false, d.x_label,
             d.y_label, legend);
    f.DrawBackground();
    f.ClipToPlot();
    const size_t columns = static_cast<size_t>(f.x1() - f.x0());
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (size_t s = 0; s < d.series; ++s) {
      const double* v = d.values.data() + s * n;
      c.SetColor(kPalette[s % kPaletteSize]);
      cairo_set_line_width(cr, 1.6);
      StrokePolylines(cr, f, LanePolylines(v, n, columns));
      if (n > kMaxMarkerLanes) continue;
      for (size_t i = 0; i < n; ++i) {
        if (!std::isfinite(v[i])) continue;
        cairo_arc(cr, f.X(static_cast<double>(i)), f.Y(v[i]), 3.2, 0, 2 * M_PI);
        cairo_fill(cr);
      }
    }
  }
  f.EndClip();
  if (nothing) f.DrawEmptyNote("no finite value to draw");
  f.DrawAxes();
}

// Axes over [0, 1] saying why nothing is drawn.
void DrawNothing(Canvas& c, const PlotData& d, const std::string& note) {
  Figure f(&c, d);
  f.Layout(Range{0, 1}, false, Range{0, 1}, false, d.x_label, d.y_label, {});
  f.DrawBackground();
  f.DrawEmptyNote(note);
  f.DrawAxes();
}

}  // namespace

Result<std::string> RenderPlot(const PlotData& data, ImageFormat format) {
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Canvas> canvas,
                      Canvas::Create(format, kPlotWidth, kPlotHeight));
  Canvas& c = *canvas;
  if (data.lanes == 0 && data.kind != PlotKind::kNone) {
    DrawNothing(c, data, "no lanes: nothing to draw");
    return c.Finish();
  }
  switch (data.kind) {
    case PlotKind::kHistogram:
      if (data.per_lane && data.lanes > kMaxOverlaidLanes)
        DrawHeatMap(c, data);
      else
        DrawHistogram(c, data);
      break;
    case PlotKind::kLaneStats:
      DrawLaneStats(c, data);
      break;
    case PlotKind::kQuantiles:
      DrawQuantiles(c, data);
      break;
    case PlotKind::kNone:
      return Error(Code::kDataErr, "nothing to draw");
  }
  return c.Finish();
}

}  // namespace mm
