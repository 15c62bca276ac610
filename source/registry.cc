#include "source/registry.h"

#include <fcntl.h>

#include "source/hdf5/hdf5_format.h"
#include "source/raw/raw_format.h"
#include "source/raw/raw_source.h"

namespace mm {

const std::vector<Format>& Formats() {
  static const std::vector<Format> formats = {
      {"raw", nullptr, DescribeRaw, OpenRawDataset},
      {"npy", ProbeNpy, DescribeNpy, OpenRawDataset},
      {"hdf5", ProbeHdf5, DescribeHdf5, OpenHdf5Dataset, InspectHdf5},
  };
  return formats;
}

const Format* FindFormat(const std::string& name) {
  for (const Format& f : Formats())
    if (name == f.name) return &f;
  return nullptr;
}

const Format& ProbeFormat(std::string_view first_bytes, int fd) {
  const Format* fallback = nullptr;
  for (const Format& f : Formats()) {
    if (f.probe == nullptr) {
      if (fallback == nullptr) fallback = &f;
    } else if (f.probe(first_bytes, fd)) {
      return f;
    }
  }
  return *fallback;
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
