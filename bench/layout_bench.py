"""The layout experiment of `make bench` (issue 15): flat file or chunked HDF5?

    MMRUN=build/mmrun /usr/bin/python3 bench/layout_bench.py [--write]

The question behind mmrun: a big cube in a flat file is fast to slice along
one axis and slow along another, a chunked HDF5 copy is about as fast along
every axis. Two cubes of about 1 GB, stored in Fortran order in flat files
the way the question's cube was (uint8 BENCH_LAYOUT_U8^3, default 1024, and
float32 BENCH_LAYOUT_F4^3, default 640; smooth fields with noise, so that
compression ratios are those of measured data, not of random bytes):

  conversions (cold page cache, medians of BENCH_LAYOUT_REPS rounds taken
  in turn): mmrun `convert` to `chunks: auto` uncompressed and to
  shuffle+gzip:1 with 1 and 2 workers; `h5repack -l CHUNK=...` making the
  same gzip copy from a contiguous HDF5 file; h5py writing the same copy
  chunk by chunk from numpy.memmap; h5py writing its own auto-chunked
  (`chunks=True`) uncompressed copy;

  full slices through the middle along each of the three axes, cold:
  numpy.memmap on the flat file, h5py on h5py's auto-chunked copy and on
  mmrun's auto copy, mmrun `slice` on the flat file, on its auto copy and
  on its gzip copy; and one sequential read of the flat file (dd), the unit
  the targets are measured in.

With --write the tables replace the block between the layout-bench markers
in docs/BENCHMARKS.md (appended if missing). Environment: BENCH_DIR (default
bench/out), BENCH_LAYOUT_REPS (default 3), BENCH_WORKERS (default 2).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

from harness import peak_rss_kib, sh, splice_block

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MMRUN = os.environ.get("MMRUN", os.path.join(ROOT, "build", "mmrun"))
DIR = os.environ.get("BENCH_DIR", os.path.join(ROOT, "bench", "out"))
REPS = int(os.environ.get("BENCH_LAYOUT_REPS", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CUBES = (("uint8", int(os.environ.get("BENCH_LAYOUT_U8", "1024"))),
         ("float32", int(os.environ.get("BENCH_LAYOUT_F4", "640"))))
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN, END = "<!-- layout-bench:begin -->", "<!-- layout-bench:end -->"


def path(name):
    return os.path.join(DIR, name)


def make_flat(dtype, n):
    """The cube a[i, j, k] in Fortran order: element (i, j, k) at
    i + j n + k n^2. Written plane a[:, :, k] by plane."""
    out = path("layout_%s_%d_F.dat" % (dtype, n))
    if os.path.exists(out + ".done"):
        return out
    rng = np.random.default_rng(11)
    x = np.linspace(0, 6 * np.pi, n, dtype=np.float32)
    base = np.sin(x)[:, None] + np.cos(0.7 * x)[None, :]  # [i, j]
    with open(out, "wb") as f:
        for k in range(n):
            plane = base + np.float32(np.sin(0.3 * x[k])) + rng.normal(0, 0.05, (n, n)).astype(np.float32)
            if dtype == "uint8":
                plane = np.clip((plane + 3) * 40, 0, 255).astype(np.uint8)
            else:
                plane = (280 + 10 * plane).astype(np.float32)
            # a[:, :, k] in Fortran order is plane[i, j] with i fastest.
            f.write(np.asfortranarray(plane).tobytes(order="F"))
    open(out + ".done", "w").close()
    return out


def write_config(name, dataset, analyses):
    p = path(name)
    with open(p, "w") as f:
        json.dump({"dataset": dataset, "analyses": analyses}, f)
    return p


def run_mmrun(cfg, workers=WORKERS):
    r = sh([MMRUN, "-w", str(workers), cfg])
    return json.loads(r.stdout)


def evict(files):
    """The data files leave the page cache; programs and libraries stay (a
    user's tools are warm, their 1 GB files are not)."""
    subprocess.run(["sync"])
    for f in files:
        if os.path.exists(f):
            fd = os.open(f, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
    return "posix_fadvise(POSIX_FADV_DONTNEED) of the data files"


def cold_together(fns, reps, files):
    """Medians of commands run in turn, round after round, each with the
    data files out of the page cache."""
    times = {k: [] for k in fns}
    how = ""
    for _ in range(reps):
        for k, fn in fns.items():
            how = evict(files)
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}, how


def rm(p):
    if os.path.exists(p):
        os.remove(p)


def chunk_boxes(shape, chunks):
    grid = [range(0, s, c) for s, c in zip(shape, chunks)]
    for i in grid[0]:
        for j in grid[1]:
            for k in grid[2]:
                yield (slice(i, i + chunks[0]), slice(j, j + chunks[1]), slice(k, k + chunks[2]))


def cube_section(dtype, n, rows, targets, notes):
    import h5py
    flat = make_flat(dtype, n)
    size = os.path.getsize(flat)
    label = "%s %d^3 (%.2f GB)" % (dtype, n, size / 1e9)
    ds = {"path": flat, "dtype": dtype, "shape": [n, n, n], "order": "F"}
    auto_h5, gz_h5 = path("layout_%s_auto.h5" % dtype), path("layout_%s_gz.h5" % dtype)
    gz1_h5, contig_h5 = path("layout_%s_gz1w.h5" % dtype), path("layout_%s_contig.h5" % dtype)
    rp_h5, hp_h5 = path("layout_%s_h5repack.h5" % dtype), path("layout_%s_h5pygz.h5" % dtype)
    h5auto = path("layout_%s_h5pyauto.h5" % dtype)
    cfg_auto = write_config("layout_auto.json", ds, [{"op": "convert", "output": auto_h5, "chunks": "auto"}])
    cfg_gz = write_config("layout_gz.json", ds, [{"op": "convert", "output": gz_h5, "compression": "gzip:1",
                                                  "shuffle": True}])
    cfg_gz1 = write_config("layout_gz1.json", ds, [{"op": "convert", "output": gz1_h5, "compression": "gzip:1",
                                                    "shuffle": True}])
    cfg_contig = write_config("layout_contig.json", ds, [{"op": "convert", "output": contig_h5, "chunks": None}])
    res = run_mmrun(cfg_gz)["results"]["convert"]
    chunks = res["hdf5"]["chunks"]
    chunk_text = "x".join(map(str, chunks))
    run_mmrun(cfg_contig)
    run_mmrun(cfg_auto)

    def h5repack():
        rm(rp_h5)
        sh(["h5repack", "-l", "data:CHUNK=" + chunk_text, "-f", "data:SHUF", "-f", "data:GZIP=1", contig_h5, rp_h5])

    def h5py_gzip():
        mm = np.memmap(flat, dtype=dtype, mode="r", shape=(n, n, n), order="F")
        with h5py.File(hp_h5, "w") as f:
            d = f.create_dataset("data", (n, n, n), dtype=dtype, chunks=tuple(chunks), compression="gzip",
                                 compression_opts=1, shuffle=True)
            for box in chunk_boxes((n, n, n), chunks):
                d[box] = mm[box]

    def h5py_auto():
        mm = np.memmap(flat, dtype=dtype, mode="r", shape=(n, n, n), order="F")
        with h5py.File(h5auto, "w") as f:
            d = f.create_dataset("data", (n, n, n), dtype=dtype, chunks=True)
            for box in chunk_boxes((n, n, n), d.chunks):
                d[box] = mm[box]

    conv = {"mmrun auto, uncompressed, %d workers" % WORKERS: lambda: run_mmrun(cfg_auto),
            "mmrun shuffle+gzip:1, %d workers" % WORKERS: lambda: run_mmrun(cfg_gz),
            "mmrun shuffle+gzip:1, 1 worker": lambda: run_mmrun(cfg_gz1, 1),
            "h5repack shuffle+gzip:1 (from contiguous HDF5)": h5repack,
            "h5py chunk by chunk, shuffle+gzip:1": h5py_gzip,
            "h5py chunks=True, uncompressed": h5py_auto}
    t, how = cold_together(conv, REPS, [flat, contig_h5])
    for k, s in t.items():
        rows.append(("convert " + label, k, s))
    with h5py.File(h5auto, "r") as f:
        h5py_chunks = f["data"].chunks
    r = t["mmrun shuffle+gzip:1, 1 worker"] / t["mmrun shuffle+gzip:1, %d workers" % WORKERS]
    targets.append(("%s: gzip:1 conversion, %d workers vs 1" % (label, WORKERS), r, ">= 1.8", r >= 1.8))
    r = t["h5repack shuffle+gzip:1 (from contiguous HDF5)"] / t["mmrun shuffle+gzip:1, %d workers" % WORKERS]
    targets.append(("%s: gzip:1 conversion, h5repack / mmrun" % label, r, "> 1", r > 1))
    stored = {"mmrun auto": os.path.getsize(auto_h5), "mmrun shuffle+gzip:1": os.path.getsize(gz_h5),
              "h5repack shuffle+gzip:1": os.path.getsize(rp_h5)}
    for k, v in stored.items():
        targets.append(("%s: compression ratio, %s (file)" % (label, k), size / v, "", True))
    if open(gz_h5, "rb").read() != open(gz1_h5, "rb").read():
        notes.append("%s: the gzip copies of 1 and %d workers differ" % (label, WORKERS))
    rss = peak_rss_kib([MMRUN, "-q", "-w", str(WORKERS), cfg_gz])[0] / 1024
    targets.append(("%s: peak RSS of mmrun's gzip conversion (MiB)" % label, rss, "<= 64", rss <= 64))

    # Slices through the middle along each axis.
    mid = n // 2
    sels = ["[%d, :, :]" % mid, "[:, %d, :]" % mid, "[:, :, %d]" % mid]
    out = path("layout_slice.npy")

    def np_memmap(axis):
        mm = np.memmap(flat, dtype=dtype, mode="r", shape=(n, n, n), order="F")
        idx = [slice(None)] * 3
        idx[axis] = mid
        return np.array(mm[tuple(idx)])

    def h5py_slice(p, axis):
        idx = [slice(None)] * 3
        idx[axis] = mid
        with h5py.File(p, "r") as f:
            return f["data"][tuple(idx)]

    slice_cfgs = {}
    for name, dset in (("flat", ds), ("auto", {"path": auto_h5, "name": "data"}),
                       ("gzip", {"path": gz_h5, "name": "data"})):
        for axis, sel in enumerate(sels):
            slice_cfgs[name, axis] = write_config("layout_slice_%s_%d.json" % (name, axis), dset,
                                                  [{"op": "slice", "select": sel, "output": out}])
    fns = {("dd sequential read", "flat", -1): lambda: sh(["dd", "if=" + flat, "of=/dev/null", "bs=16M"])}
    for axis in range(3):
        fns["numpy.memmap", "flat", axis] = lambda a=axis: np_memmap(a)
        fns["h5py", "h5py auto %s" % "x".join(map(str, h5py_chunks)), axis] = lambda a=axis: h5py_slice(h5auto, a)
        fns["h5py", "mmrun auto %s" % chunk_text, axis] = lambda a=axis: h5py_slice(auto_h5, a)
        for name in ("flat", "auto", "gzip"):
            where = {"flat": "flat", "auto": "mmrun auto %s" % chunk_text,
                     "gzip": "mmrun gzip:1 %s" % chunk_text}[name]
            fns["mmrun slice", where, axis] = lambda c=slice_cfgs[name, axis]: run_mmrun(c)
    files = [flat, auto_h5, gz_h5, h5auto]
    st, how = cold_together(fns, REPS, files)
    seq = st["dd sequential read", "flat", -1]
    rows.append(("slice " + label, "dd: one sequential read of the flat file", seq))
    for (who, where, axis), s in st.items():
        if axis >= 0:
            rows.append(("slice " + label, "%s on %s, axis %d %s" % (who, where, axis, sels[axis]), s))
    auto = [st["mmrun slice", "mmrun auto %s" % chunk_text, a] for a in range(3)]
    r = max(auto) / seq
    targets.append(("%s: worst axis of mmrun's auto copy / sequential read" % label, r, "<= 0.25", r <= 0.25))
    r = max(auto) / min(auto)
    targets.append(("%s: worst / best axis of mmrun's auto copy" % label, r, "<= 3", r <= 3))
    npw = max(st["numpy.memmap", "flat", a] for a in range(3))
    r = npw / max(auto)
    targets.append(("%s: numpy.memmap's worst axis on the flat file / mmrun's worst on its auto copy"
                    % label, r, "> 1", r > 1))
    gz = [st["mmrun slice", "mmrun gzip:1 %s" % chunk_text, a] for a in range(3)]
    targets.append(("%s: worst axis, gzip copy / uncompressed copy (decoding vs bytes saved)" % label,
                    max(gz) / max(auto), "", True))
    rss = max(peak_rss_kib([MMRUN, "-q", "-w", str(WORKERS), slice_cfgs[name, a]])[0] / 1024
              for name in ("flat", "auto", "gzip") for a in range(3))
    targets.append(("%s: peak RSS of mmrun's slices (MiB)" % label, rss, "<= 64", rss <= 64))
    notes.append("%s: mmrun's auto chunks %s, h5py's %s; cold: %s" %
                 (label, chunk_text, "x".join(map(str, h5py_chunks)), how))
    for p in (gz1_h5, rp_h5, hp_h5, contig_h5, out):
        rm(p)


def write_doc(rows, targets, notes):
    lines = [BEGIN, "", "## Flat file or chunked HDF5: the layout experiment (`bench/layout_bench.py`)", "",
             "Measured %s on %d cores, cold page cache for every run, medians of %d rounds taken in turn "
             "(load average %.1f at the end)." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                  os.cpu_count(), REPS, os.getloadavg()[0]), "",
             "| what | run | seconds |", "|---|---|---:|"]
    lines += ["| %s | %s | %.3f |" % r for r in rows]
    lines += ["", "| target | measured | goal | |", "|---|---:|---|---|"]
    lines += ["| %s | %.2f | %s | %s |" % (n, v, g, ("met" if ok else "**not met**") if g else "")
              for n, v, g, ok in targets]
    lines += [""] + ["- " + n for n in notes] + ["", END]
    splice_block(DOC, BEGIN, END, "\n".join(lines))


def main():
    for tool in ("h5repack", "dd"):
        if shutil.which(tool) is None:
            sys.exit("layout bench: %s is not installed (scripts/bootstrap --bench)" % tool)
    os.makedirs(DIR, exist_ok=True)
    rows, targets, notes = [], [], []
    for dtype, n in CUBES:
        first = len(rows)
        cube_section(dtype, n, rows, targets, notes)
        for r in rows[first:]:
            print("%-32s %-70s %8.3f s" % r, flush=True)
    for n, v, g, ok in targets:
        print("%-90s %8.2f %-7s %s" % (n, v, g, ("met" if ok else "NOT met") if g else ""))
    print("\n".join(notes))
    if "--write" in sys.argv[1:]:
        write_doc(rows, targets, notes)


if __name__ == "__main__":
    main()
