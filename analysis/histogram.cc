#include "analysis/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "analysis/load_doubles.h"
#include "analysis/npy_fields.h"
#include "core/lanes.h"
#include "io/files.h"

namespace mm {

namespace {

// Counters held per partial are bounded so a config cannot ask for more
// memory than a worker can give (lanes x bins).
constexpr uint64_t kMaxCounters = uint64_t{1} << 28;

// The result's fields written to files, in NpyFieldFiles' order.
const std::vector<std::string> kFields = {"counts", "edges", "below", "above", "nan_count"};

// Pass 0 without `range`: the finite minimum and maximum.
class MinMaxPartial : public Partial {
 public:
  int64_t n = 0;  // finite values seen
  double min = 0, max = 0;

  void Merge(const Partial& right_base) override {
    const auto& r = static_cast<const MinMaxPartial&>(right_base);
    if (r.n == 0) return;
    if (n == 0) {
      *this = r;
      return;
    }
    n += r.n;
    min = std::min(min, r.min);
    max = std::max(max, r.max);
  }
  Json ToJson() const override {
    return Json{{"n", n}, {"min", JsonNumber(min)}, {"max", JsonNumber(max)}};
  }
  static Result<std::unique_ptr<Partial>> FromJson(const Json& j) {
    auto p = std::make_unique<MinMaxPartial>();
    try {
      p->n = j.at("n").get<int64_t>();
      MM_ASSIGN_OR_RETURN(p->min, JsonToDouble(j.at("min")));
      MM_ASSIGN_OR_RETURN(p->max, JsonToDouble(j.at("max")));
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, std::string("histogram partial: ") + e.what());
    }
    return std::unique_ptr<Partial>(std::move(p));
  }
};

// The counting pass: per lane in [lo, hi), `bins` counts and the
// below/above/NaN tallies.
class CountPartial : public Partial {
 public:
  explicit CountPartial(int64_t bins) : bins_(static_cast<uint64_t>(bins)) {}
  uint64_t lo = 0, hi = 0;
  std::vector<int64_t> counts;  // (hi - lo) * bins
  std::vector<int64_t> below, above, nan;

  void Resize(uint64_t new_lo, uint64_t new_hi) {
    lo = new_lo;
    hi = new_hi;
    counts.assign((hi - lo) * bins_, 0);
    below.assign(hi - lo, 0);
    above.assign(hi - lo, 0);
    nan.assign(hi - lo, 0);
  }

  // Widens the lanes to hold [l0, l1) too, keeping the counts.
  void Extend(uint64_t l0, uint64_t l1) {
    if (lo == hi) {
      Resize(l0, l1);
    } else if (l0 < lo || l1 > hi) {
      Grow(std::min(lo, l0), std::max(hi, l1));
    }
  }

  void Merge(const Partial& right_base) override {
    MergeLaneRanges(this, static_cast<const CountPartial&>(right_base),
                    [this](uint64_t nlo, uint64_t nhi) { Grow(nlo, nhi); });
  }

  // {"lo", "hi", "counts", "below", "above", "nan"}: each column varints
  // (PackVarints): (hi - lo) * bins counts, lane by lane, then (hi - lo)
  // values each. A many-lane partial (per-column histograms of a wide
  // array) is then a few strings, not a JSON number per count.
  Json ToJson() const override {
    return Json{{"lo", lo},
                {"hi", hi},
                {"counts", PackVarints(counts)},
                {"below", PackVarints(below)},
                {"above", PackVarints(above)},
                {"nan", PackVarints(nan)}};
  }

  // Inverse of ToJson over at most `max_lanes` lanes; kDataErr for anything
  // else, before any allocation larger than the lanes.
  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, int64_t bins,
                                                   uint64_t max_lanes) {
    auto p = std::make_unique<CountPartial>(bins);
    MM_RETURN_IF_ERROR(ReadLaneRange(j, max_lanes, "histogram partial", &p->lo, &p->hi));
    if (j.size() != 6) return Error(Code::kDataErr, "histogram partial: malformed");
    const uint64_t k = p->hi - p->lo;
    const char* const keys[] = {"counts", "below", "above", "nan"};
    std::vector<int64_t>* const columns[] = {&p->counts, &p->below, &p->above, &p->nan};
    for (size_t c = 0; c < 4; ++c) {
      const std::string what = std::string("histogram partial: bad '") + keys[c] + "'";
      if (!j.contains(keys[c])) return Error(Code::kDataErr, what);
      MM_RETURN_IF_ERROR(UnpackVarints(j[keys[c]], c == 0 ? k * static_cast<uint64_t>(bins) : k,
                                       columns[c], what));
    }
    return std::unique_ptr<Partial>(std::move(p));
  }

  // Adds `r`, whose lanes lie inside this one's (MergeLaneRanges).
  void AddFrom(const CountPartial& r) {
    const uint64_t off = r.lo - lo;
    for (uint64_t i = 0; i < r.counts.size(); ++i) counts[off * bins_ + i] += r.counts[i];
    for (uint64_t i = 0; i < r.hi - r.lo; ++i) {
      below[off + i] += r.below[i];
      above[off + i] += r.above[i];
      nan[off + i] += r.nan[i];
    }
  }

 private:
  void Grow(uint64_t nlo, uint64_t nhi) {
    CountPartial grown(static_cast<int64_t>(bins_));
    grown.Resize(nlo, nhi);
    grown.AddFrom(*this);
    *this = std::move(grown);
  }

  uint64_t bins_;
};

class Histogram : public Analysis {
 public:
  Histogram(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition,
            LaneGeometry geo, int64_t bins, bool have_range, double lo, double hi,
            std::string output, double (*round_edge)(double))
      : Analysis(spec, dataset, partition),
        geo_(std::move(geo)),
        bins_(bins),
        have_range_(have_range),
        output_(std::move(output)),
        round_edge_(round_edge),
        merged_(bins) {
    if (have_range_) SetRange(lo, hi);
    caps_.plottable = true;
    caps_.exact_merge = true;  // counts, and a min and max
    // Per-row histograms of a tall array: every block holds whole lanes, so
    // the workers write them into the files (docs/CHOICES.md "Per-row stats
    // go straight to their files").
    const uint64_t numbers =
        geo_.lanes() * (static_cast<uint64_t>(bins_) + 3) + static_cast<uint64_t>(bins_) + 1;
    SetStream(!output_.empty() && numbers > kMaxInlineNumbers && !partition.chunked() &&
              partition.rows_per_block() > 0 && geo_.row_kept() && geo_.lanes_in_output_order() &&
              dataset.layout.elements() > 0);
  }

  void KeepPartials() override { SetStream(false); }
  Status Prepare() override {
    if (!stream_) return Status::OK();
    std::vector<int64_t> counts_shape = geo_.kept_shape();
    counts_shape.push_back(bins_);
    return files_.Create(output_, {{"counts", counts_shape, true},
                                   {"edges", {bins_ + 1}, false},
                                   {"below", geo_.kept_shape(), true},
                                   {"above", geo_.kept_shape(), true},
                                   {"nan_count", geo_.kept_shape(), true}});
  }

  int passes() const override { return have_range_ ? 1 : 2; }

  // The count pass: {"lo", "hi"} (the range found in pass 0) and "files"
  // (the workers write them), each only when there is one; else null.
  Json PassInput(int pass) const override {
    if (pass != count_pass() || (have_range_ && !stream_)) return nullptr;
    Json j = Json::object();
    if (!have_range_) {
      j["lo"] = JsonNumber(finder_.lo());
      j["hi"] = JsonNumber(finder_.hi());
    }
    if (stream_) j["files"] = files_.ToJson()["files"];
    return j;
  }

  Status SetPassInput(int pass, const Json& input) override {
    if (pass != count_pass()) return Status::OK();
    const bool files = input.is_object() && input.contains("files");
    if (files && !stream_) return Error(Code::kDataErr, name() + ": malformed pass input");
    if (files) {
      MM_RETURN_IF_ERROR(
          files_.FromJson(Json{{"files", input["files"]}}, output_, kFields, name()));
    } else {
      SetStream(false);
    }
    if (have_range_) return Status::OK();
    if (!input.is_object() || !input.contains("lo") || !input.contains("hi"))
      return Error(Code::kDataErr, name() + ": pass input lacks the range");
    MM_ASSIGN_OR_RETURN(double lo, JsonToDouble(input["lo"]));
    MM_ASSIGN_OR_RETURN(double hi, JsonToDouble(input["hi"]));
    finder_ = BinFinder(lo, hi, bins_, round_edge_);
    return Status::OK();
  }

  std::unique_ptr<Partial> NewPartial(int pass) const override {
    if (pass != count_pass()) return std::make_unique<MinMaxPartial>();
    if (stream_) return std::make_unique<WrittenCount>();
    return std::make_unique<CountPartial>(bins_);
  }

  Result<std::unique_ptr<Partial>> PartialFromJson(int pass, const Json& j) const override {
    if (pass != count_pass()) return MinMaxPartial::FromJson(j);
    if (stream_) return WrittenCount::FromJson(j, geo_.lanes(), name());
    return CountPartial::FromJson(j, bins_, geo_.lanes());
  }

  std::unique_ptr<Scanner> NewScanner(int pass) const override {
    if (stream_ && pass == count_pass()) {
      // Each block's histograms, whole, go to the files at their lanes.
      struct State {
        Scratch scratch;
        CountPartial block{0};
        std::unique_ptr<NpyFieldWriter> writer;
      };
      State state;
      state.block = CountPartial(bins_);
      state.writer = std::make_unique<NpyFieldWriter>(files_);
      return MakeScanner(
          std::move(state),
          [this, pass](const BlockView& block, Partial* base, State* st) -> Status {
            CountPartial& b = st->block;
            b.lo = b.hi = 0;
            VisitDType(dataset_.layout.dtype, [&](auto traits, auto swap) {
              ConsumeTyped<decltype(traits), decltype(swap)::value>(pass, block, &b, &st->scratch);
            });
            const uint64_t k = b.hi - b.lo, bins = static_cast<uint64_t>(bins_);
            if (k == 0) return Status::OK();
            MM_RETURN_IF_ERROR(
                st->writer->Write(0, b.lo * bins * 8, b.counts.data(), k * bins * 8));
            MM_RETURN_IF_ERROR(st->writer->Write(2, b.lo * 8, b.below.data(), k * 8));
            MM_RETURN_IF_ERROR(st->writer->Write(3, b.lo * 8, b.above.data(), k * 8));
            MM_RETURN_IF_ERROR(st->writer->Write(4, b.lo * 8, b.nan.data(), k * 8));
            static_cast<WrittenCount*>(base)->n += k;
            return Status::OK();
          });
    }
    return MakeScanner(
        Scratch(), [this, pass](const BlockView& block, Partial* base, Scratch* scratch) {
          const DType dt = dataset_.layout.dtype;
          VisitDType(dt, [&](auto traits, auto swap) {
            ConsumeTyped<decltype(traits), decltype(swap)::value>(pass, block, base, scratch);
          });
          return Status::OK();
        });
  }

  std::vector<std::string> CreatedFiles() const override { return NpyFieldPaths(output_, kFields); }
  Status EndPass(int pass, const Partial& merged) override {
    if (pass != count_pass()) {
      const auto& mm = static_cast<const MinMaxPartial&>(merged);
      // numpy: an empty array gives the range (0, 1).
      if (mm.n == 0) {
        SetRange(0.0, 1.0);
      } else if (!std::isfinite(mm.max - mm.min)) {  // numpy cannot bin it either
        return Error(Code::kDataErr,
                     name() + ": the data's range [" + JsonText(JsonNumber(mm.min)) + ", " +
                         JsonText(JsonNumber(mm.max)) +
                         "] is wider than float64 can hold (max - min overflows); give a "
                         "\"range\"");
      } else {
        SetRange(mm.min, mm.max);
      }
      return Status::OK();
    }
    if (stream_) {
      MM_RETURN_IF_ERROR(
          static_cast<const WrittenCount&>(merged).CheckAll(geo_.lanes(), "lanes", name()));
      const std::vector<double>& edges = finder_.edges();
      return files_.Write(1, 0, edges.data(), edges.size() * 8);
    }
    merged_ = static_cast<const CountPartial&>(merged);
    if (geo_.empty() && merged_.lo == merged_.hi)
      merged_.Resize(0, geo_.lanes());  // 0 rows: counts 0
    MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged_.lo, merged_.hi));
    return Status::OK();
  }

  Result<Json> Finish() override;

 private:
  int count_pass() const { return have_range_ ? 0 : 1; }
  void SetStream(bool on) {
    stream_ = on;
    caps_.writes_outputs = on;
  }
  void SetRange(double lo, double hi) {
    const auto outer = HistogramOuterEdges(lo, hi);
    finder_ = BinFinder(outer.first, outer.second, bins_, round_edge_);
  }

  // A worker's buffers, kept from block to block: a tile of values as
  // doubles, their slots, and four sub-histograms of one lane's slots.
  struct Scratch {
    std::vector<double> x;
    std::vector<uint32_t> slot;
    std::vector<uint32_t> sub;
    std::vector<uint32_t> pair, at, table;  // counting in pairs (paired_lane)
    // One- and two-byte types: the slot of every stored bit pattern (empty:
    // not built). A scanner, and so its Scratch, serves one task of one
    // pass (engine/scan.cc), whose range does not change.
    std::vector<uint16_t> pattern_slot;
    std::vector<uint8_t> seen;  // the extremes pass: which patterns occur
  };
  static constexpr uint64_t kTile = 1024;
  // float32 and float64 runs of one lane are counted in pairs of bins (half
  // the increments) when the bins x bins table is at most 64 KiB and the run
  // has at least 8 values per entry of it to pay for clearing and folding.
  static constexpr uint64_t kMaxPairBins = 128;
  static constexpr uint64_t kPairValuesPerEntry = 8;
  // Sub-histograms (consecutive values counted in different copies, so a
  // run of equal values does not wait on its own increments) when a run of
  // one lane holds at least 4 values per slot and the copies fit in 64 KiB.
  static constexpr uint64_t kMaxSubSlots = 4096;
  // Two-byte types look their slots up in a table of all 65536 patterns
  // once a block of at least this many values pays for building it.
  static constexpr uint64_t kMinValuesForPatternTable = 65536;

  // The extremes pass over n values of a one- or two-byte type at data:
  // which bit patterns occur, then the finite extremes among them and the
  // count of finite values (n less the float16 infinities and NaNs), merged
  // into *p. False (nothing merged) when both zeros occur and one of them is
  // an extreme: the tiles below and their search for the block's first
  // zero then decide its sign.
  template <class Traits, bool kSwap>
  static bool MinMaxByPattern(const char* data, uint64_t n, MinMaxPartial* p, Scratch* scratch) {
    using Pattern = std::conditional_t<sizeof(typename Traits::Storage) == 1, uint8_t, uint16_t>;
    constexpr uint64_t patterns = uint64_t{1} << (8 * sizeof(Pattern));
    std::vector<uint8_t>& seen = scratch->seen;
    seen.assign(patterns, 0);
    for (uint64_t i = 0; i < n; ++i) {
      Pattern v;
      std::memcpy(&v, data + i * sizeof v, sizeof v);
      seen[v] = 1;
    }
    double mn = std::numeric_limits<double>::infinity(), mx = -mn;
    uint64_t not_finite = 0;
    for (uint64_t v = 0; v < patterns; ++v) {
      if (!seen[v]) continue;
      const Pattern raw = static_cast<Pattern>(v);
      const double x =
          static_cast<double>(LoadElement<Traits, kSwap>(reinterpret_cast<const char*>(&raw)));
      if (!std::isfinite(x)) {
        ++not_finite;
        continue;
      }
      mn = x < mn ? x : mn;
      mx = x > mx ? x : mx;
    }
    uint64_t finite = n;
    if constexpr (Traits::kKind == Kind::kFloat16) {
      // Both zeros seen, one of them an extreme: the order decides.
      const Pattern plus = 0, minus = kSwap ? 0x0080 : 0x8000;
      if (seen[plus] && seen[minus] && (mn == 0 || mx == 0)) return false;
      if (not_finite != 0) {  // exponent bits all ones, in stored order
        const Pattern mask = kSwap ? 0x007C : 0x7C00;
        for (uint64_t i = 0; i < n; ++i) {
          Pattern v;
          std::memcpy(&v, data + i * sizeof v, sizeof v);
          finite -= (v & mask) == mask;
        }
      }
    }
    MinMaxPartial b;
    b.n = static_cast<int64_t>(finite);
    b.min = finite ? mn : 0.0;
    b.max = finite ? mx : 0.0;
    p->Merge(b);
    return true;
  }

  template <class Traits, bool kSwap>
  void ConsumeTyped(int pass, const BlockView& block, Partial* base, Scratch* scratch) const {
    using S = typename Traits::Storage;
    const char* data = block.data;
    const uint64_t n = block.elements();
    if (pass != count_pass()) {
      auto* p = static_cast<MinMaxPartial*>(base);
      // Adds the block's count of finite values and their extremes. The
      // extremes of a set are unique but for the sign of a zero, which the
      // order of comparisons decides: when one is a zero it is taken to be
      // the block's first zero, as a loop over the values leaves it (a value
      // replacing an extreme only when strictly beyond it), whichever order
      // the vector reductions below compared them in. (Integers and bool
      // have one zero.)
      const auto add = [&](int64_t cnt, double mn, double mx) {
        if (Traits::kIsFloat && cnt != 0 && (mn == 0 || mx == 0)) {
          for (uint64_t i = 0; i < n; ++i) {
            const double v = static_cast<double>(LoadElement<Traits, kSwap>(data + i * sizeof(S)));
            if (v != 0) continue;
            mn = mn == 0 ? v : mn;
            mx = mx == 0 ? v : mx;
            break;
          }
        }
        MinMaxPartial b;
        b.n = cnt;
        b.min = cnt ? mn : 0.0;
        b.max = cnt ? mx : 0.0;
        p->Merge(b);
      };
      if constexpr (!kSwap &&
                    (Traits::kKind == Kind::kFloat32 || Traits::kKind == Kind::kFloat64)) {
        // The vector reduction's min and max skip NaN; infinite ones send
        // the block to the tiles below, which skip them too.
        const simd::RunSums r =
            Traits::kKind == Kind::kFloat32 ? simd::ReduceF32(data, n) : simd::ReduceF64(data, n);
        if (r.n == 0 || (std::isfinite(r.min) && std::isfinite(r.max))) {
          add(r.n, r.min, r.max);
          return;
        }
      }
      if constexpr (sizeof(S) <= 2) {
        if (n >= (sizeof(S) == 1 ? 1024 : kMinValuesForPatternTable) &&
            MinMaxByPattern<Traits, kSwap>(data, n, p, scratch))
          return;
      }
      if constexpr (Traits::kIsInteger) {
        // Every integer is finite, and the conversion to double keeps order,
        // so the extremes as doubles are those of the integers: compared as
        // integers in four independent chains (64-bit compares have no
        // baseline vector instruction), converted once. (The stats
        // reduction, stats_kernel::ReduceRun, finds the same extremes but
        // sums too: 1.15-1.21x slower here, session 40.)
        S lo[4], hi[4];
        std::fill(lo, lo + 4, std::numeric_limits<S>::max());
        std::fill(hi, hi + 4, std::numeric_limits<S>::lowest());
        uint64_t i = 0;
        for (; i + 4 <= n; i += 4) {
          for (int k = 0; k < 4; ++k) {
            const S v = LoadElement<Traits, kSwap>(data + (i + k) * sizeof(S));
            lo[k] = v < lo[k] ? v : lo[k];
            hi[k] = v > hi[k] ? v : hi[k];
          }
        }
        for (; i < n; ++i) {
          const S v = LoadElement<Traits, kSwap>(data + i * sizeof(S));
          lo[0] = v < lo[0] ? v : lo[0];
          hi[0] = v > hi[0] ? v : hi[0];
        }
        for (int k = 1; k < 4; ++k) {
          lo[0] = std::min(lo[0], lo[k]);
          hi[0] = std::max(hi[0], hi[k]);
        }
        add(static_cast<int64_t>(n), static_cast<double>(lo[0]), static_cast<double>(hi[0]));
        return;
      }
      // Floats (and bool): tiles widened by the vector kernel, whose finite
      // extremes the vector reduction finds (a tile with an infinity goes
      // value by value).
      scratch->x.resize(kTile);
      double* x = scratch->x.data();
      double mn = std::numeric_limits<double>::infinity(), mx = -mn;
      int64_t cnt = 0;
      for (uint64_t t0 = 0; t0 < n; t0 += kTile) {
        const uint64_t m = std::min(kTile, n - t0);
        LoadTile<Traits, kSwap>(data + t0 * sizeof(S), m, x);
        const simd::RunSums r = simd::ReduceF64(reinterpret_cast<const char*>(x), m);
        if (r.n == 0) continue;  // all NaN
        if (std::isfinite(r.min) && std::isfinite(r.max)) {
          cnt += r.n;
          mn = r.min < mn ? r.min : mn;
          mx = r.max > mx ? r.max : mx;
          continue;
        }
        for (uint64_t i = 0; i < m; ++i) {
          if (!std::isfinite(x[i])) continue;
          ++cnt;
          mn = x[i] < mn ? x[i] : mn;
          mx = x[i] > mx ? x[i] : mx;
        }
      }
      add(cnt, mn, mx);
      return;
    }
    auto* p = static_cast<CountPartial*>(base);
    using Pattern = std::conditional_t<sizeof(S) == 1, uint8_t, uint16_t>;
    // A chunk block's lane range may hold lanes it does not reach: they keep
    // zero counts (an identity when partials are added).
    const auto range = geo_.BlockLaneRange(block.box, block.begin, block.end);
    p->Extend(range.first, range.second);
    const uint64_t bins = static_cast<uint64_t>(bins_);
    const uint64_t slots = bins + 3;
    const simd::BinGrid grid = finder_.Grid();
    scratch->x.resize(kTile);
    scratch->slot.resize(kTile);
    double* x = scratch->x.data();
    uint32_t* slot = scratch->slot.data();
    // Adds `count` values of slot s to lane l (relative to the partial).
    const auto add = [&](uint64_t l, uint64_t s, int64_t count) {
      if (s < bins) {
        p->counts[l * bins + s] += count;
      } else if (s == bins + simd::kSlotBelow) {
        p->below[l] += count;
      } else if (s == bins + simd::kSlotAbove) {
        p->above[l] += count;
      } else {
        p->nan[l] += count;
      }
    };
    // The slots of x[0, m).
    const auto bin = [&](uint64_t m) {
      if (simd::BinSlots(x, m, grid, slot))
        simd::ResolveExact(x, m, grid, finder_.edges().data(), slot);
    };
    // One lane's `count` values, their slots put in `slot` a tile at a
    // time by fill(first, m), into lane l (relative): counted per slot in
    // a small histogram (four copies in turn when there are at least 4
    // values per slot, so a run of equal values does not wait on its own
    // increments), then added to the lane's counts.
    const auto one_lane = [&](uint64_t count, uint64_t l, auto&& fill) {
      const uint64_t copies =
          slots <= kMaxSubSlots && count >= 4 * slots && count < (uint64_t{1} << 32) ? 4 : 1;
      // Few values for many slots (or too many for 32-bit counters): each
      // straight to the lane's counts.
      if (slots > kMaxSubSlots || count * 4 < slots || count >= (uint64_t{1} << 32)) {
        for (uint64_t t0 = 0; t0 < count; t0 += kTile) {
          const uint64_t m = std::min(kTile, count - t0);
          fill(t0, m);
          for (uint64_t i = 0; i < m; ++i) add(l, slot[i], 1);
        }
        return;
      }
      scratch->sub.assign(copies * slots, 0);
      uint32_t* h = scratch->sub.data();
      for (uint64_t t0 = 0; t0 < count; t0 += kTile) {
        const uint64_t m = std::min(kTile, count - t0);
        fill(t0, m);
        uint64_t i = 0;
        if (copies == 4) {
          for (; i + 4 <= m; i += 4) {
            ++h[slot[i]];
            ++h[slots + slot[i + 1]];
            ++h[2 * slots + slot[i + 2]];
            ++h[3 * slots + slot[i + 3]];
          }
        }
        for (; i < m; ++i) ++h[slot[i]];
      }
      for (uint64_t c = 1; c < copies; ++c)
        for (uint64_t s = 0; s < slots; ++s) h[s] += h[c * slots + s];
      int64_t* counts = &p->counts[l * bins];
      for (uint64_t s = 0; s < bins; ++s) counts[s] += h[s];
      p->below[l] += h[bins + simd::kSlotBelow];
      p->above[l] += h[bins + simd::kSlotAbove];
      p->nan[l] += h[bins + simd::kSlotNan];
    };
    // A run of one lane counted in pairs (simd::BinPairsF32, simd::BinPairs):
    // each pair of bins (a, b) is one increment of a bins x bins table, which
    // then counts once in bin a (its row's sum) and once in bin b (its
    // column's); the values the kernel leaves single (out of range, NaN, near
    // an edge, with no neighbour to pair) count one by one. pairs(t0, m,
    // pair, at) runs the pair kernel on values [t0, t0 + m) of the run (its
    // singles' slots into `slot`); value(t0, k) is value k of that tile as a
    // double (for the singles BinFinder resolves).
    const auto paired_lane = [&](uint64_t count, uint64_t l, auto&& pairs, auto&& value) {
      scratch->table.assign(bins * bins, 0);
      scratch->sub.assign(slots, 0);
      scratch->pair.resize(kTile / 2);
      scratch->at.resize(kTile);
      uint32_t* table = scratch->table.data();
      uint32_t* h = scratch->sub.data();
      uint32_t* pair = scratch->pair.data();
      uint32_t* at = scratch->at.data();
      for (uint64_t t0 = 0; t0 < count; t0 += kTile) {
        const uint64_t m = std::min(kTile, count - t0);
        const simd::PairedSlots r = pairs(t0, m, pair, at);
        for (uint64_t k = 0; k < r.pairs; ++k) ++table[pair[k]];
        for (uint64_t k = 0; k < r.singles; ++k) {
          uint32_t s = slot[k];
          if (s == simd::kSlotExact) s = static_cast<uint32_t>(finder_.Index(value(t0, at[k])));
          ++h[s];
        }
      }
      int64_t* counts = &p->counts[l * bins];
      for (uint64_t a = 0; a < bins; ++a) {
        const uint32_t* row = table + a * bins;
        int64_t sum = 0;
        for (uint64_t b = 0; b < bins; ++b) {
          sum += row[b];
          counts[b] += row[b];
        }
        counts[a] += sum;
      }
      for (uint64_t b = 0; b < bins; ++b) counts[b] += h[b];
      p->below[l] += h[bins + simd::kSlotBelow];
      p->above[l] += h[bins + simd::kSlotAbove];
      p->nan[l] += h[bins + simd::kSlotNan];
    };
    // One- and two-byte types (bool, int8, uint8, int16, uint16, float16,
    // either byte order): the slot of each stored bit pattern, computed once
    // a scanner by the same tile path (LoadTile, then bin) as the
    // values themselves, so a value's slot is the one it would get there.
    const uint16_t* pattern_slot = nullptr;
    if constexpr (sizeof(S) <= 2) {
      constexpr uint64_t patterns = uint64_t{1} << (8 * sizeof(S));
      std::vector<uint16_t>& table = scratch->pattern_slot;
      if (table.size() == patterns) {
        pattern_slot = table.data();
      } else if (slots <= 65536 && (sizeof(S) == 1 || n >= kMinValuesForPatternTable)) {
        table.resize(patterns);
        Pattern raw[kTile];
        for (uint64_t t0 = 0; t0 < patterns; t0 += kTile) {
          const uint64_t m = std::min(kTile, patterns - t0);
          for (uint64_t i = 0; i < m; ++i) raw[i] = static_cast<Pattern>(t0 + i);
          LoadTile<Traits, kSwap>(reinterpret_cast<const char*>(raw), m, x);
          bin(m);
          for (uint64_t i = 0; i < m; ++i) table[t0 + i] = static_cast<uint16_t>(slot[i]);
        }
        pattern_slot = table.data();
      }
    }
    // The slots of m values from `from`, `stride` bytes apart, by pattern.
    const auto look_up = [&](const char* from, uint64_t stride, uint64_t m) {
      if constexpr (sizeof(S) <= 2) {
        for (uint64_t i = 0; i < m; ++i) {
          Pattern v;
          std::memcpy(&v, from + i * stride, sizeof v);
          slot[i] = pattern_slot[v];
        }
      }
    };
    // One-byte types: `count` bytes from `from`, `stride` apart, into lane l
    // (relative), counted by pattern (four copies in turn) and then added to
    // each pattern's slot. False (nothing counted) for runs too short to pay
    // for the 256 patterns or too long for 32-bit counters.
    const auto count_bytes = [&](uint64_t count, uint64_t l, const char* from, uint64_t stride) {
      if (count < 1024 || count >= (uint64_t{1} << 32)) return false;
      scratch->sub.assign(4 * 256, 0);
      uint32_t* h = scratch->sub.data();
      const auto* b = reinterpret_cast<const unsigned char*>(from);
      uint64_t i = 0;
      for (; i + 4 <= count; i += 4) {
        ++h[b[i * stride]];
        ++h[256 + b[(i + 1) * stride]];
        ++h[512 + b[(i + 2) * stride]];
        ++h[768 + b[(i + 3) * stride]];
      }
      for (; i < count; ++i) ++h[b[i * stride]];
      for (uint64_t v = 0; v < 256; ++v) {
        const int64_t c = int64_t{h[v]} + h[256 + v] + h[512 + v] + h[768 + v];
        if (c != 0) add(l, pattern_slot[v], c);
      }
      return true;
    };
    geo_.ForEachTileOfBlock(
        block.box, block.begin, block.end,
        [&](uint64_t off, uint64_t rows, uint64_t len, uint64_t lane, bool kept) {
          const char* run = data + off * sizeof(S);
          if (pattern_slot) {
            if (sizeof(S) == 1 && !kept && count_bytes(len, lane - p->lo, run, 1)) return;
            if (!kept) {
              one_lane(len, lane - p->lo, [&](uint64_t t0, uint64_t m) {
                look_up(run + t0 * sizeof(S), sizeof(S), m);
              });
            } else if (rows == 1) {
              for (uint64_t t0 = 0; t0 < len; t0 += kTile) {
                const uint64_t m = std::min(kTile, len - t0);
                look_up(run + t0 * sizeof(S), sizeof(S), m);
                for (uint64_t i = 0; i < m; ++i) add(lane + t0 + i - p->lo, slot[i], 1);
              }
            } else {
              for (uint64_t i = 0; i < len; ++i) {
                if (sizeof(S) == 1 && count_bytes(rows, lane + i - p->lo, run + i, len)) continue;
                one_lane(rows, lane + i - p->lo, [&](uint64_t t0, uint64_t m) {
                  look_up(run + (t0 * len + i) * sizeof(S), len * sizeof(S), m);
                });
              }
            }
            return;
          }
          if (!kept) {  // a run of one lane
            const uint64_t l = lane - p->lo;
            if (bins <= kMaxPairBins && len >= kPairValuesPerEntry * bins * bins &&
                len < (uint64_t{1} << 32)) {
              // Native float32 and float64 values are paired where they lie
              // when aligned to their size (sources read blocks into
              // page-aligned buffers; BinSlots' scalar tail and the exact
              // singles read them as doubles and floats); other float runs
              // (byte-swapped, unaligned, float16 without a pattern table) a
              // tile of doubles at a time (the values one_lane bins below).
              if constexpr ((Traits::kKind == Kind::kFloat32 || Traits::kKind == Kind::kFloat64) &&
                            !kSwap) {
                if (reinterpret_cast<uintptr_t>(run) % sizeof(S) == 0) {
                  const S* f = reinterpret_cast<const S*>(run);
                  paired_lane(
                      len, l,
                      [&](uint64_t t0, uint64_t m, uint32_t* pair, uint32_t* at) {
                        if constexpr (Traits::kKind == Kind::kFloat32) {
                          return simd::BinPairsF32(f + t0, m, grid, pair, slot, at);
                        } else {
                          return simd::BinPairs(f + t0, m, grid, pair, slot, at);
                        }
                      },
                      [&](uint64_t t0, uint64_t k) { return static_cast<double>(f[t0 + k]); });
                  return;
                }
              }
              if constexpr (Traits::kIsFloat) {
                paired_lane(
                    len, l,
                    [&](uint64_t t0, uint64_t m, uint32_t* pair, uint32_t* at) {
                      LoadTile<Traits, kSwap>(run + t0 * sizeof(S), m, x);
                      return simd::BinPairs(x, m, grid, pair, slot, at);
                    },
                    [&](uint64_t, uint64_t k) { return x[k]; });
                return;
              }
            }
            if constexpr (Traits::kKind == Kind::kFloat32 && !kSwap) {
              // float32 straight to slots, without widening the tile first.
              one_lane(len, lane - p->lo, [&](uint64_t t0, uint64_t m) {
                const float* f = reinterpret_cast<const float*>(run) + t0;
                if (!simd::BinSlotsF32(f, m, grid, slot)) return;
                for (uint64_t i = 0; i < m; ++i) {
                  if (slot[i] != simd::kSlotExact) continue;
                  float v;
                  std::memcpy(&v, f + i, sizeof v);
                  slot[i] = static_cast<uint32_t>(finder_.Index(static_cast<double>(v)));
                }
              });
            } else {
              one_lane(len, lane - p->lo, [&](uint64_t t0, uint64_t m) {
                LoadTile<Traits, kSwap>(run + t0 * sizeof(S), m, x);
                bin(m);
              });
            }
            return;
          }
          if (rows == 1) {  // one value for each of lanes lane, lane + 1, ...
            for (uint64_t t0 = 0; t0 < len; t0 += kTile) {
              const uint64_t m = std::min(kTile, len - t0);
              LoadTile<Traits, kSwap>(run + t0 * sizeof(S), m, x);
              bin(m);
              for (uint64_t i = 0; i < m; ++i) add(lane + t0 + i - p->lo, slot[i], 1);
            }
            return;
          }
          // Rows of lanes lane .. lane + len - 1 (row r at run + r * len),
          // lane by lane: a lane's counts stay in cache while its values
          // are read, and the rows' cache lines serve the next lanes.
          for (uint64_t i = 0; i < len; ++i) {
            one_lane(rows, lane + i - p->lo, [&](uint64_t t0, uint64_t m) {
              const char* at = run + (t0 * len + i) * sizeof(S);
              for (uint64_t r = 0; r < m; ++r)
                x[r] = static_cast<double>(LoadElement<Traits, kSwap>(at + r * len * sizeof(S)));
              bin(m);
            });
          }
        });
  }

  LaneGeometry geo_;
  int64_t bins_;
  bool have_range_;
  std::string output_;
  double (*round_edge_)(double);  // null: float64 edges
  BinFinder finder_{0.0, 1.0, 1};
  CountPartial merged_;
  bool stream_ = false;  // the workers write the count pass' files
  NpyFieldFiles files_;
};

Result<Json> Histogram::Finish() {
  const uint64_t lanes = geo_.lanes(), bins = static_cast<uint64_t>(bins_);
  std::vector<uint64_t> order(lanes);  // output position -> internal lane
  for (uint64_t l = 0; l < lanes; ++l) order[geo_.OutputIndex(l)] = l;
  std::vector<int64_t> counts_shape = geo_.kept_shape();
  counts_shape.push_back(bins_);
  const std::vector<double>& edges = finder_.edges();
  if (stream_) {
    MM_RETURN_IF_ERROR(files_.Commit());  // at the end, as the partials' files are
    Json files = Json::object();
    for (const std::string& f : kFields) files[f] = output_ + "." + f + ".npy";
    return Json{{"shape", geo_.kept_shape()}, {"bins", bins_}, {"files", files}};
  }
  if (!output_.empty() && lanes * (bins + 3) + bins + 1 > kMaxInlineNumbers) {
    std::vector<NpyField> fields(5);
    fields[0] = NpyField{"counts", counts_shape, true, {}, {}};
    fields[0].ints.reserve(lanes * bins);
    for (uint64_t i = 0; i < lanes; ++i)
      for (uint64_t b = 0; b < bins; ++b)
        fields[0].ints.push_back(merged_.counts[order[i] * bins + b]);
    fields[1] = NpyField{"edges", {static_cast<int64_t>(edges.size())}, false, {}, edges};
    const std::vector<int64_t>* tallies[3] = {&merged_.below, &merged_.above, &merged_.nan};
    const char* names[3] = {"below", "above", "nan_count"};
    for (int t = 0; t < 3; ++t) {
      NpyField& f = fields[static_cast<size_t>(2 + t)];
      f.name = names[t];
      f.shape = geo_.kept_shape();
      f.is_int = true;
      for (uint64_t i = 0; i < lanes; ++i) f.ints.push_back((*tallies[t])[order[i]]);
    }
    MM_ASSIGN_OR_RETURN(Json files, WriteNpyFields(output_, fields));
    return Json{{"shape", geo_.kept_shape()}, {"bins", bins_}, {"files", files}};
  }
  std::vector<Json> flat;
  flat.reserve(lanes * bins);
  for (uint64_t i = 0; i < lanes; ++i)
    for (uint64_t b = 0; b < bins; ++b) flat.push_back(merged_.counts[order[i] * bins + b]);
  Json result = Json::object();
  result["counts"] = NestFlat(std::move(flat), counts_shape);
  Json e = Json::array();
  for (double x : edges) e.push_back(JsonNumber(x));
  result["edges"] = e;
  const std::vector<int64_t>* tallies[3] = {&merged_.below, &merged_.above, &merged_.nan};
  const char* names[3] = {"below", "above", "nan_count"};
  for (int t = 0; t < 3; ++t) {
    flat.clear();  // moved from: valid, emptied
    flat.reserve(lanes);
    for (uint64_t i = 0; i < lanes; ++i) flat.push_back((*tallies[t])[order[i]]);
    result[names[t]] = NestFlat(std::move(flat), geo_.kept_shape());
  }
  return result;
}

}  // namespace

std::vector<double> HistogramEdges(double lo, double hi, int64_t bins) {
  // numpy.linspace(lo, hi, bins + 1): y = arange * step (or arange / div *
  // delta when the step underflows to 0), plus start; the last is stop.
  const double div = static_cast<double>(bins);
  const double delta = hi - lo;
  const double step = delta / div;
  std::vector<double> y(static_cast<size_t>(bins) + 1);
  for (int64_t i = 0; i <= bins; ++i) {
    const double fi = static_cast<double>(i);
    double v = step == 0 ? (fi / div) * delta : fi * step;
    y[static_cast<size_t>(i)] = v + lo;
  }
  y.back() = hi;
  return y;
}

std::pair<double, double> HistogramOuterEdges(double lo, double hi) {
  if (lo == hi) return {lo - 0.5, hi + 0.5};
  return {lo, hi};
}

BinFinder::BinFinder(double lo, double hi, int64_t bins, double (*round_edge)(double))
    : lo_(lo),
      hi_(hi),
      norm_(static_cast<double>(bins) / (hi - lo)),
      bins_(bins),
      edges_(HistogramEdges(lo, hi, bins)) {
  if (round_edge != nullptr) {
    for (double& e : edges_) e = round_edge(e);
    lo_ = edges_.front();
    hi_ = edges_.back();
  }
  double worst = 0;
  for (size_t i = 0; i < edges_.size(); ++i) {
    const double d = std::fabs((edges_[i] - lo_) * norm_ - static_cast<double>(i));
    if (!(d < 0.25)) return;  // also NaN and inf: margin_ stays 1, never the fast path
    worst = std::max(worst, d);
  }
  const double u = std::numeric_limits<double>::epsilon() / 2;
  margin_ = std::min(1.0, worst + 16 * u * static_cast<double>(bins + 1));
}

Result<std::unique_ptr<Analysis>> MakeHistogram(const AnalysisSpec& spec, const Dataset& dataset,
                                                const Partition& partition) {
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, {"bins", "range", "axis", "output", "edges_dtype"},
                               "analyses[" + std::to_string(spec.index) + "]"));
  // "float64" (default): edges as numpy computes them for float64 input;
  // "input": in the data's float type, as numpy.histogram does for float32
  // and float16 data (integers and float64 get float64 edges either way).
  double (*round_edge)(double) = nullptr;
  if (spec.params.contains("edges_dtype")) {
    const Json& e = spec.params["edges_dtype"];
    if (e != "float64" && e != "input")
      return ParamError(spec, "edges_dtype", "must be \"float64\" or \"input\", got " + e.dump());
    if (e == "input" && dataset.layout.dtype.kind == Kind::kFloat32)
      round_edge = [](double x) { return static_cast<double>(static_cast<float>(x)); };
    if (e == "input" && dataset.layout.dtype.kind == Kind::kFloat16)
      round_edge = [](double x) { return HalfToDouble(DoubleToHalf(x)); };
  }
  int64_t bins = 10;
  if (spec.params.contains("bins")) {
    const Json& b = spec.params["bins"];
    if (!b.is_number_integer() || b.get<int64_t>() < 1)
      return ParamError(spec, "bins", "must be a positive integer, got " + b.dump());
    bins = b.get<int64_t>();
    if (static_cast<uint64_t>(bins) > kMaxCounters)
      return ParamError(spec, "bins",
                        "at most " + std::to_string(kMaxCounters) + " bins, got " + b.dump());
  }
  bool have_range = false;
  double lo = 0, hi = 1;
  if (spec.params.contains("range") && !spec.params["range"].is_null()) {
    const Json& r = spec.params["range"];
    if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number())
      return ParamError(spec, "range", "must be [lo, hi] with two numbers, got " + r.dump());
    lo = r[0].get<double>();
    hi = r[1].get<double>();
    if (!std::isfinite(lo) || !std::isfinite(hi))
      return ParamError(spec, "range", "must be finite, got " + r.dump());
    if (lo > hi) return ParamError(spec, "range", "lo must not exceed hi, got " + r.dump());
    if (!std::isfinite(hi - lo))  // numpy cannot bin it either (IndexError)
      return ParamError(spec, "range", "its width hi - lo overflows float64, got " + r.dump());
    have_range = true;
  }
  const Json axis = spec.params.contains("axis") ? spec.params["axis"] : Json(nullptr);
  if (!axis.is_null() && !axis.is_number_integer())
    return ParamError(spec, "axis", "must be null or an integer, got " + axis.dump());
  std::vector<int> reduced;
  MM_ASSIGN_OR_RETURN(reduced, ParseAxes(spec, axis, dataset.layout.ndim()));
  MM_ASSIGN_OR_RETURN(std::string output, ParseOutputPrefix(spec));
  LaneGeometry geo(dataset.layout, reduced);
  const uint64_t ubins = static_cast<uint64_t>(bins);
  if (geo.lanes() > kMaxCounters / ubins)
    return ParamError(spec, "bins",
                      std::to_string(geo.lanes()) + " histograms of " + std::to_string(bins) +
                          " bins exceed the limit of " + std::to_string(kMaxCounters) +
                          " counters");
  const uint64_t numbers = geo.lanes() * (ubins + 3) + ubins + 1;
  if (numbers > kMaxInlineNumbers && output.empty())
    return ParamError(spec, "output",
                      "the result would hold " + std::to_string(numbers) +
                          " numbers (more than 1000000); give \"output\": \"PREFIX\" to write "
                          "each field to PREFIX.FIELD.npy");
  return std::unique_ptr<Analysis>(new Histogram(spec, dataset, partition, std::move(geo), bins,
                                                 have_range, lo, hi, output, round_edge));
}

}  // namespace mm
