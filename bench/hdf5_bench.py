"""The HDF5 and netCDF-4 section of `make bench` (issue 14 "Performance").

    MMRUN=build/mmrun /usr/bin/python3 bench/hdf5_bench.py [--write | --netcdf-only]

One float32 cube (BENCH_HDF5_SIDE^3, default 512: 512 MiB) is written as a
raw file and as HDF5 datasets: contiguous, chunked uncompressed, shuffle+gzip
and blosc-lz4 (chunks BENCH_HDF5_CHUNK^3, default 64: 1 MiB, cubic on
purpose). Every figure is a median of BENCH_HDF5_REPS (default 5) rounds on
a warm page cache, and the commands compared in one ratio are timed in turn,
round after round (a host that slows down for a while slows all of them
alike). Peers, each in its usual best form:
  - h5py + numpy in one process, chunk by chunk (`Dataset.iter_chunks`);
  - dask.array.from_array(dset, chunks=dset.chunks) with 2 threads;
  - libhdf5's own H5Dread with a chunk cache sized to a slab of chunks
    (h5py File(rdcc_nbytes=...), `read_direct` slab by slab, one process):
    the decode speed of the library itself (DESIGN.md's chunk-cache trap);
  - on a netCDF-4 file (float, _FillValue, no NaN, unlimited time): the time
    mean by `cdo timmean` and `ncra`, with peak resident memory
    (/usr/bin/time -f %M) of those and of `ncwa -a time`.
With --write the table replaces the block between the hdf5-bench markers
in docs/BENCHMARKS.md (appended if missing). If this mmrun cannot read the
HDF5 files, that is printed and (with --write) recorded instead.
Environment: BENCH_DIR (default bench/out), BENCH_WORKERS (default 2).
"""
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from harness import peak_rss_kib, sh, splice_block, timed_together

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MMRUN = os.environ.get("MMRUN", os.path.join(ROOT, "build", "mmrun"))
SIDE = int(os.environ.get("BENCH_HDF5_SIDE", "512"))
CHUNK = int(os.environ.get("BENCH_HDF5_CHUNK", "64"))
REPS = int(os.environ.get("BENCH_HDF5_REPS", "5"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
DIR = os.environ.get("BENCH_DIR", os.path.join(ROOT, "bench", "out"))
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
BEGIN, END = "<!-- hdf5-bench:begin -->", "<!-- hdf5-bench:end -->"
# The netCDF-4 file: daily fields on a 0.5 degree grid, one year.
NC_SHAPE = tuple(int(x) for x in os.environ.get("BENCH_NC_SHAPE", "365,360,720").split(","))


def peak_rss_mib(args):
    return peak_rss_kib(args)[0] / 1024.0


# --------------------------------------------------------------------------
# Files


def slab(i0, i1):
    """Planes [i0, i1) of the cube: a smooth field plus noise, quantised to
    1/64 as measured data often is (so gzip and blosc have something to do)."""
    z = np.arange(i0, i1, dtype=np.float32)[:, None, None]
    y = np.arange(SIDE, dtype=np.float32)[None, :, None]
    x = np.arange(SIDE, dtype=np.float32)[None, None, :]
    rng = np.random.default_rng(i0)
    field = 10 * np.sin(z / 37.0) + 5 * np.cos(y / 23.0) + np.sin(x / 11.0) + rng.normal(0, 0.5, (i1 - i0, SIDE, SIDE))
    return (np.round(field * 64) / 64).astype("<f4")


def make_files():
    import h5py
    import hdf5plugin
    os.makedirs(DIR, exist_ok=True)
    tag = "%d_%d" % (SIDE, CHUNK)
    paths = {k: os.path.join(DIR, "h5bench_%s_%s" % (tag, k)) for k in
             ("raw.dat", "contig.h5", "chunked.h5", "gzip.h5", "blosc.h5")}
    done = os.path.join(DIR, "h5bench_%s.done" % tag)
    if os.path.exists(done) and all(os.path.exists(p) for p in paths.values()):
        return paths
    shape, chunks = (SIDE,) * 3, (CHUNK,) * 3
    with open(paths["raw.dat"], "wb") as raw, \
            h5py.File(paths["contig.h5"], "w") as fc, h5py.File(paths["chunked.h5"], "w") as fk, \
            h5py.File(paths["gzip.h5"], "w") as fg, h5py.File(paths["blosc.h5"], "w") as fb:
        dc = fc.create_dataset("cube", shape, "<f4")
        dk = fk.create_dataset("cube", shape, "<f4", chunks=chunks)
        dg = fg.create_dataset("cube", shape, "<f4", chunks=chunks, compression="gzip", compression_opts=4,
                               shuffle=True)
        db = fb.create_dataset("cube", shape, "<f4", chunks=chunks,
                               **hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
        for i in range(0, SIDE, CHUNK):
            a = slab(i, min(SIDE, i + CHUNK))
            raw.write(a.tobytes())
            for d in (dc, dk, dg, db):
                d[i:i + a.shape[0]] = a
    open(done, "w").close()
    return paths


def settle(paths):
    """Puts every file's page cache in the same state, that of a file read
    back from disk: written back, dropped, read sequentially. A file left as
    it was written is cached as whatever folios its writes made: h5py's many
    small writes leave small ones, numpy's one write large ones, and mapping
    small folios cost the contiguous HDF5 file ~40 % more CPU than the raw
    file (the same bytes rewritten in one write ran at the raw file's speed;
    so did a raw file with the same 2048-byte offset once settled)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while os.read(fd, 8 << 20):
                pass
        finally:
            os.close(fd)


def make_netcdf():
    import netCDF4
    path = os.path.join(DIR, "h5bench_nc_%s.nc" % "x".join(map(str, NC_SHAPE)))
    if os.path.exists(path + ".done"):
        return path
    nt, ny, nx = NC_SHAPE
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", ny)
        ds.createDimension("lon", nx)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2000-01-01"
        t.calendar = "standard"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lon = ds.createVariable("lon", "f4", ("lon",))
        lat[:] = np.linspace(-90, 90, ny)
        lon[:] = np.linspace(0, 360, nx, endpoint=False)
        v = ds.createVariable("tas", "f4", ("time", "lat", "lon"), zlib=True, complevel=1, shuffle=True,
                              chunksizes=(1, ny, nx), fill_value=np.float32(-9999.0))
        v.units = "K"
        rng = np.random.default_rng(3)
        base = 288 + 20 * np.cos(np.deg2rad(np.linspace(-90, 90, ny)))[:, None] * np.ones((1, nx))
        for i in range(nt):
            field = (base + 5 * np.sin(2 * np.pi * i / 365) + rng.normal(0, 1, (ny, nx))).astype("f4")
            field[:10, :] = -9999.0  # an ice cap of missing values (the _FillValue)
            v[i] = field
            t[i] = i
    open(path + ".done", "w").close()
    return path


# --------------------------------------------------------------------------
# Runs


def write_config(name, dataset, analyses):
    import json
    path = os.path.join(DIR, name)
    with open(path, "w") as f:
        json.dump({"dataset": dataset, "analyses": analyses}, f)
    return path


def mmrun(cfg, workers):
    return lambda: sh([MMRUN, "-q", "-w", str(workers), cfg])


def h5py_numpy_chunks(path):
    """h5py + numpy in one process, chunk by chunk: sum, sum of squares, min, max."""
    import h5py

    def fn():
        with h5py.File(path, "r") as f:
            d = f["cube"]
            s = ss = 0.0
            mn, mx = np.inf, -np.inf
            for sel in d.iter_chunks():
                c = d[sel].astype(np.float64)
                s += np.nansum(c)
                ss += np.nansum(c * c)
                mn = min(mn, np.nanmin(c))
                mx = max(mx, np.nanmax(c))
            return s, ss, mn, mx
    return fn


def dask_stats(path):
    import dask
    import dask.array as da
    import h5py

    def fn():
        with h5py.File(path, "r") as f:
            d = f["cube"]
            a = da.from_array(d, chunks=d.chunks)
            with dask.config.set(scheduler="threads", num_workers=WORKERS):
                return dask.compute(a.mean(), a.std(), a.min(), a.max())
    return fn


def h5dread_sized_cache(path):
    """libhdf5's H5Dread with a chunk cache that holds a whole slab of chunks,
    read slab by slab into one buffer (decode only, no statistics)."""
    import h5py
    per_slab = (SIDE // CHUNK + 1) ** 2 * CHUNK ** 3 * 4

    def fn():
        with h5py.File(path, "r", rdcc_nbytes=per_slab * 2, rdcc_nslots=100003) as f:
            d = f["cube"]
            buf = np.empty((CHUNK, SIDE, SIDE), dtype="<f4")
            for i in range(0, SIDE, CHUNK):
                n = min(CHUNK, SIDE - i)
                d.read_direct(buf, np.s_[i:i + n], np.s_[0:n])
    return fn


def probe(cfg):
    res = subprocess.run([MMRUN, "-q", "-w", "1", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return "" if res.returncode == 0 else res.stderr.decode().strip() or "exit %d" % res.returncode


def main():
    write = "--write" in sys.argv[1:]
    if "--netcdf-only" in sys.argv[1:]:
        notes = []
        netcdf_section(lambda w, s, n=0: print("%-62s %8.3f s" % (w, s), flush=True),
                       lambda n, v, g, ok: print("%-62s %9.2f  %-7s %s" % (n, v, g, "met" if ok else "NOT met")), notes)
        print("\n".join(notes))
        return
    paths = make_files()
    settle(paths.values())
    size = os.path.getsize(paths["raw.dat"])
    rows, targets, notes = [], [], []

    def add(what, seconds, nbytes=size):
        rows.append((what, seconds, nbytes / seconds / 1e9))
        print("%-62s %8.3f s %7.2f GB/s" % (what, seconds, nbytes / seconds / 1e9), flush=True)

    def target(name, value, goal, ok):
        targets.append((name, value, goal, ok))

    raw_ds = {"path": paths["raw.dat"], "dtype": "<f4", "shape": [SIDE] * 3}
    stats = [{"op": "stats"}]
    hist = [{"op": "histogram", "bins": 100, "range": [-20, 30]}]
    cfg = {"raw": write_config("h5b_raw.json", raw_ds, stats),
           "raw_hist": write_config("h5b_raw_hist.json", raw_ds, hist)}
    for k in ("contig", "chunked", "gzip", "blosc"):
        ds = {"path": paths[k + ".h5"], "name": "cube"}
        cfg[k] = write_config("h5b_%s.json" % k, ds, stats)
        cfg[k + "_hist"] = write_config("h5b_%s_hist.json" % k, ds, hist)
    problem = probe(cfg["contig"]) or probe(cfg["gzip"])
    if problem:
        notes.append("mmrun cannot read the HDF5 files yet: `%s`" % problem)
        print("hdf5 bench: " + notes[-1], flush=True)
    else:
        # Contiguous and chunked-uncompressed against the raw file.
        t = timed_together({"raw": mmrun(cfg["raw"], WORKERS), "contig": mmrun(cfg["contig"], WORKERS),
                            "chunked": mmrun(cfg["chunked"], WORKERS)}, reps=REPS)
        add("raw file: mmrun stats, %d workers" % WORKERS, t["raw"])
        add("contiguous HDF5: mmrun stats, %d workers" % WORKERS, t["contig"])
        add("chunked %d^3 uncompressed: mmrun stats, %d workers" % (CHUNK, WORKERS), t["chunked"])
        target("contiguous HDF5 vs raw (speed)", t["raw"] / t["contig"], ">= 0.95", t["raw"] / t["contig"] >= 0.95)
        target("chunked uncompressed vs raw (speed)", t["raw"] / t["chunked"], ">= 0.8",
               t["raw"] / t["chunked"] >= 0.8)
        # Compressed: 1 and 2 workers against the peers.
        for k, label in (("gzip", "shuffle+gzip"), ("blosc", "blosc-lz4")):
            fns = {"w2": mmrun(cfg[k], WORKERS), "w1": mmrun(cfg[k], 1),
                   "h2": mmrun(cfg[k + "_hist"], WORKERS), "h1": mmrun(cfg[k + "_hist"], 1),
                   "h5py": h5py_numpy_chunks(paths[k + ".h5"]), "h5dread": h5dread_sized_cache(paths[k + ".h5"])}
            try:
                import dask  # noqa: F401
                fns["dask"] = dask_stats(paths[k + ".h5"])
            except ImportError:
                notes.append("dask not installed (python3-dask): no dask row")
            t = timed_together(fns, reps=REPS)
            add("%s: mmrun stats, %d workers" % (label, WORKERS), t["w2"])
            add("%s: mmrun stats, 1 worker" % label, t["w1"])
            add("%s: mmrun histogram, %d workers" % (label, WORKERS), t["h2"])
            add("%s: mmrun histogram, 1 worker" % label, t["h1"])
            add("%s: h5py + numpy chunk by chunk, 1 process" % label, t["h5py"])
            if "dask" in t:
                add("%s: dask.array.from_array(dset, chunks=dset.chunks), %d threads" % (label, WORKERS), t["dask"])
            add("%s: H5Dread, chunk cache sized to a slab, 1 process (decode only)" % label, t["h5dread"])
            for what, a, b in (("stats", "w1", "w2"), ("histogram", "h1", "h2")):
                r = t[a] / t[b]
                target("%s %s: %d workers vs 1" % (label, what, WORKERS), r, ">= 1.8", r >= 1.8)
            r = t["h5py"] / t["w2"]
            target("%s stats: vs h5py + numpy chunk by chunk" % label, r, ">= 5", r >= 5)
            if "dask" in t:
                r = t["dask"] / t["w2"]
                target("%s stats: vs dask from_array" % label, r, ">= 3", r >= 3)
            r = t["h5dread"] / t["w1"]
            target("%s: 1-worker stats vs H5Dread with sized cache" % label, r, ">= 0.9", r >= 0.9)
        # Resident memory on the compressed cube (cubic 1 MiB chunks).
        for k in ("gzip", "blosc", "contig"):
            rss = peak_rss_mib([MMRUN, "-q", "-w", str(WORKERS), cfg[k]])
            target("peak RSS of any mmrun process, %s %d MiB cube (MiB)" % (k, size >> 20), rss, "<= 64", rss <= 64)
    netcdf_section(add, target, notes)
    print()
    for name, value, goal, ok in targets:
        print("%-62s %9.2f  %-7s %s" % (name, value, goal, "met" if ok else "NOT met"))
    if write:
        write_doc(rows, targets, notes, size)


def netcdf_section(add, target, notes):
    path = make_netcdf()
    settle([path])
    nt, ny, nx = NC_SHAPE
    out = os.path.join(DIR, "h5b_nc_out.nc")
    cfg = write_config("h5b_nc.json", {"path": path, "name": "tas"}, [{"op": "stats", "axis": 0,
                                                                      "stats": ["mean"]}])
    problem = probe(cfg)
    label = ""
    if problem and "dataset.cf" in problem:
        # A build without CF decoding: time the same scan over the stored
        # values (the fill values then count in the mean; the work is the same).
        notes.append("this mmrun has no CF decoding: the netCDF-4 rows time `\"cf\": false` (stored values)")
        cfg = write_config("h5b_nc.json", {"path": path, "name": "tas", "cf": False},
                           [{"op": "stats", "axis": 0, "stats": ["mean"]}])
        problem, label = probe(cfg), ", cf false"
    if problem:
        notes.append("mmrun cannot read the netCDF-4 file yet: `%s`" % problem)
        print("hdf5 bench: " + notes[-1], flush=True)
        return
    fns = {"mmrun": mmrun(cfg, WORKERS)}
    peers = {"cdo": ["cdo", "-s", "-O", "timmean", path, out], "ncra": ["ncra", "-O", "-v", "tas", path, out],
             "ncwa": ["ncwa", "-O", "-a", "time", "-v", "tas", path, out]}
    for k, args in list(peers.items()):
        if shutil.which(args[0]) is None:
            notes.append("%s not installed (scripts/bootstrap --bench): no %s row" % (args[0], k))
            del peers[k]
        elif k != "ncwa":
            fns[k] = (lambda a=args: sh(a))
    t = timed_together(fns, reps=max(3, REPS // 2))
    nc_bytes = nt * ny * nx * 4

    def row(what, seconds):
        add(what + " (%.0f MB of float32)" % (nc_bytes / 1e6), seconds, nc_bytes)
    row("netCDF-4 time mean: mmrun stats axis 0, %d workers%s" % (WORKERS, label), t["mmrun"])
    rss = {"mmrun": peak_rss_mib([MMRUN, "-q", "-w", str(WORKERS), cfg])}
    for k in ("cdo", "ncra"):
        if k in t:
            row("netCDF-4 time mean: %s" % {"cdo": "cdo timmean", "ncra": "ncra"}[k], t[k])
            r = t[k] / t["mmrun"]
            target("netCDF-4 time mean vs %s" % k, r, ">= 3", r >= 3)
    for k in peers:
        rss[k] = peak_rss_mib(peers[k])
    for k, v in rss.items():
        target("netCDF-4 time mean: peak RSS of %s (MiB)" % k, v, "" if k != "mmrun" else "<= 64",
               True if k != "mmrun" else v <= 64)
    if "ncwa" in rss:
        r = rss["mmrun"] / rss["ncwa"]
        target("netCDF-4 time mean: mmrun's peak RSS / ncwa's", r, "small (<= 0.25)", r <= 0.25)


def write_doc(rows, targets, notes, size):
    load = os.getloadavg()[0]
    lines = [BEGIN, "", "## HDF5 and netCDF-4 (`bench/hdf5_bench.py`)", "",
             "Measured %s on %d cores: a %d^3 float32 cube (%.0f MiB), chunks %d^3 (%.0f MiB), "
             "medians of %d alternating rounds (warm cache; load average %.1f at the end); netCDF-4 file %s "
             "float32 with _FillValue, zlib level 1 + shuffle, one chunk per time step."
             % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), SIDE, size / 2 ** 20,
                CHUNK, CHUNK ** 3 * 4 / 2 ** 20, REPS, load, "x".join(map(str, NC_SHAPE))), ""]
    if rows:
        lines += ["| run | seconds | GB/s |", "|---|---:|---:|"]
        lines += ["| %s | %.3f | %.2f |" % (w, s, g) for w, s, g in rows]
        lines += [""]
    if targets:
        lines += ["| target | measured | goal | |", "|---|---:|---|---|"]
        lines += ["| %s | %.2f | %s | %s |" % (n, v, g, ("met" if ok else "**not met**") if g else "")
                  for n, v, g, ok in targets]
        lines += [""]
    lines += ["- " + n for n in notes]
    lines += ["", END]
    splice_block(DOC, BEGIN, END, "\n".join(lines))


if __name__ == "__main__":
    main()
