#include "engine/payload.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

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
  for (const auto& node : nodes) {
    out.push_back(EncodeNode(node));
    BinaryToBase64(&out.back());  // a file holds text
  }
  return out;
}

namespace {

// Payload framing (docs/PARTIAL_FORMAT.md "Tree nodes and the payload"):
// a binary value (a partial's bytes column, BytesColumn) is carried outside
// the JSON text as its raw bytes, and so is a string value of at least
// kBlobChars characters; the JSON text holds {"$bin": [OFFSET, LENGTH]} or
// {"$blob": [OFFSET, LENGTH]} in its place. The payload is those bytes, one
// NUL, then the JSON text. JSON text holds no NUL byte, so the last NUL
// splits the two. A many-lane partial's columns are then copied, neither
// encoded nor lexed character by character (nlohmann's string scanner took
// more time than the scan).
constexpr size_t kBlobChars = 4096;
constexpr const char* kBlobKey = "$blob";
constexpr const char* kBinKey = "$bin";
// A payload carrying this many bytes gives pages back as it is made
// (the heap's free pages, then each node's columns once copied) and as it
// is decoded (each node's bytes once decoded): DiscardPages.
constexpr uint64_t kTrimBytes = uint64_t{12} << 20;

// The bytes MoveBlobs moves out of `j`.
uint64_t BlobBytes(const Json& j) {
  if (j.is_binary()) return j.get_binary().size();
  if (j.is_string()) {
    const size_t n = j.get_ref<const std::string&>().size();
    return n < kBlobChars ? 0 : n;
  }
  uint64_t n = 0;
  if (j.is_object()) {
    for (const auto& item : j.items()) n += BlobBytes(item.value());
  } else if (j.is_array()) {
    for (const Json& v : j) n += BlobBytes(v);
  }
  return n;
}

// Gives the whole pages inside a buffer back to the system (its contents
// are not read again). The heap keeps freed pages resident
// (TuneHeapForWindows) and a payload's bytes are new memory, so a worker
// held a large payload twice at its end (its nodes' columns, then their
// copy), and the coordinator the bytes of nodes it had decoded. Only for
// payloads of at least kTrimBytes: the page-table work cost 18 % of the CPU
// time of a time mean whose payloads are smaller (the partials' tiles keep
// them so), where it saved nothing.
void DiscardPages(void* data, size_t size) {
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(data) + size) & ~(page - 1);
  if (hi > lo + 15 * page) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

// The bytes of a value MoveBlobs moved out: a binary value or a string.
std::string_view BlobView(const Json& blob) {
  if (blob.is_binary()) {
    const Json::binary_t& b = blob.get_binary();
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  return blob.get_ref<const std::string&>();
}

// Moves every binary value and long string of `j`, in order, to the end of
// `blobs` (moved, not copied), leaving its reference: the bytes will be at
// *offset (advanced by their size) in the framed text.
void MoveBlobs(Json* j, std::vector<Json>* blobs, uint64_t* offset) {
  const char* key = nullptr;
  if (j->is_binary()) {
    key = kBinKey;
  } else if (j->is_string()) {
    if (j->get_ref<const std::string&>().size() < kBlobChars) return;
    key = kBlobKey;
  } else if (j->is_object()) {
    for (auto& item : j->items()) MoveBlobs(&item.value(), blobs, offset);
  } else if (j->is_array()) {
    for (Json& v : *j) MoveBlobs(&v, blobs, offset);
  }
  if (key == nullptr) return;
  blobs->push_back(std::move(*j));
  const uint64_t size = BlobView(blobs->back()).size();
  *j = Json{{key, Json::array({*offset, size})}};
  *offset += size;
}

// The framed text: the bytes of `blobs` (each freed once copied, its pages
// given back when `release`), a NUL, then `text`. The string is allocated
// once at its size: appending the text to the bytes' string doubled it (a
// 12 MB payload took 36 MB).
std::string JoinFramed(std::vector<Json>* blobs, uint64_t bytes, const std::string& text,
                       bool release) {
  std::string out;
  out.reserve(bytes + 1 + text.size());
  for (Json& blob : *blobs) {
    const std::string_view b = BlobView(blob);
    out.append(b);
    if (release && blob.is_binary()) DiscardPages(const_cast<char*>(b.data()), b.size());
    blob = Json();
  }
  out.push_back('\0');
  out += text;
  return out;
}

// Puts back the values MoveBlobs moved out of `j`, from `blobs` (the
// payload's bytes before its last NUL). False for a reference that is not
// two unsigned integers within [lower, size) (bytes below `lower` belong to
// nodes already decoded, whose pages PushPayload gave back), or once the
// bytes put back would exceed *budget (the blob area's size for the whole
// payload: a payload never restores more than it carries, however many
// references a corrupt one repeats). *end: the end of the furthest bytes
// put back.
bool RestoreBlobs(Json* j, const char* blobs, uint64_t size, uint64_t lower, uint64_t* budget,
                  uint64_t* end) {
  if (j->is_object()) {
    const bool bin = j->size() == 1 && j->contains(kBinKey);
    if (bin || (j->size() == 1 && j->contains(kBlobKey))) {
      const Json& r = (*j)[bin ? kBinKey : kBlobKey];
      if (!r.is_array() || r.size() != 2 || !r[0].is_number_unsigned() ||
          !r[1].is_number_unsigned())
        return false;
      const uint64_t offset = r[0].get<uint64_t>(), length = r[1].get<uint64_t>();
      if (offset < lower || offset > size || length > size - offset || length > *budget)
        return false;
      *budget -= length;
      *end = std::max(*end, offset + length);
      if (bin) {
        const auto* p = reinterpret_cast<const uint8_t*>(blobs + offset);
        *j = Json::binary(std::vector<uint8_t>(p, p + length));
      } else {
        *j = std::string(blobs + offset, length);
      }
      return true;
    }
    for (auto& item : j->items())
      if (!RestoreBlobs(&item.value(), blobs, size, lower, budget, end)) return false;
  } else if (j->is_array()) {
    for (Json& v : *j)
      if (!RestoreBlobs(&v, blobs, size, lower, budget, end)) return false;
  }
  return true;
}

}  // namespace

namespace {

// EncodePayload over nodes [0, count); done(i) after node i is encoded.
template <class Done>
std::string EncodeNodesPayload(size_t count, const std::vector<NodeTree::Node>& nodes,
                               const Done& done) {
  // Each node's JSON first (its partials freed by `done` as it is made:
  // one node is held twice at a time), then the blobs into a string of
  // their exact size (it grew by doubling), each freed from its node's
  // JSON once copied. The freed memory stays resident in the heap, so a
  // large payload gives its pages back as it goes (kTrimBytes).
  std::vector<Json> encoded;
  encoded.reserve(count);
  uint64_t blob_bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    encoded.push_back(EncodeNode(nodes[i]));
    done(i);
    blob_bytes += BlobBytes(encoded.back());
  }
  // The nodes' partials, freed, stay resident in the heap
  // (TuneHeapForWindows): given back once here, before the payload's bytes
  // (new memory) are written, or a worker would hold its partials twice.
  const bool release = blob_bytes >= kTrimBytes;
  if (release) malloc_trim(size_t{1} << 30);
  // The blobs are moved out of the nodes' JSON and the text made first, so
  // the payload is allocated once (JoinFramed).
  std::vector<Json> blobs;
  uint64_t bytes = 0;
  std::string json = "{\"nodes\":[";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) json += ',';
    MoveBlobs(&encoded[i], &blobs, &bytes);
    json += JsonText(encoded[i]);
    encoded[i] = Json();
  }
  json += "]}";
  if (bytes == 0) return json;
  return JoinFramed(&blobs, bytes, json, release);
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

namespace {

// Framed text split at its last NUL: the JSON parsed, and the size of the
// bytes before it (0 without a NUL). Parse errors are `code`,
// "<where> <noun>: ...".
struct SplitFramed {
  Json doc;
  uint64_t blob_bytes = 0;
};

Result<SplitFramed> Split(const std::string& text, const std::string& where, const char* noun,
                          Code code) {
  const size_t nul = text.rfind('\0');
  SplitFramed out;
  out.blob_bytes = nul == std::string::npos ? 0 : nul;
  const size_t json_at = nul == std::string::npos ? 0 : nul + 1;
  MM_ASSIGN_OR_RETURN(
      out.doc, ParseJson(json_at == 0 ? text : text.substr(json_at), where + " " + noun, code));
  return out;
}

Result<SplitFramed> SplitPayload(const std::string& payload, const std::string& where) {
  MM_ASSIGN_OR_RETURN(SplitFramed split, Split(payload, where, "partials", Code::kWorkerFailed));
  if (!split.doc.is_object() || !split.doc.contains("nodes"))
    return Error(Code::kWorkerFailed, where + ": malformed partials");
  return split;
}

// Every value `split`'s JSON references put back from `text`'s bytes;
// `bad` (of kind `code`) for a reference RestoreBlobs refuses.
Result<Json> RestoreAll(SplitFramed split, const std::string& text, Code code,
                        const std::string& bad) {
  uint64_t budget = split.blob_bytes, end = 0;
  if (!RestoreBlobs(&split.doc, text.data(), split.blob_bytes, 0, &budget, &end))
    return Error(code, bad);
  return std::move(split.doc);
}

}  // namespace

FramedPieces FrameInPieces(Json doc) {
  // Every binary value is moved out, an empty one too (JsonText would
  // print it as nlohmann's {"bytes": [...]}); without bytes to carry, the
  // text is plain JSON (its references all [0, 0]).
  FramedPieces framed;
  MoveBlobs(&doc, &framed.blobs, &framed.bytes);
  framed.text = JsonText(doc);
  return framed;
}

std::vector<std::string_view> FramedPieces::Views() const {
  std::vector<std::string_view> views;
  for (const Json& blob : blobs) views.push_back(BlobView(blob));
  if (bytes > 0) views.emplace_back("\0", 1);
  views.push_back(text);
  return views;
}

std::string EncodeFramed(Json doc) {
  FramedPieces framed = FrameInPieces(std::move(doc));
  if (framed.bytes == 0) return std::move(framed.text);
  return JoinFramed(&framed.blobs, framed.bytes, framed.text, /*release=*/false);
}

Result<Json> DecodeFramed(std::string text, const std::string& what, Code code) {
  MM_ASSIGN_OR_RETURN(SplitFramed split, Split(text, what, "text", code));
  return RestoreAll(std::move(split), text, code, what + ": malformed (a blob reference)");
}

Result<Json> DecodePayload(const std::string& payload, const std::string& where) {
  MM_ASSIGN_OR_RETURN(SplitFramed split, SplitPayload(payload, where));
  return RestoreAll(std::move(split), payload, Code::kWorkerFailed,
                    where + ": malformed partials (a blob reference)");
}

Status PushPayload(const Plan& plan, int pass, std::string payload, const std::string& where,
                   NodeTree* tree, int64_t first_block) {
  MM_ASSIGN_OR_RETURN(SplitFramed split, SplitPayload(payload, where));
  Json& nodes = split.doc["nodes"];
  if (!nodes.is_array())
    return PushNodes(plan, pass, nodes, where, Code::kWorkerFailed, tree, first_block);
  // PushNodes, freeing each node's JSON once its partials are decoded.
  uint64_t budget = split.blob_bytes, end = 0, discarded = 0;
  for (Json& node : nodes) {
    if (!RestoreBlobs(&node, payload.data(), split.blob_bytes, discarded, &budget, &end))
      return Error(Code::kWorkerFailed, where + ": malformed partials (a blob reference)");
    MM_RETURN_IF_ERROR(PushNode(plan, pass, node, where, Code::kWorkerFailed, tree, first_block));
    node = Json();
    // The bytes this node was decoded from are not needed again (a node's
    // columns follow the previous node's): their pages go back.
    if (split.blob_bytes >= kTrimBytes && end > discarded) {
      DiscardPages(&payload[discarded], end - discarded);
      discarded = end;
    }
  }
  return Status::OK();
}

}  // namespace mm
