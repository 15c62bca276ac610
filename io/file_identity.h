// File identity: whether an output mmrun is about to write is a file it
// reads (SPEC §5; docs/RELIABILITY.md "Data identity and lifecycle").
//
// Files are compared by (st_dev, st_ino) after resolving symlinks, never by
// their names, so `./data`, a symlink to it or a hard link of it are all the
// dataset. A path that does not exist yet is compared by its resolved folder
// and its name. This is the one place that decides; every writer goes
// through CheckOutput (TempOutput::Create calls it with the inputs
// registered by RegisterInput, and MakeSlice/MakeConvert, `mmrun run` and
// `mmrun merge` call it with their own names for the keys).
//
// Not thread-safe: the registry is filled by the coordinator before it
// writes anything.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace mm {

// A file as the user named it, and the key or flag that named it
// ("dataset.path", "-o", "--state", "analyses[1].output", "CONFIG" ...).
struct NamedFile {
  std::string path;
  std::string what;
};

// The identity of a path: (dev, ino) of what it resolves to when it exists,
// else its resolved folder and its name.
struct FileKey {
  bool exists = false;
  uint64_t dev = 0, ino = 0;
  mode_t mode = 0;       // st_mode when it exists
  std::string resolved;  // when it does not
  // When it does not exist but its folder does: the folder's identity and
  // the file's name in it (one folder reached by two paths, a bind mount or
  // a symlink, is one folder).
  bool folder_known = false;
  uint64_t folder_dev = 0, folder_ino = 0;
  std::string name;
  bool SameFile(const FileKey& o) const;
};

// The key of `path` (stat(2), which follows symlinks).
FileKey KeyOfPath(const std::string& path);
// The key of an open descriptor (fstat(2)); `path` only names it.
FileKey KeyOfFd(int fd, const std::string& path);

// Refuses to write `output` when it is the same file as one of `inputs`
// (kConfig, naming both keys) or when it exists and is not a regular file
// (kCantCreate: a device, FIFO, socket or folder is never replaced).
Status CheckOutput(const NamedFile& output, const std::vector<NamedFile>& inputs);

// Inputs of this process, with the identity they had when registered (the
// dataset registers the descriptor it reads, so a later rename of its path
// does not change what is protected). CheckOutputAgainstInputs compares an
// output with every registered input.
void RegisterInput(const NamedFile& input, const FileKey& key);
Status CheckOutputAgainstInputs(const NamedFile& output);
// Every file one run writes (the result, --state, slice/convert outputs,
// --lock) is registered before anything is written: kConfig naming both
// keys when it is one of the registered inputs or an output registered
// before (two outputs of one run in one file would lose one of them);
// kCantCreate when it exists and is not a regular file, unless
// `must_be_regular` is false (--lock says itself what it refuses). `why`
// replaces the end of the message ("; ...") when given.
Status RegisterOutput(const NamedFile& output, bool must_be_regular = true,
                      const char* why = nullptr);
// Empties the registry of inputs and outputs (unit tests: an inode number
// may be reused later).
void ForgetInputs();

}  // namespace mm
