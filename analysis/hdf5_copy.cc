#include "analysis/hdf5_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "analysis/array_copy.h"
#include "io/files.h"
#include "source/dataset.h"

namespace mm {

namespace {

std::string ProcFd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

}  // namespace

const std::vector<std::string>& Hdf5OutputKeys() {
  static const std::vector<std::string> keys = {"output_name", "chunks", "compression", "shuffle"};
  return keys;
}

Result<std::optional<Hdf5OutputSpec>> ParseCopyOutput(const AnalysisSpec& spec,
                                                      const std::string& output,
                                                      const std::vector<int64_t>& shape,
                                                      DType dtype) {
  const bool hdf5 = HasHdf5OutputExtension(output);
  if (!hdf5 && HasHdf5Extension(output))  // .nc
    return ParamError(spec, "output",
                      "names a netCDF file (.nc): mmrun writes HDF5 (.h5, .hdf5), .npy or raw "
                      "outputs, and netCDF-4 readers need dimensions it does not write");
  if (!hdf5) {
    for (const std::string& key : Hdf5OutputKeys())
      if (spec.params.contains(key))
        return ParamError(spec, key, "applies to HDF5 outputs (.h5, .hdf5) only");
    return std::optional<Hdf5OutputSpec>();
  }
  MM_ASSIGN_OR_RETURN(Hdf5OutputSpec h5,
                      ParseHdf5Output(spec.params, shape, dtype,
                                      "analyses[" + std::to_string(spec.index) + "].", "data"));
  return std::optional<Hdf5OutputSpec>(std::move(h5));
}

ChunkGrid::ChunkGrid(std::vector<int64_t> shape, std::vector<int64_t> chunks)
    : shape_(std::move(shape)), chunks_(std::move(chunks)), count_(1) {
  for (size_t a = 0; a < shape_.size(); ++a) {
    grid_.push_back((shape_[a] + chunks_[a] - 1) / chunks_[a]);
    count_ *= static_cast<uint64_t>(grid_.back());
  }
}

Box ChunkGrid::ChunkBox(uint64_t c) const {
  Box box;
  box.start.resize(shape_.size());
  box.count.resize(shape_.size());
  for (size_t a = shape_.size(); a-- > 0;) {
    const int64_t g = static_cast<int64_t>(c % static_cast<uint64_t>(grid_[a]));
    c /= static_cast<uint64_t>(grid_[a]);
    box.start[a] = g * chunks_[a];
    box.count[a] = std::min(chunks_[a], shape_[a] - box.start[a]);
  }
  return box;
}

std::pair<uint64_t, uint64_t> ChunkGrid::ChunksOfBlock(int64_t k, int64_t blocks) const {
  const auto at = [&](int64_t b) {
    return static_cast<uint64_t>(static_cast<unsigned __int128>(count_) * static_cast<uint64_t>(b) /
                                 static_cast<uint64_t>(blocks));
  };
  return {at(k), at(k + 1)};
}

uint64_t SlotBytes(uint64_t chunk_bytes) { return chunk_bytes + chunk_bytes / 16 + (64 << 10); }

void ChunkListPartial::Merge(const Partial& right_base) {
  const auto& r = static_cast<const ChunkListPartial&>(right_base);
  if (r.sizes.empty()) return;
  if (sizes.empty()) first = r.first;
  sizes.insert(sizes.end(), r.sizes.begin(), r.sizes.end());
  masks.insert(masks.end(), r.masks.begin(), r.masks.end());
}

Json ChunkListPartial::ToJson() const {
  return Json{{"first", first}, {"sizes", sizes}, {"masks", masks}};
}

Result<std::unique_ptr<Partial>> ChunkListPartial::FromJson(const Json& j, uint64_t chunks,
                                                            uint64_t slot) {
  auto bad = [](const std::string& why) {
    return Error(Code::kDataErr, "HDF5 output partial: " + why);
  };
  if (!j.is_object() || !j.contains("first") || !j["first"].is_number_unsigned() ||
      !j.contains("sizes") || !j["sizes"].is_array() || !j.contains("masks") ||
      !j["masks"].is_array() || j["sizes"].size() != j["masks"].size())
    return bad("malformed");
  auto p = std::make_unique<ChunkListPartial>();
  p->first = j["first"].get<uint64_t>();
  if (p->first > chunks || j["sizes"].size() > chunks - p->first) return bad("chunks out of range");
  for (size_t i = 0; i < j["sizes"].size(); ++i) {
    const Json& s = j["sizes"][i];
    const Json& m = j["masks"][i];
    if (!s.is_number_unsigned() || s.get<uint64_t>() > slot || !m.is_number_unsigned() ||
        m.get<uint64_t>() > UINT32_MAX)
      return bad("chunk entry " + std::to_string(i) + " is malformed");
    p->sizes.push_back(s.get<uint64_t>());
    p->masks.push_back(static_cast<uint32_t>(m.get<uint64_t>()));
  }
  return std::unique_ptr<Partial>(std::move(p));
}

namespace {

// Pass 1 (hdf5_copy.h). Chunks are gathered from the stage with pread, a
// bounded region at a time, not through a mapping: a worker's resident
// memory counts the stage pages it maps, and a gather that transposes maps
// pages of many short lines, whole large folios of the page cache each
// (mapped, a 1 GB cube's worker reached 154 MiB however often it dropped
// them). A region covers the box's lines along the stage's fastest axis
// for a range of the next-fastest one (reading at most kMaxPitch times
// the bytes it needs; a line longer than a region in pieces, a line whose
// elements are more than a page apart element by element), and, transposing, for a group of indices
// of the chunk's last axis, so that tiles of 32 x 32 elements go from the region to the chunk with
// both sides in L1.
//
// Narrow chunks side by side along the output's last axis, where the stage
// is contiguous along it, cover the same stage lines: gathered one by one,
// the (524288, 1) chunks of a 10-column table each read every stage byte
// of their rows (10 times in all). Up to kGroupBytes of such chunks are
// gathered together: their union is read as one transposing box (lines
// along another axis, one region holding all its indices along the last
// axis), and each tile goes to the chunk it belongs to.
class CompressScanner : public Scanner {
 public:
  static constexpr uint64_t kRegionBytes = uint64_t{4} << 20;
  static constexpr uint64_t kGroupBytes = uint64_t{12} << 20;
  // Chunks whose lines along the last axis are shorter than this are grouped.
  static constexpr uint64_t kNarrowBytes = 64;
  static constexpr int64_t kMaxPitch = 16;
  static constexpr int64_t kPageBytes = 4096;

  CompressScanner(const Hdf5OutputSpec& spec, DType dtype, const ChunkGrid& grid,
                  std::vector<int64_t> stage_strides, int64_t blocks, std::string stage_path,
                  FileId stage_id, std::string spool_path, FileId spool_id, std::string target)
      : spec_(spec),
        grid_(grid),
        blocks_(blocks),
        stage_path_(std::move(stage_path)),
        stage_id_(stage_id),
        target_(target),
        spool_(spec, dtype, std::move(spool_path), spool_id, std::move(target)),
        item_(static_cast<uint64_t>(dtype.itemsize())),
        stage_strides_(std::move(stage_strides)) {}

  Status Consume(const BlockView& block, Partial* partial) override {
    auto* out = static_cast<ChunkListPartial*>(partial);
    const auto [c0, c1] = grid_.ChunksOfBlock(block.block, blocks_);
    out->first = c0;
    if (c0 == c1) return Status::OK();
    MM_RETURN_IF_ERROR(Open());
    const size_t n = spec_.chunks.size();
    for (uint64_t c = c0; c < c1; ++c) {
      if (c >= group_first_ && c < group_first_ + group_count_) {
        MM_RETURN_IF_ERROR(
            spool_.Put(c, Dst(static_cast<int64_t>(c - group_first_), group_count_), out));
        continue;
      }
      Box box = grid_.ChunkBox(c);
      // From c to the end of its group (chunks past the block are kept for
      // the next blocks, which are usually this worker's too).
      const uint64_t in_row = c % across_;
      const uint64_t g = group_size_ > 1 && MultiLine(box)
                             ? std::min(across_, (in_row / group_size_ + 1) * group_size_) - in_row
                             : 1;
      group_count_ = 0;
      if (g > 1) {
        const Box end = grid_.ChunkBox(c + g - 1);
        box.count[n - 1] = end.start[n - 1] + end.count[n - 1] - box.start[n - 1];
        group_.resize(g * spool_.chunk_bytes());
      }
      MM_RETURN_IF_ERROR(Gather(box, static_cast<int64_t>(g)));
      if (g > 1) {
        group_first_ = c;
        group_count_ = g;
      }
      MM_RETURN_IF_ERROR(spool_.Put(c, Dst(0, g), out));
    }
    return Status::OK();
  }

 private:
  Status Open() {
    if (opened_) return Status::OK();
    MM_RETURN_IF_ERROR(spool_.Open());
    MM_ASSIGN_OR_RETURN(stage_,
                        FileDescriptor::Open(stage_path_, O_RDONLY | O_NOFOLLOW, 0, Code::kIoErr));
    stage_what_ = target_ + " (stage " + stage_path_ + ")";
    MM_RETURN_IF_ERROR(CheckFileId(stage_.get(), stage_id_, stage_what_));
    // Narrow chunks: each row of the grid in even groups of at most kGroupBytes
    // of chunks, whose last-axis extent (read whole with every region) is at
    // most half a region.
    const size_t n = spec_.chunks.size();
    if (n >= 2 && stage_strides_[n - 1] == 1 &&
        static_cast<uint64_t>(spec_.chunks[n - 1]) * item_ < kNarrowBytes) {
      across_ = static_cast<uint64_t>(grid_.per_axis()[n - 1]);
      const uint64_t most = std::max<uint64_t>(
          1, std::min(kGroupBytes / spool_.chunk_bytes(),
                      kRegionBytes / 2 / (static_cast<uint64_t>(spec_.chunks[n - 1]) * item_)));
      const uint64_t groups = (across_ + most - 1) / most;
      group_size_ = (across_ + groups - 1) / groups;
    }
    opened_ = true;
    return Status::OK();
  }

  // Whether a chunk's box has more than one index on an axis other than
  // the last (lines to group along).
  static bool MultiLine(const Box& box) {
    for (size_t a = 0; a + 1 < box.count.size(); ++a)
      if (box.count[a] > 1) return true;
    return false;
  }

  // The buffer of chunk k of a group of g (g = 1: the spool's own).
  char* Dst(int64_t k, uint64_t g) {
    return g == 1 ? spool_.chunk()
                  : group_.data() + static_cast<uint64_t>(k) * spool_.chunk_bytes();
  }

  // The elements of `box`, the union of `g` chunks side by side along the
  // last axis (g = 1: one chunk), from the stage into their buffers (Dst),
  // C order of the whole chunk shape; the rest of an edge chunk is 0 (the
  // fill value). A group (g > 1) has an axis other than the last with more
  // than one index, and a stage contiguous along the last axis.
  Status Gather(const Box& box, int64_t g) {
    const size_t n = box.start.size();
    const uint64_t ug = static_cast<uint64_t>(g);
    if (n == 0) {
      if (box.count != spec_.chunks) std::memset(spool_.chunk(), 0, spool_.chunk_bytes());
      return Read(spool_.chunk(), 0, 1);
    }
    const size_t last = n - 1;
    const int64_t cl = spec_.chunks[last];
    for (int64_t k = 0; k < g; ++k) {
      bool edge = std::min(cl, box.count[last] - k * cl) != cl;
      for (size_t a = 0; a < last; ++a) edge = edge || box.count[a] != spec_.chunks[a];
      if (edge) std::memset(Dst(k, ug), 0, spool_.chunk_bytes());
    }
    const std::vector<int64_t>& S = stage_strides_;
    std::vector<int64_t> cs(n, 1);  // the chunk's strides
    for (size_t a = n - 1; a > 0; --a) cs[a - 1] = cs[a] * spec_.chunks[a];
    // f1: the axis of lines (the smallest stage stride; not the last in a
    // group); transposing, tiles pair it with the chunk's last axis; f2: the
    // axis a region spans (the next smallest stride), if any.
    size_t f1 = last;
    for (size_t a = 0; a < n; ++a)
      if (box.count[a] > 1 && !(g > 1 && a == last) &&
          (box.count[f1] == 1 || (g > 1 && f1 == last) || S[a] < S[f1]))
        f1 = a;
    const bool transpose = f1 != last && box.count[last] > 1;
    size_t f2 = n;
    for (size_t a = 0; a < n; ++a)
      if (a != f1 && !(transpose && a == last) && box.count[a] > 1 && (f2 == n || S[a] < S[f2]))
        f2 = a;
    // A line is read in pieces whose span is at most a region; elements
    // more than a page apart one by one (reading one costs about as much
    // as copying a page). A group reads all its indices along the last axis
    // (consecutive in the stage) in one region: room is left for them.
    const int64_t groups_all = transpose ? box.count[last] : 1;
    const int64_t extra = g > 1 ? groups_all - 1 : 0;
    const int64_t region_cap = static_cast<int64_t>(kRegionBytes / item_) - extra;
    const int64_t piece = S[f1] * static_cast<int64_t>(item_) > kPageBytes
                              ? 1
                              : std::max<int64_t>(1, (region_cap - 1) / S[f1] + 1);
    const int64_t f2_count = f2 < n ? box.count[f2] : 1;
    const int64_t f2_stride = f2 < n ? S[f2] : 0, f2_cs = f2 < n ? cs[f2] : 0;
    const int64_t line = box.count[f1];
    const int64_t groups = groups_all;
    const int64_t last_stage = transpose ? S[last] : 0, last_cs = transpose ? cs[last] : 0;
    std::vector<int64_t> idx(n, 0);
    const auto outer = [&](size_t a) { return a != f1 && a != f2 && !(transpose && a == last); };
    for (;;) {
      int64_t from = 0, to = 0;
      for (size_t a = 0; a < n; ++a) {
        from += (box.start[a] + idx[a]) * S[a];
        to += idx[a] * cs[a];
      }
      for (int64_t r0 = 0; r0 < line; r0 += piece) {
        const int64_t rl = std::min(piece, line - r0);  // elements r0..r0+rl of the line
        const int64_t span = (rl - 1) * S[f1] + 1;      // the stage elements they cover
        // Lines of f2 per region: all that fit when they are close, else one.
        const bool close = f2 < n && f2_stride <= kMaxPitch * span;
        const int64_t per_region =
            close ? std::clamp<int64_t>((region_cap - span) / f2_stride + 1, 1, f2_count) : 1;
        for (int64_t t0 = 0; t0 < f2_count; t0 += per_region) {
          const int64_t t1 = std::min(f2_count, t0 + per_region);
          // Region: those pieces of lines t0..t1 of f2 as they lie in the stage.
          const int64_t region = (t1 - t0 - 1) * f2_stride + span;
          // A group: every index along the last axis in one region, in
          // place (last_stage apart); else each index's region side by side
          // (region apart).
          const int64_t per_group =
              g > 1 ? groups : std::clamp<int64_t>(region_cap / region, 1, groups);
          const int64_t apart = g > 1 ? last_stage : region;
          region_.resize(static_cast<size_t>((per_group - 1) * apart + region) * item_);
          for (int64_t g0 = 0; g0 < groups; g0 += per_group) {
            const int64_t g1 = std::min(groups, g0 + per_group);
            const int64_t first = from + r0 * S[f1] + t0 * f2_stride + g0 * last_stage;
            if (g > 1) {
              MM_RETURN_IF_ERROR(Read(region_.data(), static_cast<uint64_t>(first),
                                      static_cast<uint64_t>((g1 - g0 - 1) * apart + region)));
            } else {
              for (int64_t l = g0; l < g1; ++l)
                MM_RETURN_IF_ERROR(
                    Read(region_.data() + static_cast<uint64_t>((l - g0) * region) * item_,
                         static_cast<uint64_t>(first + (l - g0) * last_stage),
                         static_cast<uint64_t>(region)));
            }
            for (int64_t t = t0; t < t1; ++t) {
              // dst[r * cs[f1] + l * cs[last]] = src[r * S[f1] + l * apart],
              // for the indices l of each chunk of the group in turn.
              const char* src =
                  region_.data() + static_cast<uint64_t>((t - t0) * f2_stride) * item_;
              const int64_t at = to + r0 * cs[f1] + t * f2_cs;
              if (g > 1 && cl == 1) {  // chunk k's buffer is k chunks on: one tiled copy
                CopyStrided(src, S[f1], Dst(g0, ug) + static_cast<uint64_t>(at) * item_, cs[f1], rl,
                            g1 - g0, apart, static_cast<int64_t>(spool_.chunk_bytes() / item_));
                continue;
              }
              for (int64_t l0 = g0; l0 < g1;) {
                const int64_t k = l0 / cl, l1 = std::min(g1, (k + 1) * cl);
                char* dst =
                    Dst(k, ug) + static_cast<uint64_t>(at + (l0 - k * cl) * last_cs) * item_;
                CopyStrided(src + static_cast<uint64_t>((l0 - g0) * apart) * item_, S[f1], dst,
                            cs[f1], rl, l1 - l0, apart, last_cs);
                l0 = l1;
              }
            }
          }
        }
      }
      size_t a = n;
      while (a-- > 0) {
        if (!outer(a)) continue;
        if (++idx[a] < box.count[a]) break;
        idx[a] = 0;
      }
      if (a == static_cast<size_t>(-1)) return Status::OK();
    }
  }

  // `count` stage elements from element `first` into `to`.
  Status Read(char* to, uint64_t first, uint64_t count) {
    MM_ASSIGN_OR_RETURN(const uint64_t got,
                        PreadFull(stage_.get(), to, count * item_, first * item_, stage_what_));
    if (got != count * item_) return Error(Code::kIoErr, stage_what_ + ": shorter than its size");
    return Status::OK();
  }

  // A 2-D copy of `rows` x `cols` elements: element (r, l) from
  // src[r * src_r + l * src_l] to dst[r * dst_r + l * dst_l] (strides in
  // elements), in tiles of 32 x 32 so that the lines read and written stay
  // in L1; rows of stride 1 on both sides are one memcpy.
  void CopyStrided(const char* src, int64_t src_r, char* dst, int64_t dst_r, int64_t rows,
                   int64_t cols, int64_t src_l, int64_t dst_l) const {
    const int64_t item = static_cast<int64_t>(item_);
    if (cols == 1 && src_r == 1 && dst_r == 1) {
      std::memcpy(dst, src, static_cast<size_t>(rows * item));
      return;
    }
    switch (item_) {
      case 1:
        return Tiles<1>(src, src_r, dst, dst_r, rows, cols, src_l, dst_l);
      case 2:
        return Tiles<2>(src, src_r, dst, dst_r, rows, cols, src_l, dst_l);
      case 4:
        return Tiles<4>(src, src_r, dst, dst_r, rows, cols, src_l, dst_l);
      case 8:
        return Tiles<8>(src, src_r, dst, dst_r, rows, cols, src_l, dst_l);
      default:
        for (int64_t l = 0; l < cols; ++l)
          for (int64_t r = 0; r < rows; ++r)
            std::memcpy(dst + (r * dst_r + l * dst_l) * item, src + (r * src_r + l * src_l) * item,
                        item_);
    }
  }

  template <size_t N>
  static void Tiles(const char* src, int64_t src_r, char* dst, int64_t dst_r, int64_t rows,
                    int64_t cols, int64_t src_l, int64_t dst_l) {
    constexpr int64_t kTile = 32;
    const auto at = [](auto* base, int64_t k) { return base + k * static_cast<int64_t>(N); };
    for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile);
      for (int64_t l0 = 0; l0 < cols; l0 += kTile) {
        const int64_t l1 = std::min(cols, l0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t l = l0; l < l1; ++l)
            std::memcpy(at(dst, r * dst_r + l * dst_l), at(src, r * src_r + l * src_l), N);
      }
    }
  }

  Hdf5OutputSpec spec_;
  ChunkGrid grid_;
  int64_t blocks_;
  std::string stage_path_;
  FileId stage_id_;
  std::string target_;
  ChunkSpoolWriter spool_;
  uint64_t item_;
  std::vector<int64_t> stage_strides_;  // elements per index of each axis of the stage
  bool opened_ = false;
  FileDescriptor stage_;
  std::vector<char> region_;                    // the stage bytes a gather reads at once
  std::vector<char> group_;                     // a group's chunks, one after another
  uint64_t group_first_ = 0, group_count_ = 0;  // the chunks group_ holds
  uint64_t across_ = 1, group_size_ = 1;        // chunks per row of the grid, per group
  std::string stage_what_;  // the stage in error messages (made once, not per read)
};

}  // namespace

std::unique_ptr<Scanner> NewCompressScanner(const Hdf5OutputSpec& spec, DType dtype,
                                            const ChunkGrid& grid,
                                            const std::vector<int64_t>& stage_strides,
                                            int64_t blocks, std::string stage_path, FileId stage_id,
                                            std::string spool_path, FileId spool_id,
                                            std::string target) {
  return std::make_unique<CompressScanner>(spec, dtype, grid, stage_strides, blocks,
                                           std::move(stage_path), stage_id, std::move(spool_path),
                                           spool_id, std::move(target));
}

Result<uint64_t> WriteChunkedOutput(int fd, int spool_fd, const std::string& target,
                                    const Hdf5OutputSpec& spec, DType dtype,
                                    const std::vector<int64_t>& shape, const ChunkGrid& grid,
                                    const ChunkListPartial& chunks) {
  if (chunks.first != 0 || chunks.sizes.size() != grid.count())
    return Error(Code::kWorkerFailed, target + ": the workers compressed " +
                                          std::to_string(chunks.sizes.size()) + " of " +
                                          std::to_string(grid.count()) + " chunks");
  // libhdf5 lays the file out; its bytes go out through an OutputFile, so
  // the chunks' whole blocks go around the page cache (docs/CHOICES.md
  // "Outputs written around the page cache"): through the cache, this one
  // process's copy of every chunk was most of a compressed copy's time.
  OutputFile out;
  MM_RETURN_IF_ERROR(out.Adopt(fd, target));
  Hdf5FileSink sink;
  sink.fd = fd;
  sink.name = target;
  sink.write = [&out](uint64_t off, const char* p, uint64_t n) { return out.WriteAt(off, p, n); };
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Hdf5ChunkWriter> writer,
                      Hdf5ChunkWriter::Create(ProcFd(fd), target, spec, dtype, shape, &sink));
  uint64_t chunk_bytes = static_cast<uint64_t>(dtype.itemsize());
  for (int64_t x : spec.chunks) chunk_bytes *= static_cast<uint64_t>(x);
  const uint64_t slot = SlotBytes(chunk_bytes);
  std::vector<char> buf;
  uint64_t stored = 0;
  for (uint64_t c = 0; c < grid.count(); ++c) {
    const uint64_t size = chunks.sizes[c];
    buf.resize(size);
    MM_ASSIGN_OR_RETURN(const uint64_t got,
                        PreadFull(spool_fd, buf.data(), size, c * slot, target + ": spool read"));
    if (got != size) return Error(Code::kIoErr, target + ": the spool is shorter than its chunks");
    MM_RETURN_IF_ERROR(
        writer->WriteChunk(grid.ChunkBox(c).start, buf.data(), size, chunks.masks[c]));
    stored += size;
  }
  MM_RETURN_IF_ERROR(writer->Close());
  return stored;
}

Result<uint64_t> CreateContiguousOutput(int fd, const std::string& target,
                                        const Hdf5OutputSpec& spec, DType dtype,
                                        const std::vector<int64_t>& shape) {
  // Through a sink too (plain writes: only metadata), so that a failed
  // write never leaves the file open in libhdf5 (Hdf5ChunkWriter::CloseOnce).
  Hdf5FileSink sink;
  sink.fd = fd;
  sink.name = target;
  sink.write = [fd, &target](uint64_t off, const char* p, uint64_t n) {
    return PwriteFull(fd, p, n, off, target + ": write", Code::kIoErr, Code::kCantCreate);
  };
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Hdf5ChunkWriter> writer,
                      Hdf5ChunkWriter::Create(ProcFd(fd), target, spec, dtype, shape, &sink));
  const uint64_t offset = writer->data_offset();
  MM_RETURN_IF_ERROR(writer->Close());
  return offset;
}

uint64_t ChunkBytes(const Hdf5OutputSpec& spec, DType dtype) {
  uint64_t bytes = static_cast<uint64_t>(dtype.itemsize());
  for (int64_t x : spec.chunks) bytes *= static_cast<uint64_t>(x);
  return bytes;
}

// ---------------------------------------------------------------- ChunkSpoolWriter

ChunkSpoolWriter::ChunkSpoolWriter(const Hdf5OutputSpec& spec, DType dtype, std::string spool_path,
                                   FileId spool_id, std::string target)
    : spec_(spec),
      dtype_(dtype),
      spool_path_(std::move(spool_path)),
      spool_id_(spool_id),
      target_(std::move(target)) {}

Status ChunkSpoolWriter::Open() {
  if (compressor_) return Status::OK();
  MM_ASSIGN_OR_RETURN(spool_,
                      FileDescriptor::Open(spool_path_, O_WRONLY | O_NOFOLLOW, 0, Code::kIoErr));
  MM_RETURN_IF_ERROR(
      CheckFileId(spool_.get(), spool_id_, target_ + " (spool " + spool_path_ + ")"));
  MM_ASSIGN_OR_RETURN(std::unique_ptr<ChunkCompressor> compressor,
                      ChunkCompressor::Make(spec_, dtype_));
  chunk_.assign(compressor->chunk_bytes(), 0);
  slot_ = SlotBytes(compressor->chunk_bytes());
  compressor_ = std::move(compressor);
  return Status::OK();
}

Status ChunkSpoolWriter::Put(uint64_t c, ChunkListPartial* out) {
  return Put(c, chunk_.data(), out);
}

Status ChunkSpoolWriter::Put(uint64_t c, const char* chunk, ChunkListPartial* out) {
  uint32_t mask = 0;
  MM_RETURN_IF_ERROR(compressor_->Compress(chunk, &stored_, &mask));
  if (stored_.size() > slot_)
    return Error(Code::kIoErr, target_ + ": a compressed chunk of " +
                                   std::to_string(stored_.size()) + " bytes overflows its " +
                                   std::to_string(slot_) + "-byte slot");
  MM_RETURN_IF_ERROR(PwriteFull(spool_.get(), stored_.data(), stored_.size(), c * slot_,
                                target_ + ": spool write", Code::kIoErr, Code::kCantCreate));
  out->sizes.push_back(stored_.size());
  out->masks.push_back(mask);
  return Status::OK();
}

// ---------------------------------------------------------------- Hdf5OutputFile

Hdf5OutputFile::Hdf5OutputFile(std::string target, Hdf5OutputSpec spec, DType dtype,
                               std::vector<int64_t> shape)
    : target_(std::move(target)), spec_(std::move(spec)), dtype_(dtype), shape_(std::move(shape)) {}

Status Hdf5OutputFile::CreateContiguous() {
  MM_ASSIGN_OR_RETURN(out_, TempOutput::Create(target_));
  MM_ASSIGN_OR_RETURN(data_offset_,
                      CreateContiguousOutput(out_.fd(), target_, spec_, dtype_, shape_));
  uint64_t data_bytes = static_cast<uint64_t>(dtype_.itemsize());
  for (int64_t x : shape_) data_bytes *= static_cast<uint64_t>(x);
  if (data_bytes > 0) MM_RETURN_IF_ERROR(out_.Reserve(data_offset_ + data_bytes));
  MM_ASSIGN_OR_RETURN(temp_id_, IdOfFd(out_.fd(), out_.temp_path()));
  return Status::OK();
}

Status Hdf5OutputFile::CreateSpool() {
  MM_ASSIGN_OR_RETURN(spool_, TempOutput::Create(target_));
  const uint64_t bytes = grid().count() * slot_bytes();
  if (::ftruncate(spool_.fd(), static_cast<off_t>(bytes)) != 0)
    return FromErrno(errno, target_ + ": cannot size the chunk spool", Code::kCantCreate);
  MM_ASSIGN_OR_RETURN(spool_id_, IdOfFd(spool_.fd(), spool_.temp_path()));
  return Status::OK();
}

Status Hdf5OutputFile::WriteChunks(const ChunkListPartial& chunks) {
  MM_ASSIGN_OR_RETURN(out_, TempOutput::Create(target_));
  MM_ASSIGN_OR_RETURN(stored_bytes_, WriteChunkedOutput(out_.fd(), spool_.fd(), target_, spec_,
                                                        dtype_, shape_, grid(), chunks));
  spool_ = TempOutput();  // spent: removed at once
  return Status::OK();
}

Status Hdf5OutputFile::Commit() { return out_.Commit(); }

Status Hdf5OutputFile::Describe(Json* j) const {
  struct stat st;
  if (::fstat(out_.fd(), &st) != 0) return FromErrno(errno, target_, Code::kIoErr);
  uint64_t data_bytes = static_cast<uint64_t>(dtype_.itemsize());
  for (int64_t x : shape_) data_bytes *= static_cast<uint64_t>(x);
  (*j)["format"] = "hdf5";
  (*j)["order"] = "C";
  (*j)["bytes"] = static_cast<uint64_t>(st.st_size);
  (*j)["hdf5"] = DescribeHdf5Output(spec_, chunked() ? stored_bytes_ : data_bytes, data_bytes);
  return Status::OK();
}

}  // namespace mm
