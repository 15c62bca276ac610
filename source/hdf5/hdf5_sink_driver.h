// A libhdf5 file driver (virtual file layer) whose writes go to the caller
// (Hdf5FileSink, hdf5_output.h) instead of libhdf5's own pwrite: the
// coordinator stores a chunked output's chunks through it, so that their
// bytes can go around the page cache (analysis/hdf5_copy.cc,
// docs/CHOICES.md "Outputs written around the page cache").
//
// It behaves as libhdf5's default `sec2` driver does (the same feature
// flags, so libhdf5 lays out the same file byte for byte; tests compare),
// on the caller's open descriptor: reads are pread on Hdf5FileSink::fd
// (zeros past the end of the file), the end of the file is the highest
// byte written, and closing truncates it to libhdf5's end of allocation.
// The descriptor is never closed or reopened by name.
#pragma once

#include "core/status.h"
#include "source/hdf5/hdf5_file.h"
#include "source/hdf5/hdf5_output.h"

namespace mm {

// A file access property list that creates files through `sink` (which must
// outlive every file created with it). The first failed read, write or
// truncate is kept in sink->error and fails libhdf5's call, except while
// sink->closing (libhdf5 must never fail to close a file: hdf5_output.cc);
// with sink->discard, writes and truncates are skipped.
Result<Hid> SinkFileAccess(Hdf5FileSink* sink);

}  // namespace mm
