"""Every analysis against the read roofline and its best peer (issue 16).

On the harness's main file (BENCH_GB, default 2 GB of float32, 10 columns),
each round runs, one after the other: the read roofline (read + fork + sum
with as many processes as mmrun has workers, the fastest of mapping with
page faults, mapping with MAP_POPULATE and copying with pread), every mmrun
analysis below, and the peers (numpy reading the
file in chunks, or numpy on the whole array in memory where chunking does
not apply). Per-column quantiles also run on a second file of the same size
with 1000 columns. Medians over BENCH_ANALYSES_REPS rounds (default 3), so
a host that slows down for a while slows all of them alike; the peak RSS of
each mmrun command is the largest over its runs. MMRUN_BASE=/path/to/an
/older/mmrun adds that binary's runs to the same rounds (a before/after
figure). `--write` replaces the table between the analyses-bench markers in
docs/BENCHMARKS.md.

Slice and convert write to a scratch folder in bench/out (the file system
of the data), and every output is removed after its run, outside the timed
region. Transform changes a private copy of the main file, made (and
written back to disk) once per round outside the timed region. A warm-up
round runs every command once before the timed rounds and compares the
answers of mmrun, of the before binary and of the peer.

Commands that fill gigabytes of page cache (convert, transform) start after
a pause of SETTLE_S seconds, outside the timed region. This VM reports free
memory to its host (virtio-balloon free page reporting, 8 MiB blocks, about
2 s after they are freed); the host takes those pages back, and the next
touch of each costs a host fault. Without the pause the command that ran
right after the previous one deleted its 4 GB output reused its pages for
free, and whichever command came first in a round paid for everyone: the
same convert binary measured 3.1 s or 6.9 s by its place in the round.
With it every command starts as a user's would, after memory sat free.
"""
import hashlib
import json
import os
import shutil
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
Q = [0.01, 0.5, 0.99]
WIDE = 1000  # columns of the second file (per-column quantiles on many lanes)
WIDE_ROWS = int(harness.GB * 1e9 / 4 / WIDE)
COLUMN = 3  # the column the worst-axis slice takes
# The best-axis slice: a block of rows in the middle holding as many values as one column.
BLOCK = (harness.ROWS * 9 // 20, harness.ROWS * 9 // 20 + harness.ROWS // harness.COLS)
SCALE, OFFSET = -1.0, 0.0  # transform: negates every element, exactly (so the check is exact)
SCRATCH = os.path.join(harness.OUT, "analyses_scratch")
SETTLED = ("convert to float64 .npy", "transform affine, journal", "transform affine, no journal")
SETTLE_S = 4.0  # free page reporting waits 2 s, then hands blocks back in batches
OUTPUTS = {k: os.path.join(SCRATCH, k + ".npy") for k in ("column", "rows", "convert")}
TIME = "/usr/bin/time"
WAIT4 = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write("%d\\n" % usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""  # /usr/bin/time -f %M without GNU time
MIB_TARGET = 64  # the peak RSS per process for per-column quantiles


def analyses(path, wide, copy):
    ds = harness.dataset(path, harness.ROWS)
    return {
        "stats, global": {"dataset": ds, "analyses": [{"op": "stats"}]},
        "stats, per column": {"dataset": ds, "analyses": [{"op": "stats", "axis": 0}]},
        "histogram, 100 bins, range": {"dataset": ds, "analyses": [
            {"op": "histogram", "bins": 100, "range": [-5, 5]}]},
        "histogram, 100 bins, auto range": {"dataset": ds, "analyses": [{"op": "histogram", "bins": 100}]},
        "quantiles, 3 q, global": {"dataset": ds, "analyses": [{"op": "quantiles", "q": Q}]},
        "quantiles, 3 q, per column": {"dataset": ds, "analyses": [{"op": "quantiles", "q": Q, "axis": 0}]},
        "quantiles, 3 q, per column, %d columns" % WIDE: {
            "dataset": harness.dataset(wide, WIDE_ROWS, cols=WIDE),
            "analyses": [{"op": "quantiles", "q": Q, "axis": 0}]},
        "cov, 10 variables": {"dataset": ds, "analyses": [{"op": "cov"}]},
        "slice, one column (worst axis)": {"dataset": ds, "analyses": [
            {"op": "slice", "select": "[:, %d]" % COLUMN, "output": OUTPUTS["column"]}]},
        "slice, block of rows (best axis)": {"dataset": ds, "analyses": [
            {"op": "slice", "select": "[%d:%d]" % BLOCK, "output": OUTPUTS["rows"]}]},
        "convert to float64 .npy": {"dataset": ds, "analyses": [
            {"op": "convert", "dtype": "float64", "output": OUTPUTS["convert"]}]},
        "transform affine, journal": {"dataset": harness.dataset(copy.path, harness.ROWS, "r+"), "analyses": [
            {"op": "transform", "fn": "affine", "scale": SCALE, "offset": OFFSET}]},
        "transform affine, no journal": {"dataset": harness.dataset(copy.path, harness.ROWS, "r+"), "analyses": [
            {"op": "transform", "fn": "affine", "scale": SCALE, "offset": OFFSET, "journal": False}]},
    }


def peers(path, wide, copy):
    """numpy's way to get each answer: chunked where numpy can stream. Each
    returns its answer under mmrun's result field names (for the warm-up
    round's comparison); the writers return nothing (their file is compared)
    and end with their data on disk, as mmrun's slice, convert and transform
    do (fsync, or msync through flush())."""
    rows, cols = harness.ROWS, harness.COLS

    def arr():
        return np.memmap(path, dtype="<f4", mode="r", shape=(rows, cols))

    def np_stats():
        a = arr()
        s = np.zeros(1)
        for i in range(0, rows, CHUNK):
            s += np.nansum(np.asarray(a[i:i + CHUNK], dtype=np.float64))
        return {"sum": s[0]}

    def np_cols():
        a = arr()
        s = np.zeros(cols)
        for i in range(0, rows, CHUNK):
            s += np.nansum(np.asarray(a[i:i + CHUNK], dtype=np.float64), axis=0)
        return {"sum": s}

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
        return {"counts": counts}

    def np_quant(a, axis=None):
        return {"values": np.nanquantile(np.asarray(a, dtype=np.float64), Q, axis=axis)}

    def np_cov():
        return {"cov": np.cov(np.asarray(arr(), dtype=np.float64), rowvar=False)}

    def np_save(out, x):
        with open(out, "wb") as f:
            np.save(f, x)
            f.flush()
            os.fsync(f.fileno())

    def np_convert():
        a = arr()
        o = np.lib.format.open_memmap(OUTPUTS["convert"], mode="w+", dtype="<f8", shape=(rows, cols))
        for i in range(0, rows, CHUNK):
            o[i:i + CHUNK] = a[i:i + CHUNK]
        o.flush()

    def np_transform():
        a = np.memmap(copy.path, dtype="<f4", mode="r+", shape=(rows, cols))
        for i in range(0, rows, CHUNK):
            c = a[i:i + CHUNK]
            c *= np.float32(SCALE)
            c += np.float32(OFFSET)
        a.flush()

    transform = ("numpy memmap r+ chunked `a *= s; a += o` + flush", np_transform)
    return {
        "stats, global": ("numpy chunked nansum", np_stats),
        "stats, per column": ("numpy chunked nansum(axis=0)", np_cols),
        "histogram, 100 bins, range": ("numpy chunked histogram", lambda: np_hist((-5, 5))),
        "histogram, 100 bins, auto range": ("numpy chunked min/max + histogram", lambda: np_hist(None)),
        "quantiles, 3 q, global": ("numpy nanquantile in memory", lambda: np_quant(arr())),
        "quantiles, 3 q, per column": ("numpy nanquantile(axis=0) in memory", lambda: np_quant(arr(), 0)),
        "quantiles, 3 q, per column, %d columns" % WIDE: (
            "numpy nanquantile(axis=0) in memory, %d columns" % WIDE,
            lambda: np_quant(np.memmap(wide, dtype="<f4", mode="r", shape=(WIDE_ROWS, WIDE)), 0)),
        "cov, 10 variables": ("numpy cov in memory", np_cov),
        "slice, one column (worst axis)": ("numpy memmap `a[:, j].copy()` + np.save",
                                           lambda: np_save(OUTPUTS["column"], arr()[:, COLUMN].copy())),
        "slice, block of rows (best axis)": ("numpy memmap `a[i0:i1]` + np.save",
                                             lambda: np_save(OUTPUTS["rows"], arr()[BLOCK[0]:BLOCK[1]])),
        "convert to float64 .npy": ("numpy chunked cast into open_memmap + flush", np_convert),
        "transform affine, journal": transform,  # one peer for both transform rows, run once a round
        "transform affine, no journal": transform,
    }


class Copy:
    """The transform rows' private copy of the main file: made once per
    round outside the timed region, and written back to disk there, so
    that no run pays for the copy's dirty pages."""

    def __init__(self, src):
        self.src, self.path, self.sign = src, os.path.join(SCRATCH, "transform.dat"), 1

    def make(self):
        shutil.copyfile(self.src, self.path)
        fd = os.open(self.path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        self.sign = 1

    def negated(self, _answer=None):
        """Called after each transform of the warm-up round: whether the copy
        holds exactly -1 times what it held before (every element flipped)."""
        self.sign = -self.sign
        a = np.memmap(self.src, dtype="<f4", mode="r", shape=(harness.ROWS, harness.COLS))
        b = np.memmap(self.path, dtype="<f4", mode="r", shape=(harness.ROWS, harness.COLS))
        return all(np.array_equal(b[i:i + CHUNK], np.float32(self.sign) * a[i:i + CHUNK])
                   for i in range(0, harness.ROWS, CHUNK))


def file_digest(path):
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(16 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checks(copy):
    """What the warm-up round compares between mmrun, the before binary and
    the peer, per row: (what, how to read it from a run's answer, None for
    equal or the (rtol, atol) of numpy.allclose for float64 sums in another
    order).
    An answer is mmrun's result or the peer's return value; the writers are
    compared by the bytes of the file they wrote (mmrun writes what np.save
    writes), the transforms by the file against numpy's negation."""
    def field(k):
        return lambda r: np.asarray(r[k], dtype=np.float64)

    def written(k):
        return lambda r: file_digest(OUTPUTS[k])

    sums = (1e-9, 1e-12 * harness.ROWS * harness.COLS)  # values about 1: rounding grows with their number

    return {
        "stats, global": ("sum", field("sum"), sums),
        "stats, per column": ("sums", field("sum"), sums),
        "histogram, 100 bins, range": ("counts", field("counts"), None),
        "histogram, 100 bins, auto range": ("counts", field("counts"), None),
        "quantiles, 3 q, global": ("values", field("values"), None),
        "quantiles, 3 q, per column": ("values", field("values"), None),
        "quantiles, 3 q, per column, %d columns" % WIDE: ("values", field("values"), None),
        "cov, 10 variables": ("cov", field("cov"), (1e-9, 1e-12)),
        "slice, one column (worst axis)": (".npy bytes", written("column"), None),
        "slice, block of rows (best axis)": (".npy bytes", written("rows"), None),
        "convert to float64 .npy": (".npy bytes", written("convert"), None),
        "transform affine, journal": ("file == -file before", copy.negated, None),
        "transform affine, no journal": ("file == -file before", copy.negated, None),
    }


def agree(a, b, tol):
    if isinstance(a, np.ndarray):
        if a.shape != b.shape:
            return False
        return bool(np.array_equal(a, b) if tol is None else np.allclose(a, b, rtol=tol[0], atol=tol[1]))
    return a == b


def mmrun(binary, cfg):
    """Runs one mmrun command: its stdout (the result document) and the peak
    RSS in KiB of its largest process, ru_maxrss of the waited command (which
    covers the descendants it waited for, the workers). Measured by a small
    process that forks the command (GNU time, else WAIT4): a command started
    by this one would count this process's memory, as its maximum RSS starts
    from the memory of the process that forked it."""
    timer = [TIME, "-f", "%M"] if os.access(TIME, os.X_OK) else [sys.executable, "-c", WAIT4]
    r = harness.sh(timer + [binary, "-q", "-w", str(W), cfg])
    return r.stdout, int(r.stderr.decode().split()[-1])


def tidy():
    for p in OUTPUTS.values():
        if os.path.exists(p):
            os.remove(p)


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    try:
        bench()
    finally:
        shutil.rmtree(SCRATCH, ignore_errors=True)


def bench():
    path = os.path.join(harness.OUT, "f32_%gg.dat" % harness.GB)
    harness.generate(path, harness.ROWS)
    wide = os.path.join(harness.OUT, "f32_%gg_%dcols.dat" % (harness.GB, WIDE))
    harness.generate(wide, WIDE_ROWS, WIDE)
    size = os.path.getsize(path)
    copy = Copy(path)
    runs = {"roof_fault": lambda: harness.sh([harness.ROOFLINE, path, str(W), "fault"]),
            "roof_populate": lambda: harness.sh([harness.ROOFLINE, path, str(W), "populate"]),
            "roof_pread": lambda: harness.sh([harness.ROOFLINE, path, str(W), "pread"])}
    rss = {}  # KiB, the largest over a command's runs

    def command(key, binary, c):
        def run():
            out, kib = mmrun(binary, c)
            rss[key] = max(rss.get(key, 0), kib)
            return out
        return run

    cfgs = analyses(path, wide, copy)
    for i, (name, cfg) in enumerate(cfgs.items()):
        c = harness.write_config("an%d.json" % i, cfg)
        runs["mmrun " + name] = command("mmrun " + name, harness.MMRUN, c)
        if BASE:
            runs["base " + name] = command("base " + name, BASE, c)
    peer, peer_what = {}, {}  # row -> key of its peer's runs (rows sharing a peer share its runs)
    for name, (what, fn) in peers(path, wide, copy).items():
        peer[name], peer_what[name] = "peer " + what, what
        runs.setdefault(peer[name], fn)

    # Warm-up round (page cache, binaries), not timed: compares the answers.
    look = checks(copy)
    rows_of = {}  # run -> the rows it answers
    for name in cfgs:
        for k in ("mmrun " + name, "base " + name, peer[name]):
            rows_of.setdefault(k, []).append(name)
    answers = {}  # (row, "mmrun" | "base" | "peer") -> what look[row] read
    t_round = time.perf_counter()
    copy.make()
    for k, fn in list(runs.items()):
        try:
            got = fn()
        except subprocess.CalledProcessError as e:
            if not k.startswith("base "):
                raise
            print("%s: the before binary failed (exit %d): %s"
                  % (k, e.returncode, (e.stderr or b"").decode().strip()))
            del runs[k]
            continue
        if k in rows_of:
            who = k.split()[0]
            if who != "peer":
                got = next(iter(json.loads(got)["results"].values()))
            seen = look[rows_of[k][0]][1](got)  # once per run: the transforms' check counts them
            for name in rows_of[k]:
                answers[name, who] = seen
        tidy()
    differs = []
    for name in cfgs:
        what, _, tol = look[name]
        for who in ("mmrun", "base", "peer"):
            if (name, who) not in answers:
                continue
            a = answers[name, who]
            if isinstance(a, bool):  # a verdict against numpy's answer
                ok, against = a, "numpy"
            elif who == "mmrun":
                continue
            else:
                ok, against = agree(answers[name, "mmrun"], a, tol), "mmrun"
            if not ok:
                differs.append("%s (%s, %s)" % (name, what, who if who != "base" else "before"))
            print("check %-45s %-22s %-5s %s %s" % (name, what, who, "==" if ok else "DIFFERS FROM", against))
    print("warm-up round done (%.0f s)" % (time.perf_counter() - t_round), flush=True)

    times = {k: [] for k in runs}
    settle = {k for k, names in rows_of.items() if any(n in SETTLED for n in names)}
    for r in range(REPS):
        t_round = time.perf_counter()
        copy.make()
        for k, fn in runs.items():
            if k in settle:
                time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
            tidy()
        print("round %d of %d done (%.0f s)" % (r + 1, REPS, time.perf_counter() - t_round), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    how = min(("fault", "populate", "pread"), key=lambda h: med["roof_" + h])
    roof = med["roof_" + how]
    mapped = min(med["roof_fault"], med["roof_populate"])
    mib = {k: v / 1024 for k, v in rss.items()}
    rss_by = "`%s -f %%M`" % TIME if os.access(TIME, os.X_OK) else "a Python wrapper's os.wait4"
    target = ", ".join("%d columns %.0f MiB (%s)" % (n, m, "met" if m <= MIB_TARGET else "**not met**")
                       for n, m in ((harness.COLS, mib["mmrun quantiles, 3 q, per column"]),
                                    (WIDE, mib["mmrun quantiles, 3 q, per column, %d columns" % WIDE])))
    lines = [BEGIN, "",
             "Measured %s on %d cores, %.2f GB float32 (%d x %d; per-column quantiles also on %d x %d), "
             "%d workers, medians of %d rounds (all commands alternated round after round). Roofline: "
             "the fastest read + fork + sum of %d processes (%s), %.3f s (mapped: %.3f s with page "
             "faults, %.3f s with MAP_POPULATE; copied with pread into a 1 MiB buffer: %.3f s); against "
             "the faster of the two mapped rooflines every ratio below would be %.2fx as large. Ratios: the roofline's "
             "time / the analysis's "
             "(1 = at the read limit; a slice of rows reads a tenth of the file, convert writes twice "
             "what it reads, transform writes what it reads); the peer's time / mmrun's (> 1: mmrun is "
             "faster). Slice and convert outputs (`.npy`) and transforms end on disk for mmrun and the "
             "peers alike; transform (scale %g, offset %g) runs on a copy of the file made once per round, "
             "not timed, and its peer runs once a round for both rows; convert and transform commands start "
             "after %g s of idle memory (the host's free page reporting, see bench/analyses_bench.py). "
             "Peak RSS: ru_maxrss of the mmrun "
             "command, the largest of its processes (%s, inside the timed region). Per-column quantiles, "
             "peak RSS per process, target <= %d MiB: %s." % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), size / 1e9,
                 harness.ROWS, harness.COLS, WIDE_ROWS, WIDE, W, REPS, W, how, roof, med["roof_fault"],
                 med["roof_populate"], med["roof_pread"], mapped / roof, SCALE, OFFSET, SETTLE_S,
                 rss_by, MIB_TARGET, target),
             "",
             "Answers compared in the warm-up round (mmrun%s and peer: equal values, float64 sums within "
             "rounding, equal `.npy` bytes, every element negated): %s." % (
                 ", before" if BASE else "",
                 "all agree" if not differs else "**differ: %s**" % "; ".join(differs)), ""]
    head = "| analysis | mmrun s | of roofline | peak RSS MiB (max per process) | peer | peer s | mmrun vs peer |"
    sep = "|---|---:|---:|---:|---|---:|---:|"
    if BASE:
        head += " before s | before / after | before RSS MiB |"
        sep += "---:|---:|---:|"
    lines += [head, sep]
    for name in cfgs:
        t = med["mmrun " + name]
        p = med[peer[name]]
        row = "| %s | %.3f | %.2f | %.0f | %s | %.3f | %.2fx |" % (
            name, t, roof / t, mib["mmrun " + name], peer_what[name], p, p / t)
        if BASE:
            if "base " + name in med:
                b = med["base " + name]
                row += " %.3f | %.2fx | %.0f |" % (b, b / t, mib["base " + name])
            else:
                row += " failed | | |"
        lines.append(row)
        print(row, flush=True)
    lines += ["", END]
    print("\n".join(lines[2:5]))
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
