// Small string helpers: edit distance for "did you mean" hints, joining.
#pragma once

#include <string>
#include <string_view>
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

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing past U+10FFFF), the only text JSON can carry. File
// names and HDF5 names are bytes and need not be.
bool IsUtf8(std::string_view text);
// `text` with every byte that is not part of well-formed UTF-8 written as
// \xHH (and a backslash as \\): a name for a message, whatever its bytes.
std::string EscapeNonUtf8(std::string_view text);

// Whether `text` ends in `suffix`, ASCII letters compared without case
// (a file's extension: ".PNG" is ".png").
bool EndsWithNoCase(const std::string& text, const std::string& suffix);

// The last component of `path` (all of it when it has no slash).
std::string BaseName(const std::string& path);

}  // namespace mm
