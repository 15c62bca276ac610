// Small string helpers: edit distance for "did you mean" hints, joining.
#pragma once

#include <string>
#include <vector>

namespace mm {

// Levenshtein distance between a and b.
size_t EditDistance(const std::string& a, const std::string& b);

// " (did you mean 'x'?)" for the closest candidate within a small distance,
// else "" . Used for every unknown key and unknown name.
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates);

std::string Join(const std::vector<std::string>& parts, const std::string& sep);

}  // namespace mm
