#include "analysis/cov.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "analysis/load_doubles.h"
#include "analysis/npy_fields.h"
#include "analysis/stats.h"
#include "analysis/stats_simd.h"
#include "core/npy.h"
#include "io/files.h"
#include "source/partition.h"
#include "source/registry.h"

namespace mm {

namespace {

// Index of (i, j), i <= j, in a row-major upper triangle of a k x k matrix.
inline size_t Tri(size_t k, size_t i, size_t j) { return i * k - i * (i - 1) / 2 + (j - i); }

class CovPartial : public Partial {
 public:
  explicit CovPartial(size_t k) : k_(k) {}
  int64_t n = 0;    // observations used
  int64_t nan = 0;  // observations skipped
  // The means are mean + mean_lo, as a stats lane's (docs/ARCHITECTURE.md,
  // "A mean in two parts", MoveMean).
  std::vector<double> mean;     // k; empty while n == 0
  std::vector<double> mean_lo;  // k; empty while n == 0
  std::vector<double> c;        // upper triangle of the co-moments; empty while n == 0

  size_t k() const { return k_; }

  void Merge(const Partial& right_base) override {
    const auto& r = static_cast<const CovPartial&>(right_base);
    nan += r.nan;
    if (r.n == 0) return;
    if (n == 0) {
      n = r.n;
      mean = r.mean;
      mean_lo = r.mean_lo;
      c = r.c;
      return;
    }
    // Chan et al.'s update, multivariate: deltas of the means, then the
    // co-moments gain delta_i * delta_j * na * nb / n.
    const double na = static_cast<double>(n), nb = static_cast<double>(r.n), nt = na + nb;
    const double f = na * nb / nt;
    std::vector<double> delta(k_);
    for (size_t i = 0; i < k_; ++i) delta[i] = (r.mean[i] - mean[i]) + (r.mean_lo[i] - mean_lo[i]);
    for (size_t i = 0; i < k_; ++i) {
      const size_t row = Tri(k_, i, i);
      const double di = delta[i] * f;
      for (size_t j = i; j < k_; ++j)
        c[row + j - i] = c[row + j - i] + r.c[row + j - i] + di * delta[j];
    }
    for (size_t i = 0; i < k_; ++i) MoveMean(&mean[i], &mean_lo[i], delta[i] * (nb / nt));
    n += r.n;
  }

  Json ToJson() const override {
    Json j = Json::object();
    j["n"] = n;
    j["nan"] = nan;
    Json m = Json::array(), lo = Json::array(), cc = Json::array();
    for (double v : mean) m.push_back(JsonNumber(v));
    for (double v : mean_lo) lo.push_back(JsonNumber(v));
    for (double v : c) cc.push_back(JsonNumber(v));
    j["mean"] = std::move(m);
    j["mean_lo"] = std::move(lo);
    j["c"] = std::move(cc);
    return j;
  }

  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, size_t k) {
    auto p = std::make_unique<CovPartial>(k);
    if (!j.is_object() || !j.contains("n") || !j.contains("nan") || !j.contains("mean") ||
        !j.contains("mean_lo") || !j.contains("c") || !j["n"].is_number_integer() ||
        !j["nan"].is_number_integer() || !j["mean"].is_array() || !j["mean_lo"].is_array() ||
        !j["c"].is_array())
      return Error(Code::kDataErr, "cov partial: malformed");
    p->n = j["n"].get<int64_t>();
    p->nan = j["nan"].get<int64_t>();
    const size_t want_m = p->n > 0 ? k : 0, want_c = p->n > 0 ? k * (k + 1) / 2 : 0;
    if (j["mean"].size() != want_m || j["mean_lo"].size() != want_m || j["c"].size() != want_c)
      return Error(Code::kDataErr, "cov partial: wrong number of values");
    p->mean.resize(want_m);
    p->mean_lo.resize(want_m);
    p->c.resize(want_c);
    for (size_t i = 0; i < want_m; ++i) {
      MM_ASSIGN_OR_RETURN(p->mean[i], JsonToDouble(j["mean"][i]));
      MM_ASSIGN_OR_RETURN(p->mean_lo[i], JsonToDouble(j["mean_lo"][i]));
    }
    for (size_t i = 0; i < want_c; ++i) {
      MM_ASSIGN_OR_RETURN(p->c[i], JsonToDouble(j["c"][i]));
    }
    return std::unique_ptr<Partial>(std::move(p));
  }

 private:
  size_t k_;
};

// Whether x[0, n) holds a NaN (two at a time: GCC leaves the plain loop
// scalar).
bool AnyNaN(const double* x, size_t n) {
  typedef double V __attribute__((vector_size(16)));
  typedef long long M __attribute__((vector_size(16)));
  M acc = {0, 0};
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    V v;
    std::memcpy(&v, x + i, sizeof v);
    acc |= v != v;
  }
  bool any = (acc[0] | acc[1]) != 0;
  for (; i < n; ++i) any = any || x[i] != x[i];
  return any;
}

// Observations [o0, o1) of k variables (element (o, v) at src + (o *
// obs_stride + v * var_stride) elements) as doubles into x, row after row
// (k doubles each), skipping observations with a NaN. Returns the number
// kept; *nan counts the others.
template <class Traits, bool kSwap>
size_t LoadObservations(const char* src, size_t o0, size_t o1, size_t k, size_t obs_stride,
                        size_t var_stride, double* x, int64_t* nan) {
  using S = typename Traits::Storage;
  const size_t rows = o1 - o0;
  bool maybe_nan = Traits::kIsFloat;
  if (var_stride == 1 && obs_stride == k) {
    // Whole observations one after another: one run of elements.
    maybe_nan = LoadTile<Traits, kSwap>(src + o0 * k * sizeof(S), rows * k, x);
  } else {
    for (size_t r = 0; r < rows; ++r) {
      const char* first = src + (o0 + r) * obs_stride * sizeof(S);
      for (size_t v = 0; v < k; ++v)
        x[r * k + v] =
            static_cast<double>(LoadElement<Traits, kSwap>(first + v * var_stride * sizeof(S)));
    }
  }
  if constexpr (!Traits::kIsFloat) return rows;
  // One test over the whole tile; observations with a NaN are then
  // dropped, the kept ones moved up in order.
  if (!maybe_nan || !AnyNaN(x, rows * k)) return rows;
  size_t kept = 0;
  for (size_t r = 0; r < rows; ++r) {
    const double* row = x + r * k;
    bool bad = false;
    for (size_t v = 0; v < k; ++v) bad = bad || row[v] != row[v];
    if (bad) {
      ++*nan;
      continue;
    }
    if (kept != r) std::memmove(x + kept * k, row, k * sizeof(double));
    ++kept;
  }
  return kept;
}

// Loads observations as LoadObservations does, for the dataset's dtype.
using ObservationLoader = size_t (*)(const char*, size_t, size_t, size_t, size_t, size_t, double*,
                                     int64_t*);
ObservationLoader LoaderFor(const DType& dt) {
  return VisitKind(dt.kind, [&](auto traits) -> ObservationLoader {
    using T = decltype(traits);
    if (dt.needs_swap()) return &LoadObservations<T, true>;
    return &LoadObservations<T, false>;
  });
}

// Up to this many variables the co-moments are summed in a full k x kp
// matrix by the vector kernel (simd::CoMoments, 512 KiB); beyond, in the
// partial's triangle with plain loops. Both add the same products in the
// same order.
constexpr size_t kVectorCoMomentVariables = 256;
// A block is swept in pieces of about this many bytes of observations.
constexpr size_t kPieceBytes = 256 * 1024;

// The two sweeps over a block's m observations: the mean of the kept ones,
// then the co-moments of their deviations d from it (upper triangle). The
// second sweep also sums the deviations (t): the mean came from a sum of
// the values, off in its last bits when they are large against their
// spread, so the piece's mean is mean + t / n and its co-moments
// sum d_i d_j - t_i t_j / n (the corrected two-pass formula). Each
// sweep converts the observations tile by tile, so they stay in cache;
// every sum runs in observation order, so results depend only on the
// block's values.
void SweepObservations(ObservationLoader load, const char* src, size_t m, size_t k,
                       size_t obs_stride, size_t var_stride, std::vector<double>* tile,
                       std::vector<double>* full, CovPartial* p) {
  const bool vector = k <= kVectorCoMomentVariables;
  const size_t kp = (k + simd::kCoMomentPad - 1) / simd::kCoMomentPad * simd::kCoMomentPad;
  const size_t tile_rows = std::max<size_t>(8, 2048 / k);  // 16 KiB
  // The kernel's last vector of a row may read past the tile's last row.
  tile->resize(tile_rows * k + simd::kCoMomentPad);
  double* x = tile->data();
  std::vector<double> sum(k, 0.0);
  size_t n = 0;
  for (size_t o0 = 0; o0 < m; o0 += tile_rows) {
    const size_t o1 = std::min(m, o0 + tile_rows);
    const size_t kept = load(src, o0, o1, k, obs_stride, var_stride, x, &p->nan);
    simd::ColumnSums(x, kept, k, sum.data());
    n += kept;
  }
  p->n = static_cast<int64_t>(n);
  if (n == 0) return;
  p->mean = std::move(sum);
  for (size_t v = 0; v < k; ++v) p->mean[v] /= static_cast<double>(n);
  p->c.assign(k * (k + 1) / 2, 0.0);
  if (vector) full->assign(k * kp, 0.0);
  int64_t nan_again = 0;
  std::vector<double> t(k, 0.0);
  for (size_t o0 = 0; o0 < m; o0 += tile_rows) {
    const size_t o1 = std::min(m, o0 + tile_rows);
    const size_t kept = load(src, o0, o1, k, obs_stride, var_stride, x, &nan_again);
    simd::SubtractColumns(x, kept, k, p->mean.data(), t.data());
    if (vector) {
      simd::CoMoments(x, kept, k, full->data(), kp);
      continue;
    }
    // Tiles of triangle rows stay in cache while the tile's observations
    // go by.
    const size_t band = std::max<size_t>(1, 32768 / k);
    for (size_t i0 = 0; i0 < k; i0 += band) {
      const size_t i1 = std::min(k, i0 + band);
      for (size_t o = 0; o < kept; ++o) {
        const double* row = x + o * k;
        for (size_t i = i0; i < i1; ++i) {
          double* c = p->c.data() + Tri(k, i, i) - i;
          const double xi = row[i];
          for (size_t j = i; j < k; ++j) c[j] += xi * row[j];
        }
      }
    }
  }
  if (vector)
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i; j < k; ++j) p->c[Tri(k, i, j)] = (*full)[i * kp + j];
  // CorrectPiece for every pair: a correction that overflowed (values
  // near the float64 range) is skipped, as the plain two-pass sums are.
  const double nd = static_cast<double>(n);
  p->mean_lo.assign(k, 0.0);
  for (size_t i = 0; i < k; ++i) {
    const double ti = t[i] / nd;
    if (!std::isfinite(ti)) continue;
    p->mean_lo[i] = ti;
    double* c = p->c.data() + Tri(k, i, i) - i;
    for (size_t j = i; j < k; ++j) {
      const double d = ti * t[j];
      if (std::isfinite(d)) c[j] = c[j] - d;
    }
    if (c[i] < 0) c[i] = 0;  // rounding
  }
}

class Cov : public Analysis {
 public:
  Cov(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition, int axis,
      int64_t ddof, std::string output)
      : Analysis(spec, dataset, partition), ddof_(ddof), output_(std::move(output)) {
    const Layout& l = dataset.layout;
    n_ = static_cast<uint64_t>(l.shape[static_cast<size_t>(axis)]);
    k_ = static_cast<size_t>(l.shape[static_cast<size_t>(1 - axis)]);
    obs_major_ = (l.order == 'C') == (axis == 0);
    blocks_ = partition.blocks();
    split_ = obs_major_ && partition.chunked() && static_cast<size_t>(partition.chunks()[1]) < k_;
    if (split_)
      grid_columns_ = (k_ + static_cast<size_t>(partition.chunks()[1]) - 1) /
                      static_cast<size_t>(partition.chunks()[1]);
  }

  std::vector<std::string> CreatedFiles() const override {
    return NpyFieldPaths(output_, {"cov", "corr"});
  }
  std::unique_ptr<Partial> NewPartial(int) const override {
    return std::make_unique<CovPartial>(k_);
  }
  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    return CovPartial::FromJson(j, k_);
  }
  bool NeedsBlock(int, uint64_t, uint64_t) const override { return obs_major_ && !split_; }
  std::unique_ptr<Scanner> NewScanner(int) const override {
    return MakeScanner(Scratch(),
                       [this](const BlockView& block, Partial* partial, Scratch* scratch) {
                         return Consume(block, partial, scratch);
                       });
  }
  Status EndPass(int, const Partial& merged) override {
    merged_ = std::make_unique<CovPartial>(static_cast<const CovPartial&>(merged));
    return Status::OK();
  }
  Result<Json> Finish() override;

 private:
  // A scanner's state, kept between blocks (one scanner, one thread).
  struct Scratch {
    std::vector<char> buf;           // variable-major: the block's observations as read
    std::vector<double> x;           // a tile of kept observations as doubles
    std::vector<double> full;        // the co-moments, k x kp (SweepObservations)
    std::unique_ptr<Source> source;  // variable-major layout: opened on first use
  };
  Status Consume(const BlockView& block, Partial* partial, Scratch* scratch) const;
  // Opens the scanner's own source of the dataset if not yet open.
  Status EnsureSource(std::unique_ptr<Source>* source) const;
  // Variable-major layout: reads observations [o0, o1) of every variable.
  Status ReadObservations(uint64_t o0, uint64_t o1, std::vector<char>* buf,
                          std::unique_ptr<Source>* source) const;
  // Observation-major layout whose chunks split the variables: reads whole
  // observations (rows) [o0, o1).
  Status ReadRows(uint64_t o0, uint64_t o1, std::vector<char>* buf,
                  std::unique_ptr<Source>* source) const;

  int64_t ddof_;
  std::string output_;
  uint64_t n_ = 0;
  size_t k_ = 0;
  bool obs_major_ = true;
  int64_t blocks_ = 0;
  // Chunk blocks that split the variables (observation-major, chunks[1] <
  // k): a block holds parts of observations, so the blocks of one layer of
  // the chunk grid (grid_columns_ of them) share out its rows and read them
  // whole through the Source; the block data is not needed.
  bool split_ = false;
  size_t grid_columns_ = 1;
  std::unique_ptr<CovPartial> merged_;
};

Status Cov::EnsureSource(std::unique_ptr<Source>* source) const {
  // The dataset's source over the run's descriptor (source/registry.h),
  // opened on the scanner's first use.
  if (!*source) {
    MM_ASSIGN_OR_RETURN(*source, OpenSource(dataset_));
  }
  return Status::OK();
}

Status Cov::ReadObservations(uint64_t o0, uint64_t o1, std::vector<char>* buf,
                             std::unique_ptr<Source>* source) const {
  MM_RETURN_IF_ERROR(EnsureSource(source));
  const uint64_t len = (o1 - o0) * static_cast<uint64_t>(dataset_.layout.dtype.itemsize());
  buf->resize(len * k_);
  // Variable v's observations are storage indices [v * n + o0, v * n + o1).
  for (size_t v = 0; v < k_; ++v)
    MM_RETURN_IF_ERROR((*source)->ReadElements(v * n_ + o0, v * n_ + o1, buf->data() + v * len));
  return Status::OK();
}

Status Cov::ReadRows(uint64_t o0, uint64_t o1, std::vector<char>* buf,
                     std::unique_ptr<Source>* source) const {
  MM_RETURN_IF_ERROR(EnsureSource(source));
  buf->resize((o1 - o0) * k_ * static_cast<uint64_t>(dataset_.layout.dtype.itemsize()));
  return (*source)->ReadElements(o0 * k_, o1 * k_, buf->data());
}

Status Cov::Consume(const BlockView& block, Partial* base, Scratch* scratch) const {
  auto* p = static_cast<CovPartial*>(base);
  const DType dt = dataset_.layout.dtype;
  const char* src;
  size_t m, obs_stride, var_stride;
  std::vector<char>& buf = scratch->buf;
  if (split_) {
    // Block (i, j) of the chunk grid: the j-th of grid_columns_ equal
    // shares of layer i's rows (observations), so the partials depend only
    // on the shape and the chunk grid.
    const uint64_t r0 = static_cast<uint64_t>(block.box->start[0]),
                   h = static_cast<uint64_t>(block.box->count[0]);
    const uint64_t j = static_cast<uint64_t>(block.box->start[1] / partition_.chunks()[1]),
                   g = grid_columns_;
    const uint64_t o0 = r0 + h * j / g, o1 = r0 + h * (j + 1) / g;
    m = static_cast<size_t>(o1 - o0);
    if (m == 0) return Status::OK();
    MM_RETURN_IF_ERROR(ReadRows(o0, o1, &buf, &scratch->source));
    src = buf.data();
    obs_stride = k_;
    var_stride = 1;
  } else if (obs_major_) {
    // A row block of whole rows, or a chunk block spanning every variable
    // (its box's C order is then the rows' storage order).
    src = block.data;
    m = static_cast<size_t>(block.elements() / k_);
    obs_stride = k_;
    var_stride = 1;
  } else {
    // Block b stands for observations [b*n/B, (b+1)*n/B).
    const uint64_t b = static_cast<uint64_t>(block.block), nb = static_cast<uint64_t>(blocks_);
    const uint64_t o0 = static_cast<uint64_t>(static_cast<unsigned __int128>(b) * n_ / nb);
    const uint64_t o1 = static_cast<uint64_t>(static_cast<unsigned __int128>(b + 1) * n_ / nb);
    m = static_cast<size_t>(o1 - o0);
    if (m == 0) return Status::OK();
    MM_RETURN_IF_ERROR(ReadObservations(o0, o1, &buf, &scratch->source));
    src = buf.data();
    obs_stride = 1;
    var_stride = m;
  }
  const ObservationLoader load = LoaderFor(dt);
  if (k_ > kVectorCoMomentVariables) {
    // The triangle (up to 64 MiB) is the partial itself: one piece, no
    // partial per piece to allocate and merge.
    SweepObservations(load, src, m, k_, obs_stride, var_stride, &scratch->x, &scratch->full, p);
    return Status::OK();
  }
  // Pieces of about 256 KiB, so the second sweep reads them from the
  // cache: each piece's partial, merged into the block's from left to
  // right (a fixed order for the block, whatever the split into workers).
  const size_t piece =
      std::max<size_t>(64, kPieceBytes / (k_ * static_cast<size_t>(dt.itemsize())));
  for (size_t o0 = 0; o0 < m; o0 += piece) {
    const size_t len = std::min(piece, m - o0);
    CovPartial part(k_);
    SweepObservations(load, src + o0 * obs_stride * static_cast<size_t>(dt.itemsize()), len, k_,
                      obs_stride, var_stride, &scratch->x, &scratch->full, &part);
    p->Merge(part);
  }
  return Status::OK();
}

Result<Json> Cov::Finish() {
  const CovPartial& m = *merged_;
  const size_t k = k_;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // A variable of co-moment 0 with itself is constant: its deviations are
  // all 0, and so are its co-moments with every other variable (Cauchy-
  // Schwarz). The corrected sums leave ~1e-32 there, which corr would turn
  // into +-1 (a stuck sensor correlated with everything); 0 gives numpy's
  // answer for a constant it holds exactly: cov 0, corr NaN.
  std::vector<double>& c = merged_->c;
  for (size_t i = 0; i < k && !c.empty(); ++i) {
    if (c[Tri(k, i, i)] != 0) continue;
    for (size_t j = 0; j < k; ++j) c[Tri(k, std::min(i, j), std::max(i, j))] = 0;
  }
  // As numpy.cov: the co-moments times 1 / max(count - ddof, 0).
  auto scaled = [&](double fact) {
    std::vector<double> out(k * k, nan);
    if (m.n == 0) return out;
    const double inv = 1.0 / std::max(fact, 0.0);
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i; j < k; ++j) out[i * k + j] = out[j * k + i] = c[Tri(k, i, j)] * inv;
    return out;
  };
  const std::vector<double> cov = scaled(static_cast<double>(m.n - ddof_));
  // As numpy.corrcoef: cov with ddof 1, divided by the standard deviations
  // of row and column, clipped to [-1, 1].
  std::vector<double> corr = scaled(static_cast<double>(m.n - 1));
  std::vector<double> sd(k);
  for (size_t i = 0; i < k; ++i) sd[i] = std::sqrt(corr[i * k + i]);
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < k; ++j) {
      double& r = corr[i * k + j];
      r = r / sd[i] / sd[j];
      if (r < -1.0) r = -1.0;
      if (r > 1.0) r = 1.0;
    }
  Json result = Json::object();
  result["count"] = m.n;
  result["nan_count"] = m.nan;
  if (2 * k * k > kMaxInlineNumbers) {
    DType f8;
    f8.kind = Kind::kFloat64;
    f8.big_endian = false;
    const std::vector<int64_t> shape = {static_cast<int64_t>(k), static_cast<int64_t>(k)};
    std::vector<TempOutput> outs;
    Json files = Json::object();
    const std::pair<const char*, const std::vector<double>*> fields[] = {{"cov", &cov},
                                                                         {"corr", &corr}};
    for (const auto& field : fields) {
      const std::string path = output_ + "." + field.first + ".npy";
      std::string bytes = BuildNpyHeader(f8, shape, false);
      const size_t header = bytes.size();
      bytes.resize(header + k * k * 8);
      std::memcpy(&bytes[header], field.second->data(), k * k * 8);
      MM_ASSIGN_OR_RETURN(TempOutput out, TempOutput::Create(path));
      MM_RETURN_IF_ERROR(out.Write(bytes));
      outs.push_back(std::move(out));
      files[field.first] = path;
    }
    for (TempOutput& out : outs) MM_RETURN_IF_ERROR(out.Commit());
    result["shape"] = shape;
    result["files"] = files;
    return result;
  }
  auto nested = [&](const std::vector<double>& v) {
    Json rows = Json::array();
    for (size_t i = 0; i < k; ++i) {
      Json row = Json::array();
      for (size_t j = 0; j < k; ++j) row.push_back(JsonNumber(v[i * k + j]));
      rows.push_back(std::move(row));
    }
    return rows;
  };
  result["cov"] = nested(cov);
  result["corr"] = nested(corr);
  return result;
}

}  // namespace

Result<std::unique_ptr<Analysis>> MakeCov(const AnalysisSpec& spec, const Dataset& dataset,
                                          const Partition& partition) {
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, {"axis", "ddof", "output"},
                               "analyses[" + std::to_string(spec.index) + "]"));
  const Layout& l = dataset.layout;
  if (l.ndim() != 2)
    return ParamError(spec, "op",
                      "cov needs 2-d data (observations x variables); the dataset is " +
                          std::to_string(l.ndim()) + "-d " + ShapeString(l.shape));
  int axis = 0;
  if (spec.params.contains("axis")) {
    const Json& a = spec.params["axis"];
    if (!a.is_number_integer() || a.get<int64_t>() < -2 || a.get<int64_t>() > 1)
      return ParamError(spec, "axis",
                        "must be 0 (rows are observations) or 1 (columns are), got " + a.dump());
    axis = static_cast<int>((a.get<int64_t>() + 2) % 2);
  }
  int64_t ddof = 1;
  if (spec.params.contains("ddof")) {
    const Json& d = spec.params["ddof"];
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      return ParamError(spec, "ddof", "must be a non-negative integer, got " + d.dump());
    ddof = d.get<int64_t>();
  }
  const int64_t k = l.shape[static_cast<size_t>(1 - axis)];
  if (k > kCovMaxVariables)
    return ParamError(spec, "axis",
                      "the data has " + std::to_string(k) + " variables along axis " +
                          std::to_string(1 - axis) + "; cov handles at most " +
                          std::to_string(kCovMaxVariables) +
                          " (each partial holds a variables x variables matrix)");
  MM_ASSIGN_OR_RETURN(std::string output, ParseOutputPrefix(spec));
  if (2 * static_cast<uint64_t>(k) * static_cast<uint64_t>(k) > kMaxInlineNumbers && output.empty())
    return ParamError(spec, "output",
                      "the result would hold " + std::to_string(2 * k * k) +
                          " numbers (more than 1000000); give \"output\": \"PREFIX\" to write "
                          "PREFIX.cov.npy and PREFIX.corr.npy");
  return std::unique_ptr<Analysis>(new Cov(spec, dataset, partition, axis, ddof, output));
}

}  // namespace mm
