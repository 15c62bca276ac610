"""The Python package python/mmrun (docs/PYTHON.md) against numpy.

Every result is compared with numpy on the same data (stats over several
dtypes, byte orders, .npy and Fortran order, with NaN; histogram with
numpy.histogram; quantiles with numpy.nanquantile), plus: exact integer sums
beyond 64 bits, results in .npy files loaded lazily, the decoding rules,
MmrunError for mmrun's errors and a missing binary, where the binaries are
found (MMRUN, an install's prefix, the build tree, PATH; MMWORKER), Ctrl-C
(SIGINT to the Python process, or to its whole process group) leaving
nothing behind, and the doctests of the package, docs/PYTHON.md and the
README.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_python.py [FILTER...]
"""

import contextlib
import doctest
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE_ROOT = os.path.join(REPO, "python")
sys.path.insert(0, PACKAGE_ROOT)
import mmrun  # noqa: E402

FIELDS = ["count", "nan_count", "sum", "mean", "var", "std", "min", "max"]


def nan_data(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    a = rng.normal(3.0, 50.0, size=shape)
    if np.dtype(dtype).kind == "f":
        a[rng.random(shape) < 0.05] = np.nan
    return a.astype(dtype)


stats_oracle = mm.stats_oracle


def close(actual, expected, what, rtol=1e-9, atol=0.0):
    """actual is an ndarray (or a scalar for a 0-d expected) of expected's
    shape, equal within tolerance, NaN where expected is NaN."""
    expected = np.asarray(expected)
    if expected.ndim:
        mm.check(isinstance(actual, np.ndarray), "%s: expected an ndarray, got %r" % (what, type(actual)))
        mm.eq(actual.shape, expected.shape, "%s: shape" % what)
    else:
        mm.check(not isinstance(actual, np.ndarray), "%s: a scalar came back as an array" % what)
    try:
        np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, rtol=rtol,
                                   atol=atol, equal_nan=True)
    except AssertionError as e:
        raise mm.Fail("%s: %s" % (what, str(e).strip()))


def check_stats(result, a, axis, ddof=0, what=""):
    exp = stats_oracle(a, axis, ddof)
    integer = a.dtype.kind in "iub"
    scale = float(np.nansum(np.abs(a.astype(np.float64))))
    for field in FIELDS:
        name = "%s %s" % (what, field)
        got = result[field]
        if field in ("count", "nan_count") or (integer and field in ("sum", "min", "max")):
            if np.ndim(exp[field]) == 0:
                mm.check(type(got) is int, "%s: expected a Python int, got %r" % (name, type(got)))
            else:
                mm.check(got.dtype == np.int64, "%s: dtype %s, expected int64" % (name, got.dtype))
            if integer and field == "sum":
                exact = np.sum(a.astype(np.int64), axis=axis)  # small values: no overflow
                mm.check(np.array_equal(got, exact), "%s: %r != %r" % (name, got, exact))
                continue
            if integer and field in ("min", "max"):
                exp[field] = (np.min if field == "min" else np.max)(a, axis=axis)
            mm.check(np.array_equal(got, exp[field]), "%s: %r != %r" % (name, got, exp[field]))
            continue
        if np.ndim(exp[field]) == 0:
            mm.check(type(got) is np.float64, "%s: expected numpy.float64, got %r" % (name, type(got)))
        else:
            mm.check(got.dtype == np.float64, "%s: dtype %s" % (name, got.dtype))
        atol = 1e-9 * scale if field in ("sum", "mean") else 0.0
        close(got, exp[field], name, atol=atol)


# ---------------------------------------------------------------- stats, histogram, quantiles


def write_case(d, kind, a):
    """Writes `a` as a file of the given kind; returns (path, layout kwargs)."""
    if kind == "npy":
        return mm.write_npy(os.path.join(d, "a.npy"), a), {}
    if kind == "npy-F":
        return mm.write_npy(os.path.join(d, "aF.npy"), a, order="F"), {}
    order = "F" if kind == "raw-F" else "C"
    path = mm.write_raw(os.path.join(d, "a.%s.bin" % kind), a, order=order, offset=24)
    dtype = a.dtype.str if kind != "raw-dtype-object" else a.dtype
    return path, {"dtype": dtype, "shape": a.shape, "order": order, "offset": 24}


STATS_CASES = [  # (file kind, dtype, shape)
    ("raw", "<f4", (300, 5)),
    ("raw", "<f8", (40, 6, 7)),
    ("raw", "<i2", (200, 3)),
    ("raw", ">f8", (120, 4)),
    ("raw-dtype-object", ">f8", (50, 3)),
    ("raw-F", "<f8", (30, 8, 5)),
    ("npy", "<f4", (64, 9)),
    ("npy-F", ">f4", (33, 7)),
]


@mm.test("stats: global and per axis (int, negative, list) against numpy: f4, f8, i2, >f8, .npy, F order, NaN")
def _():
    with mm.tmpdir() as d:
        for i, (kind, dtype, shape) in enumerate(STATS_CASES):
            a = nan_data(shape, i, dtype)
            path, layout = write_case(d, kind, a)
            what = "%s %s %s" % (kind, dtype, shape)
            axes = [None, 0, -1] + ([[0, 2], 1] if len(shape) == 3 else [])
            for axis in axes:
                np_axis = tuple(axis) if isinstance(axis, list) else axis
                res = mmrun.stats(path, axis=axis, workers=2, **layout)
                check_stats(res, a, np_axis, what="%s axis %s" % (what, axis))
            res = mmrun.stats(path, axis=0, ddof=1, launch="spawn", workers=2, **layout)
            check_stats(res, a, 0, ddof=1, what="%s ddof 1 spawn" % what)
        mm.assert_no_leftovers(d)


@mm.test("histogram: counts and edges equal numpy.histogram of the non-NaN values, global and per lane")
def _():
    with mm.tmpdir() as d:
        a = nan_data((500, 3), 7, "<f8")
        path, layout = write_case(d, "raw", a)
        f = a[~np.isnan(a)]
        for bins, rng in ((None, None), (7, (-40.0, 60.0)), (25, None)):
            res = mmrun.histogram(path, bins=bins, range=rng, workers=2, **layout)
            counts, edges = np.histogram(f, bins=bins or 10,
                                         range=rng or (np.nanmin(a), np.nanmax(a)))
            what = "bins %s range %s" % (bins, rng)
            mm.check(np.array_equal(res["counts"], counts), "%s counts: %r != %r" % (what, res["counts"], counts))
            mm.check(np.array_equal(res["edges"], edges), "%s edges: %r != %r" % (what, res["edges"], edges))
            mm.eq(res["nan_count"], int(np.isnan(a).sum()), what + " nan_count")
            if rng:
                mm.eq((res["below"], res["above"]), (int((f < rng[0]).sum()), int((f > rng[1]).sum())),
                      what + " below, above")
        res = mmrun.histogram(path, bins=6, range=(-50, 50), axis=0, **layout)
        mm.eq(res["counts"].shape, (3, 6), "per-column counts shape")
        for j in range(3):
            col = a[:, j][~np.isnan(a[:, j])]
            counts, edges = np.histogram(col, bins=6, range=(-50, 50))
            mm.check(np.array_equal(res["counts"][j], counts), "column %d counts" % j)
            mm.check(np.array_equal(res["edges"], edges), "per-column edges")
        close(res["nan_count"], np.isnan(a).sum(axis=0), "per-column nan_count", rtol=0)
        mm.assert_no_leftovers(d)


@mm.test("quantiles: values equal numpy.nanquantile in value and shape (q list, scalar q, methods, axis)")
def _():
    with mm.tmpdir() as d:
        a = nan_data((301, 4), 8, "<f4")
        path, layout = write_case(d, "raw", a)
        f = a.astype(np.float64)
        for q, method, axis in (([0.0, 0.1, 0.5, 0.99, 1.0], None, None), (0.5, None, None),
                                ([0.25, 0.75], "nearest", 0), (np.array([0.3]), "lower", -1),
                                ((0.5, 0.9), "midpoint", 1)):
            res = mmrun.quantiles(path, q, method=method, axis=axis, **layout)
            exp = np.nanquantile(f, q, method=method or "linear", axis=axis)
            close(res["values"], exp, "q %r method %s axis %s" % (q, method, axis), rtol=1e-12)
        mm.assert_no_leftovers(d)


@mm.test("huge int64 sums: exact Python ints and object arrays beyond 64 bits, uint64 between 2^63 and 2^64")
def _():
    with mm.tmpdir() as d:
        a = np.full((6, 4), 2**62, dtype=np.int64) + np.arange(24, dtype=np.int64).reshape(6, 4)
        a[:, 3] = -a[:, 3]  # a column summing below -2^64
        path, layout = write_case(d, "raw", a)
        exact = [[int(x) for x in row] for row in a.tolist()]
        res = mmrun.stats(path, **layout)
        total = sum(sum(r) for r in exact)
        mm.eq((type(res["sum"]), res["sum"]), (int, total), "global sum")
        res = mmrun.stats(path, axis=0, **layout)
        sums = [sum(r[j] for r in exact) for j in range(4)]
        mm.eq(res["sum"].dtype, np.dtype(object), "dtype of per-column sums beyond 64 bits")
        mm.eq(res["sum"].tolist(), sums, "per-column sums")
        mm.check(all(type(x) is int for x in res["sum"]), "per-column sums are Python ints")
        mm.eq(res["min"].dtype, np.dtype(np.int64), "dtype of per-column min")
        mm.check(np.array_equal(res["min"], a.min(axis=0)), "per-column min")
        pos = np.full((3, 2), 2**62 + 5, dtype=np.int64)  # row sums in [2^63, 2^64)
        path, layout = write_case(d, "raw", pos)
        res = mmrun.stats(path, axis=1, **layout)
        mm.eq(res["sum"].dtype, np.dtype(np.uint64), "dtype of sums between 2^63 and 2^64")
        mm.eq(res["sum"].tolist(), [2 * (2**62 + 5)] * 3, "row sums")
        mm.assert_no_leftovers(d)


@mm.test("results in PREFIX.FIELD.npy files: an NpyResult loading each field on first access, memory-mapped")
def _():
    with mm.tmpdir() as d:
        a = nan_data((130000, 3), 9, "<f4")
        path, layout = write_case(d, "raw", a)
        prefix = os.path.join(d, "out", "rows")
        os.mkdir(os.path.dirname(prefix))
        res = mmrun.stats(path, axis=1, prefix=prefix, workers=2, **layout)
        mm.check(isinstance(res, mmrun.NpyResult), "result is %r, not an NpyResult" % type(res))
        mm.eq(res["shape"], (130000,), "shape")
        mm.eq(sorted(res.files), sorted(FIELDS), "fields in files")
        mm.eq(res.files["mean"], prefix + ".mean.npy", "path of the mean")
        mm.check(set(FIELDS) | {"shape", "files"} <= set(res), "keys: %r" % list(res))
        mm.eq(len(res), len(list(res)), "len() of the result")
        mm.check("<lazy" in repr(res) and not res._loaded, "fields were loaded before access")
        mean = res["mean"]
        mm.check(isinstance(mean, np.memmap) and mean.filename == os.path.realpath(prefix + ".mean.npy"),
                 "mean is not a memory map of its file: %r" % type(mean))
        mm.check(not mean.flags.writeable, "the memory map is writable")
        mm.eq(sorted(res._loaded), ["mean"], "fields loaded after reading the mean")
        check_stats(dict(res), a, 1, what="from .npy")
        mm.check(res["mean"] is mean, "a field is loaded again on a second access")
        h = mmrun.histogram(path, bins=4, range=(-100, 100), axis=1, prefix=os.path.join(d, "h"),
                            **layout)
        row = a[7][~np.isnan(a[7])]
        mm.check(np.array_equal(h["counts"][7], np.histogram(row, 4, (-100, 100))[0]), "histogram row 7")
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- run() and the document


@mm.test("run: a dict config resolves against the current folder, a file against its own; output= and config output")
def _():
    with mm.tmpdir() as d:
        a = nan_data((80, 3), 10, "<f8")
        sub = os.path.join(d, "sub")
        os.mkdir(sub)
        a.tofile(os.path.join(sub, "x.dat"))
        config = {"dataset": {"path": "x.dat", "dtype": "f8", "shape": [-1, 3]},
                  "analyses": [{"name": "cols", "op": "stats", "axis": 0}, {"name": "all", "op": "stats"}]}
        cwd = os.getcwd()
        os.chdir(sub)
        try:
            doc = mmrun.run(config, workers=2, launch="spawn", quiet=True)
        finally:
            os.chdir(cwd)
        check_stats(doc["results"]["cols"], a, 0, what="dict config")
        check_stats(doc["results"]["all"], a, None, what="dict config")
        mm.eq(doc["dataset"]["path"], os.path.join(sub, "x.dat"), "dataset.path")
        mm.eq((doc["dataset"]["shape"], doc["dataset"]["dtype"], doc["mmrun"]["launch"]),
              ((80, 3), "<f8", "spawn"), "shape, dtype, launch")
        mm.check(isinstance(doc["mmrun"]["version"], str), "version is text")
        cfg = mm.write_config(sub, dict(config, output="doc.json"))
        doc = mmrun.run(cfg, workers=1)  # from another folder: the config's own
        check_stats(doc["results"]["cols"], a, 0, what="config file with output")
        mm.check(os.path.exists(os.path.join(sub, "doc.json")), "the config's output was not written")
        out = os.path.join(d, "o.json")
        with contextlib.redirect_stderr(io.StringIO()) as err:
            doc = mmrun.run(cfg, output=out, timeout=60, retries=0, progress=5)
        check_stats(doc["results"]["all"], a, None, what="output=")
        mm.check("mmrun: done 100.0%" in err.getvalue(), "progress not passed on: %r" % err.getvalue())
        with open(out) as f:
            mm.eq(mmrun.decode_document(json.load(f))["results"]["all"]["count"],
                  doc["results"]["all"]["count"], "count read back")
        # Warnings go to sys.stderr, unless quiet; the document keeps them.
        for quiet in (False, True):
            with contextlib.redirect_stderr(io.StringIO()) as err:
                res = mmrun.stats(os.path.join(sub, "x.dat"), dtype="f8", shape=[-1, 7], quiet=quiet)
            mm.eq(res["count"] + res["nan_count"], 7 * (240 // 7), "values in whole rows")
            mm.eq(("mmrun: warning:" in err.getvalue()), not quiet,
                  "a warning on stderr with quiet=%s: %r" % (quiet, err.getvalue()))
        part = mmrun.run(cfg, shard=(0, 1), output=os.path.join(d, "part.json"))
        mm.eq((part["format"], part["dataset"]["shape"]), ("mmrun-part", [80, 3]), "part document, undecoded")
        mm.assert_no_leftovers(d)


@mm.test("decode: echoed parameters (q, range, axis), started, CF attributes and text keys; ragged lists stay lists")
def _():
    doc = {"mmrun": {"version": "1.0", "started": "2026-01-02T03:04:05Z", "elapsed_s": 0.5},
           "dataset": {"path": "/d/NaN", "name": "123", "shape": [3, 4], "cf": {"fill_value": "NaN"}},
           "results": {"q": {"q": [0.5, 1], "method": "linear", "axis": 0, "values": [[1, "NaN"]]},
                       "h": {"bins": 3, "range": [0, 1.5], "counts": [], "edges": [[1, 2], [3]]},
                       "s": {"sum": "-36893488147419103232", "mean": "-Infinity", "count": 0}},
           "warnings": ["NaN"]}
    got = mmrun.decode_document(doc)
    mm.eq((got["mmrun"]["started"], got["mmrun"]["version"]), ("2026-01-02T03:04:05Z", "1.0"), "text")
    mm.eq((got["dataset"]["path"], got["dataset"]["name"], got["warnings"]), ("/d/NaN", "123", ["NaN"]),
          "text keys")
    mm.eq(got["dataset"]["shape"], (3, 4), "shape")
    mm.check(np.isnan(got["dataset"]["cf"]["fill_value"]), "fill_value NaN")
    q = got["results"]["q"]
    mm.check(q["q"].dtype == np.float64 and q["q"].tolist() == [0.5, 1.0], "q: %r" % q["q"])
    mm.check(q["values"].shape == (1, 2) and np.isnan(q["values"][0, 1]), "values: %r" % q["values"])
    mm.eq((q["axis"], q["method"]), (0, "linear"), "axis, method")
    h = got["results"]["h"]
    mm.eq((h["range"].tolist(), h["bins"], h["counts"].shape), ([0.0, 1.5], 3, (0,)), "range, bins, counts")
    mm.check(isinstance(h["edges"], list) and [e.tolist() for e in h["edges"]] == [[1, 2], [3]],
             "a ragged list is a list of its decoded items: %r" % (h["edges"],))
    s = got["results"]["s"]
    mm.eq((s["sum"], s["mean"], s["count"]), (-2**65, float("-inf"), 0), "scalars")
    mm.check(type(s["mean"]) is np.float64, "mean is numpy.float64")


# ---------------------------------------------------------------- errors


def expect_error(fn, code, fragments):
    try:
        fn()
    except mmrun.MmrunError as e:
        mm.eq(e.exit_code, code, "exit code (message %r)" % e.message)
        mm.check(not e.message.startswith("mmrun: error:"), "message keeps its prefix: %r" % e.message)
        mm.check(("mmrun: error: " + e.message) in e.stderr, "stderr %r lacks the message" % e.stderr)
        for frag in fragments:
            mm.check(frag in e.message, "message %r lacks %r" % (e.message, frag))
        return e
    raise mm.Fail("no MmrunError (expected exit %d)" % code)


@mm.test("errors: MmrunError with mmrun's exit code and message: 66 missing, 78 config, 65/78/64 layout and options")
def _():
    with mm.tmpdir() as d:
        a = nan_data((10, 4), 11, "<f8")
        path, layout = write_case(d, "raw", a)
        missing = os.path.join(d, "missing.dat")
        e = expect_error(lambda: mmrun.stats(missing, dtype="f8", shape=[-1]), 66, [missing])
        mm.check(str(e).endswith("(exit 66)") and missing in str(e), "str(): %r" % str(e))
        expect_error(lambda: mmrun.run({"dataset": {"path": path, "dtype": "f8", "shape": [-1]},
                                        "analyses": [{"op": "stats", "axs": 0}]}), 78, ["axs", "axis"])
        expect_error(lambda: mmrun.run({"dataset": {"path": path, "dtype": "f8", "shape": [-1]},
                                        "analyses": [{"op": "stats"}], "wrokers": 2}), 78, ["wrokers"])
        expect_error(lambda: mmrun.stats(path, dtype="f8", shape=(1000, 4)), 65, ["too small"])
        expect_error(lambda: mmrun.stats(path, dtype="f9", shape=[-1]), 78, ["f9"])
        expect_error(lambda: mmrun.stats(path, dtype="f8", shape=[-1, 4], order="X"), 78, ["order"])
        expect_error(lambda: mmrun.stats(path, axis=5, dtype="f8", shape=[-1, 4]), 78, ["axis"])
        expect_error(lambda: mmrun.stats(path, dtype="f8", shape=[-1], workers=0), 64, ["--workers"])
        expect_error(lambda: mmrun.stats(path, dtype="f8", shape=[-1], launch="clone"), 64, ["--launch"])
        expect_error(lambda: mmrun.run(os.path.join(d, "nope.json")), 66, ["nope.json"])
        for bad in (lambda: mmrun.stats(path, dtyp="f8"), lambda: mmrun.run({}, wrokers=2),
                    lambda: mmrun.stats(path, workers="2"), lambda: mmrun.stats(path, quiet="yes"),
                    lambda: mmrun.run(42), lambda: mmrun.stats(path, shape=[1.5])):
            try:
                bad()
            except TypeError:
                continue
            raise mm.Fail("no TypeError for a bad argument")
        for bad in (lambda: mmrun.histogram(path, range=(1, 2, 3)),
                    lambda: mmrun.quantiles(path, [[0.5]])):
            try:
                bad()
            except ValueError:
                continue
            raise mm.Fail("no ValueError for a bad argument")
        mm.assert_no_leftovers(d)


def python(code, env, cwd=None, timeout=60):
    """Runs `code` in a fresh /usr/bin/python3 with exactly `env`."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


FIND_AND_RUN = """
    import os, sys, numpy as np, mmrun
    print(mmrun.find_mmrun())
    np.arange(8.0).tofile("x.dat")
    r = mmrun.stats("x.dat", dtype="f8", shape=[-1], launch="spawn", workers=1)
    assert r["mean"] == 3.5, r
"""


def bare_env(**extra):
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    env.update(extra)
    return env


@mm.test("binaries: MMRUN, the install's prefix, the repository's build tree, PATH; else MmrunError 127")
def _():
    real = mm.mmrun_path()
    with mm.tmpdir() as d:
        # A copy of the package in a repository-shaped folder with a build tree.
        repo = os.path.join(d, "repo")
        shutil.copytree(PACKAGE_ROOT, os.path.join(repo, "python"),
                        ignore=shutil.ignore_patterns("__pycache__", "_paths.py"))
        os.mkdir(os.path.join(repo, "build"))
        for name in ("mmrun", "mmworker"):
            os.symlink(os.path.join(os.path.dirname(real), name), os.path.join(repo, "build", name))
        env = bare_env(PYTHONPATH=os.path.join(repo, "python"))
        res = python(FIND_AND_RUN, env, cwd=d)
        mm.eq((res.returncode, res.stdout.strip()), (0, os.path.join(repo, "build", "mmrun")),
              "build tree (stderr %s)" % res.stderr[-800:])
        res = python(FIND_AND_RUN, dict(env, MMRUN=real), cwd=d)
        mm.eq((res.returncode, res.stdout.strip()), (0, real), "MMRUN (stderr %s)" % res.stderr[-800:])
        # Without a build tree: PATH, else a clear error.
        shutil.rmtree(os.path.join(repo, "build"))
        bindir = os.path.join(d, "bin")
        os.mkdir(bindir)
        os.symlink(real, os.path.join(bindir, "mmrun"))
        res = python(FIND_AND_RUN, dict(env, PATH=bindir + ":/usr/bin:/bin"), cwd=d)
        mm.eq((res.returncode, res.stdout.strip()), (0, os.path.join(bindir, "mmrun")),
              "PATH (stderr %s)" % res.stderr[-800:])
        probe = """
            import mmrun
            try:
                mmrun.stats("x.dat", dtype="f8")
            except mmrun.MmrunError as e:
                print(e.exit_code, e.message)
        """
        res = python(probe, env, cwd=d)
        mm.check(res.stdout.startswith("127 mmrun binary not found") and "cmake" in res.stdout
                 and "MMRUN" in res.stdout, "no binary: %r %r" % (res.stdout, res.stderr[-500:]))
        res = python(probe, dict(env, MMRUN=os.path.join(d, "nothing")), cwd=d)
        mm.check(res.stdout.startswith("127 MMRUN=" + os.path.join(d, "nothing")),
                 "MMRUN naming nothing: %r %r" % (res.stdout, res.stderr[-500:]))
        mm.assert_no_leftovers(d)


@mm.test("binaries: MMWORKER is passed on as MMRUN_WORKER, the worker spawn runs")
def _():
    with mm.tmpdir() as d:
        marker = os.path.join(d, "ran")
        wrapper = os.path.join(d, "worker.sh")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\necho "$$" >> %s\nexec %s "$@"\n' % (marker, mm.mmworker_path()))
        os.chmod(wrapper, 0o755)
        np.arange(10.0).tofile(os.path.join(d, "x.dat"))
        env = bare_env(PYTHONPATH=PACKAGE_ROOT, MMRUN=mm.mmrun_path(), MMWORKER=wrapper)
        res = python(FIND_AND_RUN.replace('"x.dat", dtype="f8", shape=[-1]', '"x.dat", dtype="f8", shape=[4]')
                     .replace("== 3.5", "== 1.5"), env, cwd=d)
        mm.eq(res.returncode, 0, "run with MMWORKER (stderr %s)" % res.stderr[-800:])
        mm.check(os.path.exists(marker), "the MMWORKER wrapper did not run")
        os.unlink(marker)
        mm.assert_no_leftovers(d)


@mm.test("install: cmake --install puts the package beside the binaries; it runs the installed mmrun")
def _():
    if shutil.which("cmake") is None:
        raise mm.Skip("cmake not installed")
    with mm.tmpdir() as d:
        prefix = os.path.join(d, "prefix")
        inst = subprocess.run(["cmake", "--install", os.path.dirname(mm.mmrun_path()), "--prefix", prefix],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        mm.eq(inst.returncode, 0, "cmake --install: %s" % inst.stdout[-1500:])
        site = os.path.join(prefix, "lib", "python3", "dist-packages")
        mm.check(os.path.isfile(os.path.join(site, "mmrun", "__init__.py")), "package not installed")
        mm.check(not os.path.exists(os.path.join(site, "mmrun", "__pycache__")), "__pycache__ installed")
        work = os.path.join(d, "work")
        os.mkdir(work)
        res = python(FIND_AND_RUN, bare_env(PYTHONPATH=site), cwd=work)
        mm.eq((res.returncode, res.stdout.strip()), (0, os.path.join(prefix, "bin", "mmrun")),
              "installed package (stderr %s)" % res.stderr[-800:])
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- Ctrl-C

CHILD = """
    import sys, mmrun
    try:
        mmrun.run(sys.argv[1], workers=2, launch=sys.argv[2], output=sys.argv[3])
    except KeyboardInterrupt:
        print("KeyboardInterrupt", flush=True)
        sys.exit(7)
    print("finished", flush=True)
"""


def default_sigint():
    # Python ignores SIGINT (no KeyboardInterrupt) if it starts with it ignored.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted(launch, whole_group):
    with mm.tmpdir() as d:
        np.zeros((200000, 4), dtype="<f4").tofile(os.path.join(d, "data.dat"))
        cfg = mm.write_config(d, {"dataset": {"path": "data.dat", "dtype": "f4", "shape": [-1, 4]},
                                  "analyses": [{"op": "stats", "axis": 0}]})
        out = os.path.join(d, "out.json")
        env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, MMRUN_TEST_FAULT="hang_after_rows=0")
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD), cfg, launch, out],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=default_sigint)
        deadline = time.monotonic() + 60
        workers = []
        while time.monotonic() < deadline and proc.poll() is None:
            runs = mm.children_of(proc.pid)
            workers = [w for r in runs for w in mm.children_of(r)]
            if len(workers) >= 2:
                break
            time.sleep(0.01)
        mm.check(len(workers) >= 2, "the workers did not start (exit %s)" % proc.poll())
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        try:
            out_text, err_text = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise mm.Fail("the interrupted Python process did not exit")
        mm.eq((proc.returncode, out_text.decode().strip()), (7, "KeyboardInterrupt"),
              "the child's exit (stderr %s)" % err_text.decode()[-800:])
        mm.check(not os.path.exists(out), "an interrupted run wrote its output")
        mm.assert_no_leftovers(d)


for _launch in ("fork", "spawn"):
    mm.add_test("Ctrl-C: SIGINT to the Python process raises KeyboardInterrupt after mmrun stopped (%s); "
                "no process, segment or temporary file left" % _launch,
                lambda launch=_launch: interrupted(launch, whole_group=False))
    mm.add_test("Ctrl-C: SIGINT to the whole process group (a terminal's Ctrl-C), %s: the same" % _launch,
                lambda launch=_launch: interrupted(launch, whole_group=True))


# ---------------------------------------------------------------- doctests


@mm.test("doctests: the package, docs/PYTHON.md and the README's 'From Python' pass")
def _():
    results = [("mmrun", doctest.testmod(mmrun, verbose=False))]
    for name in ("docs/PYTHON.md", "README.md"):
        results.append((name, doctest.testfile(os.path.join(REPO, name), module_relative=False, verbose=False)))
    for name, res in results:
        mm.check(res.attempted > 0, "%s: no doctest ran" % name)
        mm.eq(res.failed, 0, "failed doctests of %s (printed above)" % name)


if __name__ == "__main__":
    mm.main()
