// Result fields of per-lane analyses: nesting a flat list into numpy's
// tolist() shape, and writing large fields as PREFIX.FIELD.npy (SPEC §3:
// a result of more than 1,000,000 numbers goes to files).
//
// Used by stats, histogram and quantiles. Pure helpers;
// the writers create every file under a temporary name and commit them only
// when all were written, so an error leaves nothing behind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"

namespace mm {

constexpr uint64_t kMaxInlineNumbers = 1000000;

// Nests `flat` (C order) into `shape`; an empty shape gives flat[0].
// REQUIRES: flat.size() == product(shape).
Json NestFlat(const std::vector<Json>& flat, const std::vector<int64_t>& shape);

// One field to write: int64 or float64 values in C order of `shape`.
struct NpyField {
  std::string name;
  std::vector<int64_t> shape;
  bool is_int = false;
  std::vector<int64_t> ints;
  std::vector<double> doubles;
};

// The files PREFIX.NAME.npy of `names` that WriteNpyFields may write
// (none for an empty prefix): an analysis' CreatedFiles, registered as
// outputs of the run before anything is written.
std::vector<std::string> NpyFieldPaths(const std::string& prefix,
                                       const std::vector<std::string>& names);

// Writes each field to PREFIX.NAME.npy (little-endian, C order) and returns
// {"NAME": path, ...}. Files are committed together at the end.
// Errors: kCantCreate / kNoPerm naming the file.
Result<Json> WriteNpyFields(const std::string& prefix, const std::vector<NpyField>& fields);

}  // namespace mm
