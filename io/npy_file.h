// The .npy header of a file on disk: core/npy.h's parser fed from a file.
//
// Thread-safety: ReadNpyHeader only preads from `fd` (its file offset is not
// used or changed), so threads may share the descriptor.
#pragma once

#include <string>

#include "core/npy.h"
#include "core/status.h"

namespace mm {

// Reads and parses the header of the open file `fd`, from offset 0 with pread
// (the file offset of `fd` is not used or changed). `path` only names the
// file in messages: "PATH: malformed .npy header: ...".
// Errors: those of ParseNpyHeader (a file shorter than its header is
// "truncated header"), and I/O errors as mm::FromErrno(errno, path, kIoErr).
Result<NpyHeader> ReadNpyHeader(int fd, const std::string& path);

}  // namespace mm
