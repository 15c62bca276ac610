#include "analysis/convert.h"

#include <algorithm>

#include "analysis/array_copy.h"
#include "analysis/slice.h"
#include "core/casting.h"
#include "core/npy.h"
#include "io/file_identity.h"
#include "io/files.h"

namespace mm {

Result<std::unique_ptr<Analysis>> MakeConvert(const AnalysisSpec& spec, const Dataset& dataset,
                                              const Partition& partition) {
  std::vector<std::string> keys = {"output", "order", "axes", "dtype", "casting"};
  keys.insert(keys.end(), Hdf5OutputKeys().begin(), Hdf5OutputKeys().end());
  MM_RETURN_IF_ERROR(CheckKeys(spec.params, keys, "analyses[" + std::to_string(spec.index) + "]"));
  const Json& p = spec.params;
  const Layout& layout = dataset.layout;
  const int nd = layout.ndim();
  if (!p.contains("output") || !p["output"].is_string() || p["output"].get<std::string>().empty())
    return ParamError(spec, "output",
                      "is required: the path of the output (.npy, or raw bytes otherwise)");
  const std::string output = ResolvePath(spec.dir, p["output"].get<std::string>());
  // By identity, not by name (io/file_identity.h): a symlink or hard link
  // of the dataset is the dataset.
  MM_RETURN_IF_ERROR(CheckOutput(
      NamedFile{output, "config key 'analyses[" + std::to_string(spec.index) + "].output'"},
      {NamedFile{dataset.path, "dataset.path"}}));
  char order = 'C';
  if (p.contains("order")) {
    if (!p["order"].is_string() || (p["order"] != "C" && p["order"] != "F"))
      return ParamError(spec, "order", "must be \"C\" or \"F\", got " + p["order"].dump());
    order = p["order"].get<std::string>()[0];
  }
  std::vector<int> axes(static_cast<size_t>(nd));
  for (int a = 0; a < nd; ++a) axes[static_cast<size_t>(a)] = a;
  if (p.contains("axes") && !p["axes"].is_null()) {
    const Json& ax = p["axes"];
    if (!ax.is_array() || static_cast<int>(ax.size()) != nd)
      return ParamError(
          spec, "axes",
          "must be a permutation of the " + std::to_string(nd) + " axes, got " + ax.dump());
    std::vector<bool> seen(static_cast<size_t>(nd), false);
    for (int j = 0; j < nd; ++j) {
      const Json& v = ax[static_cast<size_t>(j)];
      if (!v.is_number_integer() || v.get<int64_t>() < -nd || v.get<int64_t>() >= nd)
        return ParamError(
            spec, "axes",
            "entry " + v.dump() + " is not an axis of a " + std::to_string(nd) + "-d array");
      int a = static_cast<int>(v.get<int64_t>());
      if (a < 0) a += nd;
      if (seen[static_cast<size_t>(a)])
        return ParamError(spec, "axes", "axis " + std::to_string(a) + " is repeated");
      seen[static_cast<size_t>(a)] = true;
      axes[static_cast<size_t>(j)] = a;
    }
  }
  DType to = layout.dtype;
  if (p.contains("dtype")) {
    if (!p["dtype"].is_string())
      return ParamError(spec, "dtype", "must be a dtype name such as \"float32\" or \">i4\"");
    Result<DType> d = ParseDType(p["dtype"].get<std::string>());
    if (!d.ok()) return ParamError(spec, "dtype", d.status().message());
    to = *d;
  }
  Casting casting = Casting::kSafe;
  if (p.contains("casting")) {
    if (!p["casting"].is_string())
      return ParamError(spec, "casting", "must be \"safe\", \"same_kind\" or \"unsafe\"");
    Result<Casting> c = ParseCasting(p["casting"].get<std::string>());
    if (!c.ok()) return ParamError(spec, "casting", c.status().message());
    casting = *c;
  }
  if (!CanCast(layout.dtype, to, casting))
    return ParamError(
        spec, "casting",
        std::string("cannot cast ") + layout.dtype.descr() + " (" + layout.dtype.name() + ") to " +
            to.descr() + " (" + to.name() + ") under '" + CastingName(casting) + "' casting" +
            (casting == Casting::kSafe && CanCast(layout.dtype, to, Casting::kSameKind)
                 ? "; \"casting\": \"same_kind\" allows it"
                 : "; \"casting\": \"unsafe\" allows it"));
  std::vector<AxisSelect> sel(static_cast<size_t>(nd));
  std::vector<int> out_axis_of(static_cast<size_t>(nd));
  std::vector<int64_t> shape(static_cast<size_t>(nd));
  for (int j = 0; j < nd; ++j) {
    const int a = axes[static_cast<size_t>(j)];
    AxisSelect& s = sel[static_cast<size_t>(a)];
    s.dropped = false;
    s.start = 0;
    s.step = 1;
    s.count = layout.shape[static_cast<size_t>(a)];
    out_axis_of[static_cast<size_t>(a)] = j;
    shape[static_cast<size_t>(j)] = s.count;
  }
  MM_ASSIGN_OR_RETURN(std::optional<Hdf5OutputSpec> hdf5, ParseCopyOutput(spec, output, shape, to));
  if (hdf5) {
    // An HDF5 dataset is stored in C order: `order` changes no value (as
    // h5py writing numpy.asarray(..., order=order)).
    ArrayCopy copy(layout, sel, out_axis_of, 'C', to, 0);
    return std::unique_ptr<Analysis>(new CopyAnalysis(spec, dataset, partition, std::move(copy),
                                                      output, "", false, std::move(hdf5)));
  }
  const bool npy = IsNpyPath(output);
  const bool fortran = NpyFortranFlag(order, shape);
  const std::string header = npy ? BuildNpyHeader(to, shape, fortran) : "";
  ArrayCopy copy(layout, sel, out_axis_of, order, to, header.size());
  return std::unique_ptr<Analysis>(
      new CopyAnalysis(spec, dataset, partition, std::move(copy), output, header, fortran));
}

}  // namespace mm
