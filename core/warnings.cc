#include "core/warnings.h"

#include <cstdio>

namespace mm {

void Warnings::Add(const std::string& text) { texts_.push_back(text); }

void Warnings::Add(const std::vector<std::string>& texts) {
  for (const std::string& t : texts) Add(t);
}

void Warnings::Publish(Json* doc) const {
  if (texts_.empty()) return;
  if (doc) (*doc)["warnings"] = texts_;
  if (quiet_) return;
  for (const std::string& t : texts_) std::fprintf(stderr, "mmrun: warning: %s\n", t.c_str());
  std::fflush(stderr);
}

}  // namespace mm
