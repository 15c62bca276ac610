#include "analysis/transform.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <string>
#include <system_error>
#include <thread>
#include <type_traits>

#include "analysis/stats.h"
#include "core/fault.h"
#include "core/lanes.h"
#include "io/journal.h"
#include "source/raw/raw_source.h"

namespace mm {

namespace {

enum class Fn { kAffine, kClip, kFillNan, kNormalize };
constexpr uint64_t kMaxNormalizeLanes = 500000;  // mean and std of each lane go into the result

struct Op {
  Fn fn = Fn::kAffine;
  double scale = 1, offset = 0;         // affine
  bool has_lo = false, has_hi = false;  // clip
  double lo = 0, hi = 0;
  double value = 0;              // fill_nan
  const double* mean = nullptr;  // normalize, by internal lane
  const double* stdv = nullptr;
  // normalize on 64-bit integers: the mean as the integer k = trunc(sum / n)
  // plus the fraction (sum - k n) / n, so a deviation is v - k taken
  // exactly before it is rounded (double(v) rounds beyond 2^53).
  const __int128* anchor = nullptr;
  const double* anchor_frac = nullptr;
  // Integer data (docs/CHOICES.md): the clip bounds as exact integers
  // (ceil(min), floor(max)), and affine in exact 128-bit integer arithmetic
  // when scale and offset are both integers.
  __int128 ilo = 0, ihi = 0;
  bool int_affine = false;
  __int128 iscale = 1, ioffset = 0;
};

// A config number kept exactly: integers beyond 2^53 lose no bits.
struct ExactNumber {
  double d = 0;
  bool integral = false;  // i holds the value exactly
  __int128 i = 0;
};

constexpr __int128 kExactLimit = static_cast<__int128>(1)
                                 << 100;  // bounds beyond it act as infinite

// ceil (up) or floor of a double as a 128-bit integer, clamped to +-2^100.
__int128 RoundedToInt128(double d, bool up) {
  const double r = up ? std::ceil(d) : std::floor(d);
  if (r >= 0x1p100) return kExactLimit;
  if (r <= -0x1p100) return -kExactLimit;
  return static_cast<__int128>(r);
}

// Test hook (docs/JOURNAL_FORMAT.md): MMRUN_TEST_FAULT="transform_block_ms=N"
// makes every block of a transform's passes take N ms longer, so tests can
// kill a run at chosen moments.
int SlowBlockMs() {
  static const int ms = static_cast<int>(std::max<int64_t>(0, FaultValue("transform_block_ms")));
  return ms;
}

struct Counts {
  uint64_t changed = 0, saturated = 0;
};

// The new value of a (non-NaN unless fill_nan) element of lane `lane`.
template <Fn F>
inline double Apply(const Op& op, double x, uint64_t lane) {
  if constexpr (F == Fn::kAffine) {
    return x * op.scale + op.offset;
  } else if constexpr (F == Fn::kClip) {
    if (op.has_lo && x < op.lo) x = op.lo;
    if (op.has_hi && x > op.hi) x = op.hi;
    return x;
  } else if constexpr (F == Fn::kFillNan) {
    return x != x ? op.value : x;
  } else {
    const double s = op.stdv[lane];
    const double d = x - op.mean[lane];
    return s > 0 ? d / s : d;  // std 0: the value minus its mean (docs/CHOICES.md)
  }
}

// Rounds half to even and saturates into S's range; counts saturation.
template <class S>
inline S ToInteger(double y, uint64_t* saturated) {
  if (y != y) {
    ++*saturated;
    return 0;
  }
  const double r = std::nearbyint(y);
  constexpr double lo = static_cast<double>(std::numeric_limits<S>::lowest());
  // 2^bits for unsigned, 2^(bits-1) for signed: the first value past max,
  // exact in double for every width (max itself is not for 64 bits).
  constexpr double past =
      std::is_signed<S>::value
          ? -lo
          : 2.0 * (static_cast<double>(std::numeric_limits<S>::max() / 2) + 1.0);
  if (r < lo) {
    ++*saturated;
    return std::numeric_limits<S>::lowest();
  }
  if (r >= past) {
    ++*saturated;
    return std::numeric_limits<S>::max();
  }
  return static_cast<S>(r);
}

// An exact integer saturated into S's range; counts saturation.
template <class S>
inline S SaturateInt(__int128 r, uint64_t* saturated) {
  if (r < static_cast<__int128>(std::numeric_limits<S>::lowest())) {
    ++*saturated;
    return std::numeric_limits<S>::lowest();
  }
  if (r > static_cast<__int128>(std::numeric_limits<S>::max())) {
    ++*saturated;
    return std::numeric_limits<S>::max();
  }
  return static_cast<S>(r);
}

// Integer affine: exact in 128 bits when scale and offset are integers
// (an overflow of 128 bits saturates by the sign of the exact result), else
// x * scale + offset in long double (64-bit significand, every 64-bit
// integer exact), rounded half to even and saturated.
template <class S>
inline S AffineInteger(const Op& op, S v, uint64_t* saturated) {
  if (op.int_affine) {
    __int128 prod, sum;
    if (__builtin_mul_overflow(static_cast<__int128>(v), op.iscale, &prod)) {
      ++*saturated;
      return (v > 0) == (op.iscale > 0) ? std::numeric_limits<S>::max()
                                        : std::numeric_limits<S>::lowest();
    }
    if (__builtin_add_overflow(prod, op.ioffset, &sum)) {
      ++*saturated;
      return op.ioffset > 0 ? std::numeric_limits<S>::max() : std::numeric_limits<S>::lowest();
    }
    return SaturateInt<S>(sum, saturated);
  }
  const long double y = static_cast<long double>(v) * static_cast<long double>(op.scale) +
                        static_cast<long double>(op.offset);
  const long double r = std::nearbyint(y);
  if (r < static_cast<long double>(std::numeric_limits<S>::lowest())) {
    ++*saturated;
    return std::numeric_limits<S>::lowest();
  }
  if (r > static_cast<long double>(std::numeric_limits<S>::max())) {
    ++*saturated;
    return std::numeric_limits<S>::max();
  }
  return static_cast<S>(r);
}

// bool: rounds half to even and saturates into [0, 1].
inline uint8_t ToBool(double y, uint64_t* saturated) {
  const double r = std::nearbyint(y);
  if (r >= 0.0 && r <= 1.0) return static_cast<uint8_t>(r);
  ++*saturated;
  return r > 1.0 ? 1 : 0;  // NaN and negatives: 0
}

// The same as ApplyRun below for native-order float32/float64: batches of
// elements computed branch-free (so the compiler vectorises them), compared
// bitwise with the originals, and stored only when some element changed.
template <class S, Fn F, bool kDry>
bool FastFloatRun(const Op& op, char* p, uint64_t n, uint64_t lane, bool step, Counts* c) {
  constexpr uint64_t kBatch = 512;
  using U = std::conditional_t<sizeof(S) == 4, uint32_t, uint64_t>;
  alignas(64) S in[kBatch];
  alignas(64) S out[kBatch];
  for (uint64_t i = 0; i < n; i += kBatch) {
    const uint64_t m = std::min(kBatch, n - i);
    std::memcpy(in, p + i * sizeof(S), m * sizeof(S));
    if constexpr (F == Fn::kFillNan) {  // most batches hold no NaN: one vectorised test
      bool any = false;
      for (uint64_t k = 0; k < m; ++k) any |= in[k] != in[k];
      if (!any) continue;
    }
    uint64_t changed = 0;
    for (uint64_t k = 0; k < m; ++k) {
      const double x = static_cast<double>(in[k]);
      S o = static_cast<S>(Apply<F>(op, x, step ? lane + i + k : lane));
      if constexpr (F != Fn::kFillNan) o = x != x ? in[k] : o;  // NaN stays, bits untouched
      U a, b;
      std::memcpy(&a, &o, sizeof(S));
      std::memcpy(&b, &in[k], sizeof(S));
      changed += a != b;
      out[k] = o;
    }
    if (changed == 0) continue;
    if constexpr (kDry) return true;
    std::memcpy(p + i * sizeof(S), out, m * sizeof(S));
    c->changed += changed;
  }
  return false;
}

// Transforms elements [0, n) of the run at `p` (lanes `lane`, or lane,
// lane+1, ... when `step`). kDry: changes nothing and returns true at the
// first element that would change. Elements whose bytes would not change
// are not written (a page nothing changes in stays clean).
template <class Traits, bool kSwap, Fn F, bool kDry>
bool ApplyRun(const Op& op, const Traits&, char* p, uint64_t n, uint64_t lane, bool step,
              Counts* c) {
  using S = typename Traits::Storage;
  if constexpr (Traits::kIsFloat && Traits::kKind != Kind::kFloat16 && !kSwap)
    return FastFloatRun<S, F, kDry>(op, p, n, lane, step, c);
  for (uint64_t i = 0; i < n; ++i) {
    char* at = p + i * sizeof(S);
    S old;
    std::memcpy(&old, at, sizeof(S));
    const uint64_t l = step ? lane + i : lane;
    S out;
    if constexpr (Traits::kIsFloat) {
      const double x = LoadElement<Traits, kSwap>(at);
      if (F != Fn::kFillNan && x != x) continue;  // NaN stays, bits untouched
      if (F == Fn::kFillNan && x == x) continue;
      const double y = Apply<F>(op, x, l);
      if constexpr (Traits::kKind == Kind::kFloat16) {
        out = DoubleToHalf(y);
      } else {
        out = static_cast<S>(y);
      }
    } else if constexpr (Traits::kIsBool) {
      const S v = static_cast<S>(old != 0);  // bool is the integer range [0, 1]
      if constexpr (F == Fn::kClip) {
        out = v;
        if (op.has_lo && static_cast<double>(v) < op.lo)
          out = ToBool(std::ceil(op.lo), &c->saturated);
        if (op.has_hi && static_cast<double>(v) > op.hi)
          out = ToBool(std::floor(op.hi), &c->saturated);
      } else {
        out = ToBool(Apply<F>(op, static_cast<double>(v), l), &c->saturated);
      }
    } else {
      const S v = LoadElement<Traits, kSwap>(at);
      if constexpr (F == Fn::kClip) {
        out = v;
        if (op.has_lo && static_cast<__int128>(v) < op.ilo)
          out = SaturateInt<S>(op.ilo, &c->saturated);
        if (op.has_hi && static_cast<__int128>(v) > op.ihi)
          out = SaturateInt<S>(op.ihi, &c->saturated);
      } else if constexpr (F == Fn::kAffine) {
        out = AffineInteger<S>(op, v, &c->saturated);
      } else if constexpr (F == Fn::kNormalize && sizeof(S) == 8) {
        // k lies in S's range; v - k almost always fits int64, whose
        // conversion is one instruction (int128's is a library call).
        const S k = static_cast<S>(op.anchor[l]);
        int64_t dv;
        const double dk = __builtin_sub_overflow(v, k, &dv)
                              ? static_cast<double>(static_cast<__int128>(v) - op.anchor[l])
                              : static_cast<double>(dv);
        const double d = dk - op.anchor_frac[l];
        const double s = op.stdv[l];
        out = ToInteger<S>(s > 0 ? d / s : d, &c->saturated);
      } else {
        out = ToInteger<S>(Apply<F>(op, static_cast<double>(v), l), &c->saturated);
      }
    }
    if constexpr (kSwap) out = ByteSwap(out);
    if (std::memcmp(&out, &old, sizeof(S)) == 0) continue;
    if constexpr (kDry) return true;
    std::memcpy(at, &out, sizeof(S));
    ++c->changed;
  }
  return false;
}

// ---------------------------------------------------------------- partials

class WritePartial : public Partial {
 public:
  uint64_t elements = 0, changed = 0, saturated = 0;
  void Merge(const Partial& r) override {
    const auto& o = static_cast<const WritePartial&>(r);
    elements += o.elements;
    changed += o.changed;
    saturated += o.saturated;
  }
  Json ToJson() const override { return Json{{"e", elements}, {"c", changed}, {"s", saturated}}; }
};

// Column `key` of `j` (`size` values of T as a bytes column, PassInput)
// into `out`; kDataErr naming it unless it is exactly that.
template <class T>
Status ReadColumn(const Json& j, const char* key, size_t size, std::vector<T>* out) {
  if (!j.is_object() || !j.contains(key))
    return Error(Code::kDataErr, std::string("transform: malformed ") + key);
  out->resize(size);
  return ColumnBytesTo(j[key], out->data(), size * sizeof(T), std::string("transform: ") + key);
}

// The values value(0), value(1), ... nested as `shape` (C order), made
// where they go: no flat copy of a result of many lanes.
template <class F>
Json NestLanes(const std::vector<int64_t>& shape, size_t dim, size_t* pos, const F& value) {
  if (dim == shape.size()) return value((*pos)++);
  Json out = Json::array();
  out.get_ref<Json::array_t&>().reserve(static_cast<size_t>(shape[dim]));
  for (int64_t i = 0; i < shape[dim]; ++i) out.push_back(NestLanes(shape, dim + 1, pos, value));
  return out;
}

const char* FnName(Fn f) {
  switch (f) {
    case Fn::kAffine:
      return "affine";
    case Fn::kClip:
      return "clip";
    case Fn::kFillNan:
      return "fill_nan";
    case Fn::kNormalize:
      return "normalize";
  }
  return "?";
}

// ---------------------------------------------------------------- the analysis

class Transform : public Analysis {
 public:
  Transform(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition, Op op,
            bool journal, LaneGeometry geo)
      : Analysis(spec, dataset, partition), op_(op), journal_(journal), geo_(std::move(geo)) {
    caps_.writes_dataset = true;
    caps_.journaled = journal;  // "journal": false runs without one
    // normalize's statistics: `stats` passes (a tile of lanes each when
    // the lanes are many), whose lanes come back through TakeLanes.
    if (op_.fn == Fn::kNormalize)
      lane_stats_ = MakeLaneStatsPasses(
          spec, dataset, partition, geo_,
          [this](uint64_t lo, uint64_t hi, const LaneOf& lane) { return TakeLanes(lo, hi, lane); });
  }

  int passes() const override { return StatsPasses() + 1; }
  bool WritesInPass(int pass) const override { return pass == passes() - 1; }
  bool NeedsBlock(int pass, uint64_t begin, uint64_t end) const override {
    return IsStatsPass(pass) ? lane_stats_->NeedsBlock(pass, begin, end) : true;
  }
  bool NeedsBox(int pass, const Box& box) const override {
    return IsStatsPass(pass) ? lane_stats_->NeedsBox(pass, box) : Analysis::NeedsBox(pass, box);
  }
  Box PartOfBox(int pass, const Box& box) const override {
    return IsStatsPass(pass) ? lane_stats_->PartOfBox(pass, box) : box;
  }
  bool ReadsParts(int pass) const override {
    return IsStatsPass(pass) && lane_stats_->ReadsParts(pass);
  }
  void KeepPartials() override {
    if (lane_stats_) lane_stats_->KeepPartials();
  }

  Json PassInput(int pass) const override {
    if (IsStatsPass(pass)) return lane_stats_->PassInput(pass);
    if (op_.fn != Fn::kNormalize) return nullptr;
    // Columns as stats' partials carry theirs: each vector's bytes (raw in
    // the segment, base64 text elsewhere: Plan::ToJson). On 64-bit
    // integers the workers take the anchor, not the mean, and an anchor
    // lies in the dtype's range: 8 bytes (the two's complement of an
    // int64, or a uint64).
    const auto column = [](const auto& v) {
      return BytesColumn(v.data(), v.size() * sizeof(v[0]));
    };
    // Each string is moved into its place (an initializer list would copy it).
    Json j = Json::object();
    if (!wide_integer()) j["mean"] = column(mean_);
    j["std"] = column(std_);
    if (!wide_integer()) return j;
    std::vector<uint64_t> anchor(anchor_.size());
    for (size_t l = 0; l < anchor.size(); ++l) anchor[l] = static_cast<uint64_t>(anchor_[l]);
    j["anchor"] = column(anchor);
    j["anchor_frac"] = column(anchor_frac_);
    return j;
  }

  Status SetPassInput(int pass, const Json& in) override {
    if (IsStatsPass(pass)) return lane_stats_->SetPassInput(pass, in);
    if (op_.fn != Fn::kNormalize) return Status::OK();
    const size_t lanes = geo_.lanes();
    MM_RETURN_IF_ERROR(ReadColumn(in, "std", lanes, &std_));
    if (!wide_integer()) return ReadColumn(in, "mean", lanes, &mean_);
    std::vector<uint64_t> anchor;
    MM_RETURN_IF_ERROR(ReadColumn(in, "anchor", lanes, &anchor));
    const bool is_signed = dataset_.layout.dtype.is_signed();
    anchor_.resize(lanes);
    for (size_t l = 0; l < lanes; ++l)
      anchor_[l] = is_signed ? static_cast<__int128>(static_cast<int64_t>(anchor[l]))
                             : static_cast<__int128>(anchor[l]);
    return ReadColumn(in, "anchor_frac", lanes, &anchor_frac_);
  }

  std::unique_ptr<Partial> NewPartial(int pass) const override {
    if (IsStatsPass(pass)) return lane_stats_->NewPartial(pass);
    return std::make_unique<WritePartial>();
  }

  Result<std::unique_ptr<Partial>> PartialFromJson(int pass, const Json& j) const override {
    if (IsStatsPass(pass)) return lane_stats_->PartialFromJson(pass, j);
    try {
      auto p = std::make_unique<WritePartial>();
      p->elements = j.at("e").get<uint64_t>();
      p->changed = j.at("c").get<uint64_t>();
      p->saturated = j.at("s").get<uint64_t>();
      return std::unique_ptr<Partial>(std::move(p));
    } catch (const nlohmann::json::exception& e) {
      return Error(Code::kDataErr, std::string("transform partial: ") + e.what());
    }
  }

  std::unique_ptr<Scanner> NewScanner(int pass) const override {
    if (IsStatsPass(pass)) return std::make_unique<SlowScanner>(lane_stats_->NewScanner(pass));
    return std::make_unique<TransformScanner>(this, pass);
  }

  Status Prepare() override {
    return journal_ ? CreateJournalDir(dataset_.path, dataset_.fd()) : Status::OK();
  }

  Status EndPass(int pass, const Partial& merged) override {
    if (IsStatsPass(pass)) {
      if (pass == 0) {
        mean_.assign(geo_.lanes(), std::numeric_limits<double>::quiet_NaN());
        std_.assign(geo_.lanes(), std::numeric_limits<double>::quiet_NaN());
        if (wide_integer()) {
          anchor_.assign(geo_.lanes(), 0);
          anchor_frac_.assign(geo_.lanes(), 0.0);
        }
      }
      return lane_stats_->EndPass(pass, merged);  // into TakeLanes
    }
    result_ = static_cast<const WritePartial&>(merged);
    if (result_.elements != dataset_.layout.elements())
      return Error(Code::kWorkerFailed, name() + ": workers did not transform every element");
    return Status::OK();
  }

  Result<Json> Finish() override {
    // Every pass of the run is complete and msynced: the journal can go.
    if (journal_) MM_RETURN_IF_ERROR(RemoveJournalDir(dataset_.path, dataset_.fd()));
    Json j = ObjectWithRoom(7);  // mean and std (a million numbers) never copied
    j["fn"] = FnName(op_.fn);
    j["elements"] = result_.elements;
    j["changed"] = result_.changed;
    j["saturated"] = result_.saturated;
    j["journal"] = journal_;
    if (op_.fn == Fn::kNormalize) {
      // Only the write pass needed these; their room goes to the result.
      std::vector<__int128>().swap(anchor_);
      std::vector<double>().swap(anchor_frac_);
      std::vector<uint64_t> order(geo_.lanes());
      for (uint64_t l = 0; l < geo_.lanes(); ++l) order[geo_.OutputIndex(l)] = l;
      size_t pos = 0;
      j["mean"] = NestLanes(geo_.kept_shape(), 0, &pos,
                            [&](size_t i) { return JsonNumber(mean_[order[i]]); });
      pos = 0;
      j["std"] = NestLanes(geo_.kept_shape(), 0, &pos,
                           [&](size_t i) { return JsonNumber(std_[order[i]]); });
    }
    return j;
  }

 private:
  int StatsPasses() const { return lane_stats_ ? lane_stats_->passes() : 0; }
  bool IsStatsPass(int pass) const { return pass >= 0 && pass < StatsPasses(); }

  // The coordinator's end of a statistics pass: lanes [lo, hi)'s mean and
  // std (and, on 64-bit integers, the anchor k = trunc(sum / n) with the
  // fraction sum / n - k), lanes without values left NaN.
  Status TakeLanes(uint64_t lo, uint64_t hi, const LaneOf& lane) {
    // n values of a 64-bit integer type: k = trunc(sum / n) lies in its
    // range (the write pass carries it in 8 bytes), |sum - k n| < n. A
    // partial that says otherwise is refused.
    const bool is_signed = dataset_.layout.dtype.is_signed();
    const __int128 most = is_signed ? std::numeric_limits<int64_t>::max()
                                    : static_cast<__int128>(std::numeric_limits<uint64_t>::max());
    const __int128 least = is_signed ? std::numeric_limits<int64_t>::min() : 0;
    for (uint64_t l = lo; l < hi; ++l) {
      const LaneStats s = lane(l - lo);
      if (s.n == 0) continue;
      mean_[l] = s.mean + s.mean_lo;
      std_[l] = std::sqrt(s.m2 / static_cast<double>(s.n));
      if (wide_integer()) {
        const __int128 k = s.isum / s.n;
        if (k < least || k > most)
          return Error(Code::kDataErr, name() + ": a lane's sum lies outside its count's range");
        anchor_[l] = k;
        anchor_frac_[l] = static_cast<double>(s.isum - k * s.n) / static_cast<double>(s.n);
      }
    }
    return Status::OK();
  }

  // A statistics pass' scanner, each block slowed by the test hook as the
  // write pass' are.
  class SlowScanner : public Scanner {
   public:
    explicit SlowScanner(std::unique_ptr<Scanner> inner) : inner_(std::move(inner)) {}
    Status Consume(const BlockView& block, Partial* partial) override {
      // Only blocks read: a tile pass passes over the others.
      if (SlowBlockMs() > 0 && block.data != nullptr)
        std::this_thread::sleep_for(std::chrono::milliseconds(SlowBlockMs()));
      return inner_->Consume(block, partial);
    }

   private:
    std::unique_ptr<Scanner> inner_;
  };

  // The worker-side state of one pass (its scanner's).
  struct WorkerState {
    // The write pass (one worker process, one thread; the journal syncs and
    // counts on a second, see `commit`): the journal of this
    // worker, created with its first record, and the replay of a killed
    // earlier attempt's journal, made with the first window.
    std::unique_ptr<JournalWriter> writer;
    std::unique_ptr<JournalReplay> replay;
    // The record being made durable and counted on another thread
    // (JournalWriter::Commit) while the worker goes on, and the first
    // element of its window: the window's changes wait for it (BeforeClose),
    // the next record's Write too (one uncounted record at a time).
    std::future<Status> commit;
    uint64_t commit_window = 0;
    Status WaitCommit() {
      if (!commit.valid()) return Status::OK();
      return commit.get();
    }
  };
  class TransformScanner : public Scanner {
   public:
    TransformScanner(const Transform* t, int pass) : t_(*t), pass_(pass) {}
    Status BeginWindow(const BlockView& window) override {
      return t_.BeginWindow(pass_, window, &state_);
    }
    Status Consume(const BlockView& block, Partial* partial) override {
      return t_.Consume(block, partial);
    }
    // The journal's records are synced while the previous window is written back.
    bool CloseBehind() const override { return t_.journal_ && t_.WritesInPass(pass_); }
    Status BeforeClose(const BlockView& window) override {
      // Only the window whose record is still being counted waits: an
      // earlier window's record was counted before the next one was written.
      if (state_.commit.valid() && state_.commit_window == window.begin) return state_.WaitCommit();
      return Status::OK();
    }

   private:
    const Transform& t_;
    const int pass_;
    WorkerState state_;
  };

  // Journals a window of the write pass before it changes (restoring first
  // what a killed earlier attempt changed in it).
  Status BeginWindow(int pass, const BlockView& window, WorkerState* state) const;

  // A block of the write pass.
  Status Consume(const BlockView& block, Partial* base) const {
    if (SlowBlockMs() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(SlowBlockMs()));
    auto* p = static_cast<WritePartial*>(base);
    Counts c;
    Run<false>(block, &c);
    p->elements += block.end - block.begin;
    p->changed += c.changed;
    p->saturated += c.saturated;
    return Status::OK();
  }

  // Applies (or, kDry, probes) the transform over a block; true when kDry
  // found an element that would change.
  template <bool kDry>
  bool Run(const BlockView& block, Counts* c) const {
    const DType dt = dataset_.layout.dtype;
    Op op = op_;
    op.mean = mean_.data();
    op.stdv = std_.data();
    op.anchor = anchor_.data();
    op.anchor_frac = anchor_frac_.data();
    return VisitKind(dt.kind, [&](auto traits) -> bool {
      using T = decltype(traits);
      if (!T::kIsFloat && op.fn == Fn::kFillNan) return false;  // integers hold no NaN
      return dt.needs_swap() ? RunTyped<T, true, kDry>(op, traits, block, c)
                             : RunTyped<T, false, kDry>(op, traits, block, c);
    });
  }

  template <class T, bool kSwap, bool kDry>
  bool RunTyped(const Op& op, const T& traits, const BlockView& block, Counts* c) const {
    const uint64_t n = block.end - block.begin;
    switch (op.fn) {
      case Fn::kAffine:
        return ApplyRun<T, kSwap, Fn::kAffine, kDry>(op, traits, block.data, n, 0, false, c);
      case Fn::kClip:
        return ApplyRun<T, kSwap, Fn::kClip, kDry>(op, traits, block.data, n, 0, false, c);
      case Fn::kFillNan:
        return ApplyRun<T, kSwap, Fn::kFillNan, kDry>(op, traits, block.data, n, 0, false, c);
      case Fn::kNormalize: {
        bool found = false;
        geo_.ForEachRun(
            block.begin, block.end, [&](uint64_t off, uint64_t len, uint64_t lane, bool kept) {
              if (found) return;
              found = ApplyRun<T, kSwap, Fn::kNormalize, kDry>(
                  op, traits, block.data + off * sizeof(typename T::Storage), len, lane, kept, c);
            });
        return found;
      }
    }
    return false;
  }

  bool wide_integer() const {
    return dataset_.layout.dtype.is_integer() && dataset_.layout.dtype.itemsize() == 8;
  }

  Op op_;
  bool journal_;
  LaneGeometry geo_;
  std::vector<double> mean_, std_;  // normalize: by internal lane (NaN for an empty lane)
  std::vector<__int128> anchor_;    // normalize on 64-bit integers: see Op::anchor
  std::vector<double> anchor_frac_;
  std::unique_ptr<Analysis> lane_stats_;  // normalize's statistics passes (MakeLaneStatsPasses)
  WritePartial result_;
};

Status Transform::BeginWindow(int pass, const BlockView& window, WorkerState* state) const {
  if (!WritesInPass(pass) || !journal_) return Status::OK();
  const uint64_t item = static_cast<uint64_t>(dataset_.layout.dtype.itemsize());
  // The journal records file positions: only a raw or .npy dataset, whose
  // windows are mappings of the file, is transformed in place.
  const uint64_t offset = RawByteOffset(dataset_, window.begin);
  const uint64_t length = (window.end - window.begin) * item;
  if (!state->replay) {
    state->replay = std::make_unique<JournalReplay>(
        dataset_.path, static_cast<uint32_t>(spec_.index),
        JournalFilePath(dataset_.path, ::getpid(), static_cast<uint32_t>(spec_.index)));
  }
  // A retried range: put back what an earlier, killed attempt changed.
  uint64_t restored = 0;
  MM_RETURN_IF_ERROR(state->replay->RestoreInto(window.data, offset, length, &restored));
  Counts probe;
  if (!Run<true>(window, &probe)) return Status::OK();  // nothing changes: no record needed
  // The journal is created with the first record: a transform that changes
  // nothing writes no journal file.
  if (!state->writer) {
    struct stat st;  // the identity of the file the run opened, not of what the path names now
    if (::fstat(dataset_.fd(), &st) != 0) return FromErrno(errno, dataset_.path, Code::kIoErr);
    DatasetIdentity id;
    id.dev = static_cast<uint64_t>(st.st_dev);
    id.ino = static_cast<uint64_t>(st.st_ino);
    id.size = static_cast<uint64_t>(st.st_size);
    MM_ASSIGN_OR_RETURN(state->writer,
                        JournalWriter::Create(dataset_.path, id, static_cast<uint32_t>(::getppid()),
                                              static_cast<uint32_t>(spec_.index)));
  }
  // One uncounted record at a time: the previous window's must be counted
  // before this one is written.
  MM_RETURN_IF_ERROR(state->WaitCommit());
  MM_RETURN_IF_ERROR(state->writer->Write(offset, window.data, length));
  // The record is in the file: the window may change in memory while the
  // disk makes it durable; BeforeClose waits for the count before the
  // window's changes are written to DATA.
  JournalWriter* writer = state->writer.get();
  try {
    state->commit = std::async(std::launch::async, [writer] { return writer->Commit(); });
  } catch (const std::system_error&) {
    return writer->Commit();  // no thread to be had (RLIMIT_NPROC): wait here
  }
  state->commit_window = window.begin;
  return Status::OK();
}

// A number parameter kept exactly (JSON integers up to 64 bits, and
// integral doubles, are exact in `i`).
Result<ExactNumber> ExactParam(const AnalysisSpec& spec, const std::string& key, double def) {
  ExactNumber n;
  if (!spec.params.contains(key)) {
    n.d = def;
  } else {
    const Json& v = spec.params[key];
    if (v.is_number_unsigned()) {
      n.i = static_cast<__int128>(v.get<uint64_t>());
      n.d = static_cast<double>(v.get<uint64_t>());
      n.integral = true;
      return n;
    }
    if (v.is_number_integer()) {
      n.i = static_cast<__int128>(v.get<int64_t>());
      n.d = static_cast<double>(v.get<int64_t>());
      n.integral = true;
      return n;
    }
    if (!v.is_number()) return ParamError(spec, key, "must be a number, got " + v.dump());
    n.d = v.get<double>();
  }
  if (std::isfinite(n.d) && n.d == std::floor(n.d) && std::fabs(n.d) < 0x1p100) {
    n.i = static_cast<__int128>(n.d);
    n.integral = true;
  }
  return n;
}

Result<double> Number(const AnalysisSpec& spec, const std::string& key, double def,
                      bool named_floats) {
  if (!spec.params.contains(key)) return def;
  const Json& v = spec.params[key];
  if (v.is_number()) return v.get<double>();
  if (named_floats && v.is_string()) {
    Result<double> d = JsonToDouble(v);
    if (d.ok()) return d;
  }
  return ParamError(spec, key,
                    std::string("must be a number") +
                        (named_floats ? " (or \"NaN\", \"Infinity\", \"-Infinity\")" : "") +
                        ", got " + v.dump());
}

}  // namespace

Result<std::unique_ptr<Analysis>> MakeTransform(const AnalysisSpec& spec, const Dataset& dataset,
                                                const Partition& partition) {
  const std::string where = "analyses[" + std::to_string(spec.index) + "]";
  const Json& p = spec.params;
  if (!p.contains("fn") || !p["fn"].is_string())
    return ParamError(spec, "fn",
                      "is required: \"affine\", \"clip\", \"fill_nan\" or \"normalize\"");
  const std::string fn = p["fn"].get<std::string>();
  Op op;
  std::vector<std::string> keys = {"fn", "journal"};
  if (fn == "affine") {
    op.fn = Fn::kAffine;
    keys.insert(keys.end(), {"scale", "offset"});
  } else if (fn == "clip") {
    op.fn = Fn::kClip;
    keys.insert(keys.end(), {"min", "max"});
  } else if (fn == "fill_nan") {
    op.fn = Fn::kFillNan;
    keys.insert(keys.end(), {"value"});
  } else if (fn == "normalize") {
    op.fn = Fn::kNormalize;
    keys.insert(keys.end(), {"axis"});
  } else {
    return ParamError(spec, "fn",
                      "must be affine, clip, fill_nan or normalize, got " + p["fn"].dump());
  }
  MM_RETURN_IF_ERROR(CheckKeys(p, keys, where));
  if (dataset.mode != "r+")
    return ParamError(
        spec, "op",
        "transform changes the file in place and needs \"dataset.mode\": \"r+\" (got \"" +
            dataset.mode + "\")");
  bool journal = true;
  if (p.contains("journal")) {
    if (!p["journal"].is_boolean())
      return ParamError(spec, "journal", "must be true or false, got " + p["journal"].dump());
    journal = p["journal"].get<bool>();
  }
  LaneGeometry geo;
  switch (op.fn) {
    case Fn::kAffine: {
      MM_ASSIGN_OR_RETURN(ExactNumber scale, ExactParam(spec, "scale", 1.0));
      MM_ASSIGN_OR_RETURN(ExactNumber offset, ExactParam(spec, "offset", 0.0));
      op.scale = scale.d;
      op.offset = offset.d;
      if (!std::isfinite(op.scale)) return ParamError(spec, "scale", "must be finite");
      if (!std::isfinite(op.offset)) return ParamError(spec, "offset", "must be finite");
      op.int_affine = scale.integral && offset.integral;
      op.iscale = scale.i;
      op.ioffset = offset.i;
      break;
    }
    case Fn::kClip: {
      ExactNumber lo, hi;
      for (const char* k : {"min", "max"}) {
        if (!p.contains(k) || p[k].is_null()) continue;
        const bool is_min = std::string(k) == "min";
        MM_ASSIGN_OR_RETURN((is_min ? lo : hi), ExactParam(spec, k, 0.0));
        (is_min ? op.lo : op.hi) = (is_min ? lo : hi).d;
        (is_min ? op.has_lo : op.has_hi) = true;
      }
      if (!op.has_lo && !op.has_hi)
        return ParamError(spec, "min", "clip needs \"min\", \"max\" or both");
      op.ilo = lo.integral ? lo.i : RoundedToInt128(lo.d, /*up=*/true);
      op.ihi = hi.integral ? hi.i : RoundedToInt128(hi.d, /*up=*/false);
      if (op.has_lo && op.has_hi && (op.lo > op.hi || (lo.integral && hi.integral && lo.i > hi.i)))
        return ParamError(spec, "max", "must be >= min (" + JsonNumber(op.lo).dump() + ")");
      break;
    }
    case Fn::kFillNan: {
      if (!p.contains("value"))
        return ParamError(spec, "value", "is required: the number that replaces NaN");
      MM_ASSIGN_OR_RETURN(op.value, Number(spec, "value", 0.0, true));
      break;
    }
    case Fn::kNormalize: {
      const Json axis = p.contains("axis") ? p["axis"] : Json(0);
      MM_ASSIGN_OR_RETURN(std::vector<int> reduced, ParseAxes(spec, axis, dataset.layout.ndim()));
      geo = LaneGeometry(dataset.layout, reduced);
      if (geo.lanes() > kMaxNormalizeLanes)
        return ParamError(spec, "axis",
                          "normalize would keep " + std::to_string(geo.lanes()) +
                              " lanes (at most " + std::to_string(kMaxNormalizeLanes) +
                              "); reduce more axes");
      break;
    }
  }
  return std::unique_ptr<Analysis>(
      new Transform(spec, dataset, partition, op, journal, std::move(geo)));
}

}  // namespace mm
