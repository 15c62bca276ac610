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

namespace {

// Payload framing (docs/PARTIAL_FORMAT.md "Worker payloads"): a string
// value of at least kBlobChars characters (a partial's base64 column) is
// carried outside the JSON text, which holds {"$blob": [OFFSET, LENGTH]}
// in its place; the payload is the blobs, one NUL, then the JSON text. JSON
// text and base64 hold no NUL byte, so the first NUL splits the two. A
// many-lane partial's columns are then copied, not lexed character by
// character (nlohmann's string scanner took more time than the scan).
constexpr size_t kBlobChars = 4096;
constexpr const char* kBlobKey = "$blob";

// Moves every long string of `j` to the end of `blobs`, leaving its
// reference.
void ExtractBlobs(Json* j, std::string* blobs) {
  if (j->is_string()) {
    const std::string& text = j->get_ref<const std::string&>();
    if (text.size() < kBlobChars) return;
    const uint64_t offset = blobs->size(), length = text.size();
    blobs->append(text);
    *j = Json{{kBlobKey, Json::array({offset, length})}};
    return;
  }
  if (j->is_object()) {
    for (auto& item : j->items()) ExtractBlobs(&item.value(), blobs);
  } else if (j->is_array()) {
    for (Json& v : *j) ExtractBlobs(&v, blobs);
  }
}

// Puts back the strings ExtractBlobs moved out of `j`, from `blobs`
// (the payload's bytes before its NUL). False for a reference that is not
// two in-range unsigned integers, or once the strings put back would
// exceed *budget bytes (the blob area's size for the whole payload: a
// payload never restores more than it carries, however many references a
// corrupt one repeats).
bool RestoreBlobs(Json* j, const char* blobs, uint64_t size, uint64_t* budget) {
  if (j->is_object()) {
    if (j->size() == 1 && j->contains(kBlobKey)) {
      const Json& r = (*j)[kBlobKey];
      if (!r.is_array() || r.size() != 2 || !r[0].is_number_unsigned() ||
          !r[1].is_number_unsigned())
        return false;
      const uint64_t offset = r[0].get<uint64_t>(), length = r[1].get<uint64_t>();
      if (offset > size || length > size - offset || length > *budget) return false;
      *budget -= length;
      *j = std::string(blobs + offset, length);
      return true;
    }
    for (auto& item : j->items())
      if (!RestoreBlobs(&item.value(), blobs, size, budget)) return false;
  } else if (j->is_array()) {
    for (Json& v : *j)
      if (!RestoreBlobs(&v, blobs, size, budget)) return false;
  }
  return true;
}

}  // namespace

namespace {

// EncodePayload over nodes [0, count); done(i) after node i is encoded.
template <class Done>
std::string EncodeNodesPayload(size_t count, const std::vector<NodeTree::Node>& nodes,
                               const Done& done) {
  // The blobs, then the compact dump of {"nodes": EncodeNodes(nodes)},
  // node by node: only one node's JSON is alive next to the text (a
  // many-lane partial's JSON is as large as its text).
  std::string out, json = "{\"nodes\":[";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) json += ',';
    Json node = EncodeNode(nodes[i]);
    done(i);
    ExtractBlobs(&node, &out);
    json += JsonText(node);
  }
  json += "]}";
  if (out.empty()) return json;
  out.push_back('\0');
  out += json;
  return out;
}

}  // namespace

std::string EncodePayload(const std::vector<NodeTree::Node>& nodes) {
  return EncodeNodesPayload(nodes.size(), nodes, [](size_t) {});
}

std::string EncodePayload(std::vector<NodeTree::Node>&& nodes) {
  // Each node's partials are freed once their JSON is made.
  return EncodeNodesPayload(nodes.size(), nodes,
                            [&nodes](size_t i) { nodes[i].value = PartialSet(); });
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
  const size_t nul = payload.find('\0');
  const uint64_t blob_bytes = nul == std::string::npos ? 0 : nul;
  const size_t json_at = nul == std::string::npos ? 0 : nul + 1;
  MM_ASSIGN_OR_RETURN(Json doc, ParseJson(json_at == 0 ? payload : payload.substr(json_at),
                                          where + " partials", Code::kWorkerFailed));
  if (!doc.is_object() || !doc.contains("nodes"))
    return Error(Code::kWorkerFailed, where + ": malformed partials");
  Json& nodes = doc["nodes"];
  if (!nodes.is_array())
    return PushNodes(plan, pass, nodes, where, Code::kWorkerFailed, tree, first_block);
  // PushNodes, freeing each node's JSON once its partials are decoded.
  uint64_t budget = blob_bytes;
  for (Json& node : nodes) {
    if (!RestoreBlobs(&node, payload.data(), blob_bytes, &budget))
      return Error(Code::kWorkerFailed, where + ": malformed partials (a blob reference)");
    MM_RETURN_IF_ERROR(PushNode(plan, pass, node, where, Code::kWorkerFailed, tree, first_block));
    node = Json();
  }
  return Status::OK();
}

}  // namespace mm
