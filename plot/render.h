// The pictures of mmrun's results (docs/CHOICES.md "Plots"): a PlotData
// (plot/plot_data.h) drawn with axes, round ticks, tick and axis labels, a
// title and, where lines need one, a legend; as SVG or PNG bytes.
//
//   histogram             bars on their edges (x: value, y: count); more
//                         bins than pixels: one filled outline of each
//                         pixel column's largest count
//   histogram per lane    up to kMaxOverlaidLanes lanes: overlaid outlines;
//                         more: a heat map (lanes x bins, colour = count)
//                         with a colour bar, cells averaged down to pixels
//   stats per lane        up to kMaxMarkerLanes lanes: mean as a dot,
//                         mean ± std as a bar, min to max as a whisker;
//                         more: bands (min..max, mean ± std) and a mean line
//   quantiles             global: value against q; per lane: one line per q
//
// Non-finite values are skipped; a picture with nothing finite to show is
// empty axes saying so. Time and size are bounded by the pixels, not by the
// lanes or bins (plot/series.h).
//
// Any thread, but see Canvas about cairo's process-wide caches.
#pragma once

#include <string>

#include "core/status.h"
#include "plot/canvas.h"
#include "plot/plot_data.h"

namespace mm {

constexpr int kPlotWidth = 960;
constexpr int kPlotHeight = 600;
constexpr size_t kMaxOverlaidLanes = 8;
constexpr size_t kMaxMarkerLanes = 60;
// More bins than this are drawn as one outline, not a bar each.
constexpr size_t kMaxBars = 400;

// The picture of `data`, as the bytes of an SVG or PNG file. Errors:
// kCantCreate when cairo fails (out of memory).
Result<std::string> RenderPlot(const PlotData& data, ImageFormat format);

}  // namespace mm
