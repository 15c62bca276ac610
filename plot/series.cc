#include "plot/series.h"

#include <algorithm>
#include <cmath>

namespace mm {

namespace {

// Lanes [begin, end) of group g of `groups` over n lanes.
std::pair<size_t, size_t> Group(size_t g, size_t groups, size_t n) {
  const auto at = [&](size_t k) {
    return static_cast<size_t>(static_cast<unsigned __int128>(k) * n / groups);
  };
  return {at(g), at(g + 1)};
}

}  // namespace

std::vector<Polyline> LanePolylines(const double* y, size_t n, size_t columns) {
  std::vector<Polyline> lines;
  Polyline current;
  auto flush = [&] {
    if (!current.empty()) lines.push_back(std::move(current));
    current.clear();
  };
  if (columns == 0 || n <= 2 * columns) {
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite(y[i]))
        current.emplace_back(static_cast<double>(i), y[i]);
      else
        flush();
    }
    flush();
    return lines;
  }
  for (size_t g = 0; g < columns; ++g) {
    const auto [begin, end] = Group(g, columns, n);
    size_t lo = end, hi = end;
    for (size_t i = begin; i < end; ++i) {
      if (!std::isfinite(y[i])) continue;
      if (lo == end || y[i] < y[lo]) lo = i;
      if (hi == end || y[i] > y[hi]) hi = i;
    }
    if (lo == end) {
      flush();
      continue;
    }
    const size_t first = std::min(lo, hi), second = std::max(lo, hi);
    current.emplace_back(static_cast<double>(first), y[first]);
    if (second != first) current.emplace_back(static_cast<double>(second), y[second]);
  }
  flush();
  return lines;
}

std::vector<Polyline> LaneBands(const double* lo, const double* hi, size_t n, size_t columns) {
  const size_t groups = columns == 0 || n <= 2 * columns ? n : columns;
  std::vector<Polyline> bands;
  Polyline upper, lower;
  auto flush = [&] {
    if (!upper.empty()) {
      Polyline outline = upper;
      outline.insert(outline.end(), lower.rbegin(), lower.rend());
      bands.push_back(std::move(outline));
    }
    upper.clear();
    lower.clear();
  };
  for (size_t g = 0; g < groups; ++g) {
    const auto [begin, end] = Group(g, groups, n);
    double bottom = 0, top = 0;
    bool any = false;
    for (size_t i = begin; i < end; ++i) {
      if (!std::isfinite(lo[i]) || !std::isfinite(hi[i])) continue;
      bottom = any ? std::min(bottom, lo[i]) : lo[i];
      top = any ? std::max(top, hi[i]) : hi[i];
      any = true;
    }
    if (!any) {
      flush();
      continue;
    }
    // The group covers lanes begin .. end - 1, each drawn ±0.5 around it
    // only at a run's ends; inside a run the edges pass through the lanes.
    const double x0 = static_cast<double>(begin), x1 = static_cast<double>(end - 1);
    upper.emplace_back(x0, top);
    lower.emplace_back(x0, bottom);
    if (x1 != x0) {
      upper.emplace_back(x1, top);
      lower.emplace_back(x1, bottom);
    }
  }
  flush();
  // A run of one lane has no width: widen it to the lane's slot.
  for (Polyline& b : bands)
    if (b.size() == 2)
      b = {{b[0].first - 0.5, b[0].second},
           {b[0].first + 0.5, b[0].second},
           {b[1].first + 0.5, b[1].second},
           {b[1].first - 0.5, b[1].second}};
  return bands;
}

std::vector<double> ColumnMaxima(const std::vector<double>& edges, const double* counts,
                                 size_t columns) {
  std::vector<double> out(columns, 0.0);
  if (edges.size() < 2 || columns == 0) return out;
  // Positions in halves: edges of any finite values give no overflow.
  const double lo = edges.front(), half = edges.back() / 2 - edges.front() / 2;
  if (!(half > 0)) {
    for (size_t b = 0; b + 1 < edges.size(); ++b) out[0] = std::max(out[0], counts[b]);
    return out;
  }
  const double last = static_cast<double>(columns - 1);
  for (size_t b = 0; b + 1 < edges.size(); ++b) {
    const double n = static_cast<double>(columns);
    const double c0 = std::clamp(std::floor((edges[b] / 2 - lo / 2) / half * n), 0.0, last);
    const double c1 = std::clamp(std::ceil((edges[b + 1] / 2 - lo / 2) / half * n) - 1, c0, last);
    for (size_t c = static_cast<size_t>(c0); c <= static_cast<size_t>(c1); ++c)
      out[c] = std::max(out[c], counts[b]);
  }
  return out;
}

std::vector<double> ShrinkMatrix(const double* m, size_t lanes, size_t bins, size_t rows,
                                 size_t cols, size_t* out_rows, size_t* out_cols) {
  const size_t r = std::max<size_t>(1, std::min(lanes, rows));
  const size_t c = std::max<size_t>(1, std::min(bins, cols));
  std::vector<double> sum(r * c, 0.0), n(r * c, 0.0);
  for (size_t rr = 0; rr < r; ++rr) {
    const auto [l0, l1] = Group(rr, r, lanes);
    for (size_t cc = 0; cc < c; ++cc) {
      const auto [b0, b1] = Group(cc, c, bins);
      double s = 0;
      for (size_t l = l0; l < l1; ++l)
        for (size_t b = b0; b < b1; ++b) s += m[l * bins + b];
      sum[rr * c + cc] = s;
      n[rr * c + cc] = static_cast<double>((l1 - l0) * (b1 - b0));
    }
  }
  for (size_t i = 0; i < sum.size(); ++i) sum[i] = n[i] > 0 ? sum[i] / n[i] : 0;
  *out_rows = r;
  *out_cols = c;
  return sum;
}

}  // namespace mm
