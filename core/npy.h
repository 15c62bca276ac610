// The .npy file header: reading it, and writing it exactly as numpy.save does.
//
// A .npy file is the magic "\x93NUMPY", a version byte pair (1.0, 2.0 or
// 3.0), a little-endian header length (2 bytes in 1.0, 4 bytes otherwise) and
// a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1000, 10), }
// padded with spaces and a '\n'; the array data follows at header_bytes.
// The reader is a small recursive-descent parser over that literal: it takes
// what numpy's reader takes for the dtypes mmrun supports (either quote
// style, any whitespace, optional trailing commas, the Python 2 'L' suffix in
// 1.0/2.0 files, no final '\n' required), and rejects, with kDataErr and a
// message saying what is wrong, everything else. It is stricter than numpy in
// a few places that real writers never use: duplicate keys, negative shape
// entries, escapes in strings, comments, and integer spellings other than
// plain decimal.
//
// Thread-safety: pure functions. Reading a header from a file is
// io/npy_file.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace mm {

struct NpyHeader {
  int major = 1, minor = 0;  // format version: 1.0, 2.0 or 3.0
  DType dtype;
  std::vector<int64_t> shape;  // as in the header, may be empty (0-d) or contain 0
  bool fortran_order = false;
  uint64_t header_bytes = 0;  // offset of the first data byte from the start of the file
};

// Headers whose total size (magic, version, length field and dict) exceeds
// this are refused as "header too long".
constexpr size_t kNpyMaxHeaderBytes = 1 << 20;

// True when `prefix` starts with "\x93NUMPY".
bool HasNpyMagic(std::string_view prefix);
// Parses a .npy header from the first bytes of a file. `prefix` may be longer
// than the header (the data that follows is ignored).
// On success every shape entry is >= 0, and the product of the non-zero
// entries times the itemsize fits in int64_t.
// Errors, all Code::kDataErr:
//   "malformed .npy header: WHY" — WHY names the fault: bad magic,
//     unsupported version X.Y, truncated header, header too long, missing key
//     'descr', unexpected key 'foo', duplicate key, bad shape, bad
//     fortran_order, bad descr, a syntax error (with its file offset), ...
//   "unsupported dtype 'c16' in .npy header" — a descr that mm::ParseDType
//     rejects, or a structured/subarray descr (a list or tuple).
Result<NpyHeader> ParseNpyHeader(std::string_view prefix);

// The whole header's length (preamble and dict, where the data starts) that
// `prefix` declares in its first bytes. Errors: those of ParseNpyHeader about
// the preamble (bad magic, unsupported version, header too long, a prefix
// shorter than the preamble).
Result<uint64_t> NpyHeaderBytes(std::string_view prefix);

// The exact header bytes numpy.save (numpy 1.24) writes for an array of this
// dtype, shape and order: the dict with keys in sorted order, spare spaces so
// that the length of the growth axis (axis 0 for C order, the last axis for
// F order) can grow to 21 digits in place, then spaces and a final '\n' so
// that the whole header is a multiple of 64 bytes. Version 1.0 when the
// header length field fits in 16 bits, else 2.0.
// REQUIRES: every shape entry >= 0.
std::string BuildNpyHeader(DType dtype, const std::vector<int64_t>& shape, bool fortran_order);

}  // namespace mm
