#include "runner/recover.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "core/json_util.h"
#include "io/dataset_lock.h"
#include "io/files.h"
#include "io/journal.h"
#include "runner/commands.h"

namespace mm {

namespace {

// How long recover waits for the lock holders of a run that was just
// killed (its workers die with it, within milliseconds).
constexpr int kWaitMs = 5000;

Status Recover(const std::vector<std::string>& args) {
  if (args.size() != 1 || args[0].empty() || args[0][0] == '-')
    return Error(Code::kUsage, "recover takes one FILE (see mmrun --help)");
  const std::string path = AbsolutePath(args[0]);
  // The journal is found by the file's identity: FILE may be a symlink to
  // the dataset or a hard link of it.
  struct stat st;
  MM_ASSIGN_OR_RETURN(FileDescriptor fd,
                      OpenRegularFile(path, O_RDONLY, Code::kNoInput, Code::kNoInput, &st));
  MM_ASSIGN_OR_RETURN(std::string dir, FindJournal(path, fd.get()));
  Json j = Json::object();
  j["path"] = path;
  j["journal"] = dir.empty() ? JournalDirFor(path) : dir;
  if (!dir.empty()) {
    MM_RETURN_IF_ERROR(CheckJournalTrusted(dir, fd.get()));
    MM_ASSIGN_OR_RETURN(DatasetLock lock, DatasetLock::Acquire(path, /*exclusive=*/true, kWaitMs));
    MM_ASSIGN_OR_RETURN(dir,
                        FindJournal(path, lock.fd()));  // a run that finished meanwhile removed it
    if (!dir.empty()) {
      MM_ASSIGN_OR_RETURN(RollBackReport r, RollBack(path, lock.fd(), kWaitMs));
      j["recovered"] = true;
      j["files"] = r.files;
      j["records"] = r.records;
      j["bytes_restored"] = r.bytes;
      j["torn_records_ignored"] = r.torn;
      j["message"] =
          "restored the file to its state before the interrupted transform; journal removed";
    }
  }
  if (dir.empty()) {
    j["recovered"] = false;
    // A transform killed between its commit and the deletion of its journal
    // leaves a .committed-<hex> folder: the file holds the complete result.
    int leftovers = RemoveCommittedLeftovers(JournalDirFor(path), st.st_uid);
    const std::string mark = JournalMarkOf(fd.get());
    struct stat ms;
    if (!mark.empty() && ::lstat(mark.c_str(), &ms) == 0)
      return Error(Code::kDataErr,
                   path + ": the file's transform mark (xattr user.mmrun.journal) names " + mark +
                       ", which is not a valid journal of this file; the mark was left (remove it "
                       "with `setfattr -x user.mmrun.journal` only if the file is known good)");
    if (!mark.empty()) {
      if (mark != JournalDirFor(path)) leftovers += RemoveCommittedLeftovers(mark, st.st_uid);
      ClearJournalMark(fd.get(), mark);
      if (leftovers == 0)
        return Error(Code::kDataErr,
                     path + ": the journal of an interrupted transform (" + mark +
                         ") is gone: the file may be partly transformed and cannot be restored "
                         "(restore it from a copy); its transform mark was removed");
    }
    j["message"] = leftovers > 0
                       ? "no journal to recover: the last transform had committed (the file holds "
                         "its complete result); its leftover committed journal was removed"
                       : "no journal: nothing to recover, the file was not changed";
  }
  const std::string text = DumpDocument(j);
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0)
    return Error(Code::kIoErr, "cannot write to stdout");
  return Status::OK();
}

}  // namespace

Status RecoverCommand(const std::vector<std::string>& args) { return Recover(args); }

}  // namespace mm
