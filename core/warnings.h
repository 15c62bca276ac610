// Warnings: the one collector of a command's warnings (a run, validate,
// inspect). They are printed when the command succeeds, just before its
// document, as "mmrun: warning: TEXT" lines on stderr (unless quiet: -q), and
// the document carries the same texts in a top-level "warnings" list (a -q
// cron job keeps them). A command that fails prints only its one error line.
// Warnings never change the "dataset" or "results" sections.
#pragma once

#include <string>
#include <vector>

#include "core/json_util.h"

namespace mm {

class Warnings {
 public:
  explicit Warnings(bool quiet = false) : quiet_(quiet) {}
  void Add(const std::string& text);
  void Add(const std::vector<std::string>& texts);
  bool empty() const { return texts_.empty(); }
  const std::vector<std::string>& texts() const { return texts_; }
  // Sets doc["warnings"] to the list when there is any warning (unless doc
  // is null), and prints them unless quiet. Call once, on success, before
  // writing `doc`.
  void Publish(Json* doc) const;

 private:
  bool quiet_;
  std::vector<std::string> texts_;
};

}  // namespace mm
