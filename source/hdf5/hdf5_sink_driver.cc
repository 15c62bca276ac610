#include "source/hdf5/hdf5_sink_driver.h"

#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/files.h"

namespace mm {
namespace {

// What the file access list carries (copied by libhdf5 as plain bytes).
struct SinkInfo {
  Hdf5FileSink* sink;
};

// One open file of the driver; `pub` first, as libhdf5 requires.
struct SinkFile {
  H5FD_t pub;
  Hdf5FileSink* sink;
  haddr_t eoa;  // libhdf5's end of allocation
  haddr_t eof;  // the file's size: its size when opened, then the highest byte written
  dev_t dev;
  ino_t ino;
};

constexpr haddr_t kMaxAddr = (haddr_t{1} << 62) - 1;

// libhdf5 sees a failure as a negative return; the sink keeps the reason.
void Keep(Hdf5FileSink* sink, Status st) {
  if (sink->error.ok()) sink->error = std::move(st);
}

H5FD_t* SinkOpen(const char*, unsigned flags, hid_t fapl, haddr_t maxaddr) {
  const auto* info = static_cast<const SinkInfo*>(H5Pget_driver_info(fapl));
  if (info == nullptr || info->sink == nullptr || maxaddr == 0 || maxaddr == HADDR_UNDEF)
    return nullptr;
  Hdf5FileSink* sink = info->sink;
  if ((flags & H5F_ACC_TRUNC) != 0 && ::ftruncate(sink->fd, 0) != 0) {
    Keep(sink, FromErrno(errno, sink->name + ": truncate", Code::kCantCreate));
    return nullptr;
  }
  struct stat st;
  if (::fstat(sink->fd, &st) != 0) {
    Keep(sink, FromErrno(errno, sink->name + ": fstat", Code::kIoErr));
    return nullptr;
  }
  auto* f = new SinkFile();
  f->sink = sink;
  f->eoa = 0;
  f->eof = static_cast<haddr_t>(st.st_size);
  f->dev = st.st_dev;
  f->ino = st.st_ino;
  return &f->pub;
}

herr_t SinkClose(H5FD_t* file) {
  delete reinterpret_cast<SinkFile*>(file);
  return 0;
}

int SinkCmp(const H5FD_t* a, const H5FD_t* b) {
  const auto* f1 = reinterpret_cast<const SinkFile*>(a);
  const auto* f2 = reinterpret_cast<const SinkFile*>(b);
  if (f1->dev != f2->dev) return f1->dev < f2->dev ? -1 : 1;
  if (f1->ino != f2->ino) return f1->ino < f2->ino ? -1 : 1;
  return 0;
}

// The flags of libhdf5's sec2 driver that decide where it places things
// (aggregated metadata and small raw data, the metadata accumulator, data
// sieving), so a file written through the sink has sec2's bytes.
herr_t SinkQuery(const H5FD_t*, unsigned long* flags) {
  if (flags != nullptr)
    *flags = H5FD_FEAT_AGGREGATE_METADATA | H5FD_FEAT_ACCUMULATE_METADATA | H5FD_FEAT_DATA_SIEVE |
             H5FD_FEAT_AGGREGATE_SMALLDATA;
  return 0;
}

haddr_t SinkGetEoa(const H5FD_t* file, H5FD_mem_t) {
  return reinterpret_cast<const SinkFile*>(file)->eoa;
}

herr_t SinkSetEoa(H5FD_t* file, H5FD_mem_t, haddr_t addr) {
  reinterpret_cast<SinkFile*>(file)->eoa = addr;
  return 0;
}

haddr_t SinkGetEof(const H5FD_t* file, H5FD_mem_t) {
  return reinterpret_cast<const SinkFile*>(file)->eof;
}

herr_t SinkRead(H5FD_t* file, H5FD_mem_t, hid_t, haddr_t addr, size_t size, void* buf) {
  auto* f = reinterpret_cast<SinkFile*>(file);
  if (addr == HADDR_UNDEF || addr > kMaxAddr || size > kMaxAddr - addr) return -1;
  Result<uint64_t> got = PreadFull(f->sink->fd, buf, size, addr, f->sink->name + ": read");
  if (!got.ok()) {
    Keep(f->sink, got.status());
    if (!f->sink->closing) return -1;
    got = uint64_t{0};  // closing: the error is kept, the output will be removed
  }
  // Past the end of the file reads as zeros, as sec2 does.
  std::memset(static_cast<char*>(buf) + *got, 0, size - *got);
  return 0;
}

herr_t SinkWrite(H5FD_t* file, H5FD_mem_t, hid_t, haddr_t addr, size_t size, const void* buf) {
  auto* f = reinterpret_cast<SinkFile*>(file);
  if (addr == HADDR_UNDEF || addr > kMaxAddr || size > kMaxAddr - addr) return -1;
  if (f->sink->discard) return 0;
  Status st = f->sink->write(addr, static_cast<const char*>(buf), size);
  if (!st.ok()) {
    Keep(f->sink, std::move(st));
    if (!f->sink->closing) return -1;
    f->sink->discard = true;  // closing: the error is kept, the rest skipped
    return 0;
  }
  if (addr + size > f->eof) f->eof = addr + size;
  return 0;
}

herr_t SinkTruncate(H5FD_t* file, hid_t, hbool_t) {
  auto* f = reinterpret_cast<SinkFile*>(file);
  if (f->eoa == f->eof || f->sink->discard) return 0;
  if (::ftruncate(f->sink->fd, static_cast<off_t>(f->eoa)) != 0) {
    Keep(f->sink, FromErrno(errno, f->sink->name + ": truncate", Code::kIoErr));
    return f->sink->closing ? 0 : -1;
  }
  f->eof = f->eoa;
  return 0;
}

H5FD_class_t MakeSinkClass() {
  H5FD_class_t c;
  std::memset(&c, 0, sizeof c);
  c.name = "mmrun_sink";
  c.maxaddr = kMaxAddr;
  c.fc_degree = H5F_CLOSE_WEAK;
  c.fapl_size = sizeof(SinkInfo);
  c.open = SinkOpen;
  c.close = SinkClose;
  c.cmp = SinkCmp;
  c.query = SinkQuery;
  c.get_eoa = SinkGetEoa;
  c.set_eoa = SinkSetEoa;
  c.get_eof = SinkGetEof;
  c.read = SinkRead;
  c.write = SinkWrite;
  c.truncate = SinkTruncate;
  const H5FD_mem_t map[H5FD_MEM_NTYPES] = H5FD_FLMAP_DICHOTOMY;
  std::memcpy(c.fl_map, map, sizeof map);
  return c;
}

hid_t SinkDriver() {
  static const H5FD_class_t cls = MakeSinkClass();
  static hid_t id = -1;
  if (id < 0 || H5Iis_valid(id) <= 0) id = H5FDregister(&cls);
  return id;
}

}  // namespace

Result<Hid> SinkFileAccess(Hdf5FileSink* sink) {
  const hid_t driver = SinkDriver();
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  const SinkInfo info{sink};
  if (driver < 0 || !fapl.valid() || H5Pset_driver(fapl.get(), driver, &info) < 0)
    return Hdf5Error(Code::kCantCreate, "HDF5 output: the file driver");
  return fapl;
}

}  // namespace mm
