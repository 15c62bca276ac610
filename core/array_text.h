// Arrays as numpy prints them: the text of `print(a)` (`str(a)`) with
// numpy's default print options (linewidth 75, precision 8, threshold 1000,
// edgeitems 3, no suppression), for `mmrun show` (SPEC §8).
//
// What numpy does, and so what this does:
// - Every element of an array is printed in one format, chosen from the
//   elements shown (all of them, or with more than 1000 elements only the
//   3 first and 3 last along each axis, the rest elided as "...").
// - Integers are right-aligned to the widest; booleans are " True"/"False".
// - Floats are the shortest digits that read back as the same value in the
//   array's own type (float16, float32 or float64), at most 8 after the
//   point: positional ("1.5 ", "0.33333333", "1.  ") unless the largest
//   magnitude is >= 1e8, the smallest non-zero one < 1e-4, or their ratio
//   > 1000, then scientific with one mantissa precision for all
//   ("1.0e-05 1.5e+03"). nan and inf are right-aligned in the same width.
// - Rows wrap at 75 columns; nested axes are bracketed and separated by
//   newlines (one more blank line per extra axis).
// - A 0-d array is the element as numpy prints a scalar ("1.0", "1e-05",
//   "True"); an array without elements is "[]".
//
// Checked against numpy's own output in tests/integration/test_quick.py.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace mm {

// `data` holds the elements of an array of `shape` and `dtype` (its byte
// order as dtype says) in C order, or in Fortran order when `fortran`.
std::string ArrayText(const DType& dtype, const std::vector<int64_t>& shape, bool fortran,
                      const char* data);

// The shortest decimal digits that read back as `v` in the float kind
// `kind` (kFloat16, kFloat32, kFloat64): v = 0.d1d2...dn * 10^exponent
// when `*digits` is "d1d2...dn" (no leading zero; "0" for zero).
void ShortestDigits(double v, Kind kind, std::string* digits, int* exponent);

}  // namespace mm
