// Tests of the stats partials' wire form (analysis/stats.cc, docs/
// ARCHITECTURE.md "Partials"): columns as base64 text of little-endian
// values. A partial survives ToJson -> PartialFromJson bit for bit, for
// float and integer data and for every subset of kept columns; anything
// malformed (the fuzzers' inputs) is a clean kDataErr.
#include <catch2/catch.hpp>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "core/json_util.h"
#include "source/partition.h"

namespace mm {
namespace {

constexpr int64_t kRows = 300, kCols = 40;

Dataset MakeDataset(const char* dtype) {
  Dataset d;
  d.path = "/nonexistent/stats_partial_test";  // never opened: blocks come from memory
  d.format = "raw";
  d.mode = "r";
  d.layout.dtype = *ParseDType(dtype);
  d.layout.shape = {kRows, kCols};
  d.file_bytes = d.layout.data_bytes();
  d.shape_spec = d.layout.shape;
  return d;
}

std::unique_ptr<Analysis> MakeStatsAnalysis(const Dataset& d, const Json& params) {
  AnalysisSpec spec;
  spec.name = spec.op = "stats";
  spec.params = params;
  Result<std::unique_ptr<Analysis>> a = MakeAnalysis(spec, d, Partition(d.layout));
  REQUIRE(a.ok());
  return std::move(*a);
}

// The partial of rows [r0, r1) of `data` (kCols values a row).
template <class T>
std::unique_ptr<Partial> Consume(const Analysis& a, std::vector<T>* data, int64_t r0, int64_t r1) {
  BlockView b;
  b.begin = static_cast<uint64_t>(r0 * kCols);
  b.end = static_cast<uint64_t>(r1 * kCols);
  b.data = reinterpret_cast<char*>(data->data() + b.begin);
  b.block = 0;
  std::unique_ptr<Partial> p = a.NewPartial(0);
  REQUIRE(a.NewScanner(0)->Consume(b, p.get()).ok());
  return p;
}

TEST_CASE("Base64: round trip of every length, one encoding only", "[json]") {
  std::mt19937 rng(5);
  for (size_t n = 0; n < 40; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string text = Base64Encode(bytes.data(), n);
    CHECK(text.size() == (n + 2) / 3 * 4);
    std::string back(n, '\0');
    REQUIRE(Base64DecodeTo(text, &back[0], n, "t").ok());
    CHECK(back == bytes);
    if (n > 0) CHECK_FALSE(Base64DecodeTo(text, &back[0], n - 1, "t").ok());
    CHECK_FALSE(Base64DecodeTo(text, &back[0], n + 3, "t").ok());
  }
  char out[3];
  CHECK(Base64DecodeTo("AAAA", out, 3, "t").ok());
  CHECK(Base64DecodeTo("AA==", out, 1, "t").ok());
  for (const char* bad : {"AA=A", "A===", "AB==", "A*AA", "====", "AAA=", "AAAAA"}) {
    INFO(bad);
    const size_t n = std::string(bad) == "AAA=" ? 3 : 1;
    const Status st = Base64DecodeTo(bad, out, n, "what");
    CHECK(st.code() == Code::kDataErr);
  }
  std::string ff = Base64Encode("\xff\xfe", 2);
  CHECK(ff == "//4=");
}

TEST_CASE("Stats partials: ToJson -> PartialFromJson is the same partial, bit for bit") {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(2.0, 5.0);
  std::vector<float> f(static_cast<size_t>(kRows * kCols));
  for (size_t i = 0; i < f.size(); ++i) f[i] = i % 37 == 1 ? NAN : static_cast<float>(normal(rng));
  std::vector<int64_t> n(f.size());
  for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<int64_t>(rng()) >> (i % 3 == 0 ? 1 : 20);
  const std::vector<Json> params = {
      Json{{"axis", 0}},
      Json{{"axis", 0}, {"stats", {"mean"}}},
      Json{{"axis", 0}, {"stats", {"min", "nan_count"}}},
      Json{{"axis", 1}, {"stats", {"std", "sum"}}},
      Json::object(),
  };
  for (const Json& pr : params) {
    INFO(pr.dump());
    for (const char* dtype : {"<f4", "<i8"}) {
      INFO(dtype);
      const Dataset d = MakeDataset(dtype);
      std::unique_ptr<Analysis> a = MakeStatsAnalysis(d, pr);
      std::unique_ptr<Partial> left =
          dtype[1] == 'f' ? Consume(*a, &f, 0, 120) : Consume(*a, &n, 0, 120);
      std::unique_ptr<Partial> right =
          dtype[1] == 'f' ? Consume(*a, &f, 120, 300) : Consume(*a, &n, 120, 300);
      for (Partial* p : {left.get(), right.get()}) {
        const Json j = p->ToJson();
        Result<std::unique_ptr<Partial>> back = a->PartialFromJson(0, j);
        REQUIRE(back.ok());
        CHECK((*back)->ToJson().dump() == j.dump());
      }
      // A merge of decoded partials is the merge of the originals.
      Result<std::unique_ptr<Partial>> l2 = a->PartialFromJson(0, left->ToJson());
      Result<std::unique_ptr<Partial>> r2 = a->PartialFromJson(0, right->ToJson());
      REQUIRE((l2.ok() && r2.ok()));
      left->Merge(*right);
      (*l2)->Merge(**r2);
      CHECK((*l2)->ToJson().dump() == left->ToJson().dump());
    }
  }
}

TEST_CASE("Stats partials: counts go as runs when NaNs mask whole regions of lanes") {
  // 40 lanes; lanes 0-19 are NaN in rows 0-99 (a masked region): counts
  // 100 over lanes 0-19 and 300 over 20-39 for rows 0-299, two runs, fewer
  // than one per 16 lanes.
  const Dataset d = MakeDataset("<f4");
  std::unique_ptr<Analysis> a = MakeStatsAnalysis(d, Json{{"axis", 0}, {"stats", {"count"}}});
  std::vector<float> f(static_cast<size_t>(kRows * kCols), 2.5f);
  for (int64_t r = 0; r < 100; ++r)
    for (int64_t c = 0; c < 20; ++c) f[static_cast<size_t>(r * kCols + c)] = std::nanf("");
  const Json j = Consume(*a, &f, 0, kRows)->ToJson();
  CHECK(j["n"] == Json::array({Json::array({200, 20}), Json::array({300, 20})}));
  Result<std::unique_ptr<Partial>> back = a->PartialFromJson(0, j);
  REQUIRE(back.ok());
  CHECK((*back)->ToJson().dump() == j.dump());
  // Three runs over 40 lanes are more than one per 16: bytes.
  for (int64_t c = 30; c < 40; ++c) f[static_cast<size_t>(c)] = std::nanf("");
  CHECK(Consume(*a, &f, 0, kRows)->ToJson()["n"].is_binary());
}

TEST_CASE("Stats partials: malformed ones are kDataErr, never a crash or a huge allocation") {
  const Dataset d = MakeDataset("<f4");
  std::unique_ptr<Analysis> a = MakeStatsAnalysis(d, Json{{"axis", 0}, {"stats", {"mean", "var"}}});
  std::vector<float> f(static_cast<size_t>(kRows * kCols), 1.5f);
  const Json binary = Consume(*a, &f, 0, 10)->ToJson();
  REQUIRE(a->PartialFromJson(0, binary).ok());
  Json good = binary;
  BinaryToBase64(&good);  // as a part file holds it
  REQUIRE(a->PartialFromJson(0, good).ok());
  std::vector<Json> bad;
  bad.push_back(Json::array());
  {
    Json j = binary;  // a bytes column one byte short
    Json::binary_t cut = j["mean"].get_binary();
    cut.pop_back();
    j["mean"] = Json::binary(std::vector<uint8_t>(cut.begin(), cut.end()));
    bad.push_back(j);
  }
  bad.push_back(Json(3));
  for (const char* key : {"lo", "hi", "n", "sum", "mean", "m2"}) {
    Json j = good;
    j.erase(key);
    bad.push_back(j);
    j = good;
    j[key] = "x";
    bad.push_back(j);
    j[key] = Json::array();
    bad.push_back(j);
  }
  Json j = good;
  j["hi"] = uint64_t{1} << 62;  // more lanes than the analysis has
  bad.push_back(j);
  j["n"] = 10;
  bad.push_back(j);
  j = good;
  j["lo"] = 5;  // fewer lanes than the columns hold
  bad.push_back(j);
  j = good;
  j["min"] = good["mean"];  // a column this run does not keep
  bad.push_back(j);
  j = good;
  j["mean"] = good["mean"].get<std::string>().substr(4);
  bad.push_back(j);
  j = good;
  std::string s = good["sum"].get<std::string>();
  s[7] = '!';
  j["sum"] = s;
  bad.push_back(j);
  j = good;
  j["n"] = -1.5;
  bad.push_back(j);
  j = good;
  j["n"] = -1;  // a negative count, one value for every lane
  bad.push_back(j);
  j = good;
  j["n"] = Json::array({Json::array({10, 39}), Json::array({-3, 1})});  // as runs
  bad.push_back(j);
  {
    j = good;  // as a bytes column: lane 3's count -7
    std::vector<int64_t> n(static_cast<size_t>(kCols), 10);
    n[3] = -7;
    j["n"] = Base64Encode(n.data(), n.size() * sizeof(int64_t));
    bad.push_back(j);
  }
  for (const Json& b : bad) {
    INFO(b.dump().substr(0, 200));
    Result<std::unique_ptr<Partial>> p = a->PartialFromJson(0, b);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == Code::kDataErr);
  }
  // Count runs: [[count, lanes], ...] covering the 40 lanes exactly.
  for (const Json& runs :
       {Json::array({Json::array({10, 39})}), Json::array({Json::array({10, 41})}),
        Json::array({Json::array({10, 0}), Json::array({10, 40})}),
        Json::array({Json::array({10, 40}), Json::array({1, 1})}),
        Json::array({Json::array({"10", 40})}), Json::array({Json::array({10, -40})}),
        Json::array({Json::array({10})}), Json::array({Json(40)}), Json::array()}) {
    INFO(runs.dump());
    Json r = good;
    r["n"] = runs;
    Result<std::unique_ptr<Partial>> p = a->PartialFromJson(0, r);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == Code::kDataErr);
  }
  Json split = good;
  const int64_t n10 = good["n"].get<int64_t>();
  split["n"] = Json::array({Json::array({n10, 25}), Json::array({n10, 15})});
  Result<std::unique_ptr<Partial>> same = a->PartialFromJson(0, split);
  REQUIRE(same.ok());
  CHECK((*same)->ToJson() == binary);  // re-encoded in its shortest form
  // A run of means alone keeps no running mean: a partial with one is
  // malformed for it, one without is good.
  std::unique_ptr<Analysis> m = MakeStatsAnalysis(d, Json{{"axis", 0}, {"stats", {"mean"}}});
  const Json plain = Consume(*m, &f, 0, 10)->ToJson();
  CHECK_FALSE(plain.contains("mean"));
  CHECK(m->PartialFromJson(0, plain).ok());
  Result<std::unique_ptr<Partial>> with_mean = m->PartialFromJson(0, good);
  REQUIRE_FALSE(with_mean.ok());
  CHECK(with_mean.status().code() == Code::kDataErr);
}

}  // namespace
}  // namespace mm
