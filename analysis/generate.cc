#include "analysis/generate.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "analysis/hdf5_copy.h"
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

// log(x) for x in (0, 1], normal (u1 >= 2^-53): x = 2^e m with m in
// [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with s = (m - 1) / (m + 1), |s|
// <= 0.1716, summed to s^21 (the next term is below 2^-56 of the sum).
double LogUnit(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  int64_t e = static_cast<int64_t>(bits >> 52) - 1023;
  bits = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);
  double m;
  std::memcpy(&m, &bits, sizeof m);  // [1, 2)
  if (m > 1.4142135623730951) m *= 0.5, e += 1;
  const double s = (m - 1.0) / (m + 1.0), z = s * s;
  static constexpr double kOdd[] = {
      0x1.5555555555555p-2, 0x1.999999999999ap-3, 0x1.2492492492492p-3, 0x1.c71c71c71c71cp-4,
      0x1.745d1745d1746p-4, 0x1.3b13b13b13b14p-4, 0x1.1111111111111p-4, 0x1.e1e1e1e1e1e1ep-5,
      0x1.af286bca1af28p-5, 0x1.8618618618618p-5};  // 1/3, ..., 1/21
  double poly = kOdd[9];
  for (int k = 8; k >= 0; --k) poly = poly * z + kOdd[k];
  const double log_m = 2.0 * s + 2.0 * s * (z * poly);  // 2 (s + s^3/3 + ... + s^21/21)
  const double ed = static_cast<double>(e);
  // ln 2 in two parts: hi has 32 significant bits, so ed * hi is exact.
  constexpr double kLn2Hi = 0.6931471803691238, kLn2Lo = 1.9082149292705877e-10;
  return ed * kLn2Hi + (log_m + ed * kLn2Lo);
}

// sin(t) and cos(t) for t in [0, pi/4]: Taylor series to t^19 and t^18
// (the next terms are below 2^-60 of the result), coefficients +-1/n!
// rounded to double, summed by Horner's rule from the smallest term.
void SinCosQuarter(double t, double* sin_t, double* cos_t) {
  static constexpr double kSin[] = {
      -0x1.5555555555555p-3,  0x1.1111111111111p-7,   -0x1.a01a01a01a01ap-13,
      0x1.71de3a556c734p-19,  -0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33,
      -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49,  -0x1.2f49b46814157p-57};  // 1/3!, ..., 1/19!
  static constexpr double kCos[] = {
      -0x1.0000000000000p-1,  0x1.5555555555555p-5,   -0x1.6c16c16c16c17p-10,
      0x1.a01a01a01a01ap-16,  -0x1.27e4fb7789f5cp-22, 0x1.1eed8eff8d898p-29,
      -0x1.93974a8c07c9dp-37, 0x1.ae7f3e733b81fp-45,  -0x1.6827863b97d97p-53};  // 1/2!, ..., 1/18!
  const double z = t * t;
  double sp = kSin[8], cp = kCos[8];
  for (int k = 7; k >= 0; --k) sp = sp * z + kSin[k], cp = cp * z + kCos[k];
  *sin_t = t + t * (z * sp);
  *cos_t = 1.0 + z * cp;
}

// cos(2 pi u) for u in [0, 1): 4u = q + f exactly (u is a multiple of
// 2^-53), the quarter turn q picks the sign and sin or cos of f pi/2, and
// f > 1/2 folds to 1 - f (exact) so the series only sees [0, pi/4].
// Without branches: q and the fold are random, and mispredicted jumps cost
// more than both series.
double CosTurn(double u) {
  const double t4 = u * 4.0;
  const int64_t q = static_cast<int64_t>(t4);
  const double f0 = t4 - static_cast<double>(q);
  const bool fold = f0 > 0.5;
  const double f = fold ? 1.0 - f0 : f0;
  double s, c;
  SinCosQuarter(f * 1.5707963267948966, &s, &c);
  // cos(pi/2 - a) = sin a; quarters 1 and 3 take sin, 1 and 2 are negative.
  const double v = ((q & 1) != 0) != fold ? s : c;
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits ^= static_cast<uint64_t>(((q + 1) >> 1) & 1) << 63;
  double out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

enum class FillKind { kUniform, kNormal, kArange, kConstant };

struct Fill {
  FillKind kind = FillKind::kConstant;
  double a = 0, b = 1;  // uniform: low, high; normal: mean, std; constant: value
  uint64_t seed = 0;
  __int128 exact = 0;  // constant: the value truncated toward zero, exactly
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
      double v = fill.a + fill.b * StandardNormal(u1, u2);
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

// The elements of `box` (a chunk of an array of `shape`, C order) into
// `out`, C order of the whole chunk shape `chunk`; the rest of an edge
// chunk is 0 (the HDF5 fill value).
template <class Traits, bool kSwap>
void FillChunk(const Fill& fill, const std::vector<int64_t>& shape, const Box& box,
               const std::vector<int64_t>& chunk, char* out, uint64_t chunk_bytes) {
  using S = typename Traits::Storage;
  const size_t n = shape.size();
  if (box.count != chunk) std::memset(out, 0, chunk_bytes);
  std::vector<uint64_t> strides(n, 1), chunk_strides(n, 1);
  for (size_t a = n - 1; a > 0; --a) {
    strides[a - 1] = strides[a] * static_cast<uint64_t>(shape[a]);
    chunk_strides[a - 1] = chunk_strides[a] * static_cast<uint64_t>(chunk[a]);
  }
  // One run along the last axis per index of the others (odometer).
  const uint64_t run = static_cast<uint64_t>(box.count[n - 1]);
  std::vector<int64_t> idx(n, 0);
  for (;;) {
    uint64_t from = 0, to = 0;
    for (size_t a = 0; a < n; ++a) {
      from += static_cast<uint64_t>(box.start[a] + idx[a]) * strides[a];
      to += static_cast<uint64_t>(idx[a]) * chunk_strides[a];
    }
    for (uint64_t t = 0; t < run; ++t) {
      S v = ValueAt<Traits>(fill, from + t);
      if constexpr (kSwap) v = ByteSwap(v);
      std::memcpy(out + (to + t) * sizeof(S), &v, sizeof(S));
    }
    size_t a = n - 1;
    while (a > 0 && ++idx[a - 1] == box.count[a - 1]) idx[--a] = 0;
    if (a == 0) return;
  }
}

// Writes the dataset file: raw or .npy through the engine's writable
// windows (WritePath, the file's temporary); HDF5 as an output of
// analysis/hdf5_copy.h whose elements come from ValueAt: a contiguous one
// through the same windows at the dataset's offset, a chunked one chunk by
// chunk (the chunks dealt to the blocks, no window mapped: WritePath is then
// the spool, which workers open and check but never map).
class Generate : public Analysis {
 public:
  Generate(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition, Fill fill,
           std::optional<Hdf5OutputSpec> hdf5)
      : Analysis(spec, dataset, partition), fill_(fill), hdf5_(std::move(hdf5)) {
    caps_.writes_dataset = true;  // creates_dataset: its registry line
    if (hdf5_)
      h5_ = Hdf5OutputFile(dataset.path, *hdf5_, dataset.layout.dtype, dataset.layout.shape);
  }

  std::unique_ptr<Partial> NewPartial(int) const override {
    if (chunked()) return std::make_unique<ChunkListPartial>();
    return std::make_unique<WrittenCount>();
  }
  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    if (chunked()) return ChunkListPartial::FromJson(j, h5_.grid().count(), h5_.slot_bytes());
    return WrittenCount::FromJson(j, dataset_.layout.elements(), name());
  }

  // The dataset it creates (registered as an output of the run: -o, the
  // config's output or --lock naming it would replace the data).
  std::vector<std::string> CreatedFiles() const override { return {dataset_.path}; }

  // A chunked HDF5 output maps nothing: each block's chunks are computed.
  bool NeedsBlock(int, uint64_t, uint64_t) const override { return !chunked(); }

  std::unique_ptr<Scanner> NewScanner(int) const override {
    if (chunked()) return std::make_unique<ChunkScanner>(this);
    return MakeScanner(NoState(), [this](const BlockView& block, Partial* partial, NoState*) {
      const Layout& layout = dataset_.layout;
      VisitDType(layout.dtype, [&](auto traits, auto swap) {
        FillBlock<decltype(traits), decltype(swap)::value>(fill_, layout, block);
      });
      static_cast<WrittenCount*>(partial)->n += block.end - block.begin;
      return Status::OK();
    });
  }

  Json PassInput(int) const override { return TempFilesJson(files_); }
  Status SetPassInput(int, const Json& input) override {
    MM_ASSIGN_OR_RETURN(files_, TempFilesFromJson(input, name()));
    return Status::OK();
  }

  Status Prepare() override {
    if (chunked()) {
      MM_RETURN_IF_ERROR(h5_.CreateSpool());
      files_.spool_path = h5_.spool_path();
      files_.spool_id = h5_.spool_id();
      return Status::OK();
    }
    if (hdf5_) {
      MM_RETURN_IF_ERROR(h5_.CreateContiguous());
      files_.temp_path = h5_.temp_path();
      files_.temp_id = h5_.temp_id();
      files_.data_offset = h5_.data_offset();
      return Status::OK();
    }
    MM_ASSIGN_OR_RETURN(out_, TempOutput::Create(dataset_.path));
    if (dataset_.format == "npy") {
      MM_RETURN_IF_ERROR(out_.Write(BuildNpyHeader(dataset_.layout.dtype, dataset_.layout.shape,
                                                   dataset_.layout.order == 'F')));
    }
    MM_RETURN_IF_ERROR(out_.Reserve(dataset_.file_bytes));
    files_.temp_path = out_.temp_path();
    MM_ASSIGN_OR_RETURN(files_.temp_id, IdOfFd(out_.fd(), files_.temp_path));
    files_.data_offset = dataset_.layout.offset;
    return Status::OK();
  }

  std::string WritePath() const override {
    return chunked() ? files_.spool_path : files_.temp_path;
  }
  uint64_t WriteOffset() const override { return chunked() ? 0 : files_.data_offset; }
  std::optional<FileId> WriteFileId() const override {
    return chunked() ? files_.spool_id : files_.temp_id;
  }

  Status EndPass(int, const Partial& merged) override {
    if (chunked()) {
      MM_RETURN_IF_ERROR(h5_.WriteChunks(static_cast<const ChunkListPartial&>(merged)));
      return h5_.Commit();
    }
    MM_RETURN_IF_ERROR(static_cast<const WrittenCount&>(merged).CheckAll(dataset_.layout.elements(),
                                                                         "elements", name()));
    // Later analyses read the file at its real path.
    return hdf5_ ? h5_.Commit() : out_.Commit();
  }

  Result<Json> Finish() override {
    Json j = Json::object();
    j["path"] = dataset_.path;
    j["format"] = dataset_.format;
    j["dtype"] = dataset_.layout.dtype.descr();
    j["shape"] = dataset_.layout.shape;
    j["bytes"] = dataset_.file_bytes;
    if (hdf5_) MM_RETURN_IF_ERROR(h5_.Describe(&j));
    return j;
  }

 private:
  bool chunked() const { return hdf5_ && !hdf5_->chunks.empty(); }

  // A worker's chunks of a chunked HDF5 output: block k of B computes chunks
  // [M k / B, M (k + 1) / B) of the M in grid C order (ChunkGrid::
  // ChunksOfBlock), one at a time, into the spool (hdf5_copy.h).
  class ChunkScanner : public Scanner {
   public:
    explicit ChunkScanner(const Generate* g)
        : g_(*g),
          grid_(g->h5_.grid()),
          spool_(*g->hdf5_, g->dataset_.layout.dtype, g->files_.spool_path, g->files_.spool_id,
                 g->dataset_.path) {}

    Status Consume(const BlockView& block, Partial* partial) override {
      auto* out = static_cast<ChunkListPartial*>(partial);
      const auto [c0, c1] = grid_.ChunksOfBlock(block.block, g_.partition_.blocks());
      out->first = c0;
      if (c0 == c1) return Status::OK();
      MM_RETURN_IF_ERROR(spool_.Open());
      const Layout& layout = g_.dataset_.layout;
      for (uint64_t c = c0; c < c1; ++c) {
        const Box box = grid_.ChunkBox(c);
        VisitDType(layout.dtype, [&](auto traits, auto swap) {
          FillChunk<decltype(traits), decltype(swap)::value>(
              g_.fill_, layout.shape, box, g_.hdf5_->chunks, spool_.chunk(), spool_.chunk_bytes());
        });
        MM_RETURN_IF_ERROR(spool_.Put(c, out));
      }
      return Status::OK();
    }

   private:
    const Generate& g_;
    ChunkGrid grid_;
    ChunkSpoolWriter spool_;
  };

  Fill fill_;
  std::optional<Hdf5OutputSpec> hdf5_;
  TempOutput out_;     // coordinator: a raw or .npy file
  Hdf5OutputFile h5_;  // coordinator: an HDF5 file (a chunked one's spool)
  TempFiles files_;    // coordinator and workers: what workers open by name
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

double StandardNormal(double u1, double u2) { return std::sqrt(-2.0 * LogUnit(u1)) * CosTurn(u2); }

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
  // An HDF5 file: its parameters are the dataset section's (errors name
  // dataset.KEY).
  std::optional<Hdf5OutputSpec> hdf5;
  if (dataset.format == "hdf5") {
    MM_ASSIGN_OR_RETURN(hdf5, ParseHdf5Output(dataset.hdf5_output, dataset.layout.shape,
                                              dataset.layout.dtype, "dataset.", "data"));
  }
  return std::unique_ptr<Analysis>(new Generate(spec, dataset, partition, fill, std::move(hdf5)));
}

}  // namespace mm
