"""Every analysis against the read roofline and its best peer (issue 16).

On the harness's main file (BENCH_GB, default 2 GB of float32, 10 columns),
each round runs, one after the other: the read roofline (mmap + fork + sum
with as many processes as mmrun has workers, the faster of page faults and
MAP_POPULATE), every mmrun analysis below, and the peers (numpy reading the
file in chunks, or numpy on the whole array in memory where chunking does
not apply). Medians over BENCH_ANALYSES_REPS rounds (default 3), so a host
that slows down for a while slows all of them alike. MMRUN_BASE=/path/to/an
/older/mmrun adds that binary's runs to the same rounds (a before/after
figure). `--write` replaces the table between the analyses-bench markers in
docs/BENCHMARKS.md.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (the main file, its generator and the roofline binary)

BEGIN, END = "<!-- analyses-bench:begin -->", "<!-- analyses-bench:end -->"
REPS = int(os.environ.get("BENCH_ANALYSES_REPS", "3"))
BASE = os.environ.get("MMRUN_BASE", "")
W = harness.WORKERS
CHUNK = 1_000_000  # rows per numpy chunk


def analyses(path):
    ds = harness.dataset(path, harness.ROWS)
    return {
        "stats, global": {"dataset": ds, "analyses": [{"op": "stats"}]},
        "stats, per column": {"dataset": ds, "analyses": [{"op": "stats", "axis": 0}]},
        "histogram, 100 bins, range": {"dataset": ds, "analyses": [
            {"op": "histogram", "bins": 100, "range": [-5, 5]}]},
        "histogram, 100 bins, auto range": {"dataset": ds, "analyses": [{"op": "histogram", "bins": 100}]},
        "quantiles, 3 q, global": {"dataset": ds, "analyses": [
            {"op": "quantiles", "q": [0.01, 0.5, 0.99]}]},
        "cov, 10 variables": {"dataset": ds, "analyses": [{"op": "cov"}]},
    }


def peers(path):
    """numpy's way to get each answer: chunked where numpy can stream."""
    rows, cols = harness.ROWS, harness.COLS

    def arr():
        return np.memmap(path, dtype="<f4", mode="r", shape=(rows, cols))

    def np_stats():
        a = arr()
        s = np.zeros(1)
        for i in range(0, rows, CHUNK):
            s += np.nansum(np.asarray(a[i:i + CHUNK], dtype=np.float64))

    def np_cols():
        a = arr()
        s = np.zeros(cols)
        for i in range(0, rows, CHUNK):
            s += np.nansum(np.asarray(a[i:i + CHUNK], dtype=np.float64), axis=0)

    def np_hist(rng):
        a = arr()
        if rng is None:  # numpy needs the range first: one pass for min and max
            lo, hi = np.inf, -np.inf
            for i in range(0, rows, CHUNK):
                c = a[i:i + CHUNK]
                lo, hi = min(lo, float(np.nanmin(c))), max(hi, float(np.nanmax(c)))
            rng = (lo, hi)
        counts = np.zeros(100, dtype=np.int64)
        for i in range(0, rows, CHUNK):
            counts += np.histogram(np.asarray(a[i:i + CHUNK], dtype=np.float64), bins=100, range=rng)[0]

    def np_quant():
        np.nanquantile(np.asarray(arr(), dtype=np.float64), [0.01, 0.5, 0.99])

    def np_cov():
        np.cov(np.asarray(arr(), dtype=np.float64), rowvar=False)

    return {
        "stats, global": ("numpy chunked nansum", np_stats),
        "stats, per column": ("numpy chunked nansum(axis=0)", np_cols),
        "histogram, 100 bins, range": ("numpy chunked histogram", lambda: np_hist((-5, 5))),
        "histogram, 100 bins, auto range": ("numpy chunked min/max + histogram", lambda: np_hist(None)),
        "quantiles, 3 q, global": ("numpy nanquantile in memory", np_quant),
        "cov, 10 variables": ("numpy cov in memory", np_cov),
    }


def main():
    os.makedirs(harness.OUT, exist_ok=True)
    path = os.path.join(harness.OUT, "f32_%gg.dat" % harness.GB)
    harness.generate(path, harness.ROWS)
    size = os.path.getsize(path)
    runs = {"roof_fault": lambda: harness.sh([harness.ROOFLINE, path, str(W), "fault"]),
            "roof_populate": lambda: harness.sh([harness.ROOFLINE, path, str(W), "populate"])}
    cfgs = analyses(path)
    for i, (name, cfg) in enumerate(cfgs.items()):
        c = harness.write_config("an%d.json" % i, cfg)
        runs["mmrun " + name] = lambda c=c: harness.sh([harness.MMRUN, "-q", "-w", str(W), c])
        if BASE:
            runs["base " + name] = lambda c=c: harness.sh([BASE, "-q", "-w", str(W), c])
    for name, (what, fn) in peers(path).items():
        runs["peer " + name] = fn
    times = {k: [] for k in runs}
    for fn in runs.values():  # warm-up: page cache and binaries
        fn()
    for r in range(REPS):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
        print("round %d of %d done" % (r + 1, REPS), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    how = min(("fault", "populate"), key=lambda h: med["roof_" + h])
    roof = med["roof_" + how]
    lines = [BEGIN, "",
             "Measured %s on %d cores, %.2f GB float32 (%d x %d), %d workers, medians of %d rounds "
             "(all commands alternated round after round). Roofline: mmap + fork + sum, %d processes "
             "(%s), %.3f s. Ratios: the roofline's time / the analysis's (1 = at the read limit); "
             "the peer's time / mmrun's (> 1: mmrun is faster)." % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), size / 1e9,
                 harness.ROWS, harness.COLS, W, REPS, W, how, roof), ""]
    head = "| analysis | mmrun s | of roofline | peer | peer s | mmrun vs peer |"
    sep = "|---|---:|---:|---|---:|---:|"
    if BASE:
        head += " before s | before / after |"
        sep += "---:|---:|"
    lines += [head, sep]
    for name in cfgs:
        t = med["mmrun " + name]
        what, _ = peers(path)[name]
        p = med["peer " + name]
        row = "| %s | %.3f | %.2f | %s | %.3f | %.2fx |" % (name, t, roof / t, what, p, p / t)
        if BASE:
            b = med["base " + name]
            row += " %.3f | %.2fx |" % (b, b / t)
        lines.append(row)
        print(row, flush=True)
    lines += ["", END]
    if "--write" in sys.argv:
        with open(harness.DOC) as f:
            doc = f.read()
        block = "\n".join(lines)
        if BEGIN in doc:
            doc = doc[:doc.index(BEGIN)] + block + doc[doc.index(END) + len(END):]
        else:
            doc = doc.rstrip("\n") + "\n\n## Every analysis against the roofline (`bench/analyses_bench.py`)\n\n" \
                + block + "\n"
        with open(harness.DOC, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
