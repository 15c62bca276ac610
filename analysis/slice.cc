#include "analysis/slice.h"

#include <algorithm>
#include <cctype>

#include "analysis/array_copy.h"
#include "core/npy.h"
#include "core/select_parser.h"
#include "io/file_identity.h"
#include "io/files.h"

namespace mm {

bool IsNpyPath(const std::string& path) {
  if (path.size() < 4) return false;
  std::string ext = path.substr(path.size() - 4);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".npy";
}

bool NpyFortranFlag(char order, const std::vector<int64_t>& shape) {
  if (order != 'F') return false;
  int long_axes = 0;
  for (int64_t d : shape) long_axes += d > 1;
  return long_axes >= 2;
}

Result<std::unique_ptr<Analysis>> MakeSlice(const AnalysisSpec& spec, const Dataset& dataset,
                                            const Partition& partition) {
  std::vector<std::string> keys = {"select", "output"};
  keys.insert(keys.end(), Hdf5OutputKeys().begin(), Hdf5OutputKeys().end());
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, keys, "analyses[" + std::to_string(spec.index) + "]"));
  if (!spec.params.contains("select") || !spec.params["select"].is_string())
    return ParamError(spec, "select",
                      "is required: numpy basic indexing as a string, e.g. \"[:, 0]\"");
  if (!spec.params.contains("output") || !spec.params["output"].is_string() ||
      spec.params["output"].get<std::string>().empty())
    return ParamError(spec, "output",
                      "is required: the path of the output (.npy, or raw bytes otherwise)");
  const Layout& layout = dataset.layout;
  Result<std::vector<SelectItem>> items = ParseSelect(spec.params["select"].get<std::string>());
  if (!items.ok()) return ParamError(spec, "select", items.status().message());
  Result<std::vector<AxisSelect>> sel = ApplySelect(*items, layout.shape);
  if (!sel.ok()) return ParamError(spec, "select", sel.status().message());
  const std::string output = ResolvePath(spec.dir, spec.params["output"].get<std::string>());
  // By identity, not by name (io/file_identity.h): a symlink or hard link
  // of the dataset is the dataset.
  MM_RETURN_IF_ERROR(CheckOutput(
      NamedFile{output, "config key 'analyses[" + std::to_string(spec.index) + "].output'"},
      {NamedFile{dataset.path, "dataset.path"}}));
  std::vector<int> out_axis_of;
  int j = 0;
  for (const AxisSelect& s : *sel) out_axis_of.push_back(s.dropped ? -1 : j++);
  const std::vector<int64_t> shape = SelectShape(*sel);
  MM_ASSIGN_OR_RETURN(std::optional<Hdf5OutputSpec> hdf5,
                      ParseCopyOutput(spec, output, shape, layout.dtype));
  if (hdf5) {
    ArrayCopy copy(layout, *sel, out_axis_of, 'C', layout.dtype, 0);
    return std::unique_ptr<Analysis>(new CopyAnalysis(spec, dataset, partition, std::move(copy),
                                                      output, "", false, std::move(hdf5)));
  }
  const bool npy = IsNpyPath(output);
  const char order = npy ? layout.order : 'C';
  const bool fortran = NpyFortranFlag(order, shape);
  // A full index gives numpy a scalar, always in native byte order (what
  // numpy.save and tofile write); any other selection keeps the file's.
  DType dtype = layout.dtype;
  if (shape.empty()) dtype.big_endian = false;
  const std::string header = npy ? BuildNpyHeader(dtype, shape, fortran) : "";
  ArrayCopy copy(layout, *sel, out_axis_of, order, dtype, header.size());
  return std::unique_ptr<Analysis>(
      new CopyAnalysis(spec, dataset, partition, std::move(copy), output, header, fortran));
}

}  // namespace mm
