// Result fields of per-lane analyses: nesting a flat list into numpy's
// tolist() shape, and writing large fields as PREFIX.FIELD.npy (SPEC §3:
// a result of more than 1,000,000 numbers goes to files).
//
// Used by stats, histogram and quantiles. Pure helpers;
// the writers create every file under a temporary name and commit them only
// when all were written, so an error leaves nothing behind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "core/json_util.h"
#include "core/status.h"
#include "io/files.h"

namespace mm {

constexpr uint64_t kMaxInlineNumbers = 1000000;

// Nests `flat` (C order) into `shape`; an empty shape gives flat[0]. The
// values are moved, not copied (a 1-D shape takes `flat` itself): a
// result of a million numbers is held once.
// REQUIRES: flat.size() == product(shape).
Json NestFlat(std::vector<Json> flat, const std::vector<int64_t>& shape);

// One field to write: int64 or float64 values in C order of `shape`.
struct NpyField {
  std::string name;
  std::vector<int64_t> shape;
  bool is_int = false;
  std::vector<int64_t> ints;
  std::vector<double> doubles;
};

// The files PREFIX.NAME.npy of `names` that WriteNpyFields may write
// (none for an empty prefix): an analysis' CreatedFiles, registered as
// outputs of the run before anything is written.
std::vector<std::string> NpyFieldPaths(const std::string& prefix,
                                       const std::vector<std::string>& names);

// Writes each field to PREFIX.NAME.npy (little-endian, C order) and returns
// {"NAME": path, ...}. Files are committed together at the end.
// Errors: kCantCreate / kNoPerm naming the file.
Result<Json> WriteNpyFields(const std::string& prefix, const std::vector<NpyField>& fields);

class OutputFile;

// Result files of per-lane fields written piece by piece, by the workers
// (stats and histograms whose every block holds whole lanes) or by the
// coordinator tile by tile: the coordinator creates each PREFIX.NAME.npy
// under a temporary name (its header written, its data reserved), workers
// open them by name and check their identity (NpyFieldWriter), and Commit
// renames them all into place. Destroyed before Commit, they are removed.
class NpyFieldFiles {
 public:
  struct Spec {
    std::string name;
    std::vector<int64_t> shape;
    bool is_int = false;  // int64, else float64
  };

  // Coordinator. Errors: kCantCreate / kNoPerm naming the file.
  Status Create(const std::string& prefix, const std::vector<Spec>& specs);
  // Coordinator: n bytes at byte `at` of file i's data.
  Status Write(size_t i, uint64_t at, const void* p, uint64_t n);
  Status Commit();
  // The pass input that tells workers the files:
  // {"files": [[temp path, dev, ino, data offset], ...]}.
  Json ToJson() const;
  // Worker: ToJson's text for the files PREFIX.NAME.npy of `names`;
  // kDataErr naming `who` when malformed.
  Status FromJson(const Json& j, const std::string& prefix, const std::vector<std::string>& names,
                  const std::string& who);

 private:
  friend class NpyFieldWriter;
  struct Temp {
    std::string path;
    FileId id;
    uint64_t offset = 0;  // where the data starts (the header's size)
    std::string target;   // PREFIX.NAME.npy
  };
  std::vector<TempOutput> outs_;  // coordinator only
  std::vector<Temp> temps_;
};

// A worker's writer of NpyFieldFiles: opens each file on its first write.
class NpyFieldWriter {
 public:
  explicit NpyFieldWriter(const NpyFieldFiles& files);
  ~NpyFieldWriter();
  // n bytes at byte `at` of file i's data. Errors: kIoErr / kCantCreate
  // naming the file (kIoErr when another file took its temporary name).
  Status Write(size_t i, uint64_t at, const void* p, uint64_t n);

 private:
  const NpyFieldFiles& files_;
  std::vector<std::unique_ptr<OutputFile>> open_;
};

}  // namespace mm
