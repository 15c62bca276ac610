// Registry: the one table of storage formats.
//
// Each format registers once, as {name, probe, describe, open}: `probe`
// says from a file's first bytes whether it is in this format (for
// "format": "auto"), `describe` reads what the format needs from the open
// file and fills the Dataset (layout, format name, shape as configured),
// and `open` turns a described Dataset into a Source over the dataset's open
// descriptor (never reopening it by name). Adding a format is one folder
// under source/ and one line in registry.cc.
//
// Thread-safety: the table is immutable; the functions are those of each
// driver.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "source/dataset.h"
#include "source/source.h"

namespace mm {

struct Format {
  const char* name;
  // Whether a file starting with `first_bytes` (at most kProbeBytes of
  // them; fewer when the file is shorter) is in this format; nullptr for a
  // format that takes any bytes (raw), tried after every probe failed.
  // `fd` is the open file (or -1, e.g. in unit tests: then only
  // `first_bytes` count): a format whose signature may sit further in (an
  // HDF5 user block of 512, 1024, 2048 ... bytes) preads it there; a probe
  // never changes the file offset.
  bool (*probe)(std::string_view first_bytes, int fd);
  // Fills *d from `spec` and the open file `fd` (d->path, mode, file_bytes,
  // dev and ino already set). Errors as OpenDataset documents.
  Status (*describe)(const DatasetSpec& spec, int fd, Dataset* d);
  // The Source of a described dataset whose file is open (d.file).
  Result<std::unique_ptr<Source>> (*open)(const Dataset& d);

  // Optional parts: nullptr (the default) is "none", so an entry may list
  // only the four above. Each is called only for a dataset described by
  // this format whose file exists (mode r or r+); warnings only when it has
  // a shape.
  //
  // The format's refusal of a layout its describe accepted but a run must
  // not take (raw: a -1 shape that found no whole row): kDataErr naming the
  // file. `growing`: the run reads a file that grows (--state), for which
  // no rows yet is a valid run.
  Status (*check_rows)(const Dataset& d, bool growing) = nullptr;
  // What the layout leaves unread, each a warning text naming the file and
  // the bytes (raw: also the shapes or offset that would use them exactly;
  // .npy: bytes after the array's data). `growing` as for check_rows.
  std::vector<std::string> (*warnings)(const Dataset& d, bool growing) = nullptr;
  // The version of the format the file is written in ("1.0" of a .npy
  // header), printed by `mmrun inspect` as "npy_version"; none: null.
  std::string (*version)(const Dataset& d) = nullptr;
  // `mmrun inspect`'s description of a file that holds more than one array
  // (HDF5: every dataset), from `spec` (spec.name: describe that one) and
  // the open file `fd`; none when the format holds one array, which the
  // Dataset describes. Errors as describe. A format with it holds named
  // arrays: only it takes the config keys dataset.name and dataset.cf.
  Result<Json> (*inspect)(const DatasetSpec& spec, int fd) = nullptr;
  // The bytes a worker's Source holds beyond its window of decoded blocks
  // (HDF5: the chunk cache), for the memory bound `validate` prints; none: 0.
  uint64_t (*cache_bytes)(const Dataset& d) = nullptr;
};

// Bytes of a file's start that probes see.
constexpr size_t kProbeBytes = 64;

// Every format, in the order of the config's "format" choices.
const std::vector<Format>& Formats();

// The format named `name`; nullptr when there is none.
const Format* FindFormat(const std::string& name);

// The format of a file starting with `first_bytes` (open as `fd`, or -1)
// for "format": "auto": the first whose probe accepts, else the one
// without a probe.
const Format& ProbeFormat(std::string_view first_bytes, int fd = -1);

// The format whose probe accepts the first bytes of the regular file at
// `path` (opened O_NONBLOCK); nullptr when none does or the file cannot be
// read. Lets `mmrun inspect` report a self-describing file's own error
// instead of guessing.
const Format* RecognizeFile(const std::string& path);

// Whether a file in format `name` carries its own layout (the format has a
// probe: its files are recognized by their bytes), so that config keys may
// only agree with it; false for raw and for an unknown name.
bool DescribesItself(const std::string& name);

// "auto, raw, npy or hdf5": the choices of the config's dataset.format.
std::string FormatChoices();

// The dataset's Source, from the registry entry of d.format, over the run's
// descriptor d.file. A dataset with no open descriptor (mode w+: the run
// itself created the file with generate) is opened by name, O_NOFOLLOW,
// O_RDWR when `writable`. kDataErr for an unknown format name; open errors
// as kIoErr naming the file.
Result<std::unique_ptr<Source>> OpenSource(const Dataset& d, bool writable = false);

}  // namespace mm
