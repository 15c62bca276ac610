// `generate`: creates the dataset file (mode w+) filled with values that
// depend only on the config: uniform, normal, arange or constant (SPEC §3,
// docs/CHOICES.md). The file is written under a temporary name beside its
// target, its space reserved first, and renamed into place when the pass
// is complete, so a failed run never leaves a half-written file.
#pragma once

#include "analysis/analysis.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeGenerate(const AnalysisSpec& spec, const Dataset& dataset,
                                               const Partition& partition);

// The counter-based uniform in [0, 1) for (seed, index, stream).
double CounterUniform(uint64_t seed, uint64_t index, uint64_t stream);

}  // namespace mm
