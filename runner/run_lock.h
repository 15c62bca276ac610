// The run lock of `mmrun --lock FILE` (SPEC §1): one exclusive record lock
// held for the life of the process, so a cron job never overlaps itself.
//
// The lock file is opened O_RDWR|O_CREAT|O_NOFOLLOW|O_NONBLOCK (created mode
// 0600) and checked with fstat before it is locked: it must be a regular
// file owned by the running user. Another user's file, a symbolic link, a
// FIFO or a directory is refused (77) naming what it is and its owner, so a
// lock file planted first by someone else cannot make the run exit 75
// forever. An existing lock file's mode is never changed (it is the user's
// file); the caller refuses a lock file that is one of the run's inputs or
// outputs (runner/commands.cc RegisterRunOutputs) before taking it.
//
// Recommended place: a folder only the user can write ($XDG_RUNTIME_DIR, or
// ~/.cache), never a shared /tmp (docs/RELIABILITY.md "Hostile users").
#pragma once

#include <string>

#include "core/status.h"
#include "io/files.h"

namespace mm {

// Errors: kLocked when another process holds the lock (naming its pid);
// kNoPerm for a file that is not the user's regular file; kCantCreate when
// the file cannot be created; kIoErr otherwise.
Result<FileDescriptor> TakeRunLock(const std::string& path);

}  // namespace mm
