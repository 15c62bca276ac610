#include "analysis/array_copy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/casting.h"

namespace mm {

// ---------------------------------------------------------------- OutputFile

OutputFile::~OutputFile() { Release(); }

Status OutputFile::Open(const std::string& path, const std::string& target, const FileId& id) {
  Release();
  MM_ASSIGN_OR_RETURN(fd_, FileDescriptor::Open(path, O_RDWR | O_NOFOLLOW, 0, Code::kCantCreate));
  MM_RETURN_IF_ERROR(CheckFileId(fd_.get(), id, target + " (temporary " + path + ")"));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return FromErrno(errno, target, Code::kIoErr);
  size_ = static_cast<uint64_t>(st.st_size);
  target_ = target;
  growing_ = false;
  OpenDirect();
  return Status::OK();
}

Status OutputFile::Adopt(int fd, const std::string& target) {
  Release();
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return FromErrno(errno, target, Code::kIoErr);
  fd_ = FileDescriptor(copy);
  size_ = 0;
  target_ = target;
  growing_ = true;
  OpenDirect();
  return Status::OK();
}

void OutputFile::OpenDirect() {
  // Pages of 4 KiB only: the blocks written around the cache are pages.
  direct_ = FileDescriptor();
  if (::sysconf(_SC_PAGESIZE) == static_cast<long>(kDirectAlign))
    direct_ = ReopenForDirectWrite(fd_.get());
  random_spans_ = direct_.valid();
}

void OutputFile::Release() {
  if (map_ != nullptr) ::munmap(map_, map_hi_ - map_lo_);
  map_ = nullptr;
  map_lo_ = map_hi_ = 0;
}

Result<char*> OutputFile::Span(uint64_t lo, uint64_t hi) {
  if (map_ != nullptr && lo >= map_lo_ && hi <= map_hi_) return map_ + (lo - map_lo_);
  Release();
  if (growing_ || hi > size_ || lo >= hi)
    return Error(Code::kIoErr, target_ + ": write of bytes [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + ") outside the output (" +
                                   std::to_string(size_) + " bytes)");
  static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t a = lo / page * page;
  const uint64_t b = std::min(size_, std::max(hi, a + kSpanBytes));
  void* p =
      ::mmap(nullptr, b - a, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), static_cast<off_t>(a));
  if (p == MAP_FAILED) return FromErrno(errno, target_ + ": cannot map the output", Code::kIoErr);
  // No read-ahead on a fault: it would fill the page cache with large
  // folios around the page, and a folio that holds both bytes this process
  // dirties and blocks another worker writes around the cache would be
  // written back with those blocks as they were before (docs/CHOICES.md
  // "Outputs written around the page cache"). Faults then take one page.
  if (random_spans_) ::madvise(p, b - a, MADV_RANDOM);
  map_ = static_cast<char*>(p);
  map_lo_ = a;
  map_hi_ = b;
  return map_ + (lo - a);
}

Status OutputFile::WriteAt(uint64_t off, const char* p, uint64_t n) {
  if (!growing_ && off + n > size_)
    return Error(Code::kIoErr, target_ + ": write of bytes [" + std::to_string(off) + ", " +
                                   std::to_string(off + n) + ") outside the output (" +
                                   std::to_string(size_) + " bytes)");
  // New page-cache pages cost this kind of VM a host fault each (free page
  // reporting): 4 GB written through the cache took 7-9 s of system time,
  // around it 0.4 s (docs/BENCHMARKS.md, session 35).
  const uint64_t a = (off + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  const uint64_t b = (off + n) / kDirectAlign * kDirectAlign;
  if (direct_.valid() && b > a && b - a >= kDirectBytes) {
    if (a > off)
      MM_RETURN_IF_ERROR(PwriteFull(fd_.get(), p, a - off, off, target_ + ": write", Code::kIoErr,
                                    Code::kCantCreate));
    MM_RETURN_IF_ERROR(WriteDirect(a, p + (a - off), b - a));
    return PwriteFull(fd_.get(), p + (b - off), off + n - b, b, target_ + ": write", Code::kIoErr,
                      Code::kCantCreate);
  }
  return PwriteFull(fd_.get(), p, n, off, target_ + ": write", Code::kIoErr, Code::kCantCreate);
}

// n bytes of whole blocks at the aligned `off`, in pieces of at most
// kBounceBytes when they go through the bounce buffer. A piece that fails
// (EINVAL: this file system wants a larger alignment; ENOSPC, EIO; a short
// write) turns O_DIRECT off for the file, and the rest, that piece
// included, is written through the page cache, which reports any error as
// every write does.
Status OutputFile::WriteDirect(uint64_t off, const char* p, uint64_t n) {
  constexpr uint64_t kBounceBytes = 1 << 20;
  const bool aligned = reinterpret_cast<uintptr_t>(p) % kDirectAlign == 0;
  if (!aligned && bounce_ == nullptr)
    bounce_.reset(static_cast<char*>(std::aligned_alloc(kDirectAlign, kBounceBytes)));
  uint64_t done = 0;
  while (done < n && (aligned || bounce_ != nullptr)) {
    const uint64_t len = aligned ? n - done : std::min(kBounceBytes, n - done);
    const char* from = aligned ? p + done : bounce_.get();
    if (!aligned) std::memcpy(bounce_.get(), p + done, len);
    if (!PwriteFull(direct_.get(), from, len, off + done, target_).ok()) {
      direct_ = FileDescriptor();
      break;
    }
    done += len;
  }
  return PwriteFull(fd_.get(), p + done, n - done, off + done, target_ + ": write", Code::kIoErr,
                    Code::kCantCreate);
}

// ---------------------------------------------------------------- line copies

namespace {

// Copies n elements from src (stride in bytes, may be negative) to the
// contiguous dst, casting In to Out.
using LineFn = void (*)(const char* src, int64_t stride, char* dst, uint64_t n);

template <class In, bool kInSwap, class Out, bool kOutSwap>
void CastLine(const char* src, int64_t stride, char* dst, uint64_t n) {
  using S = typename Out::Storage;
  for (uint64_t i = 0; i < n; ++i) {
    S v = CastElement<Out>(LoadElement<In, kInSwap>(src + static_cast<int64_t>(i) * stride));
    if constexpr (kOutSwap) v = ByteSwap(v);
    std::memcpy(dst + i * sizeof(S), &v, sizeof(S));
  }
}

template <size_t N>
void SameLine(const char* src, int64_t stride, char* dst, uint64_t n) {
  if (stride == static_cast<int64_t>(N)) {
    std::memcpy(dst, src, n * N);
    return;
  }
  for (uint64_t i = 0; i < n; ++i)
    std::memcpy(dst + i * N, src + static_cast<int64_t>(i) * stride, N);
}

LineFn SelectLine(DType in, DType out) {
  if (in == out) {
    switch (in.itemsize()) {
      case 1:
        return &SameLine<1>;
      case 2:
        return &SameLine<2>;
      case 4:
        return &SameLine<4>;
      default:
        return &SameLine<8>;
    }
  }
  const bool in_swap = in.needs_swap(), out_swap = out.needs_swap();
  return VisitKind(in.kind, [&](auto in_t) -> LineFn {
    using I = decltype(in_t);
    return VisitKind(out.kind, [&](auto out_t) -> LineFn {
      using O = decltype(out_t);
      if (in_swap) return out_swap ? &CastLine<I, true, O, true> : &CastLine<I, true, O, false>;
      return out_swap ? &CastLine<I, false, O, true> : &CastLine<I, false, O, false>;
    });
  });
}

// Contiguous output runs at least this long are staged and pwritten; a
// stage holds at most kStageBytes.
constexpr uint64_t kStagedRunBytes = 64 << 10;
constexpr uint64_t kStageBytes = 4 << 20;

int64_t FloorDiv(__int128 a, __int128 b) {  // b > 0
  __int128 q = a / b;
  if ((a % b != 0) && (a < 0)) --q;
  return static_cast<int64_t>(q);
}

int64_t CeilDiv(__int128 a, __int128 b) {  // b > 0
  __int128 q = a / b;
  if ((a % b != 0) && (a > 0)) ++q;
  return static_cast<int64_t>(q);
}

}  // namespace

// ---------------------------------------------------------------- ArrayCopy

ArrayCopy::ArrayCopy(const Layout& in, std::vector<AxisSelect> sel, std::vector<int> out_axis_of,
                     char out_order, DType out_dtype, uint64_t out_offset)
    : in_(in),
      sel_(std::move(sel)),
      out_axis_of_(std::move(out_axis_of)),
      out_order_(out_order),
      out_dtype_(out_dtype),
      out_offset_(out_offset) {
  const int nd = in_.ndim();
  int out_nd = 0;
  for (int a = 0; a < nd; ++a) out_nd = std::max(out_nd, out_axis_of_[static_cast<size_t>(a)] + 1);
  out_shape_.assign(static_cast<size_t>(out_nd), 0);
  for (int a = 0; a < nd; ++a)
    if (out_axis_of_[static_cast<size_t>(a)] >= 0)
      out_shape_[static_cast<size_t>(out_axis_of_[static_cast<size_t>(a)])] =
          sel_[static_cast<size_t>(a)].count;
  out_elements_ = 1;
  for (int64_t d : out_shape_) out_elements_ *= static_cast<uint64_t>(d);
  out_strides_.assign(static_cast<size_t>(out_nd), 1);
  int64_t acc = 1;
  if (out_order_ == 'C') {
    for (int j = out_nd - 1; j >= 0; --j) {
      out_strides_[static_cast<size_t>(j)] = acc;
      acc *= std::max<int64_t>(1, out_shape_[static_cast<size_t>(j)]);
    }
  } else {
    for (int j = 0; j < out_nd; ++j) {
      out_strides_[static_cast<size_t>(j)] = acc;
      acc *= std::max<int64_t>(1, out_shape_[static_cast<size_t>(j)]);
    }
  }
  in_dims_ = in_.storage_dims();
  in_strides_.assign(in_dims_.size(), 1);
  acc = 1;
  for (size_t s = in_dims_.size(); s-- > 0;) {
    in_strides_[s] = acc;
    acc *= in_dims_[s];
  }
}

ArrayCopy ArrayCopy::InInputOrder() const {
  ArrayCopy c = *this;
  int64_t acc = 1;
  for (size_t s = in_dims_.size(); s-- > 0;) {
    const int j = out_axis_of_[static_cast<size_t>(in_.storage_axis(static_cast<int>(s)))];
    if (j < 0) continue;
    c.out_strides_[static_cast<size_t>(j)] = acc;
    acc *= std::max<int64_t>(1, out_shape_[static_cast<size_t>(j)]);
  }
  return c;
}

uint64_t ArrayCopy::out_file_bytes() const {
  return out_offset_ + out_elements_ * static_cast<uint64_t>(out_dtype_.itemsize());
}

std::vector<ArrayCopy::IndexBox> ArrayCopy::RangeBoxes(const std::vector<int64_t>& dims,
                                                       uint64_t begin, uint64_t end) {
  std::vector<IndexBox> boxes;
  const size_t nd = dims.size();
  std::vector<int64_t> strides(nd, 1);
  for (size_t s = nd; s-- > 1;) strides[s - 1] = strides[s] * dims[s];
  uint64_t pos = begin;
  while (pos < end) {
    size_t d = 0;
    while (d + 1 < nd && !(pos % static_cast<uint64_t>(strides[d]) == 0 &&
                           pos + static_cast<uint64_t>(strides[d]) <= end))
      ++d;
    IndexBox box;
    box.lo.resize(nd);
    box.hi.resize(nd);
    uint64_t rest = pos;
    for (size_t s = 0; s < nd; ++s) {
      const int64_t idx = static_cast<int64_t>(rest / static_cast<uint64_t>(strides[s]));
      rest %= static_cast<uint64_t>(strides[s]);
      if (s < d) {
        box.lo[s] = idx;
        box.hi[s] = idx + 1;
      } else if (s == d) {
        const uint64_t k = std::min<uint64_t>((end - pos) / static_cast<uint64_t>(strides[s]),
                                              static_cast<uint64_t>(dims[s] - idx));
        box.lo[s] = idx;
        box.hi[s] = idx + static_cast<int64_t>(k);
        pos += k * static_cast<uint64_t>(strides[s]);
      } else {
        box.lo[s] = 0;
        box.hi[s] = dims[s];
      }
    }
    boxes.push_back(std::move(box));
  }
  return boxes;
}

std::pair<int64_t, int64_t> ArrayCopy::TRange(int axis, int64_t lo, int64_t hi) const {
  const AxisSelect& s = sel_[static_cast<size_t>(axis)];
  if (s.count == 0 || lo >= hi) return {0, 0};
  if (s.dropped)
    return (s.start >= lo && s.start < hi) ? std::make_pair<int64_t, int64_t>(0, 1)
                                           : std::make_pair<int64_t, int64_t>(0, 0);
  int64_t t0, t1;  // [t0, t1]
  if (s.step > 0) {
    t0 = CeilDiv(static_cast<__int128>(lo) - s.start, s.step);
    t1 = FloorDiv(static_cast<__int128>(hi) - 1 - s.start, s.step);
  } else {
    t0 = CeilDiv(static_cast<__int128>(s.start) - (hi - 1), -static_cast<__int128>(s.step));
    t1 = FloorDiv(static_cast<__int128>(s.start) - lo, -static_cast<__int128>(s.step));
  }
  t0 = std::max<int64_t>(t0, 0);
  t1 = std::min<int64_t>(t1, s.count - 1);
  if (t1 < t0) return {0, 0};
  return {t0, t1 + 1};
}

ArrayCopy::IndexBox ArrayCopy::ToStorage(const mm::Box& box) const {
  IndexBox sb;
  for (size_t s = 0; s < in_dims_.size(); ++s) {
    const size_t a = static_cast<size_t>(in_.storage_axis(static_cast<int>(s)));
    sb.lo.push_back(box.start[a]);
    sb.hi.push_back(box.start[a] + box.count[a]);
  }
  return sb;
}

uint64_t ArrayCopy::CountStorageBox(const IndexBox& box) const {
  uint64_t n = 1;
  for (size_t s = 0; s < in_dims_.size() && n > 0; ++s) {
    const auto t = TRange(in_.storage_axis(static_cast<int>(s)), box.lo[s], box.hi[s]);
    n *= static_cast<uint64_t>(t.second - t.first);
  }
  return n;
}

uint64_t ArrayCopy::Count(uint64_t begin, uint64_t end) const {
  uint64_t total = 0;
  for (const IndexBox& box : RangeBoxes(in_dims_, begin, end)) total += CountStorageBox(box);
  return total;
}

uint64_t ArrayCopy::CountBox(const mm::Box& box) const { return CountStorageBox(ToStorage(box)); }

Status ArrayCopy::WriteRange(const char* data, uint64_t begin, uint64_t end, OutputFile* out,
                             std::vector<char>* stage) const {
  for (const IndexBox& box : RangeBoxes(in_dims_, begin, end))
    MM_RETURN_IF_ERROR(
        WriteStorageBox(data, -static_cast<__int128>(begin), in_strides_, box, out, stage));
  return Status::OK();
}

Status ArrayCopy::WriteBox(const char* data, const mm::Box& box, OutputFile* out,
                           std::vector<char>* stage) const {
  const IndexBox sb = ToStorage(box);
  // The box's elements in its own storage order: row-major strides of its
  // extents, and data[0] is its corner.
  std::vector<int64_t> strides(in_dims_.size(), 1);
  __int128 base = 0;
  int64_t acc = 1;
  for (size_t s = in_dims_.size(); s-- > 0;) {
    strides[s] = acc;
    base -= static_cast<__int128>(sb.lo[s]) * acc;
    acc *= sb.hi[s] - sb.lo[s];
  }
  return WriteStorageBox(data, base, strides, sb, out, stage);
}

bool ArrayCopy::BuildLoops(const IndexBox& box, const std::vector<int64_t>& data_strides,
                           __int128* in_base, int64_t* out_base, std::vector<Loop>* loops) const {
  loops->clear();
  *out_base = 0;
  for (size_t s = 0; s < in_dims_.size(); ++s) {
    const int axis = in_.storage_axis(static_cast<int>(s));
    const AxisSelect& sel = sel_[static_cast<size_t>(axis)];
    const auto t = TRange(axis, box.lo[s], box.hi[s]);
    if (t.first >= t.second) return false;  // nothing selected in the box
    *in_base += (static_cast<__int128>(sel.start) + static_cast<__int128>(sel.step) * t.first) *
                data_strides[s];
    const int j = out_axis_of_[static_cast<size_t>(axis)];
    if (j < 0) continue;
    const int64_t os = out_strides_[static_cast<size_t>(j)];
    *out_base += t.first * os;
    if (t.second - t.first > 1)
      loops->push_back(Loop{t.second - t.first, sel.step * data_strides[s], os});
  }
  // Output storage order: the largest output stride outermost.
  std::sort(loops->begin(), loops->end(),
            [](const Loop& a, const Loop& b) { return a.out_stride > b.out_stride; });
  // Merge a loop into the one inside it when both sides stay contiguous.
  for (size_t k = loops->size(); k-- > 1;) {
    Loop& outer = (*loops)[k - 1];
    const Loop& inner = (*loops)[k];
    if (outer.out_stride == inner.out_stride * inner.count &&
        outer.in_stride == inner.in_stride * inner.count) {
      outer.count *= inner.count;
      outer.out_stride = inner.out_stride;
      outer.in_stride = inner.in_stride;
      loops->erase(loops->begin() + static_cast<ptrdiff_t>(k));
    }
  }
  // The innermost loop must write contiguous output; else lines are single elements.
  if (loops->empty() || loops->back().out_stride != 1) loops->push_back(Loop{1, 1, 1});
  return true;
}

int64_t ArrayCopy::ContiguousRun(const std::vector<Loop>& loops) {
  int64_t run = loops.back().count;
  for (size_t k = loops.size() - 1; k-- > 0 && loops[k].out_stride == run;) run *= loops[k].count;
  return run;
}

uint64_t ArrayCopy::OutputRun(const mm::Box& box) const {
  __int128 in_base = 0;
  int64_t out_base = 0;
  std::vector<Loop> loops;
  if (!BuildLoops(ToStorage(box), in_strides_, &in_base, &out_base, &loops)) return 0;
  return static_cast<uint64_t>(ContiguousRun(loops));
}

Status ArrayCopy::WriteStorageBox(const char* data, __int128 base,
                                  const std::vector<int64_t>& data_strides, const IndexBox& box,
                                  OutputFile* out, std::vector<char>* stage_buffer) const {
  const LineFn line = SelectLine(in_.dtype, out_dtype_);
  const int64_t in_item = in_.dtype.itemsize();
  const uint64_t out_item = static_cast<uint64_t>(out_dtype_.itemsize());
  std::vector<Loop> loops;
  __int128 in_base = base;
  int64_t out_base = 0;
  if (!BuildLoops(box, data_strides, &in_base, &out_base, &loops)) return Status::OK();
  const int depth = static_cast<int>(loops.size());
  const Loop inner = loops.back();
  // Output elements that follow each other in the file, line after line.
  const int64_t run = ContiguousRun(loops);
  const bool staged = static_cast<uint64_t>(run) * out_item >= kStagedRunBytes;
  const uint64_t max_line = (staged ? kStageBytes : OutputFile::kSpanBytes) / out_item;
  // File bytes [stage_lo, stage_lo + stage_len) are staged at `at`, which
  // is congruent to stage_lo modulo kDirectAlign (an aligned buffer, so
  // that their whole blocks go around the page cache without a copy).
  std::vector<char>& stage = *stage_buffer;
  uint64_t stage_lo = 0, stage_len = 0;
  char* aligned = nullptr;
  char* at = nullptr;
  if (staged) {
    stage.resize(kStageBytes + 2 * kDirectAlign);
    const uintptr_t p = reinterpret_cast<uintptr_t>(stage.data());
    aligned = stage.data() + ((kDirectAlign - p % kDirectAlign) % kDirectAlign);
  }
  std::vector<int64_t> idx(static_cast<size_t>(depth), 0);
  int64_t in_pos = static_cast<int64_t>(in_base), out_pos = out_base;
  while (true) {
    for (int64_t done = 0; done < inner.count;) {
      const int64_t n = std::min<int64_t>(inner.count - done, static_cast<int64_t>(max_line));
      const uint64_t lo = out_offset_ + static_cast<uint64_t>(out_pos + done) * out_item;
      const uint64_t bytes = static_cast<uint64_t>(n) * out_item;
      const char* src = data + (in_pos + done * inner.in_stride) * in_item;
      if (staged) {
        if (stage_len > 0 && (lo != stage_lo + stage_len || stage_len + bytes > kStageBytes)) {
          MM_RETURN_IF_ERROR(out->WriteAt(stage_lo, at, stage_len));
          stage_len = 0;
        }
        if (stage_len == 0) {
          stage_lo = lo;
          at = aligned + lo % kDirectAlign;
        }
        line(src, inner.in_stride * in_item, at + stage_len, static_cast<uint64_t>(n));
        stage_len += bytes;
      } else {
        MM_ASSIGN_OR_RETURN(char* dst, out->Span(lo, lo + bytes));
        line(src, inner.in_stride * in_item, dst, static_cast<uint64_t>(n));
      }
      done += n;
    }
    // Odometer over the outer loops.
    int k = depth - 2;
    for (; k >= 0; --k) {
      const Loop& l = loops[static_cast<size_t>(k)];
      in_pos += l.in_stride;
      out_pos += l.out_stride;
      if (++idx[static_cast<size_t>(k)] < l.count) break;
      in_pos -= l.in_stride * l.count;
      out_pos -= l.out_stride * l.count;
      idx[static_cast<size_t>(k)] = 0;
    }
    if (k < 0) break;
  }
  if (stage_len > 0) MM_RETURN_IF_ERROR(out->WriteAt(stage_lo, at, stage_len));
  return Status::OK();
}

}  // namespace mm

// ---------------------------------------------------------------- CopyAnalysis

namespace mm {

namespace {}  // namespace

CopyAnalysis::CopyAnalysis(const AnalysisSpec& spec, const Dataset& dataset,
                           const Partition& partition, ArrayCopy copy, std::string output,
                           std::string header, bool fortran_flag,
                           std::optional<Hdf5OutputSpec> hdf5)
    : Analysis(spec, dataset, partition),
      copy_(std::move(copy)),
      output_(std::move(output)),
      header_(std::move(header)),
      fortran_flag_(fortran_flag),
      hdf5_(std::move(hdf5)) {
  caps_.writes_outputs = true;
  if (hdf5_) h5_ = Hdf5OutputFile(output_, *hdf5_, copy_.out_dtype(), copy_.out_shape());
  // A chunked output's stage holds the elements in the input's order; pass
  // 1 gathers each chunk from it (hdf5_copy.h).
  if (chunked_hdf5()) copy_ = copy_.InInputOrder();
}

int CopyAnalysis::passes() const { return chunked_hdf5() ? 2 : 1; }

std::unique_ptr<Partial> CopyAnalysis::NewPartial(int pass) const {
  if (pass == 1) return std::make_unique<ChunkListPartial>();
  return std::make_unique<WrittenCount>();
}

Result<std::unique_ptr<Partial>> CopyAnalysis::PartialFromJson(int pass, const Json& j) const {
  if (pass == 1) return ChunkListPartial::FromJson(j, h5_.grid().count(), h5_.slot_bytes());
  return WrittenCount::FromJson(j, copy_.out_elements(), name());
}

bool CopyAnalysis::NeedsBlock(int pass, uint64_t begin, uint64_t end) const {
  return pass == 0 && copy_.Count(begin, end) > 0;
}

bool CopyAnalysis::NeedsBox(int pass, const Box& box) const {
  return pass == 0 && copy_.CountBox(box) > 0;
}

// A worker's writer of the output: counts each block's output elements into
// the partial and writes a window's elements when the window ends.
//
// Row blocks: the window's one run is written when it ends. Chunk blocks
// (BlockView::box) come as one run per block; their writes wait for the
// window's last EndWindow (the views stay valid until the window is
// destroyed), and then the window's chunks, a range of the chunk grid in its
// C order, are written as the few boxes that range tiles (RangeBoxes over
// the grid). A box of many chunks writes longer output lines than each of
// its chunks alone (e.g. whole rows where a chunk writes lines one chunk
// wide): when it does and enough of it is selected, its chunks are gathered
// into one buffer (at most the window's bytes) and written with one
// WriteBox, else each chunk is written alone. The bytes written are the
// same either way (tests/unit/copy_chunks_test.cc).
class CopyAnalysis::CopyScanner : public Scanner {
 public:
  explicit CopyScanner(const CopyAnalysis* copy) : a_(*copy) {}

  Status Consume(const BlockView& block, Partial* partial) override {
    static_cast<WrittenCount*>(partial)->n += Count(block);
    return Status::OK();
  }

  Status BeginWindow(const BlockView&) override {
    ++open_runs_;
    return Status::OK();
  }

  Status EndWindow(const BlockView& window) override {
    open_runs_ = std::max(0, open_runs_ - 1);
    if (window.data != nullptr && Count(window) > 0) {
      if (window.box == nullptr) return Write(window.data, nullptr, window.begin, window.end);
      pending_.push_back(Pending{window.data, window.block, *window.box});
    }
    return open_runs_ == 0 ? WriteChunks() : Status::OK();
  }

 private:
  // The output elements whose sources `view` holds.
  uint64_t Count(const BlockView& view) const {
    return view.box != nullptr ? a_.copy_.CountBox(*view.box)
                               : a_.copy_.Count(view.begin, view.end);
  }

  // Writes the elements of `box` held at `data` (box == nullptr: storage
  // indices [begin, end)). The output span (OutputFile::kSpanBytes) stays
  // mapped from one write to the next until a write falls outside it or
  // the scanner ends: chunks mostly write the same output pages (a slice
  // across a row of chunks), which a map per write faulted in again, and
  // each munmap flushed the TLB of every CPU the worker's threads ran on
  // (an inter-processor interrupt, dear in a VM): a slice of a 1 GB
  // chunked cube took 0.083 s warm with a map per window, 0.045 s now.
  Status Write(const char* data, const Box* box, uint64_t begin, uint64_t end) {
    if (!writer_.is_open()) {
      if (a_.temp_path_.empty())
        return Error(Code::kWorkerFailed,
                     a_.name() + ": the worker was not told the output's name");
      MM_RETURN_IF_ERROR(writer_.Open(a_.temp_path_, a_.output_, a_.temp_id_));
    }
    return box != nullptr ? a_.copy_.WriteBox(data, *box, &writer_, &stage_)
                          : a_.copy_.WriteRange(data, begin, end, &writer_, &stage_);
  }

  // Writes the pending chunk blocks (in block order) and forgets them.
  Status WriteChunks() {
    std::vector<Pending> views;
    views.swap(pending_);
    const Partition& part = a_.partition_;
    const Layout& layout = a_.dataset_.layout;
    if (!part.chunked()) {
      for (const Pending& v : views) MM_RETURN_IF_ERROR(Write(v.data, &v.box, 0, 0));
      return Status::OK();
    }
    const std::vector<int64_t>& chunk = part.chunks();
    std::vector<int64_t> grid;
    for (size_t a = 0; a < chunk.size(); ++a)
      grid.push_back((layout.shape[a] + chunk[a] - 1) / chunk[a]);
    const uint64_t item = static_cast<uint64_t>(layout.dtype.itemsize());
    for (size_t i = 0; i < views.size();) {
      // A run of consecutive block numbers, cut into boxes of the grid.
      size_t j = i + 1;
      while (j < views.size() && views[j].block == views[j - 1].block + 1) ++j;
      for (const ArrayCopy::IndexBox& g :
           ArrayCopy::RangeBoxes(grid, static_cast<uint64_t>(views[i].block),
                                 static_cast<uint64_t>(views[j - 1].block) + 1)) {
        uint64_t n = 1;
        Box whole;  // the box's extent in array coordinates
        for (size_t a = 0; a < grid.size(); ++a) {
          n *= static_cast<uint64_t>(g.hi[a] - g.lo[a]);
          whole.start.push_back(g.lo[a] * chunk[a]);
          whole.count.push_back(std::min(g.hi[a] * chunk[a], layout.shape[a]) - whole.start[a]);
        }
        // Gathering pays when the box writes longer output lines than one
        // of its chunks and at least 1/8 of what it copies is written.
        const ArrayCopy& copy = a_.copy_;
        if (n == 1 || copy.OutputRun(whole) <= copy.OutputRun(views[i].box) ||
            copy.CountBox(whole) * 8 < whole.elements()) {
          for (uint64_t k = 0; k < n; ++k, ++i)
            MM_RETURN_IF_ERROR(Write(views[i].data, &views[i].box, 0, 0));
          continue;
        }
        // Gather the chunks into the box's C order: ForEachBoxRun over the
        // box's own shape maps each chunk's runs to their place in it.
        Layout in_box;
        in_box.shape = whole.count;
        gather_.resize(static_cast<size_t>(whole.elements() * item));
        for (uint64_t k = 0; k < n; ++k, ++i) {
          const Pending& v = views[i];
          Box rel = v.box;
          for (size_t a = 0; a < rel.start.size(); ++a) rel.start[a] -= whole.start[a];
          ForEachBoxRun(in_box, rel, [&](uint64_t from, uint64_t to, uint64_t len) {
            std::memcpy(gather_.data() + to * item, v.data + from * item, len * item);
          });
        }
        MM_RETURN_IF_ERROR(Write(gather_.data(), &whole, 0, 0));
      }
    }
    return Status::OK();
  }

  const CopyAnalysis& a_;
  OutputFile writer_;        // opened on first use
  std::vector<char> stage_;  // ArrayCopy::WriteRange's staging buffer
  int open_runs_ = 0;        // BeginWindow calls of the current window not yet ended
  // A chunk block of the current window, written at its last EndWindow:
  // its data stays valid until the window is destroyed (its box is copied).
  struct Pending {
    const char* data;
    int64_t block;
    Box box;
  };
  std::vector<Pending> pending_;
  std::vector<char> gather_;  // a box of chunks in C order (at most a window's bytes)
};

std::unique_ptr<Scanner> CopyAnalysis::NewScanner(int pass) const {
  if (pass == 1)
    return NewCompressScanner(*hdf5_, copy_.out_dtype(), h5_.grid(), copy_.out_strides(),
                              partition_.blocks(), temp_path_, temp_id_, spool_path_, spool_id_,
                              output_);
  return std::make_unique<CopyScanner>(this);
}

Json CopyAnalysis::PassInput(int) const {
  return TempFilesJson(TempFiles{temp_path_, temp_id_, spool_path_, spool_id_, copy_.out_offset()});
}

Status CopyAnalysis::SetPassInput(int, const Json& input) {
  MM_ASSIGN_OR_RETURN(const TempFiles files, TempFilesFromJson(input, name()));
  temp_path_ = files.temp_path;
  spool_path_ = files.spool_path;
  temp_id_ = files.temp_id;
  spool_id_ = files.spool_id;
  // An HDF5 output's contiguous dataset starts where the coordinator's
  // libhdf5 put it; the other outputs' offset is their header's size.
  if (hdf5_ && !chunked_hdf5()) copy_ = copy_.AtOffset(files.data_offset);
  return Status::OK();
}

Status CopyAnalysis::Prepare() {
  const uint64_t data_bytes =
      copy_.out_elements() * static_cast<uint64_t>(copy_.out_dtype().itemsize());
  if (chunked_hdf5()) {
    // The stage (the output's elements, C order) and the sparse spool of
    // compressed chunks, both temporaries beside the target; the output
    // itself is made after pass 1.
    MM_ASSIGN_OR_RETURN(stage_out_, TempOutput::Create(output_));
    MM_RETURN_IF_ERROR(stage_out_.Reserve(data_bytes));
    MM_RETURN_IF_ERROR(h5_.CreateSpool());
    temp_path_ = stage_out_.temp_path();
    spool_path_ = h5_.spool_path();
    MM_ASSIGN_OR_RETURN(temp_id_, IdOfFd(stage_out_.fd(), temp_path_));
    spool_id_ = h5_.spool_id();
    return Status::OK();
  }
  if (hdf5_) {
    MM_RETURN_IF_ERROR(h5_.CreateContiguous());
    copy_ = copy_.AtOffset(h5_.data_offset());
    temp_path_ = h5_.temp_path();
    temp_id_ = h5_.temp_id();
    return Status::OK();
  }
  MM_ASSIGN_OR_RETURN(out_, TempOutput::Create(output_));
  if (!header_.empty()) MM_RETURN_IF_ERROR(out_.Write(header_));
  if (data_bytes > 0) MM_RETURN_IF_ERROR(out_.Reserve(copy_.out_file_bytes()));
  temp_path_ = out_.temp_path();
  MM_ASSIGN_OR_RETURN(temp_id_, IdOfFd(out_.fd(), temp_path_));
  return Status::OK();
}

Status CopyAnalysis::EndPass(int pass, const Partial& merged) {
  if (pass == 1) {
    MM_RETURN_IF_ERROR(h5_.WriteChunks(static_cast<const ChunkListPartial&>(merged)));
    stage_out_ = TempOutput();  // the stage goes as soon as it is spent
    return h5_.Commit();
  }
  MM_RETURN_IF_ERROR(static_cast<const WrittenCount&>(merged).CheckAll(copy_.out_elements(),
                                                                       "output elements", name()));
  if (chunked_hdf5()) return Status::OK();  // the stage is complete: pass 1 compresses it
  return hdf5_ ? h5_.Commit() : out_.Commit();
}

Result<Json> CopyAnalysis::Finish() {
  Json j = Json::object();
  j["path"] = output_;
  j["format"] = hdf5_ ? "hdf5" : header_.empty() ? "raw" : "npy";
  j["shape"] = copy_.out_shape();
  j["dtype"] = copy_.out_dtype().descr();
  if (hdf5_) {
    MM_RETURN_IF_ERROR(h5_.Describe(&j));
    return j;
  }
  j["order"] = header_.empty() ? std::string(1, copy_.out_order()) : (fortran_flag_ ? "F" : "C");
  j["bytes"] = copy_.out_file_bytes();
  return j;
}

}  // namespace mm
