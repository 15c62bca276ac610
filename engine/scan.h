// The worker loop: scan one row range of one pass and commit the partials
// to the worker's slot. Fork mode calls RunWorker in the child; spawn mode
// runs the mmworker executable, whose main calls RunSpawnedWorker.
//
// A worker reads its blocks through a Source (source/source.h) in windows of
// whole blocks (at most Source::window_bytes(): kWindowBytes, or
// kDecodedWindowBytes for copied or decoded windows; at least one block;
// each window destroyed before the next is read) so its resident memory
// stays bounded whatever the file size,
// feeds each block once to every analysis of the pass, and reduces the
// block partials along the fixed tree (merge_tree.h). Its process exit
// status is 0 on success, else a SPEC §5 code (74 for a SIGBUS, or a size
// below the plan's after a window: the file shrank under the run). It reads
// the dataset only through the run's descriptor (Dataset::file), never by
// reopening its name.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/payload.h"
#include "engine/plan.h"
#include "io/segment.h"
#include "source/source.h"

namespace mm {

struct WorkerTask {
  const Plan* plan = nullptr;
  int pass = 0;
  std::string map_path;  // the file to map (the dataset, or a writer's temp file)
  uint32_t slot = 0;
  uint32_t attempt = 0;
  int64_t row_begin = 0;
  int64_t row_end = 0;
};

// Scans the task's rows; returns the payload text for its slot
// (engine/payload.h EncodePayload).
// `progress(rows_done)` is called after each window.
Result<std::string> ScanTask(const WorkerTask& task, const std::function<void(uint64_t)>& progress);

// The scan itself, over `source` (whose blocks and partition it follows):
// ScanTask's seam for tests, which pass fake or in-memory sources. The task's
// row range must fall on the source partition's unit boundaries. `source`
// must outlive the call; no process is started and no slot is touched.
Result<std::string> ScanSource(const WorkerTask& task, Source* source,
                               const std::function<void(uint64_t)>& progress);

// The source ScanTask reads: the dataset through the registry, over the
// run's descriptor, when the task maps the dataset; else a writer's own
// temporary file (generate), opened by name (O_NOFOLLOW) as a raw or .npy
// file with the dataset's layout.
Result<std::unique_ptr<Source>> OpenTaskSource(const WorkerTask& task);

// Runs the task in this process and commits (or fails) its slot in
// `segment_name`; returns the process exit status.
int RunWorker(const WorkerTask& task, const std::string& segment_name);

// mmworker's body: open the segment, read the plan and the slot's rows, run.
// `dataset_fd`: the dataset's descriptor inherited from the coordinator
// (-1 when the run has no dataset file yet); checked against the plan's
// dev/ino, exit 74 when it is another file.
int RunSpawnedWorker(const std::string& segment_name, uint32_t slot, int dataset_fd);

// Heap thresholds that keep freed window buffers and payload columns for
// reuse (the coordinator calls it at start and after each pass's trim;
// SetUpWorkerProcess too).
void TuneHeapForWindows();

// Sets up a worker process: the SIGBUS handler (a worker that touches a
// page past the end of a file that shrank exits 74) and heap thresholds
// that keep windows' buffers for reuse. Fault hooks for tests: core/fault.h.
void SetUpWorkerProcess();

}  // namespace mm
