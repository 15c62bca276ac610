// Lines and bands through per-lane values, reduced to what a picture can
// show: a lane plot of a million lanes draws at most a few points per pixel
// column, so its size and drawing time do not grow with the lanes.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace mm {

// Points (x, y) in data coordinates.
using Polyline = std::vector<std::pair<double, double>>;

// The lines through (i, y[i]) for i in [0, n), broken where y[i] is not
// finite (one polyline per run of finite values). With more than
// 2 * columns points, the lanes are cut into `columns` equal groups and
// each group gives two points, its smallest and its largest value, in lane
// order: the same envelope at the resolution of `columns` pixels. A group
// without a finite value breaks the line.
std::vector<Polyline> LanePolylines(const double* y, size_t n, size_t columns);

// The closed outlines of the band between lo[i] and hi[i] (upper edge left
// to right, lower edge back), one per run of lanes where both are finite;
// a run of one lane is a band of width 1 around it (i - 0.5, i + 0.5).
// Grouped like LanePolylines: a group's band spans its lowest lo and
// highest hi.
std::vector<Polyline> LaneBands(const double* lo, const double* hi, size_t n, size_t columns);

// The largest count among the bins that meet each of `columns` equal
// pixel columns over [edges.front(), edges.back()] (0 where none does):
// the outline of a histogram of more bins than pixels.
std::vector<double> ColumnMaxima(const std::vector<double>& edges, const double* counts,
                                 size_t columns);

// A lanes x bins matrix (row-major) averaged into at most rows x cols cells
// (groups of consecutive lanes and bins; each cell the mean of its group).
// Returns the cells, row-major, and their numbers in *out_rows, *out_cols.
std::vector<double> ShrinkMatrix(const double* m, size_t lanes, size_t bins, size_t rows,
                                 size_t cols, size_t* out_rows, size_t* out_cols);

}  // namespace mm
