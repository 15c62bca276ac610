// The partial wire format (docs/PARTIAL_FORMAT.md "Tree nodes"): the one
// place where tree nodes of partials become text and come back into a merge
// tree. Every carrier of partials uses it: a worker's slot payload
// (engine/scan.cc encodes, runner/coordinator.cc decodes), an MPI rank's
// message (mpi/), the "nodes" of a part file (runner/shard.cc) and of a
// state file (runner/state.cc). Its framing (raw bytes before the JSON
// text) also carries each pass' plan through the segment (EncodeFramed).
// The one-key objects {"$bin": ...} and {"$blob": ...} are references in
// framed text: no document framed so holds such an object of its own
// (configs are checked key by key, partials and pass inputs are ours).
//
// A payload is the JSON text
//
//   {"nodes": [{"level": L, "start": B, "partials": [P0, P1, ...]}, ...]}
//
// (bytes columns and long strings carried before it as raw bytes:
// docs/PARTIAL_FORMAT.md), whose
// nodes are the maximal aligned subtrees of the fixed block tree
// (core/merge_tree.h) that a run of consecutive blocks forms, in block
// order. A node covers blocks [B, B + 2^L); Pi is Partial::ToJson() of the
// i-th step of the pass (PassPlan::steps, config order).
//
// Decoding checks everything a node claims before it reaches the tree: the
// node's shape and member types, a partial count equal to the pass' steps,
// a level in [0, 62], B aligned to 2^L, B where the tree's last node ends
// (or at `first_block` into an empty tree), B + 2^L within the plan's
// blocks, and each partial through its analysis' PartialFromJson. Nothing
// is pushed after the first bad node.
//
// Thread and process rules: the functions hold no state; a NodeTree is used
// by one thread. The Plan must outlive the partials decoded against it only
// as long as the analyses' PartialFromJson requires (none keeps a pointer).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/merge_tree.h"
#include "engine/plan.h"

namespace mm {

// The partials of every step of a pass for one node of the block tree, in
// PassPlan::steps order.
struct PartialSet {
  std::vector<std::unique_ptr<Partial>> parts;
  void Merge(const PartialSet& right) {
    for (size_t i = 0; i < parts.size(); ++i) parts[i]->Merge(*right.parts[i]);
  }
};

using NodeTree = TreeReducer<PartialSet>;

// The block just after `tree`'s last node: where its next node must start;
// `if_empty` when it has none.
int64_t TreeEnd(const NodeTree& tree, int64_t if_empty = 0);

// Encoding. `nodes` in block order (TreeReducer::nodes()).
// The "nodes" array, as part and state files hold it.
Json EncodeNodes(const std::vector<NodeTree::Node>& nodes);
// A worker's payload text: {"nodes": EncodeNodes(nodes)}, compact.
std::string EncodePayload(const std::vector<NodeTree::Node>& nodes);
// The same, freeing each node's partials as soon as they are encoded.
std::string EncodePayload(std::vector<NodeTree::Node>&& nodes);

// Decoding. Pushes the nodes of the JSON array `nodes` (EncodeNodes' form)
// of pass `pass` into `tree`, in order, checked as the file comment says.
// Errors are of kind `code`, prefixed with `where`:
//   "<where>: malformed partials (no node list)"   `nodes` is not an array
//   "<where>: malformed partials"                  a node's shape, types or
//                                                  partial count
//   "<where>: tree node (level L, block B) does not continue the block tree
//    at block E"                                   level, alignment, gap or
//                                                  past the last block
//   "<where>: <PartialFromJson's message>"         a bad partial
Status PushNodes(const Plan& plan, int pass, const Json& nodes, const std::string& where, Code code,
                 NodeTree* tree, int64_t first_block = 0);

// The payload's framing for any JSON document (docs/PARTIAL_FORMAT.md
// "Tree nodes and the payload"): binary values and long strings carried
// before the JSON text as raw bytes. The segment carries each pass' plan
// so (docs/SEGMENT_FORMAT.md): normalize's per-lane columns are then
// copied, neither base64-encoded nor lexed.
std::string EncodeFramed(Json doc);
// The same framing in pieces, for a writer that puts them where they go
// (Segment::SetPass): the binary values and long strings moved out of
// `doc` (not copied), and the text. Views() (the blobs, a NUL when they
// hold any bytes, the text) concatenated is EncodeFramed(doc), so a plan's
// columns are never held a second time in one string.
struct FramedPieces {
  std::vector<Json> blobs;  // each a binary value or a string
  uint64_t bytes = 0;       // their sizes' sum
  std::string text;
  std::vector<std::string_view> Views() const;
};
FramedPieces FrameInPieces(Json doc);
// Its inverse: kind `code`, "<what> text: <parse error>" or "<what>:
// malformed (a blob reference)". `text` is freed on return.
Result<Json> DecodeFramed(std::string text, const std::string& what, Code code);

// The JSON of a payload, {"nodes": [...]}, with the values carried outside
// its text put back (bytes columns as binary values): what a reader or a
// test inspects. kWorkerFailed as PushPayload for text that is not a
// payload. PushPayload does not use it: it puts back one node at a time.
Result<Json> DecodePayload(const std::string& payload, const std::string& where);

// Parses the payload text of one worker (or rank) and pushes its nodes
// (PushNodes). Errors are kWorkerFailed: "<where> partials: <parse error>"
// for text that is not JSON (truncated, say), "<where>: malformed partials"
// for JSON that is not an object with "nodes", else PushNodes' errors.
// `payload` is taken whole: the pages of the bytes already decoded are
// given back to the system as its nodes are pushed.
Status PushPayload(const Plan& plan, int pass, std::string payload, const std::string& where,
                   NodeTree* tree, int64_t first_block = 0);

}  // namespace mm
