// Small string helpers: edit distance for "did you mean" hints, joining.
#pragma once

#include <string>
#include <vector>

namespace mm {

// Levenshtein distance between a and b.
size_t EditDistance(const std::string& a, const std::string& b);

// The candidate closest to `word` when it is within a small distance (at
// most 2, or half the candidate's length), else "".
std::string ClosestName(const std::string& word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" for ClosestName, else "". Used for every unknown key
// and unknown name.
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates);

std::string Join(const std::vector<std::string>& parts, const std::string& sep);

// Whether `text` ends in `suffix`, ASCII letters compared without case
// (a file's extension: ".PNG" is ".png").
bool EndsWithNoCase(const std::string& text, const std::string& suffix);

}  // namespace mm
