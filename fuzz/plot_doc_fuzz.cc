// libFuzzer target: the reader of result documents that `mmrun plot` draws
// (plot/plot_data.h), and the tick choice over the ranges it finds
// (plot/ticks.h).
//
// Property: any byte string is read or refused with an error Status; no
// input makes the reader recurse without bound, throw, read out of bounds
// or allocate beyond its limits, and ChooseTicks ends for any two doubles.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/json_util.h"
#include "plot/plot_data.h"
#include "plot/ticks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 16) {
    double lo, hi;
    std::memcpy(&lo, data, 8);
    std::memcpy(&hi, data + 8, 8);
    const mm::Ticks t =
        mm::ChooseTicks(lo, hi, 800, 16, 12, size % 2 == 0,
                        [](const std::string& s) { return 7.0 * static_cast<double>(s.size()); });
    (void)t;
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  mm::Result<mm::Json> doc = mm::ParseJson(text, "fuzz", mm::Code::kDataErr);
  if (!doc.ok()) return 0;
  mm::Result<mm::DocumentInfo> info = mm::ReadDocumentInfo(*doc);
  if (!info.ok()) return 0;
  for (const auto& item : (*doc)["results"].items()) {
    std::string why;
    (void)mm::ClassifyResult(item.value(), &why);
    mm::Result<mm::PlotData> d = mm::ReadPlotData(item.value(), item.key(), *info, mm::Json());
    if (d.ok()) (void)mm::DisplayDate(info->started);
  }
  return 0;
}
