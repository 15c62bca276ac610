#include "analysis/hdf5_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

// Pass 1 (hdf5_copy.h). The stage is mapped read-only once; the pages a
// worker touches are dropped whenever they add up to kTouchBudget, so its
// resident memory stays bounded whatever the chunk shape.
class CompressScanner : public Scanner {
 public:
  static constexpr uint64_t kTouchBudget = uint64_t{24} << 20;

  CompressScanner(const Hdf5OutputSpec& spec, DType dtype, const ChunkGrid& grid, int64_t blocks,
                  std::string stage_path, FileId stage_id, std::string spool_path, FileId spool_id,
                  std::string target)
      : spec_(spec),
        grid_(grid),
        blocks_(blocks),
        stage_path_(std::move(stage_path)),
        stage_id_(stage_id),
        target_(target),
        spool_(spec, dtype, std::move(spool_path), spool_id, std::move(target)),
        item_(static_cast<uint64_t>(dtype.itemsize())),
        shape_(grid.shape()),
        stage_strides_(shape_.size(), 1) {
    for (size_t a = shape_.size(); a-- > 1;)
      stage_strides_[a - 1] = stage_strides_[a] * static_cast<uint64_t>(shape_[a]);
  }

  Status Consume(const BlockView& block, Partial* partial) override {
    auto* out = static_cast<ChunkListPartial*>(partial);
    const auto [c0, c1] = grid_.ChunksOfBlock(block.block, blocks_);
    out->first = c0;
    if (c0 == c1) return Status::OK();
    MM_RETURN_IF_ERROR(Open());
    for (uint64_t c = c0; c < c1; ++c) {
      Gather(grid_.ChunkBox(c));
      MM_RETURN_IF_ERROR(spool_.Put(c, out));
    }
    return Status::OK();
  }

 private:
  Status Open() {
    if (opened_) return Status::OK();
    MM_RETURN_IF_ERROR(spool_.Open());
    MM_ASSIGN_OR_RETURN(FileDescriptor stage,
                        FileDescriptor::Open(stage_path_, O_RDONLY | O_NOFOLLOW, 0, Code::kIoErr));
    MM_RETURN_IF_ERROR(
        CheckFileId(stage.get(), stage_id_, target_ + " (stage " + stage_path_ + ")"));
    uint64_t bytes = item_;
    for (int64_t x : shape_) bytes *= static_cast<uint64_t>(x);
    if (bytes > 0) {
      MM_ASSIGN_OR_RETURN(stage_map_, MappedRegion::Map(stage.get(), target_ + " (stage)", false, 0,
                                                        bytes, Code::kIoErr));
    }
    opened_ = true;
    return Status::OK();
  }

  // The elements of `box` from the stage into the spool's chunk buffer, C
  // order of the whole chunk shape; the rest of an edge chunk is 0 (the
  // fill value).
  void Gather(const Box& box) {
    char* chunk = spool_.chunk();
    const size_t n = box.start.size();
    const bool edge = box.count != spec_.chunks;
    if (edge) std::memset(chunk, 0, spool_.chunk_bytes());
    if (n == 0) {
      std::memcpy(chunk, stage_map_.data(), item_);
      return;
    }
    std::vector<uint64_t> chunk_strides(n, 1);
    for (size_t a = n - 1; a > 0; --a)
      chunk_strides[a - 1] = chunk_strides[a] * static_cast<uint64_t>(spec_.chunks[a]);
    const uint64_t run = static_cast<uint64_t>(box.count[n - 1]) * item_;
    std::vector<int64_t> idx(n, 0);
    const uint64_t page = 4096;
    for (;;) {
      uint64_t from = 0, to = 0;
      for (size_t a = 0; a < n; ++a) {
        from += static_cast<uint64_t>(box.start[a] + idx[a]) * stage_strides_[a];
        to += static_cast<uint64_t>(idx[a]) * chunk_strides[a];
      }
      const char* src = stage_map_.data() + from * item_;
      std::memcpy(chunk + to * item_, src, run);
      touched_ += (run + page - 1) / page * page;
      if (touched_ >= kTouchBudget) {
        stage_map_.DropPages();
        touched_ = 0;
      }
      size_t a = n - 1;
      while (a > 0 && ++idx[a - 1] == box.count[a - 1]) idx[--a] = 0;
      if (a == 0) return;
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
  std::vector<int64_t> shape_;
  std::vector<uint64_t> stage_strides_;  // elements per index of each axis of the stage
  bool opened_ = false;
  MappedRegion stage_map_;
  uint64_t touched_ = 0;
};

}  // namespace

std::unique_ptr<Scanner> NewCompressScanner(const Hdf5OutputSpec& spec, DType dtype,
                                            const ChunkGrid& grid, int64_t blocks,
                                            std::string stage_path, FileId stage_id,
                                            std::string spool_path, FileId spool_id,
                                            std::string target) {
  return std::make_unique<CompressScanner>(spec, dtype, grid, blocks, std::move(stage_path),
                                           stage_id, std::move(spool_path), spool_id,
                                           std::move(target));
}

Result<uint64_t> WriteChunkedOutput(int fd, int spool_fd, const std::string& target,
                                    const Hdf5OutputSpec& spec, DType dtype,
                                    const std::vector<int64_t>& shape, const ChunkGrid& grid,
                                    const ChunkListPartial& chunks) {
  if (chunks.first != 0 || chunks.sizes.size() != grid.count())
    return Error(Code::kWorkerFailed, target + ": the workers compressed " +
                                          std::to_string(chunks.sizes.size()) + " of " +
                                          std::to_string(grid.count()) + " chunks");
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Hdf5ChunkWriter> writer,
                      Hdf5ChunkWriter::Create(ProcFd(fd), target, spec, dtype, shape));
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
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Hdf5ChunkWriter> writer,
                      Hdf5ChunkWriter::Create(ProcFd(fd), target, spec, dtype, shape));
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
  uint32_t mask = 0;
  MM_RETURN_IF_ERROR(compressor_->Compress(chunk_.data(), &stored_, &mask));
  if (stored_.size() > slot_)
    return Error(Code::kIoErr, target_ + ": a compressed chunk of " +
                                   std::to_string(stored_.size()) + " bytes overflows its " +
                                   std::to_string(slot_) + "-byte slot");
  MM_RETURN_IF_ERROR(PwriteFull(spool_.get(), stored_.data(), stored_.size(), c * slot_,
                                target_ + ": spool write", Code::kIoErr, Code::kIoErr));
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
