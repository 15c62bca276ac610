#include "core/status.h"

#include <cerrno>
#include <cstring>

namespace mm {

Status FromErrno(int err, const std::string& what, Code otherwise) {
  std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      return Status(Code::kNoPerm, message);
    case ENOENT:
    case ENOTDIR:
      if (otherwise == Code::kIoErr || otherwise == Code::kNoInput)
        return Status(Code::kNoInput, message);
      return Status(otherwise, message);
    default:
      return Status(otherwise, message);
  }
}

Status FromException(const std::exception& e) {
  return Status(Code::kWorkerFailed, std::string("internal error: ") + e.what());
}

}  // namespace mm
