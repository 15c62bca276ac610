// Analysis: the one small interface every analysis implements (SPEC §3).
//
// An analysis declares how many scan passes it needs, consumes blocks into
// mergeable partials, and turns the merged partial into its JSON result.
// Workers and the coordinator build the same Analysis objects from the same
// config; workers call NewPartial/Consume/ToJson, the coordinator calls
// PartialFromJson/Merge/EndPass/Finish. Adding an analysis is one file pair
// and one line in analysis.cc's registry.
//
// Determinism: Merge(left, right) is only ever called along the fixed block
// tree (merge_tree.h), so the same blocks always merge in the same order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "source/dataset.h"
#include "source/partition.h"

namespace mm {

struct AnalysisSpec {
  std::string name;  // unique; defaults to op
  std::string op;
  Json params;      // the analysis object without "name" and "op"
  int index = 0;    // position in the config's list
  std::string dir;  // folder that relative output paths resolve against
};

// One block's elements, in storage order. `data` is writable only in a pass
// of an analysis that writes().
struct Chunk {
  char* data = nullptr;
  uint64_t begin = 0;  // storage index of data[0]
  uint64_t end = 0;    // one past the last storage index
  int64_t block = 0;
};

// What an analysis does beyond reading blocks into partials, declared once
// by each analysis (its constructor sets them; creates_dataset comes from
// its registry line). Generic code (the plan, the run guard, --shard,
// --state, mmrun-mpi, the run's messages) asks these and never names an op.
struct Capabilities {
  // Changes the dataset's bytes (transform in place, generate a new file):
  // a barrier in the plan, with passes of its own (WritesInPass says which
  // of them write); refused by --shard, --state and mmrun-mpi; a run over an
  // existing dataset then locks it exclusively (runner/run_guard.h).
  bool writes_dataset = false;
  // Creates the dataset (mode w+, where it must be the first analysis).
  // Implies writes_dataset. Known from the op alone (the registry line),
  // since the config is checked against it before the dataset exists.
  bool creates_dataset = false;
  // Writes a rollback journal of each window before changing the dataset
  // in place: a failed run is rolled back and a failed worker range may be
  // retried. Meaningful only with writes_dataset.
  bool journaled = false;
  // Workers write an output file while scanning (created in Prepare,
  // renamed into place by EndPass; its path is the result's "path"): the
  // partials only count what was written, so shards of such a run cannot
  // be merged into one output.
  bool writes_outputs = false;

  // Changes the bytes of an existing dataset (a transform).
  bool writes_in_place() const { return writes_dataset && !creates_dataset; }
};

class Partial {
 public:
  virtual ~Partial() = default;
  // Folds `right`, the partial of the blocks that follow this one's, into this.
  virtual void Merge(const Partial& right) = 0;
  virtual Json ToJson() const = 0;
};

class Analysis {
 public:
  // `dataset` and `partition` (the plan's one cut of the dataset into
  // blocks) must outlive the analysis.
  Analysis(AnalysisSpec spec, const Dataset& dataset, const Partition& partition)
      : spec_(std::move(spec)), dataset_(dataset), partition_(partition) {}
  virtual ~Analysis() = default;
  const AnalysisSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }
  const std::string& op() const { return spec_.op; }
  const Capabilities& capabilities() const { return caps_; }

  // Scan passes needed (>= 1).
  virtual int passes() const { return 1; }
  // Whether pass `pass` of an analysis that writes_dataset writes (e.g.
  // normalize's stats pass only reads: its workers map the file read-only).
  virtual bool WritesInPass(int /*pass*/) const { return caps_.writes_dataset; }
  // Coordinator, before pass `pass` > 0 (after EndPass of the earlier
  // passes): false when this analysis has nothing left to do in it. A pass
  // that no analysis needs is skipped; its EndPass is then not called.
  virtual bool PassNeeded(int /*pass*/) const { return true; }

  // Coordinator, before pass `pass` > 0: what workers need from earlier
  // passes. Workers receive it through SetPassInput.
  virtual Json PassInput(int /*pass*/) const { return nullptr; }
  virtual Status SetPassInput(int /*pass*/, const Json& /*input*/) { return Status::OK(); }

  virtual std::unique_ptr<Partial> NewPartial(int pass) const = 0;
  virtual Result<std::unique_ptr<Partial>> PartialFromJson(int pass, const Json& j) const = 0;
  // Adds the elements of `chunk` (one whole block) to `partial`. Errors
  // (e.g. writing an output) fail the worker with their code.
  virtual Status Consume(int pass, const Chunk& chunk, Partial* partial) const = 0;
  // Worker: whether Consume needs the data of the block holding storage
  // indices [begin, end). A block that no analysis of the pass needs is not
  // mapped (never read): Consume is still called for it, with
  // chunk.data == nullptr, and it is in no window. An analysis that
  // answers false must accept a null chunk.data (and may still get the
  // data when another analysis of the pass needs the block).
  virtual bool NeedsBlock(int /*pass*/, uint64_t /*begin*/, uint64_t /*end*/) const { return true; }

  // Worker: called before the blocks of a mapped window are consumed and
  // after the last of them (e.g. to journal a window before changing it,
  // or to flush it). `window` spans whole blocks; `block` is its first.
  virtual Status BeginWindow(int /*pass*/, const Chunk& /*window*/) const { return Status::OK(); }
  virtual Status EndWindow(int /*pass*/, const Chunk& /*window*/) const { return Status::OK(); }

  // Coordinator, before the analysis' first pass: prepare outputs (e.g.
  // create and reserve a file under a temporary name; workers learn the
  // name through PassInput). Writers also name the file workers map.
  virtual Status Prepare() { return Status::OK(); }
  virtual std::string WritePath() const { return dataset_.path; }
  // The files the analysis creates (absolute paths), for the run's identity
  // checks of its outputs (io/file_identity.h RegisterOutput).
  virtual std::vector<std::string> CreatedFiles() const { return {}; }

  // Coordinator: pass `pass` is complete and `merged` covers every block.
  virtual Status EndPass(int pass, const Partial& merged) = 0;
  // Coordinator, after the last pass: the result (outputs committed here).
  virtual Result<Json> Finish() = 0;

 protected:
  AnalysisSpec spec_;
  const Dataset& dataset_;
  const Partition& partition_;
  Capabilities caps_;  // set by the subclass' constructor

 private:
  friend Result<std::unique_ptr<Analysis>> MakeAnalysis(const AnalysisSpec&, const Dataset&,
                                                        const Partition&);
};

// Builds the analysis for spec.op, validating its parameters against the
// dataset (kConfig naming "analyses[i].key" on bad ones). `dataset` and
// `partition` (Partition(dataset.layout), owned by the plan) must outlive
// the analysis.
Result<std::unique_ptr<Analysis>> MakeAnalysis(const AnalysisSpec& spec, const Dataset& dataset,
                                               const Partition& partition);
// Whether `op` names an analysis that creates the dataset (its registry
// line; Capabilities::creates_dataset), and the ops that do, for messages.
bool OpCreatesDataset(const std::string& op);
std::vector<std::string> OpsCreatingDataset();

// Helpers for parameter checking shared by the analyses.
Status ParamError(const AnalysisSpec& spec, const std::string& key, const std::string& why);
// kConfig naming "analyses[i].op" and the op: "... (name): 'op' " + why.
Status OpError(const Analysis& a, const std::string& why);
// Normalizes an axis parameter (null, int or list; negative from the end)
// into a sorted list of reduced axes; null means all axes.
Result<std::vector<int>> ParseAxes(const AnalysisSpec& spec, const Json& axis, int ndim);
// The optional `output` path prefix for results written as .npy files,
// resolved against the config's folder; "" when absent.
Result<std::string> ParseOutputPrefix(const AnalysisSpec& spec);

}  // namespace mm
