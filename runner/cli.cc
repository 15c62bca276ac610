#include "runner/cli.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "core/status.h"
#include "core/strings.h"
#include "runner/commands.h"
#include "runner/launcher.h"
#include "runner/plot_command.h"
#include "runner/quick.h"
#include "runner/recover.h"
#include "runner/shard.h"

namespace mm {

namespace {

Status HelpCommand(const std::vector<std::string>&) {
  std::fputs(UsageText().c_str(), stdout);
  return Status::OK();
}

// The exit status of `st`, printing it when it is an error.
int Exit(const Status& st) {
  PrintError(st);
  return st.exit_code();
}

constexpr char kRunOptions[] = R"(Options of a run (a flag overrides the same key in the config):
  -w, --workers N        worker processes (default: SLURM_CPUS_PER_TASK, else
                         the CPUs this process may run on)
      --launch fork|spawn  fork children, or spawn mmworker executables (fork)
  -o, --output FILE      write the result JSON to FILE atomically (default:
                         config "output", else stdout)
      --progress[=SECS]  progress on stderr: a live line on a terminal, else a
                         line every SECS (10)
  -q, --quiet            nothing on stderr but errors
      --timeout SECS     kill and retry a worker that runs longer
      --retries N        times a failed worker's rows are run again (1)
      --lock FILE        hold an exclusive lock on FILE; exit 75 if held. FILE
                         must be your own regular file (else 77): keep it in
                         $XDG_RUNTIME_DIR or ~/.cache, not a shared /tmp
      --shard I/N|auto   run shard I of N (auto: from the SLURM job array) and
                         write a part file for `mmrun merge` (-o, else stdout)
      --state FILE       incremental run over an append-only dataset (shape
                         with -1): read only rows added since the last run
      --verify           with --state: re-read every old row and compare it
                         with the state's checksums (else 1/16 of them per run)

Exit codes: 0 ok, 64 usage, 65 bad data, 66 missing input, 70 worker failed,
73 cannot create output, 74 I/O error, 75 locked, 77 permission denied,
78 bad config, 130/143 interrupted.
)";

// Whether `word`, the first argument, can only be a mistyped subcommand
// (cli.h): returns the subcommand it is close to, else "".
std::string MistypedSubcommand(const std::string& word) {
  if (word.empty() || word[0] == '-' || word.find_first_of("/.") != std::string::npos) return "";
  struct stat st;
  if (::lstat(word.c_str(), &st) == 0) return "";  // something of that name: a config
  std::vector<std::string> names;
  for (const Subcommand& s : Subcommands()) names.push_back(s.name);
  return ClosestName(word, names);
}

}  // namespace

const std::vector<Subcommand>& Subcommands() {
  static const std::vector<Subcommand> table = [] {
    std::vector<Subcommand> t = QuickSubcommands();  // runner/quick.h
    std::vector<Subcommand> rest = {
        {"validate", "[OPTIONS] CONFIG.json", "check config, dataset and options, print the plan",
         &ValidateCommand,
         "Usage: mmrun validate [run options] CONFIG.json\n\n"
         "Checks everything a run with the same options would check (config keys, the\n"
         "dataset's layout, outputs, --lock, --shard, --state) and prints the plan as\n"
         "JSON: rows, blocks, passes, workers, output. Reads no data, writes nothing.\n\n"
         "Example:\n  mmrun validate --workers 8 -o out.json signal.json\n"},
        {"inspect", "FILE [--dtype D --shape S --order O --offset B | --name N]",
         "describe an array file as JSON", &InspectCommand,
         "Usage: mmrun inspect FILE [--dtype D --shape S --order O --offset B | --name N]\n\n"
         "Describes FILE as JSON: format, dtype, shape, order, offset, rows, sizes, and\n"
         "a warning when the shape does not use every byte. A .npy describes itself; an\n"
         "HDF5 or netCDF-4 file lists every dataset (--name: one of them); a raw file\n"
         "takes its layout from the flags.\n\n"
         "Examples:\n  mmrun inspect signal.f4 --dtype f4 --shape -1,64\n"
         "  mmrun inspect t2m_2020.nc --name t2m\n"},
        {"merge", "PART.json... [-o OUT]", "merge the parts of every shard", &MergeCommand,
         "Usage: mmrun merge PART.json... [-o OUT]\n\n"
         "Merges the parts that `mmrun --shard I/N CONFIG` wrote, all N of them, into\n"
         "the result document one run over everything gives (-o OUT, else the config's\n"
         "output, else stdout).\n\n"
         "Example:\n  mmrun merge parts/part-*.json -o result.json\n"},
        {"recover", "FILE", "roll back an interrupted transform", &RecoverCommand,
         "Usage: mmrun recover FILE\n\n"
         "Rolls FILE back to its bytes before an in-place transform that was killed,\n"
         "from the journal beside it, and removes the journal.\n\n"
         "Example:\n  mmrun recover data/cube.npy\n"},
        {"plot", "RESULT.json [--analysis NAME] [-o FILE.svg|FILE.png]",
         "draw a result's histograms, quantiles, lane stats", &PlotCommand,
         "Usage: mmrun plot RESULT.json [--analysis NAME] [-o FILE.svg|FILE.png]\n\n"
         "Draws the histograms, quantiles and per-lane stats of a result document as\n"
         "PNG or SVG (the extension of -o). Without -o each goes beside the result as\n"
         "RESULT_STEM.NAME.png; with several, -o pics.svg writes pics.NAME.svg. Prints\n"
         "the path of each picture written.\n\n"
         "Example:\n  mmrun plot signal.result.json --analysis spread -o spread.png\n"},
        {"help", "", "print this help", &HelpCommand, ""},
    };
    t.insert(t.end(), rest.begin(), rest.end());
    return t;
  }();
  return table;
}

std::string UsageText() {
  constexpr size_t kColumn = 34;  // where descriptions start
  std::string text =
      "Usage: mmrun [OPTIONS] CONFIG.json  run the analyses in CONFIG (\"-\": read it from stdin)\n"
      "       mmrun COMMAND [ARGS]         run one of the commands below\n"
      "       mmrun --help | --version\n"
      "\n"
      "Commands:\n";
  for (const Subcommand& s : Subcommands()) {
    const std::string head = std::string("  ") + s.name + (*s.args != '\0' ? " " : "") + s.args;
    // A long synopsis puts its description on the next line.
    text += head.size() + 2 > kColumn ? head + "\n" + std::string(kColumn, ' ')
                                      : head + std::string(kColumn - head.size(), ' ');
    text += std::string(s.description) + "\n";
  }
  return text + "\n" + kRunOptions;
}

namespace {

int RunMmrunUnguarded(const std::vector<std::string>& args) {
  if (Status st = CheckArgumentsAreUtf8(args); !st.ok()) {
    ReleaseStartupSignals();
    return Exit(st);
  }
  // `mmrun COMMAND --help`: the command's own help (the general help for `help`).
  for (const Subcommand& s : Subcommands()) {
    if (args.empty() || args[0] != s.name || s.help.empty()) continue;
    for (const std::string& a : args)
      if (a == "--help" || a == "-h") {
        std::fputs(s.help.c_str(), stdout);
        return 0;
      }
  }
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return Exit(HelpCommand({}));
    if (a == "--version") {
      std::printf("mmrun %s\n", kVersion);
      return 0;
    }
  }
  if (!args.empty()) {
    for (const Subcommand& s : Subcommands()) {
      if (args[0] != s.name) continue;
      ReleaseStartupSignals();  // subcommands keep the default signal actions
      return Exit(s.run(std::vector<std::string>(args.begin() + 1, args.end())));
    }
    const std::string closest = MistypedSubcommand(args[0]);
    if (!closest.empty()) {
      ReleaseStartupSignals();
      return Exit(Error(Code::kUsage,
                        "unknown command '" + args[0] + "'; did you mean '" + closest + "'?"));
    }
  }
  return Exit(RunCommand(args));
}

}  // namespace

int RunMmrun(const std::vector<std::string>& args) {
  // An exception nothing below catches is a bug; it still ends as one line
  // and exit 70 after the destructors ran (no segment or temporary output
  // left behind), not as an abort. Forked workers catch their own
  // (ProcessLauncher::Start), so none unwinds through these frames.
  try {
    return RunMmrunUnguarded(args);
  } catch (const std::exception& e) {
    return Exit(FromException(e));
  }
}

}  // namespace mm
