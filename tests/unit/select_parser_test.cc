// Tests of core/select_parser: good selections with the per-axis result
// numpy gives (start, step, count or a dropped axis), and bad ones with the
// fragment their error must contain, one case per line.
#include "core/select_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace mm {
namespace {

// One axis as "start:step:count", or "=i" for an index that drops it.
std::string Describe(const std::vector<AxisSelect>& sel) {
  std::string s;
  for (const AxisSelect& a : sel) {
    if (!s.empty()) s += " ";
    s += a.dropped ? "=" + std::to_string(a.start)
                   : std::to_string(a.start) + ":" + std::to_string(a.step) + ":" +
                         std::to_string(a.count);
  }
  return s;
}

TEST_CASE("SelectParser: resolves good selections as numpy does", "[select]") {
  struct Case {
    const char* text;
    std::vector<int64_t> shape;
    const char* expect;
  };
  // Counts and starts were checked against numpy (len(range(n)[slice])).
  // clang-format off
  const std::vector<Case> cases = {
      {"[:, :, 0]",          {3, 4, 5},  "0:1:3 0:1:4 =0"},
      {"[100:200, 50:100]",  {300, 80},  "100:1:100 50:1:30"},
      {"[-1]",               {10, 2},    "=9 0:1:2"},
      {"[::2, ...]",         {5, 3, 2},  "0:2:3 0:1:3 0:1:2"},
      {"[::-1]",             {4},        "3:-1:4"},
      {"[5:1:-2]",           {10},       "5:-2:2"},
      {"[5:5]",              {10},       "0:1:0"},
      {"[..., 1]",           {3, 4, 5},  "0:1:3 0:1:4 =1"},
      {"[1, ..., 2]",        {3, 4, 5},  "=1 0:1:4 =2"},
      {"[1, 2, ...]",        {3, 4},     "=1 =2"},
      {"[...]",              {3, 4},     "0:1:3 0:1:4"},
      {"[:]",                {7},        "0:1:7"},
      {"[1]",                {3, 4, 5},  "=1 0:1:4 0:1:5"},
      {"[1,]",               {3, 4},     "=1 0:1:4"},
      {"  [ 1 : 3 , - 1 ] ", {5, 4},     "1:1:2 =3"},
      {"1:3",                {5},        "1:1:2"},
      {"[-100:100]",         {5},        "0:1:5"},
      {"[100:-100:-1]",      {5},        "4:-1:5"},
      {"[-2:]",              {5},        "3:1:2"},
      {"[:-2]",              {5},        "0:1:3"},
      {"[::-3]",             {10},       "9:-3:4"},
      {"[-3::-1]",           {10},       "7:-1:8"},
      {"[3:0:-1]",           {10},       "3:-1:3"},
      {"[0:10:100]",         {10},       "0:10:1"},
      {"[::+2]",             {5},        "0:2:3"},
      {"[None:3]",           {5},        "0:1:3"},
      {"[99999999999999999999999:]", {5}, "0:1:0"},
      {"[-99999999999999999999999:2]", {5}, "0:1:2"},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO(c.text);
    Result<std::vector<SelectItem>> items = ParseSelect(c.text);
    REQUIRE(items.ok());
    Result<std::vector<AxisSelect>> sel = ApplySelect(*items, c.shape);
    REQUIRE(sel.ok());
    CHECK(Describe(*sel) == c.expect);
  }
}

TEST_CASE("SelectParser: refuses bad selections with a clear message", "[select]") {
  struct Case {
    const char* text;
    std::vector<int64_t> shape;
    const char* fragment;
  };
  // clang-format off
  const std::vector<Case> cases = {
      {"[]",              {3},     "empty selection"},
      {"",                {3},     "empty selection"},
      {"[1",              {3},     "unbalanced brackets"},
      {"1]",              {3},     "unbalanced brackets"},
      {"[..., ...]",      {3, 4},  "'...' may appear only once"},
      {"[None]",          {3},     "None/newaxis is not supported"},
      {"[:, np.newaxis]", {3},     "None/newaxis is not supported"},
      {"[[1, 2]]",        {3},     "advanced indexing with lists or arrays is not supported"},
      {"[True]",          {3},     "boolean indexing is not supported"},
      {"[1:True]",        {3},     "boolean indexing is not supported"},
      {"[(1, 2)]",        {3, 4},  "unexpected character '('"},
      {"[1.5]",           {3},     "bad integer '1.5'"},
      {"[a]",             {3},     "bad integer 'a'"},
      {"[0x1]",           {3},     "bad integer '0x1'"},
      {"[1:2:3:4]",       {3},     "at most start:stop:step"},
      {"[1,,2]",          {3, 3},  "empty item"},
      {"[,]",             {3},     "empty item"},
      {"[-]",             {3},     "bad integer"},
      {"[::0]",           {3},     "slice step cannot be zero"},
      {"[3]",             {3},     "index 3 is out of bounds for axis 0 with size 3"},
      {"[-4]",            {3},     "index -4 is out of bounds for axis 0 with size 3"},
      {"[0, 7]",          {3, 7},  "index 7 is out of bounds for axis 1 with size 7"},
      {"[0, 0, 0]",       {3, 3},  "too many indices for a 2-d array: 3 were given"},
      {"[0, ..., 0, 0]",  {3, 3},  "too many indices"},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO(c.text);
    Result<std::vector<SelectItem>> items = ParseSelect(c.text);
    Status st = items.status();
    if (items.ok()) st = ApplySelect(*items, c.shape).status();
    REQUIRE_FALSE(st.ok());
    CHECK(st.code() == Code::kConfig);
    CHECK(st.message().find(c.fragment) != std::string::npos);
  }
}

TEST_CASE("SelectParser: the result shape keeps the sliced axes in order", "[select]") {
  const auto items = ParseSelect("[1:3, 0, ::-1]").value();
  const auto sel = ApplySelect(items, {4, 5, 6}).value();
  CHECK(SelectShape(sel) == std::vector<int64_t>{2, 6});
  CHECK(SelectShape(ApplySelect(ParseSelect("[1, 2]").value(), {4, 5}).value()).empty());
}

}  // namespace
}  // namespace mm
