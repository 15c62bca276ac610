// The CF-decoding Source (SPEC §7 `cf`, docs/HDF5.md "CF attributes"): wraps
// the Source of the stored variable (the raw driver for a contiguous
// dataset, or the Hdf5Source) and hands out decoded elements.
//
// Its layout is the Dataset's (the decoded dtype), its partition the stored
// array's (PartitionOf: the same blocks decoded or not, so results do not
// depend on decoding's element size). When the stored and decoded elements
// have one size and the stored Source decodes into its own buffers, it
// decodes each piece in place as it writes it (Source::FilterWindowsWith)
// and ReadWindow returns the stored window as it is. Otherwise ReadWindow
// reads the stored window, decodes each block into the window's own buffer
// (CfDecode, one call per block), checks the stored window (Close: the file
// did not shrink) and releases it before returning: a worker holds one
// decoded window at a time.
// Never writable (a decoded dataset is refused for mode r+ by the describe).
//
// Ownership: the CfSource owns the wrapped Source. Thread/process rules are
// the wrapped Source's (source.h): one thread, never across a fork.
#pragma once

#include <memory>

#include "source/dataset.h"
#include "source/source.h"

namespace mm {

// REQUIRES d.cf.decoded; `stored` is the Source of the dataset's stored
// elements (layout d.cf.stored, partition PartitionOf(d)).
std::unique_ptr<Source> OpenCfSource(const Dataset& d, std::unique_ptr<Source> stored);

}  // namespace mm
