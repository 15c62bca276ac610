#include "runner/quick.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <regex>

#include "core/array_text.h"
#include "core/npy.h"
#include "core/select_parser.h"
#include "core/strings.h"
#include "engine/plan.h"
#include "io/files.h"
#include "runner/commands.h"

namespace po = boost::program_options;

namespace mm {

namespace {

// How a flag's text becomes the config's JSON value.
enum class FlagType { kText, kInt, kNumber, kNumbers, kPair, kShape, kAxis, kCf };

struct Flag {
  const char* name;   // --name
  const char* value;  // what it takes, for the help
  const char* help;
  FlagType kind;
  bool dataset;  // a dataset key (else the analysis')
};

// The layout options, as for `inspect` (SPEC §8), plus --format and --cf.
const Flag kLayoutFlags[] = {
    {"dtype", "D", "element type of a raw file (float32, <i2, ...)", FlagType::kText, true},
    {"shape", "S", "shape of a raw file, e.g. -1,10 (-1: as many rows as fit)", FlagType::kShape,
     true},
    {"order", "C|F", "storage order of a raw file (C)", FlagType::kText, true},
    {"offset", "B", "bytes before the array in a raw file (0)", FlagType::kInt, true},
    {"format", "F", "auto, raw, npy or hdf5 (auto)", FlagType::kText, true},
    {"name", "N", "the dataset's path in an HDF5/netCDF-4 file", FlagType::kText, true},
    {"cf", "auto|true|false", "decode CF attributes of HDF5/netCDF-4 data (auto)", FlagType::kCf,
     true},
};

struct QuickOp {
  const char* name;  // subcommand, and the analysis' op (show: slice)
  const char* args;
  const char* description;
  std::vector<Flag> flags;  // the analysis' own
  const char* example;
};

const std::vector<QuickOp>& QuickOps() {
  static const std::vector<QuickOp> ops = {
      {"stats",
       "FILE [--axis A] [--ddof D]",
       "count, nan_count, sum, mean, var, std, min, max",
       {{"axis", "A", "reduce over axis A (an int, a list 0,1, or none: all)", FlagType::kAxis,
         false},
        {"ddof", "D", "delta degrees of freedom of var and std (0)", FlagType::kNumber, false}},
       "mmrun stats data.f32 --dtype float32 --shape -1,1000 --axis 0"},
      {"histogram",
       "FILE [--bins B] [--range LO,HI] [--axis A]",
       "numpy.histogram of the values",
       {{"bins", "B", "number of equal bins (10)", FlagType::kInt, false},
        {"range", "LO,HI", "the bins' range (default: the data's finite min and max)",
         FlagType::kPair, false},
        {"axis", "A", "one histogram per lane along axis A", FlagType::kAxis, false}},
       "mmrun histogram cube.npy --bins 50 --range -3,3"},
      {"quantiles",
       "FILE --q Q1,Q2,... [--method M] [--axis A]",
       "exact numpy.nanquantile",
       {{"q", "Q1,Q2,...", "probabilities in [0, 1] (required)", FlagType::kNumbers, false},
        {"method", "M", "numpy's method names (linear)", FlagType::kText, false},
        {"axis", "A", "quantiles along axis A", FlagType::kAxis, false}},
       "mmrun quantiles data.nc --name tas --q 0.01,0.5,0.99"},
      {"show",
       "FILE [SELECT]",
       "print a small selection as numpy prints it",
       {},
       "mmrun show data.f32 --dtype float32 --shape -1,1000 '[100:105, 50:56]'"},
  };
  return ops;
}

Status UsageError(const std::string& msg) {
  return Error(Code::kUsage, msg + " (see mmrun --help)");
}

// The JSON value of `text` given to --`f.name`.
Result<Json> FlagValue(const Flag& f, const std::string& text) {
  const std::string flag = std::string("--") + f.name;
  auto number = [&](const std::string& s, bool integer) -> Result<Json> {
    errno = 0;
    char* end = nullptr;
    const char* c = s.c_str();
    while (*c == ' ') ++c;
    if (integer || s.find_first_of(".eEnN") == std::string::npos) {
      const long long v = std::strtoll(c, &end, 10);
      if (end != c && *end == '\0' && errno == 0) return Json(static_cast<int64_t>(v));
      if (integer) return UsageError(flag + " takes an integer, got '" + text + "'");
    }
    errno = 0;
    const double v = std::strtod(c, &end);
    if (end == c || *end != '\0' || errno != 0)
      return UsageError(flag + " takes a number, got '" + text + "'");
    // JSON has no NaN or infinity: the config would say "got null".
    if (!std::isfinite(v)) return UsageError(flag + " takes a finite number, got '" + text + "'");
    return Json(v);
  };
  auto list = [&](bool integer) -> Result<Json> {
    Json out = Json::array();
    std::string s = text;
    for (char& ch : s)
      if (ch == '[' || ch == ']' || ch == '(' || ch == ')') ch = ' ';
    size_t pos = 0;
    while (true) {
      const size_t comma = s.find(',', pos);
      std::string part =
          s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      while (!part.empty() && part.back() == ' ') part.pop_back();
      if (part.find_first_not_of(' ') != std::string::npos) {
        MM_ASSIGN_OR_RETURN(Json v, number(part, integer));
        out.push_back(v);
      } else if (comma != std::string::npos || out.empty()) {
        return UsageError(flag + " takes a comma-separated list, got '" + text + "'");
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    return out;
  };
  switch (f.kind) {
    case FlagType::kText:
      return Json(text);
    case FlagType::kInt:
      return number(text, true);
    case FlagType::kNumber:
      return number(text, false);
    case FlagType::kNumbers:
      return list(false);
    case FlagType::kShape:
      return list(true);
    case FlagType::kPair: {
      MM_ASSIGN_OR_RETURN(Json v, list(false));
      if (v.size() != 2) return UsageError(flag + " takes LO,HI, got '" + text + "'");
      return v;
    }
    case FlagType::kAxis: {
      if (text == "none" || text == "None" || text == "null" || text == "all") return Json(nullptr);
      MM_ASSIGN_OR_RETURN(Json v, list(true));
      return text.find(',') == std::string::npos ? v[0] : v;
    }
    case FlagType::kCf:
      if (text == "auto") return Json("auto");
      if (text == "true" || text == "1") return Json(true);
      if (text == "false" || text == "0") return Json(false);
      return UsageError("--cf takes auto, true or false, got '" + text + "'");
  }
  return Json(text);
}

// An error of the built config under the flag that set the key: "config
// key 'analyses[0].bins' (NAME): WHY" becomes "--bins: WHY" (exit 64). An
// error about the data or the file keeps its code.
Status FlagError(const Status& st) {
  if (st.code() != Code::kConfig) return st;
  static const std::regex analysis_key(R"(config key 'analyses\[0\]\.([A-Za-z_]+)' \([^)]*\))");
  static const std::regex dataset_key(R"(config key 'dataset\.([A-Za-z_]+)')");
  std::string msg = std::regex_replace(st.message(), analysis_key, "--$1");
  msg = std::regex_replace(msg, dataset_key, "--$1");
  // The layout's own messages ("PATH: dataset.shape: ...", "... the same
  // file as dataset.path ...") and the dtype's, which names no key.
  static const std::regex bare_key(
      R"((^| )dataset\.(path|dtype|shape|order|offset|format|name|cf)(?=[: ]|$))");
  msg = std::regex_replace(msg, bare_key, "$1--$2");
  if (msg.rfind("unsupported dtype '", 0) == 0) msg = "--dtype: " + msg;
  // The analysis' "output" key has no flag (-o is the document's): the
  // flags asked for more numbers than a document holds.
  static const std::regex too_many(
      R"(--output: (the result would hold [0-9]+ numbers \(more than [0-9]+\)); give "output": "PREFIX" to write )");
  msg = std::regex_replace(msg, too_many,
                           "$1: too many for a quick command (ask for fewer with --bins, --q or "
                           "--axis); a config whose analysis has \"output\": \"PREFIX\" writes ");
  msg = std::regex_replace(msg, std::regex("--path\\b"), "FILE");
  msg = std::regex_replace(msg, std::regex("--select\\b"), "SELECT");  // show's slice
  return Error(Code::kUsage, msg);
}

std::string FlagHelp(const Flag& f) {
  std::string head = std::string("      --") + f.name + " " + f.value;
  constexpr size_t kColumn = 27;
  head = head.size() + 1 > kColumn ? head + "\n" + std::string(kColumn, ' ')
                                   : head + std::string(kColumn - head.size(), ' ');
  return head + f.help + "\n";
}

std::string QuickHelp(const QuickOp& op) {
  std::string text = std::string("Usage: mmrun ") + op.name + " " + op.args +
                     " [layout options] [run options]\n\n" + op.description + ".\n";
  if (!op.flags.empty()) {
    text += "\nOptions:\n";
    for (const Flag& f : op.flags) text += FlagHelp(f);
  }
  text +=
      "\nLayout options (raw files need --dtype and --shape; .npy, HDF5 and netCDF-4\n"
      "files describe themselves):\n";
  for (const Flag& f : kLayoutFlags) text += FlagHelp(f);
  text += std::string(
              "\nRun options: as for a config (mmrun --help): -w, --launch, -q, --progress,\n") +
          "--timeout, --retries, --lock" + (std::string(op.name) == "show" ? ".\n" : ", -o.\n") +
          "\nExample:\n  " + op.example + "\n";
  if (std::string(op.name) == "show")
    text +=
        "\nSELECT is numpy basic indexing, e.g. '[0]' or '[100:200, 50:100]' (default:\n"
        "everything); at most " +
        std::to_string(kShowLimit) + " elements (write more with a slice analysis).\n";
  else
    text += "\nThe result is the JSON document the equivalent config would give.\n";
  return text;
}

// A folder only this process knows (mkdtemp: mode 0700, a new name),
// removed with what show put in it.
class PrivateDir {
 public:
  PrivateDir() = default;
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  ~PrivateDir() {
    if (path_.empty()) return;
    ::unlink(file().c_str());
    ::rmdir(path_.c_str());
  }
  Status Create() {
    // TMPDIR when it is an absolute UTF-8 path (the file's name goes to
    // the workers in the JSON plan), else /tmp.
    const char* env = std::getenv("TMPDIR");
    const bool use_env = env != nullptr && *env == '/' && IsUtf8(env);
    const std::string base = use_env ? env : "/tmp";
    // The folder is used by name (the workers write the slice into it):
    // nobody else may rename entries of `base`, or one could swap ours for a
    // symlink to another folder. So `base` is this user's or root's, and
    // not writable by others unless sticky (as /tmp is).
    struct stat bs;
    if (::stat(base.c_str(), &bs) != 0)
      return FromErrno(
          errno,
          (use_env ? "TMPDIR " : "") + base + ": cannot create show's temporary folder in it",
          Code::kCantCreate);
    if (!S_ISDIR(bs.st_mode) || (bs.st_uid != ::geteuid() && bs.st_uid != 0) ||
        ((bs.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (bs.st_mode & S_ISVTX) == 0))
      return Error(Code::kCantCreate,
                   (use_env ? "TMPDIR " : "") + base +
                       ": not a private place for show's temporary folder (it must be a folder "
                       "owned by you or root, writable by others only with the sticky bit, as "
                       "/tmp is); set TMPDIR to a folder of yours");
    // A folder a killed show left (SIGKILL runs no destructor) goes now.
    (void)RemoveDeadPrivateDirs(base, "mmrun-show");
    std::string templ = PrivateDirTemplate(base, "mmrun-show");
    if (::mkdtemp(templ.data()) == nullptr)  // the name tried last says nothing
      return FromErrno(
          errno,
          (use_env ? "TMPDIR " : "") + base + ": cannot create show's temporary folder in it",
          Code::kCantCreate);
    path_ = templ;
    return Status::OK();
  }
  std::string file() const { return path_ + "/show.npy"; }

 private:
  std::string path_;
};

// Reads the .npy `show` wrote (at most kShowLimit elements) and prints it.
Status PrintNpy(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return FromErrno(errno, path, Code::kIoErr);
  std::string bytes;
  const Status read = ReadToEnd(fd, kNpyMaxHeaderBytes + kShowLimit * 8 + 1, path, &bytes);
  ::close(fd);
  MM_RETURN_IF_ERROR(read);
  MM_ASSIGN_OR_RETURN(NpyHeader h, ParseNpyHeader(bytes));
  uint64_t n = 1;
  for (int64_t s : h.shape) n *= static_cast<uint64_t>(s);
  if (bytes.size() < h.header_bytes + n * h.dtype.itemsize())
    return Error(Code::kIoErr, path + ": shorter than its header says");
  const std::string text =
      ArrayText(h.dtype, h.shape, h.fortran_order, bytes.data() + h.header_bytes) + "\n";
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0)
    return Status::OK();
  // As a run's document (engine/document.cc): a reader gone is 141.
  if (errno == EPIPE)
    return Error(static_cast<Code>(128 + SIGPIPE), "stdout: the reader closed the pipe (EPIPE)");
  return FromErrno(errno, "stdout", Code::kIoErr);
}

Status RunQuick(const QuickOp& op, const std::vector<std::string>& args) {
  const bool show = std::string(op.name) == "show";
  po::options_description own;
  std::vector<const Flag*> flags;
  for (const Flag& f : kLayoutFlags) flags.push_back(&f);
  for (const Flag& f : op.flags) flags.push_back(&f);
  for (const Flag* f : flags) own.add_options()(f->name, po::value<std::string>());
  own.add_options()("file", po::value<std::vector<std::string>>());
  po::variables_map vm;
  MM_ASSIGN_OR_RETURN(RunArgs a, ParseRunArgs(args, &own, "file", &vm));
  std::vector<std::string> files =
      vm.count("file") ? vm["file"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (files.empty()) return UsageError(std::string(op.name) + " takes a FILE");
  if (files.size() > (show ? 2u : 1u))
    return UsageError(std::string(op.name) + " takes " + (show ? "FILE [SELECT]" : "one FILE") +
                      ", got " + std::to_string(files.size()) + " arguments");
  if (!a.state.empty()) return UsageError("--state needs a CONFIG (write the config for it)");
  if (show && !a.output.empty())
    return UsageError("show prints to stdout; to write a file, use a slice analysis");
  if (std::string(op.name) == "quantiles" && !vm.count("q"))
    return UsageError("quantiles needs --q, e.g. --q 0.01,0.5,0.99");

  Json dataset = Json::object();
  dataset["path"] = files[0];
  Json analysis = Json::object();
  analysis["op"] = show ? "slice" : op.name;
  for (const Flag* f : flags) {
    if (!vm.count(f->name)) continue;
    MM_ASSIGN_OR_RETURN(Json v, FlagValue(*f, vm[f->name].as<std::string>()));
    (f->dataset ? dataset : analysis)[f->name] = v;
  }
  const std::string select = show && files.size() > 1 ? files[1] : "[...]";
  PrivateDir dir;
  if (show) {
    MM_ASSIGN_OR_RETURN(std::vector<SelectItem> items, [&]() -> Result<std::vector<SelectItem>> {
      Result<std::vector<SelectItem>> r = ParseSelect(select);
      if (!r.ok()) return UsageError("SELECT '" + select + "': " + r.status().message());
      return r;
    }());
    MM_RETURN_IF_ERROR(dir.Create());
    analysis["select"] = select;
    analysis["output"] = dir.file();
    a.quiet = true;  // the printed array is the whole answer
    a.check_plan = [items, select](const Plan& plan) -> Status {
      Result<std::vector<AxisSelect>> sel = ApplySelect(items, plan.dataset.layout.shape);
      if (!sel.ok()) return UsageError("SELECT '" + select + "': " + sel.status().message());
      uint64_t n = 1;
      for (int64_t s : SelectShape(*sel)) n *= static_cast<uint64_t>(s);
      if (n > kShowLimit)
        return UsageError("SELECT '" + select + "' has " + std::to_string(n) +
                          " elements; show prints at most " + std::to_string(kShowLimit) +
                          ": choose fewer (e.g. '[:5]') or write them with a slice analysis");
      return Status::OK();
    };
  }
  a.built_config = Json{{"dataset", dataset}, {"analyses", Json::array({analysis})}};
  a.config_error = &FlagError;
  Json doc;
  if (show) a.document = &doc;
  Status st = RunWith(std::move(a));
  if (show && !st.ok()) {
    // show's .npy is its own temporary file, removed with its folder: a
    // failure after the slice wrote it has written nothing the user sees.
    // After the run's results ("...; the result document was not written")
    // or before them, once the slice committed ("... before the failure").
    std::string msg = st.message();
    for (const char* tail : {"; the result document was not written", " before the failure"}) {
      const std::string written = dir.file() + " was written" + tail;
      const size_t at = msg.find(written);
      if (at != std::string::npos) msg.replace(at, written.size(), "nothing printed");
    }
    return Error(st.code(), msg);
  }
  MM_RETURN_IF_ERROR(st);
  return show ? PrintNpy(dir.file()) : Status::OK();
}

}  // namespace

std::vector<Subcommand> QuickSubcommands() {
  std::vector<Subcommand> out;
  for (const QuickOp& op : QuickOps()) {
    Subcommand s;
    s.name = op.name;
    s.args = op.args;
    s.description = op.description;
    s.help = QuickHelp(op);
    s.run = [&op](const std::vector<std::string>& args) { return RunQuick(op, args); };
    out.push_back(s);
  }
  return out;
}

}  // namespace mm
