#include "engine/scan.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "core/fault.h"
#include "core/merge_tree.h"
#include "io/files.h"
#include "source/raw/raw_source.h"
#include "source/registry.h"

namespace mm {

namespace {

constexpr int kExitBusError = 74;

void OnSigbus(int) { _exit(kExitBusError); }

// The heap's settings (TuneHeapForWindows, BackHeapWithHugePages): requests
// above kMmapThreshold are mapped apart; a free top above kTrimThreshold is
// given back; the top reserved for huge pages is kHeapPad (kSmallHeapPad
// where address space counts), grown by a block of kGrow.
constexpr size_t kMmapThreshold = 4 * kWindowBytes;
constexpr size_t kTrimThreshold = 64 * kWindowBytes;
constexpr size_t kHeapPad = 32 * kWindowBytes;
constexpr size_t kSmallHeapPad = 4 * kWindowBytes;
constexpr size_t kGrow = 2 * kWindowBytes;
static_assert(kGrow < kMmapThreshold, "the growing block must come from the heap's top");
static_assert(kHeapPad + kGrow < kTrimThreshold,
              "a reserved top above the trim threshold "
              "would be given back at the first free");

// True when untouched address space is not free: the kernel commits it
// (vm.overcommit_memory = 2, as some clusters set it) or the process has
// an address-space limit (ulimit -v, a batch system's h_vmem). There a
// large reserve of heap would count against every worker.
bool AddressSpaceCounts() {
  struct rlimit as;
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) return true;
  const int fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char c = 0;
  const bool strict = read(fd, &c, 1) == 1 && c == '2';
  close(fd);
  return strict;
}

}  // namespace

// The heap's first touch in 4 KiB pages was a third of a worker's time on
// the netCDF-4 time mean (32,000 faults of ~5 us each on a VM: lane columns
// and decoded windows growing to their peak): the heap's top is grown by
// a pad of address space (no memory) and that range marked for
// transparent huge pages, 512 times fewer faults. The pad is 512 MiB:
// per-lane state of hundreds of thousands of lanes reaches a few hundred
// MB (64 MiB of pad left the rest in 4 KiB pages: per-column stats of
// 4 x 500,000 int64 took twice as long), and it stays below the trim
// threshold (TuneHeapForWindows), which a larger free top would cross,
// giving the range back at the first free. 64 MiB where address space
// counts (AddressSpaceCounts). It changes nothing where the kernel's THP
// setting is "never", where glibc refuses a 64 MiB mmap threshold (older
// versions cap it at 32 MiB, and the grown block is then mapped, not
// carved from the top; Debian 12's 2.36 takes it), or when the heap is
// not one contiguous brk range (sanitizers).
void BackHeapWithHugePages() {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  constexpr int kDefaultTopPad = 128 << 10;  // glibc's
#if defined(__SANITIZE_ADDRESS__)
  return;  // the sanitizer's allocator owns the heap: nothing to reserve
#endif
  static const size_t pad = AddressSpaceCounts() ? kSmallHeapPad : kHeapPad;
  // glibc's MALLOC_PERTURB_ fills the block on malloc and free: it would
  // stay resident (32 MiB).
  if (std::getenv("MALLOC_PERTURB_") != nullptr) return;
  mallopt(M_TOP_PAD, static_cast<int>(pad));
  char* const before = static_cast<char*>(sbrk(0));
  // Below the mmap threshold: carved from the top, which grows by the pad.
  void* const grow = std::malloc(kGrow);
  char* const after = static_cast<char*>(sbrk(0));
  const auto at = reinterpret_cast<uintptr_t>(grow);
  // The block starts at the old top, below `before`, and ends in the grown part.
  if (grow != nullptr && before != reinterpret_cast<char*>(-1) && after > before &&
      at < reinterpret_cast<uintptr_t>(before) + kGrow &&
      at + kGrow <= reinterpret_cast<uintptr_t>(after)) {
    const uintptr_t lo = (at + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t hi = reinterpret_cast<uintptr_t>(after) & ~(kHuge - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
  std::free(grow);
  // Later growth of the heap (past the range reserved here) as usual.
  mallopt(M_TOP_PAD, kDefaultTopPad);
}

void TuneHeapForWindows() {
  // A window's buffers (up to kWindowBytes each) and a payload's columns
  // come back from the heap with their pages, instead of a fresh mapping
  // whose every page faults and is zeroed (glibc maps requests above its
  // threshold, and its adaptive threshold never covers a request of the
  // freed size): that was a sixth of a worker's time on 1 MB chunks. What
  // the heap keeps is what the process already used. Its free top is given
  // back only past 1 GiB: per-lane partials of many lanes (a tree node of
  // 500,000 lanes takes 44 MB) rise and fall by more than a few windows
  // each row, and a heap trimmed at 128 MiB faulted 190,000 pages back in
  // (a quarter of the time of stats over axis 0 of 64 x 500,000 int64; the
  // peak is the same). The coordinator trims between passes (malloc_trim).
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThreshold));
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThreshold));
  BackHeapWithHugePages();
}

void SetUpWorkerProcess() {
  TuneHeapForWindows();
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSigbus;
  sigaction(SIGBUS, &sa, nullptr);
}

namespace {

// The view of storage indices [begin, end) at `data` (block `block` first);
// `box`: a chunk block's extent (nullptr for row blocks and windows of them).
BlockView View(char* data, uint64_t begin, uint64_t end, int64_t block, const Box* box = nullptr) {
  BlockView c;
  c.data = data;
  c.begin = begin;
  c.end = end;
  c.block = block;
  c.box = box;
  return c;
}

}  // namespace

Result<std::string> ScanSource(const WorkerTask& task, Source* source,
                               const std::function<void(uint64_t)>& progress) {
  const Plan& plan = *task.plan;
  const PassPlan& pass = plan.passes[static_cast<size_t>(task.pass)];
  const Partition& part = source->partition();
  const uint64_t item = static_cast<uint64_t>(source->layout().dtype.itemsize());
  const uint64_t row_elements = source->layout().row_elements();
  const int64_t b0 = part.first_block_of_row(task.row_begin),
                b1 = part.first_block_of_row(task.row_end);
  const int64_t kill_after = task.attempt == 1 ? FaultValue("kill_after_rows") : -1;
  const int64_t exit_after = task.attempt == 1 ? FaultValue("exit_after_rows") : -1;
  const int64_t hang_after = task.attempt == 1 ? FaultValue("hang_after_rows") : -1;
  const int64_t throw_after = task.attempt == 1 ? FaultValue("throw_after_rows") : -1;
  NodeTree tree;
  auto needed = [&](int64_t k) { return plan.BlockNeeded(task.pass, k); };
  // The worker-side state of each step of the pass, for this task's blocks.
  std::vector<std::unique_ptr<Scanner>> scanners;
  // exact_merge analyses: one partial for all the task's blocks.
  std::vector<std::unique_ptr<Partial>> folds;
  for (const PassStep& s : pass.steps) {
    const Analysis& a = *plan.analyses[static_cast<size_t>(s.analysis)];
    scanners.push_back(a.NewScanner(s.pass));
    folds.push_back(a.capabilities().exact_merge ? a.NewPartial(s.pass) : nullptr);
  }
  // Feeds block k (data: its bytes, or nullptr when nobody needs them) to
  // every scanner of the pass, each into a fresh partial, and pushes the
  // partials into the tree.
  // Chunk blocks' boxes (source/partition.h BlockBox), one per block of the
  // current window (or the one block outside any window), which the block
  // views point to; empty for row blocks, whose views carry no box.
  // With a driver that reads parts of blocks (Source::ReadsParts: chunk
  // blocks, or blocks of whole rows), a needed block's box is the part the
  // pass reads (Plan::BlockPart), and its data only that part's elements.
  // Row blocks carry that box only in windows of parts.
  const bool parts = (part.chunked() || part.rows_per_block() > 0) && !pass.writes &&
                     source->ReadsParts() && plan.PassReadsParts(task.pass);
  auto box_to_read = [&](int64_t k) {
    return parts && needed(k) ? plan.BlockPart(task.pass, k) : *part.BlockBox(k);
  };
  auto elements_to_read = [&](int64_t k) {
    return parts ? box_to_read(k).elements() : part.block_elements(k);
  };
  std::vector<Box> boxes;
  auto load_boxes = [&](int64_t first, int64_t end) {
    boxes.clear();
    if (part.chunked() || parts)
      for (int64_t k = first; k < end; ++k) boxes.push_back(box_to_read(k));
  };
  auto box_of = [&](int64_t k, int64_t first) {
    return boxes.empty() ? nullptr : &boxes[static_cast<size_t>(k - first)];
  };
  // The view of block k's data whose box (nullptr: a row block) is `box`.
  auto view_of = [&](int64_t k, char* data, const Box* box) {
    if (parts && box != nullptr) {
      const auto [begin, end] = StorageSpan(source->layout(), *box);
      return View(data, begin, end, k, box);
    }
    return View(data, part.block_begin(k), part.block_end(k), k, box);
  };
  auto consume = [&](int64_t k, char* data, const Box* box) -> Status {
    const BlockView block = view_of(k, data, box);
    PartialSet set;
    for (size_t i = 0; i < pass.steps.size(); ++i) {
      const PassStep& s = pass.steps[i];
      set.parts.push_back(plan.analyses[static_cast<size_t>(s.analysis)]->NewPartial(s.pass));
      Partial* into = folds[i] ? folds[i].get() : set.parts.back().get();
      MM_RETURN_IF_ERROR(scanners[i]->Consume(block, into));
    }
    tree.Push(0, k, std::move(set));
    return Status::OK();
  };
  source->WillRead(b0, b1);
  int64_t pause_after = task.attempt == 1 ? FaultValue("pause_after_rows") : -1;
  // A written window's close may wait for the next window's read and
  // BeginWindow calls, when a scanner asks (Scanner::CloseBehind: a
  // journal's record of the next window is made durable while this one is
  // written back); other passes close each window before the next is read.
  // Two windows alive take smaller ones (kCloseBehindWindowBytes).
  bool close_behind = false;
  if (pass.writes)
    for (const auto& scanner : scanners) close_behind = close_behind || scanner->CloseBehind();
  const uint64_t window_bytes =
      close_behind ? std::min(kCloseBehindWindowBytes, source->window_bytes(pass.writes))
                   : source->window_bytes(pass.writes);
  struct Open {
    std::unique_ptr<Window> window;
    std::vector<BlockView> runs;
    std::vector<Box> boxes;  // what its runs' chunk boxes point into
    int64_t end = 0;         // one past its last block
  };
  Open closing;
  auto close = [&](Open* w) -> Status {
    if (!w->window) return Status::OK();
    if (pass.writes)
      for (const BlockView& run : w->runs)
        for (const auto& scanner : scanners) MM_RETURN_IF_ERROR(scanner->BeforeClose(run));
    // Durable (writes) and still whole: a shrink inside the last page
    // raises no SIGBUS, so a mapped or decoded window compares the size
    // (a copied one failed its read already).
    MM_RETURN_IF_ERROR(w->window->Close());
    w->window.reset();  // freed before the next window is read (or, closing behind, the one after)
    // Rows done: those before the next block's first row (chunk blocks:
    // the layers of the grid finished so far).
    const int64_t e = w->end;
    const int64_t next_row = !part.chunked()
                                 ? static_cast<int64_t>(part.block_end(e - 1) / row_elements)
                                 : (e < part.blocks() ? part.BlockBox(e)->start[0] : part.rows());
    const int64_t rows_done = next_row - task.row_begin;
    progress(static_cast<uint64_t>(std::max<int64_t>(0, rows_done)));
    if (kill_after >= 0 && rows_done >= kill_after) ::kill(::getpid(), SIGKILL);
    if (exit_after >= 0 && rows_done >= exit_after) _exit(3);
    if (throw_after >= 0 && rows_done >= throw_after)
      throw std::runtime_error("test fault throw_after_rows");
    while (hang_after >= 0 && rows_done >= hang_after) ::pause();
    if (pause_after >= 0 && rows_done >= pause_after) {
      pause_after = -1;
      ::raise(SIGSTOP);  // once; the test resumes it with SIGCONT
    }
    return Status::OK();
  };
  int64_t b = b0;
  while (b < b1) {
    if (!needed(b)) {
      // Blocks nobody reads are in no window: Consume sees block.data == nullptr.
      load_boxes(b, b + 1);
      if (!part.chunked()) boxes.clear();  // a row block not read: no box
      MM_RETURN_IF_ERROR(consume(b, nullptr, box_of(b, b)));
      ++b;
      continue;
    }
    // A window of whole needed blocks whose elements take at most
    // window_bytes (a chunk block's elements, not its hull).
    int64_t e = b + 1;
    uint64_t bytes = elements_to_read(b) * item;
    while (e < b1 && needed(e)) {
      const uint64_t more = elements_to_read(e) * item;
      if (bytes + more > window_bytes) break;
      bytes += more;
      ++e;
    }
    Open open;
    load_boxes(b, e);
    bool whole = true;
    for (int64_t k = b; parts && k < e; ++k) whole = whole && *box_of(k, b) == *part.BlockBox(k);
    if (whole) {
      if (!part.chunked()) boxes.clear();  // row blocks read whole: no box
      MM_ASSIGN_OR_RETURN(open.window, source->ReadWindow(b, e - b, pass.writes));
    } else {
      MM_ASSIGN_OR_RETURN(open.window, source->ReadParts(b, boxes));
    }
    open.end = e;
    // The window hooks see whole blocks: the window's one storage-order run
    // when its blocks are adjacent in memory, else each block alone (a chunk
    // block with its box).
    Window* window = open.window.get();
    std::vector<BlockView>& runs = open.runs;
    if (window->Contiguous() != nullptr) {
      runs.push_back(View(window->Contiguous(), part.block_begin(b), part.block_end(e - 1), b));
    } else {
      for (int64_t k = b; k < e; ++k)
        runs.push_back(view_of(k, window->BlockData(k), box_of(k, b)));
    }
    for (const BlockView& run : runs)
      for (const auto& scanner : scanners) MM_RETURN_IF_ERROR(scanner->BeginWindow(run));
    MM_RETURN_IF_ERROR(close(&closing));
    for (int64_t k = b; k < e; ++k)
      MM_RETURN_IF_ERROR(consume(k, window->BlockData(k), box_of(k, b)));
    for (const BlockView& run : runs)
      for (const auto& scanner : scanners) MM_RETURN_IF_ERROR(scanner->EndWindow(run));
    if (close_behind) {
      open.boxes.swap(boxes);  // its runs' boxes outlive the next load_boxes
      closing = std::move(open);
    } else {
      MM_RETURN_IF_ERROR(close(&open));
    }
    b = e;
  }
  MM_RETURN_IF_ERROR(close(&closing));
  // Written windows only started their writeback: durable before the
  // payload (the worker's commit) is made.
  if (pass.writes) MM_RETURN_IF_ERROR(source->SyncWrites());
  scanners.clear();  // their working memory, before the payload's text is made
  std::vector<NodeTree::Node> nodes = tree.TakeNodes();
  // The folded partials go to the first node, whose own are empty: merged
  // exactly, the tree's result is the same.
  for (size_t i = 0; i < folds.size(); ++i)
    if (folds[i] && !nodes.empty()) nodes.front().value.parts[i] = std::move(folds[i]);
  return EncodePayload(std::move(nodes));
}

Result<std::unique_ptr<Source>> OpenTaskSource(const WorkerTask& task) {
  const Plan& plan = *task.plan;
  const bool writes = plan.passes[static_cast<size_t>(task.pass)].writes;
  // The dataset is read (and transformed) through the run's one descriptor
  // (source/dataset.h); only a writer's own temporary file (generate: raw,
  // .npy or HDF5, the dataset's layout at the writer's offset) is opened by
  // name, without following a symlink, and checked to be the file the
  // coordinator created.
  if (task.map_path == plan.dataset.path) return OpenSource(plan.dataset, writes);
  MM_ASSIGN_OR_RETURN(FileDescriptor own,
                      FileDescriptor::Open(task.map_path, (writes ? O_RDWR : O_RDONLY) | O_NOFOLLOW,
                                           0, Code::kIoErr));
  Layout layout = plan.dataset.layout;
  if (writes) {
    const Analysis& writer = *plan.analyses[static_cast<size_t>(
        plan.passes[static_cast<size_t>(task.pass)].steps[0].analysis)];
    if (const std::optional<FileId> id = writer.WriteFileId())
      MM_RETURN_IF_ERROR(
          CheckFileId(own.get(), *id, plan.dataset.path + " (temporary " + task.map_path + ")"));
    layout.offset = writer.WriteOffset();
  }
  return OpenRawFile(std::make_shared<FileDescriptor>(std::move(own)), task.map_path, layout,
                     plan.partition, 0);
}

Result<std::string> ScanTask(const WorkerTask& task,
                             const std::function<void(uint64_t)>& progress) {
  if (task.attempt == 1 && FaultEnabled("pause_before_open")) ::raise(SIGSTOP);
  MM_ASSIGN_OR_RETURN(std::unique_ptr<Source> source, OpenTaskSource(task));
  return ScanSource(task, source.get(), progress);
}

int RunWorker(const WorkerTask& task, const std::string& segment_name) {
  Result<Segment> seg = Segment::Open(segment_name);
  if (!seg.ok()) return seg.status().exit_code();
  // An exception nothing below catches (std::bad_alloc, a JSON library's)
  // fails the slot with its text: a forked child must never unwind into
  // the coordinator's frames it was forked from.
  Result<std::string> payload = Error(Code::kWorkerFailed, "internal error");
  try {
    payload = ScanTask(task, [&](uint64_t rows) { seg->SetProgress(task.slot, rows); });
  } catch (const std::exception& e) {
    payload = FromException(e);
  }
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
  SetUpWorkerProcess();
  Result<Segment> seg = Segment::Open(segment_name);
  if (!seg.ok()) return seg.status().exit_code();
  if (slot >= seg->slots()) return static_cast<int>(Code::kUsage);
  Result<std::string> text = seg->ReadPlan();
  if (!text.ok()) return text.status().exit_code();
  const segfmt::SlotEntry entry = seg->Entry(slot);
  Result<Json> j = DecodeFramed(std::move(*text), "plan", Code::kDataErr);
  if (!j.ok()) {
    (void)seg->FailSlot(slot, entry.attempt, j.status().message());
    return j.status().exit_code();
  }
  Result<std::unique_ptr<Plan>> plan = Plan::FromJson(*j);
  if (plan.ok() && !(j->contains("map_path") && (*j)["map_path"].is_string()))
    plan = Error(Code::kDataErr, "plan: malformed");
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
  task.pass = j->value("pass", 0);  // checked by FromJson
  task.map_path = (*j)["map_path"].get<std::string>();
  *j = Json();  // the pass inputs are in the plan now (normalize's columns: MBs)
  task.slot = slot;
  task.attempt = entry.attempt;
  task.row_begin = static_cast<int64_t>(entry.row_begin);
  task.row_end = static_cast<int64_t>(entry.row_end);
  return RunWorker(task, segment_name);
}

}  // namespace mm
