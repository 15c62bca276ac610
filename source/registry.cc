#include "source/registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source/hdf5/hdf5_format.h"
#include "source/raw/raw_format.h"
#include "source/raw/raw_source.h"

namespace mm {

const std::vector<Format>& Formats() {
  static const std::vector<Format> formats = {
      {"raw", nullptr, DescribeRaw, OpenRawDataset, CheckRawRows, RawWarnings},
      {"npy", ProbeNpy, DescribeNpy, OpenRawDataset, nullptr, NpyWarnings, NpyVersion},
      {"hdf5", ProbeHdf5, DescribeHdf5, OpenHdf5Dataset, nullptr, nullptr, nullptr, InspectHdf5,
       Hdf5CacheBytes},
  };
  return formats;
}

const Format* FindFormat(const std::string& name) {
  for (const Format& f : Formats())
    if (name == f.name) return &f;
  return nullptr;
}

namespace {

// The first format whose probe accepts `first_bytes` (of the file open as
// `fd`, or -1); nullptr when none does.
const Format* Recognize(std::string_view first_bytes, int fd) {
  for (const Format& f : Formats())
    if (f.probe != nullptr && f.probe(first_bytes, fd)) return &f;
  return nullptr;
}

}  // namespace

const Format& ProbeFormat(std::string_view first_bytes, int fd) {
  if (const Format* f = Recognize(first_bytes, fd)) return *f;
  for (const Format& f : Formats())
    if (f.probe == nullptr) return f;
  return Formats().front();  // unreachable: raw has no probe
}

const Format* RecognizeFile(const std::string& path) {
  Result<FileDescriptor> fd = FileDescriptor::Open(path, O_RDONLY | O_NONBLOCK, 0, Code::kIoErr);
  struct stat st;
  if (!fd.ok() || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return nullptr;
  char first[kProbeBytes];
  const ssize_t got = ::pread(fd->get(), first, sizeof first, 0);
  if (got < 0) return nullptr;
  return Recognize(std::string_view(first, static_cast<size_t>(got)), fd->get());
}

bool DescribesItself(const std::string& name) {
  const Format* f = FindFormat(name);
  return f != nullptr && f->probe != nullptr;
}

std::string FormatChoices() {
  std::string s = "auto";
  const std::vector<Format>& all = Formats();
  for (size_t i = 0; i < all.size(); ++i)
    s += (i + 1 == all.size() ? " or " : ", ") + std::string(all[i].name);
  return s;
}

Result<std::unique_ptr<Source>> OpenSource(const Dataset& d, bool writable) {
  const Format* f = FindFormat(d.format);
  if (f == nullptr) return Error(Code::kDataErr, d.path + ": unknown format '" + d.format + "'");
  if (d.fd() >= 0) return f->open(d);
  // Mode w+: the run created the file (generate) after it planned; no
  // descriptor was opened at planning time.
  Dataset created = d;
  MM_ASSIGN_OR_RETURN(
      FileDescriptor fd,
      FileDescriptor::Open(d.path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW, 0, Code::kIoErr));
  created.file = std::make_shared<FileDescriptor>(std::move(fd));
  return f->open(created);
}

}  // namespace mm
