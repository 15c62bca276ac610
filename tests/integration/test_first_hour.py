"""The first hour of a new user (issue 12): no silent wrong numbers, no dead
ends, everything checked from outside the binaries.

- A shape that leaves bytes unread warns on stderr (not with -q) and in the
  result's "warnings" list, naming the bytes and shapes/offsets that fit;
  `validate` and `inspect` say the same; `dataset`/`results` stay identical
  for any worker count.
- The build needs Catch2 only for the tests; `make run` builds only mmrun
  and mmworker; the README lists every package scripts/bootstrap installs.
- The shipped crontab line, installed with the documented `cmake --install`,
  runs under cron's environment (`env -i PATH=/usr/bin:/bin`).
- An empty or not-yet-written growing file is a run of 0 rows (numpy's
  results for empty input); the next run reads the rows that arrived. An
  empty .npy works too.
- Workers: capped at the units of rows, reported; one warning beyond the
  CPUs; more than 4096 is a usage error; 1024 workers stay small.
- Hints: generate asks for mode w+; `mmrun -` and `mmrun /dev/stdin` read the
  config from stdin with paths against the current folder; validate takes
  the run options.
- Honest figures: bytes_scanned counts the blocks read, once per pass;
  row_axis; the progress log ends with a 100% line.
- uniform never returns high; inspect of empty/0-d .npy; docs stand alone.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_first_hour.py [FILTER...]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def warning_lines(err):
    return [l[len("mmrun: warning: "):] for l in err.splitlines() if l.startswith("mmrun: warning: ")]


def stats_config(path, shape, dtype="f4", **extra):
    ds = {"path": path, "dtype": dtype, "shape": shape}
    ds.update(extra)
    return {"dataset": ds, "analyses": [{"name": "s", "op": "stats", "axis": 0}]}


def dataset_results(doc):
    return json.dumps([doc["dataset"], doc["results"]], sort_keys=False)


# --------------------------------------------------------------------------
# 1. Trailing bytes

@mm.test("trailing bytes: [-1, 999] on 10000x1000 f4 warns with the row lengths that fit, also under -q")
def _():
    with mm.tmpdir() as d:
        np.zeros((10000, 1000), np.float32).tofile(os.path.join(d, "a.f4"))
        cfg = mm.write_config(d, stats_config("a.f4", [-1, 999]))
        doc, res = mm.run_ok(["--workers", "1", cfg])
        ws = warning_lines(res.err)
        mm.eq(len(ws), 1, "warning lines: %r" % res.err)
        mm.eq(doc.get("warnings"), ws, "the document's warnings are the stderr lines")
        for frag in ("a.f4", "40 of the 40000000", "[-1, 1000]", "partial last row"):
            mm.check(frag in ws[0], "warning %r does not mention %r" % (ws[0], frag))
        mm.eq(doc["dataset"]["trailing_bytes"], 40, "trailing_bytes")
        # Every suggested shape really fits: numpy can reshape to it.
        fits = re.findall(r"shape \[-1, (\d+)\]", ws[0].split("would use every byte", 1)[1])
        mm.check(fits, "no row length suggested: %r" % ws[0])
        for s in fits:
            mm.check(10_000_000 % int(s) == 0, "suggested row length %s does not divide the elements" % s)
        quiet, qres = mm.run_ok(["-q", "--workers", "3", cfg])
        mm.eq(qres.err, "", "stderr with -q")
        mm.eq([w for w in quiet.get("warnings", []) if "CPU" not in w], ws, "warnings kept in the document with -q")
        mm.eq(dataset_results(quiet), dataset_results(doc), "dataset and results for 1 and 3 workers")


@mm.test("trailing bytes: fixed [9999, 1000] suggests [10000, 1000]; a forgotten offset suggests the offset")
def _():
    with mm.tmpdir() as d:
        np.ones((10000, 1000), np.float32).tofile(os.path.join(d, "a.f4"))
        doc, res = mm.run_ok([mm.write_config(d, stats_config("a.f4", [9999, 1000]))])
        ws = warning_lines(res.err)
        mm.eq(len(ws), 1, "one warning: %r" % res.err)
        mm.check("[10000, 1000]" in ws[0] and "4000" in ws[0], "warning: %r" % ws[0])
        # A cube behind a 64-byte header, configured without the offset.
        cube = np.arange(20 * 30 * 40, dtype=np.float32).reshape(20, 30, 40)
        with open(os.path.join(d, "cube.dat"), "wb") as f:
            f.write(b"H" * 64)
            cube.tofile(f)
        cfg = mm.write_config(d, stats_config("cube.dat", [20, 30, 40]), "cube.json")
        doc, res = mm.run_ok([cfg])
        ws = warning_lines(res.err)
        mm.check(len(ws) == 1 and "offset 64" in ws[0], "warning: %r" % res.err)
        # The suggestion works: with offset 64 no warning and numpy's numbers.
        fixed = mm.write_config(d, stats_config("cube.dat", [20, 30, 40], offset=64), "fixed.json")
        doc, res = mm.run_ok([fixed])
        mm.eq(warning_lines(res.err), [], "warnings with the suggested offset")
        mm.check("warnings" not in doc, "a document without warnings has no 'warnings' key")
        mm.assert_close(doc["results"]["s"]["mean"], cube.astype(np.float64).mean(axis=0), what="mean")


@mm.test("trailing bytes: validate and inspect give the same warning; --state expects a partial row")
def _():
    with mm.tmpdir() as d:
        np.zeros(10_000_010, np.float32).tofile(os.path.join(d, "a.f4"))
        cfg = mm.write_config(d, stats_config("a.f4", [-1, 1000]))
        run, rres = mm.run_ok(["--workers", "1", cfg])
        val = mm.run_mmrun(["validate", "--workers", "1", cfg])
        mm.eq(val.code, 0, "validate: %s" % val.err)
        mm.eq(json.loads(val.out)["warnings"], run["warnings"], "validate's warnings")
        mm.eq(warning_lines(val.err), run["warnings"], "validate's stderr")
        ins = mm.run_mmrun(["inspect", os.path.join(d, "a.f4"), "--dtype", "f4", "--shape", "-1,1000"])
        mm.eq(ins.code, 0, "inspect: %s" % ins.err)
        mm.eq(json.loads(ins.out)["warnings"], run["warnings"], "inspect's warnings")
        # A growing file under --state: the partial last row is expected.
        doc, res = mm.run_ok(["--state", os.path.join(d, "st"), cfg])
        mm.eq(warning_lines(res.err), [], "warnings under --state")
        mm.check("warnings" not in doc, "warnings key under --state")


# --------------------------------------------------------------------------
# 2. Build: Catch2 only for tests, `make run` builds what the demo needs

def configure(build_dir, *flags):
    return subprocess.run(["cmake", "-S", REPO, "-B", build_dir, "-DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON"]
                          + list(flags), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)


@mm.test("build: -DMMRUN_TESTS=OFF configures without Catch2; ON without Catch2 says how to proceed")
def _():
    if shutil.which("cmake") is None:
        raise mm.Skip("cmake not installed")
    with mm.tmpdir() as d:
        off = configure(os.path.join(d, "off"), "-DMMRUN_TESTS=OFF")
        mm.eq(off.returncode, 0, "configure with MMRUN_TESTS=OFF and no Catch2: %s" % off.stdout[-2000:])
        on = configure(os.path.join(d, "on"), "-DMMRUN_TESTS=ON")
        mm.check(on.returncode != 0, "configure with tests on and no Catch2 succeeded")
        mm.check("MMRUN_TESTS=OFF" in on.stdout, "the failure does not name -DMMRUN_TESTS=OFF: %s" % on.stdout[-1500:])


@mm.test("build: `make run` builds only the mmrun and mmworker targets; README lists every bootstrap package")
def _():
    res = subprocess.run(["make", "-n", "-C", REPO, "run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60)
    builds = [l for l in res.stdout.splitlines() if "cmake --build" in l]
    mm.check(builds and all("--target mmrun mmworker" in l for l in builds), "make -n run: %s" % res.stdout)
    demo = [l for l in res.stdout.splitlines() if "configs/demo.json" in l]
    mm.check(demo and all("--workers" not in l for l in demo),
             "the demo asks for a fixed worker count (a warning on small machines): %r" % demo)
    with open(os.path.join(REPO, "scripts", "bootstrap")) as f:
        text = f.read()
    packages = set()
    for var in ("DEMO_PACKAGES", "PACKAGES", "BENCH_PACKAGES"):
        m = re.search(r'^%s="([^"]*)"' % var, text, re.M)
        mm.check(m is not None, "scripts/bootstrap has no %s list" % var)
        packages |= {p for p in m.group(1).split() if not p.startswith("$")}
    with open(os.path.join(REPO, "README.md")) as f:
        readme = f.read()
    missing = sorted(p for p in packages if "`%s`" % p not in readme)
    mm.eq(missing, [], "bootstrap packages missing from the README")


# --------------------------------------------------------------------------
# 3. Cron

def crontab_line():
    with open(os.path.join(REPO, "configs", "cron_hourly.crontab")) as f:
        lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#") and "=" not in l.split()[0]]
    mm.eq(len(lines), 1, "active lines in configs/cron_hourly.crontab")
    fields = lines[0].split(None, 5)
    mm.eq(fields[:5], ["0", "*", "*", "*", "*"], "schedule")
    return fields[5]


@mm.test("cron: the shipped crontab line runs under env -i PATH=/usr/bin:/bin after the documented install")
def _():
    if shutil.which("cmake") is None:
        raise mm.Skip("cmake not installed")
    command = crontab_line()
    mm.check("/tmp/" not in command and "~" not in command, "crontab line uses /tmp or ~: %s" % command)
    with mm.tmpdir() as home:
        # The documented install: cmake --install build --prefix "$HOME/.local".
        build_dir = os.path.dirname(mm.mmrun_path())
        inst = subprocess.run(["cmake", "--install", build_dir, "--prefix", os.path.join(home, ".local")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        mm.eq(inst.returncode, 0, "cmake --install: %s" % inst.stdout[-1500:])
        os.makedirs(os.path.join(home, "mmrun", "configs"))
        os.makedirs(os.path.join(home, "mmrun", "data"))
        shutil.copy(os.path.join(REPO, "configs", "cron_hourly.json"), os.path.join(home, "mmrun", "configs"))
        series = os.path.join(home, "mmrun", "data", "time_series.dat")
        open(series, "wb").close()  # not written yet

        def cron_run():
            env = ["env", "-i", "PATH=/usr/bin:/bin", "HOME=" + home, "SHELL=/bin/sh", "LOGNAME=root"]
            return subprocess.run(env + ["/bin/sh", "-c", command], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, timeout=120)

        res = cron_run()
        mm.eq((res.returncode, res.stderr), (0, ""), "cron run on an empty series")
        result = os.path.join(home, "mmrun", "data", "hourly.json")
        doc = mm.parse_doc(open(result).read())
        mm.eq(doc["results"]["overall"]["count"], 0, "count of an empty series")
        rng = np.random.default_rng(12)
        rows = rng.standard_normal((3000, 10)).astype(np.float32)
        rows.tofile(series)
        res = cron_run()
        mm.eq((res.returncode, res.stderr), (0, ""), "cron run after rows arrived")
        doc = mm.parse_doc(open(result).read())
        mm.eq(doc["results"]["overall"]["count"], rows.size, "count after rows arrived")
        mm.assert_close(doc["results"]["columns"]["mean"], rows.astype(np.float64).mean(axis=0), what="mean")
        mm.check(os.path.exists(os.path.join(home, "mmrun", "data", "hourly.lock")),
                 "the lock file is not in the job's own folder")


# --------------------------------------------------------------------------
# 4. Empty datasets

def numpy_empty_stats(a):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return {"count": [0] * a.shape[1], "mean": np.nanmean(a.astype(np.float64), axis=0).tolist(),
                "sum": np.nansum(a.astype(np.float64), axis=0).tolist()}


@mm.test("empty: --state on an empty growing file is 0 rows (numpy's NaN means); the next run reads new rows")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "g.f4")
        open(path, "wb").close()
        cfg = mm.write_config(d, stats_config("g.f4", [-1, 10]))
        state = os.path.join(d, "st")
        doc, res = mm.run_ok(["-q", "--state", state, cfg])
        expect = numpy_empty_stats(np.zeros((0, 10), np.float32))
        for k, v in expect.items():
            mm.assert_close(doc["results"]["s"][k], v, what=k)
        mm.eq(doc["mmrun"]["rows"], 0, "rows")
        rows = np.arange(2500, dtype=np.float32).reshape(250, 10)
        with open(path, "ab") as f:
            rows.tofile(f)
        doc, res = mm.run_ok(["-q", "--state", state, cfg])
        mm.eq(doc["results"]["s"]["count"], [250] * 10, "count after rows arrived")
        mm.assert_close(doc["results"]["s"]["mean"], rows.astype(np.float64).mean(axis=0), what="mean")
        # A raw file whose header (offset) is not written yet: 0 rows too.
        open(os.path.join(d, "h.f4"), "wb").write(b"xx")
        cfg2 = mm.write_config(d, stats_config("h.f4", [-1, 10], offset=16), "h.json")
        doc, res = mm.run_ok(["-q", "--state", os.path.join(d, "st2"), cfg2])
        mm.eq(doc["results"]["s"]["count"], [0] * 10, "count before the header is written")
        mm.assert_no_leftovers(d)


@mm.test("empty: a .npy of shape (0, 10) runs (numpy's results) and inspect describes it")
def _():
    with mm.tmpdir() as d:
        a = np.zeros((0, 10), np.float32)
        np.save(os.path.join(d, "e.npy"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "e.npy"}, "analyses": [
            {"name": "s", "op": "stats", "axis": 0}, {"name": "all", "op": "stats"},
            {"name": "h", "op": "histogram", "bins": 4}, {"name": "q", "op": "quantiles", "q": 0.5}]})
        doc, res = mm.run_ok(["--workers", "3", cfg])
        expect = numpy_empty_stats(a)
        for k, v in expect.items():
            mm.assert_close(doc["results"]["s"][k], v, what=k)
        mm.eq(doc["results"]["all"]["count"], 0, "count")
        counts, edges = np.histogram(a, bins=4)
        mm.eq(doc["results"]["h"]["counts"], counts.tolist(), "histogram counts")
        mm.assert_close(doc["results"]["h"]["edges"], edges, what="edges")
        mm.check(np.isnan(doc["results"]["q"]["values"]), "median of nothing: %r" % doc["results"]["q"])
        ins = mm.run_mmrun(["inspect", os.path.join(d, "e.npy")])
        mm.eq(ins.code, 0, "inspect of an empty .npy: %s" % ins.err)
        mm.eq((json.loads(ins.out)["shape"], json.loads(ins.out)["rows"]), ([0, 10], 0), "shape and rows")


@mm.test("inspect: --offset negative or not a number is 64 naming --offset; an offset leaving less "
         "than a row is 65, as a run with the same layout; one row left is described")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "f.dat")
        mm.write_raw(path, np.arange(100, dtype="<f8"))  # 800 bytes
        layout = ["--dtype", "<f8", "--shape", "-1,1"]
        for bad in ("-5", "abc", "1e3", ""):
            args = ["inspect", path] + layout + ["--offset=" + bad]
            mm.assert_error(mm.run_mmrun(args), 64, ["--offset"], args=args)
        for offset in (800, 799, 793):
            args = ["inspect", path] + layout + ["--offset", str(offset)]
            mm.assert_error(mm.run_mmrun(args), 65, [path], args=args)
            cfg = mm.write_config(d, {"dataset": {"path": "f.dat", "dtype": "<f8", "shape": [-1, 1],
                                                  "offset": offset},
                                      "analyses": [{"name": "s", "op": "stats"}]})
            mm.assert_error(mm.run_mmrun(["-q", cfg]), 65, [path], args=[cfg])
        ins = mm.run_mmrun(["inspect", path] + layout + ["--offset", "792"])
        mm.eq(ins.code, 0, "inspect with one row left: %s" % ins.err)
        mm.eq((json.loads(ins.out)["offset"], json.loads(ins.out)["rows"]), (792, 1), "offset and rows")


# --------------------------------------------------------------------------
# 5. Workers

@mm.test("workers: capped at the blocks and reported; one warning beyond the CPUs; > 4096 is 64")
def _():
    with mm.tmpdir() as d:
        np.zeros((300000, 10), np.float32).tofile(os.path.join(d, "a.f4"))  # 12 MB: 12 blocks
        cfg = mm.write_config(d, stats_config("a.f4", [-1, 10]))
        doc, res = mm.run_ok(["--workers", "64", cfg])
        blocks = json.loads(mm.run_mmrun(["validate", cfg]).out)["blocks"]
        mm.eq(doc["mmrun"]["workers"], blocks, "workers started")
        mm.eq(doc["mmrun"]["workers_requested"], 64, "workers requested")
        cpus = len(os.sched_getaffinity(0))
        cpu_warnings = [w for w in warning_lines(res.err) if "CPU" in w]
        mm.eq(len(cpu_warnings), 1 if cpus < 64 else 0, "CPU warnings: %r" % res.err)
        one, _r = mm.run_ok(["--workers", "1", cfg])
        mm.check("workers_requested" not in one["mmrun"], "workers_requested when nothing was capped")
        mm.eq(dataset_results(one), dataset_results(doc), "dataset and results for 1 and 64 workers")
        mm.assert_error(mm.run_mmrun(["--workers", "4097", cfg]), 64, ["--workers"])


def tree_pss_kb(root):
    """Sum of Pss (kB) over `root` and its descendants."""
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(p))
            except OSError:
                pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += kids.get(pid, [])
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                total += sum(int(l.split()[1]) for l in f if l.startswith("Pss:"))
        except OSError:
            pass
    return total


@mm.test("workers: 1024 workers on 1100 blocks stay under 1.5 GB of memory (process tree Pss)")
def _():
    if os.environ.get("ASAN_OPTIONS") or os.environ.get("MMRUN_SANITIZED"):
        raise mm.Skip("sanitizer builds give every process tens of MB of shadow memory")
    with mm.tmpdir() as d:
        path = os.path.join(d, "big.f4")
        with open(path, "wb") as f:
            f.truncate(1100 << 20)  # sparse: 1100 blocks of zeros
        cfg = mm.write_config(d, stats_config(path, [-1, 256]))
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "--workers", "1024", cfg], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_pss_kb(proc.pid))
            time.sleep(0.02)
        out, err = proc.communicate()
        mm.eq(proc.returncode, 0, "exit of --workers 1024: %s" % err[-500:])
        doc = mm.parse_doc(out.decode())
        mm.eq(doc["mmrun"]["workers"], 1024, "workers started")
        mm.check(peak < 1536 * 1024, "peak Pss of the process tree: %d MB" % (peak // 1024))
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# 6. Hints

@mm.test("hints: generate without mode w+ asks for it (78 naming dataset.mode), file present or not")
def _():
    with mm.tmpdir() as d:
        cfg = {"dataset": {"path": "new.f4", "dtype": "f4", "shape": [100, 10]},
               "analyses": [{"name": "g", "op": "generate", "fill": {"kind": "arange"}}]}
        path = mm.write_config(d, cfg)
        mm.assert_error(mm.run_mmrun([path]), 78, ["dataset.mode", "w+"])
        np.zeros(5, np.float32).tofile(os.path.join(d, "new.f4"))
        mm.assert_error(mm.run_mmrun([path]), 78, ["dataset.mode", "w+"])
        mm.assert_error(mm.run_mmrun(["validate", path]), 78, ["dataset.mode", "w+"])


def run_with_stdin(args, stdin_path, cwd):
    with open(stdin_path, "rb") as f:
        return subprocess.run([mm.mmrun_path()] + args, stdin=f, cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=120)


@mm.test("hints: `mmrun -` and `mmrun /dev/stdin` read the config from stdin, relative paths against the cwd")
def _():
    with mm.tmpdir() as d:
        a = np.arange(5000, dtype=np.float32).reshape(500, 10)
        a.tofile(os.path.join(d, "a.f4"))
        os.makedirs(os.path.join(d, "elsewhere"))
        cfg = mm.write_config(os.path.join(d, "elsewhere"), stats_config("a.f4", [-1, 10]))
        for arg in ("-", "/dev/stdin"):
            res = run_with_stdin(["-q", arg], cfg, d)
            mm.eq((res.returncode, res.stderr), (0, ""), "mmrun %s < config" % arg)
            doc = mm.parse_doc(res.stdout)
            mm.eq(doc["dataset"]["path"], os.path.join(d, "a.f4"), "dataset path with %s" % arg)
            mm.assert_close(doc["results"]["s"]["mean"], a.astype(np.float64).mean(axis=0), what="mean")
        res = run_with_stdin(["validate", "-"], cfg, d)
        mm.eq(res.returncode, 0, "validate - < config: %s" % res.stderr)


@mm.test("hints: validate takes and checks the run options")
def _():
    with mm.tmpdir() as d:
        np.zeros((1000, 10), np.float32).tofile(os.path.join(d, "a.f4"))
        cfg = mm.write_config(d, stats_config("a.f4", [-1, 10]))
        res = mm.run_mmrun(["validate", "-q", "--workers", "8", "--launch", "spawn", "-o",
                            os.path.join(d, "out.json"), "--progress", "--timeout", "5", cfg])
        mm.eq((res.code, res.err), (0, ""), "validate with run options")
        plan = json.loads(res.out)
        mm.eq((plan["launch"], plan["output"], plan["workers_requested"]),
              ("spawn", os.path.join(d, "out.json"), 8), "the options in the plan")
        mm.check(not os.path.exists(os.path.join(d, "out.json")), "validate wrote the output")
        mm.assert_error(mm.run_mmrun(["validate", "--launch", "thread", cfg]), 64, ["--launch"])
        mm.assert_error(mm.run_mmrun(["validate", "-o", os.path.join(d, "no", "out.json"), cfg]), 73, ["out.json"])
        q = mm.write_config(d, {"dataset": {"path": "a.f4", "dtype": "f4", "shape": [-1, 10]},
                                "analyses": [{"name": "q", "op": "quantiles", "q": 0.5}]}, "q.json")
        mm.assert_error(mm.run_mmrun(["validate", "--shard", "0/2", q]), 78, ["--shard"])
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# 7. Honest figures

@mm.test("figures: bytes_scanned counts the blocks read (a one-block slice; two passes twice)")
def _():
    with mm.tmpdir() as d:
        a = np.arange(4_000_000, dtype=np.float32).reshape(-1, 100)  # 16 MB: 16 blocks
        a.tofile(os.path.join(d, "a.f4"))
        ds = {"path": "a.f4", "dtype": "f4", "shape": [-1, 100]}
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [
            {"name": "one", "op": "slice", "select": "[5]", "output": "row5.npy"}]})
        doc, _r = mm.run_ok(["-q", cfg])
        # Blocks hold the whole rows that fit in 1 MiB (docs/CHOICES.md): row 5 is in block 0.
        rows_per_block = (1 << 20) // 400
        mm.eq(doc["mmrun"]["bytes_scanned"], rows_per_block * 400, "bytes of the one block read")
        np.testing.assert_array_equal(np.load(os.path.join(d, "row5.npy")), a[5])
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [{"name": "h", "op": "histogram"}]}, "h.json")
        doc, _r = mm.run_ok(["-q", cfg])
        mm.eq((doc["mmrun"]["passes"], doc["mmrun"]["bytes_scanned"]), (2, 2 * a.nbytes), "two passes")
        # An in-place transform reads what it rewrites; generate reads nothing.
        t = mm.write_config(d, {"dataset": dict(ds, mode="r+"), "analyses": [
            {"name": "t", "op": "transform", "fn": "affine", "scale": 2, "offset": 0}]}, "t.json")
        doc, _r = mm.run_ok(["-q", t])
        mm.eq(doc["mmrun"]["bytes_scanned"], a.nbytes, "bytes_scanned of an in-place transform")
        np.testing.assert_array_equal(np.fromfile(os.path.join(d, "a.f4"), np.float32), 2 * a.ravel())
        g = mm.write_config(d, {"dataset": {"path": "g.f4", "dtype": "f4", "shape": [1000, 100], "mode": "w+"},
                                "analyses": [{"name": "g", "op": "generate", "fill": {"kind": "arange"}}]}, "g.json")
        doc, _r = mm.run_ok(["-q", g])
        mm.eq(doc["mmrun"]["bytes_scanned"], 0, "bytes_scanned of generate")


@mm.test("figures: row_axis says which axis rows run along (F order: the last); progress ends at 100%")
def _():
    with mm.tmpdir() as d:
        a = np.asfortranarray(np.arange(600000, dtype=np.float32).reshape(100, 200, 30))
        np.save(os.path.join(d, "f.npy"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "f.npy"}, "analyses": [{"name": "s", "op": "stats"}]})
        doc, res = mm.run_ok(["--progress=0.01", "--workers", "2", cfg])
        mm.eq((doc["mmrun"]["row_axis"], doc["mmrun"]["rows"]), (2, 30), "row_axis and rows of F order")
        lines = [l for l in res.err.splitlines() if l.strip()]
        mm.check(lines, "no progress line")
        last = lines[-1]
        for frag in ("100.0%", "GB/s", "axis 2", "30 rows"):
            mm.check(frag in last, "last progress line %r lacks %r" % (last, frag))
        mm.check(re.search(r"in \d+\.\d+s", last), "no elapsed time in %r" % last)


# --------------------------------------------------------------------------
# 8. uniform, inspect, docs

@mm.test("generate: uniform never returns high (float32, float16, float64 with low=1, int)")
def _():
    with mm.tmpdir() as d:
        cases = [("f4", 0.0, 1.0), ("f2", 0.0, 1.0), ("f8", 1.0, 2.0), ("f4", -1.0, 3.0), ("i4", 0, 7)]
        for i, (dtype, lo, hi) in enumerate(cases):
            path = "u%d.npy" % i
            cfg = mm.write_config(d, {"dataset": {"path": path, "dtype": dtype, "shape": [4_000_000],
                                                  "mode": "w+"},
                                      "analyses": [{"name": "g", "op": "generate",
                                                    "fill": {"kind": "uniform", "low": lo, "high": hi,
                                                             "seed": 3}}]}, "u%d.json" % i)
            mm.run_ok(["-q", cfg])
            v = np.load(os.path.join(d, path)).astype(np.float64)
            mm.check(v.max() < hi and v.min() >= lo, "%s uniform [%s, %s): min %r max %r"
                     % (dtype, lo, hi, v.min(), v.max()))


@mm.test("histogram: float64 edges as numpy for float64 input; \"edges_dtype\": \"input\" equals numpy on float32/16")
def _():
    rng = np.random.default_rng(5)
    with mm.tmpdir() as d:
        differs = 0
        for i, (dtype, rng_spec, bins) in enumerate([("f4", None, 10), ("f4", [-1.3, 2.7], 1000),
                                                     ("f2", [0.1, 0.7], 5), ("f4", None, 999)]):
            a = rng.standard_normal(200_000).astype(dtype)
            # Values on and next to numpy's own (float32/16) edges.
            e = np.histogram(a, bins=bins, range=rng_spec)[1]
            near = np.concatenate([e, np.nextafter(e, np.inf, dtype=e.dtype),
                                   np.nextafter(e, -np.inf, dtype=e.dtype)])
            a = np.concatenate([a, np.repeat(near.astype(dtype), 3)])
            np.save(os.path.join(d, "h%d.npy" % i), a)
            extra = {"range": rng_spec} if rng_spec else {}
            cfg = mm.write_config(d, {"dataset": {"path": "h%d.npy" % i}, "analyses": [
                dict({"name": "input", "op": "histogram", "bins": bins, "edges_dtype": "input"}, **extra),
                dict({"name": "f64", "op": "histogram", "bins": bins}, **extra)]}, "h%d.json" % i)
            doc, _r = mm.run_ok(["-q", "--workers", "3", cfg])
            counts, edges = np.histogram(a, bins=bins, range=rng_spec)
            mm.eq(doc["results"]["input"]["counts"], counts.tolist(), "%s counts with input edges" % dtype)
            mm.eq(doc["results"]["input"]["edges"], edges.astype(np.float64).tolist(), "%s input edges" % dtype)
            c64, e64 = np.histogram(a.astype(np.float64), bins=bins, range=rng_spec)
            mm.eq(doc["results"]["f64"]["counts"], c64.tolist(), "%s counts with float64 edges" % dtype)
            mm.eq(doc["results"]["f64"]["edges"], e64.tolist(), "%s float64 edges" % dtype)
            differs += doc["results"]["f64"]["counts"] != counts.tolist()
        mm.check(differs > 0, "float64 and float32 edges never gave different counts: the test shows nothing")
        bad = mm.write_config(d, {"dataset": {"path": "h0.npy"}, "analyses": [
            {"name": "h", "op": "histogram", "edges_dtype": "float32"}]}, "bad.json")
        mm.assert_error(mm.run_mmrun([bad]), 78, ["edges_dtype"])


@mm.test("inspect: a 0-d .npy gives the real reason (65); a truncated .npy body names the data")
def _():
    with mm.tmpdir() as d:
        np.save(os.path.join(d, "z.npy"), np.float32(3))
        mm.assert_error(mm.run_mmrun(["inspect", os.path.join(d, "z.npy")]), 65, ["0-d", "z.npy"])
        np.save(os.path.join(d, "t.npy"), np.zeros((100, 10), np.float32))
        with open(os.path.join(d, "t.npy"), "r+b") as f:
            f.truncate(200)
        res = mm.run_mmrun(["inspect", os.path.join(d, "t.npy")])
        mm.assert_error(res, 65, ["t.npy"])
        mm.check("dtype" not in res.err.split("t.npy", 1)[1] or "contradicts" not in res.err,
                 "inspect blames a dtype: %r" % res.err)


@mm.test("docs: README, docs/ and the man page stand alone (no ../shared, SPEC.md or DESIGN.md)")
def _():
    files = [os.path.join(REPO, "README.md"), os.path.join(REPO, "docs", "mmrun.1")]
    files += [os.path.join(REPO, "docs", n) for n in sorted(os.listdir(os.path.join(REPO, "docs")))
              if n.endswith(".md")]
    bad = []
    for path in files:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if re.search(r"\.\./shared|SPEC\.md|DESIGN\.md|\bSPEC §|\bDESIGN §|\bDESIGN \"", line):
                    bad.append("%s:%d" % (os.path.relpath(path, REPO), n))
    mm.eq(bad, [], "references to files users do not have")


if __name__ == "__main__":
    mm.main()
