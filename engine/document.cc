#include "engine/document.h"

#include "core/warnings.h"

namespace mm {

const char* const kVersion = "0.1.0";

Json MmrunSection(const RunSummary& s) {
  Json meta = Json::object();
  meta["version"] = kVersion;
  meta["workers"] = s.workers;
  if (s.workers_requested && *s.workers_requested != s.workers)
    meta["workers_requested"] = *s.workers_requested;
  meta["launch"] = s.launch;
  meta["elapsed_s"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count();
  meta["rows"] = s.rows;
  if (s.row_axis) meta["row_axis"] = *s.row_axis;
  meta["bytes_scanned"] = s.bytes_scanned;
  meta["passes"] = s.passes;
  if (s.shards) meta["shards"] = *s.shards;
  if (!s.incremental.is_null()) meta["incremental"] = s.incremental;
  return meta;
}

Json ResultDocument(const RunSummary& summary, const Dataset& dataset, Json results,
                    const Warnings* warnings) {
  Json doc = Json::object();
  doc["mmrun"] = MmrunSection(summary);
  doc["dataset"] = DatasetJson(dataset);
  doc["results"] = std::move(results);
  if (warnings) warnings->Publish(&doc);
  return doc;
}

}  // namespace mm
