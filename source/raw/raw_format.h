// Describing a raw or .npy dataset: its layout from the config and, for a
// .npy, from the file's header (the "probe" and "describe" halves of the raw
// driver's registry entries; source/registry.h). A raw dataset needs dtype
// and shape in the config; a .npy describes itself and config keys may only
// agree with its header. Errors as OpenDataset (source/dataset.h) documents.
// Thread-safety: pure functions; DescribeNpy only preads from `fd`.
#pragma once

#include <string_view>

#include "source/dataset.h"

namespace mm {

// Whether a file starting with `first_bytes` is a .npy (its magic).
bool ProbeNpy(std::string_view first_bytes, int fd);

// Layout of a dataset that mode "w+" creates (generate): raw, or .npy when
// the format says so or is "auto" and the path ends in ".npy" (its offset is
// then the size of the header numpy.save would write). dtype and shape are
// required (kConfig naming the key); no file is read.
Status DescribeNew(const DatasetSpec& spec, Dataset* d);

// The registry's describe functions: read what the format needs from the
// open file `fd` and fill *d. DescribeNpy reads the header.
Status DescribeNpy(const DatasetSpec& spec, int fd, Dataset* d);
Status DescribeRaw(const DatasetSpec& spec, int fd, Dataset* d);

}  // namespace mm
