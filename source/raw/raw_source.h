// The raw and .npy storage driver: an array stored contiguously in one file
// at a byte offset (a .npy's header size, a raw file's configured offset).
//
// Read-only windows are copied (pread) into one buffer the source reuses,
// kDecodedWindowBytes at a time: on this project's machines a copy from the
// page cache into a buffer that stays in the core's cache is 2-3x faster
// than mapping the same pages (docs/BENCHMARKS.md, "Copied windows"). They
// are read through the source's own open file description of the run's
// file (ReopenForReading: /proc/self/fd, checked by dev/ino, never by
// name), so each worker is one sequential reader for the kernel's
// read-ahead. A file that shrank under the run fails the read (kIoErr
// naming the file).
//
// Writable windows (an in-place transform, generate's new file) are read
// the same way into a buffer, with a copy kept as read; Window::Close writes
// back with pwrite only the file pages whose bytes changed and starts their
// writeback (durable after Source::SyncWrites). Close checks before and
// after that the file has not shrunk (kIoErr naming it), so a write never
// grows a file that was cut under the run.
//
// Thread and process rules: those of source.h (one thread of one process).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/files.h"
#include "source/dataset.h"
#include "source/source.h"

namespace mm {

// Opens the contiguous array `layout` (at layout.offset) of the open file
// `file`, named `name` in messages. `min_file_bytes`: the size the file had
// when the run planned it (Window::Close fails with kIoErr when it is now
// smaller); 0 for no check. `writable` needs an O_RDWR descriptor. The
// source shares ownership of `file`.
Result<std::unique_ptr<Source>> OpenRawFile(std::shared_ptr<FileDescriptor> file,
                                            const std::string& name, const Layout& layout,
                                            const Partition& partition, uint64_t min_file_bytes);

// The dataset's source (format "raw" or "npy") over its open descriptor,
// with the run's partition Partition(d.layout). kIoErr when the dataset has
// no open file (mode w+ before generate).
Result<std::unique_ptr<Source>> OpenRawDataset(const Dataset& d);

// The file offset of storage index `index` of a raw or .npy dataset. Only
// for what records file positions by definition: the rollback journal of an
// in-place transform (io/journal.h).
uint64_t RawByteOffset(const Dataset& d, uint64_t index);

// kIoErr naming `name` when the open file `fd` is now smaller than
// `min_bytes` (CheckNotShrunk's test; no SIGBUS happens inside the last
// page, so the size is compared).
Status CheckFileNotShrunk(int fd, const std::string& name, uint64_t min_bytes);

}  // namespace mm
