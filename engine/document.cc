#include "engine/document.h"

#include <cerrno>
#include <csignal>
#include <ctime>

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
  const std::time_t t = std::chrono::system_clock::to_time_t(s.started_utc);
  std::tm utc{};
  char when[32] = "";
  if (::gmtime_r(&t, &utc) != nullptr) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &utc);
  meta["started"] = when;
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
                    const Warnings* warnings, Json analyses) {
  Json doc = ObjectWithRoom(5);  // results never copied when warnings follow them
  doc["mmrun"] = MmrunSection(summary);
  doc["dataset"] = DatasetJson(dataset);
  if (!analyses.is_null()) doc["analyses"] = std::move(analyses);
  doc["results"] = std::move(results);
  if (warnings) warnings->Publish(&doc);
  return doc;
}

Result<DocumentOutput> DocumentOutput::Open(const std::string& target, const std::string& what,
                                            std::FILE* stream) {
  DocumentOutput out;
  if (target.empty()) {
    out.stream_ = stream;
  } else {
    MM_ASSIGN_OR_RETURN(out.file_, TempOutput::Create(target, what));
  }
  return out;
}

namespace {

// A failed write to stdout: a reader that went away (EPIPE) or anything else.
Status StreamError(int err) {
  if (err == EPIPE)
    return Error(static_cast<Code>(128 + SIGPIPE), "stdout: the reader closed the pipe (EPIPE)");
  return Error(Code::kIoErr, "cannot write the result to stdout");
}

}  // namespace

Status DocumentOutput::Write(Json doc) {
  if (stream_ == nullptr) {
    const Status st =
        DumpDocumentTo(doc, [&](std::string_view piece) { return file_.Write(piece); });
    ReleaseJson(&doc);
    MM_RETURN_IF_ERROR(st);
    return file_.Commit();
  }
  const Status st = DumpDocumentTo(doc, [&](std::string_view piece) {
    errno = 0;
    if (std::fwrite(piece.data(), 1, piece.size(), stream_) == piece.size()) return Status::OK();
    return StreamError(errno);
  });
  ReleaseJson(&doc);
  MM_RETURN_IF_ERROR(st);
  errno = 0;
  if (std::fflush(stream_) != 0) return StreamError(errno);
  return Status::OK();
}

}  // namespace mm
