#include "plot/ticks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace mm {

double NiceStep(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  if (!(power > 0) || !std::isfinite(power)) return 0;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    const double step = m * power;
    // log10 may land one ulp low: 1e-5 can give a power of 1e-6.
    if (step >= raw * (1 - 1e-12)) return std::isfinite(step) ? step : 0;
  }
  return 0;
}

std::vector<double> TickValues(double lo, double hi, double step) {
  std::vector<double> out;
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi >= lo) || !(step > 0) ||
      !std::isfinite(step))
    return out;
  const double first = std::ceil(lo / step - 1e-9);
  const double last = std::floor(hi / step + 1e-9);
  if (!std::isfinite(first) || !std::isfinite(last) || last - first + 1 > kMaxTicks) return out;
  // Counted with an integer: past 2^53 adding 1 to a double changes nothing.
  const int n = static_cast<int>(last - first) + 1;
  for (int i = 0; i < n; ++i) {
    const double v = (first + i) * step;
    out.push_back(v == 0 ? 0.0 : v);  // -0 * step is 0
  }
  return out;
}

namespace {

// "1.500000e+07" -> "1.5e7", "2.000e-05" -> "2e-5".
std::string ShortScientific(const char* text) {
  std::string s(text);
  const size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string mantissa = s.substr(0, e);
  if (mantissa.find('.') != std::string::npos) {
    while (!mantissa.empty() && mantissa.back() == '0') mantissa.pop_back();
    if (!mantissa.empty() && mantissa.back() == '.') mantissa.pop_back();
  }
  const int exponent = std::atoi(s.c_str() + e + 1);
  return mantissa + "e" + std::to_string(exponent);
}

}  // namespace

std::string TickLabel(double value, double step) {
  if (!std::isfinite(value)) return "";
  if (value == 0) return "0";
  const double k = step > 0 && std::isfinite(step) ? std::floor(std::log10(step) + 1e-9) : 0;
  char buf[64];
  if (std::fabs(value) >= 1e6 || (step > 0 && step < 1e-4)) {
    const double e = std::floor(std::log10(std::fabs(value)));
    const int digits = static_cast<int>(std::clamp(e - k, 0.0, 15.0));
    std::snprintf(buf, sizeof buf, "%.*e", digits, value);
    return ShortScientific(buf);
  }
  const int decimals = static_cast<int>(std::clamp(-k, 0.0, 15.0));
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s(buf);
  // A value that rounds to zero at this precision is zero ("-0.0" -> "0").
  if (s.find_first_not_of("-0.") == std::string::npos) return "0";
  return s;
}

Ticks ChooseTicks(double lo, double hi, double length, double gap, int max_ticks, bool integer_only,
                  const std::function<double(const std::string&)>& extent) {
  Ticks ticks;
  if (!std::isfinite(lo) || !std::isfinite(hi) || !(hi > lo) || !(length > 0) || max_ticks < 1)
    return ticks;
  // Half the span: finite for any two finite doubles (-1e308 .. 1e308).
  const double half = hi / 2 - lo / 2;
  // A span of a few ulps has no ticks that labels could tell apart.
  if (!(half > std::max(std::fabs(lo), std::fabs(hi)) * 1e-15)) return ticks;
  double step = NiceStep(half / max_ticks * 2);
  if (integer_only) step = std::max(step, 1.0);
  // Coarser steps until the labels fit; a step of the span or more leaves
  // at most two ticks, and a coarser one fewer, so this ends in a few dozen
  // rounds at most.
  Ticks previous;  // the last ticks that did not fit
  for (int round = 0; round < 64 && step > 0; ++round) {
    std::vector<double> values = TickValues(lo, hi, step);
    if (values.empty() && !previous.values.empty()) {
      // Coarser than the range: keep one tick of the last step instead.
      const size_t middle = previous.values.size() / 2;
      ticks.step = previous.step;
      ticks.values = {previous.values[middle]};
      ticks.labels = {previous.labels[middle]};
      return ticks;
    }
    std::vector<std::string> labels;
    double widest = 0;
    for (const double v : values) {
      labels.push_back(TickLabel(v, step));
      widest = std::max(widest, extent(labels.back()));
    }
    const double spacing = step / 2 / half * length;
    if (static_cast<int>(values.size()) <= max_ticks &&
        (values.size() < 2 || spacing >= widest + gap)) {
      ticks.step = step;
      ticks.values = std::move(values);
      ticks.labels = std::move(labels);
      return ticks;
    }
    previous.step = step;
    previous.values = std::move(values);
    previous.labels = std::move(labels);
    step = NiceStep(step * 1.5);
  }
  return ticks;
}

}  // namespace mm
