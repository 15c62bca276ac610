// Describing a raw or .npy dataset: its layout from the config and, for a
// .npy, from the file's header (the "describe" half of the raw driver's
// registry entries; source/registry.h).
#pragma once

#include <string_view>

#include "core/npy.h"
#include "source/dataset.h"

namespace mm {

// Whether a file starting with `first_bytes` is a .npy (its magic).
bool ProbeNpy(std::string_view first_bytes);

// Layout of a .npy dataset from its header `h`: the header rules; config
// keys may only agree (kConfig naming the key otherwise); kDataErr for an
// array mmrun cannot read (0-d, empty along a non-row axis, file ends inside
// the header). REQUIRES d->path, d->file_bytes set.
Status NpyLayout(const DatasetSpec& spec, const NpyHeader& h, Dataset* d);

// Layout of a raw dataset from the config alone (dtype and shape required:
// kConfig naming the key); for an existing file (d->mode != "w+") the shape
// is resolved against d->file_bytes (kDataErr when too small).
Status RawLayout(const DatasetSpec& spec, Dataset* d);

// The registry's describe functions: read what the format needs from the
// open file `fd` and fill *d. DescribeNpy reads the header.
Status DescribeNpy(const DatasetSpec& spec, int fd, Dataset* d);
Status DescribeRaw(const DatasetSpec& spec, int fd, Dataset* d);

}  // namespace mm
