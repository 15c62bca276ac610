#include "engine/merge.h"

#include <string>

namespace mm {

Status PreparePass(Plan& plan, int pass) {
  for (const PassStep& s : plan.passes[static_cast<size_t>(pass)].steps)
    if (s.pass == 0) MM_RETURN_IF_ERROR(plan.analyses[static_cast<size_t>(s.analysis)]->Prepare());
  return Status::OK();
}

Status EndPassFromTree(Plan& plan, int pass, NodeTree* tree) {
  const PassPlan& pp = plan.passes[static_cast<size_t>(pass)];
  PartialSet root;
  if (plan.partition.blocks() == 0) {  // an empty dataset: the analyses' empty partials
    for (const PassStep& s : pp.steps)
      root.parts.push_back(plan.analyses[static_cast<size_t>(s.analysis)]->NewPartial(s.pass));
  } else {
    if (tree->empty()) return Error(Code::kWorkerFailed, "no worker produced a partial");
    const int64_t end = TreeEnd(*tree);
    if (end != plan.partition.blocks())
      return Error(Code::kWorkerFailed, "the partials cover blocks [0, " + std::to_string(end) +
                                            ") of " + std::to_string(plan.partition.blocks()));
    root = tree->Finish();
  }
  for (size_t i = 0; i < pp.steps.size(); ++i) {
    Analysis& a = *plan.analyses[static_cast<size_t>(pp.steps[i].analysis)];
    MM_RETURN_IF_ERROR(a.EndPass(pp.steps[i].pass, *root.parts[i]));
  }
  return Status::OK();
}

Result<Json> FinishResults(Plan& plan) {
  Json results = ObjectWithRoom(plan.analyses.size());
  for (auto& a : plan.analyses) {
    MM_ASSIGN_OR_RETURN(Json r, a->Finish());
    results[a->name()] = std::move(r);
  }
  return results;
}

Json AnalysesSection(const Plan& plan) {
  Json section = Json::object();
  for (const auto& a : plan.analyses) {
    Json entry = Json{{"op", a->op()}};
    for (const auto& [key, value] : a->parameters().items()) entry[key] = value;
    section[a->name()] = std::move(entry);
  }
  return section;
}

}  // namespace mm
