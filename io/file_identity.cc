#include "io/file_identity.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <utility>

#include "io/files.h"

namespace mm {

namespace {

std::vector<std::pair<NamedFile, FileKey>>& Registry() {
  static std::vector<std::pair<NamedFile, FileKey>> inputs;
  return inputs;
}

std::vector<std::pair<NamedFile, FileKey>>& Outputs() {
  static std::vector<std::pair<NamedFile, FileKey>> outputs;
  return outputs;
}

FileKey FromStat(const struct stat& st) {
  FileKey k;
  k.exists = true;
  k.dev = static_cast<uint64_t>(st.st_dev);
  k.ino = static_cast<uint64_t>(st.st_ino);
  k.mode = st.st_mode;
  return k;
}

const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

Status Check(const NamedFile& output, const FileKey& out,
             const std::vector<std::pair<NamedFile, FileKey>>& inputs,
             const char* why = "; writing it would destroy the input", bool check_kind = true) {
  if (check_kind && UnderDevOrProc(AbsolutePath(output.path)))
    return Error(Code::kCantCreate,
                 output.what + " " + output.path +
                     ": is under /dev or /proc; mmrun writes an output under a temporary name "
                     "and renames it into place, which would replace the entry there (name a "
                     "regular file, or leave the output out for stdout)");
  if (check_kind && !output.path.empty() && output.path.back() == '/')
    return Error(Code::kCantCreate, output.what + " " + output.path +
                                        ": ends with '/', which names a folder; name a file");
  if (check_kind && out.exists && !S_ISREG(out.mode))
    return Error(Code::kCantCreate, output.what + " " + output.path + ": exists and is " +
                                        KindOf(out.mode) + "; mmrun only replaces regular files");
  for (const auto& in : inputs) {
    if (!out.SameFile(in.second)) continue;
    return Error(Code::kConfig, output.what + " " + output.path + ": is the same file as " +
                                    in.first.what + " " + in.first.path + why);
  }
  return Status::OK();
}

}  // namespace

bool FileKey::SameFile(const FileKey& o) const {
  if (exists != o.exists) return false;
  if (exists) return dev == o.dev && ino == o.ino;
  if (folder_known && o.folder_known)
    return folder_dev == o.folder_dev && folder_ino == o.folder_ino && name == o.name;
  return resolved == o.resolved;
}

FileKey KeyOfPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return FromStat(st);
  FileKey k;
  const std::string abs = AbsolutePath(path);
  const size_t slash = abs.rfind('/');
  const std::string dir = DirName(abs), name = abs.substr(slash + 1);
  char buf[PATH_MAX];
  const std::string real_dir = ::realpath(dir.c_str(), buf) != nullptr ? std::string(buf) : dir;
  k.resolved = (real_dir == "/" ? "" : real_dir) + "/" + name;
  struct stat ds;
  if (::stat(dir.c_str(), &ds) == 0 && S_ISDIR(ds.st_mode)) {
    k.folder_known = true;
    k.folder_dev = static_cast<uint64_t>(ds.st_dev);
    k.folder_ino = static_cast<uint64_t>(ds.st_ino);
    k.name = name;
  }
  return k;
}

FileKey KeyOfFd(int fd, const std::string& path) {
  struct stat st;
  if (fd >= 0 && ::fstat(fd, &st) == 0) return FromStat(st);
  return KeyOfPath(path);
}

Status CheckOutput(const NamedFile& output, const std::vector<NamedFile>& inputs) {
  std::vector<std::pair<NamedFile, FileKey>> keyed;
  for (const NamedFile& in : inputs) keyed.emplace_back(in, KeyOfPath(in.path));
  return Check(output, KeyOfPath(output.path), keyed);
}

void RegisterInput(const NamedFile& input, const FileKey& key) {
  Registry().emplace_back(input, key);
}

void ForgetInputs() {
  Registry().clear();
  Outputs().clear();
}

Status RegisterOutput(const NamedFile& output, bool must_be_regular, const char* why) {
  const FileKey key = KeyOfPath(output.path);
  MM_RETURN_IF_ERROR(Check(output, key, Registry(),
                           why ? why : "; writing it would destroy the input", must_be_regular));
  MM_RETURN_IF_ERROR(Check(output, key, Outputs(),
                           why ? why : "; one run cannot write two outputs to one file", false));
  Outputs().emplace_back(output, key);
  return Status::OK();
}

Status CheckOutputAgainstInputs(const NamedFile& output) {
  return Check(output, KeyOfPath(output.path), Registry());
}

}  // namespace mm
