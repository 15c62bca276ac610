#include "runner/commands.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/fault.h"
#include "core/json_util.h"
#include "core/strings.h"
#include "core/warnings.h"
#include "engine/document.h"
#include "engine/merge.h"
#include "engine/plan.h"
#include "io/dataset_lock.h"
#include "io/file_identity.h"
#include "io/files.h"
#include "io/segment.h"
#include "runner/coordinator.h"
#include "runner/launcher.h"
#include "runner/plot_command.h"
#include "runner/progress.h"
#include "runner/run_guard.h"
#include "runner/run_lock.h"
#include "runner/shard.h"
#include "runner/state.h"
#include "source/dataset.h"
#include "source/registry.h"

namespace po = boost::program_options;

namespace mm {

void PrintError(const Status& st) {
  if (st.ok()) return;
  std::string msg = st.message();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::fprintf(stderr, "mmrun: error: %s\n", msg.c_str());
}

namespace {

Status UsageError(const std::string& msg) {
  return Error(Code::kUsage, msg + " (see mmrun --help)");
}

// Parses `args` against `opts`, collecting bare arguments under `positional`;
// a bad option is a usage error (64).
Status ParseCommandLine(const std::vector<std::string>& args, const po::options_description& opts,
                        const char* positional, po::variables_map* vm) {
  po::positional_options_description pos;
  pos.add(positional, -1);
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    return UsageError(e.what());
  }
  return Status::OK();
}

// The CPUs this process may run on.
int AvailableCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return 1;
}

int DefaultWorkers() {
  if (const char* s = std::getenv("SLURM_CPUS_PER_TASK")) {
    const int n = std::atoi(s);
    if (n > 0) return n;
  }
  return AvailableCpus();
}

std::string WorkerExecutable() {
  if (const char* env = std::getenv("MMRUN_WORKER")) return env;
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "mmworker";
  buf[n] = '\0';
  return DirName(buf) + "/mmworker";
}

}  // namespace

Status CheckArgumentsAreUtf8(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i)
    if (!IsUtf8(args[i]))
      return Error(Code::kUsage, "argument " + std::to_string(i + 1) + " '" +
                                     EscapeNonUtf8(args[i]) +
                                     "' is not UTF-8 text, which mmrun's JSON configs and "
                                     "results cannot carry; rename the file (mv) and run again");
  return Status::OK();
}

Result<RunArgs> ParseRunArgs(const std::vector<std::string>& args,
                             const po::options_description* own, const char* positional,
                             po::variables_map* vm_out) {
  RunArgs r;
  po::options_description opts;
  std::string workers, retries, timeout;
  opts.add_options()("workers,w", po::value<std::string>(&workers))(
      "launch", po::value<std::string>(&r.launch))("output,o", po::value<std::string>(&r.output))(
      "progress", po::value<double>()->implicit_value(10.0))("quiet,q", po::bool_switch(&r.quiet))(
      "timeout", po::value<std::string>(&timeout))("retries", po::value<std::string>(&retries))(
      "lock", po::value<std::string>(&r.lock))("shard", po::value<std::string>())(
      "state", po::value<std::string>(&r.state))("verify", po::bool_switch(&r.verify))(
      "config", po::value<std::vector<std::string>>());
  if (own != nullptr) opts.add(*own);
  po::variables_map local;
  po::variables_map& vm = vm_out != nullptr ? *vm_out : local;
  MM_RETURN_IF_ERROR(ParseCommandLine(args, opts, positional, &vm));
  if (vm.count("shard")) {
    MM_ASSIGN_OR_RETURN(r.shard, ParseShard(vm["shard"].as<std::string>()));
  }
  if (vm.count("output") && r.output.empty()) return UsageError("-o: empty path");
  if (vm.count("state") && r.state.empty()) return UsageError("--state needs a FILE");
  if (r.shard && !r.state.empty()) return UsageError("--shard and --state cannot be combined");
  if (r.verify && r.state.empty()) return UsageError("--verify works only with --state FILE");
  if (own == nullptr) {
    if (!vm.count("config")) return UsageError("missing CONFIG.json");
    const auto configs = vm["config"].as<std::vector<std::string>>();
    if (configs.size() != 1)
      return UsageError("expected one CONFIG.json, got " + std::to_string(configs.size()) +
                        " arguments");
    r.config = configs[0];
  }
  auto parse_int = [](const std::string& s, const char* flag, int lo, int hi, int* out) -> Status {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
      return UsageError(std::string(flag) + " takes an integer from " + std::to_string(lo) +
                        " to " + std::to_string(hi) + ", got '" + s + "'");
    *out = static_cast<int>(v);
    return Status::OK();
  };
  if (vm.count("workers")) MM_RETURN_IF_ERROR(parse_int(workers, "--workers", 1, 4096, &r.workers));
  if (vm.count("retries")) MM_RETURN_IF_ERROR(parse_int(retries, "--retries", 0, 100, &r.retries));
  if (vm.count("timeout")) {
    char* end = nullptr;
    r.timeout = std::strtod(timeout.c_str(), &end);
    if (timeout.empty() || *end != '\0' || !(r.timeout > 0))
      return UsageError("--timeout takes a positive number of seconds, got '" + timeout + "'");
  }
  if (vm.count("launch") && r.launch != "fork" && r.launch != "spawn")
    return UsageError("--launch must be fork or spawn, got '" + r.launch + "'");
  if (vm.count("progress")) {
    r.progress_flag = true;
    r.progress_secs = vm["progress"].as<double>();
    if (!(r.progress_secs > 0)) return UsageError("--progress takes a positive number of seconds");
  }
  return r;
}

namespace {

// The config's folder, against which its relative paths resolve: the current
// folder for a config read from stdin ("-") or through /dev or /proc (e.g.
// /dev/stdin, /dev/fd/3, a process substitution), else the file's folder.
std::string ConfigDir(const std::string& config_path) {
  const std::string abs = AbsolutePath(config_path);
  if (config_path == "-" || abs.rfind("/dev/", 0) == 0 || abs.rfind("/proc/", 0) == 0)
    return AbsolutePath(".");
  return DirName(abs);
}

// A config from stdin ("mmrun - < cfg.json"), at most kMaxConfigBytes like a
// config file (core/json_util.h).
// A stop signal (blocked since startup) ends the wait for input: the
// reading polls, so Ctrl-C at a terminal still stops `mmrun -` (130).
Result<Json> ReadStdinConfig() {
  std::string text;
  char buf[65536];
  while (text.size() <= kMaxConfigBytes) {
    struct pollfd p = {0, POLLIN, 0};
    const int ready = ::poll(&p, 1, 100);
    if (const int sig = TakePendingSignal())
      return Error(static_cast<Code>(128 + sig),
                   "interrupted by " + SignalName(sig) + " while reading the config from stdin");
    if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return FromErrno(errno, "config from stdin", Code::kIoErr);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  if (text.size() > kMaxConfigBytes)
    return Error(Code::kConfig, "config from stdin: larger than the limit of " +
                                    std::to_string(kMaxConfigBytes) + " bytes");
  return ParseJson(text, "config from stdin", Code::kConfig);
}

Result<std::unique_ptr<Plan>> LoadPlan(const RunArgs& a) {
  if (a.built_config) {
    Result<std::unique_ptr<Plan>> plan = Plan::Build(*a.built_config, AbsolutePath("."));
    if (!plan.ok() && a.config_error) return a.config_error(plan.status());
    return plan;
  }
  const std::string& config_path = a.config;
  MM_ASSIGN_OR_RETURN(Json j, config_path == "-" ? ReadStdinConfig() : ReadConfigJson(config_path));
  Result<std::unique_ptr<Plan>> plan = Plan::Build(j, ConfigDir(config_path));
  if (!plan.ok() && plan.status().code() == Code::kConfig)
    return plan.status().WithContext(config_path);
  return plan;
}

}  // namespace

// The output a run would write: the flag, else the config's "output".
std::string OutputPath(const std::string& flag, const Plan& plan) {
  return ResultTarget(!flag.empty() ? AbsolutePath(flag) : plan.config.run.output.value_or(""));
}

// The name of the output for messages: the flag or the config key.
std::string OutputKey(const std::string& flag) {
  return flag.empty() ? "config key 'output'" : "-o";
}

// The files a run reads, for the identity checks of every output it writes
// (io/file_identity.h): the config and the dataset's open descriptor.
void RegisterRunInputs(const Plan& plan, const std::string& config_path) {
  if (config_path != "-" && !config_path.empty()) {  // "-": stdin; "": built in memory
    const std::string config = AbsolutePath(config_path);
    RegisterInput(NamedFile{config, "CONFIG"}, KeyOfPath(config));
  }
  if (plan.dataset.fd() >= 0)
    RegisterInput(NamedFile{plan.dataset.path, "dataset.path"},
                  KeyOfFd(plan.dataset.fd(), plan.dataset.path));
  for (const std::string& file : plan.dataset.read_files)
    RegisterInput(NamedFile{file, "the data of dataset '" + plan.dataset.name + "' in"},
                  KeyOfPath(file));
}

// Registers every file the run writes (io/file_identity.h
// RegisterOutput): the result (`output`, "" for stdout), --state, the
// analyses' outputs and --lock, each checked against every input and every
// other output before anything is written. Call after RegisterRunInputs.
Status RegisterRunOutputs(const Plan& plan, const RunArgs& a, const std::string& output) {
  if (!output.empty()) MM_RETURN_IF_ERROR(RegisterOutput(NamedFile{output, OutputKey(a.output)}));
  if (!a.state.empty())
    MM_RETURN_IF_ERROR(RegisterOutput(NamedFile{AbsolutePath(a.state), "--state"}));
  for (const auto& an : plan.analyses)
    for (const std::string& path : an->CreatedFiles())
      MM_RETURN_IF_ERROR(RegisterOutput(NamedFile{
          path, path == plan.dataset.path
                    ? std::string("config key 'dataset.path'")
                    : "config key 'analyses[" + std::to_string(an->spec().index) + "].output'"}));
  if (!a.shard) MM_RETURN_IF_ERROR(RegisterPlotOutputs(plan));  // the "plot" keys' pictures
  // The lock file is never replaced, but it is held and may be created:
  // it must be none of the run's files (TakeRunLock says what else it refuses).
  if (!a.lock.empty())
    MM_RETURN_IF_ERROR(RegisterOutput(NamedFile{AbsolutePath(a.lock), "--lock"}, false,
                                      "; the lock file must be none of the files the run reads "
                                      "or writes"));
  return Status::OK();
}

namespace {

// The outputs renamed into place so far (TempOutput's record), generate's
// dataset left out (it is told apart): "A was written, B was written", or
// "" when none.
std::string WrittenOutputs(const Plan& plan) {
  std::vector<std::string> files;
  for (const std::string& path : CommittedOutputs())
    if (path != plan.dataset.path) files.push_back(path);
  return WrittenList(files);
}

// What a finished run has already committed to disk (a transform's journal
// is removed, generate's file, slice/convert outputs and the PREFIX.FIELD.npy
// files of per-lane results are renamed into place), for the message of a
// failure that comes after: "" when nothing.
std::string CommittedWrites(const Plan& plan) {
  std::string out;
  for (const auto& a : plan.analyses) {
    const Capabilities& caps = a->capabilities();
    if (caps.creates_dataset) {
      out += (out.empty() ? "" : ", ") + plan.dataset.path + " was generated";
    } else if (caps.writes_dataset) {
      out += (out.empty() ? "" : ", ") + plan.dataset.path + " was transformed in place (" +
             a->name() + " is complete and committed)";
    }
  }
  const std::string files = WrittenOutputs(plan);
  if (!files.empty()) out += (out.empty() ? "" : ", ") + files;
  return out;
}

// The message of a run that failed before its results: what is on disk.
// A transform's outcome is added by RunGuard::Fail (rolled back or not).
Status Unfinished(const Plan& plan, const FileKey& dataset_before, const Status& st) {
  // Outputs an analysis committed at the end of its pass (a slice, the
  // .npy files of a per-lane result) before another one failed.
  const std::string files = WrittenOutputs(plan);
  const std::string kept = files.empty() ? "" : "; " + files + " before the failure";
  const FileKey now = KeyOfPath(plan.dataset.path);
  if (plan.dataset.mode == "w+" && now.exists && !now.SameFile(dataset_before))
    return Error(st.code(), st.message() + "; " + plan.dataset.path +
                                " was generated before the failure and is kept" +
                                (files.empty() ? "" : ", " + files));
  for (const auto& a : plan.analyses)  // RunGuard::Fail tells what became of the dataset
    if (a->capabilities().writes_in_place()) return Error(st.code(), st.message() + kept);
  if (!files.empty()) return Error(st.code(), st.message() + kept);
  if (st.exit_code() > 128) return Error(st.code(), st.message() + ", nothing written");
  return st;
}

// MMRUN_TEST_FAULT=pause_after_commit=1: the coordinator waits (up to 60 s)
// for a stop signal once its writes are committed, and keeps it pending.
void PauseAfterCommitForTest() {
  if (!FaultEnabled("pause_after_commit")) return;
  const sigset_t set = StopSignals();
  const struct timespec limit = {60, 0};
  const int sig = sigtimedwait(&set, nullptr, &limit);
  if (sig > 0) ::raise(sig);  // blocked: pending again for TakePendingSignal
}

// The checks a run makes before any worker starts, shared with `validate`:
// the plan, the run options (flag over config), the output path.
struct CheckedRun {
  std::unique_ptr<Plan> plan;
  int workers = 1;  // requested
  std::string launch;
  std::string output;  // "" for stdout
};

Result<CheckedRun> CheckRun(const RunArgs& a, Warnings* warnings) {
  CheckedRun c;
  if ((a.config == "-" || a.built_config) && a.shard)
    return UsageError("--shard needs a CONFIG file (its part names it for mmrun merge), not " +
                      std::string(a.built_config ? "a quick command" : "stdin"));
  MM_ASSIGN_OR_RETURN(c.plan, LoadPlan(a));
  const Plan& plan = *c.plan;
  const RunOptions& cfg = plan.config.run;
  c.workers = a.workers > 0 ? a.workers : cfg.workers.value_or(DefaultWorkers());
  c.launch = !a.launch.empty() ? a.launch : cfg.launch.value_or("fork");
  if (a.shard || !a.state.empty()) c.plan->KeepPartials();
  if (a.shard) MM_RETURN_IF_ERROR(CheckSinglePass(plan, "--shard"));
  if (!a.state.empty()) MM_RETURN_IF_ERROR(CheckIncremental(plan));
  // A shard's part goes to -o or stdout, never to the config's output (that
  // is where `mmrun merge` writes the merged result).
  c.output =
      a.shard ? (a.output.empty() ? "" : AbsolutePath(a.output)) : OutputPath(a.output, plan);
  MM_RETURN_IF_ERROR(CheckRows(plan.dataset, !a.state.empty()));
  warnings->Add(LayoutWarnings(plan.dataset, !a.state.empty()));
  const int cpus = AvailableCpus();
  if (c.workers > cpus)
    warnings->Add(std::to_string(c.workers) + " workers requested but this process may run on " +
                  std::to_string(cpus) + " CPU" + (cpus > 1 ? "s" : "") +
                  ": extra workers share CPUs and make the run slower, not faster");
  return c;
}

}  // namespace

namespace {

// The rest of a run whose results are in (RunWith): the summary, the
// document, its pictures, the document written. The run's writes are
// committed by now: a failure says what is on disk through `tell`.
Status FinishRun(const RunArgs& a, const Plan& plan, Json results,
                 std::pair<int64_t, int64_t> shard_rows, const IncrementalStats& incremental,
                 int started, const RunSettings& settings, const std::string& launch,
                 RunSummary* summary, Warnings* warnings, RunPlots& plots, DocumentOutput& out,
                 std::string* committed,
                 const std::function<Status(Code, const std::string&, const char*)>& tell) {
  // The workers started (at most one per unit of rows), and the request when
  // it was more.
  summary->workers = started;
  summary->workers_requested = settings.workers;
  summary->launch = launch;
  summary->rows = shard_rows.second - shard_rows.first;
  summary->row_axis = plan.dataset.layout.row_axis();
  // The bytes workers read: the rows each pass covered, the blocks it needed.
  const auto read_rows = !a.state.empty()
                             ? std::make_pair(incremental.rows_reused, plan.dataset.layout.rows())
                             : shard_rows;
  uint64_t scanned = 0;
  size_t passes_read = 0;
  for (size_t p = 0; p < plan.passes.size(); ++p) {
    passes_read += plan.passes[p].skipped ? 0 : 1;
    scanned += plan.BytesRead(static_cast<int>(p), read_rows.first, read_rows.second);
  }
  summary->bytes_scanned = scanned;
  summary->passes = passes_read;
  if (!a.state.empty())
    summary->incremental = Json{{"state", incremental.state},
                                {"rows_reused", incremental.rows_reused},
                                {"rows_read", incremental.rows_read}};
  Json doc;
  if (a.shard) {
    // The part document (docs/PARTIAL_FORMAT.md), sealed with its checksum.
    // A part's content is its format's: its warnings go to stderr only.
    doc = PartDocument(std::move(results), *summary, AbsolutePath(a.config));
    warnings->Publish(nullptr);
  } else {
    doc =
        ResultDocument(*summary, plan.dataset, std::move(results), warnings, AnalysesSection(plan));
  }
  PauseAfterCommitForTest();
  if (const int sig = TakePendingSignal())
    return tell(static_cast<Code>(128 + sig), "interrupted by " + SignalName(sig),
                ": nothing written");
  MM_RETURN_IF_ERROR(plots.Draw(doc, committed));  // the pictures join `committed`
  if (a.document != nullptr) {
    *a.document = std::move(doc);
    return Status::OK();
  }
  const Status st = out.Write(std::move(doc));
  if (st.ok()) return st;
  // A reader that went away (`mmrun cfg.json | head`) may have had part of it.
  return tell(
      st.code(), st.message(),
      st.code() == static_cast<Code>(128 + SIGPIPE) ? ": the result document was cut short" : "");
}

}  // namespace

Status RunWith(RunArgs a) {
  RunSummary summary;
  summary.started = std::chrono::steady_clock::now();
  const sigset_t child_mask = BlockRunSignals();
  Warnings warnings(a.quiet);
  Segment::RemoveStale(&warnings);
  MM_ASSIGN_OR_RETURN(CheckedRun checked, CheckRun(a, &warnings));
  std::unique_ptr<Plan> plan = std::move(checked.plan);
  RegisterRunInputs(*plan, a.config);
  // Every file the run writes, against every file it reads and every other
  // one it writes, by identity, before anything is written or locked.
  if (Status st = RegisterRunOutputs(*plan, a, checked.output); !st.ok())
    return a.built_config && a.config_error ? a.config_error(st) : st;  // -o or --lock is FILE
  FileDescriptor lock;
  if (!a.lock.empty()) {
    MM_ASSIGN_OR_RETURN(lock, TakeRunLock(a.lock));
  }
  // The dataset's lock (shared, exclusive for a transform) for the whole run.
  MM_ASSIGN_OR_RETURN(RunGuard guard, RunGuard::ForPlan(*plan));
  // The lock was taken by name: the path must still name the file the plan
  // opened, or the lock (and a rollback through it) would be another file's.
  if (plan->dataset.fd() >= 0 &&
      !KeyOfPath(plan->dataset.path).SameFile(KeyOfFd(plan->dataset.fd(), plan->dataset.path)))
    return Error(
        Code::kIoErr,
        plan->dataset.path + ": replaced by another file while the run started; nothing read");
  const RunOptions& cfg = plan->config.run;
  RunSettings settings;
  settings.workers = checked.workers;
  settings.retries = guard.Retries(a.retries >= 0 ? a.retries : cfg.retries.value_or(1));
  settings.timeout_s = a.timeout > 0 ? a.timeout : cfg.timeout.value_or(0);
  int started = 0;
  settings.started = &started;
  if (a.check_plan) MM_RETURN_IF_ERROR(a.check_plan(*plan));
  const std::string& launch = checked.launch;
  const std::string& output = checked.output;
  // Create the output's temporary file now, so an unwritable target fails
  // before any worker starts.
  MM_ASSIGN_OR_RETURN(DocumentOutput out, DocumentOutput::Open(output, OutputKey(a.output)));
  MM_ASSIGN_OR_RETURN(RunPlots plots, RunPlots::Open(*plan, a.shard.has_value()));  // the same
  Progress::Mode mode = Progress::Mode::kOff;
  if (!a.quiet && (a.progress_flag || ::isatty(2)))
    mode = ::isatty(2) ? Progress::Mode::kLive : Progress::Mode::kLines;
  const auto shard_rows = a.shard ? ShardRows(*plan, *a.shard)
                                  : std::make_pair(int64_t{0}, plan->dataset.layout.rows());
  Progress progress(mode, a.progress_secs,
                    static_cast<uint64_t>(shard_rows.second - shard_rows.first),
                    plan->dataset.layout.row_bytes(), static_cast<int>(plan->passes.size()),
                    plan->dataset.layout.row_axis());
  settings.progress = &progress;
  // An incremental run may add one range: the last, partial block (runner/state.h).
  const int slots = static_cast<int>(std::min<int64_t>(settings.workers, plan->partition.units())) +
                    (a.state.empty() ? 0 : 1);
  MM_ASSIGN_OR_RETURN(Segment segment, Segment::Create(static_cast<uint32_t>(std::max(1, slots))));
  ProcessLauncher launcher(launch == "spawn", WorkerExecutable(), child_mask);
  // generate renames its file into place when its pass ends: a later
  // failure must say so (the dataset's identity changes then).
  const FileKey dataset_before = KeyOfPath(plan->dataset.path);
  IncrementalStats incremental;
  Result<Json> results = Error(Code::kWorkerFailed, "internal error");
  try {  // a bug's exception still goes through the guard (a transform rolls back)
    results = a.shard            ? RunShard(*plan, *a.shard, settings, segment, launcher)
              : !a.state.empty() ? RunIncremental(*plan, a.state, settings, &warnings, a.verify,
                                                  segment, launcher, &incremental)
                                 : RunPasses(*plan, settings, segment, launcher);
  } catch (const std::exception& e) {
    results = FromException(e);
  }
  progress.Finish(results.ok());
  if (!results.ok()) return guard.Fail(Unfinished(*plan, dataset_before, results.status()));
  // From here on the run's writes are committed: no message may say that
  // nothing was written (SPEC §5; docs/RELIABILITY.md).
  std::string committed = a.shard ? "" : CommittedWrites(*plan);
  // `what` failed; the message then says what is already on disk.
  auto tell = [&](Code code, const std::string& what, const char* if_nothing) {
    return Error(code, what + (committed.empty()
                                   ? std::string(if_nothing)
                                   : ": " + committed + "; the result document was not written"));
  };
  try {
    return FinishRun(a, *plan, std::move(*results), shard_rows, incremental, started, settings,
                     launch, &summary, &warnings, plots, out, &committed, tell);
  } catch (const std::exception& e) {
    const Status st = FromException(e);
    return tell(st.code(), st.message(), "");
  }
}

namespace {

// `mmrun validate [RUN OPTIONS] CONFIG`: the checks of a run with the same
// options (CheckRun), nothing started, the plan printed.
Status Validate(const std::vector<std::string>& args) {
  MM_ASSIGN_OR_RETURN(RunArgs a, ParseRunArgs(args));
  Warnings warnings(a.quiet);
  MM_ASSIGN_OR_RETURN(CheckedRun checked, CheckRun(a, &warnings));
  const Plan& plan = *checked.plan;
  if (plan.dataset.mode != "w+") MM_RETURN_IF_ERROR(CheckNoStaleJournal(plan.dataset.path));
  RegisterRunInputs(plan, a.config);
  MM_RETURN_IF_ERROR(RegisterRunOutputs(plan, a, checked.output));
  if (!checked.output.empty()) {
    MM_ASSIGN_OR_RETURN(TempOutput probe,
                        TempOutput::Create(checked.output, OutputKey(a.output)));  // removed unused
  }
  MM_ASSIGN_OR_RETURN(RunPlots plots, RunPlots::Open(plan, a.shard.has_value()));  // the same

  Json j = plan.Describe();
  const int64_t units = plan.partition.units();
  j["workers"] = static_cast<int>(std::min<int64_t>(checked.workers, std::max<int64_t>(units, 0)));
  if (j["workers"] != checked.workers) j["workers_requested"] = checked.workers;
  j["launch"] = checked.launch;
  j["output"] = checked.output.empty() ? Json(nullptr) : Json(checked.output);
  if (plan.partition.chunked()) {
    // Chunk blocks (a chunked HDF5 dataset): what each worker decodes, and
    // the bound on its decoded memory (one window, or one chunk when a
    // chunk is larger, plus the chunk cache).
    const Partition& part = plan.partition;
    const int workers = j["workers"].get<int>();
    // Stored chunks, not blocks (a block may be a run of chunks along
    // axis 0: ChunkBlockShape): the chunk layers a worker's rows cover.
    const std::vector<int64_t>& stored = plan.dataset.chunks;
    int64_t per_layer = 1;
    for (size_t a = 1; a < stored.size(); ++a)
      per_layer *= (plan.dataset.layout.shape[a] + stored[a] - 1) / stored[a];
    Json per = Json::array();
    for (int w = 0; w < workers; ++w) {
      const auto [lo, hi] = part.RowsOf(w, workers);
      const int64_t layers = (hi + stored[0] - 1) / stored[0] - (lo + stored[0] - 1) / stored[0];
      per.push_back(layers * per_layer);
    }
    const Format* format = FindFormat(plan.dataset.format);
    uint64_t chunk_bytes = static_cast<uint64_t>(plan.dataset.layout.dtype.itemsize());
    for (int64_t c : part.chunks()) chunk_bytes *= static_cast<uint64_t>(c);
    j["chunks_per_worker"] = per;
    j["decoded_bytes_per_worker"] =
        std::max(kWindowBytes, chunk_bytes) + (format != nullptr && format->cache_bytes != nullptr
                                                   ? format->cache_bytes(plan.dataset)
                                                   : 0);
  }
  warnings.Publish(&j);
  const std::string text = DumpDocument(j);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return Status::OK();
}

Result<std::vector<int64_t>> ParseShapeArg(std::string s) {
  std::vector<int64_t> shape;
  for (char& c : s)
    if (c == '[' || c == ']' || c == '(' || c == ')') c = ' ';
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t comma = s.find(',', pos);
    const std::string part =
        s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? s.size() : comma + 1;
    char* end = nullptr;
    const long long v = std::strtoll(part.c_str(), &end, 10);
    while (end && *end == ' ') ++end;
    if (part.find_first_not_of(' ') == std::string::npos) continue;
    if (end == nullptr || *end != '\0')
      return UsageError("--shape takes integers like 1000,10, got '" + s + "'");
    shape.push_back(v);
  }
  if (shape.empty()) return UsageError("--shape takes integers like 1000,10");
  return shape;
}

Status Inspect(const std::vector<std::string>& args) {
  po::options_description opts;
  std::string dtype, shape, order, offset, name;
  opts.add_options()("dtype", po::value<std::string>(&dtype))(
      "shape", po::value<std::string>(&shape))("order", po::value<std::string>(&order))(
      "offset", po::value<std::string>(&offset))("name", po::value<std::string>(&name))(
      "file", po::value<std::vector<std::string>>());
  po::variables_map vm;
  MM_RETURN_IF_ERROR(ParseCommandLine(args, opts, "file", &vm));
  if (!vm.count("file") || vm["file"].as<std::vector<std::string>>().size() != 1)
    return UsageError("inspect takes one FILE");
  DatasetSpec hints;
  if (!dtype.empty()) hints.dtype = dtype;
  if (!shape.empty()) {
    MM_ASSIGN_OR_RETURN(std::vector<int64_t> s, ParseShapeArg(shape));
    hints.shape = s;
  }
  if (!order.empty()) {
    if (order != "C" && order != "F") return UsageError("--order must be C or F");
    hints.order = order[0];
  }
  if (vm.count("offset")) {
    // A byte count >= 0, as the config key dataset.offset (docs/CHOICES.md).
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(offset.c_str(), &end, 10);
    if (offset.empty() || !std::isdigit(static_cast<unsigned char>(offset[0])) || *end != '\0' ||
        errno != 0)
      return UsageError("--offset takes a byte count >= 0, got '" + offset + "'");
    hints.offset = static_cast<uint64_t>(v);
  }
  const std::string path = AbsolutePath(vm["file"].as<std::vector<std::string>>()[0]);
  if (vm.count("name")) {
    if (name.empty()) return UsageError("--name takes a dataset's path in the file");
    hints.name = name;
  }
  if (dtype.empty() && shape.empty() && order.empty() && !vm.count("offset")) {
    // A file of several arrays (HDF5) describes them all, or --name's.
    Result<std::optional<Json>> container = InspectContainer(path, hints);
    if (!container.ok()) {
      const Status& st = container.status();  // --name is command-line input
      return st.code() == Code::kConfig ? Error(Code::kUsage, st.message()) : st;
    }
    if (*container) {
      const std::string text = DumpDocument(**container);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return Status::OK();
    }
  }
  if (hints.name) return UsageError("--name is for HDF5 files (a dataset's path in the file)");
  Warnings warnings;
  Result<Dataset> d = InspectFile(path, hints);
  if (!d.ok()) {
    // Flag values are command-line input, not config keys.
    const Status& st = d.status();
    return st.code() == Code::kConfig ? Error(Code::kUsage, st.message()) : st;
  }
  // A layout given by flags is checked as a run checks it: no whole row of
  // data is exit 65, as `mmrun` with that layout (docs/CHOICES.md).
  if (!shape.empty() || !dtype.empty() || !order.empty() || vm.count("offset"))
    MM_RETURN_IF_ERROR(CheckRows(*d, false));
  Json j = Json::object();
  j["path"] = d->path;
  j["format"] = d->format;
  const Format* format = FindFormat(d->format);
  j["npy_version"] =
      format != nullptr && format->version != nullptr ? Json(format->version(*d)) : Json(nullptr);
  j["dtype"] = d->layout.dtype.descr();
  j["shape"] = d->layout.shape;
  j["order"] = std::string(1, d->layout.order);
  j["offset"] = d->layout.offset;
  j["rows"] = d->layout.rows();
  j["row_bytes"] = d->layout.row_bytes();
  j["bytes"] = d->file_bytes;
  j["data_bytes"] = d->layout.data_bytes();
  j["trailing_bytes"] = d->layout.trailing_bytes;
  // A shape given by flags is checked like a config's; a file that
  // describes itself (a .npy) is checked against its own layout; bare bytes
  // are simply described.
  if (!shape.empty() || DescribesItself(d->format)) warnings.Add(LayoutWarnings(*d, false));
  warnings.Publish(&j);
  const std::string text = DumpDocument(j);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return Status::OK();
}

}  // namespace

Status RunCommand(const std::vector<std::string>& args) {
  MM_ASSIGN_OR_RETURN(RunArgs a, ParseRunArgs(args));
  return RunWith(std::move(a));
}
Status ValidateCommand(const std::vector<std::string>& args) { return Validate(args); }
Status InspectCommand(const std::vector<std::string>& args) { return Inspect(args); }

}  // namespace mm
