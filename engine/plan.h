// Plan: everything a run needs before any worker starts — the config, the
// checked dataset, the block partition, the analyses and the passes.
//
// Reading analyses share passes (a block is read once and fed to each);
// an analysis that writes the dataset (Capabilities::writes_dataset) is a
// barrier with passes of its own (SPEC §2).
// The coordinator builds the Plan from the config file; a spawned worker
// rebuilds the same Plan from Plan::ToJson, read out of the segment.
// Not copyable (nor movable): analyses refer to the plan's dataset and
// partition.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "analysis/analysis.h"
#include "core/json_util.h"
#include "engine/config.h"
#include "source/dataset.h"
#include "source/partition.h"

namespace mm {

struct PassStep {
  int analysis;  // index into Plan::analyses
  int pass;      // that analysis' own pass number
};

struct PassPlan {
  std::vector<PassStep> steps;
  bool writes = false;   // its analysis' WritesInPass
  bool skipped = false;  // set by the coordinator when no analysis needed it
};

class Plan {
 public:
  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;

  // Validates config + dataset + analyses completely (no data is read).
  static Result<std::unique_ptr<Plan>> Build(const Json& config_json,
                                             const std::string& config_dir);
  // Worker side: the plan of pass `pass` as the coordinator serialized it.
  static Result<std::unique_ptr<Plan>> FromJson(const Json& j);
  // What a worker needs for pass `pass` (pass inputs included). A pass
  // input's bytes columns (BytesColumn) are base64 text, as a file or an
  // MPI message holds them; with `binary` they stay binary values, for a
  // framed carrier (EncodeFramed: the segment).
  Json ToJson(int pass, bool binary = false) const;
  // The plan as `mmrun validate` prints it.
  Json Describe() const;

  // The run keeps its merged partials (--shard, --state): every analysis'
  // KeepPartials, then the passes again (an analysis may need fewer).
  void KeepPartials();

  // Whether any analysis of pass `pass` still needs it (Analysis::PassNeeded).
  bool PassNeeded(int pass) const;

  // Bytes of rows [row_lo, row_hi) that workers read in pass `pass`: the
  // blocks some analysis of the pass needs (Analysis::NeedsBlock); 0 for a
  // skipped pass or one that writes a new file (generate).
  uint64_t BytesRead(int pass, int64_t row_lo, int64_t row_hi) const;
  // Whether any analysis of pass `pass` needs block b's data
  // (Analysis::NeedsBlock, or NeedsBox for a chunk block): a block nobody
  // needs is not read (engine/scan.cc), nor counted by BytesRead.
  bool BlockNeeded(int pass, int64_t b) const;
  // Of chunk block b, needed in pass `pass`, the part the pass reads: the
  // hull of Analysis::PartOfBox over the analyses that need it.
  Box BlockPart(int pass, int64_t b) const;
  // Whether some analysis of pass `pass` reads parts of chunk blocks
  // (Analysis::ReadsParts): else BlockPart is every block's box.
  bool PassReadsParts(int pass) const;

  // The file workers map in pass `pass`, and whether they write it.
  std::string MapPath(int pass) const;

  Json config_json;
  std::string config_dir;
  Config config;
  Dataset dataset;
  // The run's one cut of the dataset into blocks, handed to every analysis
  // (MakeAnalysis): analyses never build their own.
  Partition partition;
  std::vector<std::unique_ptr<Analysis>> analyses;
  std::vector<PassPlan> passes;

 private:
  Status BuildAnalyses();
  // `passes` from the analyses' passes() and capabilities.
  void PlanPasses();
};

}  // namespace mm
