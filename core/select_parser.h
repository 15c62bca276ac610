// The `slice` analysis' `select` parameter: numpy basic indexing written as
// a string ("[:, :, 0]", "[100:200, 50:100]", "[-1]", "[::2, ...]").
//
// ParseSelect turns the text into a list of index items (an integer, a
// slice start:stop:step with optional parts, or "..."); ApplySelect resolves
// the items against an array's shape with numpy's rules (negative indices
// count from the end, slice bounds clip as Python's slice.indices does,
// "..." and missing trailing items mean full axes). Only basic indexing is
// accepted: lists, arrays, booleans and None/newaxis are refused with a
// message that says so.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace mm {

struct SelectItem {
  enum Type { kIndex, kSlice, kEllipsis };
  Type type = kIndex;
  int64_t index = 0;                         // kIndex (clamped to int64's range)
  std::optional<int64_t> start, stop, step;  // kSlice; absent parts are numpy's defaults
};

// What a selection keeps of one input axis: either one index (the axis is
// dropped from the result) or the `count` coordinates start, start + step,
// start + 2*step, ... (step != 0, may be negative).
struct AxisSelect {
  bool dropped = false;
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;  // 1 when dropped
};

// Parses "[item, item, ...]" (the brackets may be left out). Items: an
// integer ("-1", "+3"), a slice ("a:b", "a:b:c", ":", "::-1", any part
// optional) or "...". Whitespace is free; one trailing comma is allowed.
// Errors (kConfig, messages without a key prefix; the caller adds it):
// "empty selection", "'...' may appear only once", "None/newaxis is not
// supported (basic indexing only)", "advanced indexing with lists or arrays
// is not supported", "boolean indexing is not supported", "bad integer ...",
// "unbalanced brackets", "unexpected character 'x' at position N".
Result<std::vector<SelectItem>> ParseSelect(const std::string& text);

// Resolves `items` against `shape`: one AxisSelect per axis. Errors
// (kConfig): "too many indices for a N-d array: M were given", "index I is
// out of bounds for axis A with size S", "slice step cannot be zero".
Result<std::vector<AxisSelect>> ApplySelect(const std::vector<SelectItem>& items,
                                            const std::vector<int64_t>& shape);

// The result's shape: the counts of the kept axes, in axis order.
std::vector<int64_t> SelectShape(const std::vector<AxisSelect>& sel);

}  // namespace mm
