#include "analysis/npy_fields.h"

#include <cstring>

#include "analysis/array_copy.h"
#include "core/dtype.h"
#include "core/npy.h"
#include "io/files.h"

namespace mm {

namespace {

Json Nest(std::vector<Json>* flat, const std::vector<int64_t>& shape, size_t dim, size_t* pos) {
  if (dim == shape.size()) return std::move((*flat)[(*pos)++]);
  Json out = Json::array();
  out.get_ref<Json::array_t&>().reserve(static_cast<size_t>(shape[dim]));
  for (int64_t i = 0; i < shape[dim]; ++i) out.push_back(Nest(flat, shape, dim + 1, pos));
  return out;
}

}  // namespace

Json NestFlat(std::vector<Json> flat, const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return Json(std::move(flat));
  size_t pos = 0;
  return Nest(&flat, shape, 0, &pos);
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

Status NpyFieldFiles::Create(const std::string& prefix, const std::vector<Spec>& specs) {
  outs_.clear();
  temps_.clear();
  for (const Spec& f : specs) {
    DType dt;
    dt.kind = f.is_int ? Kind::kInt64 : Kind::kFloat64;
    dt.big_endian = false;
    const std::string header = BuildNpyHeader(dt, f.shape, false);
    uint64_t n = 1;
    for (int64_t d : f.shape) n *= static_cast<uint64_t>(d);
    const std::string target = prefix + "." + f.name + ".npy";
    MM_ASSIGN_OR_RETURN(TempOutput out, TempOutput::Create(target));
    MM_RETURN_IF_ERROR(out.Write(header));
    if (n > 0) MM_RETURN_IF_ERROR(out.Reserve(header.size() + n * 8));
    MM_ASSIGN_OR_RETURN(FileId id, IdOfFd(out.fd(), out.temp_path()));
    temps_.push_back(Temp{out.temp_path(), id, header.size(), target});
    outs_.push_back(std::move(out));
  }
  return Status::OK();
}

Status NpyFieldFiles::Write(size_t i, uint64_t at, const void* p, uint64_t n) {
  return PwriteFull(outs_[i].fd(), p, n, temps_[i].offset + at, temps_[i].target + ": write",
                    Code::kCantCreate);
}

Status NpyFieldFiles::Commit() {
  for (TempOutput& out : outs_) MM_RETURN_IF_ERROR(out.Commit());
  return Status::OK();
}

Json NpyFieldFiles::ToJson() const {
  Json files = Json::array();
  for (const Temp& t : temps_) files.push_back(Json::array({t.path, t.id.dev, t.id.ino, t.offset}));
  return Json{{"files", files}};
}

Status NpyFieldFiles::FromJson(const Json& j, const std::string& prefix,
                               const std::vector<std::string>& names, const std::string& who) {
  const Status bad = Error(Code::kDataErr, who + ": malformed pass input");
  if (!j.is_object() || j.size() != 1 || !j.contains("files") || !j["files"].is_array() ||
      j["files"].size() != names.size())
    return bad;
  temps_.clear();
  for (size_t i = 0; i < names.size(); ++i) {
    const Json& f = j["files"][i];
    if (!f.is_array() || f.size() != 4 || !f[0].is_string() || !f[1].is_number_unsigned() ||
        !f[2].is_number_unsigned() || !f[3].is_number_unsigned())
      return bad;
    temps_.push_back(Temp{f[0].get<std::string>(),
                          FileId{f[1].get<uint64_t>(), f[2].get<uint64_t>()}, f[3].get<uint64_t>(),
                          prefix + "." + names[i] + ".npy"});
  }
  return Status::OK();
}

NpyFieldWriter::NpyFieldWriter(const NpyFieldFiles& files) : files_(files) {}
NpyFieldWriter::~NpyFieldWriter() = default;

Status NpyFieldWriter::Write(size_t i, uint64_t at, const void* p, uint64_t n) {
  if (open_.empty()) {
    for (const NpyFieldFiles::Temp& t : files_.temps_) {
      open_.push_back(std::make_unique<OutputFile>());
      MM_RETURN_IF_ERROR(open_.back()->Open(t.path, t.target, t.id));
    }
  }
  if (i >= open_.size())
    return Error(Code::kWorkerFailed, "a worker was not told the name of an output file");
  return open_[i]->WriteAt(files_.temps_[i].offset + at, static_cast<const char*>(p), n);
}

}  // namespace mm
