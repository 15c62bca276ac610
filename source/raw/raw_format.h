// Describing a raw or .npy dataset: its layout from the config and, for a
// .npy, from the file's header (the "probe" and "describe" halves of the raw
// driver's registry entries; source/registry.h). A raw dataset needs dtype
// and shape in the config; a .npy describes itself and config keys may only
// agree with its header. Errors as OpenDataset (source/dataset.h) documents.
// Thread-safety: pure functions; DescribeNpy only preads from `fd`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

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

// The raw entry's optional parts (source/registry.h Format).
// check_rows: a -1 shape that found no whole row is kDataErr ("file holds N
// bytes of data, less than one row ..."), as numpy's reshape refuses, unless
// the file grows (--state).
Status CheckRawRows(const Dataset& d, bool growing);
// warnings: the bytes a fixed shape leaves unread, or a partial last row
// after a -1 shape (expected, so not reported, for a growing file), with the
// shapes (or offset) that would use every byte. None for 0 rows.
std::vector<std::string> RawWarnings(const Dataset& d, bool growing);

// The .npy entry's optional parts: the bytes after the array's data
// (warnings), and the header's version "MAJOR.MINOR" (version).
std::vector<std::string> NpyWarnings(const Dataset& d, bool growing);
std::string NpyVersion(const Dataset& d);

}  // namespace mm
