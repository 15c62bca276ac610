#include "engine/scan.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/fault.h"
#include "core/merge_tree.h"
#include "io/files.h"

namespace mm {

namespace {

constexpr int kExitBusError = 74;

void OnSigbus(int) { _exit(kExitBusError); }

}  // namespace

void InstallWorkerSignalHandlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSigbus;
  sigaction(SIGBUS, &sa, nullptr);
}

Result<std::string> ScanTask(const WorkerTask& task,
                             const std::function<void(uint64_t)>& progress) {
  const Plan& plan = *task.plan;
  const PassPlan& pass = plan.passes[static_cast<size_t>(task.pass)];
  const Layout& layout = plan.dataset.layout;
  const Partition& part = plan.partition;
  const uint64_t item = static_cast<uint64_t>(layout.dtype.itemsize());
  const int64_t b0 = part.first_block_of_row(task.row_begin),
                b1 = part.first_block_of_row(task.row_end);
  const int64_t kill_after = task.attempt == 1 ? FaultValue("kill_after_rows") : -1;
  const int64_t exit_after = task.attempt == 1 ? FaultValue("exit_after_rows") : -1;
  const int64_t hang_after = task.attempt == 1 ? FaultValue("hang_after_rows") : -1;
  TreeReducer<PartialSet> tree;
  // The worker-side state of each step of the pass, for this task's blocks.
  std::vector<std::unique_ptr<Scanner>> scanners;
  for (const PassStep& s : pass.steps)
    scanners.push_back(plan.analyses[static_cast<size_t>(s.analysis)]->NewScanner(s.pass));
  // One block's partials: a fresh partial per step, consumed by its scanner.
  auto consume = [&](const BlockView& block) -> Result<PartialSet> {
    PartialSet set;
    for (size_t i = 0; i < pass.steps.size(); ++i) {
      const PassStep& s = pass.steps[i];
      set.parts.push_back(plan.analyses[static_cast<size_t>(s.analysis)]->NewPartial(s.pass));
      MM_RETURN_IF_ERROR(scanners[i]->Consume(block, set.parts.back().get()));
    }
    return set;
  };
  // Whether any analysis of the pass needs block k's data (Analysis::NeedsBlock).
  auto needed = [&](int64_t k) {
    for (const PassStep& s : pass.steps)
      if (plan.analyses[static_cast<size_t>(s.analysis)]->NeedsBlock(s.pass, part.block_begin(k),
                                                                     part.block_end(k)))
        return true;
    return false;
  };
  // The dataset is read (and transformed) through the run's one descriptor
  // (source/dataset.h); only a writer's own temporary file (generate) is
  // opened by name, without following a symlink.
  FileDescriptor own;
  int fd = plan.dataset.fd();
  if (task.map_path != plan.dataset.path || fd < 0) {
    MM_ASSIGN_OR_RETURN(
        own, FileDescriptor::Open(task.map_path, (pass.writes ? O_RDWR : O_RDONLY) | O_NOFOLLOW, 0,
                                  Code::kIoErr));
    fd = own.get();
  }
  int64_t pause_after = task.attempt == 1 ? FaultValue("pause_after_rows") : -1;
  bool cold = pass.writes;  // write passes read ahead as before
  int64_t b = b0;
  while (b < b1) {
    if (!needed(b)) {
      // Blocks nobody reads are not mapped: Consume sees block.data == nullptr.
      BlockView block;
      block.begin = part.block_begin(b);
      block.end = part.block_end(b);
      block.block = b;
      MM_ASSIGN_OR_RETURN(PartialSet set, consume(block));
      tree.Push(0, b, std::move(set));
      ++b;
      continue;
    }
    // A window of whole needed blocks, at most kWindowBytes.
    int64_t e = b + 1;
    while (e < b1 && (part.block_end(e) - part.block_begin(b)) * item <= kWindowBytes && needed(e))
      ++e;
    const uint64_t first = part.block_begin(b), last = part.block_end(e - 1);
    MM_ASSIGN_OR_RETURN(
        MappedRegion window,
        MappedRegion::Map(fd, task.map_path, pass.writes, layout.offset + first * item,
                          (last - first) * item, Code::kIoErr));
    // A window whose pages are not all cached makes this a cold scan: it is
    // populated in one call, and from then on the kernel is asked to read
    // the next window while this one is processed, so I/O overlaps
    // computation. A warm scan does neither: its pages are mapped by the
    // first touches, and the read-ahead hint would cost a page-cache lookup
    // per page for nothing (docs/BENCHMARKS.md).
    if (!pass.writes && !window.LooksResident()) {
      cold = true;
      window.Populate();
    }
    // After Populate: MADV_SEQUENTIAL before it made cold scans 25 % slower.
    window.AdviseSequential();
    if (cold && e < b1) {
      const uint64_t next = layout.offset + last * item;
      const uint64_t until = layout.offset + part.block_end(b1 - 1) * item;
      ::posix_fadvise(fd, static_cast<off_t>(next),
                      static_cast<off_t>(std::min<uint64_t>(kWindowBytes, until - next)),
                      POSIX_FADV_WILLNEED);
    }
    BlockView whole;
    whole.data = window.data();
    whole.begin = first;
    whole.end = last;
    whole.block = b;
    for (const auto& scanner : scanners) MM_RETURN_IF_ERROR(scanner->BeginWindow(whole));
    for (int64_t k = b; k < e; ++k) {
      BlockView block;
      block.begin = part.block_begin(k);
      block.end = part.block_end(k);
      block.data = window.data() + (block.begin - first) * item;
      block.block = k;
      MM_ASSIGN_OR_RETURN(PartialSet set, consume(block));
      tree.Push(0, k, std::move(set));
    }
    for (const auto& scanner : scanners) MM_RETURN_IF_ERROR(scanner->EndWindow(whole));
    if (pass.writes) MM_RETURN_IF_ERROR(window.Flush(task.map_path));
    // A shrink inside the last page raises no SIGBUS (the tail reads as
    // zeros): compare the size with the plan's after every window.
    if (fd == plan.dataset.fd()) MM_RETURN_IF_ERROR(CheckNotShrunk(plan.dataset));
    const int64_t rows_done = static_cast<int64_t>(last / layout.row_elements()) - task.row_begin;
    progress(static_cast<uint64_t>(std::max<int64_t>(0, rows_done)));
    if (kill_after >= 0 && rows_done >= kill_after) ::kill(::getpid(), SIGKILL);
    if (exit_after >= 0 && rows_done >= exit_after) _exit(3);
    while (hang_after >= 0 && rows_done >= hang_after) ::pause();
    if (pause_after >= 0 && rows_done >= pause_after) {
      pause_after = -1;
      ::raise(SIGSTOP);  // once; the test resumes it with SIGCONT
    }
    b = e;
  }
  return EncodePayload(tree.nodes());
}

int RunWorker(const WorkerTask& task, const std::string& segment_name) {
  Result<Segment> seg = Segment::Open(segment_name);
  if (!seg.ok()) return seg.status().exit_code();
  Result<std::string> payload =
      ScanTask(task, [&](uint64_t rows) { seg->SetProgress(task.slot, rows); });
  if (!payload.ok()) {
    (void)seg->FailSlot(task.slot, task.attempt, payload.status().message());
    return payload.status().exit_code();
  }
  const Status st = seg->CommitSlot(task.slot, task.attempt, *payload);
  if (!st.ok()) {
    (void)seg->FailSlot(task.slot, task.attempt, st.message());
    return st.exit_code();
  }
  if (task.attempt == 1 && FaultEnabled("corrupt_slot")) seg->CorruptPayloadForTest(task.slot);
  return 0;
}

int RunSpawnedWorker(const std::string& segment_name, uint32_t slot, int dataset_fd) {
  InstallWorkerSignalHandlers();
  Result<Segment> seg = Segment::Open(segment_name);
  if (!seg.ok()) return seg.status().exit_code();
  if (slot >= seg->slots()) return static_cast<int>(Code::kUsage);
  Result<std::string> text = seg->ReadPlan();
  if (!text.ok()) return text.status().exit_code();
  Result<Json> j = ParseJson(*text, "plan", Code::kDataErr);
  if (!j.ok()) return j.status().exit_code();
  Result<std::unique_ptr<Plan>> plan = Plan::FromJson(*j);
  const segfmt::SlotEntry entry = seg->Entry(slot);
  if (!plan.ok()) {
    (void)seg->FailSlot(slot, entry.attempt, plan.status().message());
    return plan.status().exit_code();
  }
  if (dataset_fd >= 0) {
    const Status st = AdoptDatasetFd(&(*plan)->dataset, dataset_fd);
    if (!st.ok()) {
      (void)seg->FailSlot(slot, entry.attempt, st.message());
      return st.exit_code();
    }
  }
  WorkerTask task;
  task.plan = plan->get();
  task.pass = (*j)["pass"].get<int>();
  task.map_path = (*j)["map_path"].get<std::string>();
  task.slot = slot;
  task.attempt = entry.attempt;
  task.row_begin = static_cast<int64_t>(entry.row_begin);
  task.row_end = static_cast<int64_t>(entry.row_end);
  return RunWorker(task, segment_name);
}

}  // namespace mm
