// The CF decoder: stored elements -> decoded elements (SPEC §7 `cf`,
// docs/HDF5.md "CF attributes"), as netCDF4-python 1.6 gives a variable's
// values with its default auto-mask-and-scale, masked values as NaN.
//
// Pure functions over plain buffers: unit-testable without a file. One
// switch on the (stored, decoded, multiply) types per call; the loop over
// the elements is a template with no per-element dispatch.
//
// The arithmetic is compiled with -ffp-contract=off (CMakeLists.txt): the
// multiply and the add are two roundings, as numpy's `v*scale + offset`.
#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "source/dataset.h"

namespace mm {

// The type numpy 1.24 gives `array_of(a) <op> scalar_of(s, value)` (value-
// based casting of a numpy scalar): for an integer array a float scalar's
// own type, widened to float64 when the array's ints do not fit float32
// (int32, int64 and their unsigned twins); for a float array the array's
// type, unless a float64 scalar whose value overflows float32 forces float64.
// `a` and `s` are native kinds; s is kFloat32 or kFloat64.
Kind CfPromote(Kind a, Kind s, double value);

// Decodes `n` stored elements at `in` (cf.stored, in the file's byte order)
// into `n` elements of `decoded` (native byte order) at `out`.
// REQUIRES: cf.decoded; decoded is native float32/float64, or (cf.op ==
// kConvert and nothing masked) the compare type; in and out are the same
// (decoding in place, when both types have one size) or do not overlap.
void CfDecode(const CfDecoding& cf, DType decoded, const char* in, uint64_t n, char* out);

}  // namespace mm
