// Status and Result<T>: the one error type of mmrun.
//
// Every fallible function in the library returns a Status or a Result<T>. A
// Status carries a Code, which is already the process exit code of SPEC §5,
// and a message of the form "WHAT: WHY" (main prints "mmrun: error: " in
// front). errno is turned into a Status only by FromErrno(). Exit codes are
// chosen only by the mains, by reading status.code().
//
// Thread-safety: values; no shared state.
#pragma once

#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace mm {

enum class Code : int {
  kOk = 0,
  kUsage = 64,         // bad command line
  kDataErr = 65,       // bad data: size, header, dtype in file, stale journal
  kNoInput = 66,       // input file missing
  kWorkerFailed = 70,  // a worker failed after its retries
  kCantCreate = 73,    // cannot create an output
  kIoErr = 74,         // I/O error, input shrank
  kLocked = 75,        // lock held by another run
  kNoPerm = 77,        // permission denied
  kConfig = 78,        // bad config
  kInterrupted = 130,  // SIGINT (SIGTERM is 143; see ExitCodeForSignal)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status OK() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "context: <old message>".
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status Error(Code code, std::string message) { return Status(code, std::move(message)); }

// Maps errno to a Status whose message is "what: strerror(err)".
// EACCES/EPERM/EROFS -> kNoPerm; ENOENT/ENOTDIR -> kNoInput when `otherwise`
// is kIoErr or kNoInput (a missing input), else `otherwise`; ENOSPC/EDQUOT
// -> `otherwise`; everything else -> `otherwise`.
Status FromErrno(int err, const std::string& what, Code otherwise);

// An exception nothing below caught (a bug, std::bad_alloc): kWorkerFailed
// (exit 70), "internal error: what()". The places that catch one: the
// mains, a worker's scan, a run's passes and its tail (docs/CHOICES.md).
Status FromException(const std::exception& e);

// A value or the Status explaining why there is none.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  // REQUIRES: !status.ok() (an OK status without a value becomes an error).
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok())
      status_ = Status(Code::kWorkerFailed, "internal error: a result without a value");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace mm

#define MM_CONCAT_INNER_(a, b) a##b
#define MM_CONCAT_(a, b) MM_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the calling function if it is not OK.
#define MM_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::mm::Status mm_status_ = (expr);        \
    if (!mm_status_.ok()) return mm_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the calling function.
#define MM_ASSIGN_OR_RETURN(lhs, expr)                                                          \
  auto MM_CONCAT_(mm_result_, __LINE__) = (expr);                                               \
  if (!MM_CONCAT_(mm_result_, __LINE__).ok()) return MM_CONCAT_(mm_result_, __LINE__).status(); \
  lhs = std::move(MM_CONCAT_(mm_result_, __LINE__)).value()
