"""The benchmark harness behind `make bench` (issue: speed at the hardware limit).

Every figure is a median of repeated runs, and every target is a ratio to a
baseline measured in the same run on the same file: the read roofline
(read + fork + sum with as many processes as mmrun has workers: the fastest
of mapping and copying with pread), the seed's
chunked numpy code, dask.array with threads, and `dd` for cold reads.
Results replace the block between the bench markers in docs/BENCHMARKS.md,
with a plot in docs/bench.png when matplotlib is installed.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
MMRUN = os.path.join(BUILD, "mmrun")
ROOFLINE = os.path.join(BUILD, "mmrun_roofline")
OUT = os.path.join(ROOT, "bench", "out")
DOC = os.path.join(ROOT, "docs", "BENCHMARKS.md")
GB = float(os.environ.get("BENCH_GB", "2"))
REPS = int(os.environ.get("BENCH_REPS", "9"))
WORKERS = 2
COLS = 10
ROWS = int(GB * 1e9 / 4 / COLS)


def sh(args, **kw):
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def write_config(name, cfg):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def dataset(path, rows, mode="r", cols=COLS):
    return {"path": path, "dtype": "float32", "shape": [rows, cols], "mode": mode}


def generate(path, rows, cols=COLS):
    """Float32 normal(0, 1) values, shape (rows, cols); kept between runs
    (made again only when the file's size is not the one asked for)."""
    if os.path.exists(path) and os.path.getsize(path) == rows * cols * 4:
        return
    cfg = write_config("gen.json", {"dataset": dataset(path, rows, "w+", cols), "analyses": [
        {"op": "generate", "fill": {"kind": "normal", "mean": 0, "std": 1, "seed": 7}}]})
    sh([MMRUN, "-q", cfg])


def timed(fn, reps=REPS):
    fn()  # warm-up (and page cache)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_together(fns, reps=REPS):
    """Medians of several commands timed in turn, round after round (after
    one warm-up each): a host that slows down for a while slows all of them
    alike, so their ratios hold."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def drop_cache(path):
    if os.geteuid() == 0:
        subprocess.run(["sync"])
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            return "drop_caches"
        except OSError:
            pass
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    return "posix_fadvise(DONTNEED)"


def cold(fn, path, reps=3):
    times = []
    for _ in range(reps):
        how = drop_cache(path)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), how


def numpy_chunked_mean(path, rows):
    a = np.memmap(path, dtype="<f4", mode="r", shape=(rows, COLS))
    total, n = 0.0, 0
    for i in range(0, rows, 1_000_000):
        chunk = a[i:i + 1_000_000]
        total += float(chunk.sum(dtype=np.float64))
        n += chunk.size
    return total / n


def numpy_chunked_columns(path, rows):
    a = np.memmap(path, dtype="<f4", mode="r", shape=(rows, COLS))
    s = np.zeros(COLS)
    ss = np.zeros(COLS)
    mn = np.full(COLS, np.inf)
    mx = np.full(COLS, -np.inf)
    for i in range(0, rows, 1_000_000):
        c = np.asarray(a[i:i + 1_000_000], dtype=np.float64)
        s += np.nansum(c, axis=0)
        ss += np.nansum(c * c, axis=0)
        mn = np.fmin(mn, np.nanmin(c, axis=0))
        mx = np.fmax(mx, np.nanmax(c, axis=0))
    return s, ss, mn, mx


def dask_columns(path, rows):
    import dask
    import dask.array as da
    a = da.from_array(np.memmap(path, dtype="<f4", mode="r", shape=(rows, COLS)), chunks=(1_000_000, COLS))
    with dask.config.set(scheduler="threads", num_workers=WORKERS):
        return dask.compute(a.mean(axis=0), a.std(axis=0), a.min(axis=0), a.max(axis=0))


def peak_rss_kib(args):
    """Peak RSS of the run's processes: GNU time reports the largest of the
    command and the descendants it waited for (the workers)."""
    res = sh(["/usr/bin/time", "-f", "%M"] + args)
    return int(res.stderr.decode().strip().splitlines()[-1]), None


def main():
    os.makedirs(OUT, exist_ok=True)
    main_file = os.path.join(OUT, "f32_%gg.dat" % GB)
    generate(main_file, ROWS)
    size = os.path.getsize(main_file)
    glob = write_config("glob.json", {"dataset": dataset(main_file, ROWS), "analyses": [{"op": "stats"}]})
    cols = write_config("cols.json", {"dataset": dataset(main_file, ROWS), "analyses": [{"op": "stats", "axis": 0}]})
    rows = []  # (what, seconds, GB/s)

    def add(what, seconds):
        rows.append((what, seconds, size / seconds / 1e9))
        print("%-55s %8.3f s %7.2f GB/s" % (what, seconds, size / seconds / 1e9), flush=True)
        return seconds

    warm = timed_together({
        "roof_fault": lambda: sh([ROOFLINE, main_file, str(WORKERS), "fault"]),
        "roof_populate": lambda: sh([ROOFLINE, main_file, str(WORKERS), "populate"]),
        "roof_pread": lambda: sh([ROOFLINE, main_file, str(WORKERS), "pread"]),
        "glob": lambda: sh([MMRUN, "-q", "-w", str(WORKERS), glob]),
        "glob1": lambda: sh([MMRUN, "-q", "-w", "1", glob]),
        "cols": lambda: sh([MMRUN, "-q", "-w", str(WORKERS), cols]),
    })
    # The roofline is the fastest way to read: mapping (page faults or
    # MAP_POPULATE) or copying (pread into a 1 MiB buffer).
    how = min(("fault", "populate", "pread"), key=lambda k: warm["roof_" + k])
    t_roof = add("roofline: read+fork+sum, %d processes (%s)" % (WORKERS, how), warm["roof_" + how])
    t_glob = add("mmrun stats (global), %d workers" % WORKERS, warm["glob"])
    t_glob1 = add("mmrun stats (global), 1 worker", warm["glob1"])
    t_cols = add("mmrun stats axis 0 (per column), %d workers" % WORKERS, warm["cols"])
    t_np_mean = add("numpy chunked mean (seed)", timed(lambda: numpy_chunked_mean(main_file, ROWS), reps=3))
    t_np_cols = add("numpy chunked per-column stats (float64 chunks)", timed(lambda: numpy_chunked_columns(main_file, ROWS), reps=3))
    try:
        t_dask = add("dask.array per-column stats, threads=%d" % WORKERS, timed(lambda: dask_columns(main_file, ROWS), reps=3))
    except ImportError:
        t_dask = None
        print("dask not installed (python3-dask): skipped")
    t_dd, how = cold(lambda: sh(["dd", "if=" + main_file, "of=/dev/null", "bs=16M"]), main_file)
    add("cold: dd bs=16M (%s)" % how, t_dd)
    t_cold, _ = cold(lambda: sh([MMRUN, "-q", "-w", str(WORKERS), glob]), main_file)
    add("cold: mmrun stats (global), %d workers" % WORKERS, t_cold)

    # Peak resident memory on a 4 GB file, and the tiny-file latency.
    big = os.path.join(OUT, "f32_4g.dat")
    big_rows = int(4e9 / 4 / COLS)
    generate(big, big_rows)
    big_cfg = write_config("big.json", {"dataset": dataset(big, big_rows), "analyses": [{"op": "stats", "axis": 0}]})
    rss, _ = peak_rss_kib([MMRUN, "-q", "-w", str(WORKERS), big_cfg])
    tiny = os.path.join(OUT, "tiny.dat")
    np.arange(1000, dtype="<f4").tofile(tiny)
    tiny_cfg = write_config("tiny.json", {"dataset": {"path": tiny, "dtype": "float32", "shape": [100, 10]},
                                          "analyses": [{"op": "stats"}]})
    t_tiny = timed(lambda: sh([MMRUN, "-q", "-w", "2", tiny_cfg]), reps=30)

    catalogue = catalogue_bench(main_file, size)

    targets = [
        ("global stats warm vs roofline (%d procs)" % WORKERS, t_roof / t_glob, ">= 0.85", t_roof / t_glob >= 0.85),
        ("per-column stats vs chunked numpy", t_np_cols / t_cols, ">= 10", t_np_cols / t_cols >= 10),
    ]
    if t_dask is not None:
        targets.append(("per-column stats vs dask", t_dask / t_cols, ">= 20", t_dask / t_cols >= 20))
    targets += [
        ("cold global stats vs dd", t_dd / t_cold, ">= 0.9", t_dd / t_cold >= 0.9),
        ("2 workers vs 1 worker (warm)", t_glob1 / t_glob, ">= 1.7", t_glob1 / t_glob >= 1.7),
        ("peak RSS of any mmrun process, 4 GB file (MiB)", rss / 1024, "<= 64", rss / 1024 <= 64),
        ("tiny file, 2 workers, end to end (ms)", t_tiny * 1000, "<= 20", t_tiny * 1000 <= 20),
    ]
    print()
    for name, value, goal, ok in targets:
        print("%-50s %9.2f  %-7s %s" % (name, value, goal, "met" if ok else "NOT met"))
    write_doc(rows, targets, size, catalogue)


def catalogue_bench(main_file, size):
    """Issue 3's figures: slices of C- and F-order cubes along their best and
    worst axes (cold cache) against dd and numpy memmap slicing, and
    histogram/quantiles throughput against numpy on the main file (warm)."""
    out = []
    side = int(os.environ.get("BENCH_CUBE", "512"))  # side^3 float32: 512 MiB
    for order in ("C", "F"):
        path = os.path.join(OUT, "cube_%s_%d.dat" % (order, side))
        if not (os.path.exists(path) and os.path.getsize(path) == side ** 3 * 4):
            cfg = write_config("gencube.json", {"dataset": {"path": path, "dtype": "float32", "shape": [side] * 3,
                                                            "order": order, "mode": "w+"},
                                                "analyses": [{"op": "generate", "fill": {"kind": "arange"}}]})
            sh([MMRUN, "-q", cfg])
        t_dd, how = cold(lambda: sh(["dd", "if=" + path, "of=/dev/null", "bs=16M"]), path)
        out.append(("cube %s %d^3: dd whole file (%s)" % (order, side, how), t_dd, None))
        for label, sel in (("[5, :, :]", (5, slice(None), slice(None))), ("[:, :, 5]", (slice(None), slice(None), 5))):
            res = os.path.join(OUT, "slice.npy")
            cfg = write_config("slice.json", {"dataset": {"path": path, "dtype": "float32", "shape": [side] * 3,
                                                          "order": order},
                                              "analyses": [{"op": "slice", "select": label, "output": res}]})
            t_mm, _ = cold(lambda: sh([MMRUN, "-q", "-w", str(WORKERS), cfg]), path)

            def np_slice(sel=sel):
                a = np.memmap(path, dtype="<f4", mode="r", shape=(side,) * 3, order=order)
                np.save(res, np.ascontiguousarray(a[sel]))
            t_np, _ = cold(np_slice, path)
            out.append(("cube %s: slice %s, mmrun %d workers (cold)" % (order, label, WORKERS), t_mm, t_dd))
            out.append(("cube %s: slice %s, numpy memmap (cold)" % (order, label), t_np, t_dd))
    hist = write_config("hist.json", {"dataset": dataset(main_file, ROWS),
                                      "analyses": [{"op": "histogram", "bins": 100, "range": [-5, 5]}]})
    quant = write_config("quant.json", {"dataset": dataset(main_file, ROWS),
                                        "analyses": [{"op": "quantiles", "q": [0.01, 0.5, 0.99]}]})

    def np_hist():
        a = np.memmap(main_file, dtype="<f4", mode="r", shape=(ROWS, COLS))
        counts = np.zeros(100, dtype=np.int64)
        for i in range(0, ROWS, 1_000_000):
            counts += np.histogram(np.asarray(a[i:i + 1_000_000], dtype=np.float64), bins=100, range=(-5, 5))[0]
        return counts

    def np_quant():
        a = np.memmap(main_file, dtype="<f4", mode="r", shape=(ROWS, COLS))
        return np.nanquantile(np.asarray(a, dtype=np.float64), [0.01, 0.5, 0.99])

    t_h = timed(lambda: sh([MMRUN, "-q", "-w", str(WORKERS), hist]), reps=3)
    t_hn = timed(np_hist, reps=2)
    t_q = timed(lambda: sh([MMRUN, "-q", "-w", str(WORKERS), quant]), reps=3)
    t_qn = timed(np_quant, reps=1)
    out.append(("histogram 100 bins, mmrun %d workers (warm)" % WORKERS, t_h, t_hn))
    out.append(("histogram 100 bins, numpy chunked float64 (warm)" , t_hn, None))
    out.append(("quantiles 3 q exact, mmrun %d workers (warm)" % WORKERS, t_q, t_qn))
    out.append(("quantiles 3 q, numpy nanquantile in memory (warm)", t_qn, None))
    for what, t, base in out:
        print("%-55s %8.3f s%s" % (what, t, "" if base is None else "  (%.2fx of baseline time)" % (t / base)), flush=True)
    return out


def write_doc(rows, targets, size, catalogue=()):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = ["<!-- bench:begin (written by `make bench`; do not edit by hand) -->",
             "", "Measured %s on %d cores (%s), file %.2f GB float32 (%d x %d), medians of %d runs." % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), cpu, size / 1e9, ROWS, COLS, REPS),
             "", "| run | seconds | GB/s |", "|---|---:|---:|"]
    lines += ["| %s | %.3f | %.2f |" % (w, s, g) for w, s, g in rows]
    lines += ["", "| target | measured | goal | |", "|---|---:|---|---|"]
    lines += ["| %s | %.2f | %s | %s |" % (n, v, g, "met" if ok else "**not met**") for n, v, g, ok in targets]
    if catalogue:
        lines += ["", "Analysis catalogue (slices: cold cache, time relative to `dd` of the whole cube; "
                  "histogram/quantiles: warm, relative to numpy):", "",
                  "| run | seconds | relative |", "|---|---:|---:|"]
        lines += ["| %s | %.3f | %s |" % (w, t, "" if b is None else "%.2fx" % (t / b)) for w, t, b in catalogue]
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh([r[0] for r in rows][::-1], [r[2] for r in rows][::-1])
        ax.set_xlabel("GB/s (higher is better)")
        fig.tight_layout()
        fig.savefig(os.path.join(ROOT, "docs", "bench.png"), dpi=80)
        lines += ["", "![throughput](bench.png)"]
    except ImportError:
        pass
    lines += ["", "<!-- bench:end -->"]
    splice_block(DOC, "<!-- bench:begin", "<!-- bench:end -->", "\n".join(lines))


def splice_block(doc, begin, end, block):
    """Replaces the block from `begin` to `end` in the markdown file `doc`
    with `block` (which starts with `begin` and ends with `end`), or appends
    it when the file has none."""
    text = open(doc).read() if os.path.exists(doc) else "# Benchmarks\n\n"
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(doc, "w") as f:
        f.write(text)
    print("wrote", doc)


if __name__ == "__main__":
    main()
