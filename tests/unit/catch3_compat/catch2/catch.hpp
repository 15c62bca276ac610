// Catch2 v3 behind the v2 header the unit tests include (<catch2/catch.hpp>):
// CMakeLists.txt puts this folder on the include path only when it found
// Catch2 v3. It maps the few v2 names the tests use onto v3's.
#pragma once

#include <catch2/catch_all.hpp>
#include <string>

namespace Catch {
inline Matchers::StringContainsMatcher Contains(const std::string& s) {
  return Matchers::ContainsSubstring(s);
}
using Matchers::StartsWith;
}  // namespace Catch
