#include "analysis/quantiles.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "analysis/load_doubles.h"
#include "analysis/npy_fields.h"
#include "analysis/stats_simd.h"
#include "core/fault.h"
#include "core/lanes.h"
#include "core/strings.h"
#include "io/files.h"
#include "source/partition.h"

namespace mm {

namespace {

// The budget of one pass: counters of counted probes and (key, count)
// pairs of gathered ones, each at most this many (the test hook lowers it).
constexpr uint64_t kPairBudget = uint64_t{1} << 20;
// Bits a pass counts: pass 0 up to 20 (a fine first histogram for one
// lane), later passes up to 16, and never fewer than 4 (so at most 16
// passes for 64-bit keys).
constexpr int kMaxBitsPassZero = 20;
constexpr int kMaxBits = 16;
constexpr int kMinBits = 4;
// Lane tiles (Quantiles::tiles_): at most this many passes of whole lanes
// (a tile holds the budget's values: 4 G values, a 16 GB float32 file),
// for lanes of at most kMaxTileLaneValues values, or more than
// kTileLanes lanes (beyond 256 values a radix pass's counting costs less
// than gathering every value, but its per-lane state grows past 64 MiB
// from about 25,000 lanes: docs/BENCHMARKS.md, session 27).
constexpr uint64_t kMaxTiles = 4096;
constexpr uint64_t kMaxTileLaneValues = 256;
constexpr uint64_t kTileLanes = uint64_t{1} << 15;

// The pass budget; tests lower it (MMRUN_TEST_QUANTILE_CAP) to drive every
// refinement path with small data. The coordinator's decisions reach the
// workers through PassInput, but the number of lane tiles (passes()) is
// also counted by a spawned worker's plan from its own environment, which
// it inherits from mmrun: a worker started without the hooks mmrun had
// refuses the plan ("plan: bad pass"). The hooks are for tests only.
uint64_t PairBudget() {
  const int64_t cap = TestHookValue("MMRUN_TEST_QUANTILE_CAP");
  return cap >= 0 ? static_cast<uint64_t>(cap) : kPairBudget;
}

// floor(log2(budget / n)) clamped to [kMinBits, most]: the bits a pass can
// count for n probes within the budget.
int BitsFor(uint64_t budget, uint64_t n, int most) {
  const uint64_t per = n == 0 ? budget : budget / n;
  int bits = 0;
  while (bits < most && (uint64_t{2} << bits) <= per) ++bits;
  return std::max(bits, kMinBits);
}

// The key bits that can differ between two values of the dtype once
// converted to double: sign and exponent (12) and the fraction bits the
// type's values can have. A bucket whose prefix is at least this long holds
// a single value, whose key is the prefix followed by zeros (positive) or
// ones (negative: OrderedKey inverts the bits).
int KeyDepth(DType dt) {
  int digits = 53;  // significant binary digits of the type's values
  if (dt.is_bool()) {
    digits = 1;
  } else if (dt.is_integer()) {  // 64-bit ones round to a double's 53
    digits = std::min(53, 8 * dt.itemsize() - (dt.is_signed() ? 1 : 0));
  } else if (dt.itemsize() < 8) {
    digits = dt.itemsize() == 2 ? 11 : 24;
  }
  return 12 + digits - 1;
}

// The key of the one value of a bucket at `depth` >= KeyDepth.
uint64_t FillKey(uint64_t prefix, int depth) {
  if (depth >= 64) return prefix;
  const int s = 64 - depth;
  const uint64_t key = prefix << s;
  return (key >> 63) ? key : key | ((uint64_t{1} << s) - 1);
}

// Gathered (slot, key) pairs in order, by slot and then key: a counting
// sort over the table's `slots` when the pairs are as many as a quarter of
// them (a lane tile gathers a million values over tens of thousands of
// slots: one std::sort of them all cost a worker 60-80 ms a pass), then
// each slot's few keys sorted; else one sort.
std::vector<std::pair<uint64_t, uint64_t>> SortedGathered(
    const std::vector<std::pair<uint64_t, uint64_t>>& g, uint64_t slots) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (g.size() < slots / 4 || g.size() < 64) {
    out = g;
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<uint64_t> start(slots + 1, 0);
  for (const auto& pair : g) ++start[pair.first + 1];
  for (uint64_t s = 0; s < slots; ++s) start[s + 1] += start[s];
  std::vector<uint64_t> next(start.begin(), start.end() - 1);
  out.resize(g.size());
  for (const auto& pair : g) out[next[pair.first]++] = pair;
  for (uint64_t s = 0; s < slots; ++s)
    std::sort(out.begin() + static_cast<ptrdiff_t>(start[s]),
              out.begin() + static_cast<ptrdiff_t>(start[s + 1]));
  return out;
}

// Sorted distinct keys with their counts, per slot, in flat arrays: slot s
// holds keys[start[s], start[s + 1]).
struct PairColumns {
  std::vector<uint64_t> start{0};
  std::vector<uint64_t> keys;
  std::vector<uint64_t> counts;
  size_t slots() const { return start.size() - 1; }
  void Clear(size_t slots) {
    start.assign(slots + 1, 0);
    keys.clear();
    counts.clear();
  }
  // Appends slot a's pairs of `x` merged with slot b's of `y` (a sorted
  // merge-join, counts of equal keys added) as the next slot of this one.
  void AppendMerged(const PairColumns& x, size_t a, const PairColumns* y, size_t b) {
    uint64_t i = x.start[a];
    const uint64_t ie = x.start[a + 1];
    uint64_t j = y ? y->start[b] : 0;
    const uint64_t je = y ? y->start[b + 1] : 0;
    while (i < ie || j < je) {
      if (j == je || (i < ie && x.keys[i] < y->keys[j])) {
        keys.push_back(x.keys[i]);
        counts.push_back(x.counts[i++]);
      } else if (i == ie || y->keys[j] < x.keys[i]) {
        keys.push_back(y->keys[j]);
        counts.push_back(y->counts[j++]);
      } else {
        keys.push_back(x.keys[i]);
        counts.push_back(x.counts[i++] + y->counts[j++]);
      }
    }
    start.push_back(keys.size());
  }
};

// The values slot s of `pairs` counts, or more than `cap` (cap + 1 at
// least) when they exceed it: corrupt counts cannot overflow the sum.
uint64_t SlotValues(const PairColumns& pairs, uint64_t s, uint64_t cap, uint64_t before = 0) {
  uint64_t total = before;
  for (uint64_t i = pairs.start[s]; i < pairs.start[s + 1] && total <= cap; ++i)
    total += std::min(pairs.counts[i], cap + 1);
  return total;
}

// The probes of one pass: for each lane, the buckets (key prefixes of
// `depth` bits) whose values the pass counts per next `bits` bits, or
// gathers as full keys. Probes of a lane are sorted by prefix; off has
// lanes + 1 entries. counter[s] is a counted probe's first counter in the
// pass's dense count (probes in order, 2^bits each), set by Index().
struct ProbeTable {
  int pass = 0;
  int depth = 0;
  int bits = 0;
  // Lanes [first, last) may have probes (a lane tile's); the others have
  // none. A tile's table has one probe per lane of [first, last) and no
  // `off` (its offsets are implicit: a pass costs nothing per lane outside
  // the tile); `lanes` is the dataset's.
  uint64_t first = 0, last = ~uint64_t{0};
  bool tile = false;
  uint64_t lanes = 0;
  std::vector<uint64_t> off;
  std::vector<uint64_t> prefix;
  std::vector<uint8_t> gather;
  std::vector<uint64_t> counter;
  uint64_t counters = 0;
  // Lane l's first slot (slots of lane l: [Off(l), Off(l + 1))).
  uint64_t Off(uint64_t l) const {
    return tile ? std::min(std::max(l, first), last) - first : off[l];
  }
  uint64_t lane_count() const { return tile ? lanes : off.size() - 1; }
  uint64_t total() const { return tile ? last - first : off.empty() ? 0 : off.back(); }
  void Index() {
    counter.assign(total(), 0);
    counters = 0;
    for (uint64_t s = 0; s < total(); ++s) {
      counter[s] = counters;
      if (!gather[s]) counters += uint64_t{1} << bits;
    }
  }
};

// The partial's columns are varints (core/json_util.h PackVarints);
// UnpackVarints names the column.
Status UnpackVarints(const Json& j, const char* key, uint64_t n, std::vector<uint64_t>* out) {
  return mm::UnpackVarints(j.at(key), n, out, std::string("quantiles partial: bad '") + key + "'");
}

// Per lane [lo, hi): the pairs of each probe of that lane (table offsets),
// and the NaN count (a pass of whole lanes: radix pass 0, a lane tile).
// Two forms:
//  - compact: `pairs` and `nan` over [lo, hi), what ToJson writes and
//    FromJson reads; two compact partials merge slot by slot;
//  - open: a worker's one partial of all its blocks (exact_merge), which
//    the scanner fills: counted probes in `dense` (the table's counters),
//    gathered keys appended to `gathered` as (slot, key), NaNs in
//    `lane_nan` over the lanes that may have probes (the table's [first,
//    last)). ToJson and Merge settle it first (sorting the gathered pairs
//    into a second vector: 16 more bytes a pair for a moment).
class QuantilePartial : public Partial {
 public:
  // narrow: no lane holds 2^32 values, so 32-bit counters suffice (half
  // the memory of an open partial of many lanes).
  explicit QuantilePartial(const ProbeTable* table, bool narrow = false)
      : table_(table), narrow_(narrow) {}
  uint64_t lo = 0, hi = 0;
  PairColumns pairs;         // slots table->Off(lo) .. table->Off(hi)
  std::vector<int64_t> nan;  // hi - lo

  // Compact, empty, over lanes [l0, l1).
  void Reset(uint64_t l0, uint64_t l1) {
    lo = l0;
    hi = l1;
    pairs.Clear(table_->Off(hi) - table_->Off(lo));
    nan.assign(hi - lo, 0);
  }

  // Opens the partial (if it is not yet) and widens it to lanes [l0, l1).
  void Open(uint64_t l0, uint64_t l1) {
    if (!open_) {
      open_ = true;
      if (narrow_) {
        dense32_.assign(table_->counters, 0);
      } else {
        dense_.assign(table_->counters, 0);
      }
      // NaN counters for the lanes that may have probes (a tile's).
      nan_first_ = std::min<uint64_t>(table_->first, table_->lane_count());
      lane_nan_.assign(std::min<uint64_t>(table_->last, table_->lane_count()) - nan_first_, 0);
      lo = l0;
      hi = l1;
    }
    lo = std::min(lo, l0);
    hi = std::max(hi, l1);
  }
  void Count(uint64_t counter) {
    if (narrow_) {
      ++dense32_[counter];
    } else {
      ++dense_[counter];
    }
  }
  void Gather(uint64_t slot, uint64_t key) { gathered_.push_back({slot, key}); }
  int64_t* lane_nan(uint64_t lane) { return &lane_nan_[lane - nan_first_]; }
  std::vector<std::pair<uint64_t, uint64_t>>* gathered() { return &gathered_; }

  void Merge(const Partial& right_base) override {
    const auto& r0 = static_cast<const QuantilePartial&>(right_base);
    Settle();
    QuantilePartial settled(table_);
    if (r0.open_) r0.Compacted(&settled);
    const QuantilePartial& r = r0.open_ ? settled : r0;
    if (r.lo == r.hi) return;
    if (lo == hi) {
      *this = r;
      return;
    }
    const uint64_t nlo = std::min(lo, r.lo), nhi = std::max(hi, r.hi);
    const uint64_t s0 = table_->Off(nlo), s1 = table_->Off(nhi);
    const uint64_t a0 = table_->Off(lo), a1 = table_->Off(hi);
    const uint64_t b0 = table_->Off(r.lo), b1 = table_->Off(r.hi);
    PairColumns out;
    out.start.reserve(s1 - s0 + 1);
    out.keys.reserve(pairs.keys.size() + r.pairs.keys.size());
    out.counts.reserve(pairs.keys.size() + r.pairs.keys.size());
    static const PairColumns kEmpty{std::vector<uint64_t>{0, 0}, {}, {}};
    for (uint64_t s = s0; s < s1; ++s) {
      const bool in_a = s >= a0 && s < a1, in_b = s >= b0 && s < b1;
      if (in_a) {
        out.AppendMerged(pairs, s - a0, in_b ? &r.pairs : nullptr, s - b0);
      } else if (in_b) {
        out.AppendMerged(r.pairs, s - b0, nullptr, 0);
      } else {
        out.AppendMerged(kEmpty, 0, nullptr, 0);
      }
    }
    std::vector<int64_t> n(nhi - nlo, 0);
    for (uint64_t l = lo; l < hi; ++l) n[l - nlo] += nan[l - lo];
    for (uint64_t l = r.lo; l < r.hi; ++l) n[l - nlo] += r.nan[l - r.lo];
    pairs = std::move(out);
    nan = std::move(n);
    lo = nlo;
    hi = nhi;
  }

  // Varint columns (PackVarints; docs/PARTIAL_FORMAT.md): "nan" each lane's
  // NaN count, "n" each slot's pair count, "keys" / "counts" the pairs of
  // all slots in order, a slot's keys as its first key and then the steps.
  Json ToJson() const override {
    if (open_) {
      QuantilePartial settled(table_);
      Compacted(&settled);
      return settled.ToJson();
    }
    std::vector<uint64_t> n(pairs.slots());
    std::vector<uint64_t> deltas(pairs.keys.size());  // a slot's first key, then steps
    for (size_t s = 0; s < n.size(); ++s) {
      n[s] = pairs.start[s + 1] - pairs.start[s];
      for (uint64_t i = pairs.start[s]; i < pairs.start[s + 1]; ++i)
        deltas[i] = pairs.keys[i] - (i > pairs.start[s] ? pairs.keys[i - 1] : 0);
    }
    std::vector<uint64_t> nan_counts(nan.begin(), nan.end());
    return Json{{"lo", lo},
                {"hi", hi},
                {"nan", PackVarints(nan_counts)},
                {"n", PackVarints(n)},
                {"keys", PackVarints(deltas)},
                {"counts", PackVarints(pairs.counts)}};
  }

  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, const ProbeTable* table) {
    auto p = std::make_unique<QuantilePartial>(table);
    try {
      p->lo = j.at("lo").get<uint64_t>();
      p->hi = j.at("hi").get<uint64_t>();
      if (p->hi < p->lo || p->hi > table->lane_count())
        return Error(Code::kDataErr, "quantiles partial: bad lane range");
      const uint64_t slot0 = table->Off(p->lo), slots = table->Off(p->hi) - slot0;
      std::vector<uint64_t> nan_counts, n;
      MM_RETURN_IF_ERROR(UnpackVarints(j, "nan", p->hi - p->lo, &nan_counts));
      p->nan.assign(nan_counts.begin(), nan_counts.end());
      MM_RETURN_IF_ERROR(UnpackVarints(j, "n", slots, &n));
      uint64_t total = 0;
      p->pairs.start.assign(1, 0);
      for (uint64_t c : n) {
        if (c > (uint64_t{1} << 40)) return Error(Code::kDataErr, "quantiles partial: bad 'n'");
        total += c;
        p->pairs.start.push_back(total);
      }
      MM_RETURN_IF_ERROR(UnpackVarints(j, "keys", total, &p->pairs.keys));
      MM_RETURN_IF_ERROR(UnpackVarints(j, "counts", total, &p->pairs.counts));
      // Keys from steps: increasing within a slot; a counted probe's keys
      // are buckets < 2^bits.
      for (uint64_t s = 0; s < slots; ++s) {
        const bool counted = !table->gather[slot0 + s];
        for (uint64_t i = p->pairs.start[s]; i < p->pairs.start[s + 1]; ++i) {
          uint64_t& k = p->pairs.keys[i];
          if (i > p->pairs.start[s]) {
            const uint64_t prev = p->pairs.keys[i - 1];
            if (k == 0 || k > ~prev) return Error(Code::kDataErr, "quantiles partial: bad 'keys'");
            k += prev;
          }
          if (counted && (k >> table->bits) != 0)
            return Error(Code::kDataErr, "quantiles partial: bad 'keys'");
        }
      }
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, std::string("quantiles partial: ") + e.what());
    }
    return std::unique_ptr<Partial>(std::move(p));
  }

 private:
  // The open form to the compact one, in place.
  void Settle() {
    if (!open_) return;
    gathered_ = SortedGathered(gathered_, table_->total());
    CompactFrom(*this, gathered_);
    std::vector<uint64_t>().swap(dense_);
    std::vector<uint32_t>().swap(dense32_);
    std::vector<std::pair<uint64_t, uint64_t>>().swap(gathered_);
    std::vector<int64_t>().swap(lane_nan_);
  }
  // The compact form of this open partial in `out` (empty, of the same
  // table), which leaves this one as it is: its counters are read, not
  // copied (they may be tens of MB for many lanes).
  void Compacted(QuantilePartial* out) const {
    const std::vector<std::pair<uint64_t, uint64_t>> sorted =
        SortedGathered(gathered_, table_->total());
    out->lo = lo;
    out->hi = hi;
    out->CompactFrom(*this, sorted);
  }
  // Each slot of [lo, hi) in order, from open partial `src` with its
  // gathered keys `sorted`: the keys collapsed with their counts, or the
  // non-zero counters. Leaves this partial compact.
  void CompactFrom(const QuantilePartial& src,
                   const std::vector<std::pair<uint64_t, uint64_t>>& sorted) {
    open_ = false;
    const uint64_t width = uint64_t{1} << table_->bits;
    PairColumns out;
    out.Clear(0);
    size_t g = 0;
    for (uint64_t s = table_->Off(lo); s < table_->Off(hi); ++s) {
      if (table_->gather[s]) {
        while (g < sorted.size() && sorted[g].first < s) ++g;
        while (g < sorted.size() && sorted[g].first == s) {
          size_t e = g + 1;
          while (e < sorted.size() && sorted[e] == sorted[g]) ++e;
          out.keys.push_back(sorted[g].second);
          out.counts.push_back(e - g);
          g = e;
        }
      } else {
        const uint64_t c0 = table_->counter[s];
        for (uint64_t c = c0; c < c0 + width; ++c) {
          const uint64_t n = src.narrow_ ? src.dense32_[c] : src.dense_[c];
          if (n == 0) continue;
          out.keys.push_back(c - c0);
          out.counts.push_back(n);
        }
      }
      out.start.push_back(out.keys.size());
    }
    pairs = std::move(out);
    nan.assign(src.lane_nan_.begin() + static_cast<ptrdiff_t>(lo - src.nan_first_),
               src.lane_nan_.begin() + static_cast<ptrdiff_t>(hi - src.nan_first_));
  }

  const ProbeTable* table_;
  bool narrow_ = false;
  bool open_ = false;
  std::vector<uint64_t> dense_;
  std::vector<uint32_t> dense32_;  // dense_ when narrow_
  std::vector<std::pair<uint64_t, uint64_t>> gathered_;
  std::vector<int64_t> lane_nan_;  // lanes nan_first_ ...
  uint64_t nan_first_ = 0;
};

// Lanes that each lie inside one block (the row axis is kept and blocks
// hold whole rows): the worker computes their quantiles itself, so a
// partial holds |q| values per lane whatever the lane length.
class LocalPartial : public Partial {
 public:
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
    auto p = std::make_unique<LocalPartial>();
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
};

// Coordinator state, in flat arrays (no allocation per lane: runs of
// hundreds of thousands of lanes): a rank a lane wants and its value once
// found; an open bucket of a lane and the wants it holds (a lane's wants
// are sorted by rank, and its probes by prefix, so each probe holds a run
// of consecutive wants).
struct Want {
  int64_t rank;
  double value;
};
struct OpenProbe {
  uint64_t prefix;  // the table's depth bits
  uint64_t base;    // values of the lane below this bucket
  uint64_t count;   // values in this bucket
  uint64_t w0, w1;  // its wants: wants_[w0, w1)
  bool gather;
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
    budget_ = PairBudget();
    key_depth_ = KeyDepth(dataset.layout.dtype);
    const uint64_t elements = static_cast<uint64_t>(dataset.layout.elements());
    // (MMRUN_TEST_QUANTILE_WIDE=1 keeps 64-bit counters, for the tests.)
    narrow_counts_ = elements / std::max<uint64_t>(1, geo_.lanes()) < (uint64_t{1} << 32) &&
                     TestHookValue("MMRUN_TEST_QUANTILE_WIDE") != 1;
    // Lane tiles: row blocks whose lanes are not each inside one block (the
    // row axis reduced, or rows longer than a block), short lanes or many
    // of them, a tile of lanes within the budget, and few enough tiles.
    // (Chunk blocks keep the radix passes: each tile's pass would decode
    // every chunk again.)
    const uint64_t lanes = geo_.lanes();
    // (MMRUN_TEST_QUANTILE_TILES=0 keeps the radix passes, =1 tiles longer
    // lanes too: for the tests and the measurements.)
    const int64_t tiles_hook = TestHookValue("MMRUN_TEST_QUANTILE_TILES");
    if (!local_ && !partition.chunked() && lanes >= 2 && budget_ > 0 && elements > budget_ &&
        (elements / lanes <= kMaxTileLaneValues || lanes > kTileLanes || tiles_hook == 1) &&
        tiles_hook != 0) {
      const uint64_t per_lane = std::max<uint64_t>(1, elements / lanes);
      const uint64_t lanes_per_tile = budget_ / per_lane;
      if (lanes_per_tile >= 1 && (lanes + lanes_per_tile - 1) / lanes_per_tile <= kMaxTiles) {
        lanes_per_tile_ = lanes_per_tile;
        tiles_ = static_cast<int>((lanes + lanes_per_tile - 1) / lanes_per_tile);
      }
    }
    if (tiles_ > 0) {
      SetTileTable(0);
    } else {
      SetPassZeroTable(elements <= budget_,
                       std::min(BitsFor(budget_, geo_.lanes(), kMaxBitsPassZero), key_depth_));
    }
    caps_.plottable = true;
    caps_.exact_merge = !local_;
  }

  // Local mode needs one pass (so it also works with --shard); lane tiles
  // one per tile; the radix selection at most one per kMinBits key bits
  // after pass 0, of which the unneeded are skipped.
  int passes() const override {
    if (local_) return 1;
    if (tiles_ > 0) return tiles_;
    return 1 + (std::max(0, key_depth_ - kMinBits) + kMinBits - 1) / kMinBits;
  }
  bool PassNeeded(int pass) const override {
    if (tiles_ > 0) return pass < tiles_;
    return pass == 0 || (!local_ && pass == table_.pass && table_.total() > 0);
  }
  // A lane tile's pass reads only the row blocks that reach its lanes (a
  // piece of a long row reaches only some).
  bool NeedsBlock(int pass, uint64_t begin, uint64_t end) const override {
    if (tiles_ == 0) return true;
    if (pass >= tiles_) return false;
    const auto tile = TileLanes(pass);
    const auto range = geo_.LaneRange(begin, end);
    return range.first < tile.second && tile.first < range.second;
  }

  Json PassInput(int pass) const override {
    if (tiles_ > 0) return Json{{"tiles", tiles_}, {"lanes_per_tile", lanes_per_tile_}};
    if (pass == 0)
      return Json{{"gather", table_.gather.empty() ? false : table_.gather[0] != 0},
                  {"bits", table_.bits}};
    if (pass != table_.pass) return Json{{"pass", pass}, {"off", Json::array()}};
    return Json{{"pass", pass},      {"depth", table_.depth},   {"bits", table_.bits},
                {"off", table_.off}, {"prefix", table_.prefix}, {"gather", table_.gather}};
  }

  Status SetPassInput(int pass, const Json& input) override {
    const std::string bad = name() + ": malformed pass input";
    try {
      if (input.contains("tiles")) {
        const Json& tj = input.at("tiles");
        const Json& pj = input.at("lanes_per_tile");
        if (!tj.is_number_integer() || !pj.is_number_integer() || tj.get<int64_t>() < 1 ||
            tj.get<int64_t>() > static_cast<int64_t>(kMaxTiles) || pj.get<int64_t>() < 1)
          return Error(Code::kDataErr, bad);
        const int tiles = static_cast<int>(tj.get<int64_t>());
        const uint64_t per = pj.get<uint64_t>();
        const uint64_t lanes = geo_.lanes();
        if (pass < 0 || pass >= tiles || per > lanes ||
            (static_cast<uint64_t>(tiles) - 1) * per >= lanes ||
            static_cast<uint64_t>(tiles) * per < lanes)
          return Error(Code::kDataErr, bad);
        tiles_ = tiles;
        lanes_per_tile_ = per;
        SetTileTable(pass);
        return Status::OK();
      }
      tiles_ = 0;
      if (pass == 0) {
        const int bits = input.at("bits").get<int>();
        if (bits < 1 || bits > kMaxBitsPassZero) return Error(Code::kDataErr, bad);
        SetPassZeroTable(input.at("gather").get<bool>(), bits);
        return Status::OK();
      }
      ProbeTable t;
      t.pass = pass;
      t.off = input.at("off").get<std::vector<uint64_t>>();
      if (t.off.empty()) {
        t.off.assign(geo_.lanes() + 1, 0);
      } else {
        t.depth = input.at("depth").get<int>();
        t.bits = input.at("bits").get<int>();
        t.prefix = input.at("prefix").get<std::vector<uint64_t>>();
        t.gather = input.at("gather").get<std::vector<uint8_t>>();
        if (t.depth < 1 || t.depth > 63 || t.bits < 1 || t.bits > kMaxBits || t.bits > 64 - t.depth)
          return Error(Code::kDataErr, bad);
      }
      if (t.off.size() != geo_.lanes() + 1 || t.off[0] != 0 || t.prefix.size() != t.total() ||
          t.gather.size() != t.total())
        return Error(Code::kDataErr, bad);
      for (size_t l = 0; l + 1 < t.off.size(); ++l)
        if (t.off[l] > t.off[l + 1]) return Error(Code::kDataErr, bad);
      t.Index();
      table_ = std::move(t);
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, bad + ": " + e.what());
    }
    return Status::OK();
  }

  std::unique_ptr<Partial> NewPartial(int) const override {
    if (local_) return std::make_unique<LocalPartial>();
    return std::make_unique<QuantilePartial>(&table_, narrow_counts_);
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

  std::vector<std::string> CreatedFiles() const override {
    return NpyFieldPaths(output_, {"values"});
  }
  Status EndPass(int pass, const Partial& merged) override;
  Result<Json> Finish() override;

 private:
  void SetPassZeroTable(bool gather, int bits) {
    const uint64_t lanes = geo_.lanes();
    table_ = ProbeTable();
    table_.pass = 0;
    table_.bits = bits;
    table_.off.resize(lanes + 1);
    for (uint64_t l = 0; l <= lanes; ++l) table_.off[l] = l;
    table_.prefix.assign(lanes, 0);
    table_.gather.assign(lanes, gather ? 1 : 0);
    table_.Index();
  }

  // Lane tile `pass`: lanes [pass * lanes_per_tile_, ...), at most
  // lanes_per_tile_ of them.
  std::pair<uint64_t, uint64_t> TileLanes(int pass) const {
    const uint64_t first = static_cast<uint64_t>(pass) * lanes_per_tile_;
    return {first, std::min(geo_.lanes(), first + lanes_per_tile_)};
  }
  // The table of a lane tile's pass: one probe per lane of the tile, of
  // depth 0 (the whole lane), gathered.
  void SetTileTable(int pass) {
    const uint64_t lanes = geo_.lanes();
    const auto tile = TileLanes(pass);
    table_ = ProbeTable();
    table_.pass = pass;
    table_.first = tile.first;
    table_.last = tile.second;
    table_.tile = true;
    table_.lanes = lanes;
    table_.prefix.assign(tile.second - tile.first, 0);
    table_.gather.assign(tile.second - tile.first, 1);
    table_.Index();
  }
  Status EndTile(int pass, const QuantilePartial& merged);
  // Quantile q of a lane of n sorted values, `at(rank)` giving the value
  // of a rank: the lower rank's value, or numpy's lerp to the higher.
  template <class At>
  double Evaluate(int64_t n, double q, At at) const {
    const QuantileRanks r = QuantileRanksFor(method_, n, q);
    const double a = at(r.lo);
    return r.interpolate ? QuantileLerp(a, at(r.hi), r.gamma) : a;
  }
  // The ranks (sorted, distinct) a lane of n values needs for every q.
  void LaneRanks(int64_t n, std::vector<int64_t>* ranks) const {
    ranks->clear();
    for (double q : q_) {
      const QuantileRanks r = QuantileRanksFor(method_, n, q);
      ranks->push_back(r.lo);
      ranks->push_back(r.hi);
    }
    std::sort(ranks->begin(), ranks->end());
    ranks->erase(std::unique(ranks->begin(), ranks->end()), ranks->end());
  }

  // A scanner's working memory, kept between blocks (one scanner, one
  // thread); it holds no result.
  struct Scratch {
    std::vector<std::vector<double>> vals;  // ConsumeLocal: per lane
    std::vector<double> x;                  // a tile as doubles
    std::vector<uint32_t> hit;              // RefineRun: its values in open buckets
    std::vector<uint64_t> keys;             // TallyRun: its keys
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
      for (size_t k = 0; k < nq; ++k)
        p->values[l * nq + k] =
            Evaluate(n, q_[k], [&](int64_t rank) { return v[static_cast<size_t>(rank)]; });
    }
  }

  // One block of a radix pass or a lane tile's, added to the (open)
  // partial: each value of an open probe is gathered (its key) or counted
  // (the next `bits` bits of its key, in the pass's counters).
  template <class Traits, bool kSwap>
  void ConsumeTyped(const BlockView& block, QuantilePartial* p, Scratch* sc) const {
    using S = typename Traits::Storage;
    // A chunk block's lane range may hold lanes it does not reach: they keep
    // empty slots and no NaN (an identity when partials are added).
    // A pass of whole lanes (radix pass 0, or a lane tile: depth 0) takes
    // every value of the lanes it probes, and counts their NaNs; the lanes
    // outside the table's [first, last) have no probe in a tile's pass.
    const bool whole = table_.depth == 0;
    auto range = geo_.BlockLaneRange(block.box, block.begin, block.end);
    range.first = std::max(range.first, table_.first);
    range.second = std::min(range.second, table_.last);
    if (range.first >= range.second) return;  // none of the tile's lanes
    p->Open(range.first, range.second);
    const int shift = 64 - table_.depth;  // prefix = key >> shift (!whole)
    // Value x (not NaN) of lane l to its probe, if it falls in one.
    auto add = [&](uint64_t l, double x) {
      const uint64_t key = OrderedKey(x);
      uint64_t slot = table_.Off(l);
      const uint64_t end = table_.Off(l + 1);
      if (!whole) {
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
        if (slot == end) return;
      }
      Put(p, slot, key);
    };
    auto element = [&](const char* at, uint64_t l) {
      const double x = static_cast<double>(LoadElement<Traits, kSwap>(at));
      if (x != x) {
        if (whole) ++*p->lane_nan(l);
        return;
      }
      add(l, x);
    };
    geo_.ForEachTileOfBlock(
        block.box, block.begin, block.end,
        [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept) {
          const char* run = block.data + off * sizeof(S);
          if (!kept) {
            const uint64_t b = table_.Off(lane), e = table_.Off(lane + 1);
            if (b == e) return;
            if (whole) {
              TallyRun<Traits, kSwap>(run, len, b, p->lane_nan(lane), p, sc);
              return;
            }
            if (e - b <= kMaxFilteredProbes) {
              RefineRun<Traits, kSwap>(run, len, b, e, p, sc);
              return;
            }
            for (uint64_t i = 0; i < len; ++i) element(run + i * sizeof(S), lane);
            return;
          }
          // Rows of lanes lane .. lane + len - 1 (row r at run + r * len):
          // lane by lane, so that a lane's counters stay in cache while its
          // values are read (the rows' cache lines serve the next lanes),
          // each lane's values as a run of doubles for the vector kernels.
          // A few rows (a block holding a piece of one long row, as axis 0
          // of a wide array gives) go value by value: the vector kernels'
          // set-up per lane would cost more than their values. A lane
          // tile's pass visits only the tile's lanes.
          const uint64_t i0 = std::max(range.first, lane) - lane;
          const uint64_t i1 = std::max(std::min(range.second, lane + len), lane) - lane;
          if (rows < kFewRows) {
            for (uint64_t i = i0; i < i1; ++i) {
              const uint64_t l = lane + i;
              if (table_.Off(l) == table_.Off(l + 1)) continue;
              for (uint64_t r = 0; r < rows; ++r) element(run + (r * len + i) * sizeof(S), l);
            }
            return;
          }
          for (uint64_t i = i0; i < i1; ++i) {
            const uint64_t l = lane + i, b = table_.Off(l), e = table_.Off(l + 1);
            if (b == e) continue;
            if (!whole && e - b > kMaxFilteredProbes) {
              for (uint64_t r = 0; r < rows; ++r) element(run + (r * len + i) * sizeof(S), l);
              continue;
            }
            sc->x.resize(kTile);
            for (uint64_t r0 = 0; r0 < rows; r0 += kTile) {
              const uint64_t m = std::min(kTile, rows - r0);
              const char* at = run + (r0 * len + i) * sizeof(S);
              for (uint64_t r = 0; r < m; ++r)
                sc->x[r] =
                    static_cast<double>(LoadElement<Traits, kSwap>(at + r * len * sizeof(S)));
              if (whole) {
                TallyValues(sc->x.data(), m, b, p->lane_nan(l), p, sc);
              } else {
                RefineValues(sc->x.data(), m, b, e, p, sc);
              }
            }
          }
        });
  }

  // Key `key` of probe `slot` into the partial: gathered whole, or counted
  // by its next `bits` bits.
  void Put(QuantilePartial* p, uint64_t slot, uint64_t key) const {
    if (table_.gather[slot]) {
      p->Gather(slot, key);
    } else {
      const uint64_t mask = (uint64_t{1} << table_.bits) - 1;
      p->Count(table_.counter[slot] + ((key >> (64 - table_.depth - table_.bits)) & mask));
    }
  }

  // A pass of whole lanes (radix pass 0, a lane tile), a run of one lane
  // (probe `slot`): its keys gathered, or the top `bits` bits of each
  // counted, by the vector kernel; its NaNs counted.
  template <class Traits, bool kSwap>
  void TallyRun(const char* run, uint64_t len, uint64_t slot, int64_t* nan, QuantilePartial* p,
                Scratch* sc) const {
    using S = typename Traits::Storage;
    sc->x.resize(kTile);
    for (uint64_t t0 = 0; t0 < len; t0 += kTile) {
      const uint64_t m = std::min(kTile, len - t0);
      LoadTile<Traits, kSwap>(run + t0 * sizeof(S), m, sc->x.data());
      TallyValues(sc->x.data(), m, slot, nan, p, sc);
    }
  }
  // The same for m <= kTile values as doubles.
  void TallyValues(const double* x, uint64_t m, uint64_t slot, int64_t* nan, QuantilePartial* p,
                   Scratch* sc) const {
    sc->keys.resize(kTile);
    uint64_t* keys = sc->keys.data();
    const bool gather = table_.gather[slot] != 0;
    const uint64_t kept = simd::KeyBits(x, m, gather ? 0 : 64 - table_.bits, keys);
    if (gather) {
      for (uint64_t i = 0; i < kept; ++i) p->Gather(slot, keys[i]);
    } else {
      const uint64_t c0 = table_.counter[slot];
      for (uint64_t i = 0; i < kept; ++i) p->Count(c0 + keys[i]);
    }
    *nan += static_cast<int64_t>(m - kept);
  }

  // Pass > 0, a run of one lane whose open probes are table_ slots [b, e)
  // (at most kMaxFilteredProbes): each value inside one of them is gathered
  // or counted, as in ConsumeTyped's loop (NaN and the values of closed
  // buckets are skipped), the values found by the vector kernel.
  static constexpr uint64_t kMaxFilteredProbes = 16;
  static constexpr uint64_t kFewRows = 8;
  static constexpr uint64_t kTile = 1024;
  template <class Traits, bool kSwap>
  void RefineRun(const char* run, uint64_t len, uint64_t b, uint64_t e, QuantilePartial* p,
                 Scratch* sc) const {
    using S = typename Traits::Storage;
    sc->x.resize(kTile);
    for (uint64_t t0 = 0; t0 < len; t0 += kTile) {
      const uint64_t m = std::min(kTile, len - t0);
      LoadTile<Traits, kSwap>(run + t0 * sizeof(S), m, sc->x.data());
      RefineValues(sc->x.data(), m, b, e, p, sc);
    }
  }
  // The same for m <= kTile values as doubles.
  void RefineValues(const double* x, uint64_t m, uint64_t b, uint64_t e, QuantilePartial* p,
                    Scratch* sc) const {
    const int shift = 64 - table_.depth;
    sc->hit.resize(kTile);
    uint32_t* hit = sc->hit.data();
    const uint64_t hits = simd::KeyMatches(x, m, shift, &table_.prefix[b], e - b, hit);
    for (uint64_t h = 0; h < hits; ++h) {
      const uint64_t key = OrderedKey(x[hit[h]]);
      uint64_t slot = b;
      while (table_.prefix[slot] != key >> shift) ++slot;  // one matches
      Put(p, slot, key);
    }
  }

  Result<Json> WriteFiles(std::vector<double> flat, const std::vector<int64_t>& shape) const;

  LaneGeometry geo_;
  std::vector<double> q_;
  bool scalar_q_;
  QuantileMethod method_;
  std::string output_;
  uint64_t budget_ = kPairBudget;
  int key_depth_ = 64;          // KeyDepth of the dtype the scanners read
  bool narrow_counts_ = false;  // a lane's values fit 32-bit counters
  bool local_ = false;          // lanes inside one block: see LocalPartial
  int tiles_ = 0;               // > 0: passes of whole lanes, a tile each
  uint64_t lanes_per_tile_ = 0;
  int tiles_done_ = 0;  // coordinator: tiles ended (EndTile)
  // Local mode and lane tiles: the result, q-major in output order
  // (values_[k * lanes + OutputIndex(l)]), filled as passes end.
  std::vector<double> values_;
  ProbeTable table_;  // the probes of pass table_.pass
  // Coordinator only: each lane's values (not NaN), its wants
  // wants_[want_off_[l], want_off_[l + 1]), and its open probes
  // probes_[probe_off_[l], probe_off_[l + 1]) (the table's slots of the
  // next pass).
  std::vector<int64_t> lane_n_;
  std::vector<uint64_t> want_off_;
  std::vector<Want> wants_;
  std::vector<uint64_t> probe_off_;
  std::vector<OpenProbe> probes_;
};

Status Quantiles::EndPass(int pass, const Partial& merged_base) {
  if (local_) {
    if (pass != 0) return Status::OK();
    const auto& merged = static_cast<const LocalPartial&>(merged_base);
    MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged.lo, merged.hi));
    if (merged.values.size() != geo_.lanes() * q_.size())
      return Error(Code::kWorkerFailed,
                   name() + ": merged partials hold the wrong number of values");
    const uint64_t nl = geo_.lanes();
    const size_t nq = q_.size();
    values_.resize(nl * nq);
    for (uint64_t l = 0; l < nl; ++l)
      for (size_t k = 0; k < nq; ++k)
        values_[k * nl + geo_.OutputIndex(l)] = merged.values[l * nq + k];
    return Status::OK();
  }
  const auto& merged_in = static_cast<const QuantilePartial&>(merged_base);
  if (tiles_ > 0) return EndTile(pass, merged_in);
  if (pass != table_.pass || table_.total() == 0) return Status::OK();
  const uint64_t nl = geo_.lanes();
  QuantilePartial widened(&table_);  // 0 rows: every lane empty (NaN, as numpy)
  if (geo_.empty() && merged_in.lo == merged_in.hi) widened.Reset(0, nl);
  const QuantilePartial& merged =
      geo_.empty() && merged_in.lo == merged_in.hi ? widened : merged_in;
  MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged.lo, merged.hi));
  const PairColumns& pairs = merged.pairs;
  if (pass == 0) {
    lane_n_.assign(nl, 0);
    want_off_.assign(1, 0);
    wants_.clear();
    probe_off_.assign(1, 0);
    probes_.clear();
    std::vector<int64_t> ranks;
    // A lane holds at most its length of values: more came from a corrupt
    // partial (and summing them unchecked could overflow).
    const uint64_t per_lane =
        static_cast<uint64_t>(dataset_.layout.elements()) / std::max<uint64_t>(1, nl);
    for (uint64_t l = 0; l < nl; ++l) {
      const uint64_t total = SlotValues(pairs, l, per_lane);
      if (total > per_lane)
        return Error(Code::kWorkerFailed, name() + ": lane " + std::to_string(l) +
                                              " holds more values than its length (did the data "
                                              "change?)");
      const int64_t n = static_cast<int64_t>(total);
      lane_n_[l] = n;
      if (n > 0) {
        LaneRanks(n, &ranks);
        const uint64_t w0 = wants_.size();
        for (int64_t r : ranks) wants_.push_back(Want{r, 0.0});
        probes_.push_back(
            OpenProbe{0, 0, static_cast<uint64_t>(n), w0, wants_.size(), table_.gather[l] != 0});
      }
      want_off_.push_back(wants_.size());
      probe_off_.push_back(probes_.size());
    }
  }
  // Resolve each open probe's ranks within its slot: a gathered probe gives
  // the values; a counted one the sub-bucket of each rank, which holds one
  // value once its prefix reaches the dtype's KeyDepth, else opens a probe.
  const int depth = table_.depth + table_.bits;
  std::vector<OpenProbe> opened;
  std::vector<uint64_t> opened_off(1, 0);
  opened_off.reserve(nl + 1);
  for (uint64_t l = 0; l < nl; ++l) {
    const uint64_t first_opened = opened.size();
    for (uint64_t j = probe_off_[l]; j < probe_off_[l + 1]; ++j) {
      const OpenProbe& probe = probes_[j];
      const uint64_t slot = table_.Off(l) + (j - probe_off_[l]);
      uint64_t e = pairs.start[slot];
      const uint64_t end = pairs.start[slot + 1];
      uint64_t below = 0;  // values of the slot before entry e
      for (uint64_t w = probe.w0; w < probe.w1; ++w) {
        const uint64_t local = static_cast<uint64_t>(wants_[w].rank) - probe.base;
        while (e < end && below + pairs.counts[e] <= local) below += pairs.counts[e++];
        if (e == end)
          return Error(Code::kWorkerFailed,
                       name() + ": counts of two passes disagree (did the data change?)");
        if (probe.gather) {
          wants_[w].value = KeyToDouble(pairs.keys[e]);
          continue;
        }
        const uint64_t prefix = (probe.prefix << table_.bits) | pairs.keys[e];
        if (depth >= key_depth_) {
          wants_[w].value = KeyToDouble(FillKey(prefix, depth));
          continue;
        }
        if (opened.size() == first_opened || opened.back().prefix != prefix)
          opened.push_back(OpenProbe{prefix, probe.base + below, pairs.counts[e], w, w, false});
        opened.back().w1 = w + 1;
      }
    }
    opened_off.push_back(opened.size());
  }
  probes_ = std::move(opened);
  probe_off_ = std::move(opened_off);
  // The next pass within the budget: probes of at most budget / probes
  // values are gathered; the others count as many bits as the budget allows.
  const uint64_t opened_total = probes_.size();
  const uint64_t gather_cap = opened_total == 0 ? 0 : budget_ / opened_total;
  uint64_t counted = 0;
  ProbeTable next;
  next.pass = pass + 1;
  next.depth = depth;
  next.off = probe_off_;
  next.prefix.reserve(opened_total);
  next.gather.reserve(opened_total);
  for (OpenProbe& op : probes_) {
    op.gather = op.count <= gather_cap;
    if (!op.gather) ++counted;
    next.prefix.push_back(op.prefix);
    next.gather.push_back(op.gather ? 1 : 0);
  }
  next.bits = std::min(BitsFor(budget_, counted, kMaxBits), std::max(1, key_depth_ - depth));
  next.Index();
  table_ = std::move(next);
  return Status::OK();
}

// A lane tile's pass: each lane's values, gathered whole, give its
// quantiles (into values_, as local mode's: the coordinator keeps |q|
// values a lane, no ranks). Tiles end in lane order; the next tile's
// table is the pass input of the next pass.
Status Quantiles::EndTile(int pass, const QuantilePartial& merged) {
  if (pass >= tiles_) return Status::OK();
  const auto tile = TileLanes(pass);
  const size_t nq = q_.size();
  const uint64_t nl = geo_.lanes();
  if (pass == 0) values_.assign(nl * nq, std::numeric_limits<double>::quiet_NaN());
  if (merged.lo != tile.first || merged.hi != tile.second || tiles_done_ != pass)
    return Error(Code::kWorkerFailed, name() + ": merged partials do not cover the lanes of pass " +
                                          std::to_string(pass));
  const PairColumns& pairs = merged.pairs;
  // Every lane holds the same number of values: a lane whose values and
  // NaNs do not add up to it came from a corrupt partial.
  const uint64_t per_lane = static_cast<uint64_t>(dataset_.layout.elements()) / nl;
  std::vector<int64_t> ranks;
  std::vector<double> at;  // the value at each of `ranks`
  for (uint64_t l = tile.first; l < tile.second; ++l) {
    const uint64_t slot = l - tile.first;
    const uint64_t total =
        SlotValues(pairs, slot, per_lane, static_cast<uint64_t>(merged.nan[l - tile.first]));
    if (total != per_lane)
      return Error(Code::kWorkerFailed, name() + ": lane " + std::to_string(l) + " holds " +
                                            std::to_string(total) + " values, not " +
                                            std::to_string(per_lane) + " (did the data change?)");
    const int64_t n = static_cast<int64_t>(per_lane) - merged.nan[l - tile.first];
    if (n == 0) continue;  // all NaN: NaN, as numpy
    LaneRanks(n, &ranks);
    at.clear();
    uint64_t e = pairs.start[slot];
    uint64_t below = 0;  // values before entry e
    for (int64_t r : ranks) {
      while (below + pairs.counts[e] <= static_cast<uint64_t>(r)) below += pairs.counts[e++];
      at.push_back(KeyToDouble(pairs.keys[e]));
    }
    auto value = [&](int64_t rank) {
      return at[static_cast<size_t>(std::lower_bound(ranks.begin(), ranks.end(), rank) -
                                    ranks.begin())];
    };
    for (size_t k = 0; k < nq; ++k)
      values_[k * nl + geo_.OutputIndex(l)] = Evaluate(n, q_[k], value);
  }
  ++tiles_done_;
  if (pass + 1 < tiles_) SetTileTable(pass + 1);
  return Status::OK();
}

Result<Json> Quantiles::Finish() {
  const uint64_t nl = geo_.lanes();
  const size_t nq = q_.size();
  if (tiles_ > 0 && tiles_done_ != tiles_)
    return Error(Code::kWorkerFailed, name() + ": a pass of lanes went missing");
  // Local mode and lane tiles left the result in values_, in output order;
  // the radix passes left each lane's wanted ranks.
  const bool by_lane = local_ || tiles_ > 0;
  std::vector<double> flat = by_lane ? std::move(values_) : std::vector<double>(nq * nl);
  for (uint64_t l = 0; l < nl && !by_lane; ++l) {
    const uint64_t i = geo_.OutputIndex(l);
    for (size_t k = 0; k < nq; ++k) {
      double v = std::numeric_limits<double>::quiet_NaN();
      if (lane_n_[l] > 0) {
        v = Evaluate(lane_n_[l], q_[k], [&](int64_t rank) {
          const auto w0 = wants_.begin() + static_cast<ptrdiff_t>(want_off_[l]);
          const auto w1 = wants_.begin() + static_cast<ptrdiff_t>(want_off_[l + 1]);
          return std::lower_bound(w0, w1, rank, [](const Want& w, int64_t x) { return w.rank < x; })
              ->value;
        });
      }
      flat[k * nl + i] = v;
    }
  }
  std::vector<int64_t> shape;
  if (!scalar_q_) shape.push_back(static_cast<int64_t>(nq));
  for (int64_t d : geo_.kept_shape()) shape.push_back(d);
  if (flat.size() > kMaxInlineNumbers) return WriteFiles(std::move(flat), shape);
  std::vector<Json> items;
  items.reserve(flat.size());
  for (double v : flat) items.push_back(JsonNumber(v));
  return Json{{"values", NestFlat(std::move(items), shape)}};
}

Result<Json> Quantiles::WriteFiles(std::vector<double> flat,
                                   const std::vector<int64_t>& shape) const {
  std::vector<NpyField> fields(1);
  fields[0].name = "values";
  fields[0].shape = shape;
  fields[0].doubles = std::move(flat);
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
