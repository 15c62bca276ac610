#include "io/npy_file.h"

#include <unistd.h>

#include "io/files.h"

namespace mm {

Result<NpyHeader> ReadNpyHeader(int fd, const std::string& path) {
  constexpr size_t kFirstRead = 4096;  // holds every header numpy writes for mmrun's dtypes
  std::string buf(kFirstRead, '\0');
  MM_ASSIGN_OR_RETURN(uint64_t n, PreadFull(fd, buf.data(), buf.size(), 0, path));
  buf.resize(static_cast<size_t>(n));
  if (buf.size() == kFirstRead) {
    // A longer header: read the rest of it (NpyHeaderBytes caps its size).
    Result<uint64_t> header_bytes = NpyHeaderBytes(buf);
    if (header_bytes.ok() && *header_bytes > buf.size()) {
      const size_t have = buf.size();
      buf.resize(static_cast<size_t>(*header_bytes));
      MM_ASSIGN_OR_RETURN(n, PreadFull(fd, buf.data() + have, buf.size() - have, have, path));
      buf.resize(have + static_cast<size_t>(n));
    }
  }
  Result<NpyHeader> h = ParseNpyHeader(buf);
  if (!h.ok()) return h.status().WithContext(path);
  return h;
}

}  // namespace mm
