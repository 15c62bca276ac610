#include "core/fault.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace mm {

int64_t FaultValue(const char* name) {
  const char* env = std::getenv("MMRUN_TEST_FAULT");
  if (env == nullptr) return -1;
  const std::string s = std::string(",") + env, key = std::string(",") + name + "=";
  const size_t pos = s.find(key);
  if (pos == std::string::npos) return -1;
  return std::atoll(s.c_str() + pos + key.size());
}

int64_t TestHookValue(const char* variable) {
  const char* env = std::getenv(variable);
  if (env == nullptr || *env == '\0') return -1;
  return static_cast<int64_t>(std::strtoull(env, nullptr, 10));
}

}  // namespace mm
