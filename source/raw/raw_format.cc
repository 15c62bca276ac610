#include "source/raw/raw_format.h"

#include <string>

#include "core/npy.h"
#include "io/npy_file.h"

namespace mm {

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Status Contradiction(const std::string& key, const std::string& path,
                     const std::string& config_value, const std::string& header_value) {
  return Error(Code::kConfig, "config key 'dataset." + key + "': " + config_value +
                                  " contradicts the .npy header of " + path + " (" + header_value +
                                  ")");
}

// Layout of a .npy dataset from its header `h`: the header rules; config
// keys may only agree.
Status NpyLayout(const DatasetSpec& spec, const NpyHeader& h, Dataset* d) {
  if (spec.dtype) {
    MM_ASSIGN_OR_RETURN(DType want, ParseDType(*spec.dtype));
    if (want != h.dtype) return Contradiction("dtype", d->path, *spec.dtype, h.dtype.descr());
  }
  if (spec.order && *spec.order != (h.fortran_order ? 'F' : 'C'))
    return Contradiction("order", d->path, std::string(1, *spec.order),
                         h.fortran_order ? "F" : "C");
  if (spec.offset && *spec.offset != h.header_bytes)
    return Contradiction("offset", d->path, std::to_string(*spec.offset),
                         std::to_string(h.header_bytes));
  if (h.shape.empty())
    return Error(Code::kDataErr, d->path + ": 0-d arrays (shape ()) are not supported");
  // An empty array is a dataset of 0 rows when only the row axis is 0.
  const size_t row_axis = h.fortran_order ? h.shape.size() - 1 : 0;
  for (size_t i = 0; i < h.shape.size(); ++i)
    if (h.shape[i] == 0 && i != row_axis)
      return Error(Code::kDataErr, d->path + ": the array is empty along axis " +
                                       std::to_string(i) + " (shape " + ShapeString(h.shape) +
                                       "): only the row axis may be 0");
  if (spec.shape) {
    bool agree = spec.shape->size() == h.shape.size();
    for (size_t i = 0; agree && i < h.shape.size(); ++i)
      agree = (*spec.shape)[i] == h.shape[i] || (*spec.shape)[i] == -1;
    if (!agree)
      return Contradiction("shape", d->path, ShapeString(*spec.shape), ShapeString(h.shape));
  }
  d->format = "npy";
  d->npy_major = h.major;
  d->npy_minor = h.minor;
  d->layout.dtype = h.dtype;
  d->layout.order = h.fortran_order ? 'F' : 'C';
  d->layout.offset = h.header_bytes;
  d->shape_spec = h.shape;
  if (d->file_bytes < h.header_bytes)
    return Error(Code::kDataErr, d->path + ": malformed .npy header: file ends inside the header");
  if (h.shape[row_axis] == 0) {  // ResolveShape takes no 0: resolve the rows from the bytes (none)
    std::vector<int64_t> spec = h.shape;
    spec[row_axis] = -1;
    MM_RETURN_IF_ERROR(ResolveShape(spec, 0, &d->layout).WithContext(d->path));
    d->layout.trailing_bytes = d->file_bytes - h.header_bytes;
    return Status::OK();
  }
  return ResolveShape(h.shape, d->file_bytes - h.header_bytes, &d->layout).WithContext(d->path);
}

// Layout of a raw dataset from the config alone; for an existing file the
// shape is resolved against d->file_bytes.
Status RawLayout(const DatasetSpec& spec, Dataset* d) {
  if (!spec.dtype)
    return Error(Code::kConfig, "config key 'dataset.dtype': is required for raw file " + d->path);
  if (!spec.shape)
    return Error(Code::kConfig, "config key 'dataset.shape': is required for raw file " + d->path);
  MM_ASSIGN_OR_RETURN(d->layout.dtype, ParseDType(*spec.dtype));
  d->format = "raw";
  d->layout.order = spec.order.value_or('C');
  d->layout.offset = spec.offset.value_or(0);
  d->shape_spec = *spec.shape;
  if (d->mode == "w+") {
    for (int64_t n : *spec.shape)
      if (n == -1)
        return Error(Code::kConfig, "config key 'dataset.shape': -1 is not allowed with mode w+");
    MM_RETURN_IF_ERROR(ResolveShape(*spec.shape, UINT64_MAX / 2, &d->layout));
    d->layout.trailing_bytes = 0;
    return Status::OK();
  }
  if (d->file_bytes < d->layout.offset) {
    // An append-only file whose header is not written yet holds no rows.
    const size_t row_axis = d->layout.order == 'F' ? spec.shape->size() - 1 : 0;
    if (!spec.shape->empty() && (*spec.shape)[row_axis] == -1)
      return ResolveShape(*spec.shape, 0, &d->layout);
    return Error(Code::kDataErr, d->path + ": file too small: " + std::to_string(d->file_bytes) +
                                     " bytes, less than the offset " +
                                     std::to_string(d->layout.offset));
  }
  return ResolveShape(*spec.shape, d->file_bytes - d->layout.offset, &d->layout)
      .WithContext(d->path);
}

}  // namespace

Status DescribeNew(const DatasetSpec& spec, Dataset* d) {
  const bool npy = spec.format == "npy" || (spec.format == "auto" && EndsWith(spec.path, ".npy"));
  if (!spec.dtype)
    return Error(Code::kConfig, "config key 'dataset.dtype': is required with mode w+");
  if (!spec.shape)
    return Error(Code::kConfig, "config key 'dataset.shape': is required with mode w+");
  if (npy && spec.offset && *spec.offset != 0)
    return Error(Code::kConfig, "config key 'dataset.offset': not allowed for a .npy file");
  MM_RETURN_IF_ERROR(RawLayout(spec, d));
  if (npy) {
    d->format = "npy";
    d->npy_major = 1;
    const std::string header =
        BuildNpyHeader(d->layout.dtype, d->layout.shape, d->layout.order == 'F');
    d->npy_major = static_cast<unsigned char>(header[6]);
    d->layout.offset = header.size();
  }
  d->file_bytes = d->layout.offset + d->layout.data_bytes();
  return Status::OK();
}

bool ProbeNpy(std::string_view first_bytes, int /*fd*/) { return HasNpyMagic(first_bytes); }

Status DescribeNpy(const DatasetSpec& spec, int fd, Dataset* d) {
  MM_ASSIGN_OR_RETURN(NpyHeader h, ReadNpyHeader(fd, spec.path));
  return NpyLayout(spec, h, d);
}

Status DescribeRaw(const DatasetSpec& spec, int /*fd*/, Dataset* d) { return RawLayout(spec, d); }

}  // namespace mm
