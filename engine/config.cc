#include "engine/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <set>

#include "core/strings.h"
#include "io/files.h"
#include "source/registry.h"

namespace mm {

namespace {

Status KeyError(const std::string& key, const std::string& why) {
  return Error(Code::kConfig, "config key '" + key + "': " + why);
}

Result<std::string> GetString(const Json& obj, const std::string& key, const std::string& where) {
  const Json& v = obj.at(key);
  if (!v.is_string()) return KeyError(where + key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}

Result<int64_t> GetInt(const Json& v, const std::string& key) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return KeyError(key, "integer " + v.dump() + " is out of range");
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::fabs(d) < 9.0e18 && d == std::trunc(d)) return static_cast<int64_t>(d);
  }
  return KeyError(key, "must be an integer, got " + v.dump());
}

Result<DatasetSpec> ParseDataset(const Json& j, const std::string& dir) {
  if (!j.is_object()) return KeyError("dataset", "must be an object");
  MM_RETURN_IF_ERROR(CheckKeys(j,
                               {"path", "format", "dtype", "shape", "order", "offset", "mode",
                                "name", "cf", "chunks", "compression", "shuffle"},
                               "dataset"));
  DatasetSpec d;
  if (!j.contains("path")) return KeyError("dataset.path", "is required");
  MM_ASSIGN_OR_RETURN(std::string path, GetString(j, "path", "dataset."));
  if (path.empty()) return KeyError("dataset.path", "must not be empty");
  d.path = ResolvePath(dir, path);
  if (j.contains("format")) {
    MM_ASSIGN_OR_RETURN(d.format, GetString(j, "format", "dataset."));
    if (d.format != "auto" && FindFormat(d.format) == nullptr)
      return KeyError("dataset.format", "must be " + FormatChoices() + ", got '" + d.format + "'");
  }
  if (j.contains("dtype")) {
    MM_ASSIGN_OR_RETURN(std::string dtype, GetString(j, "dtype", "dataset."));
    d.dtype = dtype;
  }
  if (j.contains("shape")) {
    const Json& s = j["shape"];
    if (!s.is_array() || s.empty())
      return KeyError("dataset.shape", "must be a non-empty list of integers");
    std::vector<int64_t> shape;
    for (const Json& e : s) {
      MM_ASSIGN_OR_RETURN(int64_t n, GetInt(e, "dataset.shape"));
      shape.push_back(n);
    }
    d.shape = shape;
  }
  if (j.contains("order")) {
    MM_ASSIGN_OR_RETURN(std::string order, GetString(j, "order", "dataset."));
    if (order != "C" && order != "F")
      return KeyError("dataset.order", "must be \"C\" or \"F\", got '" + order + "'");
    d.order = order[0];
  }
  if (j.contains("offset")) {
    MM_ASSIGN_OR_RETURN(int64_t off, GetInt(j["offset"], "dataset.offset"));
    if (off < 0) return KeyError("dataset.offset", "must be >= 0");
    d.offset = static_cast<uint64_t>(off);
  }
  if (j.contains("mode")) {
    MM_ASSIGN_OR_RETURN(d.mode, GetString(j, "mode", "dataset."));
    if (d.mode != "r" && d.mode != "r+" && d.mode != "w+")
      return KeyError("dataset.mode", "must be r, r+ or w+, got '" + d.mode + "'");
  }
  if (j.contains("name")) {  // HDF5: the dataset's path in the file
    MM_ASSIGN_OR_RETURN(std::string name, GetString(j, "name", "dataset."));
    if (name.empty() || name == "/") return KeyError("dataset.name", "must name a dataset");
    d.name = name;
  }
  if (j.contains("cf")) {  // HDF5: CF decoding (SPEC §7)
    const Json& cf = j["cf"];
    if (cf.is_boolean())
      d.cf = cf.get<bool>() ? "true" : "false";
    else if (cf.is_string() && cf.get<std::string>() == "auto")
      d.cf = "auto";
    else
      return KeyError("dataset.cf", "must be \"auto\", true or false, got " + cf.dump());
  }
  // An HDF5 file generate writes (SPEC §7 "HDF5 outputs"): checked with
  // the dataset's shape and dtype (source/dataset.h, analysis/generate.h).
  for (const char* key : {"chunks", "compression", "shuffle"}) {
    if (!j.contains(key)) continue;
    if (d.mode != "w+")
      return KeyError(std::string("dataset.") + key,
                      "applies to an HDF5 file generate writes (mode w+) only");
    d.hdf5_output[key] = j[key];
  }
  return d;
}

}  // namespace

Result<Config> ParseConfig(const Json& j, const std::string& dir) {
  if (!j.is_object()) return Error(Code::kConfig, "config: must be a JSON object");
  // A NUL would silently cut a path at every system call.
  if (const std::string key = FindNulString(j); !key.empty())
    return KeyError(key, "holds a NUL byte");
  if (const std::string key = FindNonUtf8String(j); !key.empty())
    return KeyError(EscapeNonUtf8(key), "is not UTF-8 text, which the plan cannot carry exactly");
  if (dir.find('\0') != std::string::npos) return KeyError("config_dir", "holds a NUL byte");
  // The plan carries the folder to the workers as JSON text.
  if (!IsUtf8(dir))
    return Error(Code::kUsage, "the folder relative paths are resolved in, '" + EscapeNonUtf8(dir) +
                                   "' (the config's, or the current one), is not UTF-8 text, "
                                   "which mmrun's JSON plan cannot carry; run from a folder "
                                   "with a UTF-8 name");
  MM_RETURN_IF_ERROR(CheckKeys(
      j, {"dataset", "analyses", "output", "workers", "launch", "timeout", "retries"}, ""));
  Config c;
  c.dir = dir;
  if (!j.contains("dataset")) return KeyError("dataset", "is required");
  MM_ASSIGN_OR_RETURN(c.dataset, ParseDataset(j["dataset"], dir));
  if (!j.contains("analyses")) return KeyError("analyses", "is required (a non-empty list)");
  const Json& list = j["analyses"];
  if (!list.is_array() || list.empty()) return KeyError("analyses", "must be a non-empty list");
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "analyses[" + std::to_string(i) + "]";
    const Json& a = list[i];
    if (!a.is_object()) return KeyError(where, "must be an object");
    if (!a.contains("op")) return KeyError(where + ".op", "is required");
    AnalysisSpec spec;
    spec.index = static_cast<int>(i);
    spec.dir = dir;
    MM_ASSIGN_OR_RETURN(spec.op, GetString(a, "op", where + "."));
    spec.name = spec.op;
    if (a.contains("name")) {
      MM_ASSIGN_OR_RETURN(spec.name, GetString(a, "name", where + "."));
      if (spec.name.empty()) return KeyError(where + ".name", "must not be empty");
    }
    if (!names.insert(spec.name).second)
      return KeyError(where + ".name",
                      "duplicate analysis name '" + spec.name + "' (names must be unique)");
    spec.params = a;
    spec.params.erase("op");
    spec.params.erase("name");
    c.analyses.push_back(std::move(spec));
  }
  if (j.contains("output")) {
    MM_ASSIGN_OR_RETURN(std::string out, GetString(j, "output", ""));
    if (out.empty()) return KeyError("output", "must not be empty");
    c.run.output = ResolvePath(dir, out);
  }
  if (j.contains("workers")) {
    MM_ASSIGN_OR_RETURN(int64_t w, GetInt(j["workers"], "workers"));
    if (w < 1 || w > 4096) return KeyError("workers", "must be between 1 and 4096");
    c.run.workers = static_cast<int>(w);
  }
  if (j.contains("launch")) {
    MM_ASSIGN_OR_RETURN(std::string launch, GetString(j, "launch", ""));
    if (launch != "fork" && launch != "spawn")
      return KeyError("launch", "must be fork or spawn, got '" + launch + "'");
    c.run.launch = launch;
  }
  if (j.contains("timeout")) {
    if (!j["timeout"].is_number() || j["timeout"].get<double>() <= 0)
      return KeyError("timeout", "must be a positive number of seconds");
    c.run.timeout = j["timeout"].get<double>();
  }
  if (j.contains("retries")) {
    MM_ASSIGN_OR_RETURN(int64_t r, GetInt(j["retries"], "retries"));
    if (r < 0 || r > 100) return KeyError("retries", "must be between 0 and 100");
    c.run.retries = static_cast<int>(r);
  }
  return c;
}

Result<Json> ReadConfigJson(const std::string& path) {
  // Never blocks (O_NONBLOCK) and reads only a regular file of bounded size.
  Result<std::string> text = ReadRegularFile(path, path, kMaxConfigBytes, Code::kConfig);
  if (!text.ok()) {
    // `cat cfg.json | mmrun /dev/stdin`: a pipe (or a terminal) cannot be
    // read twice; say how to give a config on stdin.
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)))
      return Error(text.status().code(),
                   text.status().message() + "; use - to read the config from stdin");
    return text.status();
  }
  return ParseJson(*text, path, Code::kConfig);
}

}  // namespace mm
