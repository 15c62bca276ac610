#include "core/select_parser.h"

#include <cctype>
#include <limits>

namespace mm {

namespace {

Status Bad(const std::string& why) { return Error(Code::kConfig, why); }

std::string Trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// A decimal integer with an optional sign; values beyond int64 clamp to its
// range (Python's slices accept any integer; an index that large is out of
// bounds anyway).
Result<int64_t> ParseInt(const std::string& text) {
  const std::string t = Trim(text);
  size_t i = 0;
  bool neg = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) neg = t[i++] == '-';
  while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i])))
    ++i;  // "- 1" is valid Python
  if (i == t.size()) return Bad("bad integer '" + t + "'");
  __int128 v = 0;
  const __int128 cap = static_cast<__int128>(std::numeric_limits<int64_t>::max()) + 1;
  for (; i < t.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(t[i]))) {
      if (t == "True" || t == "False")
        return Bad("boolean indexing is not supported (basic indexing only)");
      return Bad("bad integer '" + t + "' (indices must be decimal integers)");
    }
    v = v * 10 + (t[i] - '0');
    if (v > cap) v = cap;
  }
  if (neg) v = -v;
  if (v > std::numeric_limits<int64_t>::max()) v = std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(v);
}

Result<SelectItem> ParseItem(const std::string& raw) {
  const std::string t = Trim(raw);
  SelectItem item;
  if (t == "...") {
    item.type = SelectItem::kEllipsis;
    return item;
  }
  if (t == "None" || t == "newaxis" || t == "np.newaxis" || t == "numpy.newaxis")
    return Bad("None/newaxis is not supported (basic indexing only)");
  if (t == "True" || t == "False")
    return Bad("boolean indexing is not supported (basic indexing only)");
  if (t.find(':') == std::string::npos) {
    item.type = SelectItem::kIndex;
    MM_ASSIGN_OR_RETURN(item.index, ParseInt(t));
    return item;
  }
  item.type = SelectItem::kSlice;
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    const size_t colon = t.find(':', pos);
    parts.push_back(t.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos));
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  if (parts.size() > 3) return Bad("bad slice '" + t + "': at most start:stop:step");
  std::optional<int64_t>* fields[3] = {&item.start, &item.stop, &item.step};
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string p = Trim(parts[i]);
    if (p.empty() || p == "None") continue;  // Python's a[None:5] is a[:5]
    MM_ASSIGN_OR_RETURN(int64_t v, ParseInt(p));
    *fields[i] = v;
  }
  return item;
}

}  // namespace

Result<std::vector<SelectItem>> ParseSelect(const std::string& text) {
  std::string body = Trim(text);
  if (!body.empty() && body.front() == '[') {
    if (body.back() != ']') return Bad("unbalanced brackets in '" + text + "'");
    body = body.substr(1, body.size() - 2);
  } else if (!body.empty() && body.back() == ']') {
    return Bad("unbalanced brackets in '" + text + "'");
  }
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '[' || c == ']')
      return Bad("advanced indexing with lists or arrays is not supported (basic indexing only)");
    if (c == '(' || c == ')' || c == '{' || c == '}')
      return Bad("unexpected character '" + std::string(1, c) + "' at position " +
                 std::to_string(i) + " (basic indexing only: integers, slices and '...')");
  }
  if (Trim(body).empty()) return Bad("empty selection: give at least one index, e.g. \"[:]\"");
  std::vector<std::string> raw;
  size_t pos = 0;
  while (true) {
    const size_t comma = body.find(',', pos);
    raw.push_back(body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (raw.size() > 1 && Trim(raw.back()).empty()) raw.pop_back();  // one trailing comma
  std::vector<SelectItem> items;
  bool ellipsis = false;
  for (const std::string& r : raw) {
    if (Trim(r).empty()) return Bad("empty item in '" + text + "'");
    MM_ASSIGN_OR_RETURN(SelectItem item, ParseItem(r));
    if (item.type == SelectItem::kEllipsis) {
      if (ellipsis) return Bad("'...' may appear only once");
      ellipsis = true;
    }
    items.push_back(item);
  }
  return items;
}

Result<std::vector<AxisSelect>> ApplySelect(const std::vector<SelectItem>& items,
                                            const std::vector<int64_t>& shape) {
  const size_t nd = shape.size();
  size_t given = 0;
  bool has_ellipsis = false;
  for (const SelectItem& it : items) {
    if (it.type == SelectItem::kEllipsis) {
      has_ellipsis = true;
    } else {
      ++given;
    }
  }
  if (given > nd)
    return Bad("too many indices for a " + std::to_string(nd) +
               "-d array: " + std::to_string(given) + " were given");
  // Expand "..." (or the implicit one at the end) into full slices.
  std::vector<SelectItem> full;
  for (const SelectItem& it : items) {
    if (it.type == SelectItem::kEllipsis) {
      for (size_t k = 0; k < nd - given; ++k)
        full.push_back(SelectItem{SelectItem::kSlice, 0, {}, {}, {}});
    } else {
      full.push_back(it);
    }
  }
  if (!has_ellipsis)
    while (full.size() < nd) full.push_back(SelectItem{SelectItem::kSlice, 0, {}, {}, {}});
  std::vector<AxisSelect> out(nd);
  for (size_t a = 0; a < nd; ++a) {
    const SelectItem& it = full[a];
    const __int128 len = shape[a];
    AxisSelect& s = out[a];
    if (it.type == SelectItem::kIndex) {
      __int128 i = it.index;
      if (i < 0) i += len;
      if (i < 0 || i >= len)
        return Bad("index " + std::to_string(it.index) + " is out of bounds for axis " +
                   std::to_string(a) + " with size " + std::to_string(shape[a]));
      s.dropped = true;
      s.start = static_cast<int64_t>(i);
      s.step = 1;
      s.count = 1;
      continue;
    }
    // Python's slice.indices(len).
    const __int128 step = it.step ? *it.step : 1;
    if (step == 0) return Bad("slice step cannot be zero");
    const __int128 lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
    auto bound = [&](const std::optional<int64_t>& v, __int128 def) -> __int128 {
      if (!v) return def;
      __int128 x = *v;
      if (x < 0) {
        x += len;
        if (x < lower) x = lower;
      } else if (x > upper) {
        x = upper;
      }
      return x;
    };
    const __int128 start = bound(it.start, step < 0 ? upper : lower);
    const __int128 stop = bound(it.stop, step < 0 ? lower : upper);
    __int128 count = 0;
    if (step > 0 && start < stop) count = (stop - start - 1) / step + 1;
    if (step < 0 && stop < start) count = (start - stop - 1) / (-step) + 1;
    s.dropped = false;
    s.count = static_cast<int64_t>(count);
    s.start = count > 0 ? static_cast<int64_t>(start) : 0;
    // A step beyond the axis only ever selects one element: keep it in range.
    s.step = static_cast<int64_t>(step > len ? len : (step < -len ? -len : step));
    if (s.step == 0) s.step = step > 0 ? 1 : -1;
  }
  return out;
}

std::vector<int64_t> SelectShape(const std::vector<AxisSelect>& sel) {
  std::vector<int64_t> shape;
  for (const AxisSelect& s : sel)
    if (!s.dropped) shape.push_back(s.count);
  return shape;
}

}  // namespace mm
