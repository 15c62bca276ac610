#include "runner/cli.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>

#include "core/status.h"
#include "core/strings.h"
#include "runner/commands.h"
#include "runner/launcher.h"
#include "runner/plot_command.h"
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
  static const std::vector<Subcommand> table = {
      {"validate", "[OPTIONS] CONFIG.json", "check config, dataset and options, print the plan",
       &ValidateCommand},
      {"inspect", "FILE [--dtype D --shape S --order O --offset B | --name N]",
       "describe an array file as JSON", &InspectCommand},
      {"merge", "PART.json... [-o OUT]", "merge the parts of every shard", &MergeCommand},
      {"recover", "FILE", "roll back an interrupted transform", &RecoverCommand},
      {"plot", "RESULT.json [--analysis NAME] [-o FILE.svg|FILE.png]",
       "draw a result's histograms, quantiles, lane stats", &PlotCommand},
      {"help", "", "print this help", &HelpCommand},
  };
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

int RunMmrun(const std::vector<std::string>& args) {
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

}  // namespace mm
