// The merge of a pass: what the coordinator (runner/coordinator.cc), `mmrun
// merge` of shards (runner/shard.cc), an incremental run (runner/state.cc)
// and mmrun-mpi (mpi/) do around the block tree once the partials of a pass
// are pushed into it (engine/payload.h PushPayload / PushNodes):
//
//   PreparePass(plan, p)        before the pass' partials are made
//   ... partials pushed into a NodeTree, in block order ...
//   EndPassFromTree(plan, p, &tree)  the root partial -> Analysis::EndPass
//   FinishResults(plan)         after the last pass: the "results" object
//
// Because every carrier ends a pass here, the root partial, and with it every
// bit of a result, is the same for any worker count, launch mode, shard split
// or rank count.
//
// Thread and process rules: called by the one coordinating thread (rank 0
// under MPI), which owns the Plan and its analyses.
#pragma once

#include "core/json_util.h"
#include "core/status.h"
#include "engine/payload.h"
#include "engine/plan.h"

namespace mm {

// Prepare() of the analyses whose first pass is `pass`.
Status PreparePass(Plan& plan, int pass);

// Folds `tree` into the root partial and hands it to each analysis of pass
// `pass` (Analysis::EndPass, in PassPlan::steps order). `tree` must cover
// every block [0, blocks): kWorkerFailed "no worker produced a partial" when
// it is empty, "the partials cover blocks [0, E) of N" when it ends early.
// A dataset of no blocks takes the analyses' empty partials (tree unused).
// `tree` is consumed (TreeReducer::Finish).
Status EndPassFromTree(Plan& plan, int pass, NodeTree* tree);

// After the last pass: {name: result} of every analysis, in config order
// (Analysis::Finish).
Result<Json> FinishResults(Plan& plan);

// The result document's "analyses": {name: {"op", PARAMETERS...}} of every
// analysis, in config order, with the parameters it echoes
// (Analysis::parameters: as the config gave them, defaults filled in).
Json AnalysesSection(const Plan& plan);

}  // namespace mm
