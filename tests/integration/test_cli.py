"""The command line, the result document and the exit codes (SPEC §1, §4, §5,
CHOICES "Command line and documents").

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_cli.py [FILTER...]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

FIELDS = ["count", "nan_count", "sum", "mean", "var", "std", "min", "max"]
MMRUN_KEYS = ["version", "workers", "launch", "elapsed_s", "rows", "bytes_scanned", "passes"]


def nan_data(shape, seed, dtype="<f8", order="C"):
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 100.0, size=shape)
    a[rng.random(shape) < 0.03] = np.nan
    return np.asarray(a, dtype=dtype, order=order)


stats_oracle = mm.stats_oracle


def check_against_numpy(result, a, axis, ddof=0):
    exp = stats_oracle(a, axis, ddof)
    for field in FIELDS:
        if field in result:
            rtol = 1e-9
            atol = 1e-9 * float(np.nansum(np.abs(a.astype(np.float64)))) if field in ("sum", "mean") else 0.0
            mm.assert_close(result[field], exp[field], rtol=rtol, atol=atol, what=field)


def big_dataset(d, name="big.dat"):
    """8 MiB of float64 with NaNs (several ~1 MiB blocks); returns (array, dataset)."""
    a = nan_data((262144, 4), 1)
    mm.write_raw(os.path.join(d, name), a, offset=16)
    return a, {"path": name, "dtype": "<f8", "shape": [262144, 4], "offset": 16}


BIG_ANALYSES = [
    {"name": "all", "op": "stats"},
    {"name": "cols", "op": "stats", "axis": 0, "ddof": 1},
    {"name": "both", "op": "stats", "axis": [0, 1]},
    {"name": "some", "op": "stats", "axis": -2, "stats": ["mean", "max"]},
]


def check_document_shape(doc, res):
    for key in ("mmrun", "dataset", "results"):
        mm.check(key in doc, "result document lacks %r" % key)
    for key in MMRUN_KEYS:
        mm.check(key in doc["mmrun"], "mmrun.%s missing from the document" % key)
    mm.check(res.out.startswith("{\n  \""), "document is not printed with two-space indentation: %r"
             % res.out[:40])


# --------------------------------------------------------------------------
# --help, --version, document layout


@mm.test("--help prints Usage on stdout and exits 0")
def _():
    res = mm.run_mmrun(["--help"])
    mm.eq(res.code, 0, "exit code of --help")
    mm.check(res.out.startswith("Usage"), "--help stdout does not start with 'Usage': %r" % res.out[:80])
    for word in ("validate", "inspect", "--workers", "--launch", "--output", "--quiet"):
        mm.check(word in res.out, "--help does not mention %s" % word)


COMMANDS = ["validate", "inspect", "merge", "recover", "plot", "help"]


@mm.test("`mmrun help` prints the same text as --help, listing every command with a description")
def _():
    res = mm.run_mmrun(["help"])
    mm.eq(res.code, 0, "exit code of mmrun help")
    mm.eq(res.err, "", "stderr of mmrun help")
    mm.eq(res.out, mm.run_mmrun(["--help"]).out, "mmrun help vs mmrun --help")
    listed = res.out.split("Commands:\n", 1)
    mm.check(len(listed) == 2, "no 'Commands:' section in the help: %r" % res.out[:400])
    block = listed[1].split("\n\n", 1)[0]
    for name in COMMANDS:
        rows = [l for l in block.splitlines() if l.startswith("  " + name)]
        mm.check(len(rows) == 1, "the help lists %r %d times: %r" % (name, len(rows), block))
    for line in block.splitlines():
        mm.check(len(line.split()) >= 2, "a command without a description: %r" % line)


@mm.test("an unknown command close to a command's name: exit 64, 'did you mean'")
def _():
    with mm.tmpdir() as d:
        for typo, meant in (("mege", "merge"), ("valdate", "validate"), ("inspet", "inspect"),
                            ("recvoer", "recover"), ("hlep", "help"), ("plto", "plot")):
            res = mm.run_mmrun([typo, "x.json"], cwd=d)
            mm.assert_error(res, 64, ["unknown command '%s'; did you mean '%s'?" % (typo, meant)],
                            args=[typo])
            mm.eq(res.err, "mmrun: error: unknown command '%s'; did you mean '%s'?\n" % (typo, meant),
                  "stderr of mmrun %s" % typo)
        mm.assert_no_leftovers(d)


@mm.test("a first argument that is a path, an existing file or far from every command is a config")
def _():
    with mm.tmpdir() as d:
        prepare(d)
        cfg = mm.write_config(d, cfg_with())
        # A config named like a typo of a command still runs: it exists.
        os.rename(cfg, os.path.join(d, "mege"))
        doc, _ = mm.run_ok(["-q", "mege"], cwd=d)
        mm.check("results" in doc, "the config 'mege' did not run")
        # Missing configs keep their own error (66), whatever their name.
        for name in ("valdate.json", "./mrege", "nothing_like_a_command"):
            res = mm.run_mmrun([name], cwd=d)
            mm.assert_error(res, 66, [name.lstrip("./")], args=[name])
            mm.check("unknown command" not in res.err, "%s taken for a command: %r" % (name, res.err))


@mm.test("--version prints 'mmrun VERSION', matching the document's mmrun.version")
def _():
    res = mm.run_mmrun(["--version"])
    mm.eq(res.code, 0, "exit code of --version")
    m = re.match(r"^mmrun (\S+)\n?$", res.out)
    mm.check(m is not None, "--version printed %r, expected 'mmrun VERSION'" % res.out)
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), np.arange(10.0))
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"}, "analyses": [{"op": "stats"}]})
        doc, _ = mm.run_ok(["-q", cfg])
        mm.eq(doc["mmrun"]["version"], m.group(1), "mmrun.version")


@mm.test("document layout: keys, mmrun fields, indentation, arrays of numbers on one line")
def _():
    with mm.tmpdir() as d:
        a = nan_data((50, 6), 2)
        mm.write_npy(os.path.join(d, "x.npy"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"},
                                  "analyses": [{"name": "cols", "op": "stats", "axis": 0}]})
        doc, res = mm.run_ok(["-q", "--workers", 2, cfg])
        check_document_shape(doc, res)
        m = doc["mmrun"]
        mm.check(isinstance(m["workers"], int) and 1 <= m["workers"] <= 2, "mmrun.workers: %r" % m["workers"])
        mm.eq(m["launch"], "fork", "mmrun.launch (default)")
        mm.eq(m["rows"], 50, "mmrun.rows")
        mm.check(isinstance(m["elapsed_s"], (int, float)) and m["elapsed_s"] >= 0, "mmrun.elapsed_s")
        mm.check(isinstance(m["passes"], int) and m["passes"] >= 1, "mmrun.passes: %r" % m["passes"])
        mm.check(isinstance(m["bytes_scanned"], int) and m["bytes_scanned"] >= a.nbytes,
                 "mmrun.bytes_scanned %r < data bytes %d" % (m["bytes_scanned"], a.nbytes))
        lines = [l for l in res.out.splitlines() if l.strip().startswith('"count"')]
        mm.check(len(lines) == 1 and re.match(r'^\s*"count": \[[^\[\]\n]*\],?$', lines[0]),
                 "the 'count' array is not printed on one line: %r" % lines)
        ds = doc["dataset"]
        for key in ("path", "format", "dtype", "shape", "order", "offset", "trailing_bytes"):
            mm.check(key in ds, "dataset.%s missing" % key)
        check_against_numpy(doc["results"]["cols"], a, 0)
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Byte-identical dataset and results for any --workers and --launch


def identity_runs(d, cfg, runs):
    """Runs cfg with each (workers, launch); returns {run: (spans, doc)}."""
    out = {}
    for workers, launch in runs:
        args = ["-q", "--workers", workers, "--launch", launch, cfg]
        doc, res = mm.run_ok(args)
        mm.eq(doc["mmrun"]["launch"], launch, "mmrun.launch")
        spans = mm.top_level_spans(res.out)
        raw = mm.parse_doc(res.out, convert=False)
        compact = {k: json.dumps(raw[k], separators=(",", ":")) for k in ("dataset", "results")}
        out[(workers, launch)] = (spans, compact, doc)
        mm.assert_no_leftovers(d)
    return out


def assert_identical(out):
    keys = list(out)
    ref_spans, ref_compact, _ = out[keys[0]]
    for k in keys[1:]:
        spans, compact, _ = out[k]
        for part in ("dataset", "results"):
            if compact[part] != ref_compact[part]:
                raise mm.Fail("%s differs between --workers %d --launch %s and --workers %d --launch %s"
                              % (part, k[0], k[1], keys[0][0], keys[0][1]))
            if spans[part] != ref_spans[part]:
                raise mm.Fail("the text of %s differs between --workers %d --launch %s and --workers %d"
                              " --launch %s (same values, different bytes)" % (part, k[0], k[1], keys[0][0],
                                                                                keys[0][1]))


@mm.test("byte-identical dataset and results for --workers 1..7, fork and spawn (8 MiB, C)")
def _():
    with mm.tmpdir() as d:
        a, dataset = big_dataset(d)
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": BIG_ANALYSES})
        runs = [(w, "fork") for w in range(1, 8)] + [(1, "spawn"), (3, "spawn"), (7, "spawn")]
        out = identity_runs(d, cfg, runs)
        assert_identical(out)
        doc = out[(1, "fork")][2]
        check_against_numpy(doc["results"]["all"], a, None)
        check_against_numpy(doc["results"]["cols"], a, 0, ddof=1)
        check_against_numpy(doc["results"]["both"], a, None)
        mm.eq(list(doc["results"]["some"].keys()), ["mean", "max"], "subset fields")
        for (w, launch), (_s, _c, dw) in out.items():
            if w <= 7:
                mm.eq(dw["mmrun"]["workers"], w, "mmrun.workers for --workers %d" % w)


@mm.test("byte-identical results for an F-order .npy and an int64 dataset")
def _():
    with mm.tmpdir() as d:
        a = nan_data((4, 200000), 3, dtype=">f8", order="F")
        mm.write_npy(os.path.join(d, "f.npy"), a, order="F")
        cfg = mm.write_config(d, {"dataset": {"path": "f.npy"}, "analyses": [
            {"name": "all", "op": "stats", "ddof": 1},
            {"name": "rows", "op": "stats", "axis": 1}]}, "f.json")
        assert_identical(identity_runs(d, cfg, [(1, "fork"), (3, "fork"), (6, "spawn")]))
        rng = np.random.default_rng(4)
        b = rng.integers(-2 ** 62, 2 ** 62, size=(300000, 2), dtype=np.int64)
        mm.write_raw(os.path.join(d, "i.dat"), b)
        cfg = mm.write_config(d, {"dataset": {"path": "i.dat", "dtype": "int64", "shape": [300000, 2]},
                                  "analyses": [{"op": "stats", "axis": 0}]}, "i.json")
        out = identity_runs(d, cfg, [(1, "fork"), (4, "fork"), (5, "spawn")])
        assert_identical(out)
        mm.assert_exact_ints(out[(1, "fork")][2]["results"]["stats"]["sum"],
                             [int(x) for x in b.astype(object).sum(axis=0)], "int64 sums")


@mm.test("more workers than rows: 16 workers on a 5-row array")
def _():
    with mm.tmpdir() as d:
        a = nan_data((5, 3), 5)
        a[0, 0] = np.nan
        mm.write_raw(os.path.join(d, "s.dat"), a, order="C")
        cfg = mm.write_config(d, {"dataset": {"path": "s.dat", "dtype": "f8", "shape": [5, 3]},
                                  "analyses": [{"name": "cols", "op": "stats", "axis": 0, "ddof": 1},
                                               {"name": "rows", "op": "stats", "axis": 1}]})
        out = identity_runs(d, cfg, [(1, "fork"), (16, "fork"), (16, "spawn"), (6, "spawn")])
        assert_identical(out)
        doc = out[(16, "spawn")][2]
        check_against_numpy(doc["results"]["cols"], a, 0, ddof=1)
        check_against_numpy(doc["results"]["rows"], a, 1)


# --------------------------------------------------------------------------
# Worker count and launch: defaults, config keys, flags override


@mm.test("workers default to SLURM_CPUS_PER_TASK, else the affinity mask")
def _():
    with mm.tmpdir() as d:
        _a, dataset = big_dataset(d)
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": [{"op": "stats"}]})
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        res = mm.run_mmrun(["-q", cfg], env=env)
        mm.check(res.code == 0, mm.describe([cfg], res))
        mm.eq(mm.parse_doc(res.out)["mmrun"]["workers"], len(os.sched_getaffinity(0)),
              "mmrun.workers without SLURM_CPUS_PER_TASK (CPUs in the affinity mask)")
        res = mm.run_mmrun(["-q", cfg], env=env, extra_env={"SLURM_CPUS_PER_TASK": "3"})
        mm.check(res.code == 0, mm.describe([cfg], res))
        mm.eq(mm.parse_doc(res.out)["mmrun"]["workers"], 3, "mmrun.workers with SLURM_CPUS_PER_TASK=3")
        mm.assert_no_leftovers(d)


@mm.test("config workers/launch are used, and flags override them")
def _():
    with mm.tmpdir() as d:
        _a, dataset = big_dataset(d)
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": [{"op": "stats"}],
                                  "workers": 2, "launch": "spawn"})
        doc, _ = mm.run_ok(["-q", cfg])
        mm.eq((doc["mmrun"]["workers"], doc["mmrun"]["launch"]), (2, "spawn"), "config workers/launch")
        doc, _ = mm.run_ok(["-q", "--workers", 3, "--launch", "fork", cfg])
        mm.eq((doc["mmrun"]["workers"], doc["mmrun"]["launch"]), (3, "fork"), "flags over config")
        doc, _ = mm.run_ok(["-q", "-w", "4", cfg])
        mm.eq(doc["mmrun"]["workers"], 4, "-w 4")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Output: -o, config output, atomic replacement, -q


def reference_results(d, cfg):
    _doc, res = mm.run_ok(["-q", "--workers", 2, cfg])
    return mm.top_level_spans(res.out)


@mm.test("-o FILE writes the document, nothing on stdout, atomically replacing an old file")
def _():
    with mm.tmpdir() as d:
        a = nan_data((1000, 3), 6)
        mm.write_npy(os.path.join(d, "x.npy"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"},
                                  "analyses": [{"op": "stats", "axis": 0}]})
        ref = reference_results(d, cfg)
        out = os.path.join(d, "result.json")
        for flag in ("-o", "--output"):
            with open(out, "w") as f:
                f.write("old contents\n")
            # Holding the old file open keeps its inode from being reused.
            with open(out) as old:
                res = mm.run_mmrun(["-q", "--workers", 3, flag, out, cfg])
                mm.check(res.code == 0, mm.describe([flag, out, cfg], res))
                mm.check(os.fstat(old.fileno()).st_ino != os.stat(out).st_ino,
                         "%s rewrote the old output in place instead of renaming a new file over it" % flag)
                mm.eq(old.read(), "old contents\n", "the replaced file's contents (%s)" % flag)
            mm.eq(res.out, "", "stdout with %s" % flag)
            with open(out) as f:
                text = f.read()
            spans = mm.top_level_spans(text)
            mm.eq(spans["results"], ref["results"], "results written by %s" % flag)
            mm.eq(spans["dataset"], ref["dataset"], "dataset written by %s" % flag)
            mm.assert_no_leftovers(d)


def run_piped(args):
    """mmrun with stdout and stderr on pipes (never a regular file: a binary
    that wrongly replaced the /dev/stdout symlink by renaming over it, as
    root, could then damage the machine; with a pipe it only refuses)."""
    p = subprocess.run([mm.mmrun_path()] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=120)
    return mm.RunResult(p.returncode, p.stdout.decode("utf-8", "replace"),
                        p.stderr.decode("utf-8", "replace"))


@mm.test("paths: 'sub/../x' with sub a symlink names what the kernel names (the dataset, -o, a config's "
         "output and a slice's output), not the text's x beside sub")
def _():
    with mm.tmpdir() as d:
        os.makedirs(os.path.join(d, "other", "in"))
        os.makedirs(os.path.join(d, "w"))
        os.symlink("../other/in", os.path.join(d, "w", "sub"))
        a = np.arange(40, dtype="<f4").reshape(10, 4)
        a.tofile(os.path.join(d, "other", "d.f4"))
        a[::-1].copy().tofile(os.path.join(d, "w", "d.f4"))  # the text's file: another array
        cfg = mm.write_config(os.path.join(d, "w"), {
            "dataset": {"path": "sub/../d.f4", "dtype": "<f4", "shape": [10, 4]},
            "analyses": [{"op": "stats", "axis": 0}, {"op": "slice", "select": "[0]", "output": "sub/../s.npy"}],
            "output": "sub/../res.json"})
        res = run_piped(["-q", cfg])
        mm.check(res.code == 0, mm.describe([cfg], res))
        with open(os.path.join(d, "other", "res.json")) as f:
            doc = json.load(f)
        mm.eq(doc["dataset"]["path"], os.path.join(os.path.realpath(d), "other", "d.f4"), "the dataset read")
        mm.eq(np.load(os.path.join(d, "other", "s.npy")).tolist(), a[0].tolist(), "the slice of the kernel's file")
        mm.eq(sorted(os.listdir(os.path.join(d, "w"))), ["config.json", "d.f4", "sub"], "files beside sub")
        res = run_piped(["stats", os.path.join(d, "w", "sub", "..", "d.f4"), "--dtype", "<f4", "--shape", "10,4",
                         "-o", os.path.join(d, "w", "sub", "..", "q.json"), "-q"])
        mm.check(res.code == 0, mm.describe(["stats"], res))
        mm.check(os.path.exists(os.path.join(d, "other", "q.json")), "-o sub/../q.json is other/q.json")
        mm.assert_no_leftovers(d)


@mm.test("paths: an output ending in '/' is refused (73), a regular file of that name kept; 'missing/..' and "
         "'file/..' are refused as the kernel refuses them, nothing written")
def _():
    with mm.tmpdir() as d:
        np.arange(8, dtype="<f4").tofile(os.path.join(d, "d.f4"))
        cfg = mm.write_config(d, {"dataset": {"path": "d.f4", "dtype": "<f4", "shape": [2, 4]},
                                  "analyses": [{"op": "stats"}]})
        existing = os.path.join(d, "existing")
        with open(existing, "w") as f:
            f.write("keep")
        for out, code in ((existing + "/", 73), (os.path.join(d, "newdir") + "/", 73),
                          (os.path.join(d, "nosuch", "..", "r.json"), 73),
                          (os.path.join(d, "existing", "..", "r.json"), 73)):
            res = run_piped(["-q", "-o", out, cfg])
            mm.assert_error(res, code, [out.rstrip("/")], args=["-o", out])
        with open(existing) as f:
            mm.eq(f.read(), "keep", "the regular file named with a trailing '/'")
        mm.eq(sorted(os.listdir(d)), ["config.json", "d.f4", "existing"], "files after the refused runs")
        mm.assert_no_leftovers(d)


@mm.test("-o /dev/stdout, /dev/fd/1, /proc/self/fd/1 and config output /dev/stdout write to stdout; "
         "any other output under /dev or /proc is exit 73 before the run; /dev/shm is a folder like any")
def _():
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), np.arange(20.0))
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"}, "analyses": [{"op": "stats"}]})
        cfg_out = mm.write_config(d, {"dataset": {"path": "x.npy"}, "analyses": [{"op": "stats"}],
                                      "output": "/dev/stdout"}, name="out.json")
        link = os.lstat("/dev/stdout") if os.path.lexists("/dev/stdout") else None
        for args in (["-o", "/dev/stdout", cfg], ["-o", "/dev/fd/1", cfg], ["-o", "/proc/self/fd/1", cfg],
                     [cfg_out]):
            res = run_piped(["-q"] + args)
            mm.check(res.code == 0, mm.describe(args, res))
            if res.code == 0:
                mm.eq(mm.parse_doc(res.out)["results"]["stats"]["sum"], 190.0,
                      "the document on stdout: %r" % args)
            mm.assert_no_leftovers(d)
        if link is not None:
            now = os.lstat("/dev/stdout")
            mm.eq((now.st_ino, now.st_mode), (link.st_ino, link.st_mode), "/dev/stdout itself")
        fresh = "/dev/mmrun-test-%d.json" % os.getpid()
        try:
            for target in ("/dev/null", "/dev/stderr", fresh, "/proc/self/fd/2"):
                res = run_piped(["-q", "-o", target, cfg])
                mm.assert_error(res, 73, [target, "/dev or /proc"])
                mm.check(not os.path.exists(fresh), "created %s" % fresh)
        finally:
            if os.path.exists(fresh):
                os.unlink(fresh)
        shm = "/dev/shm/mmrun-test-%d.json" % os.getpid()
        try:
            res = mm.run_mmrun(["-q", "-o", shm, cfg])
            mm.check(res.code == 0, mm.describe(["-o", shm], res))
            mm.eq(mm.parse_doc(open(shm).read())["results"]["stats"]["sum"], 190.0, "-o under /dev/shm")
        finally:
            if os.path.exists(shm):
                os.unlink(shm)


@mm.test("outputs that are one file: a stats prefix's PREFIX.FIELD.npy and a slice output, -o and a "
         "prefix file, -o and generate's dataset: exit 78 from validate and the run, nothing written")
def _():
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), np.arange(20.0).reshape(5, 4))
        cases = [
            ({"dataset": {"path": "x.npy"},
              "analyses": [{"op": "stats", "axis": 0, "output": "y"},
                           {"op": "slice", "select": "[:, 1]", "output": "y.mean.npy"}]}, []),
            ({"dataset": {"path": "x.npy"},
              "analyses": [{"op": "histogram", "axis": 0, "bins": 3, "output": "h"}]},
             ["-o", os.path.join(d, "h.counts.npy")]),
            ({"dataset": {"path": "x.npy"}, "analyses": [{"op": "cov", "output": "c"}]},
             ["-o", os.path.join(d, "c.corr.npy")]),
            ({"dataset": {"path": "x.npy"}, "analyses": [{"op": "quantiles", "q": 0.5, "axis": 0,
                                                           "output": "q"}]},
             ["-o", os.path.join(d, "q.values.npy")]),
            ({"dataset": {"path": "g.f4", "dtype": "float32", "shape": [10], "mode": "w+"},
              "analyses": [{"op": "generate", "fill": {"kind": "arange"}}]},
             ["-o", os.path.join(d, "g.f4")]),
        ]
        for i, (config, flags) in enumerate(cases):
            cfg = mm.write_config(d, config, name="c%d.json" % i)
            before = sorted(os.listdir(d))
            for cmd in (["validate"], []):
                res = mm.run_mmrun(cmd + ["-q"] + flags + [cfg] if not cmd else cmd + [cfg] + flags)
                mm.assert_error(res, 78, ["same file"])
                mm.eq(sorted(os.listdir(d)), before, "files after %r of case %d" % (cmd, i))


@mm.test("an output that replaces a file keeps its permission bits (a 0600 result stays 0600); "
         "a new one is 0644 minus the umask")
def _():
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), np.arange(20.0).reshape(5, 4))
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"}, "analyses": [
            {"op": "slice", "select": "[:, 1]", "output": "col.npy"}]})
        out, col = os.path.join(d, "r.json"), os.path.join(d, "col.npy")
        for path, mode in ((out, 0o600), (col, 0o640)):
            with open(path, "w") as f:
                f.write("old\n")
            os.chmod(path, mode)
        res = mm.run_mmrun(["-q", "-o", out, cfg])
        mm.check(res.code == 0, mm.describe(["-o", out, cfg], res))
        for path, mode in ((out, 0o600), (col, 0o640)):
            mm.eq(oct(os.stat(path).st_mode & 0o777), oct(mode), "mode of the replaced %s" % path)
        os.unlink(out)
        os.unlink(col)
        old = os.umask(0o022)
        try:
            res = mm.run_mmrun(["-q", "-o", out, cfg])
            mm.check(res.code == 0, mm.describe(["-o", out, cfg], res))
        finally:
            os.umask(old)
        for path in (out, col):
            mm.eq(oct(os.stat(path).st_mode & 0o777), oct(0o644), "mode of the new %s" % path)


@mm.test("-o with a relative path is relative to the working directory")
def _():
    with mm.tmpdir() as d, mm.tmpdir() as cwd:
        mm.write_npy(os.path.join(d, "x.npy"), np.arange(20.0))
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"}, "analyses": [{"op": "stats"}]})
        res = mm.run_mmrun(["-q", "-o", "rel.json", cfg], cwd=cwd)
        mm.check(res.code == 0, mm.describe(["-o", "rel.json", cfg], res))
        mm.check(os.path.isfile(os.path.join(cwd, "rel.json")), "-o rel.json not written in the cwd")
        mm.check(not os.path.exists(os.path.join(d, "rel.json")), "-o rel.json written in the config folder")
        doc = mm.parse_doc(open(os.path.join(cwd, "rel.json")).read())
        mm.eq(doc["results"]["stats"]["sum"], 190.0, "sum of arange(20)")
        mm.assert_no_leftovers(d)
        mm.assert_no_leftovers(cwd)


@mm.test("config output resolves against the config folder; -o overrides it")
def _():
    with mm.tmpdir() as d, mm.tmpdir() as cwd:
        sub = os.path.join(d, "conf")
        os.makedirs(os.path.join(sub, "results"))
        a = nan_data((300, 2), 7)
        mm.write_npy(os.path.join(sub, "x.npy"), a)
        cfg = mm.write_config(sub, {"dataset": {"path": "x.npy"}, "analyses": [{"op": "stats", "axis": 0}],
                                    "output": "results/r.json"})
        res = mm.run_mmrun(["-q", cfg], cwd=cwd)
        mm.check(res.code == 0, mm.describe([cfg], res))
        mm.eq(res.out, "", "stdout when the config names an output")
        target = os.path.join(sub, "results", "r.json")
        mm.check(os.path.isfile(target), "config output not written to %s" % target)
        mm.check(not os.path.exists(os.path.join(cwd, "results")), "config output resolved against cwd")
        check_against_numpy(mm.parse_doc(open(target).read())["results"]["stats"], a, 0)
        os.unlink(target)
        flag_out = os.path.join(cwd, "flag.json")
        res = mm.run_mmrun(["-q", "-o", flag_out, cfg], cwd=cwd)
        mm.check(res.code == 0, mm.describe(["-o", flag_out, cfg], res))
        mm.check(os.path.isfile(flag_out), "-o output not written")
        mm.check(not os.path.exists(target), "config output written although -o overrides it")
        mm.assert_no_leftovers(d)
        mm.assert_no_leftovers(cwd)


@mm.test("-q leaves stderr empty on success (fork and spawn)")
def _():
    with mm.tmpdir() as d:
        _a, dataset = big_dataset(d)
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": BIG_ANALYSES})
        for flag in ("-q", "--quiet"):
            for launch in ("fork", "spawn"):
                res = mm.run_mmrun([flag, "--workers", 3, "--launch", launch, cfg])
                mm.check(res.code == 0, mm.describe([flag, cfg], res))
                mm.eq(res.err, "", "stderr with %s --launch %s" % (flag, launch))
                mm.parse_doc(res.out)
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Paths and formats


@mm.test("relative dataset path resolves against the config folder from any cwd")
def _():
    with mm.tmpdir() as d, mm.tmpdir() as elsewhere:
        os.makedirs(os.path.join(d, "conf"))
        os.makedirs(os.path.join(d, "data"))
        a = nan_data((100, 3), 8, dtype="<f4")
        data = mm.write_raw(os.path.join(d, "data", "x.dat"), a, offset=4)
        cfg = mm.write_config(os.path.join(d, "conf"), {
            "dataset": {"path": "../data/x.dat", "dtype": "float32", "shape": [100, 3], "offset": 4},
            "analyses": [{"op": "stats", "axis": 0}]})
        for cwd, cfg_arg in ((elsewhere, cfg), (d, os.path.join("conf", "config.json")), ("/", cfg)):
            doc, _ = mm.run_ok(["-q", cfg_arg], cwd=cwd)
            mm.check(mm.same_path(doc["dataset"]["path"], data),
                     "dataset.path %r, expected %r" % (doc["dataset"]["path"], data))
            check_against_numpy(doc["results"]["stats"], a, 0)
        mm.assert_no_leftovers(d)
        mm.assert_no_leftovers(elsewhere)


@mm.test("format: auto detects .npy by magic bytes, raw overrides, agreeing header keys allowed")
def _():
    with mm.tmpdir() as d:
        a = nan_data((200, 5), 9, dtype=">f4")
        npy = mm.write_npy(os.path.join(d, "x.npy"), a)
        hlen = mm.npy_header_len(npy)
        mm.write_npy(os.path.join(d, "noext"), a)
        mm.write_raw(os.path.join(d, "raw.npy"), a, offset=0)
        analyses = [{"op": "stats", "axis": 0, "ddof": 1}]
        variants = [
            ({"path": "x.npy"}, "npy", hlen),
            ({"path": "x.npy", "format": "npy"}, "npy", hlen),
            ({"path": "noext", "format": "auto"}, "npy", hlen),
            ({"path": "x.npy", "dtype": ">f4", "shape": [200, 5], "order": "C"}, "npy", hlen),
            ({"path": "x.npy", "format": "raw", "dtype": ">f4", "shape": [200, 5], "offset": hlen}, "raw", hlen),
            ({"path": "raw.npy", "dtype": ">f4", "shape": [200, 5]}, "raw", 0),
        ]
        ref = None
        for i, (dataset, fmt, offset) in enumerate(variants):
            cfg = mm.write_config(d, {"dataset": dataset, "analyses": analyses}, "c%d.json" % i)
            doc, res = mm.run_ok(["-q", "--workers", 2, cfg])
            mm.eq(doc["dataset"]["format"], fmt, "dataset.format for %r" % dataset)
            mm.eq(doc["dataset"]["offset"], offset, "dataset.offset for %r" % dataset)
            mm.eq(doc["dataset"]["dtype"], ">f4", "dataset.dtype for %r" % dataset)
            mm.eq(doc["dataset"]["shape"], [200, 5], "dataset.shape for %r" % dataset)
            check_against_numpy(doc["results"]["stats"], a, 0, ddof=1)
            results = mm.top_level_spans(res.out)["results"]
            if ref is None:
                ref = results
            mm.eq(results, ref, "results text for %r" % dataset)
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# inspect


def check_inspect(info, path, fmt, version, descr, shape, order, offset, trailing=0):
    itemsize = np.dtype(descr).itemsize
    n = int(np.prod(shape))
    rows = shape[-1] if order == "F" else shape[0]
    expect = {"format": fmt, "npy_version": version, "dtype": descr, "shape": list(shape),
              "order": order, "offset": offset, "rows": rows,
              "row_bytes": n * itemsize // rows if rows else 0,
              "bytes": os.path.getsize(path), "data_bytes": n * itemsize, "trailing_bytes": trailing}
    mm.check(mm.same_path(info.get("path"), path), "inspect path %r, expected %r" % (info.get("path"), path))
    for key, value in expect.items():
        mm.eq(info.get(key, "<missing>"), value, "inspect %s of %s" % (key, os.path.basename(path)))


def run_inspect(args, cwd=None):
    res = mm.run_mmrun(["inspect"] + list(args), cwd=cwd)
    mm.check(res.code == 0, mm.describe(["inspect"] + list(args), res))
    return mm.parse_doc(res.out)


@mm.test("inspect describes .npy files of versions 1.0, 2.0 and 3.0, C and F")
def _():
    with mm.tmpdir() as d:
        cases = [((1, 0), "<f4", (10, 3), "C"), ((2, 0), ">i2", (4, 5, 6), "F"),
                 ((3, 0), "|b1", (7,), "C"), ((1, 0), "<u8", (3, 1000), "F")]
        for i, (version, descr, shape, order) in enumerate(cases):
            a = np.zeros(shape, dtype=descr)
            path = mm.write_npy(os.path.join(d, "a%d.npy" % i), a, order=order, version=version)
            info = run_inspect([path])
            check_inspect(info, path, "npy", "%d.0" % version[0], descr, shape, order,
                          mm.npy_header_len(path))
        info = run_inspect(["a0.npy"], cwd=d)
        mm.check(mm.same_path(info["path"], os.path.join(d, "a0.npy")), "inspect path must be absolute")
        mm.assert_no_leftovers(d)


@mm.test("inspect describes a raw file with --dtype/--shape/--order/--offset")
def _():
    with mm.tmpdir() as d:
        a = np.arange(30, dtype=">i4").reshape(10, 3)
        path = mm.write_raw(os.path.join(d, "r.dat"), a, offset=16)
        for shape_arg in ("10,3", "[10,3]"):
            info = run_inspect([path, "--dtype", ">i4", "--shape", shape_arg, "--offset", "16"])
            check_inspect(info, path, "raw", None, ">i4", (10, 3), "C", 16)
        info = run_inspect([path, "--dtype", "int32", "--shape", "3,10", "--order", "F", "--offset", "16"])
        check_inspect(info, path, "raw", None, "<i4", (3, 10), "F", 16)
        # -1 and a partial last row: 136 bytes after the offset is 11 rows of 12 plus 4.
        with open(path, "ab") as f:
            f.write(b"\0" * 16)
        info = run_inspect([path, "--dtype", "<i4", "--shape", "[-1,3]", "--offset", "16"])
        check_inspect(info, path, "raw", None, "<i4", (11, 3), "C", 16, trailing=4)
        mm.assert_no_leftovers(d)


@mm.test("inspect of a raw file without --dtype describes |u1 bytes")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "blob.bin")
        with open(path, "wb") as f:
            f.write(bytes(range(200)))
        info = run_inspect([path])
        check_inspect(info, path, "raw", None, "|u1", (200,), "C", 0)
        info = run_inspect([path, "--offset", "50"])
        check_inspect(info, path, "raw", None, "|u1", (150,), "C", 50)
        info = run_inspect([path, "--dtype", "<f8"])
        check_inspect(info, path, "raw", None, "<f8", (25,), "C", 0)
        mm.assert_no_leftovers(d)


@mm.test("inspect of a missing file exits 66 naming it")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "nope.npy")
        res = mm.run_mmrun(["inspect", path])
        mm.assert_error(res, 66, ["nope.npy"], args=["inspect", path])


# --------------------------------------------------------------------------
# validate


def check_plan(plan, names):
    for key in ("dataset", "workers", "launch", "blocks", "rows", "passes", "output"):
        mm.check(key in plan, "validate output lacks %r: %r" % (key, list(plan)))
    mm.check(isinstance(plan["passes"], list) and plan["passes"], "passes must be a non-empty list")
    text = json.dumps(plan["passes"])
    for name in names:
        mm.check(name in text, "passes do not list analysis %r: %s" % (name, text[:300]))
    mm.check(isinstance(plan["blocks"], int) and plan["blocks"] >= 1, "blocks: %r" % plan["blocks"])


@mm.test("validate prints the plan, exits 0, writes and runs nothing")
def _():
    with mm.tmpdir() as d:
        a, dataset = big_dataset(d)
        cfg_dict = {"dataset": dataset, "analyses": BIG_ANALYSES, "output": "out.json"}
        cfg = mm.write_config(d, cfg_dict)
        res = mm.run_mmrun(["validate", cfg])
        mm.check(res.code == 0, mm.describe(["validate", cfg], res))
        plan = mm.parse_doc(res.out)
        check_plan(plan, [x["name"] for x in BIG_ANALYSES])
        mm.eq(plan["rows"], a.shape[0], "plan rows")
        mm.check(mm.same_path(plan["output"], os.path.join(d, "out.json")),
                 "plan output %r, expected the config folder's out.json" % plan["output"])
        mm.check(not os.path.exists(os.path.join(d, "out.json")), "validate wrote the output")
        mm.assert_no_leftovers(d)
        # The plan's dataset is the run's dataset.
        res2 = mm.run_mmrun(["-q", cfg])
        mm.check(res2.code == 0, mm.describe([cfg], res2))
        doc = mm.parse_doc(open(os.path.join(d, "out.json")).read())
        mm.eq(plan["dataset"], doc["dataset"], "validate dataset vs run dataset")
        mm.assert_no_leftovers(d)


@mm.test("validate reads no data: a 1 TiB sparse dataset validates at once")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "huge.dat")
        with open(path, "wb") as f:
            f.truncate(1 << 40)
        cfg = mm.write_config(d, {"dataset": {"path": "huge.dat", "dtype": "<f8", "shape": [-1, 1024]},
                                  "analyses": [{"op": "stats", "axis": 0}]})
        start = time.monotonic()
        res = mm.run_mmrun(["validate", cfg], timeout=30)
        took = time.monotonic() - start
        mm.check(res.code == 0, mm.describe(["validate", cfg], res))
        plan = mm.parse_doc(res.out)
        mm.eq(plan["rows"], (1 << 40) // 8192, "plan rows")
        mm.eq(plan["dataset"]["shape"], [(1 << 40) // 8192, 1024], "plan dataset.shape")
        mm.check(took < 10, "validate took %.1f s on a sparse 1 TiB file: it reads data" % took)
        mm.assert_no_leftovers(d)


@mm.test("validate of a generate config does not create the file")
def _():
    with mm.tmpdir() as d:
        cfg = mm.write_config(d, {"dataset": {"path": "new.npy", "dtype": "f4", "shape": [1000, 3],
                                              "mode": "w+"},
                                  "analyses": [{"op": "generate", "fill": {"kind": "arange"}}]})
        res = mm.run_mmrun(["validate", cfg])
        mm.check(res.code == 0, mm.describe(["validate", cfg], res))
        check_plan(mm.parse_doc(res.out), ["generate"])
        mm.check(not os.path.exists(os.path.join(d, "new.npy")), "validate created the dataset")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Bad input: exit codes and one-line errors


GOOD = np.arange(400, dtype="<f4").reshape(100, 4)


def prepare(d):
    """Files the bad-input cases use."""
    mm.write_raw(os.path.join(d, "data.dat"), GOOD)
    mm.write_npy(os.path.join(d, "data.npy"), GOOD)
    with open(os.path.join(d, "tiny.dat"), "wb") as f:
        f.write(b"\1" * 10)
    open(os.path.join(d, "empty.dat"), "wb").close()
    # .npy with a header that is not a dict literal.
    body = b"{'descr': '<f4', 'fortran_order': False, 'shape': (10, 4), oops"
    header = body + b" " * (64 - 10 - len(body) % 64 - 1) + b"\n"
    with open(os.path.join(d, "bad.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 160)
    # .npy with an unknown format version.
    with open(os.path.join(d, "data.npy"), "rb") as f:
        good = f.read()
    with open(os.path.join(d, "badver.npy"), "wb") as f:
        f.write(good[:6] + b"\x09\x00" + good[8:])
    # .npy whose data is shorter than its header says.
    with open(os.path.join(d, "short.npy"), "wb") as f:
        f.write(good[:-100])
    # .npy with a negative dimension in the header.
    with open(os.path.join(d, "negshape.npy"), "wb") as f:
        f.write(good.replace(b"(100, 4)", b"(-10, 4)"))
    mm.write_npy(os.path.join(d, "cplx.npy"), np.zeros((3, 2), dtype=np.complex64))
    mm.write_npy(os.path.join(d, "dates.npy"), np.zeros(5, dtype="datetime64[s]"))


def cfg_with(dataset=None, analyses=None, **top):
    cfg = {"dataset": dataset if dataset is not None else
           {"path": "data.dat", "dtype": "<f4", "shape": [100, 4]},
           "analyses": analyses if analyses is not None else [{"op": "stats"}]}
    cfg.update(top)
    return cfg


def ds(**kw):
    base = {"path": "data.dat", "dtype": "<f4", "shape": [100, 4]}
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


# Each case: (name, exit code, fragments, config dict / raw text, extra args).
# A fragment tuple lists alternatives. Config cases are also run with `-o`
# (an existing output must stay untouched) and through `mmrun validate`.
CONFIG_CASES = [
    ("missing dataset file", 66, ["nope.dat"], cfg_with(ds(path="nope.dat"))),
    ("missing dataset folder", 66, ["x.dat"], cfg_with(ds(path="no_dir/x.dat"))),
    ("file too small for dtype x shape", 65, ["data.dat"], cfg_with(ds(shape=[101, 4]))),
    ("file too small, 3-d", 65, ["data.dat"], cfg_with(ds(shape=[10, 10, 5]))),
    ("empty file", 65, ["empty.dat"], cfg_with(ds(path="empty.dat", shape=[1]))),
    ("offset past the end", 65, ["data.dat"], cfg_with(ds(offset=5000, shape=[1]))),
    ("-1 shape on a file smaller than one row", 65, ["tiny.dat"],
     cfg_with(ds(path="tiny.dat", dtype="f8", shape=[-1, 4]))),
    ("malformed .npy header", 65, ["bad.npy"], cfg_with({"path": "bad.npy"})),
    ("unknown .npy version", 65, ["badver.npy"], cfg_with({"path": "badver.npy"})),
    ("truncated .npy data", 65, ["short.npy"], cfg_with({"path": "short.npy"})),
    ("negative dimension in .npy header", 65, ["negshape.npy"], cfg_with({"path": "negshape.npy"})),
    (".npy with a complex dtype", 65, ["cplx.npy"], cfg_with({"path": "cplx.npy"})),
    (".npy with a datetime dtype", 65, ["dates.npy"], cfg_with({"path": "dates.npy"})),
    ("format npy on a raw file", 65, ["data.dat"], cfg_with(ds(format="npy", dtype=None, shape=None))),
    # A config that contradicts the .npy header is a config error (78).
    (".npy header disagrees with config dtype", 78, ["dtype"],
     cfg_with({"path": "data.npy", "dtype": "<f8"})),
    (".npy header disagrees with config shape", 78, ["shape"],
     cfg_with({"path": "data.npy", "shape": [4, 100]})),
    (".npy header disagrees with config order", 78, ["order"],
     cfg_with({"path": "data.npy", "order": "F"})),
    ("unknown top-level key with suggestion", 78, ["ouptut", "output"],
     cfg_with(ouptut="r.json")),
    ("unknown top-level key workerz", 78, ["workerz", "workers"], cfg_with(workerz=2)),
    ("unknown dataset key ordr", 78, ["ordr", "order"], cfg_with(ds(ordr="C"))),
    ("unknown dataset key ofset", 78, ["ofset", "offset"], cfg_with(ds(ofset=0))),
    ("unknown analysis key ddf", 78, ["ddf", "ddof"], cfg_with(analyses=[{"op": "stats", "ddf": 1}])),
    ("unknown op", 78, ["statz"], cfg_with(analyses=[{"op": "statz"}])),
    ("analysis without op", 78, ["op"], cfg_with(analyses=[{"name": "x", "axis": 0}])),
    ("op not a string", 78, ["op"], cfg_with(analyses=[{"op": 5}])),
    ("bad dtype string", 78, ["float33"], cfg_with(ds(dtype="float33"))),
    ("complex dtype in config", 78, ["complex64"], cfg_with(ds(dtype="complex64"))),
    ("dtype not a string", 78, ["dtype"], cfg_with(ds(dtype=4))),
    ("shape with two -1", 78, ["shape"], cfg_with(ds(shape=[-1, -1]))),
    ("shape with 0", 78, ["shape"], cfg_with(ds(shape=[0, 4]))),
    ("shape with -2", 78, ["shape"], cfg_with(ds(shape=[-2, 4]))),
    ("shape not a list", 78, ["shape"], cfg_with(ds(shape="abc"))),
    ("bad order", 78, ["order"], cfg_with(ds(order="X"))),
    ("bad format", 78, ["format"], cfg_with(ds(format="zarr"))),
    ("bad mode", 78, ["mode"], cfg_with(ds(mode="rw"))),
    ("negative offset", 78, ["offset"], cfg_with(ds(offset=-1))),
    ("axis out of range", 78, ["axis"], cfg_with(analyses=[{"op": "stats", "axis": 2}])),
    ("negative axis out of range", 78, ["axis"], cfg_with(analyses=[{"op": "stats", "axis": -3}])),
    ("axis list with a duplicate", 78, ["axis"], cfg_with(analyses=[{"op": "stats", "axis": [0, 0]}])),
    ("axis not an int", 78, ["axis"], cfg_with(analyses=[{"op": "stats", "axis": "x"}])),
    ("ddof not a number", 78, ["ddof"], cfg_with(analyses=[{"op": "stats", "ddof": "abc"}])),
    ("unknown stats field", 78, ["median"], cfg_with(analyses=[{"op": "stats", "stats": ["mean", "median"]}])),
    ("duplicate analysis names", 78, ["cols"],
     cfg_with(analyses=[{"name": "cols", "op": "stats", "axis": 0},
                        {"name": "cols", "op": "stats", "axis": 1}])),
    ("duplicate default names", 78, ["stats"], cfg_with(analyses=[{"op": "stats"}, {"op": "stats", "ddof": 1}])),
    ("empty analyses", 78, ["analyses"], cfg_with(analyses=[])),
    ("analyses not a list", 78, ["analyses"], cfg_with(analyses={"op": "stats"})),
    ("missing analyses", 78, ["analyses"], without(cfg_with(), "analyses")),
    ("missing dataset", 78, ["dataset"], without(cfg_with(), "dataset")),
    ("config not valid JSON", 78, ["config.json"], '{"dataset": {"path": "data.dat",,}'),
    ("config not an object", 78, ["config.json"], "[1, 2, 3]"),
    ("generate without mode w+", 78, ["mode"],
     cfg_with(ds(), analyses=[{"op": "generate", "fill": {"kind": "arange"}}])),
    ("generate with mode r+", 78, ["mode"],
     cfg_with(ds(mode="r+"), analyses=[{"op": "generate", "fill": {"kind": "arange"}}])),
    # mode w+ creates/overwrites; with no writing analysis it would only
    # destroy data, so it is refused as a config error naming `mode`.
    ("stats on a new mode w+ dataset", 78, ["mode"], cfg_with(ds(path="fresh.dat", mode="w+"))),
    ("stats on an existing mode w+ dataset", 78, ["mode"], cfg_with(ds(mode="w+"))),
    ("generate with shape -1", 78, ["shape"],
     cfg_with(ds(path="gen.dat", shape=[-1, 4], mode="w+"),
              analyses=[{"op": "generate", "fill": {"kind": "arange"}}])),
    ("config workers 0", 78, ["workers"], cfg_with(workers=0)),
    ("config launch bogus", 78, ["launch"], cfg_with(launch="bogus")),
    ("config output in a missing folder", 73, ["no_such_dir"], cfg_with(output="no_such_dir/r.json")),
]

# Files a failed run must not create (beyond the ones prepare() made).
MUST_NOT_EXIST = ["gen.dat", "fresh.dat", "r.json"]

# (name, exit code, fragments, args; "{cfg}" is a valid config, "{d}" the folder)
ARG_CASES = [
    ("unknown option", 64, ["--bogus"], ["--bogus", "{cfg}"]),
    ("--workers 0", 64, ["workers"], ["--workers", "0", "{cfg}"]),
    ("--workers abc", 64, [("workers", "abc")], ["--workers", "abc", "{cfg}"]),
    ("--workers -2", 64, [("workers", "-2")], ["--workers", "-2", "{cfg}"]),
    ("--launch bogus", 64, [("launch", "bogus")], ["--launch", "bogus", "{cfg}"]),
    ("no config argument", 64, [], []),
    ("only options, no config", 64, [], ["--workers", "2"]),
    ("two config arguments", 64, [], ["{cfg}", "{cfg}"]),
    ("-o without a value", 64, [], ["{cfg}", "-o"]),
    ("validate without a config", 64, [], ["validate"]),
    ("config file missing", 66, ["nope.json"], ["{d}/nope.json"]),
    ("validate of a missing config", 66, ["nope.json"], ["validate", "{d}/nope.json"]),
    ("-o into a missing folder", 73, ["no_such_dir"], ["-o", "{d}/no_such_dir/r.json", "{cfg}"]),
    ("-o onto a directory", 73, ["outdir"], ["-o", "{d}/outdir", "{cfg}"]),
]


# The -o flag overrides the config's output, so these cases skip that variant.
NO_O_VARIANT = {"config output in a missing folder"}


def file_digests(d):
    return {name: mm.sha256_file(os.path.join(d, name)) for name in sorted(os.listdir(d))
            if os.path.isfile(os.path.join(d, name)) and name != "config.json"}


def config_case(name, code, frags, config):
    with mm.tmpdir() as d:
        prepare(d)
        os.makedirs(os.path.join(d, "outdir"))
        before = file_digests(d)
        cfg = mm.write_config(d, config)
        variants = ("run", "validate") if name in NO_O_VARIANT else ("run", "-o", "validate")
        for variant in variants:
            out = os.path.join(d, "outdir", "result.json")
            if variant == "run":
                args = ["--workers", 2, cfg]
            elif variant == "-o":
                with open(out, "w") as f:
                    f.write("previous\n")
                args = ["--workers", 2, "-o", out, cfg]
            else:
                args = ["validate", cfg]
            res = mm.run_mmrun(args)
            try:
                mm.assert_error(res, code, frags, args=args)
            except mm.Fail as e:
                raise mm.Fail("[%s] %s" % (variant, e))
            if variant == "-o":
                mm.eq(open(out).read(), "previous\n", "[-o] existing output after a failed run")
                os.unlink(out)
            for leftover in MUST_NOT_EXIST:
                mm.check(not os.path.exists(os.path.join(d, leftover)),
                         "[%s] a failed run created %s" % (variant, leftover))
            after = file_digests(d)
            mm.eq(sorted(after), sorted(before), "[%s] files in the folder after a failed run" % variant)
            for fname, digest in before.items():
                mm.check(after[fname] == digest, "[%s] a failed run modified %s" % (variant, fname))
            mm.assert_no_leftovers(d)


for _case in CONFIG_CASES:
    mm.add_test("error %d: %s" % (_case[1], _case[0]),
                lambda c=_case: config_case(*c))


def arg_case(name, code, frags, args):
    with mm.tmpdir() as d:
        prepare(d)
        os.makedirs(os.path.join(d, "outdir"))
        cfg = mm.write_config(d, cfg_with())
        argv = [a.replace("{cfg}", cfg).replace("{d}", d) for a in args]
        res = mm.run_mmrun(argv)
        mm.assert_error(res, code, frags, args=argv)
        mm.check(os.listdir(os.path.join(d, "outdir")) == [], "something was written into outdir")
        mm.assert_no_leftovers(d)


for _case in ARG_CASES:
    mm.add_test("error %d: %s" % (_case[1], _case[0]), lambda c=_case: arg_case(*c))


@mm.test("error 77: unreadable dataset file")
def _():
    if os.geteuid() == 0:
        raise mm.Skip("running as root, which bypasses file permissions")
    with mm.tmpdir() as d:
        prepare(d)
        os.chmod(os.path.join(d, "data.dat"), 0)
        cfg = mm.write_config(d, cfg_with())
        for args in (["--workers", 2, cfg], ["validate", cfg]):
            res = mm.run_mmrun(args)
            mm.assert_error(res, 77, ["data.dat"], args=args)
        mm.assert_no_leftovers(d)


@mm.test("error 78 on an unknown key names the closest known key in every section")
def _():
    # The message must name the unknown key and the closest known one;
    # checked here on a second spelling per section to make a lucky match unlikely.
    cases = [(cfg_with(analysys=[]), ["analysys", "analyses"]),
             (cfg_with(ds(dtpye="<f4")), ["dtpye", "dtype"]),
             (cfg_with(analyses=[{"op": "stats", "axsi": 0}]), ["axsi", "axis"])]
    for config, frags in cases:
        with mm.tmpdir() as d:
            prepare(d)
            cfg = mm.write_config(d, config)
            res = mm.run_mmrun([cfg])
            mm.assert_error(res, 78, frags, args=[cfg])
            mm.assert_no_leftovers(d)


@mm.test("error 78 on a bad `output` prefix of stats, histogram, quantiles and cov")
def _():
    extra = {"stats": {}, "histogram": {}, "quantiles": {"q": [0.5]}, "cov": {"axis": 0}}
    for op, params in extra.items():
        for bad in (5, ""):
            with mm.tmpdir() as d:
                prepare(d)
                cfg = mm.write_config(d, cfg_with(analyses=[dict(op=op, output=bad, **params)]))
                res = mm.run_mmrun([cfg])
                mm.assert_error(res, 78, ["analyses[0].output", "must be a path prefix"], args=[cfg])
                mm.assert_no_leftovers(d)


@mm.test("a file name or folder that is not UTF-8 is exit 64 naming it with \\x escapes, "
         "nothing left behind; a UTF-8 name with accents works")
def _():
    with mm.tmpdir() as d:
        a = nan_data((300, 3), 7, "<f4")
        bad = os.path.join(d, os.fsdecode(b"bad\xff.dat"))  # Python's surrogateescape
        a.tofile(bad)
        shape = ["--dtype", "<f4", "--shape", "300,3"]
        cases = [["stats", bad] + shape,
                 ["stats", os.path.join(d, "caf\u00e9.dat")] + shape + ["-o", bad + ".json"]]
        shutil.copy(bad, os.path.join(d, "caf\u00e9.dat"))
        for args in cases:
            res = mm.run_mmrun(args)
            mm.assert_error(res, 64, ["bad\\xff.dat", "not UTF-8"], args=args)
        doc, _ = mm.run_ok(["stats", os.path.join(d, "caf\u00e9.dat"), "-w", 2] + shape)
        mm.eq(doc["dataset"]["path"], os.path.join(d, "caf\u00e9.dat"), "a UTF-8 path")
        check_against_numpy(doc["results"]["stats"], a, None)
        folder = os.path.join(d, os.fsdecode(b"dir\xe9"))
        os.mkdir(folder)
        cfg = mm.write_config(d, {"dataset": {"path": os.path.join(d, "caf\u00e9.dat"),
                                              "dtype": "<f4", "shape": [300, 3]},
                                  "analyses": [{"op": "stats"}]})
        doc, _ = mm.run_ok([cfg, "-w", 2], cwd=folder)  # the config's folder is UTF-8
        check_against_numpy(doc["results"]["stats"], a, None)
        inner = mm.write_config(folder, {"dataset": {"path": "../caf\u00e9.dat", "dtype": "<f4",
                                                     "shape": [300, 3]},
                                         "analyses": [{"op": "stats"}]})
        for args in ([inner], ["stats", os.path.join(d, "caf\u00e9.dat")] + shape):
            res = mm.run_mmrun(args, cwd=folder)
            mm.assert_error(res, 64, ["dir\\xe9", "not UTF-8"], args=args)
        # show's temporary .npy goes to the workers by name: a TMPDIR that
        # is not UTF-8 is passed over for /tmp.
        np.save(os.path.join(d, "s.npy"), np.arange(5.0))
        for launch in ("fork", "spawn"):
            args = ["show", os.path.join(d, "s.npy"), "[1:3]", "--launch", launch]
            res = mm.run_mmrun(args, extra_env={"TMPDIR": folder})
            mm.check(res.code == 0 and res.out.strip() == "[1. 2.]", mm.describe(args, res))
        mm.eq(os.listdir(folder), [os.path.basename(inner)], "files in the TMPDIR after show")
        os.unlink(os.path.join(d, "s.npy"))
        mm.eq(sorted(os.listdir(d)), sorted([os.path.basename(bad), "caf\u00e9.dat",
                                             "config.json", os.path.basename(folder)]),
              "files after the runs")
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
