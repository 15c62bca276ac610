#include "analysis/quantiles.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "analysis/npy_fields.h"
#include "analysis/stats_simd.h"
#include "core/fault.h"
#include "core/lanes.h"
#include "core/strings.h"
#include "io/files.h"
#include "source/partition.h"

namespace mm {

namespace {

constexpr int kBitsPerPass = 16;
constexpr int kMaxPasses = 64 / kBitsPerPass;
constexpr uint64_t kBucketMask = (uint64_t{1} << kBitsPerPass) - 1;
// A probe (or a whole lane in pass 0) whose values number at most this is
// gathered; a larger one is counted per 16-bit bucket. Either way a probe
// holds at most 2^16 (key, count) pairs.
constexpr uint64_t kGatherCap = uint64_t{1} << kBitsPerPass;

// The gather cap; tests lower it (MMRUN_TEST_QUANTILE_CAP) to drive every
// refinement path with small data. Read by the coordinator only: workers
// learn every decision through PassInput.
uint64_t GatherCap() {
  const int64_t cap = TestHookValue("MMRUN_TEST_QUANTILE_CAP");
  return cap >= 0 ? static_cast<uint64_t>(cap) : kGatherCap;
}

// A sparse histogram: sorted distinct keys with their counts.
struct Sparse {
  std::vector<uint64_t> keys;
  std::vector<uint64_t> counts;
};

// a += b (merge-join of two sorted sparse histograms).
void MergeSparse(Sparse* a, const Sparse& b) {
  if (b.keys.empty()) return;
  if (a->keys.empty()) {
    *a = b;
    return;
  }
  Sparse out;
  out.keys.reserve(a->keys.size() + b.keys.size());
  out.counts.reserve(a->keys.size() + b.keys.size());
  size_t i = 0, j = 0;
  while (i < a->keys.size() || j < b.keys.size()) {
    if (j == b.keys.size() || (i < a->keys.size() && a->keys[i] < b.keys[j])) {
      out.keys.push_back(a->keys[i]);
      out.counts.push_back(a->counts[i++]);
    } else if (i == a->keys.size() || b.keys[j] < a->keys[i]) {
      out.keys.push_back(b.keys[j]);
      out.counts.push_back(b.counts[j++]);
    } else {
      out.keys.push_back(a->keys[i]);
      out.counts.push_back(a->counts[i++] + b.counts[j++]);
    }
  }
  *a = std::move(out);
}

// Turns raw keys into a sparse histogram (sorts `raw`). `dense`: scratch of
// 2^kBitsPerPass zeros (or empty: sized here), left all zeros.
void Tally(std::vector<uint64_t>* raw, bool small_keys, Sparse* out,
           std::vector<uint32_t>* dense_counts) {
  out->keys.clear();
  out->counts.clear();
  if (raw->empty()) return;
  if (small_keys && raw->size() > 1024) {
    // 16-bit buckets: a dense count with a list of the touched buckets.
    std::vector<uint32_t>& dense = *dense_counts;
    dense.resize(size_t{1} << kBitsPerPass, 0);
    std::vector<uint64_t> touched;
    for (uint64_t k : *raw)
      if (dense[k]++ == 0) touched.push_back(k);
    std::sort(touched.begin(), touched.end());
    for (uint64_t k : touched) {
      out->keys.push_back(k);
      out->counts.push_back(dense[k]);
      dense[k] = 0;
    }
    return;
  }
  std::sort(raw->begin(), raw->end());
  for (size_t i = 0; i < raw->size();) {
    size_t j = i + 1;
    while (j < raw->size() && (*raw)[j] == (*raw)[i]) ++j;
    out->keys.push_back((*raw)[i]);
    out->counts.push_back(j - i);
    i = j;
  }
}

// The probes of one pass: for each lane, the buckets whose values the pass
// counts (gather == false: per next 16 bits) or gathers (full keys).
// Probes of a lane are sorted by prefix; off has lanes + 1 entries.
struct ProbeTable {
  int pass = 0;
  std::vector<uint64_t> off;
  std::vector<uint64_t> prefix;
  std::vector<uint8_t> gather;
  uint64_t total() const { return off.empty() ? 0 : off.back(); }
};

// Per lane [lo, hi): one Sparse per probe of that lane (table offsets),
// and the NaN count (pass 0).
class QuantilePartial : public Partial {
 public:
  explicit QuantilePartial(const ProbeTable* table) : table_(table) {}
  uint64_t lo = 0, hi = 0;
  std::vector<Sparse> slots;  // table->off[lo] .. table->off[hi]
  std::vector<int64_t> nan;   // hi - lo

  void Reset(uint64_t new_lo, uint64_t new_hi) {
    lo = new_lo;
    hi = new_hi;
    slots.assign(table_->off[hi] - table_->off[lo], Sparse());
    nan.assign(hi - lo, 0);
  }

  void Merge(const Partial& right_base) override {
    MergeLaneRanges(this, static_cast<const QuantilePartial&>(right_base),
                    [this](uint64_t nlo, uint64_t nhi) {
                      QuantilePartial grown(table_);
                      grown.Reset(nlo, nhi);
                      grown.AddFrom(std::move(*this));
                      *this = std::move(grown);
                    });
  }

  // Flat arrays (few JSON nodes): "n" holds each slot's pair count,
  // "keys" / "counts" the pairs of all slots in order.
  Json ToJson() const override {
    std::vector<uint64_t> n, keys, counts;
    n.reserve(slots.size());
    for (const Sparse& sp : slots) {
      n.push_back(sp.keys.size());
      keys.insert(keys.end(), sp.keys.begin(), sp.keys.end());
      counts.insert(counts.end(), sp.counts.begin(), sp.counts.end());
    }
    return Json{{"lo", lo}, {"hi", hi}, {"nan", nan}, {"n", n}, {"keys", keys}, {"counts", counts}};
  }

  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, const ProbeTable* table) {
    auto p = std::make_unique<QuantilePartial>(table);
    try {
      p->lo = j.at("lo").get<uint64_t>();
      p->hi = j.at("hi").get<uint64_t>();
      if (p->hi < p->lo || p->hi + 1 > table->off.size())
        return Error(Code::kDataErr, "quantiles partial: bad lane range");
      p->nan = j.at("nan").get<std::vector<int64_t>>();
      const auto n = j.at("n").get<std::vector<uint64_t>>();
      const auto keys = j.at("keys").get<std::vector<uint64_t>>();
      const auto counts = j.at("counts").get<std::vector<uint64_t>>();
      if (p->nan.size() != p->hi - p->lo || n.size() != table->off[p->hi] - table->off[p->lo] ||
          keys.size() != counts.size())
        return Error(Code::kDataErr, "quantiles partial: inconsistent sizes");
      p->slots.resize(n.size());
      size_t pos = 0;
      for (size_t i = 0; i < n.size(); ++i) {
        if (n[i] > keys.size() - pos)
          return Error(Code::kDataErr, "quantiles partial: inconsistent sizes");
        const auto b = keys.begin() + static_cast<ptrdiff_t>(pos);
        const auto c = counts.begin() + static_cast<ptrdiff_t>(pos);
        p->slots[i].keys.assign(b, b + static_cast<ptrdiff_t>(n[i]));
        p->slots[i].counts.assign(c, c + static_cast<ptrdiff_t>(n[i]));
        pos += n[i];
      }
      if (pos != keys.size()) return Error(Code::kDataErr, "quantiles partial: inconsistent sizes");
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, std::string("quantiles partial: ") + e.what());
    }
    return std::unique_ptr<Partial>(std::move(p));
  }

  // Adds `r`, whose lanes lie inside this one's (MergeLaneRanges).
  template <class P>
  void AddFrom(P&& r) {
    const uint64_t slot0 = table_->off[r.lo] - table_->off[lo];
    for (size_t i = 0; i < r.slots.size(); ++i) {
      if (slots[slot0 + i].keys.empty()) {
        slots[slot0 + i] = std::forward<P>(r).slots[i];
      } else {
        MergeSparse(&slots[slot0 + i], r.slots[i]);
      }
    }
    for (uint64_t l = 0; l < r.hi - r.lo; ++l) nan[r.lo - lo + l] += r.nan[l];
  }

 private:
  const ProbeTable* table_;
};

// Lanes that each lie inside one block (the row axis is kept and blocks
// hold whole rows): the worker computes their quantiles itself, so a
// partial holds |q| values per lane whatever the lane length.
class LocalPartial : public Partial {
 public:
  explicit LocalPartial(size_t nq) : nq_(nq) {}
  uint64_t lo = 0, hi = 0;
  std::vector<double> values;  // (hi - lo) x nq, lane-major

  // Later blocks hold later rows, so their lanes follow: concatenate.
  void Merge(const Partial& right_base) override {
    const auto& r = static_cast<const LocalPartial&>(right_base);
    if (r.lo == r.hi) return;
    if (lo == hi) {
      *this = r;
      return;
    }
    values.insert(values.end(), r.values.begin(), r.values.end());
    hi = r.hi;
  }

  Json ToJson() const override {
    Json v = Json::array();
    for (double x : values) v.push_back(JsonNumber(x));
    return Json{{"lo", lo}, {"hi", hi}, {"v", std::move(v)}};
  }

  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, size_t nq) {
    auto p = std::make_unique<LocalPartial>(nq);
    try {
      p->lo = j.at("lo").get<uint64_t>();
      p->hi = j.at("hi").get<uint64_t>();
      const Json& v = j.at("v");
      if (p->hi < p->lo || v.size() != (p->hi - p->lo) * nq)
        return Error(Code::kDataErr, "quantiles partial: inconsistent sizes");
      for (const Json& x : v) {
        MM_ASSIGN_OR_RETURN(double d, JsonToDouble(x));
        p->values.push_back(d);
      }
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, std::string("quantiles partial: ") + e.what());
    }
    return std::unique_ptr<Partial>(std::move(p));
  }

 private:
  size_t nq_;
};

// Coordinator state of one lane.
struct Want {
  int64_t rank;
  double value;
};
struct OpenProbe {
  uint64_t prefix;  // 16 * pass bits
  uint64_t base;    // values of the lane below this bucket
  bool gather;
  std::vector<size_t> wants;  // indices into the lane's wants
};
struct LaneState {
  int64_t n = 0;
  int64_t nan = 0;
  std::vector<Want> wants;  // sorted by rank, distinct
  std::vector<OpenProbe> probes;
};

class Quantiles : public Analysis {
 public:
  Quantiles(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition,
            LaneGeometry geo, std::vector<double> q, bool scalar_q, QuantileMethod method,
            std::string output)
      : Analysis(spec, dataset, partition),
        geo_(std::move(geo)),
        q_(std::move(q)),
        scalar_q_(scalar_q),
        method_(method),
        output_(std::move(output)) {
    // Row blocks of whole rows only: a chunk block holds pieces of its
    // lanes (rows_per_block() is 0 for chunk partitions).
    local_ = geo_.row_kept() && partition.rows_per_block() > 0;
    cap_ = GatherCap();
    const uint64_t lane_length = static_cast<uint64_t>(dataset.layout.elements()) / geo_.lanes();
    SetPassZeroTable(lane_length <= cap_);
    caps_.plottable = true;
  }

  // Local mode needs one pass (so it also works with --shard); the radix
  // selection up to kMaxPasses, of which the unneeded are skipped.
  int passes() const override { return local_ ? 1 : kMaxPasses; }
  bool PassNeeded(int pass) const override {
    return pass == 0 || (!local_ && pass == table_.pass && table_.total() > 0);
  }

  Json PassInput(int pass) const override {
    if (pass == 0) return Json{{"gather", table_.gather.empty() ? false : table_.gather[0] != 0}};
    if (pass != table_.pass) return Json{{"pass", pass}, {"off", Json::array()}};
    return Json{
        {"pass", pass}, {"off", table_.off}, {"prefix", table_.prefix}, {"gather", table_.gather}};
  }

  Status SetPassInput(int pass, const Json& input) override {
    try {
      if (pass == 0) {
        SetPassZeroTable(input.at("gather").get<bool>());
        return Status::OK();
      }
      ProbeTable t;
      t.pass = pass;
      t.off = input.at("off").get<std::vector<uint64_t>>();
      if (t.off.empty()) {
        t.off.assign(geo_.lanes() + 1, 0);
      } else {
        t.prefix = input.at("prefix").get<std::vector<uint64_t>>();
        t.gather = input.at("gather").get<std::vector<uint8_t>>();
      }
      if (t.off.size() != geo_.lanes() + 1 || t.prefix.size() != t.total() ||
          t.gather.size() != t.total())
        return Error(Code::kDataErr, name() + ": malformed pass input");
      table_ = std::move(t);
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, name() + ": malformed pass input: " + e.what());
    }
    return Status::OK();
  }

  std::unique_ptr<Partial> NewPartial(int) const override {
    if (local_) return std::make_unique<LocalPartial>(q_.size());
    return std::make_unique<QuantilePartial>(&table_);
  }

  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    if (local_) return LocalPartial::FromJson(j, q_.size());
    return QuantilePartial::FromJson(j, &table_);
  }

  std::unique_ptr<Scanner> NewScanner(int pass) const override {
    return MakeScanner(Scratch(),
                       [this, pass](const BlockView& block, Partial* base, Scratch* scratch) {
                         const DType dt = dataset_.layout.dtype;
                         if (local_) {
                           if (pass != 0) return Status::OK();
                           VisitDType(dt, [&](auto traits, auto swap) {
                             ConsumeLocal<decltype(traits), decltype(swap)::value>(
                                 block, static_cast<LocalPartial*>(base), scratch);
                           });
                           return Status::OK();
                         }
                         auto* p = static_cast<QuantilePartial*>(base);
                         if (pass != table_.pass || table_.total() == 0)
                           return Status::OK();  // nothing open: an empty partial
                         VisitDType(dt, [&](auto traits, auto swap) {
                           ConsumeTyped<decltype(traits), decltype(swap)::value>(block, p, scratch);
                         });
                         return Status::OK();
                       });
  }

  Status EndPass(int pass, const Partial& merged) override;
  Result<Json> Finish() override;

 private:
  void SetPassZeroTable(bool gather) {
    const uint64_t lanes = geo_.lanes();
    table_ = ProbeTable();
    table_.pass = 0;
    table_.off.resize(lanes + 1);
    for (uint64_t l = 0; l <= lanes; ++l) table_.off[l] = l;
    table_.prefix.assign(lanes, 0);
    table_.gather.assign(lanes, gather ? 1 : 0);
  }

  // A scanner's working memory, kept between blocks (one scanner, one
  // thread); it holds no result.
  struct Scratch {
    std::vector<std::vector<double>> vals;   // ConsumeLocal: per lane
    std::vector<std::vector<uint64_t>> raw;  // ConsumeTyped: per probe
    std::vector<uint32_t> dense;             // Tally
    std::vector<double> x;                   // RefineRun: a tile as doubles
    std::vector<uint32_t> hit;               // RefineRun: its values in open buckets
  };

  // Sorts each lane's non-NaN values and evaluates every q (local mode:
  // REQUIRES a row block of whole rows, block.box == nullptr).
  template <class Traits, bool kSwap>
  void ConsumeLocal(const BlockView& block, LocalPartial* p, Scratch* scratch) const {
    using S = typename Traits::Storage;
    const auto range = geo_.LaneRange(block.begin, block.end);
    p->lo = range.first;
    p->hi = range.second;
    const size_t nl = static_cast<size_t>(p->hi - p->lo), nq = q_.size();
    std::vector<std::vector<double>>& vals = scratch->vals;
    if (vals.size() < nl) vals.resize(nl);
    for (size_t l = 0; l < nl; ++l) vals[l].clear();
    geo_.ForEachRun(
        block.begin, block.end, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
          const char* run = block.data + off * sizeof(S);
          for (uint64_t i = 0; i < len; ++i) {
            double x = static_cast<double>(LoadElement<Traits, kSwap>(run + i * sizeof(S)));
            if (x != x) continue;
            if (x == 0) x = 0.0;  // -0.0 as +0.0, as in the radix path
            vals[static_cast<size_t>((kept ? lane + i : lane) - p->lo)].push_back(x);
          }
        });
    p->values.assign(nl * nq, std::numeric_limits<double>::quiet_NaN());
    for (size_t l = 0; l < nl; ++l) {
      std::vector<double>& v = vals[l];
      if (v.empty()) continue;
      std::sort(v.begin(), v.end());
      const int64_t n = static_cast<int64_t>(v.size());
      for (size_t k = 0; k < nq; ++k) {
        const QuantileRanks r = QuantileRanksFor(method_, n, q_[k]);
        const double a = v[static_cast<size_t>(r.lo)];
        p->values[l * nq + k] =
            r.interpolate ? QuantileLerp(a, v[static_cast<size_t>(r.hi)], r.gamma) : a;
      }
    }
  }

  template <class Traits, bool kSwap>
  void ConsumeTyped(const BlockView& block, QuantilePartial* p, Scratch* scratch) const {
    using S = typename Traits::Storage;
    // A chunk block's lane range may hold lanes it does not reach: they keep
    // empty slots and no NaN (an identity when partials are added).
    const auto range = geo_.BlockLaneRange(block.box, block.begin, block.end);
    p->Reset(range.first, range.second);
    const int pass = table_.pass;
    const uint64_t slot0 = table_.off[p->lo];
    std::vector<std::vector<uint64_t>>& raw = scratch->raw;
    if (raw.size() < p->slots.size()) raw.resize(p->slots.size());
    for (size_t s = 0; s < p->slots.size(); ++s) raw[s].clear();
    const int shift = 64 - kBitsPerPass * pass;               // prefix = key >> shift (pass > 0)
    const int bucket_shift = 64 - kBitsPerPass * (pass + 1);  // next 16 bits
    geo_.ForEachRunOfBlock(
        block.box, block.begin, block.end,
        [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
          const char* run = block.data + off * sizeof(S);
          if (pass == 0 && !kept) {
            // A run of one lane: every value's key (gathered) or its top
            // 16 bits (counted), by the vector kernel.
            TallyRun<Traits, kSwap>(run, len, lane, p, &raw[table_.off[lane] - slot0],
                                    table_.gather[table_.off[lane]] ? 0 : bucket_shift, scratch);
            return;
          }
          if (pass > 0 && !kept) {
            // A run of one lane: only values inside its open buckets
            // matter; the vector kernel finds them.
            const uint64_t b = table_.off[lane], e = table_.off[lane + 1];
            if (b == e) return;
            if (e - b <= kMaxFilteredProbes) {
              RefineRun<Traits, kSwap>(run, len, b, e, slot0, scratch);
              return;
            }
          }
          for (uint64_t i = 0; i < len; ++i) {
            const uint64_t l = kept ? lane + i : lane;
            const double x = static_cast<double>(LoadElement<Traits, kSwap>(run + i * sizeof(S)));
            if (x != x) {
              if (pass == 0) ++p->nan[l - p->lo];
              continue;
            }
            const uint64_t key = OrderedKey(x);
            uint64_t slot = table_.off[l];
            const uint64_t end = table_.off[l + 1];
            if (pass > 0) {
              const uint64_t pre = key >> shift;
              if (end - slot <= 8) {
                while (slot < end && table_.prefix[slot] != pre) ++slot;
              } else {
                slot = static_cast<uint64_t>(
                    std::lower_bound(table_.prefix.begin() + static_cast<ptrdiff_t>(slot),
                                     table_.prefix.begin() + static_cast<ptrdiff_t>(end), pre) -
                    table_.prefix.begin());
                if (slot < end && table_.prefix[slot] != pre) slot = end;
              }
              if (slot == end) continue;
            }
            raw[slot - slot0].push_back(table_.gather[slot] ? key
                                                            : (key >> bucket_shift) & kBucketMask);
          }
        });
    for (size_t s = 0; s < p->slots.size(); ++s)
      Tally(&raw[s], !table_.gather[slot0 + s], &p->slots[s], &scratch->dense);
  }

  // Pass 0, a run of one lane: the keys of its values shifted right by
  // `shift` appended to `raw`, its NaNs counted, as in ConsumeTyped's loop.
  template <class Traits, bool kSwap>
  void TallyRun(const char* run, uint64_t len, uint64_t lane, QuantilePartial* p,
                std::vector<uint64_t>* raw, int shift, Scratch* scratch) const {
    using S = typename Traits::Storage;
    scratch->x.resize(kTile);
    double* x = scratch->x.data();
    for (uint64_t t0 = 0; t0 < len; t0 += kTile) {
      const uint64_t m = std::min(kTile, len - t0);
      LoadDoubles<Traits, kSwap>(run + t0 * sizeof(S), m, x);
      const size_t before = raw->size();
      raw->resize(before + m);
      const uint64_t kept = simd::KeyBits(x, m, shift, raw->data() + before);
      raw->resize(before + kept);
      p->nan[lane - p->lo] += static_cast<int64_t>(m - kept);
    }
  }

  // Pass > 0, a run of one lane whose open probes are table_ slots [b, e):
  // each value inside one of them goes to that probe's raw keys, as in
  // ConsumeTyped's loop (NaN and the values of closed buckets are skipped).
  static constexpr uint64_t kMaxFilteredProbes = 16;
  static constexpr uint64_t kTile = 1024;
  template <class Traits, bool kSwap>
  void RefineRun(const char* run, uint64_t len, uint64_t b, uint64_t e, uint64_t slot0,
                 Scratch* scratch) const {
    using S = typename Traits::Storage;
    const int shift = 64 - kBitsPerPass * table_.pass;
    const int bucket_shift = 64 - kBitsPerPass * (table_.pass + 1);
    scratch->x.resize(kTile);
    scratch->hit.resize(kTile);
    double* x = scratch->x.data();
    uint32_t* hit = scratch->hit.data();
    for (uint64_t t0 = 0; t0 < len; t0 += kTile) {
      const uint64_t m = std::min(kTile, len - t0);
      LoadDoubles<Traits, kSwap>(run + t0 * sizeof(S), m, x);
      const uint64_t hits = simd::KeyMatches(x, m, shift, &table_.prefix[b], e - b, hit);
      for (uint64_t h = 0; h < hits; ++h) {
        const uint64_t key = OrderedKey(x[hit[h]]);
        uint64_t slot = b;
        while (table_.prefix[slot] != key >> shift) ++slot;  // one matches
        scratch->raw[slot - slot0].push_back(
            table_.gather[slot] ? key : (key >> bucket_shift) & kBucketMask);
      }
    }
  }

  Result<Json> WriteFiles(const std::vector<double>& flat, const std::vector<int64_t>& shape) const;

  LaneGeometry geo_;
  std::vector<double> q_;
  bool scalar_q_;
  QuantileMethod method_;
  std::string output_;
  uint64_t cap_ = kGatherCap;
  bool local_ = false;                // lanes inside one block: see LocalPartial
  std::vector<double> local_values_;  // local mode: lanes x nq
  ProbeTable table_;                  // the probes of pass table_.pass
  std::vector<LaneState> lanes_;      // coordinator only
};

Status Quantiles::EndPass(int pass, const Partial& merged_base) {
  if (local_) {
    if (pass != 0) return Status::OK();
    const auto& merged = static_cast<const LocalPartial&>(merged_base);
    MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged.lo, merged.hi));
    if (merged.values.size() != geo_.lanes() * q_.size())
      return Error(Code::kWorkerFailed,
                   name() + ": merged partials hold the wrong number of values");
    local_values_ = merged.values;
    return Status::OK();
  }
  const auto& merged_in = static_cast<const QuantilePartial&>(merged_base);
  if (pass != table_.pass || table_.total() == 0) return Status::OK();
  const uint64_t nl = geo_.lanes();
  QuantilePartial widened(&table_);  // 0 rows: every lane empty (NaN, as numpy)
  if (geo_.empty() && merged_in.lo == merged_in.hi) widened.Reset(0, nl);
  const QuantilePartial& merged =
      geo_.empty() && merged_in.lo == merged_in.hi ? widened : merged_in;
  MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged.lo, merged.hi));
  if (pass == 0) {
    lanes_.assign(nl, LaneState());
    for (uint64_t l = 0; l < nl; ++l) {
      LaneState& ls = lanes_[l];
      ls.nan = merged.nan[l];
      for (uint64_t c : merged.slots[l].counts) ls.n += static_cast<int64_t>(c);
      if (ls.n == 0) continue;
      std::vector<int64_t> ranks;
      for (double q : q_) {
        const QuantileRanks r = QuantileRanksFor(method_, ls.n, q);
        ranks.push_back(r.lo);
        ranks.push_back(r.hi);
      }
      std::sort(ranks.begin(), ranks.end());
      ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
      OpenProbe all{0, 0, table_.gather[l] != 0, {}};
      for (int64_t r : ranks) {
        all.wants.push_back(ls.wants.size());
        ls.wants.push_back(Want{r, 0.0});
      }
      ls.probes.push_back(std::move(all));
    }
  }
  // Resolve each open probe's ranks within its slot; open the next probes.
  ProbeTable next;
  next.pass = pass + 1;
  next.off.assign(nl + 1, 0);
  for (uint64_t l = 0; l < nl; ++l) {
    LaneState& ls = lanes_[l];
    std::vector<OpenProbe> opened;
    for (size_t j = 0; j < ls.probes.size(); ++j) {
      const OpenProbe& probe = ls.probes[j];
      const Sparse& sp = merged.slots[table_.off[l] + j];
      size_t e = 0;
      uint64_t below = 0;  // values of the slot before entry e
      for (size_t w : probe.wants) {
        const uint64_t local = static_cast<uint64_t>(ls.wants[w].rank) - probe.base;
        while (e < sp.keys.size() && below + sp.counts[e] <= local) below += sp.counts[e++];
        if (e == sp.keys.size())
          return Error(Code::kWorkerFailed,
                       name() + ": counts of two passes disagree (did the data change?)");
        if (probe.gather) {
          ls.wants[w].value = KeyToDouble(sp.keys[e]);
          continue;
        }
        const uint64_t prefix = (pass == 0 ? 0 : probe.prefix << kBitsPerPass) | sp.keys[e];
        if (pass + 1 == kMaxPasses) {
          ls.wants[w].value = KeyToDouble(prefix);
          continue;
        }
        if (opened.empty() || opened.back().prefix != prefix) {
          opened.push_back(OpenProbe{prefix, probe.base + below, sp.counts[e] <= cap_, {}});
        }
        opened.back().wants.push_back(w);
      }
    }
    ls.probes = std::move(opened);
    next.off[l + 1] = next.off[l] + ls.probes.size();
    for (const OpenProbe& op : ls.probes) {
      next.prefix.push_back(op.prefix);
      next.gather.push_back(op.gather ? 1 : 0);
    }
  }
  table_ = std::move(next);
  return Status::OK();
}

Result<Json> Quantiles::Finish() {
  const uint64_t nl = geo_.lanes();
  const size_t nq = q_.size();
  std::vector<uint64_t> order(nl);  // output position -> internal lane
  for (uint64_t l = 0; l < nl; ++l) order[geo_.OutputIndex(l)] = l;
  std::vector<double> flat(nq * nl);
  for (size_t k = 0; k < nq; ++k) {
    for (uint64_t i = 0; i < nl; ++i) {
      if (local_) {
        flat[k * nl + i] = local_values_[order[i] * nq + k];
        continue;
      }
      const LaneState& ls = lanes_[order[i]];
      double v = std::numeric_limits<double>::quiet_NaN();
      if (ls.n > 0) {
        const QuantileRanks r = QuantileRanksFor(method_, ls.n, q_[k]);
        auto find = [&](int64_t rank) {
          auto it = std::lower_bound(ls.wants.begin(), ls.wants.end(), rank,
                                     [](const Want& w, int64_t x) { return w.rank < x; });
          return it->value;
        };
        const double a = find(r.lo);
        v = r.interpolate ? QuantileLerp(a, find(r.hi), r.gamma) : a;
      }
      flat[k * nl + i] = v;
    }
  }
  std::vector<int64_t> shape;
  if (!scalar_q_) shape.push_back(static_cast<int64_t>(nq));
  for (int64_t d : geo_.kept_shape()) shape.push_back(d);
  if (flat.size() > kMaxInlineNumbers) return WriteFiles(flat, shape);
  std::vector<Json> items;
  items.reserve(flat.size());
  for (double v : flat) items.push_back(JsonNumber(v));
  return Json{{"values", NestFlat(items, shape)}};
}

Result<Json> Quantiles::WriteFiles(const std::vector<double>& flat,
                                   const std::vector<int64_t>& shape) const {
  std::vector<NpyField> fields(1);
  fields[0].name = "values";
  fields[0].shape = shape;
  fields[0].doubles = flat;
  MM_ASSIGN_OR_RETURN(Json files, WriteNpyFields(output_, fields));
  return Json{{"shape", shape}, {"files", files}};
}

double PyMod2(double x) {
  double m = std::fmod(x, 2.0);
  if (m < 0) m += 2.0;
  return m;
}

}  // namespace

const std::vector<std::string>& QuantileMethodNames() {
  static const std::vector<std::string> names = {"inverted_cdf",
                                                 "averaged_inverted_cdf",
                                                 "closest_observation",
                                                 "interpolated_inverted_cdf",
                                                 "hazen",
                                                 "weibull",
                                                 "linear",
                                                 "median_unbiased",
                                                 "normal_unbiased",
                                                 "lower",
                                                 "higher",
                                                 "midpoint",
                                                 "nearest"};
  return names;
}

QuantileRanks QuantileRanksFor(QuantileMethod method, int64_t n, double q) {
  const double nd = static_cast<double>(n);
  QuantileRanks r;
  auto pick = [&](double index) {
    int64_t i = static_cast<int64_t>(index);
    i = std::max<int64_t>(0, std::min<int64_t>(i, n - 1));
    r.lo = r.hi = i;
    r.interpolate = false;
    return r;
  };
  // numpy's _discret_interpolation_to_boundaries: previous where the
  // condition holds, else previous + 1; negatives clipped to 0.
  auto boundaries = [&](double index, bool closest) {
    const double previous = std::floor(index);
    const double gamma = index - previous;
    const bool cond = closest ? (gamma == 0 && PyMod2(previous) == 0) : gamma == 0;
    return pick(cond ? previous : previous + 1);
  };
  double alpha = 0, beta = 0;
  switch (method) {
    case QuantileMethod::kInvertedCdf:
      return boundaries(nd * q - 1, false);
    case QuantileMethod::kClosestObservation:
      return boundaries(nd * q - 1 - 0.5, true);
    case QuantileMethod::kLower:
      return pick(std::floor((nd - 1) * q));
    case QuantileMethod::kHigher:
      return pick(std::ceil((nd - 1) * q));
    case QuantileMethod::kNearest:
      return pick(std::nearbyint((nd - 1) * q));  // round half to even, as np.around
    case QuantileMethod::kInterpolatedInvertedCdf:
      alpha = 0;
      beta = 1;
      break;
    case QuantileMethod::kHazen:
      alpha = 0.5;
      beta = 0.5;
      break;
    case QuantileMethod::kWeibull:
      alpha = 0;
      beta = 0;
      break;
    case QuantileMethod::kMedianUnbiased:
      alpha = 1 / 3.0;
      beta = 1 / 3.0;
      break;
    case QuantileMethod::kNormalUnbiased:
      alpha = 3 / 8.0;
      beta = 3 / 8.0;
      break;
    default:
      break;
  }
  double v;
  if (method == QuantileMethod::kLinear) {
    v = (nd - 1) * q;
  } else if (method == QuantileMethod::kAveragedInvertedCdf) {
    v = nd * q - 1;
  } else if (method == QuantileMethod::kMidpoint) {
    v = 0.5 * (std::floor((nd - 1) * q) + std::ceil((nd - 1) * q));
  } else {
    v = nd * q + (alpha + q * (1 - alpha - beta)) - 1;  // _compute_virtual_index
  }
  // _get_indexes: -1 stands for the last value.
  double previous = std::floor(v);
  if (v >= nd - 1) previous = -1;
  if (v < 0) previous = 0;
  double gamma = v - previous;  // _get_gamma, before fix_gamma
  if (method == QuantileMethod::kAveragedInvertedCdf) gamma = gamma == 0 ? 0.5 : 1.0;
  if (method == QuantileMethod::kMidpoint) gamma = std::fmod(v, 1.0) == 0 ? 0.0 : 0.5;
  if (previous == -1) {
    r.lo = r.hi = n - 1;
  } else if (v < 0) {
    r.lo = r.hi = 0;
  } else {
    r.lo = static_cast<int64_t>(previous);
    r.hi = r.lo + 1;
  }
  r.gamma = gamma;
  r.interpolate = true;
  return r;
}

double QuantileLerp(double a, double b, double t) {
  const double diff = b - a;
  if (t >= 0.5) return b - diff * (1 - t);
  return a + diff * t;
}

uint64_t OrderedKey(double x) {
  if (x == 0) x = 0.0;  // -0.0 sorts with +0.0
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  return (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
}

double KeyToDouble(uint64_t key) {
  const uint64_t bits = (key >> 63) ? key & ~(uint64_t{1} << 63) : ~key;
  double x;
  std::memcpy(&x, &bits, 8);
  return x;
}

Result<std::unique_ptr<Analysis>> MakeQuantiles(const AnalysisSpec& spec, const Dataset& dataset,
                                                const Partition& partition) {
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, {"q", "method", "axis", "output"},
                               "analyses[" + std::to_string(spec.index) + "]"));
  if (!spec.params.contains("q"))
    return ParamError(spec, "q", "is required: a probability or a list of them");
  const Json& qj = spec.params["q"];
  const bool scalar_q = qj.is_number();
  std::vector<Json> items;
  if (scalar_q) {
    items.push_back(qj);
  } else if (qj.is_array() && !qj.empty()) {
    items.assign(qj.begin(), qj.end());
  } else {
    return ParamError(
        spec, "q", "must be a number or a non-empty list of numbers in [0, 1], got " + qj.dump());
  }
  std::vector<double> q;
  for (const Json& item : items) {
    if (!item.is_number())
      return ParamError(spec, "q", "must hold numbers in [0, 1], got " + item.dump());
    const double v = item.get<double>();
    if (!(v >= 0 && v <= 1))
      return ParamError(spec, "q", "quantiles must be in [0, 1], got " + item.dump());
    q.push_back(v);
  }
  QuantileMethod method = QuantileMethod::kLinear;
  if (spec.params.contains("method")) {
    const Json& m = spec.params["method"];
    const auto& names = QuantileMethodNames();
    if (!m.is_string()) return ParamError(spec, "method", "must be a string, got " + m.dump());
    const auto it = std::find(names.begin(), names.end(), m.get<std::string>());
    if (it == names.end())
      return ParamError(spec, "method",
                        "unknown method '" + m.get<std::string>() + "'" +
                            DidYouMean(m.get<std::string>(), names) +
                            "; known: " + Join(names, ", "));
    method = static_cast<QuantileMethod>(it - names.begin());
  }
  const Json axis = spec.params.contains("axis") ? spec.params["axis"] : Json(nullptr);
  if (!axis.is_null() && !axis.is_number_integer())
    return ParamError(spec, "axis", "must be null or an integer, got " + axis.dump());
  std::vector<int> reduced;
  MM_ASSIGN_OR_RETURN(reduced, ParseAxes(spec, axis, dataset.layout.ndim()));
  MM_ASSIGN_OR_RETURN(std::string output, ParseOutputPrefix(spec));
  LaneGeometry geo(dataset.layout, reduced);
  const uint64_t numbers = geo.lanes() * q.size();
  if (numbers > kMaxInlineNumbers && output.empty())
    return ParamError(spec, "output",
                      "the result would hold " + std::to_string(numbers) +
                          " numbers (more than 1000000); give \"output\": \"PREFIX\" to write "
                          "the values to PREFIX.values.npy");
  return std::unique_ptr<Analysis>(new Quantiles(
      spec, dataset, partition, std::move(geo), std::move(q), scalar_q, method, std::move(output)));
}

}  // namespace mm
