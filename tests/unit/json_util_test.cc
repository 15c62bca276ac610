// Tests of core/json_util: non-finite floats as strings, integers beyond
// 64 bits as decimal strings and back, the document layout (flat arrays on
// one line), and exact round trips of doubles through dump and parse.
#include "core/json_util.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "io/files.h"

namespace mm {
namespace {

using u128 = unsigned __int128;

constexpr int128 kInt128Max = static_cast<int128>(~u128{0} >> 1);
constexpr int128 kInt128Min = -kInt128Max - 1;

uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}

TEST_CASE("Json: non-finite numbers are strings", "[json]") {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(JsonNumber(std::numeric_limits<double>::quiet_NaN()) == Json("NaN"));
  CHECK(JsonNumber(-std::numeric_limits<double>::quiet_NaN()) == Json("NaN"));
  CHECK(JsonNumber(inf) == Json("Infinity"));
  CHECK(JsonNumber(-inf) == Json("-Infinity"));
  CHECK(JsonNumber(1.5).is_number_float());
  CHECK(JsonNumber(0.0).dump() == "0.0");
  CHECK(JsonNumber(1e300).get<double>() == 1e300);
  // And back.
  CHECK(std::isnan(JsonToDouble(Json("NaN")).value()));
  CHECK(JsonToDouble(Json("Infinity")).value() == inf);
  CHECK(JsonToDouble(Json("-Infinity")).value() == -inf);
  CHECK(JsonToDouble(Json(2.25)).value() == 2.25);
  CHECK(JsonToDouble(Json(7)).value() == 7.0);
  CHECK(JsonToDouble(Json(uint64_t{1} << 63)).value() == 9223372036854775808.0);
  // Anything else is bad data.
  for (const Json& bad : {Json("nan"), Json("inf"), Json("1.5"), Json(""), Json(true),
                          Json(nullptr), Json::array(), Json::object()}) {
    INFO(bad.dump());
    Result<double> r = JsonToDouble(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kDataErr);
  }
}

TEST_CASE("Json: integers beyond 64 bits are decimal strings", "[json]") {
  const int128 two64 = static_cast<int128>(u128{1} << 64);
  struct Case {
    int128 v;
    const char* text;  // the dump of JsonInt(v)
  };
  // clang-format off
  const std::vector<Case> cases = {
    {0, "0"},
    {-1, "-1"},
    {std::numeric_limits<int64_t>::max(), "9223372036854775807"},
    {std::numeric_limits<int64_t>::min(), "-9223372036854775808"},
    {static_cast<int128>(std::numeric_limits<int64_t>::max()) + 1, "9223372036854775808"},
    {static_cast<int128>(std::numeric_limits<uint64_t>::max()), "18446744073709551615"},
    {two64, "\"18446744073709551616\""},
    {-two64, "\"-18446744073709551616\""},
    {static_cast<int128>(std::numeric_limits<int64_t>::min()) - 1, "\"-9223372036854775809\""},
    {two64 * 1000 + 123, "\"18446744073709551616123\""},
    {kInt128Max, "\"170141183460469231731687303715884105727\""},
    {kInt128Min, "\"-170141183460469231731687303715884105728\""},
    {kInt128Min + 1, "\"-170141183460469231731687303715884105727\""},
  };
  // clang-format on
  for (const Case& c : cases) {
    INFO(c.text);
    const Json j = JsonInt(c.v);
    CHECK(j.dump() == c.text);
    if (j.is_string()) CHECK(j.get<std::string>() == Int128ToString(c.v));
    // Back, directly and through the text.
    Result<int128> back = JsonToInt128(j);
    REQUIRE(back.ok());
    CHECK(back.value() == c.v);
    Result<int128> parsed = JsonToInt128(Json::parse(j.dump()));
    REQUIRE(parsed.ok());
    CHECK(parsed.value() == c.v);
  }
}

TEST_CASE("Json: Int128ToString and JsonToInt128 agree on random values", "[json]") {
  std::mt19937_64 rng(5);
  for (int i = 0; i < 2000; ++i) {
    const u128 bits = (static_cast<u128>(rng()) << 64) | rng();
    const int shift = static_cast<int>(rng() % 128);
    const int128 v = static_cast<int128>(bits >> shift);  // all magnitudes, both signs
    Result<int128> back = JsonToInt128(Json(Int128ToString(v)));
    REQUIRE(back.ok());
    CHECK(back.value() == v);
    Result<int128> via = JsonToInt128(Json::parse(JsonInt(v).dump()));
    REQUIRE(via.ok());
    CHECK(via.value() == v);
  }
}

TEST_CASE("Json: JsonToInt128 rejects what is not an integer", "[json]") {
  for (const Json& bad : {Json(""), Json("-"), Json("12a"), Json("1.5"), Json("1e3"), Json("+5"),
                          Json(" 5"), Json(1.5), Json(true), Json(nullptr), Json::array()}) {
    INFO(bad.dump());
    Result<int128> r = JsonToInt128(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kDataErr);
  }
  CHECK(JsonToInt128(Json("-0")).value() == 0);
  CHECK(JsonToInt128(Json("007")).value() == 7);
}

// Decimal strings outside the int128 range wrap silently instead of being
// rejected. See the report: json_util.cc JsonToInt128().
TEST_CASE("Json: JsonToInt128 rejects values outside 128 bits", "[json]") {
  for (const char* text : {
           "170141183460469231731687303715884105728",   // 2^127
           "-170141183460469231731687303715884105729",  // -2^127 - 1
           "340282366920938463463374607431768211456",   // 2^128 (39 digits)
           "999999999999999999999999999999999999999",   // 39 nines
       }) {
    Result<int128> r = JsonToInt128(Json(text));
    INFO(text << " -> " << (r.ok() ? Int128ToString(r.value()) : r.status().message()));
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("Json: DumpDocument keeps flat arrays on one line", "[json]") {
  Json doc = Json::object();
  doc["name"] = "x";
  doc["flat"] = Json::array({1, 2.5, "NaN", nullptr, true});
  doc["nested"] = Json::array({Json::array({1, 2}), Json::array({3, 4})});
  doc["deep"] = Json::array({Json::array({Json::array({1}), Json::array({2})})});
  doc["obj"] = Json::object({{"a", 1}, {"b", Json::array()}});
  doc["empty_obj"] = Json::object();
  doc["empty_list"] = Json::array();
  doc["mixed"] = Json::array({1, Json::object({{"k", "v"}})});
  const std::string expected =
      "{\n"
      "  \"name\": \"x\",\n"
      "  \"flat\": [1, 2.5, \"NaN\", null, true],\n"
      "  \"nested\": [\n"
      "    [1, 2],\n"
      "    [3, 4]\n"
      "  ],\n"
      "  \"deep\": [\n"
      "    [\n"
      "      [1],\n"
      "      [2]\n"
      "    ]\n"
      "  ],\n"
      "  \"obj\": {\n"
      "    \"a\": 1,\n"
      "    \"b\": []\n"
      "  },\n"
      "  \"empty_obj\": {},\n"
      "  \"empty_list\": [],\n"
      "  \"mixed\": [\n"
      "    1,\n"
      "    {\n"
      "      \"k\": \"v\"\n"
      "    }\n"
      "  ]\n"
      "}\n";
  CHECK(DumpDocument(doc) == expected);
  // The document parses back to the same value.
  CHECK(Json::parse(DumpDocument(doc)) == doc);
  // Scalars and a top-level flat array.
  CHECK(DumpDocument(Json(3)) == "3\n");
  CHECK(DumpDocument(Json::array({1, 2, 3})) == "[1, 2, 3]\n");
  // Keys keep insertion order and are escaped.
  Json keys = Json::object();
  keys["z"] = 1;
  keys["a\"b"] = 2;
  CHECK(DumpDocument(keys) == "{\n  \"z\": 1,\n  \"a\\\"b\": 2\n}\n");
}

TEST_CASE("Json: doubles round-trip exactly through dump and parse", "[json]") {
  std::mt19937_64 rng(2024);
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                0.1,
                                1.0 / 3,
                                -2.5e-310,
                                5e-324,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::lowest(),
                                9007199254740993.0,
                                123456789012345678.0};
  while (values.size() < 1000 + 12) {
    uint64_t b = rng();
    double d;
    std::memcpy(&d, &b, 8);
    if (!std::isfinite(d)) continue;
    values.push_back(d);
  }
  std::uniform_real_distribution<double> u(-1e6, 1e6);
  for (int i = 0; i < 200; ++i) values.push_back(u(rng));
  Json arr = Json::array();
  for (double d : values) arr.push_back(JsonNumber(d));
  const std::string text = DumpDocument(Json{{"values", arr}});
  Result<Json> parsed = ParseJson(text, "doc", Code::kDataErr);
  REQUIRE(parsed.ok());
  const Json& back = (*parsed)["values"];
  REQUIRE(back.size() == values.size());
  uint64_t mismatches = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    Result<double> d = JsonToDouble(back[i]);
    REQUIRE(d.ok());
    if (Bits(d.value()) != Bits(values[i])) {
      if (mismatches++ < 5)
        FAIL_CHECK("value " << i << ": " << back[i].dump() << " came back different");
    }
  }
  CHECK(mismatches == 0);
  // Non-finite values survive the trip as their strings.
  Json nf = Json::array({JsonNumber(std::nan("")), JsonNumber(HUGE_VAL), JsonNumber(-HUGE_VAL)});
  const Json nf_back = Json::parse(DumpDocument(nf));
  CHECK(std::isnan(JsonToDouble(nf_back[0]).value()));
  CHECK(JsonToDouble(nf_back[1]).value() == HUGE_VAL);
  CHECK(JsonToDouble(nf_back[2]).value() == -HUGE_VAL);
}

TEST_CASE("Json: a flat array prints each scalar as nlohmann's dump does", "[json]") {
  std::mt19937_64 rng(7);
  Json arr = Json::array({0.0, -0.0, 1.0, -1.5, 1e300, 5e-324, 1e16, 1e15, 0.0001, 0.00001,
                          int64_t{-3}, uint64_t{18446744073709551615u}, int64_t{0}, true, nullptr,
                          "a \"quoted\", string", JsonNumber(std::nan(""))});
  for (int i = 0; i < 2000; ++i) {
    uint64_t b = rng();
    double d;
    std::memcpy(&d, &b, 8);
    arr.push_back(JsonNumber(d));
    arr.push_back(static_cast<int64_t>(b));
  }
  std::string expected = "[";
  for (size_t i = 0; i < arr.size(); ++i) expected += (i ? ", " : "") + arr[i].dump();
  CHECK(DumpDocument(arr) == expected + "]\n");
}

TEST_CASE("Json: ParseJson reports the position with the given code", "[json]") {
  Result<Json> bad = ParseJson("{\"a\": }", "config.json", Code::kConfig);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kConfig);
  CHECK_THAT(bad.status().message(), Catch::StartsWith("config.json: invalid JSON: "));
  CHECK_THAT(bad.status().message(), Catch::Contains("line 1"));
  CHECK_THAT(bad.status().message(), !Catch::Contains("[json.exception"));
  Result<Json> good = ParseJson("{\"a\": [1, 2]}", "x", Code::kConfig);
  REQUIRE(good.ok());
  CHECK((*good)["a"][1] == 2);
}

TEST_CASE("Json: ParseJson refuses nesting deeper than kMaxJsonDepth, in arrays and objects",
          "[json]") {
  const std::string ok_depth = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  CHECK(ParseJson(ok_depth, "x", Code::kDataErr).ok());
  for (const std::string& deep : {std::string(100000, '[') + std::string(100000, ']'),
                                  std::string(kMaxJsonDepth + 1, '['), [] {
                                    std::string t;
                                    for (int i = 0; i < 100000; ++i) t += "{\"a\":";
                                    return t + "1" + std::string(100000, '}');
                                  }()}) {
    Result<Json> r = ParseJson(deep, "deep.json", Code::kConfig);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kConfig);
    CHECK_THAT(r.status().message(), Catch::Contains("nested deeper than"));
    CHECK(r.status().message().size() < 200);
  }
  // Brackets inside strings (and escaped quotes) do not count.
  const std::string in_string =
      "[\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"]";
  CHECK(ParseJson(in_string, "x", Code::kDataErr).ok());
}

TEST_CASE("Json: CheckFields names the first missing or mistyped key", "[json]") {
  const Json doc = Json::parse(R"({"a": {"b": [1, -2, "x"]}, "s": "t", "n": 1.5})");
  CHECK(CheckFields(doc,
                    {{"/a", JsonKind::kObject},
                     {"/a/b/0", JsonKind::kUnsigned},
                     {"/s", JsonKind::kString},
                     {"/n", JsonKind::kNumber},
                     {"/a/b/1", JsonKind::kInt}},
                    "f", Code::kDataErr)
            .ok());
  const Status wrong =
      CheckFields(doc, {{"/a/b/1", JsonKind::kUnsigned}}, "part p.json", Code::kDataErr);
  CHECK(wrong.code() == Code::kDataErr);
  CHECK(wrong.message() == "part p.json: key 'a.b[1]' must be a non-negative integer, got number");
  const Status through_scalar =
      CheckFields(doc, {{"/s/x", JsonKind::kString}}, "f", Code::kDataErr);
  CHECK(through_scalar.message() == "f: key 's.x' is missing");
  CHECK(CheckFields(doc, {{"/a/b/3", JsonKind::kString}}, "f", Code::kDataErr).message() ==
        "f: key 'a.b[3]' is missing");
  CHECK(CheckFields(doc, {{"/a/b/2", JsonKind::kInt}}, "f", Code::kDataErr).message() ==
        "f: key 'a.b[2]' must be an integer, got string");
}

TEST_CASE("Json: a sealed document checks; any changed byte of its dump does not", "[json]") {
  Json doc = Json::parse(R"({"format": "x", "v": [1, 2.5, "NaN"], "o": {"k": -0.0}})");
  SealDocument(&doc);
  REQUIRE(doc.contains("checksum"));
  CHECK(CheckSeal(doc, "f").ok());
  const Json back = Json::parse(DumpDocument(doc));
  CHECK(CheckSeal(back, "f").ok());
  Json edited = back;
  edited["v"][0] = 2;
  CHECK(CheckSeal(edited, "part f").code() == Code::kDataErr);
  CHECK_THAT(CheckSeal(edited, "part f").message(), Catch::StartsWith("part f: checksum mismatch"));
  Json unsealed = back;
  unsealed.erase("checksum");
  CHECK(CheckSeal(unsealed, "f").code() == Code::kDataErr);
}

TEST_CASE("Json: FindNulString names the key path of a string or key holding a NUL", "[json]") {
  Json j = Json::parse(R"({"a": [{"b": "ok"}, {"c": "x"}], "d": "e"})");
  CHECK(FindNulString(j).empty());
  j["a"][1]["c"] = std::string("res.json\0.evil", 14);
  CHECK(FindNulString(j) == "a[1].c");
  Json k = Json::object();
  k[std::string("ke\0y", 4)] = 1;
  CHECK(FindNulString(k) == std::string("ke\0y", 4));
}

TEST_CASE(
    "Json: ReadRegularFile refuses devices, folders and FIFOs at once, and files over the limit",
    "[json]") {
  for (const char* path : {"/dev/zero", "/dev/null", "/"}) {
    Result<std::string> r = ReadRegularFile(path, path, 1 << 20, Code::kConfig);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kConfig);
    CHECK_THAT(r.status().message(), Catch::Contains("not a regular file"));
  }
  char dir[] = "/tmp/mm-json-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string fifo = std::string(dir) + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Result<std::string> r = ReadRegularFile(fifo, fifo, 1 << 20, Code::kDataErr);  // must not block
  CHECK_THAT(r.status().message(), Catch::Contains("a FIFO"));
  const std::string file = std::string(dir) + "/f.json";
  REQUIRE(WriteFileAtomically(file, "12345").ok());
  CHECK(ReadRegularFile(file, file, 5, Code::kDataErr).value() == "12345");
  CHECK(ReadRegularFile(file, file, 4, Code::kDataErr).status().code() == Code::kDataErr);
  CHECK(ReadRegularFile(std::string(dir) + "/none", "none", 5, Code::kDataErr).status().code() ==
        Code::kNoInput);
  ::unlink(fifo.c_str());
  ::unlink(file.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace mm

namespace mm {

TEST_CASE(
    "Json: DumpDocumentTo hands DumpDocument's bytes to the sink in bounded pieces, and stops "
    "at the sink's first error",
    "[json]") {
  Json doc = Json::object();
  doc["name"] = "x";
  Json rows = Json::array();
  for (int r = 0; r < 300; ++r) {
    Json row = Json::array();
    for (int c = 0; c < 720; ++c) row.push_back(r * 720.25 + c / 3.0);
    rows.push_back(row);
  }
  doc["results"] = {{"mean", rows}, {"count", 216000}, {"nested", {{"a", {1, 2, 3}}}}};
  const std::string whole = DumpDocument(doc);
  REQUIRE(whole.size() > (size_t{1} << 20));
  std::string got;
  size_t pieces = 0, largest = 0;
  REQUIRE(DumpDocumentTo(doc, [&](std::string_view piece) {
            ++pieces;
            largest = std::max(largest, piece.size());
            got.append(piece);
            return Status::OK();
          }).ok());
  CHECK(got == whole);
  CHECK(pieces >= 4);
  CHECK(largest < (size_t{1} << 18) + 4096);

  int calls = 0;
  const Status st = DumpDocumentTo(doc, [&](std::string_view) {
    ++calls;
    return calls == 2 ? Error(Code::kIoErr, "disk full") : Status::OK();
  });
  CHECK_FALSE(st.ok());
  CHECK(st.message() == "disk full");
  CHECK(calls == 2);

  std::string small;
  REQUIRE(DumpDocumentTo(Json{{"a", 1}}, [&](std::string_view p) {
            small.append(p);
            return Status::OK();
          }).ok());
  CHECK(small == DumpDocument(Json{{"a", 1}}));
}

}  // namespace mm

TEST_CASE("IsUtf8 accepts well-formed UTF-8 only; EscapeNonUtf8 shows the other bytes as \\xHH",
          "[json][utf8]") {
  using mm::EscapeNonUtf8;
  using mm::IsUtf8;
  CHECK(IsUtf8(""));
  CHECK(IsUtf8("plain /path.dat"));
  CHECK(IsUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é, €, an emoji
  CHECK(IsUtf8("\xed\x9f\xbf\xf4\x8f\xbf\xbf"));               // U+D7FF, U+10FFFF
  CHECK_FALSE(IsUtf8("bad\xff"));
  CHECK_FALSE(IsUtf8("caf\xe9"));               // Latin-1
  CHECK_FALSE(IsUtf8("\xc0\xaf"));              // overlong '/'
  CHECK_FALSE(IsUtf8("\xe0\x80\xaf"));          // overlong, 3 bytes
  CHECK_FALSE(IsUtf8("\xed\xa0\x80"));          // a surrogate
  CHECK_FALSE(IsUtf8("\xf4\x90\x80\x80"));      // past U+10FFFF
  CHECK_FALSE(IsUtf8("\xe2\x82"));              // cut short at the end
  CHECK_FALSE(IsUtf8(std::string("\xc3", 1)));  // a lead byte alone
  CHECK(EscapeNonUtf8("caf\xe9/x\\y \xc3\xa9") == "caf\\xe9/x\\\\y \xc3\xa9");
  CHECK(EscapeNonUtf8("\xe2\x82") == "\\xe2\\x82");
  // Every byte string: the escape is UTF-8, and equal to the input when the
  // input is UTF-8 without a backslash.
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s(static_cast<size_t>(rng() % 12), '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    const std::string e = EscapeNonUtf8(s);
    CHECK(IsUtf8(e));
    if (IsUtf8(s) && s.find('\\') == std::string::npos) CHECK(e == s);
  }
}

TEST_CASE("FindNonUtf8String names the first key or value that is not UTF-8", "[json][utf8]") {
  CHECK(mm::FindNonUtf8String(mm::Json{{"a", "caf\xc3\xa9"}, {"b", {1, 2}}}).empty());
  CHECK(mm::FindNonUtf8String(mm::Json{{"a", "x"}, {"b", {1, "caf\xe9"}}}) == "b[1]");
  CHECK(mm::FindNonUtf8String(mm::Json{{"d", {{"p\xff", 1}}}}) == "d.p\xff");
  CHECK(mm::FindNulString(mm::Json{{"d", {{"p", std::string("a\0b", 3)}}}}) == "d.p");
}

TEST_CASE("JsonText and DumpDocument replace bytes that are not UTF-8 instead of throwing",
          "[json][utf8]") {
  const mm::Json j = {{"units",
                       "deg\xb0"
                       "C"},
                      {"caf\xe9", {1, "x\xff"}}};
  const std::string compact = mm::JsonText(j);
  CHECK(compact ==
        "{\"units\":\"deg\xef\xbf\xbd"
        "C\",\"caf\xef\xbf\xbd\":[1,\"x\xef\xbf\xbd\"]}");
  const std::string doc = mm::DumpDocument(j);
  CHECK(mm::IsUtf8(doc));
  const mm::Json back = mm::Json::parse(doc);
  CHECK(back["units"] ==
        "deg\xef\xbf\xbd"
        "C");
  CHECK(back["caf\xef\xbf\xbd"][1] == "x\xef\xbf\xbd");
}

TEST_CASE("Json: ObjectWithRoom takes its members without moving the ones already in", "[json]") {
  mm::Json j = mm::ObjectWithRoom(3);
  j["big"] = mm::Json::array({1, 2, 3});
  const mm::Json* before = &j["big"];
  j["b"] = 1;
  j["c"] = 2;
  // The member vector did not grow, so the first member was neither copied
  // nor moved (an ordered_json object copies its members when it grows).
  CHECK(&j["big"] == before);
  CHECK(mm::JsonText(j) == R"({"big":[1,2,3],"b":1,"c":2})");
  mm::Json plain = mm::Json::object();
  plain["big"] = mm::Json::array({1});
  const mm::Json* first = &plain["big"];
  plain["b"] = 1;
  CHECK(&plain["big"] != first);  // the growth this helper avoids
}

TEST_CASE("Json: ReleaseJson frees nested documents and leaves null", "[json]") {
  mm::Json doc = mm::ObjectWithRoom(2);
  mm::Json rows = mm::Json::array();
  for (int r = 0; r < 300; ++r) {
    mm::Json row = mm::Json::array();
    for (int c = 0; c < 7; ++c) row.push_back(r * 7 + c);
    rows.push_back(row);
  }
  doc["results"] = mm::Json{{"m", rows}, {"s", "NaN"}, {"e", mm::Json::object()}};
  doc["flat"] = mm::Json::array({1.5, "Infinity", nullptr, true});
  mm::ReleaseJson(&doc);
  CHECK(doc.is_null());
  mm::Json scalar = 3;
  mm::ReleaseJson(&scalar);
  CHECK(scalar.is_null());
}
