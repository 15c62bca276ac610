// The .npy header of a file on disk: core/npy.h's parser fed from a file.
//
// Thread-safety: ReadNpyHeader only preads from `fd` (its file offset is not
// used or changed), so threads may share the descriptor.
#pragma once

#include <string>

#include "core/npy.h"
#include "core/status.h"

namespace mm {

// True when the regular file at `path` starts with "\x93NUMPY" (opened
// O_NONBLOCK; false for anything that cannot be read). Lets a caller that
// probes "is it a .npy?" report a .npy's own error instead of guessing.
bool FileHasNpyMagic(const std::string& path);

// Reads and parses the header of the open file `fd`, from offset 0 with pread
// (the file offset of `fd` is not used or changed). `path` only names the
// file in messages: "PATH: malformed .npy header: ...".
// Errors: those of ParseNpyHeader (a file shorter than its header is
// "truncated header"), and I/O errors as mm::FromErrno(errno, path, kIoErr).
Result<NpyHeader> ReadNpyHeader(int fd, const std::string& path);

}  // namespace mm
