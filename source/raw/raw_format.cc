#include "source/raw/raw_format.h"

#include <functional>
#include <string>
#include <vector>

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

// "[a, b, c]" with axis `axis` replaced by `v` (the text of the value).
std::string ShapeWith(std::vector<int64_t> shape, size_t axis, int64_t v) {
  shape[axis] = v;
  return ShapeString(shape);
}

// Values near `v` (one below, one above; at most `span` away) for which
// `fits(value)` holds.
std::vector<int64_t> NearestFits(int64_t v, const std::function<bool(int64_t)>& fits) {
  const int64_t span = 100000;
  std::vector<int64_t> out;
  for (int64_t x = v - 1; x >= 1 && x >= v - span; --x)
    if (fits(x)) {
      out.push_back(x);
      break;
    }
  for (int64_t x = v + 1; x <= v + span; ++x)
    if (fits(x)) {
      out.push_back(x);
      break;
    }
  return out;
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

Status CheckRawRows(const Dataset& d, bool growing) {
  if (growing || d.layout.rows() > 0) return Status::OK();
  const uint64_t avail = d.file_bytes > d.layout.offset ? d.file_bytes - d.layout.offset : 0;
  return Error(Code::kDataErr,
               d.path + ": file holds " + std::to_string(avail) +
                   " bytes of data, less than one row of shape " + ShapeString(d.shape_spec) + " " +
                   d.layout.dtype.name() +
                   " (an append-only file not written yet is a run of 0 rows with --state)");
}

std::vector<std::string> RawWarnings(const Dataset& d, bool growing) {
  std::vector<std::string> out;
  const Layout& l = d.layout;
  const std::string what = ShapeString(d.shape_spec) + " " + l.dtype.name();
  const size_t row_axis = static_cast<size_t>(l.row_axis());
  const bool inferred = d.shape_spec[row_axis] == -1;
  // 0 rows: a growing file not written yet (else CheckRows refuses it).
  if (d.file_bytes < l.offset || l.rows() == 0) return out;
  const uint64_t avail = d.file_bytes - l.offset;
  const uint64_t item = static_cast<uint64_t>(l.dtype.itemsize());
  if (l.trailing_bytes == 0 || (inferred && growing)) return out;
  std::string text = d.path + ": shape " + what + " leaves " + std::to_string(l.trailing_bytes) +
                     " of the " + std::to_string(avail) + " data bytes unread";
  text += inferred ? " (a partial last row; numpy's reshape would refuse)"
                   : " (numpy's reshape would refuse)";
  std::vector<std::string> fits;
  // The row count that uses every byte with the same row shape.
  if (!inferred && avail % l.row_bytes() == 0)
    fits.push_back("shape " +
                   ShapeWith(d.shape_spec, row_axis, static_cast<int64_t>(avail / l.row_bytes())));
  // Row lengths near the configured one: vary the fastest axis of a row.
  const size_t fast = l.order == 'F' ? 0 : l.shape.size() - 1;
  if (fast != row_axis) {
    unsigned __int128 per_index = item;  // bytes of one row per index of `fast`
    for (size_t i = 0; i < l.shape.size(); ++i)
      if (i != row_axis && i != fast) per_index *= static_cast<uint64_t>(l.shape[i]);
    auto fit = [&](int64_t v) {
      const unsigned __int128 row = per_index * static_cast<uint64_t>(v);
      return inferred ? avail >= row && avail % row == 0
                      : row * static_cast<uint64_t>(l.rows()) == avail;
    };
    for (int64_t v : NearestFits(l.shape[fast], fit))
      fits.push_back("shape " + ShapeWith(d.shape_spec, fast, v));
  }
  // A header the offset does not skip: data ending at the end of the file.
  const uint64_t extra = inferred ? avail % l.row_bytes() : l.trailing_bytes;
  fits.push_back("offset " + std::to_string(l.offset + extra) +
                 " (if the file starts with a header of that size)");
  text += "; these would use every byte: ";
  for (size_t i = 0; i < fits.size(); ++i) text += (i ? ", or " : "") + fits[i];
  out.push_back(text);
  return out;
}

std::vector<std::string> NpyWarnings(const Dataset& d, bool /*growing*/) {
  const Layout& l = d.layout;
  if (l.trailing_bytes == 0) return {};
  return {d.path + ": " + std::to_string(l.trailing_bytes) +
          " bytes after the .npy array's data (shape " + ShapeString(l.shape) + ") are ignored"};
}

std::string NpyVersion(const Dataset& d) {
  return std::to_string(d.npy_major) + "." + std::to_string(d.npy_minor);
}

}  // namespace mm
