// libFuzzer target: the `slice` select parser (core/select_parser.h).
//
// Property: ParseSelect and ApplySelect never crash, and every selection
// they accept stays inside the array: each kept axis' coordinates
// start + k*step (k < count) lie in [0, size).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/select_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  mm::Result<std::vector<mm::SelectItem>> items = mm::ParseSelect(text);
  if (!items.ok()) return 0;
  const std::vector<int64_t> shape = {7, 1, 5, 3};
  mm::Result<std::vector<mm::AxisSelect>> sel = mm::ApplySelect(*items, shape);
  if (!sel.ok()) return 0;
  if (sel->size() != shape.size()) std::abort();
  for (size_t a = 0; a < shape.size(); ++a) {
    const mm::AxisSelect& s = (*sel)[a];
    if (s.count < 0 || (s.dropped && s.count != 1)) std::abort();
    if (s.count == 0) continue;
    const int64_t first = s.start, last = s.start + (s.count - 1) * s.step;
    if (first < 0 || first >= shape[a] || last < 0 || last >= shape[a]) std::abort();
  }
  return 0;
}
