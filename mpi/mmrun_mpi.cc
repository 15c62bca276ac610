// mmrun-mpi: the MPI launcher (SPEC §6; docs/HPC.md).
//
//   mpirun -np R mmrun-mpi [-o OUT] [-q] CONFIG.json
//
// Each rank is one worker over its row range (Partition::RowsOf(rank, R)):
// it runs the same scan as an mmrun worker (ScanTask), and the payloads —
// the rank's aligned subtrees of the block tree — are gathered to rank 0,
// which pushes them in rank (= block) order into one TreeReducer exactly as
// the mmrun coordinator does (PushPayload / EndPassFromTree). So `dataset` and
// `results` are byte-identical to `mmrun`'s, and rank 0 writes the same
// result document ("launch": "mpi", "workers": R).
//
// Rank 0 builds the plan from the config; before every pass it broadcasts
// the plan as workers need it (Plan::ToJson, which carries the earlier
// passes' results), so multi-pass analyses work. Analyses that write the
// dataset are refused (exit 78): run generate and transform with mmrun.
// Errors: rank 0 prints the one "mmrun: error: ..." line and every rank
// exits with its code; a rank that fails mid-scan sends its exit code and
// error message instead of a payload.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "engine/document.h"
#include "engine/merge.h"
#include "engine/payload.h"
#include "engine/plan.h"
#include "engine/scan.h"
#include "io/dataset_lock.h"
#include "io/files.h"
#include "runner/commands.h"
#include "runner/plot_command.h"
#include "runner/run_guard.h"

namespace mm {
namespace {

const char kUsage[] =
    "Usage: mpirun -np RANKS mmrun-mpi [-o OUT] [-q] CONFIG.json\n"
    "Runs the analyses of CONFIG.json with one worker per MPI rank; rank 0\n"
    "writes the result document (to -o, else the config's output, else stdout).\n";

// Broadcasts `text` from rank 0 (the other ranks' `text` is replaced).
void BroadcastText(std::string* text, int rank) {
  unsigned long long n = text->size();
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  if (rank != 0) text->assign(n, '\0');
  if (n > 0) MPI_Bcast(&(*text)[0], static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD);
}

// Gathers every rank's `text` to rank 0 (in rank order).
std::vector<std::string> GatherText(const std::string& text, int rank, int size) {
  int n = static_cast<int>(text.size());
  std::vector<int> sizes(rank == 0 ? size : 0), offsets(rank == 0 ? size : 0);
  MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (rank == 0) {
    long long total = 0;
    for (int r = 0; r < size; ++r) {
      offsets[r] = static_cast<int>(total);
      total += sizes[r];
    }
    all.resize(static_cast<size_t>(total));
  }
  MPI_Gatherv(text.data(), n, MPI_CHAR, rank == 0 ? &all[0] : nullptr, sizes.data(), offsets.data(),
              MPI_CHAR, 0, MPI_COMM_WORLD);
  std::vector<std::string> out;
  if (rank == 0)
    for (int r = 0; r < size; ++r)
      out.push_back(all.substr(static_cast<size_t>(offsets[r]), sizes[r]));
  return out;
}

// Gathers every rank's `code` to rank 0 (in rank order).
std::vector<int> GatherCode(int code, int rank, int size) {
  std::vector<int> out(rank == 0 ? size : 0);
  MPI_Gather(&code, 1, MPI_INT, out.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  return out;
}

// Rank 0's message that stops every rank instead of the plan.
std::string ErrorPayload(const Status& st) {
  return JsonText(Json{{"error", st.message()}, {"code", st.exit_code()}});
}

struct Args {
  std::string config, output;
  bool quiet = false;
};

Result<Args> ParseArgs(const std::vector<std::string>& args) {
  Args a;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& s = args[i];
    if (s == "-o" || s == "--output") {
      if (i + 1 >= args.size())
        return Error(Code::kUsage, s + " needs a FILE (see mmrun-mpi --help)");
      a.output = args[++i];
    } else if (s == "-q" || s == "--quiet") {
      a.quiet = true;
    } else if (s.size() > 1 && s[0] == '-') {
      return Error(Code::kUsage, "mmrun-mpi: unknown option '" + s + "' (see mmrun-mpi --help)");
    } else if (a.config.empty()) {
      a.config = s;
    } else {
      return Error(Code::kUsage, "mmrun-mpi takes one CONFIG.json (see mmrun-mpi --help)");
    }
  }
  if (a.config.empty()) return Error(Code::kUsage, "missing CONFIG.json (see mmrun-mpi --help)");
  return a;
}

// Rank 0's state across the passes.
struct Root {
  std::unique_ptr<Plan> plan;
  RunGuard guard;
  DocumentOutput out;  // -o, else the config's output, else stdout
  RunPlots plots;      // the config's "plot" keys (runner/plot_command.h)
};

Status SetUpRoot(const Args& a, Root* root) {
  MM_ASSIGN_OR_RETURN(Json j, ReadConfigJson(a.config));
  Result<std::unique_ptr<Plan>> plan = Plan::Build(j, DirName(AbsolutePath(a.config)));
  if (!plan.ok())
    return plan.status().code() == Code::kConfig ? plan.status().WithContext(a.config)
                                                 : plan.status();
  root->plan = std::move(*plan);
  for (const auto& an : root->plan->analyses)
    if (an->capabilities().writes_dataset)
      return OpError(*an, "writes the dataset; mmrun-mpi runs analyses that read it (use mmrun)");
  // Every file the job writes, against every file it reads and every other
  // one it writes, by identity, before anything is written (as mmrun).
  const std::string output = OutputPath(a.output, *root->plan);
  RegisterRunInputs(*root->plan, a.config);
  RunArgs run;
  run.config = a.config;
  run.output = a.output;
  MM_RETURN_IF_ERROR(RegisterRunOutputs(*root->plan, run, output));
  MM_ASSIGN_OR_RETURN(root->guard, RunGuard::ForPlan(*root->plan));
  MM_ASSIGN_OR_RETURN(root->out, DocumentOutput::Open(output, OutputKey(a.output)));
  MM_ASSIGN_OR_RETURN(root->plots, RunPlots::Open(*root->plan, false));
  return Status::OK();
}

// Runs the whole job on every rank; returns the exit status (rank 0 prints
// the error).
int RunJob(const std::vector<std::string>& args, int rank, int size) {
  RunSummary summary;
  summary.started = std::chrono::steady_clock::now();
  Result<Args> parsed = ParseArgs(args);
  if (Status st = CheckArgumentsAreUtf8(args); !st.ok()) parsed = st;
  if (!parsed.ok()) {
    if (rank == 0) PrintError(parsed.status());
    return parsed.status().exit_code();
  }
  Root root;
  Status root_status;
  if (rank == 0) root_status = SetUpRoot(*parsed, &root);
  int passes = 1;
  for (int pass = 0; pass < passes; ++pass) {
    // Rank 0 sends the plan of this pass, or an error that stops everyone.
    std::string text;
    if (rank == 0) {
      // A pass no analysis needs (quantiles' later passes) is not read.
      const bool skip = root_status.ok() && !root.plan->PassNeeded(pass);
      if (skip) root.plan->passes[static_cast<size_t>(pass)].skipped = true;
      if (root_status.ok() && !skip) root_status = PreparePass(*root.plan, pass);
      text = !root_status.ok() ? ErrorPayload(root_status)
             : skip ? JsonText(Json{{"passes", root.plan->passes.size()}, {"skip", true}})
                    : JsonText(Json{{"passes", root.plan->passes.size()},
                                    {"plan", root.plan->ToJson(pass)}});
    }
    BroadcastText(&text, rank);
    Result<Json> msg = ParseJson(text, "plan from rank 0", Code::kDataErr);
    if (!msg.ok() || msg->contains("error")) {
      if (rank == 0) PrintError(root_status);
      return msg.ok() ? (*msg)["code"].get<int>() : msg.status().exit_code();
    }
    passes = (*msg)["passes"].get<int>();
    if (msg->contains("skip")) continue;
    // Every rank scans its rows and sends its payload (engine/payload.h),
    // or, with a nonzero exit code, its error message.
    std::unique_ptr<Plan> own;
    const Plan* plan = root.plan.get();
    Result<std::string> payload = EncodePayload({});
    if (rank != 0) {
      Result<std::unique_ptr<Plan>> p = Plan::FromJson((*msg)["plan"]);
      if (p.ok()) {
        own = std::move(*p);
        plan = own.get();
      } else {
        payload = p.status().WithContext("rank " + std::to_string(rank));
      }
    }
    if (payload.ok()) {
      const auto rows = plan->partition.RowsOf(rank, size);
      if (rows.first < rows.second) {
        WorkerTask task;
        task.plan = plan;
        task.pass = pass;
        task.attempt = 1;
        task.row_begin = rows.first;
        task.row_end = rows.second;
        // A bug's exception is this rank's error, gathered like any other,
        // so rank 0 ends the run itself (its temporary output removed)
        // instead of being aborted from here.
        try {
          task.map_path = (*msg)["plan"]["map_path"].get<std::string>();
          payload = ScanTask(task, [](uint64_t) {});
        } catch (const std::exception& e) {
          payload = FromException(e);
        }
      }
    }
    const std::vector<int> codes = GatherCode(payload.status().exit_code(), rank, size);
    const std::vector<std::string> payloads =
        GatherText(payload.ok() ? *payload : payload.status().message(), rank, size);
    if (rank == 0) {
      NodeTree tree;
      for (int r = 0; r < size && root_status.ok(); ++r) {
        const std::string where = "rank " + std::to_string(r);
        const std::string& text = payloads[static_cast<size_t>(r)];
        if (const int failed = codes[static_cast<size_t>(r)]) {
          const auto rows = root.plan->partition.RowsOf(r, size);
          root_status = Error(static_cast<Code>(failed), text + " (" + where + ", rows [" +
                                                             std::to_string(rows.first) + ", " +
                                                             std::to_string(rows.second) + "))");
        } else {
          root_status = PushPayload(*root.plan, pass, text, where, &tree);
        }
      }
      if (root_status.ok()) root_status = EndPassFromTree(*root.plan, pass, &tree);
    }
  }
  // Rank 0 finishes; the others are done once they know it succeeded.
  int code = 0;
  if (rank == 0) {
    Result<Json> results = root_status.ok() ? FinishResults(*root.plan) : Result<Json>(root_status);
    Status st = results.status();
    // Outputs renamed into place (slices at the end of their pass, the
    // .npy files of per-lane results): a failure after them names them.
    std::string committed = WrittenList(CommittedOutputs());
    if (!st.ok() && !committed.empty())
      st = Error(st.code(), st.message() + "; " + committed + " before the failure");
    if (results.ok()) {
      const Plan& plan = *root.plan;
      summary.workers = size;
      summary.launch = "mpi";
      summary.rows = plan.dataset.layout.rows();
      summary.bytes_scanned = 0;
      summary.passes = 0;
      for (size_t p = 0; p < plan.passes.size(); ++p) {
        summary.passes += plan.passes[p].skipped ? 0 : 1;
        summary.bytes_scanned += plan.BytesRead(static_cast<int>(p), 0, plan.dataset.layout.rows());
      }
      Json doc = ResultDocument(summary, plan.dataset, std::move(*results), nullptr,
                                AnalysesSection(plan));
      st = root.plots.Draw(doc, &committed);
      if (st.ok()) st = root.out.Write(std::move(doc));
      if (!st.ok() && !committed.empty())
        st = Error(st.code(),
                   st.message() + ": " + committed + "; the result document was not written");
    }
    if (!st.ok()) st = root.guard.Fail(st);
    PrintError(st);
    code = st.exit_code();
  }
  MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return code;
}

}  // namespace
}  // namespace mm

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(mm::kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("mmrun-mpi %s\n", mm::kVersion);
      return 0;
    }
  }
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mm::SetUpWorkerProcess();
  int code = 0;
  try {
    code = mm::RunJob(args, rank, size);
  } catch (const std::exception& e) {
    // A bug: one line, the destructors have removed this rank's temporary
    // output, and the other ranks (perhaps waiting in a collective) stop.
    std::fprintf(stderr, "mmrun: error: rank %d: internal error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 70);
    return 70;
  }
  MPI_Finalize();
  return code;
}
