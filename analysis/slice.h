// `slice`: writes a[select] (numpy basic indexing, core/select_parser.h)
// to a .npy file, or raw bytes for any other extension (SPEC §3).
//
// The input is read once, in file order, and only the blocks that hold
// selected elements are mapped. A .npy output keeps the input's memory
// order (an F-order input gives an F-order .npy, fortran_order True when
// that matters), so each worker writes long runs; numpy.load gives a[select]
// either way. A raw output is always C order, as ndarray.tofile writes.
#pragma once

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeSlice(const AnalysisSpec& spec, const Dataset& dataset,
                                            const Partition& partition);

// True when `path` ends in ".npy" (case-insensitive): the outputs of slice
// and convert are .npy files then, raw bytes otherwise.
bool IsNpyPath(const std::string& path);

// numpy.save writes fortran_order True only for arrays that are F- but not
// C-contiguous: order F with at least two axes longer than 1.
bool NpyFortranFlag(char order, const std::vector<int64_t>& shape);

}  // namespace mm
