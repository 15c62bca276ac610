#include "source/hdf5/cf_source.h"

#include <algorithm>
#include <string>
#include <vector>

#include "source/hdf5/cf_decode.h"

namespace mm {

namespace {

// Decoded blocks in one owned buffer, adjacent in block order; or the
// stored window itself, decoded in place.
class DecodedWindow : public Window {
 public:
  DecodedWindow(int64_t first, std::unique_ptr<char[]> buffer, std::vector<char*> blocks,
                bool contiguous)
      : Window(first, false), buffer_(std::move(buffer)) {
    blocks_ = std::move(blocks);
    if (contiguous) contiguous_ = buffer_.get();
    owned_ = true;
  }
  explicit DecodedWindow(std::unique_ptr<Window> in)
      : Window(in->first_block(), false), in_(std::move(in)) {
    for (int64_t k = in_->first_block(); k < in_->end_block(); ++k)
      blocks_.push_back(in_->BlockData(k));
    contiguous_ = in_->Contiguous();
    owned_ = true;
  }
  // The stored window was closed (checked) when this one was made.
  Status Close() override { return Status::OK(); }

 private:
  std::unique_ptr<char[]> buffer_;
  std::unique_ptr<Window> in_;
};

class CfSource : public Source {
 public:
  CfSource(const Dataset& d, std::unique_ptr<Source> stored)
      : Source(d.layout, PartitionOf(d)),
        stored_(std::move(stored)),
        cf_(d.cf),
        path_(d.path),
        name_(d.name) {
    // Decoded as the stored source writes each piece, in place, when the
    // stored and decoded elements have one size (float32 masked to
    // float32, the common netCDF-4 case): one pass less over every window.
    if (layout().dtype.itemsize() == cf_.stored.itemsize()) {
      const CfDecoding cf = cf_;
      const DType decoded = layout().dtype;
      prefiltered_ = stored_->FilterWindowsWith(
          [cf, decoded](char* data, uint64_t n) { CfDecode(cf, decoded, data, n, data); });
    }
  }

  void WillRead(int64_t first, int64_t end) override { stored_->WillRead(first, end); }
  bool FilterWindowsWith(BlockFilter) override { return false; }
  uint64_t window_bytes(bool writes) const override { return stored_->window_bytes(writes); }

  Result<std::unique_ptr<Window>> ReadWindow(int64_t first, int64_t n, bool writable) override {
    if (writable)
      return Error(Code::kIoErr, path_ + ": dataset '" + name_ +
                                     "' is CF-decoded: it cannot be written in place");
    MM_ASSIGN_OR_RETURN(std::unique_ptr<Window> in, stored_->ReadWindow(first, n, false));
    return Decoded(std::move(in), first, n, nullptr);
  }

  bool ReadsParts() const override { return stored_->ReadsParts(); }
  Result<std::unique_ptr<Window>> ReadParts(int64_t first, const std::vector<Box>& parts) override {
    MM_ASSIGN_OR_RETURN(std::unique_ptr<Window> in, stored_->ReadParts(first, parts));
    return Decoded(std::move(in), first, static_cast<int64_t>(parts.size()), &parts);
  }

  Status ReadElements(uint64_t begin, uint64_t end, char* out) override {
    if (begin >= end) return Status::OK();
    const uint64_t n = end - begin;
    std::unique_ptr<char[]> raw(new char[n * static_cast<uint64_t>(cf_.stored.itemsize())]);
    MM_RETURN_IF_ERROR(stored_->ReadElements(begin, end, raw.get()));
    CfDecode(cf_, layout().dtype, raw.get(), n, out);
    return Status::OK();
  }

 private:
  // The stored window `in` of blocks [first, first + n) (or their `parts`)
  // decoded.
  Result<std::unique_ptr<Window>> Decoded(std::unique_ptr<Window> in, int64_t first, int64_t n,
                                          const std::vector<Box>* parts) {
    if (prefiltered_) return in;
    const Partition& part = partition();
    auto elements = [&](int64_t k) {
      return parts ? (*parts)[static_cast<size_t>(k - first)].elements() : part.block_elements(k);
    };
    const uint64_t item = static_cast<uint64_t>(layout().dtype.itemsize());
    if (in->owned() && item == static_cast<uint64_t>(cf_.stored.itemsize())) {
      // The stored window's own buffer, decoded in place: no second window
      // of memory (float32 masked to float32, the common netCDF-4 case).
      for (int64_t k = first; k < first + n; ++k)
        CfDecode(cf_, layout().dtype, in->BlockData(k), elements(k), in->BlockData(k));
      MM_RETURN_IF_ERROR(in->Close());
      return std::unique_ptr<Window>(std::make_unique<DecodedWindow>(std::move(in)));
    }
    uint64_t total = 0;
    for (int64_t k = first; k < first + n; ++k) total += elements(k);
    std::unique_ptr<char[]> buffer(new char[std::max<uint64_t>(total, 1) * item]);
    std::vector<char*> blocks(static_cast<size_t>(n));
    char* at = buffer.get();
    for (int64_t k = first; k < first + n; ++k) {
      const uint64_t count = elements(k);
      blocks[static_cast<size_t>(k - first)] = at;
      CfDecode(cf_, layout().dtype, in->BlockData(k), count, at);
      at += count * item;
    }
    MM_RETURN_IF_ERROR(in->Close());
    // Row blocks are decoded adjacent, in storage order: one run, as the
    // stored window's.
    const bool contiguous = in->Contiguous() != nullptr;
    return std::unique_ptr<Window>(
        std::make_unique<DecodedWindow>(first, std::move(buffer), std::move(blocks), contiguous));
  }

  std::unique_ptr<Source> stored_;
  CfDecoding cf_;
  std::string path_, name_;
  bool prefiltered_ = false;  // stored_ decodes each piece as it writes it
};

}  // namespace

std::unique_ptr<Source> OpenCfSource(const Dataset& d, std::unique_ptr<Source> stored) {
  return std::make_unique<CfSource>(d, std::move(stored));
}

}  // namespace mm
