#include "analysis/generate.h"

#include <cmath>
#include <limits>

#include "core/npy.h"
#include "io/files.h"

namespace mm {

namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class FillKind { kUniform, kNormal, kArange, kConstant };

struct Fill {
  FillKind kind = FillKind::kConstant;
  double a = 0, b = 1;  // uniform: low, high; normal: mean, std; constant: value
  uint64_t seed = 0;
  __int128 exact = 0;  // constant: the value truncated toward zero, exactly
};

class GeneratePartial : public Partial {
 public:
  uint64_t elements = 0;
  void Merge(const Partial& right) override {
    elements += static_cast<const GeneratePartial&>(right).elements;
  }
  Json ToJson() const override { return Json{{"elements", elements}}; }
};

// Stores double v into an element of Traits, as numpy's astype (unsafe) would
// for floats, and saturating for integers (values are range-checked earlier
// where numpy would raise).
template <class Traits>
typename Traits::Storage Cast(double v) {
  using S = typename Traits::Storage;
  if constexpr (Traits::kKind == Kind::kFloat16) {
    return DoubleToHalf(v);
  } else if constexpr (Traits::kIsFloat) {
    return static_cast<S>(v);
  } else if constexpr (Traits::kIsBool) {
    return static_cast<S>(v != 0);
  } else {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<double>(std::numeric_limits<S>::lowest()))
      return std::numeric_limits<S>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<S>::max()))
      return std::numeric_limits<S>::max();
    return static_cast<S>(v);
  }
}

// `r` if it is below fill.b, else the largest value of the type below
// fill.b (and not below fill.a; fill.a < fill.b).
template <class Traits>
typename Traits::Storage BelowHigh(typename Traits::Storage r, const Fill& fill) {
  if constexpr (Traits::kKind == Kind::kFloat16) {
    // Positive halves order like their bits, negative ones reversed.
    while (HalfToDouble(r) >= fill.b && HalfToDouble(r) > fill.a)
      r = static_cast<uint16_t>((r & 0x8000) || r == 0 ? (r | 0x8000) + 1 : r - 1);
    return r;
  } else if constexpr (Traits::kIsFloat) {
    using S = typename Traits::Storage;
    while (static_cast<double>(r) >= fill.b && static_cast<double>(r) > fill.a)
      r = std::nextafter(r, -std::numeric_limits<S>::infinity());
    return r;
  } else {
    return r;
  }
}

template <class Traits>
typename Traits::Storage ValueAt(const Fill& fill, uint64_t index) {
  using S = typename Traits::Storage;
  switch (fill.kind) {
    case FillKind::kUniform: {
      // [low, high): low + u * (high - low) with u < 1 can still round to
      // high, in double and again when stored as a narrower float.
      double v = fill.a + CounterUniform(fill.seed, index, 0) * (fill.b - fill.a);
      if (v >= fill.b) v = std::nextafter(fill.b, fill.a);
      if constexpr (!Traits::kIsFloat) v = std::floor(v);
      return BelowHigh<Traits>(Cast<Traits>(v), fill);
    }
    case FillKind::kNormal: {
      const double u1 = 1.0 - CounterUniform(fill.seed, index, 0);  // (0, 1]
      const double u2 = CounterUniform(fill.seed, index, 1);
      double v = fill.a + fill.b * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      if constexpr (!Traits::kIsFloat) v = std::nearbyint(v);
      return Cast<Traits>(v);
    }
    case FillKind::kArange:
      if constexpr (Traits::kIsBool) {
        return static_cast<S>(index != 0);
      } else if constexpr (Traits::kIsFloat) {
        return Cast<Traits>(static_cast<double>(index));
      } else {
        return static_cast<S>(index);  // wraps modulo 2^bits, as numpy's astype
      }
    case FillKind::kConstant:
      if constexpr (Traits::kIsInteger)
        return static_cast<S>(fill.exact);  // range-checked at config time
      return Cast<Traits>(fill.a);
  }
  return S{};
}

template <class Traits, bool kSwap>
void FillBlock(const Fill& fill, const Layout& layout, const BlockView& block) {
  using S = typename Traits::Storage;
  const int nd = layout.ndim();
  char* out = block.data;
  if (layout.order == 'C' || nd == 1) {
    for (uint64_t i = block.begin; i < block.end; ++i) {
      S v = ValueAt<Traits>(fill, i);
      if constexpr (kSwap) v = ByteSwap(v);
      std::memcpy(out + (i - block.begin) * sizeof(S), &v, sizeof(S));
    }
    return;
  }
  // F order: walk storage dims (reversed shape) with an odometer and keep
  // the element's flat C index alongside.
  std::vector<uint64_t> dims(static_cast<size_t>(nd)), cstride(static_cast<size_t>(nd)),
      idx(static_cast<size_t>(nd));
  uint64_t acc = 1;
  for (int a = nd - 1; a >= 0; --a) {
    cstride[static_cast<size_t>(a)] = acc;
    acc *= static_cast<uint64_t>(layout.shape[static_cast<size_t>(a)]);
  }
  // Storage dim s is axis nd-1-s.
  uint64_t rest = block.begin, c = 0;
  for (int s = nd - 1; s >= 0; --s) {
    const size_t ax = static_cast<size_t>(nd - 1 - s);
    dims[static_cast<size_t>(s)] = static_cast<uint64_t>(layout.shape[ax]);
    idx[static_cast<size_t>(s)] = rest % dims[static_cast<size_t>(s)];
    rest /= dims[static_cast<size_t>(s)];
    c += idx[static_cast<size_t>(s)] * cstride[ax];
  }
  for (uint64_t i = block.begin; i < block.end; ++i) {
    S v = ValueAt<Traits>(fill, c);
    if constexpr (kSwap) v = ByteSwap(v);
    std::memcpy(out + (i - block.begin) * sizeof(S), &v, sizeof(S));
    for (int s = nd - 1; s >= 0; --s) {
      const size_t ax = static_cast<size_t>(nd - 1 - s);
      c += cstride[ax];
      if (++idx[static_cast<size_t>(s)] < dims[static_cast<size_t>(s)]) break;
      c -= cstride[ax] * dims[static_cast<size_t>(s)];
      idx[static_cast<size_t>(s)] = 0;
    }
  }
}

class Generate : public Analysis {
 public:
  Generate(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition, Fill fill)
      : Analysis(spec, dataset, partition), fill_(fill) {
    caps_.writes_dataset = true;  // creates_dataset: its registry line
  }

  std::unique_ptr<Partial> NewPartial(int) const override {
    return std::make_unique<GeneratePartial>();
  }
  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    auto p = std::make_unique<GeneratePartial>();
    if (!j.is_object() || !j.contains("elements") || !j["elements"].is_number_unsigned())
      return Error(Code::kDataErr, "generate partial: malformed");
    p->elements = j["elements"].get<uint64_t>();
    return std::unique_ptr<Partial>(std::move(p));
  }

  std::unique_ptr<Scanner> NewScanner(int) const override {
    return MakeScanner(NoState(), [this](const BlockView& block, Partial* partial, NoState*) {
      const Layout& layout = dataset_.layout;
      VisitDType(layout.dtype, [&](auto traits, auto swap) {
        FillBlock<decltype(traits), decltype(swap)::value>(fill_, layout, block);
      });
      static_cast<GeneratePartial*>(partial)->elements += block.end - block.begin;
      return Status::OK();
    });
  }

  Status Prepare() override {
    MM_ASSIGN_OR_RETURN(out_, TempOutput::Create(dataset_.path));
    if (dataset_.format == "npy") {
      MM_RETURN_IF_ERROR(out_.Write(BuildNpyHeader(dataset_.layout.dtype, dataset_.layout.shape,
                                                   dataset_.layout.order == 'F')));
    }
    return out_.Reserve(dataset_.file_bytes);
  }

  std::string WritePath() const override { return out_.temp_path(); }

  Status EndPass(int, const Partial& merged) override {
    if (static_cast<const GeneratePartial&>(merged).elements != dataset_.layout.elements())
      return Error(Code::kWorkerFailed, name() + ": workers did not write every element");
    return out_.Commit();  // later analyses read the file at its real path
  }

  Result<Json> Finish() override {
    Json j = Json::object();
    j["path"] = dataset_.path;
    j["format"] = dataset_.format;
    j["dtype"] = dataset_.layout.dtype.descr();
    j["shape"] = dataset_.layout.shape;
    j["bytes"] = dataset_.file_bytes;
    return j;
  }

 private:
  Fill fill_;
  TempOutput out_;
};

Result<double> Number(const AnalysisSpec& spec, const Json& fill, const std::string& key,
                      double def) {
  if (!fill.contains(key)) return def;
  if (!fill[key].is_number())
    return ParamError(spec, "fill." + key, "must be a number, got " + fill[key].dump());
  return fill[key].get<double>();
}

}  // namespace

double CounterUniform(uint64_t seed, uint64_t index, uint64_t stream) {
  const uint64_t r = SplitMix(SplitMix(seed) ^ (index * 2 + stream));
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

Result<std::unique_ptr<Analysis>> MakeGenerate(const AnalysisSpec& spec, const Dataset& dataset,
                                               const Partition& partition) {
  const std::string where = "analyses[" + std::to_string(spec.index) + "]";
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, {"fill"}, where));
  if (dataset.mode != "w+")
    return ParamError(spec, "op", "generate needs the dataset's \"mode\": \"w+\"");
  if (!spec.params.contains("fill") || !spec.params["fill"].is_object() ||
      !spec.params["fill"].contains("kind"))
    return ParamError(
        spec, "fill",
        "is required: {\"kind\": \"uniform\"|\"normal\"|\"arange\"|\"constant\", ...}");
  const Json& f = spec.params["fill"];
  const std::string kind = f["kind"].is_string() ? f["kind"].get<std::string>() : "";
  Fill fill;
  std::vector<std::string> keys;
  if (kind == "uniform") {
    fill.kind = FillKind::kUniform;
    keys = {"kind", "low", "high", "seed"};
    MM_ASSIGN_OR_RETURN(fill.a, Number(spec, f, "low", 0.0));
    MM_ASSIGN_OR_RETURN(fill.b, Number(spec, f, "high", 1.0));
    if (!(fill.a < fill.b)) return ParamError(spec, "fill.high", "must be greater than low");
  } else if (kind == "normal") {
    fill.kind = FillKind::kNormal;
    keys = {"kind", "mean", "std", "seed"};
    MM_ASSIGN_OR_RETURN(fill.a, Number(spec, f, "mean", 0.0));
    MM_ASSIGN_OR_RETURN(fill.b, Number(spec, f, "std", 1.0));
    if (!(fill.b >= 0)) return ParamError(spec, "fill.std", "must be >= 0");
  } else if (kind == "arange") {
    fill.kind = FillKind::kArange;
    keys = {"kind"};
  } else if (kind == "constant") {
    fill.kind = FillKind::kConstant;
    keys = {"kind", "value"};
    if (!f.contains("value") || !(f["value"].is_number() || f["value"].is_boolean()))
      return ParamError(spec, "fill.value", "is required and must be a number");
    const Json& v = f["value"];
    fill.a = v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>();
    if (v.is_number_unsigned()) {
      fill.exact = static_cast<__int128>(v.get<uint64_t>());
    } else if (v.is_number_integer()) {
      fill.exact = v.get<int64_t>();
    } else if (std::fabs(fill.a) < 1e38) {
      fill.exact = static_cast<__int128>(std::trunc(fill.a));
    } else {
      fill.exact =
          fill.a > 0 ? std::numeric_limits<__int128>::max() : std::numeric_limits<__int128>::min();
    }
    const DType dt = dataset.layout.dtype;
    if (dt.is_integer()) {
      bool fits = true;
      VisitKind(dt.kind, [&](auto traits) {
        using S = typename decltype(traits)::Storage;
        if constexpr (decltype(traits)::kIsInteger) {
          fits = fill.exact >= static_cast<__int128>(std::numeric_limits<S>::lowest()) &&
                 fill.exact <= static_cast<__int128>(std::numeric_limits<S>::max());
        }
      });
      if (!fits || std::isnan(fill.a))
        return ParamError(spec, "fill.value", v.dump() + " is out of range for " + dt.name());
    }
  } else {
    return ParamError(spec, "fill.kind",
                      "must be uniform, normal, arange or constant, got " + f["kind"].dump());
  }
  MM_RETURN_IF_ERROR(CheckKeys(f, keys, where + ".fill"));
  if (f.contains("seed")) {
    if (!f["seed"].is_number_integer() || f["seed"].get<int64_t>() < 0)
      return ParamError(spec, "fill.seed", "must be a non-negative integer");
    fill.seed = f["seed"].get<uint64_t>();
  }
  return std::unique_ptr<Analysis>(new Generate(spec, dataset, partition, fill));
}

}  // namespace mm
