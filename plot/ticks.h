// Tick marks of a plot axis: round values (1, 2 or 5 times a power of ten),
// their labels, and the choice of how many fit along an axis.
//
// Pure functions of their arguments; any thread. Every function accepts any
// double (NaN, infinities, subnormal or empty ranges) and then returns no
// ticks rather than looping or failing: the ranges come from documents
// mmrun did not necessarily write (`mmrun plot`).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace mm {

// The smallest step of the form {1, 2, 5} x 10^k that is >= raw; 0 when raw
// is not a positive finite number or the step would not be one.
double NiceStep(double raw);

// The multiples of `step` in [lo, hi] (ends included within 1e-9 of a
// step), in increasing order; empty when the range or step is unusable or
// the range holds more than kMaxTicks multiples. (Beyond 2^53 steps from 0
// neighbouring multiples may round to the same double.)
constexpr int kMaxTicks = 1000;
std::vector<double> TickValues(double lo, double hi, double step);

// The label of tick `value` on an axis whose ticks are `step` apart: as
// many decimals as the step needs and no more ("0.5", "12", "-2.25"), and
// scientific notation with a short exponent ("2e6", "1.5e-5") for values
// of 1e6 and more or steps below 1e-4. Never "-0".
std::string TickLabel(double value, double step);

struct Ticks {
  double step = 0;
  std::vector<double> values;
  std::vector<std::string> labels;
};

// The ticks of an axis showing [lo, hi] along `length` pixels: the finest
// nice step that gives at most `max_ticks` ticks and leaves at least `gap`
// pixels between neighbouring labels, whose extent along the axis is
// `extent(label)` (their width on a horizontal axis, the font's height on
// a vertical one). `integer_only` (an axis of lane indices) allows steps of
// 1 and more only. Empty ticks when nothing fits, and for a range narrower
// than 2e-15 of its magnitude (no labels could tell its ticks apart).
Ticks ChooseTicks(double lo, double hi, double length, double gap, int max_ticks, bool integer_only,
                  const std::function<double(const std::string&)>& extent);

}  // namespace mm
