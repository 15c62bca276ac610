#include "source/hdf5/hdf5_source.h"

#include <algorithm>
#include <string>

#include "io/files.h"
#include "source/hdf5/hdf5_file.h"
#include "source/raw/raw_source.h"

namespace mm {

std::vector<Box> BoxesOfRange(const std::vector<int64_t>& shape, uint64_t begin, uint64_t end) {
  const size_t n = shape.size();
  std::vector<uint64_t> stride(n, 1);  // elements per index of each axis
  for (size_t a = n - 1; a > 0; --a) stride[a - 1] = stride[a] * static_cast<uint64_t>(shape[a]);
  std::vector<Box> out;
  while (begin < end) {
    // The outermost axis at which `begin` is aligned (every finer index 0)
    // and that still fits at least one step before `end`.
    size_t a = 0;
    while (a + 1 < n && (begin % stride[a] != 0 || end - begin < stride[a])) ++a;
    Box box;
    box.start.resize(n);
    box.count.assign(n, 1);
    for (size_t i = 0; i < n; ++i)
      box.start[i] = static_cast<int64_t>(begin / stride[i] % static_cast<uint64_t>(shape[i]));
    const uint64_t room = static_cast<uint64_t>(shape[a] - box.start[a]);
    const uint64_t steps = std::min(room, (end - begin) / stride[a]);
    box.count[a] = static_cast<int64_t>(steps);
    for (size_t i = a + 1; i < n; ++i) box.count[i] = shape[i];
    out.push_back(box);
    begin += steps * stride[a];
  }
  return out;
}

namespace {

std::string RangesText(const Box& box) {
  std::string s = "[";
  for (size_t a = 0; a < box.start.size(); ++a)
    s += (a ? ", " : "") + std::to_string(box.start[a]) + ":" +
         std::to_string(box.start[a] + box.count[a]);
  return s + "]";
}

// Decoded blocks in one owned buffer, adjacent in block order.
class BufferWindow : public Window {
 public:
  BufferWindow(int64_t first, std::unique_ptr<char[]> buffer, std::vector<char*> blocks,
               bool contiguous, std::shared_ptr<FileDescriptor> file, std::string name,
               uint64_t min_file_bytes)
      : Window(first, false),
        buffer_(std::move(buffer)),
        file_(std::move(file)),
        name_(std::move(name)),
        min_file_bytes_(min_file_bytes) {
    blocks_ = std::move(blocks);
    if (contiguous) contiguous_ = buffer_.get();
  }
  Status Close() override { return CheckFileNotShrunk(file_->get(), name_, min_file_bytes_); }

 private:
  std::unique_ptr<char[]> buffer_;
  std::shared_ptr<FileDescriptor> file_;
  std::string name_;
  uint64_t min_file_bytes_;
};

class Hdf5Source : public Source {
 public:
  Hdf5Source(const Dataset& d, Hid file, Hid dset, Hid space, Hid type)
      : Source(d.layout, PartitionOf(d)),
        run_file_(d.file),
        name_(d.path),
        dataset_name_(d.name),
        min_file_bytes_(d.file_bytes),
        item_(static_cast<uint64_t>(d.layout.dtype.itemsize())),
        file_(std::move(file)),
        dset_(std::move(dset)),
        space_(std::move(space)),
        type_(std::move(type)) {}

  ~Hdf5Source() override {  // objects before their file
    type_.Reset();
    space_.Reset();
    dset_.Reset();
    file_.Reset();
  }

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) override {
    if (writable)
      return Error(Code::kIoErr, name_ + ": dataset '" + dataset_name_ +
                                     "' is not stored contiguously: it cannot be written in place");
    const Partition& part = partition();
    uint64_t total = 0;
    for (int64_t k = first; k < first + n; ++k) total += part.block_elements(k);
    std::unique_ptr<char[]> buffer(new char[std::max<uint64_t>(total, 1) * item_]);
    std::vector<char*> blocks(static_cast<size_t>(n));
    if (part.chunked()) {
      char* at = buffer.get();
      for (int64_t k = first; k < first + n; ++k) {
        blocks[static_cast<size_t>(k - first)] = at;
        const Box box = *part.BlockBox(k);
        std::string why;
        if (!ReadBoxes({box}, at, &why)) return ChunkError(box, why);
        at += box.elements() * item_;
      }
    } else {
      const uint64_t begin = part.block_begin(first), end = part.block_end(first + n - 1);
      for (int64_t k = first; k < first + n; ++k)
        blocks[static_cast<size_t>(k - first)] =
            buffer.get() + (part.block_begin(k) - begin) * item_;
      MM_RETURN_IF_ERROR(ReadElements(begin, end, buffer.get()));
    }
    return std::unique_ptr<Window>(
        std::make_unique<BufferWindow>(first, std::move(buffer), std::move(blocks), !part.chunked(),
                                       run_file_, name_, min_file_bytes_));
  }

  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    if (begin >= end) return Status::OK();
    std::string why;
    if (ReadBoxes(BoxesOfRange(layout().shape, begin, end), out, &why)) return Status::OK();
    return Error(Code::kDataErr, name_ + ": dataset '" + dataset_name_ +
                                     "': cannot read or decode elements " + std::to_string(begin) +
                                     " to " + std::to_string(end) + " (storage order)" +
                                     (why.empty() ? "" : ": " + why));
  }

 private:
  // Reads the disjoint `boxes` (in C order) into `out`, one after the other,
  // each in C order of the box. On failure, returns false with libhdf5's
  // reason in *why (taken before any other HDF5 call clears the error
  // stack).
  bool ReadBoxes(const std::vector<Box>& boxes, char* out, std::string* why) {
    const size_t rank = layout().shape.size();
    std::vector<hsize_t> start(rank), count(rank);
    for (const Box& box : boxes) {
      for (size_t a = 0; a < rank; ++a) {
        start[a] = static_cast<hsize_t>(box.start[a]);
        count[a] = static_cast<hsize_t>(box.count[a]);
      }
      // A memory space of the box's own shape: libhdf5 then sees selections
      // of the same shape and copies whole runs (with a 1-D memory space it
      // maps every element, about 3x slower overall, measured on gzip
      // chunks of 4 MiB).
      Hid mem(H5Screate_simple(static_cast<int>(rank), count.data(), nullptr), H5Sclose);
      if (!mem.valid() ||
          H5Sselect_hyperslab(space_.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                              nullptr) < 0 ||
          H5Dread(dset_.get(), type_.get(), mem.get(), space_.get(), H5P_DEFAULT, out) < 0) {
        *why = Hdf5ErrorText();
        return false;
      }
      out += box.elements() * item_;
    }
    return true;
  }

  // A chunk that failed to decode: its grid coordinates and elements.
  Status ChunkError(const Box& box, const std::string& why) {
    const std::vector<int64_t>& chunks = partition().chunks();
    std::string grid = "[";
    for (size_t a = 0; a < chunks.size(); ++a)
      grid += (a ? ", " : "") + std::to_string(box.start[a] / chunks[a]);
    grid += "]";
    return Error(Code::kDataErr, name_ + ": dataset '" + dataset_name_ + "': chunk " + grid +
                                     " (elements " + RangesText(box) +
                                     ") cannot be read or decoded" +
                                     (why.empty() ? "" : ": " + why));
  }

  std::shared_ptr<FileDescriptor> run_file_;  // the run's descriptor: Close()'s shrink check
  std::string name_;
  std::string dataset_name_;
  uint64_t min_file_bytes_;
  uint64_t item_;
  Hid file_, dset_, space_, type_;
};

}  // namespace

Result<std::unique_ptr<Source>> OpenHdf5Source(const Dataset& d) {
  if (d.fd() < 0) return Error(Code::kIoErr, d.path + ": the file is not open");
  MM_ASSIGN_OR_RETURN(Hid file, OpenHdf5File(d.fd(), d.path, d.dev, d.ino));
  MM_ASSIGN_OR_RETURN(Hid dset, OpenH5Dataset(file.get(), d.name, DirName(d.path), d.path));
  Hid space(H5Dget_space(dset.get()), H5Sclose);
  Hid file_type(H5Dget_type(dset.get()), H5Tclose);
  Hid type = file_type.valid() ? Hdf5MemoryType(file_type.get()) : Hid();
  if (!space.valid() || !type.valid())
    return Hdf5Error(Code::kIoErr, d.path + ": dataset '" + d.name + "'");
  std::vector<hsize_t> dims(d.layout.shape.size());
  if (H5Sget_simple_extent_ndims(space.get()) != static_cast<int>(dims.size()) ||
      H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0 || dims.empty() ||
      dims[0] < static_cast<hsize_t>(d.layout.shape[0]) ||
      !std::equal(dims.begin() + 1, dims.end(), d.layout.shape.begin() + 1,
                  [](hsize_t a, int64_t b) { return a == static_cast<hsize_t>(b); }))
    return Error(Code::kIoErr, d.path + ": dataset '" + d.name +
                                   "' changed shape under the run (only growing along axis 0 "
                                   "is allowed)");
  return std::unique_ptr<Source>(std::make_unique<Hdf5Source>(d, std::move(file), std::move(dset),
                                                              std::move(space), std::move(type)));
}

}  // namespace mm
