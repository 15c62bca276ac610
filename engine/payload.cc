#include "engine/payload.h"

namespace mm {

int64_t TreeEnd(const NodeTree& tree, int64_t if_empty) {
  if (tree.empty()) return if_empty;
  const auto& last = tree.nodes().back();
  return last.start + (int64_t{1} << last.level);
}

namespace {

Json EncodeNode(const NodeTree::Node& node) {
  Json parts = Json::array();
  for (const auto& p : node.value.parts) parts.push_back(p->ToJson());
  return Json{{"level", node.level}, {"start", node.start}, {"partials", std::move(parts)}};
}

}  // namespace

Json EncodeNodes(const std::vector<NodeTree::Node>& nodes) {
  Json out = Json::array();
  for (const auto& node : nodes) out.push_back(EncodeNode(node));
  return out;
}

std::string EncodePayload(const std::vector<NodeTree::Node>& nodes) {
  // The compact dump of {"nodes": EncodeNodes(nodes)}, node by node: only
  // one node's JSON is alive next to the text (a many-lane partial's JSON
  // is as large as its text).
  std::string out = "{\"nodes\":[";
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (i > 0) out += ',';
    out += EncodeNode(nodes[i]).dump();
  }
  out += "]}";
  return out;
}

namespace {

// Checks one node (PushNodes' checks) and pushes it into `tree`.
Status PushNode(const Plan& plan, int pass, const Json& node, const std::string& where, Code code,
                NodeTree* tree, int64_t first_block) {
  const PassPlan& pp = plan.passes[static_cast<size_t>(pass)];
  if (!node.is_object() || !node.contains("partials") || !node["partials"].is_array() ||
      node["partials"].size() != pp.steps.size() || !node.contains("level") ||
      !node["level"].is_number_integer() || !node.contains("start") ||
      !node["start"].is_number_integer())
    return Error(code, where + ": malformed partials");
  const int level = node["level"].get<int>();
  const int64_t start = node["start"].get<int64_t>();
  // The next node must start where the tree's last one ends and be aligned.
  const int64_t expect = TreeEnd(*tree, first_block);
  if (level < 0 || level > 62 || start != expect || start % (int64_t{1} << level) != 0 ||
      start + (int64_t{1} << level) > plan.partition.blocks())
    return Error(code, where + ": tree node (level " + std::to_string(level) + ", block " +
                           std::to_string(start) + ") does not continue the block tree at block " +
                           std::to_string(expect));
  PartialSet set;
  for (size_t i = 0; i < pp.steps.size(); ++i) {
    const Analysis& a = *plan.analyses[static_cast<size_t>(pp.steps[i].analysis)];
    Result<std::unique_ptr<Partial>> p = a.PartialFromJson(pp.steps[i].pass, node["partials"][i]);
    if (!p.ok()) return Error(code, where + ": " + p.status().message());
    set.parts.push_back(std::move(*p));
  }
  tree->Push(level, start, std::move(set));
  return Status::OK();
}

}  // namespace

Status PushNodes(const Plan& plan, int pass, const Json& nodes, const std::string& where, Code code,
                 NodeTree* tree, int64_t first_block) {
  if (!nodes.is_array()) return Error(code, where + ": malformed partials (no node list)");
  for (const Json& node : nodes)
    MM_RETURN_IF_ERROR(PushNode(plan, pass, node, where, code, tree, first_block));
  return Status::OK();
}

Status PushPayload(const Plan& plan, int pass, const std::string& payload, const std::string& where,
                   NodeTree* tree, int64_t first_block) {
  MM_ASSIGN_OR_RETURN(Json doc, ParseJson(payload, where + " partials", Code::kWorkerFailed));
  if (!doc.is_object() || !doc.contains("nodes"))
    return Error(Code::kWorkerFailed, where + ": malformed partials");
  Json& nodes = doc["nodes"];
  if (!nodes.is_array())
    return PushNodes(plan, pass, nodes, where, Code::kWorkerFailed, tree, first_block);
  // PushNodes, freeing each node's JSON once its partials are decoded.
  for (Json& node : nodes) {
    MM_RETURN_IF_ERROR(PushNode(plan, pass, node, where, Code::kWorkerFailed, tree, first_block));
    node = Json();
  }
  return Status::OK();
}

}  // namespace mm
