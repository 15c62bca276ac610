// Analysis: the one small interface every analysis implements (SPEC §3).
//
// An analysis declares how many scan passes it needs, consumes blocks into
// mergeable partials, and turns the merged partial into its JSON result.
// Workers and the coordinator build the same Analysis objects from the same
// config; workers call NewScanner once per pass and feed its Scanner the
// blocks (Scanner::Consume into a NewPartial, then ToJson), the coordinator
// calls PartialFromJson/Merge/EndPass/Finish. An Analysis holds only what
// the configuration and the coordinator's pass inputs determine: the
// worker-side state (scratch, open files, journal writers) lives in its
// scanners, and its const methods change nothing (no `mutable` state).
// Adding an analysis is one file pair and one line in analysis.cc's registry.
//
// Determinism: Merge(left, right) is only ever called along the fixed block
// tree (merge_tree.h), so the same blocks always merge in the same order.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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

// A view of one block's elements, in storage order (C order of the array
// for an order 'C' layout, of the reversed shape for 'F'). A view owns
// nothing: `data` points into the window the worker loop read the block
// into and is valid only until that window is destroyed (at the latest when
// the EndWindow calls of that window have returned), so a scanner must not
// keep it past the call that received it.
//
// `data` is writable only in a pass that writes the dataset (an analysis
// whose WritesInPass(pass) is true), and is nullptr for a block that no
// analysis of the pass needs (Analysis::NeedsBlock). A window is described
// by a BlockView too: it spans whole blocks, and `block` is its first.
//
// A row block (box == nullptr) holds storage indices [begin, end), data[0]
// being `begin`. A chunk block (box != nullptr: chunked formats) holds the
// elements of *box, in C order of the box; begin/end are then its hull (the
// storage index of its first element, one past its last), and
// ForEachBlockRun (or ForEachBoxRun, core/layout.h) walks it as runs of
// consecutive storage indices. Analyses that handle both never learn how
// the bytes arrived (DESIGN.md "Storage drivers").
struct BlockView {
  char* data = nullptr;
  uint64_t begin = 0;        // storage index of data[0]
  uint64_t end = 0;          // one past the last storage index
  int64_t block = 0;         // block number (source/partition.h)
  const Box* box = nullptr;  // the chunk's extent; nullptr for a row block

  // The number of elements.
  uint64_t elements() const { return box ? box->elements() : end - begin; }
};

// Calls f(data_offset, storage_begin, length) for each run of consecutive
// storage indices of `block`, in data order: one run [begin, end) for a row
// block, ForEachBoxRun's runs for a chunk block.
template <class F>
void ForEachBlockRun(const Layout& layout, const BlockView& block, F&& f) {
  if (block.box == nullptr) {
    f(uint64_t{0}, block.begin, block.end - block.begin);
    return;
  }
  ForEachBoxRun(layout, *block.box, f);
}

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
  // Its result can be drawn (the config key "plot": a picture of the
  // result, drawn by the runner once the results are merged): a histogram,
  // quantiles, or stats with an axis that keeps lanes and mean, min or max
  // among its fields.
  bool plottable = false;
  // Its partials merge exactly (integer counts, sets of values): any
  // grouping of the blocks gives the same bits. A worker then hands its
  // scanner one partial for all its blocks, which Consume adds each block
  // to, and sends it as its first tree node's partial, the other nodes'
  // empty (engine/scan.cc): no partial per block to build and merge.
  bool exact_merge = false;

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

// The partial of an analysis whose workers write its output while
// scanning (slice and convert outputs, generate's dataset, per-lane .npy
// fields): how many of the output's units (elements, lanes) they wrote,
// {"written": N}. The coordinator checks that the merged count is all.
class WrittenCount : public Partial {
 public:
  uint64_t n = 0;
  void Merge(const Partial& right) override { n += static_cast<const WrittenCount&>(right).n; }
  Json ToJson() const override { return Json{{"written", n}}; }
  // kDataErr naming `who` unless j is {"written": N} with N <= most.
  static Result<std::unique_ptr<Partial>> FromJson(const Json& j, uint64_t most,
                                                   const std::string& who);
  // kWorkerFailed "WHO: workers wrote N of ALL UNITS" unless n == all.
  Status CheckAll(uint64_t all, const std::string& units, const std::string& who) const;
};

// The worker-side state of one analysis in one pass of one worker: scratch
// buffers, open output files, journal writers. Analysis::NewScanner makes
// it; the worker loop (engine/scan.cc) calls it for the blocks of its range
// in block order, each window bracketed by the window hooks:
//
//   BeginWindow(w); Consume(b) for each block b of w; EndWindow(w)
//
// and, in a pass that writes the dataset, BeforeClose(w) right before the
// window's changes go to the file. When a scanner of the pass asks for it
// (CloseBehind), the worker loop keeps one written window closing behind:
// window w+1 is read and its BeginWindow calls return before w is closed
// (so a journal's durable write of w+1's record overlaps w's write-back),
// and BeforeClose(w) comes after them; two windows are then alive at once.
//
// (a window whose blocks are not adjacent in memory may come as several
// runs of whole blocks: BeginWindow for each run before the first block,
// EndWindow for each after the last). A block no analysis of the pass
// needs, outside any window, gets Consume alone with data == nullptr.
//
// A scanner is used by one thread of one process and destroyed before the
// worker reports its partials. It may point into the Analysis that made it,
// which must outlive it and must not change meanwhile (no SetPassInput).
// Mergeable results never live here: Consume writes them into the partial
// it is given, and a block's partial must not depend on what the scanner
// consumed before (tests/unit/scanner_test.cc).
class Scanner {
 public:
  virtual ~Scanner() = default;
  // Called before the blocks of a window are consumed and after the last of
  // them (e.g. to journal a window before changing it, or to write what it
  // selects). Errors fail the worker with their code.
  virtual Status BeginWindow(const BlockView& /*window*/) { return Status::OK(); }
  virtual Status EndWindow(const BlockView& /*window*/) { return Status::OK(); }
  // A pass that writes: called for each run of a window after its
  // EndWindow calls (and the next window's BeginWindow calls), right before
  // its changes are written to the file; e.g. to wait until its journal
  // record is durable. Errors fail the worker with their code, and the
  // window's changes are not written.
  virtual Status BeforeClose(const BlockView& /*window*/) { return Status::OK(); }
  // A pass that writes: whether each window is to be closed only after the
  // next window's BeginWindow calls (above). It costs a second window's
  // memory, so only a scanner that overlaps work with it asks.
  virtual bool CloseBehind() const { return false; }
  // Adds the elements of `block` (one whole block) to `partial`, a fresh
  // NewPartial(pass) of the analysis, or for an exact_merge analysis the
  // worker's one partial of every block so far. Errors fail the worker with
  // their code.
  virtual Status Consume(const BlockView& block, Partial* partial) = 0;
};

// A scanner that only consumes: Consume calls `consume(block, partial,
// &state)`, which returns a Status; `state` (e.g. a kernel's scratch) is
// the scanner's own. `consume` usually captures the analysis, which must
// outlive the scanner. For analyses that need no window hooks.
template <class State, class F>
std::unique_ptr<Scanner> MakeScanner(State state, F consume) {
  class ConsumeOnly final : public Scanner {
   public:
    ConsumeOnly(State s, F f) : state_(std::move(s)), f_(std::move(f)) {}
    Status Consume(const BlockView& block, Partial* partial) override {
      return f_(block, partial, &state_);
    }

   private:
    State state_;
    F f_;
  };
  return std::make_unique<ConsumeOnly>(std::move(state), std::move(consume));
}

// No state: `consume(block, partial, NoState*)`.
struct NoState {};

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
  // The parameters the result echoes in front of its fields (SPEC §4): the
  // config's values of the op's main parameters (q, bins, range, axis,
  // method, ddof), defaults filled in; its registry line lists them.
  const Json& parameters() const { return parameters_; }

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
  // passes. Workers receive it through SetPassInput. Columns of many
  // numbers go as bytes columns (BytesColumn): raw bytes in the segment,
  // base64 text in files and MPI messages (Plan::ToJson); SetPassInput
  // takes either (ColumnBytesTo).
  virtual Json PassInput(int /*pass*/) const { return nullptr; }
  virtual Status SetPassInput(int /*pass*/, const Json& /*input*/) { return Status::OK(); }

  virtual std::unique_ptr<Partial> NewPartial(int pass) const = 0;
  virtual Result<std::unique_ptr<Partial>> PartialFromJson(int pass, const Json& j) const = 0;
  // Worker, after SetPassInput(pass): the worker-side state of this
  // analysis for pass `pass` (see Scanner). One per pass and worker.
  virtual std::unique_ptr<Scanner> NewScanner(int pass) const = 0;
  // Whether the scanner of pass `pass` needs the data of the block holding
  // storage indices [begin, end). A block that no analysis of the pass
  // needs is not read: the scanner still consumes it, with data ==
  // nullptr, and it is in no window. An analysis that answers false must
  // accept a null data (and may still get the data when another analysis
  // of the pass needs the block). A property of the configuration, not of
  // a worker: the coordinator asks it too (Plan::BytesRead).
  virtual bool NeedsBlock(int /*pass*/, uint64_t /*begin*/, uint64_t /*end*/) const { return true; }
  // The same question for a chunk block (source/partition.h), given its box
  // (array coordinates, inside the shape). Default: NeedsBlock on the box's
  // hull (the storage indices from its first element to one past its
  // last), which is conservative: true whenever any element of the box is
  // needed. An analysis may answer exactly from the box (slice, convert).
  virtual bool NeedsBox(int pass, const Box& box) const;
  // Of a chunk block NeedsBox accepts, the part (a box inside `box`) the
  // analysis reads in pass `pass`. Default: the whole block. A source that
  // can read part of a chunk (Source::ReadsParts) then reads only the
  // hull of the parts of the pass' analyses, and the scanners get that
  // box as the block's (BlockView::box, its elements as the data).
  virtual Box PartOfBox(int /*pass*/, const Box& box) const { return box; }
  // Whether PartOfBox may answer less than the box in pass `pass` (else
  // the scan does not ask it, block by block).
  virtual bool ReadsParts(int /*pass*/) const { return false; }

  // Coordinator, right after the plan is built, when the run keeps its
  // merged partials to merge them with others later (--shard, --state;
  // Plan::KeepPartials, which plans the passes again): an analysis that
  // would otherwise write its result while scanning or tile by tile
  // (stats' per-lane files) goes back to one pass of partials that carry
  // it. Its workers learn it through PassInput.
  virtual void KeepPartials() {}

  // Coordinator, before the analysis' first pass: prepare outputs (e.g.
  // create and reserve a file under a temporary name; workers learn the
  // name through PassInput). Writers also name the file workers map.
  virtual Status Prepare() { return Status::OK(); }
  virtual std::string WritePath() const { return dataset_.path; }
  // Where the array's elements start in WritePath() (the dataset's offset,
  // unless the writer put them elsewhere), and, for a file the coordinator
  // created, its identity: workers that open WritePath() by name check it
  // (a file another user put under that name is refused). Both are valid
  // in workers after SetPassInput.
  virtual uint64_t WriteOffset() const { return dataset_.layout.offset; }
  virtual std::optional<FileId> WriteFileId() const { return std::nullopt; }
  // The files the analysis creates (absolute paths), for the run's identity
  // checks of its outputs (io/file_identity.h RegisterOutput).
  virtual std::vector<std::string> CreatedFiles() const { return {}; }
  // The picture of the result the config asks for (key "plot", resolved
  // against the config's folder, ending in .svg or .png); "" when none.
  // Set by MakeAnalysis for a plottable analysis only; the runner draws it
  // (runner/plot_command.h) and registers it as an output of the run.
  const std::string& plot_path() const { return plot_path_; }

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
  Json parameters_ = Json::object();  // set by MakeAnalysis
  std::string plot_path_;

  friend Result<std::unique_ptr<Analysis>> MakeAnalysis(const AnalysisSpec&, const Dataset&,
                                                        const Partition&);
};

// Builds the analysis for spec.op, validating its parameters against the
// dataset (kConfig naming "analyses[i].key" on bad ones). The key "plot"
// is taken here for every op (the factories never see it): a path ending
// in .svg or .png, allowed only when the analysis is plottable and has no
// "output" (its numbers must be in the result document). `dataset` and
// `partition` (Partition(dataset.layout), owned by the plan) must outlive
// the analysis.
Result<std::unique_ptr<Analysis>> MakeAnalysis(const AnalysisSpec& spec, const Dataset& dataset,
                                               const Partition& partition);
// Whether `op` names an analysis that creates the dataset (its registry
// line; Capabilities::creates_dataset), and the ops that do, for messages.
bool OpCreatesDataset(const std::string& op);
std::vector<std::string> OpsCreatingDataset();

// The temporaries the coordinator created that an analysis' workers open
// by name (an output, an HDF5 output's stage or spool), each with its
// identity (checked once opened: io/files.h CheckFileId), and where the
// array's elements start in the first: the pass input of the analyses that
// write files. Empty paths for what the analysis does not use.
struct TempFiles {
  std::string temp_path;
  FileId temp_id;
  std::string spool_path;
  FileId spool_id;
  uint64_t data_offset = 0;
};
Json TempFilesJson(const TempFiles& files);
// The inverse of TempFilesJson; kDataErr naming `who` when malformed.
Result<TempFiles> TempFilesFromJson(const Json& j, const std::string& who);

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
