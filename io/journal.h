// The rollback journal of in-place transforms (SPEC §3 `transform`),
// format in journal_format.h and docs/JOURNAL_FORMAT.md.
//
// Protocol, as SQLite's rollback journal: the coordinator creates the
// journal folder R.mmrun-journal/ beside the real file R (mode 0700, with a
// manifest binding it to R's device and inode) durably before any worker
// may write. Before a worker changes a window of DATA it appends the
// window's original bytes as one record to its own journal file (listed in
// the manifest), makes the record durable (fdatasync) and counts it (a
// count slot, fdatasync); only then are the window's changes written to
// DATA (the sync and the count may run on a second thread while the worker
// changes the window in memory: Write, then Commit). The folder is removed
// only once every pass of the run is complete and durable. So at any
// moment, every byte of DATA that differs from its state before the run
// lies inside a durable, counted record, RollBack restores DATA byte for
// byte, and a journal missing any part of that is refused.
//
// Process-safety: each worker writes only its own file and holds an OFD
// write lock on it while it lives; RollBack takes those locks first, so it
// never restores under a worker that is still writing. Callers of RollBack
// must hold the dataset's exclusive lock (dataset_lock.h).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/files.h"

namespace mm {

// The journal's masked CRC-32C (core/checksum.h Crc32c; docs/JOURNAL_FORMAT.md).
uint32_t MaskCrc(uint32_t crc);
uint32_t UnmaskCrc(uint32_t masked);

// R.mmrun-journal, where R is the real file behind `dataset_path`
// (absolute; every symlink resolved, or the path itself when it cannot be
// resolved). The journal's place never depends on the spelling of the path.
std::string JournalDirFor(const std::string& dataset_path);
// True when anything exists under the name JournalDirFor(dataset_path).
bool JournalExists(const std::string& dataset_path);

struct DatasetIdentity {
  uint64_t dev = 0, ino = 0, size = 0;
};
// Identity of the open file `fd`; kIoErr naming `path` on failure.
Result<DatasetIdentity> IdentityOf(int fd, const std::string& path);

// The journal folder of the dataset open as `data_fd` (named `dataset_path`),
// found by the file's identity: JournalDirFor(dataset_path) if anything by
// that name exists, else a journal folder in the real file's folder whose
// manifest names this file's device and inode (looked for only when the
// file has several hard links: the journal of a transform run through
// another link in the same folder). "" when there is none. Folders that fail CheckJournalTrusted
// are skipped in that search (never the one by the file's own name).
Result<std::string> FindJournal(const std::string& dataset_path, int data_fd);

// A journal folder is trusted only when it is a real folder (opened with
// O_NOFOLLOW, never through a symlink) owned by the dataset's owner, by
// this process's user or by root, and not writable by group or others; the same holds
// for every file read from it. Errors: kNoPerm naming `dir` and why.
Status CheckJournalTrusted(const std::string& dir, int data_fd);

// Coordinator: creates the journal folder (mode 0700) and its manifest and
// makes both durable, then marks the run's open dataset `data_fd` (if >= 0)
// with the folder's path (JournalMarkOf), durably. Calling it again in the same process for the
// same dataset is a no-op (two transforms in one config share the folder). Removes committed
// leftovers of earlier runs first (never through a symlink). Errors: kCantCreate (or kNoPerm)
// naming the folder; kDataErr if a trusted folder this process did not create already exists (a
// stale journal), kNoPerm if an untrusted thing has its name.
Status CreateJournalDir(const std::string& dataset_path, int data_fd = -1);
// The commit: renames the folder to a fresh R.mmrun-journal.committed-<hex>
// name, makes that durable, removes the mark of `data_fd` (if >= 0), then deletes it with
// openat/unlinkat (never following a symlink; only a folder owned by this process's user, or by the
// dataset's owner when run as root). A missing folder is not an error; anything else under the
// journal's name (a symlink, a foreign folder) is kNoPerm and left alone.
Status RemoveJournalDir(const std::string& dataset_path, int data_fd = -1);
// Removes the R.mmrun-journal.committed-<hex> leftovers of transforms that
// committed but were killed before deleting them (same trust rules as
// RemoveJournalDir: real folders of ours only, never through a symlink;
// anything else is left alone). Returns how many were removed; never fails.
// Test hook: MMRUN_TEST_FAULT="journal_hold_after_commit=1" makes the
// coordinator sleep for ever between the commit (rename) and the deletion.
int RemoveCommittedLeftovers(const std::string& journal_dir, uid_t data_owner);
// Whether the transform that marked the open dataset `data_fd` with
// `journal_dir` committed: `journal_dir` is absolute and gone, and a
// R.mmrun-journal.committed-<hex> leftover of it is a trusted folder
// (CheckJournalTrusted) whose manifest names this file's device and inode.
// (CreateJournalDir sweeps older leftovers before it marks the file, so such
// a leftover is the marked run's.) Then the file holds its complete result.
bool HasCommittedLeftover(const std::string& journal_dir, int data_fd);

// The mark of a transform on the data file itself (xattr user.mmrun.journal,
// set durably by CreateJournalDir before any window changes, removed at the
// commit and by RollBack): the absolute path of its journal folder, so runs
// through a hard link in another folder find it. "" when there is none or
// the filesystem has no user xattrs (then only names in the real file's
// folder are searched).
std::string JournalMarkOf(int data_fd);
// Removes the mark of `data_fd` if it names `dir` (best effort).
void ClearJournalMark(int data_fd, const std::string& dir);

// DIR/w<pid>-a<analysis>.jnl: the journal file of worker `pid` for the
// transform at index `analysis` of the config.
std::string JournalFilePath(const std::string& dataset_path, pid_t pid, uint32_t analysis);

// A worker's journal file: created on first use, records appended durably.
// One per worker process and transform; not thread-safe, except that
// Commit may run on another thread than the other calls (below).
class JournalWriter {
 public:
  // Creates DIR/w<pid>-a<analysis>.jnl with the dataset's permission bits
  // (plus owner read-write; the folder is 0700 anyway), locks it, writes
  // and syncs its header and count slots and the folder, then lists it in
  // the manifest (synced). Errors: kCantCreate / kNoPerm / kIoErr; kDataErr
  // when the manifest is missing or names another file.
  static Result<std::unique_ptr<JournalWriter>> Create(const std::string& dataset_path,
                                                       const DatasetIdentity& id,
                                                       uint32_t coordinator_pid, uint32_t analysis);
  // Appends one record holding `length` original bytes of DATA at `offset`
  // in two halves, so the wait for the disk can overlap other work. Write
  // puts the record in the file (the caller may change `data` once it
  // returns); Commit makes it durable, then counts it (count slot, synced),
  // and returns only once it is durable and counted. Commit may run on
  // another thread than Write, never at the same time as any other call;
  // one record at a time: Write, Commit, Write, ... (kWorkerFailed
  // otherwise), so a file never holds more than one uncounted record.
  // Errors: kCantCreate for a full disk (ENOSPC, EDQUOT), else kIoErr; a
  // failed append may leave a torn tail, which readers ignore.
  // Test hooks (MMRUN_TEST_FAULT): "journal_enospc=N" fails Write after N
  // counted records in this process with ENOSPC; "journal_hold_after=N"
  // makes Commit sleep for ever once N records are counted (tests observe
  // and kill a transform at a known point); "journal_commit_ms=N" makes
  // every Commit wait N ms before it syncs and counts (tests see that a
  // window waits for its count).
  Status Write(uint64_t offset, const char* data, uint64_t length);
  Status Commit();
  const std::string& path() const { return path_; }
  uint64_t records() const { return seq_; }

 private:
  FileDescriptor fd_;
  std::string path_;
  uint64_t pos_ = 0;
  uint64_t written_ = 0;  // bytes of the record written and not yet counted
  uint64_t seq_ = 0;
  int64_t fail_after_ = -1;
  int64_t hold_after_ = -1;
  int64_t commit_delay_ms_ = -1;
};

// One record of a journal file as read back.
struct JournalRecord {
  uint64_t seq = 0;
  uint64_t offset = 0;  // in DATA
  uint64_t length = 0;
  uint64_t data_pos = 0;  // where the original bytes start in the journal file
  uint32_t data_crc = 0;  // unmasked
};

struct JournalFile {
  std::string path;
  DatasetIdentity id;
  uint32_t coordinator_pid = 0, worker_pid = 0, analysis = 0;
  uint64_t nonce = 0;
  uint64_t counted = 0;  // the record count of the newest valid count slot
  std::vector<JournalRecord> records;
  bool torn_tail = false;  // an uncounted last record cut short or failing its checksum (ignored)
  bool uncounted =
      false;  // records holds one complete, valid record past the count (restoring it is harmless)
  bool empty = false;  // shorter than its header and count slots: never held a record
};

// Reads a journal file. Every counted record must be present and its header
// checksum must hold (and its data checksum, with `verify_data`). Without
// `verify_data` only the counted records are read (a live writer may be
// appending). With it, one record past the count is allowed: kept when it
// is complete and valid, else dropped and flagged as a torn tail; anything
// after it is corruption. Errors: kDataErr naming the file and the byte
// position for a bad magic, version, checksum, record number, no valid
// count slot, or fewer records than counted; kIoErr for read errors.
Result<JournalFile> ReadJournalFile(int fd, const std::string& path, bool verify_data);

struct RollBackReport {
  int files = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t torn = 0;  // torn tails ignored
};

// Restores DATA (open read-write as `data_fd`) from every file of its
// journal (FindJournal): newest transform (highest analysis index) first,
// each file's records in reverse order; fsyncs DATA, then removes the
// folder. The folder and every file must be trusted (CheckJournalTrusted);
// every file is locked (waiting up to `wait_ms` for a dying worker), read
// and fully verified, and the set of files must match the manifest, before
// the first byte of DATA is written, so an incomplete, corrupt, foreign or
// planted journal changes nothing. Errors: kLocked (a live process still
// writes the journal), kNoPerm (untrusted folder or file), kDataErr
// (corrupt or incomplete journal, or one written for another file or run),
// kIoErr.
Result<RollBackReport> RollBack(const std::string& dataset_path, int data_fd, int wait_ms);

// Worker side of a retry: the records that earlier (dead) attempts wrote
// for transform `analysis`, so a retried range is first put back to its
// state before the pass. Loaded once, lazily.
class JournalReplay {
 public:
  JournalReplay(std::string dataset_path, uint32_t analysis, std::string own_path)
      : dataset_path_(std::move(dataset_path)),
        analysis_(analysis),
        own_path_(std::move(own_path)) {}
  // Copies the original bytes of every record that intersects DATA's bytes
  // [offset, offset + length) into `window` (which maps exactly those
  // bytes). Sets *restored to the bytes copied. Records are verified before
  // use; a corrupt one is kDataErr.
  Status RestoreInto(char* window, uint64_t offset, uint64_t length, uint64_t* restored);

 private:
  struct Source {
    std::string path;
    JournalRecord rec;
  };
  Status Load();
  std::string dataset_path_;
  uint32_t analysis_;
  std::string own_path_;
  bool loaded_ = false;
  std::vector<Source> sources_;
};

}  // namespace mm
