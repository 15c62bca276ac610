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

// The standard normal deviate of Box-Muller for two uniforms u1 in (0, 1]
// and u2 in [0, 1): sqrt(-2 log u1) cos(2 pi u2), with mmrun's own log and
// cos (only +, -, *, / and sqrt of doubles, no FMA): the same bits on every
// machine, where libm's differ between CPUs (its FMA copies) and versions.
// Within a few units in the last place of the true value (tests/unit).
double StandardNormal(double u1, double u2);

}  // namespace mm
