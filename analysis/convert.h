// `convert`: writes numpy.asarray(a.transpose(axes), dtype=dtype,
// order=order) to a .npy file exactly as numpy.save would, or as raw bytes
// in `order` for any other extension (SPEC §3).
//
// Params: output (required), order (C default, or F), axes (a permutation
// as numpy.transpose takes; default: the identity), dtype (default: the
// source's), casting (safe default, same_kind, unsafe; numpy.can_cast's
// rules, core/casting.h; a cast the rule forbids is a config error).
// Each worker reads its rows once, in file order, and writes their
// elements through bounded writable spans of the output (array_copy.h), so
// a transposition of an array larger than memory runs in bounded memory.
#pragma once

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeConvert(const AnalysisSpec& spec, const Dataset& dataset,
                                              const Partition& partition);

}  // namespace mm
