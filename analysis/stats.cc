#include "analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "analysis/npy_fields.h"
#include "analysis/stats_kernel.h"
#include "core/lanes.h"
#include "io/files.h"

namespace mm {

namespace {

// A count column of at most one run of equal values per this many lanes
// goes as its runs (StatsPartial::ToJson).
constexpr size_t kLanesPerRun = 16;

// The bits of v (0 for 0): how many levels of the block tree v blocks make,
// which the tile budgets count partials by.
uint64_t BitWidth(uint64_t v) {
  return v == 0 ? 0
                : static_cast<uint64_t>(64 - __builtin_clzll(static_cast<unsigned long long>(v)));
}

const std::vector<std::string> kFields = {"count", "nan_count", "sum", "mean",
                                          "var",   "std",       "min", "max"};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "stats partials carry their columns as the host's bytes, little-endian");

// The optional columns of a stats partial: a run keeps only those its
// fields need (count, sum and mean need n and sum, which every partial
// keeps). The running mean is kept only with m2, whose merge (Chan's)
// needs it; without it the mean is sum / n, as numpy's. Dropping a column
// changes no bit of the others: each is merged on its own but for n and
// mean, which every merge reads.
struct StatsColumns {
  bool nan = true;     // nan_count
  bool m2 = true;      // var, std (and the running mean)
  bool minmax = true;  // min, max
};

// A partial over lanes [lo, hi): one column per kept LaneStats member, so a
// many-lane partial (a reduction over the row axis of a large array) takes
// 8 bytes per lane and kept column, and encodes as a few bytes columns.
class StatsPartial : public Partial {
 public:
  StatsPartial(bool integer, StatsColumns keep) : integer_(integer), keep_(keep) {}
  uint64_t lo = 0, hi = 0;  // lanes [lo, hi)
  std::vector<int64_t> n, nan;
  std::vector<double> mean, mean_lo, m2;
  std::vector<double> sum, min, max;     // floating-point data
  std::vector<int128> isum, imin, imax;  // integers and bool

  // Every kept column to k lanes of count 0.
  void Resize(size_t k) {
    ForEachColumn([k](auto& c) { c.assign(k, {}); });
  }

  // Lane lo + i from a kernel's LaneStats (the kept members).
  void Set(size_t i, const LaneStats& s) {
    n[i] = s.n;
    if (keep_.m2) mean[i] = s.mean, mean_lo[i] = s.mean_lo;
    if (keep_.nan) nan[i] = s.nan;
    if (keep_.m2) m2[i] = s.m2;
    if (integer_) {
      isum[i] = s.isum;
      if (keep_.minmax) imin[i] = s.imin, imax[i] = s.imax;
    } else {
      sum[i] = s.sum;
      if (keep_.minmax) min[i] = s.min, max[i] = s.max;
    }
  }

  // Lane lo + i as a LaneStats (members not kept are 0).
  LaneStats Get(size_t i) const {
    LaneStats s;
    s.n = n[i];
    if (keep_.m2) s.mean = mean[i], s.mean_lo = mean_lo[i];
    if (keep_.nan) s.nan = nan[i];
    if (keep_.m2) s.m2 = m2[i];
    if (integer_) {
      s.isum = isum[i];
      if (keep_.minmax) s.imin = imin[i], s.imax = imax[i];
    } else {
      s.sum = sum[i];
      if (keep_.minmax) s.min = min[i], s.max = max[i];
    }
    return s;
  }

  // Folds the partial of the blocks just after into this one: the lane
  // range grows to the union (new lanes start at count 0) and each lane of
  // `right` merges into its place with MergeLane's operations, in the same
  // order, column by column.
  void Merge(const Partial& right_base) override {
    const auto& r = static_cast<const StatsPartial&>(right_base);
    if (r.lo == r.hi) return;
    if (lo == hi) {
      *this = r;
      return;
    }
    const uint64_t nlo = std::min(lo, r.lo), nhi = std::max(hi, r.hi);
    if (nlo != lo || nhi != hi) {
      const size_t at = static_cast<size_t>(lo - nlo), k = static_cast<size_t>(nhi - nlo);
      ForEachColumn([at, k](auto& c) {
        std::remove_reference_t<decltype(c)> grown(k);
        std::copy(c.begin(), c.end(), grown.begin() + static_cast<ptrdiff_t>(at));
        c.swap(grown);
      });
      lo = nlo;
      hi = nhi;
    }
    const size_t off = static_cast<size_t>(r.lo - lo), k = static_cast<size_t>(r.hi - r.lo);
    for (size_t j = 0; j < k; ++j) {
      const size_t i = off + j;
      if (keep_.nan) nan[i] += r.nan[j];
      const int64_t bn = r.n[j];
      if (bn == 0) continue;
      if (n[i] == 0) {  // MergeLane: *a = b but for the NaN count
        n[i] = bn;
        if (keep_.m2) mean[i] = r.mean[j], mean_lo[i] = r.mean_lo[j], m2[i] = r.m2[j];
        if (integer_) {
          isum[i] = r.isum[j];
          if (keep_.minmax) imin[i] = r.imin[j], imax[i] = r.imax[j];
        } else {
          sum[i] = r.sum[j];
          if (keep_.minmax) min[i] = r.min[j], max[i] = r.max[j];
        }
        continue;
      }
      if (keep_.m2) {
        const double na = static_cast<double>(n[i]), nb = static_cast<double>(bn);
        const double nn = na + nb;
        const double delta = (r.mean[j] - mean[i]) + (r.mean_lo[j] - mean_lo[i]);
        MoveMean(&mean[i], &mean_lo[i], delta * (nb / nn));
        m2[i] = m2[i] + r.m2[j] + delta * delta * (na * nb / nn);
      }
      n[i] += bn;
      if (integer_) {
        isum[i] += r.isum[j];
        if (keep_.minmax)
          imin[i] = std::min(imin[i], r.imin[j]), imax[i] = std::max(imax[i], r.imax[j]);
      } else {
        sum[i] += r.sum[j];
        if (keep_.minmax) min[i] = std::min(min[i], r.min[j]), max[i] = std::max(max[i], r.max[j]);
      }
    }
  }

  // {"lo", "hi", then each kept column by name: "n", "nan", "sum", "mean",
  // "mean_lo" and "m2" (all or none), "min", "max"}. A column is a bytes
  // column (BytesColumn: raw in a payload, base64 text in a file) of its hi - lo values as
  // little-endian bytes (int64 counts, float64, or 16-byte two's complement int128 sums and
  // extremes of integer data); a count column whose lanes all hold one value is instead that value
  // as a JSON integer, and one of at most (hi - lo) / kLanesPerRun runs of equal values the list of
  // its runs [[count, lanes], ...] (docs/ARCHITECTURE.md "Partials of stats").
  Json ToJson() const override {
    Json j = Json::object();
    j["lo"] = lo;
    j["hi"] = hi;
    NamedColumns([&j](const char* name, const auto& c) {
      using T = typename std::remove_reference_t<decltype(c)>::value_type;
      if constexpr (std::is_same_v<T, int64_t>) {
        if (!c.empty() && std::all_of(c.begin(), c.end(), [&c](int64_t v) { return v == c[0]; })) {
          j[name] = c[0];
          return;
        }
        // Counts are constant over long runs of lanes (a land mask, a
        // missing region): runs when there are few.
        size_t runs = 1;
        for (size_t i = 1; i < c.size(); ++i) runs += c[i] != c[i - 1];
        if (runs <= c.size() / kLanesPerRun) {
          Json list = Json::array();
          for (size_t i = 0; i < c.size();) {
            size_t e = i + 1;
            while (e < c.size() && c[e] == c[i]) ++e;
            list.push_back(Json::array({c[i], static_cast<uint64_t>(e - i)}));
            i = e;
          }
          j[name] = std::move(list);
          return;
        }
      }
      j[name] = BytesColumn(c.data(), c.size() * sizeof(T));
    });
    return j;
  }

  // Inverse of ToJson for a run keeping `keep`, over at most `max_lanes`
  // lanes; anything else (a column missing, extra, of the wrong length or
  // alphabet) is kDataErr, before any allocation larger than the lanes.
  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, bool integer, StatsColumns keep,
                                                   uint64_t max_lanes) {
    auto p = std::make_unique<StatsPartial>(integer, keep);
    MM_RETURN_IF_ERROR(ReadLaneRange(j, max_lanes, "stats partial", &p->lo, &p->hi));
    const size_t k = static_cast<size_t>(p->hi - p->lo);
    p->Resize(k);
    size_t columns = 2;
    Status st = Status::OK();
    p->NamedColumns([&](const char* name, auto& c) {
      using T = typename std::remove_reference_t<decltype(c)>::value_type;
      ++columns;
      if (!st.ok()) return;
      const std::string what = std::string("stats partial: column '") + name + "'";
      if (!j.contains(name)) {
        st = Error(Code::kDataErr, what + " is missing");
        return;
      }
      const Json& v = j[name];
      if constexpr (std::is_same_v<T, int64_t>) {
        if (v.is_number_integer()) {
          c.assign(k, v.get<int64_t>());
          return;
        }
        if (v.is_array()) {
          // A run's lane count: a positive integer (0 for anything else).
          auto lanes_of = [](const Json& x) -> uint64_t {
            if (x.is_number_unsigned()) return x.get<uint64_t>();
            if (x.is_number_integer() && x.get<int64_t>() > 0)
              return static_cast<uint64_t>(x.get<int64_t>());
            return 0;
          };
          size_t at = 0;
          for (const Json& run : v) {
            const uint64_t n = run.is_array() && run.size() == 2 ? lanes_of(run[1]) : 0;
            if (n == 0 || !run[0].is_number_integer() || n > k - at) {
              st = Error(Code::kDataErr, what + " must be runs [count, lanes] covering its " +
                                             std::to_string(k) + " lanes");
              return;
            }
            std::fill(c.begin() + static_cast<ptrdiff_t>(at),
                      c.begin() + static_cast<ptrdiff_t>(at + n), run[0].get<int64_t>());
            at += n;
          }
          if (at != k)
            st = Error(Code::kDataErr, what + " must be runs [count, lanes] covering its " +
                                           std::to_string(k) + " lanes");
          return;
        }
      }
      st = ColumnBytesTo(v, c.data(), k * sizeof(T), what);
    });
    MM_RETURN_IF_ERROR(st);
    if (j.size() != columns)
      return Error(Code::kDataErr, "stats partial: " + std::to_string(j.size() - 2) +
                                       " columns, expected " + std::to_string(columns - 2));
    // Counts are never negative (a mean and std over -1 values would be
    // NaN, not an error, further on).
    const auto negative = [](const std::vector<int64_t>& c) {
      return std::any_of(c.begin(), c.end(), [](int64_t v) { return v < 0; });
    };
    if (negative(p->n) || negative(p->nan))
      return Error(Code::kDataErr, "stats partial: a negative count");
    return std::unique_ptr<Partial>(std::move(p));
  }

 private:
  // f(name, column) for every kept column, in ToJson's order.
  template <class F>
  void NamedColumns(F&& f) {
    f("n", n);
    if (keep_.nan) f("nan", nan);
    if (integer_)
      f("sum", isum);
    else
      f("sum", sum);
    if (keep_.m2) {
      f("mean", mean);
      f("mean_lo", mean_lo);
      f("m2", m2);
    }
    if (keep_.minmax) {
      if (integer_) {
        f("min", imin);
        f("max", imax);
      } else {
        f("min", min);
        f("max", max);
      }
    }
  }
  template <class F>
  void NamedColumns(F&& f) const {
    const_cast<StatsPartial*>(this)->NamedColumns(
        [&f](const char* name, const auto& c) { f(name, c); });
  }
  template <class F>
  void ForEachColumn(F&& f) {
    NamedColumns([&f](const char*, auto& c) { f(c); });
  }

  bool integer_;
  StatsColumns keep_;
};

enum class FieldId { kCount, kNanCount, kSum, kMean, kVar, kStd, kMin, kMax };

FieldId FieldOf(const std::string& f) {
  return static_cast<FieldId>(std::find(kFields.begin(), kFields.end(), f) - kFields.begin());
}

class Stats : public Analysis {
 public:
  Stats(const AnalysisSpec& spec, const Dataset& dataset, const Partition& partition,
        LaneGeometry geo, std::vector<std::string> fields, int64_t ddof, std::string output,
        LaneSink sink = nullptr)
      : Analysis(spec, dataset, partition),
        geo_(std::move(geo)),
        fields_(std::move(fields)),
        ddof_(ddof),
        output_(std::move(output)),
        integer_(!dataset.layout.dtype.is_float()),
        sink_(std::move(sink)) {
    auto wants = [this](const char* f) {
      return std::find(fields_.begin(), fields_.end(), f) != fields_.end();
    };
    keep_.nan = wants("nan_count");
    keep_.m2 = wants("var") || wants("std");
    keep_.minmax = wants("min") || wants("max");
    for (const std::string& f : fields_) field_ids_.push_back(FieldOf(f));
    merged_ = StatsPartial(integer_, keep_);
    // Per-lane means and ranges can be drawn; global stats are single numbers.
    caps_.plottable = !geo_.kept_shape().empty() && (wants("mean") || keep_.minmax);
    // Lanes that each lie inside one row, rows inside one block, and a
    // result in files in the lanes' order: every block holds whole lanes,
    // and its workers write them into the files (docs/CHOICES.md "Per-row
    // stats go straight to their files").
    const Partition& part = partition;
    SetStream(!output_.empty() && geo_.lanes() * fields_.size() > kMaxInlineNumbers &&
              !part.chunked() && part.rows_per_block() > 0 && geo_.row_kept() &&
              geo_.lanes_in_output_order() && dataset.layout.elements() > 0 && FitsInt64());
    if (!stream_) PlanTiles(part);
  }

  // Lane tiles: a reduction over the row axis of rows longer than a block
  // (a time mean of a large grid) keeps every lane in each worker's
  // partials. When each piece of a row holds its own range of lanes, pass
  // t instead reads only the pieces of tile t, a run of pieces holding
  // about kTileLanes lanes, or, when every element of a row is its own
  // lane, any run of lanes sized for kTileBudget; the coordinator writes
  // that tile's lanes into the files, or gathers them as the result's JSON
  // (an inline result: InlineResult, TilesWanted) (docs/CHOICES.md
  // "A time mean of a large grid, a tile of lanes a pass" and "Tiles that
  // cut blocks, sized for the partials"). A lane's blocks and their merges
  // are those of one pass over everything (the other blocks' partials are
  // empty, which merge as identities), so the bits are the same.
  void PlanTiles(const Partition& part) {
    if (part.chunked() || part.rows_per_block() > 0) return PlanChunkTiles(part);
    const int64_t pieces = part.pieces_per_row();
    if (!TilesWanted(part) || pieces < 2 || geo_.row_kept() || !geo_.lanes_in_output_order() ||
        dataset_.layout.elements() == 0)
      return;
    const uint64_t piece = part.block_elements(0);
    const uint64_t row = part.block_end(pieces - 1) - part.block_begin(0);
    const auto first = geo_.LaneRange(0, piece);
    std::vector<std::pair<uint64_t, uint64_t>> tiles;
    // Every element of a row its own lane, in storage order (the row axis
    // alone reduced, C order): a block gives each of its lanes one value,
    // whose partial does not depend on which other lanes are swept with it
    // (SweepRange: lanes apart), so a tile may be any run of lanes, and
    // is sized by the partial's bytes, not by the block's.
    if (geo_.lane_is_index_in_row()) {
      // A process holds about one partial a level of its tree of the
      // tile's rows, and two more (the block's, the merge's).
      const uint64_t alive = 2 + BitWidth(static_cast<uint64_t>(std::max<int64_t>(1, part.rows())));
      const uint64_t width = std::max<uint64_t>(1, kTileBudget / (alive * LaneBytes()));
      for (uint64_t l = 0; l < row; l += width) tiles.emplace_back(l, std::min(row, l + width));
      if (tiles.size() < 2) return;
      tile_lanes_ = std::move(tiles);
      tiled_ = true;
      part_lanes_ = true;
      return;
    }
    const uint64_t per_tile =
        std::max<uint64_t>(1, kTileLanes / std::max<uint64_t>(1, first.second - first.first));
    uint64_t next = 0;  // the lane the next tile must start at
    for (uint64_t j = 0; j < static_cast<uint64_t>(pieces); j += per_tile) {
      const auto lanes = geo_.LaneRange(j * piece, std::min(row, (j + per_tile) * piece));
      if (lanes.first != next || lanes.second <= next) return;  // not rising, or a lane shared
      tiles.push_back(lanes);
      next = lanes.second;
    }
    if (next != geo_.lanes() || tiles.size() < 2) return;
    tile_lanes_ = std::move(tiles);
    tiled_ = true;
  }

  // Tiles of chunk blocks (a time mean of a large grid stored in chunks):
  // when every element of a row is its own lane, a tile is a run of
  // indices along the tile axis at one index of each axis between the row
  // axis and it, so a block's part in a tile is a box: the block clipped
  // along those axes, copied out of the decoded block and swept as a chunk
  // block of its own. The tile axis is the first after the row axis whose
  // one index fits the budget (axis 1 for a (time, lat, lon) grid, lat for
  // (time, level, lat, lon) when a level is too many lanes). A lane's
  // values are swept in the same order either way (one row of the box at a
  // time: a clipped box's runs hold one row each, and the whole box's runs
  // of several rows span more lanes than a row-grouped kernel takes), so
  // the bits are those of one pass. Tiles hold whole chunks along the tile
  // axis when the budget allows (each chunk is then decoded once);
  // otherwise each chunk is cut in as few even parts as fit, and a pass
  // reads only its part (PartOfBox; a filtered chunk is decoded once for
  // each part).
  //
  // Row blocks of whole rows (rows shorter than a block) are tiled the
  // same way, as chunks of (rows a block, the whole row): each pass reads
  // every block and sweeps its part in the tile (RowBlockBox).
  void PlanChunkTiles(const Partition& part) {
    const Layout& layout = dataset_.layout;
    if (!TilesWanted(part) || !geo_.lane_is_index_in_row() || layout.order != 'C' ||
        layout.elements() == 0)
      return;
    const int n = layout.ndim();
    std::vector<int64_t> chunks = part.chunks();
    if (!part.chunked()) {
      chunks = layout.shape;
      chunks[0] = part.rows_per_block();
    }
    auto extent_of = [&](int a) {
      return static_cast<uint64_t>(layout.shape[static_cast<size_t>(a)]);
    };
    auto chunk_of = [&](int a) { return static_cast<uint64_t>(chunks[static_cast<size_t>(a)]); };
    const uint64_t layers = std::max<uint64_t>(1, (extent_of(0) + chunk_of(0) - 1) / chunk_of(0));
    // The decoded block (and its spare) take their share first.
    uint64_t block_bytes = static_cast<uint64_t>(std::max(1, layout.dtype.itemsize()));
    for (const int64_t c : chunks) block_bytes *= static_cast<uint64_t>(c);
    const uint64_t budget = kTileBudget - std::min(kTileBudget / 2, block_bytes * 2);
    // A block's partial spans its lanes' hull, nearly the tile's lanes when
    // the tile is one block along the axis: a tile's blocks in one layer
    // (those along the inner axes) hold about a tile-sized partial a level
    // of their own subtree.
    int axis = 1;
    uint64_t inner = 1, width = 0, outer = 1;
    for (; axis < n; ++axis) {
      inner = 1;
      uint64_t inner_blocks = 1;
      for (int a = axis + 1; a < n; ++a) {
        inner *= extent_of(a);
        inner_blocks *= (extent_of(a) + chunk_of(a) - 1) / chunk_of(a);
      }
      const uint64_t alive = 1 + BitWidth(layers) + BitWidth(inner_blocks);
      width = budget / (alive * LaneBytes() * inner);
      if (width > 0) break;
      outer *= extent_of(axis);
    }
    if (axis >= n) return;
    const uint64_t extent = extent_of(axis), chunk = chunk_of(axis);
    if (outer == 1 && width >= extent) return;
    width = std::min(width, extent);
    std::vector<std::pair<uint64_t, uint64_t>> runs;  // index ranges along the axis
    if (width >= chunk) {
      width -= width % chunk;  // whole chunks: each decoded once
      for (uint64_t i = 0; i < extent; i += width)
        runs.emplace_back(i, std::min(extent, i + width));
    } else {
      const uint64_t parts = (chunk + width - 1) / width;  // of each chunk, as even as can be
      for (uint64_t c0 = 0; c0 < extent; c0 += chunk) {
        const uint64_t len = std::min(extent, c0 + chunk) - c0;
        for (uint64_t k = 0; k < parts; ++k)
          if (len * (k + 1) / parts > len * k / parts)
            runs.emplace_back(c0 + len * k / parts, c0 + len * (k + 1) / parts);
      }
    }
    for (uint64_t o = 0; o < outer; ++o)
      for (const auto& r : runs)
        tile_lanes_.emplace_back((o * extent + r.first) * inner, (o * extent + r.second) * inner);
    tile_axis_ = axis;
    tile_inner_ = inner;
    tiled_ = true;
  }

  // Whether the result's numbers go into the document (the lanes of a
  // tiled run are then gathered in the coordinator as JSON values, not as
  // partials: inline_) rather than into files.
  bool InlineResult() const { return geo_.lanes() * fields_.size() <= kMaxInlineNumbers; }

  // Whether the lanes may go tile by tile: into files or to a sink always;
  // an inline result only where a pass reads its tile's part alone, not
  // from chunks that each pass would decode again (the netCDF time mean of
  // bench/hdf5_bench.py, 365 x 360 x 720 in gzip chunks of a time step,
  // would decode every chunk 5 times; untiled it peaks at 60 MiB).
  bool TilesWanted(const Partition& part) const {
    return sink_ || !InlineResult() || !part.chunked();
  }

  // The bytes a lane's partial takes in a process, with its scratch and its
  // encoding (measured: peak / (tile lanes x alive partials)): integer data
  // keeps 128-bit sums and, when min or max is asked for, 128-bit extremes
  // (without them, as normalize's statistics: 110 measured, 128 taken). The
  // tile budgets divide by it.
  uint64_t LaneBytes() const { return integer_ ? (keep_.minmax ? 200 : 128) : 64; }

  // Block `box` clipped to tile `pass` (chunk tiles): along the tile axis
  // to the tile's run, along the axes between the row axis and it to the
  // tile's index; no elements when they do not meet.
  Box ClipToTile(int pass, const Box& box) const {
    const auto& tile = tile_lanes_[static_cast<size_t>(pass)];
    const std::vector<int64_t>& shape = dataset_.layout.shape;
    Box sub = box;
    auto clip = [&](int a, uint64_t lo, uint64_t hi) {
      const auto i = static_cast<size_t>(a);
      const int64_t start = std::max<int64_t>(box.start[i], static_cast<int64_t>(lo));
      sub.start[i] = start;
      sub.count[i] = std::max<int64_t>(
          0, std::min(box.start[i] + box.count[i], static_cast<int64_t>(hi)) - start);
    };
    const auto extent = static_cast<uint64_t>(shape[static_cast<size_t>(tile_axis_)]);
    const uint64_t lo = tile.first / tile_inner_ % extent;
    clip(tile_axis_, lo, lo + (tile.second - tile.first) / tile_inner_);
    uint64_t outer = tile.first / tile_inner_ / extent;
    for (int a = tile_axis_ - 1; a >= 1; --a) {
      const auto dim = static_cast<uint64_t>(shape[static_cast<size_t>(a)]);
      clip(a, outer % dim, outer % dim + 1);
      outer /= dim;
    }
    return sub;
  }

  // The box of a row block's whole rows, storage indices [begin, end).
  Box RowBlockBox(uint64_t begin, uint64_t end) const {
    Box box;
    box.start.assign(dataset_.layout.shape.size(), 0);
    box.count = dataset_.layout.shape;
    const uint64_t row = dataset_.layout.row_elements();
    box.start[0] = static_cast<int64_t>(begin / row);
    box.count[0] = static_cast<int64_t>((end - begin) / row);
    return box;
  }

  // Whether every exact integer field of every lane fits the int64 its
  // file holds (else Finish refuses the run, as it must before writing):
  // sums of at most elements / lanes values, extremes of uint64 data.
  bool FitsInt64() const {
    const DType& dt = dataset_.layout.dtype;
    if (!integer_) return true;
    const int bits = dt.itemsize() * 8 - (dt.is_signed() ? 1 : 0);
    if (bits >= 64 && keep_.minmax) return false;  // uint64 extremes
    if (std::find(fields_.begin(), fields_.end(), "sum") == fields_.end()) return true;
    const unsigned __int128 most = (static_cast<unsigned __int128>(1) << std::min(bits, 64)) *
                                   (dataset_.layout.elements() / geo_.lanes());
    return most <= static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max());
  }

  void KeepPartials() override {
    SetStream(false);
    tiled_ = false;
    part_lanes_ = false;
    tile_axis_ = -1;
  }
  int passes() const override { return tiled_ ? static_cast<int>(tile_lanes_.size()) : 1; }
  bool NeedsBlock(int pass, uint64_t begin, uint64_t end) const override {
    if (!tiled_) return true;
    return InTile(pass, geo_.LaneRange(begin, end));
  }
  bool NeedsBox(int pass, const Box& box) const override {
    if (!tiled_ || tile_axis_ < 0) return Analysis::NeedsBox(pass, box);
    return pass >= 0 && static_cast<size_t>(pass) < tile_lanes_.size() &&
           ClipToTile(pass, box).elements() > 0;
  }
  bool ReadsParts(int) const override { return tiled_ && tile_axis_ >= 0; }
  Box PartOfBox(int pass, const Box& box) const override {
    if (!tiled_ || tile_axis_ < 0) return box;
    const Box part = ClipToTile(pass, box);
    return part.elements() > 0 ? part : box;
  }
  std::vector<std::string> CreatedFiles() const override { return NpyFieldPaths(output_, fields_); }
  std::unique_ptr<Partial> NewPartial(int) const override {
    if (stream_) return std::make_unique<WrittenCount>();
    return std::make_unique<StatsPartial>(integer_, keep_);
  }

  Result<std::unique_ptr<Partial>> PartialFromJson(int, const Json& j) const override {
    if (stream_) return WrittenCount::FromJson(j, geo_.lanes(), name());
    return StatsPartial::FromJson(j, integer_, keep_, geo_.lanes());
  }

  Status Prepare() override;
  Json PassInput(int) const override;
  Status SetPassInput(int, const Json& input) override;

  std::unique_ptr<Scanner> NewScanner(int) const override;

  Status EndPass(int pass, const Partial& merged) override {
    if (sink_) return ToSink(pass, static_cast<const StatsPartial&>(merged));
    if (tiled_) return WriteTile(pass, static_cast<const StatsPartial&>(merged));
    if (stream_) {
      return static_cast<const WrittenCount&>(merged).CheckAll(geo_.lanes(), "lanes", name());
    }
    merged_ = static_cast<const StatsPartial&>(merged);
    if (geo_.empty() && merged_.lo == merged_.hi) {  // numpy's result for empty input
      merged_.lo = 0;
      merged_.hi = geo_.lanes();
      merged_.Resize(static_cast<size_t>(merged_.hi));
    }
    MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged_.lo, merged_.hi));
    return Status::OK();
  }

  Result<Json> Finish() override;

 private:
  // Field value of one lane as JSON.
  Json Field(FieldId id, const LaneStats& s) const {
    if (!IsIntField(id, integer_)) return JsonNumber(FloatValue(id, s));
    if (id == FieldId::kCount) return s.n;
    if (id == FieldId::kNanCount) return s.nan;
    if (id == FieldId::kSum) return JsonInt(s.isum);
    if (s.n == 0) return "NaN";  // integer extremes of a lane without values
    return JsonInt(id == FieldId::kMin ? s.imin : s.imax);
  }
  // A float64 field of one lane (IsIntField false).
  double FloatValue(FieldId f, const LaneStats& s) const {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double dof = static_cast<double>(s.n - ddof_);
    // An infinity among the values makes the sum infinite (or NaN): then,
    // as numpy, the mean is sum / n and the variance NaN (the merged mean
    // and m2 would have met inf - inf).
    const bool finite = integer_ || std::isfinite(s.sum);
    const double var = (s.n > 0 && dof > 0 && finite) ? s.m2 / dof : nan;
    switch (f) {
      case FieldId::kSum:
        return s.n ? s.sum : 0.0;
      case FieldId::kMean:
        if (s.n == 0) return nan;
        // Integers have an exact sum: their mean is it over n, rounded
        // once, whatever the blocks (the merged mean of chunk blocks is
        // not: a lane of sum 0 gave -5.6e-17).
        if (!integer_ && finite && keep_.m2) return s.mean + s.mean_lo;
        return (integer_ ? static_cast<double>(s.isum) : s.sum) / static_cast<double>(s.n);
      case FieldId::kVar:
        return var;
      case FieldId::kStd:
        return std::sqrt(var);
      case FieldId::kMin:
        return s.n ? s.min : nan;
      case FieldId::kMax:
        return s.n ? s.max : nan;
      default:
        return nan;
    }
  }
  Result<Json> WriteFiles(const std::vector<uint64_t>& order) const;

  // Field f of lane s as its .npy file holds it: 8 little-endian bytes of
  // an int64 (counts; sums and extremes of integer data) or a float64, the
  // values Field gives. kConfig naming "output" when an int64 cannot hold it.
  Status FieldBits(FieldId f, const LaneStats& s, char* out) const;
  static bool IsIntField(FieldId f, bool integer) {
    return f == FieldId::kCount || f == FieldId::kNanCount ||
           (integer && (f == FieldId::kSum || f == FieldId::kMin || f == FieldId::kMax));
  }
  void SetStream(bool on) {
    stream_ = on;
    caps_.writes_outputs = on;
    caps_.exact_merge = on;
  }
  class FileScanner;
  // Whether lanes [range.first, range.second) lie in pass `pass`' tile.
  bool InTile(int pass, std::pair<uint64_t, uint64_t> range) const {
    if (pass < 0 || static_cast<size_t>(pass) >= tile_lanes_.size()) return false;
    const auto& tile = tile_lanes_[static_cast<size_t>(pass)];
    return range.first < tile.second && tile.first < range.second;
  }
  Status WriteTile(int pass, const StatsPartial& merged);
  Status ToSink(int pass, const StatsPartial& merged) const;
  Status FieldColumns(const StatsPartial& p, size_t k, std::vector<char>* bytes) const;

  LaneGeometry geo_;
  std::vector<std::string> fields_;
  int64_t ddof_;
  std::string output_;
  bool integer_;
  StatsColumns keep_;
  std::vector<FieldId> field_ids_;  // fields_, in order
  StatsPartial merged_{false, {}};
  // Workers write each field's file (lanes in file order): set when the
  // run can (the constructor), cleared by KeepPartials or a pass input
  // without files.
  bool stream_ = false;
  // Lane tiles (PlanTiles): pass t covers lanes tile_lanes_[t], in order.
  static constexpr uint64_t kTileLanes = 1 << 18;
  // Tiles that may split a block (PlanTiles): the bytes of the partials a
  // process holds at once, whatever the dtype's lanes per block (each
  // tile pass costs a fork and a merge, about 12 ms here: fewer, larger
  // tiles where the tree is shallow).
  static constexpr uint64_t kTileBudget = uint64_t{40} << 20;
  bool tiled_ = false;
  bool part_lanes_ = false;  // tiles cut blocks: a block sweeps only its lanes in the tile
  // Chunk tiles (PlanChunkTiles): the axis they run along (-1: none), and
  // the lanes of one index along it.
  int tile_axis_ = -1;
  uint64_t tile_inner_ = 1;
  std::vector<std::pair<uint64_t, uint64_t>> tile_lanes_;
  NpyFieldFiles files_;  // the result's files (stream_, or tiled_ and not InlineResult())
  LaneSink sink_;        // MakeLaneStatsPasses: where merged lanes go instead
  // A tiled inline result, gathered tile by tile in the coordinator: each
  // field's JSON values in output order (the result's own size, where
  // the partials of every lane took 64-200 bytes a lane in each process).
  std::vector<std::vector<Json>> inline_;
};

// A worker's writer of the result files: each block's lanes are whole
// (Stats::stream_), so their LaneStats are final; each field's values go
// to their place in its file, one write per block and field.
class Stats::FileScanner : public Scanner {
 public:
  FileScanner(const Stats* a, stats_kernel::Scratch scratch)
      : a_(*a), scratch_(std::move(scratch)), block_(a->integer_, a->keep_), writer_(a->files_) {}

  Status Consume(const BlockView& block, Partial* partial) override {
    const auto range = a_.geo_.BlockLaneRange(block.box, block.begin, block.end);
    const size_t k = static_cast<size_t>(range.second - range.first);
    if (k == 0) return Status::OK();
    if (block.data == nullptr)
      return Error(Code::kWorkerFailed, a_.name() + ": a block came without its data");
    block_.lo = range.first;
    block_.hi = range.second;
    block_.Resize(k);
    StatsPartial* p = &block_;
    stats_kernel::SweepBlockTo(
        a_.dataset_.layout.dtype, a_.geo_, block.data, block.begin, block.end, p->lo, k,
        [p](size_t l, const LaneStats& s) { p->Set(l, s); }, &scratch_, block.box);
    MM_RETURN_IF_ERROR(a_.FieldColumns(block_, k, &bytes_));
    for (size_t i = 0; i < a_.field_ids_.size(); ++i)
      MM_RETURN_IF_ERROR(writer_.Write(i, range.first * 8, &bytes_[i * k * 8], k * 8));
    static_cast<WrittenCount*>(partial)->n += k;
    return Status::OK();
  }

 private:
  const Stats& a_;
  stats_kernel::Scratch scratch_;
  StatsPartial block_;
  std::vector<char> bytes_;
  NpyFieldWriter writer_;
};

std::unique_ptr<Scanner> Stats::NewScanner(int pass) const {
  stats_kernel::Scratch scratch;
  scratch.deviations = keep_.m2;
  scratch.minmax = keep_.minmax;
  if (stream_) return std::make_unique<FileScanner>(this, std::move(scratch));
  return MakeScanner(std::move(scratch), [this, pass](const BlockView& block, Partial* base,
                                                      stats_kernel::Scratch* scratch) {
    auto* p = static_cast<StatsPartial*>(base);
    // A chunk block's lane range may hold lanes it does not reach: they
    // keep count 0, which merges as an identity (MergeLane).
    auto range = geo_.BlockLaneRange(block.box, block.begin, block.end);
    const char* data = block.data;
    uint64_t begin = block.begin, end = block.end;
    const Box* box = block.box;
    Box sub, rows;
    if (tiled_ && tile_axis_ >= 0 && block.data != nullptr) {
      // Chunk tiles: the block's part in the tile, copied out when it is
      // not the whole block. A row block is the box of its rows.
      const Box* whole = block.box;
      if (whole == nullptr) {
        rows = RowBlockBox(block.begin, block.end);
        whole = &rows;
      }
      sub = ClipToTile(pass, *whole);
      if (sub.elements() == 0) {
        range = {0, 0};
      } else if (!(sub == *whole)) {
        CopyInnerBox(dataset_.layout, *whole, block.data, sub,
                     static_cast<size_t>(dataset_.layout.dtype.itemsize()), &scratch->sub_box,
                     &begin, &end);
        data = scratch->sub_box.data();
        box = &sub;
        range = geo_.BlockLaneRange(box, begin, end);
      }
    }
    if (tiled_ && (block.data == nullptr || !InTile(pass, range))) {
      p->lo = p->hi = 0;  // not this pass' tile: an empty partial
      p->Resize(0);
      return Status::OK();
    }
    p->lo = range.first;
    p->hi = range.second;
    if (part_lanes_) {  // element begin + i is lane range.first + i (PlanTiles)
      const auto& tile = tile_lanes_[static_cast<size_t>(pass)];
      p->lo = std::max(range.first, tile.first);
      p->hi = std::min(range.second, tile.second);
      data += (p->lo - range.first) * dataset_.layout.dtype.itemsize();
      begin = block.begin + (p->lo - range.first);
      end = begin + (p->hi - p->lo);
    }
    const size_t k = static_cast<size_t>(p->hi - p->lo);
    p->Resize(k);
    stats_kernel::SweepBlockTo(
        dataset_.layout.dtype, geo_, data, begin, end, p->lo, k,
        [p](size_t l, const LaneStats& s) { p->Set(l, s); }, scratch, box);
    return Status::OK();
  });
}

Status Stats::FieldBits(FieldId f, const LaneStats& s, char* out) const {
  if (!IsIntField(f, integer_)) {
    const double x = FloatValue(f, s);
    std::memcpy(out, &x, 8);
    return Status::OK();
  }
  const std::string& name = kFields[static_cast<size_t>(f)];
  if ((f == FieldId::kMin || f == FieldId::kMax) && s.n == 0)
    return ParamError(
        spec_, "output",
        "field '" + name + "' has a lane without values, which an int64 .npy cannot hold");
  const int128 v = f == FieldId::kCount      ? s.n
                   : f == FieldId::kNanCount ? s.nan
                   : f == FieldId::kSum      ? s.isum
                   : f == FieldId::kMin      ? s.imin
                                             : s.imax;
  if (v < std::numeric_limits<int64_t>::min() || v > std::numeric_limits<int64_t>::max())
    return ParamError(
        spec_, "output",
        "field '" + name + "' has values beyond int64, which an int64 .npy cannot hold");
  const int64_t i = static_cast<int64_t>(v);
  std::memcpy(out, &i, 8);
  return Status::OK();
}

// Each field's file bytes of lanes [0, k) of `p`, field after field: one
// LaneStats a lane for all the fields.
Status Stats::FieldColumns(const StatsPartial& p, size_t k, std::vector<char>* bytes) const {
  const size_t nf = field_ids_.size();
  bytes->resize(nf * k * 8);
  for (size_t l = 0; l < k; ++l) {
    const LaneStats s = p.Get(l);
    for (size_t i = 0; i < nf; ++i)
      MM_RETURN_IF_ERROR(FieldBits(field_ids_[i], s, &(*bytes)[(i * k + l) * 8]));
  }
  return Status::OK();
}

// The coordinator's end of tile pass `pass`: the merged partial must
// hold exactly the tile's lanes; their fields go to their places in the
// files, which Finish renames into place, or, for an inline result, to
// their places in inline_, from which Finish builds the result.
Status Stats::WriteTile(int pass, const StatsPartial& merged) {
  const auto& tile = tile_lanes_[static_cast<size_t>(pass)];
  if (merged.lo != tile.first || merged.hi != tile.second)
    return Error(Code::kWorkerFailed, name() + ": merged partials do not cover the lanes of tile " +
                                          std::to_string(pass));
  const size_t k = static_cast<size_t>(tile.second - tile.first);
  if (InlineResult()) {
    if (inline_.empty()) inline_.assign(fields_.size(), std::vector<Json>(geo_.lanes()));
    for (size_t l = 0; l < k; ++l) {
      const LaneStats lane = merged.Get(l);
      const uint64_t at = geo_.OutputIndex(tile.first + l);
      for (size_t i = 0; i < fields_.size(); ++i) inline_[i][at] = Field(field_ids_[i], lane);
    }
    return Status::OK();
  }
  std::vector<char> bytes;
  MM_RETURN_IF_ERROR(FieldColumns(merged, k, &bytes));
  for (size_t i = 0; i < field_ids_.size(); ++i)
    MM_RETURN_IF_ERROR(files_.Write(i, tile.first * 8, &bytes[i * k * 8], k * 8));
  return Status::OK();
}

// The coordinator's end of a pass of MakeLaneStatsPasses: the merged
// partial holds exactly the pass' tile, or every lane.
Status Stats::ToSink(int pass, const StatsPartial& merged) const {
  if (tiled_) {
    const auto& tile = tile_lanes_[static_cast<size_t>(pass)];
    if (merged.lo != tile.first || merged.hi != tile.second)
      return Error(
          Code::kWorkerFailed,
          name() + ": merged partials do not cover the lanes of tile " + std::to_string(pass));
  } else if (!(geo_.empty() && merged.lo == merged.hi)) {  // empty: every lane at count 0
    MM_RETURN_IF_ERROR(geo_.CheckCovers(name(), merged.lo, merged.hi));
  }
  return sink_(merged.lo, merged.hi, [&merged](uint64_t i) { return merged.Get(i); });
}

Status Stats::Prepare() {
  if (sink_ || (!stream_ && (!tiled_ || InlineResult()))) return Status::OK();
  std::vector<NpyFieldFiles::Spec> specs;
  for (size_t i = 0; i < fields_.size(); ++i)
    specs.push_back({fields_[i], geo_.kept_shape(), IsIntField(field_ids_[i], integer_)});
  return files_.Create(output_, specs);
}

// {"tiles": T} (tiled_), the files' names (stream_), or null (partials).
Json Stats::PassInput(int) const {
  if (tiled_) return Json{{"tiles", tile_lanes_.size()}};
  if (!stream_) return nullptr;
  return files_.ToJson();
}

Status Stats::SetPassInput(int, const Json& input) {
  if (input.is_null()) {
    KeepPartials();
    return Status::OK();
  }
  if (input.is_object() && input.size() == 1 && input.contains("tiles")) {
    // Workers tile exactly as the coordinator (PlanTiles on the same plan).
    if (!tiled_ || !input["tiles"].is_number_unsigned() ||
        input["tiles"].get<uint64_t>() != tile_lanes_.size())
      return Error(Code::kDataErr, name() + ": malformed pass input");
    return Status::OK();
  }
  if (!stream_) return Error(Code::kDataErr, name() + ": malformed pass input");
  return files_.FromJson(input, output_, fields_, name());
}

Result<Json> Stats::Finish() {
  if (tiled_ && InlineResult()) {
    if (inline_.size() != fields_.size())
      return Error(Code::kWorkerFailed, name() + ": no tile of lanes was merged");
    Json result = ObjectWithRoom(fields_.size());
    for (size_t i = 0; i < fields_.size(); ++i)
      result[fields_[i]] = NestFlat(std::move(inline_[i]), geo_.kept_shape());
    inline_.clear();
    return result;
  }
  if (stream_ || tiled_) {
    // Renamed into place only now, as the partials' files are: a failure
    // in a later pass or analysis leaves nothing behind.
    MM_RETURN_IF_ERROR(files_.Commit());
    Json files = Json::object();
    const std::vector<std::string> paths = NpyFieldPaths(output_, fields_);
    for (size_t i = 0; i < fields_.size(); ++i) files[fields_[i]] = paths[i];
    return Json{{"shape", geo_.kept_shape()}, {"files", files}};
  }
  const uint64_t lanes = geo_.lanes();
  std::vector<uint64_t> order(lanes);  // output position -> internal lane
  for (uint64_t l = 0; l < lanes; ++l) order[geo_.OutputIndex(l)] = l;
  if (lanes * fields_.size() > kMaxInlineNumbers) return WriteFiles(order);
  Json result = ObjectWithRoom(fields_.size());
  for (size_t f = 0; f < fields_.size(); ++f) {
    std::vector<Json> flat;
    flat.reserve(lanes);
    for (uint64_t i = 0; i < lanes; ++i)
      flat.push_back(Field(field_ids_[f], merged_.Get(order[i])));
    result[fields_[f]] = NestFlat(std::move(flat), geo_.kept_shape());
  }
  return result;
}

Result<Json> Stats::WriteFiles(const std::vector<uint64_t>& order) const {
  std::vector<NpyField> fields;
  for (const std::string& f : fields_) {
    NpyField field;
    field.name = f;
    field.shape = geo_.kept_shape();
    const FieldId id = FieldOf(f);
    field.is_int = IsIntField(id, integer_);
    for (const uint64_t lane : order) {
      char bits[8];
      MM_RETURN_IF_ERROR(FieldBits(id, merged_.Get(lane), bits));
      if (field.is_int) {
        field.ints.emplace_back();
        std::memcpy(&field.ints.back(), bits, 8);
      } else {
        field.doubles.emplace_back();
        std::memcpy(&field.doubles.back(), bits, 8);
      }
    }
    fields.push_back(std::move(field));
  }
  MM_ASSIGN_OR_RETURN(Json files, WriteNpyFields(output_, fields));
  return Json{{"shape", geo_.kept_shape()}, {"files", files}};
}

}  // namespace

void MergeLane(LaneStats* a, const LaneStats& b, bool integer) {
  a->nan += b.nan;
  if (b.n == 0) return;
  if (a->n == 0) {
    const int64_t nan = a->nan;
    *a = b;
    a->nan = nan;
    return;
  }
  const double na = static_cast<double>(a->n), nb = static_cast<double>(b.n);
  const double n = na + nb;
  const double delta = (b.mean - a->mean) + (b.mean_lo - a->mean_lo);
  MoveMean(&a->mean, &a->mean_lo, delta * (nb / n));
  a->m2 = a->m2 + b.m2 + delta * delta * (na * nb / n);
  a->n += b.n;
  if (integer) {
    a->isum += b.isum;
    a->imin = std::min(a->imin, b.imin);
    a->imax = std::max(a->imax, b.imax);
  } else {
    a->sum += b.sum;
    a->min = std::min(a->min, b.min);
    a->max = std::max(a->max, b.max);
  }
}

std::unique_ptr<Analysis> MakeLaneStatsPasses(const AnalysisSpec& spec, const Dataset& dataset,
                                              const Partition& partition, LaneGeometry geo,
                                              LaneSink sink) {
  return std::unique_ptr<Analysis>(new Stats(spec, dataset, partition, std::move(geo),
                                             {"count", "sum", "mean", "var"}, 0, "",
                                             std::move(sink)));
}

Result<std::unique_ptr<Analysis>> MakeStats(const AnalysisSpec& spec, const Dataset& dataset,
                                            const Partition& partition) {
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, {"axis", "ddof", "stats", "output"},
                               "analyses[" + std::to_string(spec.index) + "]"));
  const Json axis = spec.params.contains("axis") ? spec.params["axis"] : Json(nullptr);
  MM_ASSIGN_OR_RETURN(std::vector<int> reduced, ParseAxes(spec, axis, dataset.layout.ndim()));
  int64_t ddof = 0;
  if (spec.params.contains("ddof")) {
    const Json& d = spec.params["ddof"];
    if (!d.is_number_integer() || d.get<int64_t>() < 0)
      return ParamError(spec, "ddof", "must be a non-negative integer, got " + d.dump());
    ddof = d.get<int64_t>();
  }
  std::vector<std::string> fields = kFields;
  if (spec.params.contains("stats")) {
    const Json& s = spec.params["stats"];
    if (!s.is_array() || s.empty())
      return ParamError(spec, "stats", "must be a non-empty list of field names");
    std::vector<std::string> wanted;
    for (const Json& f : s) {
      if (!f.is_string() ||
          std::find(kFields.begin(), kFields.end(), f.get<std::string>()) == kFields.end())
        return ParamError(spec, "stats",
                          "unknown field " + f.dump() +
                              "; known: count, nan_count, sum, mean, var, std, min, max");
      wanted.push_back(f.get<std::string>());
    }
    fields.clear();
    for (const std::string& f : kFields)
      if (std::find(wanted.begin(), wanted.end(), f) != wanted.end()) fields.push_back(f);
  }
  MM_ASSIGN_OR_RETURN(std::string output, ParseOutputPrefix(spec));
  LaneGeometry geo(dataset.layout, reduced);
  if (geo.lanes() * fields.size() > kMaxInlineNumbers && output.empty())
    return ParamError(spec, "output",
                      "the result would hold " + std::to_string(geo.lanes() * fields.size()) +
                          " numbers (more than 1000000); give \"output\": \"PREFIX\" to write "
                          "each field to PREFIX.FIELD.npy");
  return std::unique_ptr<Analysis>(
      new Stats(spec, dataset, partition, std::move(geo), fields, ddof, output));
}

}  // namespace mm
