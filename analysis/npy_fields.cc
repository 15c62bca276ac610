#include "analysis/npy_fields.h"

#include <cstring>

#include "core/dtype.h"
#include "core/npy.h"
#include "io/files.h"

namespace mm {

namespace {

Json Nest(const std::vector<Json>& flat, const std::vector<int64_t>& shape, size_t dim,
          size_t* pos) {
  if (dim == shape.size()) return flat[(*pos)++];
  Json out = Json::array();
  for (int64_t i = 0; i < shape[dim]; ++i) out.push_back(Nest(flat, shape, dim + 1, pos));
  return out;
}

}  // namespace

Json NestFlat(const std::vector<Json>& flat, const std::vector<int64_t>& shape) {
  size_t pos = 0;
  return Nest(flat, shape, 0, &pos);
}

std::vector<std::string> NpyFieldPaths(const std::string& prefix,
                                       const std::vector<std::string>& names) {
  std::vector<std::string> paths;
  if (prefix.empty()) return paths;
  for (const std::string& name : names) paths.push_back(prefix + "." + name + ".npy");
  return paths;
}

Result<Json> WriteNpyFields(const std::string& prefix, const std::vector<NpyField>& fields) {
  std::vector<TempOutput> outs;
  Json files = Json::object();
  for (const NpyField& f : fields) {
    const std::string path = prefix + "." + f.name + ".npy";
    DType dt;
    dt.kind = f.is_int ? Kind::kInt64 : Kind::kFloat64;
    dt.big_endian = false;
    std::string bytes = BuildNpyHeader(dt, f.shape, false);
    const size_t header = bytes.size();
    const size_t n = f.is_int ? f.ints.size() : f.doubles.size();
    bytes.resize(header + n * 8);
    for (size_t i = 0; i < n; ++i) {
      uint64_t bits;
      if (f.is_int) {
        std::memcpy(&bits, &f.ints[i], 8);
      } else {
        std::memcpy(&bits, &f.doubles[i], 8);
      }
      if (HostIsBigEndian()) bits = ByteSwap(bits);
      std::memcpy(&bytes[header + i * 8], &bits, 8);
    }
    MM_ASSIGN_OR_RETURN(TempOutput out, TempOutput::Create(path));
    MM_RETURN_IF_ERROR(out.Write(bytes));
    outs.push_back(std::move(out));
    files[f.name] = path;
  }
  for (TempOutput& out : outs) MM_RETURN_IF_ERROR(out.Commit());
  return files;
}

}  // namespace mm
