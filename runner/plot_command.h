// Pictures of results (docs/CHOICES.md "Plots"): `mmrun plot`, and the
// pictures a run draws for its config's "plot" keys. Both read the result
// document (plot/plot_data.h), draw with cairo (plot/render.h) and write
// each picture atomically beside its target (io/files.h TempOutput), never
// over a file the command reads (io/file_identity.h).
//
// Called from the coordinator's one thread.
#pragma once

#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "io/file_identity.h"
#include "io/files.h"

namespace mm {

class Plan;

// Limits on the document `mmrun plot` reads: its size, and the JSON values
// it may hold (counted as its ',', '[' and '{' before parsing: a parsed
// value takes 16 bytes and more, so 256 MiB of "0,0,..." would take GBs).
constexpr uint64_t kMaxPlotDocumentBytes = uint64_t{256} << 20;
constexpr uint64_t kMaxPlotDocumentValues = 16000000;

// `mmrun plot RESULT.json [--analysis NAME] [-o FILE.svg|FILE.png]`.
Status PlotCommand(const std::vector<std::string>& args);

// Registers the picture of every analysis with a "plot" key as an output of
// the run (io/file_identity.h RegisterOutput, naming
// "config key 'analyses[i].plot'"): kConfig when it is a file the run reads
// or another of its outputs. Call with the run's other outputs, before
// anything is written.
Status RegisterPlotOutputs(const Plan& plan);
// The same check against the files `others` and each other, without the
// registry (`mmrun merge`, which names its own files: io/file_identity.h
// CheckOutput).
Status CheckPlotOutputs(const Plan& plan, std::vector<NamedFile> others);

// One picture to draw: the analysis (its key in the document's results),
// the file (its extension is the format), the key or flag that named it,
// and the parameters that fill in what the result does not echo (null:
// none).
struct Picture {
  std::string analysis;
  std::string target;
  std::string key;
  Json params;
};

// The pictures of one run (the "plot" keys). Move-only.
class RunPlots {
 public:
  RunPlots() = default;

  // Creates each picture's temporary file beside its target now, so that an
  // unwritable folder fails before any worker starts (TempOutput::Create's
  // errors: kCantCreate or kNoPerm naming the path). `shard`: a part of
  // --shard draws nothing (its results are partials; `mmrun merge` does).
  static Result<RunPlots> Open(const Plan& plan, bool shard);

  // Draws every picture from `doc`, the run's result document, then
  // renames each into place. `committed` says what the run has already
  // committed to disk ("" when nothing, runner/commands.cc
  // CommittedWrites); each picture renamed is added to it ("PATH was
  // written"), for the messages of later failures. On failure nothing more
  // is renamed, the unrenamed temporary files are removed, and the error
  // names the picture and says what was written before it. Call once.
  Status Draw(const Json& doc, std::string* committed);

 private:
  std::vector<Picture> pictures_;
  std::vector<TempOutput> outs_;  // pictures_[k]'s temporary file
};

}  // namespace mm
