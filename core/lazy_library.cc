#include "core/lazy_library.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

namespace mm {

Status LazyLibrary::Load() {
  if (loaded()) return Status::OK();
  std::lock_guard<std::mutex> lock(mu_);
  if (handle_.load(std::memory_order_relaxed) != nullptr) return Status::OK();
  if (tried_) return failure_;
  tried_ = true;
  void* h = ::dlopen(soname_, RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) {
    const char* why = ::dlerror();
    failure_ =
        Error(Code::kIoErr, std::string("cannot load ") + soname_ + ", which mmrun needs for " +
                                needed_for_ + ": " + (why != nullptr ? why : "unknown reason"));
    return failure_;
  }
  handle_.store(h, std::memory_order_release);
  return Status::OK();
}

void* LazyLibrary::Symbol(const char* name) {
  Status st = Load();
  void* sym = nullptr;
  if (st.ok()) {
    sym = ::dlsym(handle_.load(std::memory_order_acquire), name);
    if (sym == nullptr)
      st = Error(Code::kIoErr, std::string(soname_) + " has no " + name +
                                   " (a library other than the one mmrun was built with)");
  }
  if (!st.ok()) {
    std::fprintf(stderr, "mmrun: error: %s\n", st.message().c_str());
    std::_Exit(static_cast<int>(Code::kIoErr));
  }
  return sym;
}

}  // namespace mm
