"""The quick commands (SPEC §8): `mmrun stats|histogram|quantiles|show FILE`.

- `show` prints exactly what numpy's `print(a[SELECT])` prints, for every
  dtype of SPEC §2 in both byte orders, C and Fortran files, .npy and raw,
  positional and scientific floats, NaN/inf/-0.0, shortest float32/float16
  digits, wrapped rows, elided (> 1000 elements) arrays and 0-d selections.
- stats/histogram/quantiles give the `dataset` and `results` of the config
  they stand for, byte for byte, and numpy's numbers.
- The document's `analyses` section echoes each analysis's parameters; the
  mmrun section says when the run started.
- Errors: one line naming the flag (not a config key), SPEC §5 codes, and
  nothing left behind (show's temporary folder included).
- The numpy memmap walk-through of the README, each number against numpy.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_quick.py [FILTER...]
"""

import datetime
import os
import re
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _folder(name):
    path = os.path.join(mm._session_root(), name)
    os.makedirs(path, exist_ok=True)
    return path


def show(args, tmp):
    """Runs `mmrun show ARGS` with TMPDIR=tmp; returns its stdout."""
    res = mm.run_mmrun(["show"] + args, extra_env={"TMPDIR": tmp})
    if res.code != 0:
        raise mm.Fail(mm.describe(["show"] + args, res))
    mm.check(res.err == "", "show wrote on stderr: %r" % res.err)
    mm.check(os.listdir(tmp) == [], "show left %s in TMPDIR" % os.listdir(tmp))
    return res.out


def expect_show(a, path, select, tmp, layout=()):
    args = [path] + ([select] if select is not None else []) + list(layout)
    sel = a if select is None else eval("a" + select, {"a": a})
    want = str(sel) + "\n"
    got = show(args, tmp)
    if got != want:
        raise mm.Fail("show %s of %s %s:\n--- numpy\n%s--- mmrun\n%s" %
                      (select, a.dtype.str, a.shape, want, got))


def values(kind, dtype, shape, rng):
    with np.errstate(over="ignore", invalid="ignore"):
        return _values(kind, dtype, shape, rng)


def _values(kind, dtype, shape, rng):
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    if dt.kind == "b":
        return (rng.random(n) < 0.5).reshape(shape)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if kind == "small":
            lo, hi = max(info.min, -50), min(info.max, 50)
        else:
            lo, hi = info.min, info.max
        return rng.integers(lo, hi, size=n, endpoint=True, dtype=dt.newbyteorder("=")).reshape(shape)
    scale = {"unit": 1.0, "tiny": 1e-6, "big": 1e9, "wide": None, "special": 1.0,
             "bits": None}[kind]
    if kind == "wide":
        v = rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, size=n)
    elif kind == "bits":  # random bit patterns of the type: every digit string length
        bits = rng.integers(0, 2 ** (8 * dt.itemsize), size=n, dtype=np.uint64)
        v = bits.astype(np.dtype("u%d" % dt.itemsize)).view(dt.newbyteorder("=")).astype(float)
        v[~np.isfinite(v)] = 1.5
        v = np.clip(v, -1e30, 1e30)
    else:
        v = rng.standard_normal(n) * scale
    if kind == "special":
        v[:: max(1, n // 5)] = np.nan
        v[1] = np.inf
        v[2] = -np.inf
        v[3] = -0.0
        v[4] = 0.0
    return v.astype(dt.newbyteorder("=")).reshape(shape)


def show_cases():
    dtypes = ["bool", "int8", "uint8", "<i2", ">u2", ">i4", "uint32", "int64", "<u8",
              "float16", ">f2", "<f4", ">f4", "float64", ">f8"]
    for dtype in dtypes:
        dt = np.dtype(dtype)
        kinds = ["small", "full"] if dt.kind in "iu" else ["b"] if dt.kind == "b" else \
            ["unit", "tiny", "big", "wide", "special", "bits"]
        for kind in kinds:
            yield dtype, kind


for _dtype, _kind in show_cases():
    def _case(dtype=_dtype, kind=_kind):
        tmp = _folder("show-%s-%s" % (dtype.replace(">", "be").replace("<", "le"), kind))
        tmpdir = os.path.join(tmp, "tmp")
        os.makedirs(tmpdir, exist_ok=True)
        rng = rng_for(dtype + kind)
        for shape, selects in [((3, 5), [None, "[1, 2]"]), ((2, 3, 4), [None, "[1]"]),
                               ((1500,), [None, "[3]"]), ((40, 30), [None, "[::-2, 1:4]"])]:
            a = values(kind, dtype, shape, rng).astype(np.dtype(dtype))
            path = os.path.join(tmp, "a%d.npy" % len(shape))
            np.save(path, a)
            for select in selects:
                expect_show(a, path, select, tmpdir)
        # A raw Fortran file, selected through its layout options.
        a = np.asfortranarray(values(kind, dtype, (6, 9), rng).astype(np.dtype(dtype)))
        raw = os.path.join(tmp, "f.raw")
        a.T.tofile(raw)  # Fortran order bytes
        expect_show(a, raw, "[:, 2:]", tmpdir,
                    ["--dtype", np.dtype(dtype).str, "--shape", "6,9", "--order", "F"])
    mm.add_test("show %s %s" % (_dtype, _kind), _case)


@mm.test
def show_float_digits():
    """Shortest digits of float32 and float16 values next to powers of two,
    where the interval that reads back is lopsided."""
    tmp = _folder("digits")
    tmpdir = os.path.join(tmp, "tmp")
    os.makedirs(tmpdir)
    for dt in ["<f2", "<f4", "<f8"]:
        p = np.array([2.0 ** e for e in range(-14, 15)], dtype=dt)
        near = np.concatenate([p, np.nextafter(p, np.array(np.inf, dt)),
                               np.nextafter(p, np.array(0, dt))]).astype(dt)
        path = os.path.join(tmp, "d.npy")
        np.save(path, near)
        for i in range(len(near)):
            expect_show(near, path, "[%d]" % i, tmpdir)
        a = near[near >= 1e-4]
        np.save(path, a)
        expect_show(a, path, "[:10]", tmpdir)
        expect_show(a, path, "[10:20]", tmpdir)


@mm.test
def show_limits_and_errors():
    tmp = _folder("show-errors")
    tmpdir = os.path.join(tmp, "tmp")
    os.makedirs(tmpdir)
    a = np.arange(20000, dtype="<f4").reshape(200, 100)
    path = os.path.join(tmp, "a.npy")
    np.save(path, a)
    snap = mm.shm_snapshot()
    env = {"TMPDIR": tmpdir}
    res = mm.run_mmrun(["show", path], extra_env=env)
    mm.assert_error(res, 64, ["20000 elements", "10000", "slice"])
    res = mm.run_mmrun(["show", path, "[:100]"], extra_env=env)  # exactly 10000: shown
    mm.eq(res.code, 0, "exit of 10000 elements")
    mm.eq(res.out, str(a[:100]) + "\n", "10000 elements")
    res = mm.run_mmrun(["show", path, "[:100, :, 3]"], extra_env=env)
    mm.assert_error(res, 64, ["SELECT", "too many indices"])
    res = mm.run_mmrun(["show", path, "[300]"], extra_env=env)
    mm.assert_error(res, 64, ["SELECT", "out of bounds"])
    res = mm.run_mmrun(["show", path, "[[1,2]]"], extra_env=env)
    mm.assert_error(res, 64, ["SELECT", "advanced indexing"])
    res = mm.run_mmrun(["show", path, "[0]", "-o", os.path.join(tmp, "x")], extra_env=env)
    mm.assert_error(res, 64, ["slice"])
    res = mm.run_mmrun(["show", path, "[0]", "[1]", "[2]"], extra_env=env)
    mm.assert_error(res, 64, ["FILE [SELECT]"])
    res = mm.run_mmrun(["show", os.path.join(tmp, "missing.npy")], extra_env=env)
    mm.assert_error(res, 66, ["missing.npy"])
    mm.eq(os.listdir(tmpdir), [], "TMPDIR after the errors")
    mm.assert_no_leftovers(tmp, snap)


def write_config(tmp, dataset, analysis):
    return mm.write_config(tmp, {"dataset": dataset, "analyses": [analysis]})


QUICK_CASES = [
    ("stats", [], {}),
    ("stats", ["--axis", "0"], {"axis": 0}),
    ("stats", ["--axis", "0,1", "--ddof", "1"], {"axis": [0, 1], "ddof": 1}),
    ("stats", ["--axis", "-1", "--ddof", "2"], {"axis": -1, "ddof": 2}),
    ("histogram", ["--bins", "7"], {"bins": 7}),
    ("histogram", ["--bins", "5", "--range", "-1,1.5", "--axis", "1"],
     {"bins": 5, "range": [-1, 1.5], "axis": 1}),
    ("quantiles", ["--q", "0.1,0.5,0.99"], {"q": [0.1, 0.5, 0.99]}),
    ("quantiles", ["--q", "0.25", "--method", "nearest", "--axis", "2"],
     {"q": [0.25], "method": "nearest", "axis": 2}),
]


@mm.test
def quick_equals_config():
    """Each quick command's dataset and results are the config's, byte for byte."""
    tmp = _folder("quick-config")
    rng = rng_for("quick")
    a = rng.standard_normal((50, 6, 7)).astype(">f4")
    a[3, 2, 1] = np.nan
    raw = os.path.join(tmp, "a.raw")
    a.tofile(raw)
    layout = ["--dtype", ">f4", "--shape", "-1,6,7"]
    dataset = {"path": raw, "dtype": ">f4", "shape": [-1, 6, 7]}
    for op, flags, params in QUICK_CASES:
        analysis = dict(params, op=op)
        cfg = write_config(tmp, dataset, analysis)
        for workers in ("1", "3"):
            quick, res_q = mm.run_ok([op, raw] + flags + layout + ["-w", workers])
            full, res_c = mm.run_ok(["-w", workers, cfg])
            spans_q, spans_c = mm.top_level_spans(res_q.out), mm.top_level_spans(res_c.out)
            mm.eq(spans_q["results"], spans_c["results"], "%s %s results" % (op, flags))
            mm.eq(spans_q["dataset"], spans_c["dataset"], "%s dataset" % op)
        mm.eq(spans_q["analyses"], spans_c["analyses"], "%s analyses" % op)
        echo = quick["analyses"][op]
        mm.eq(echo["op"], op, "analyses.%s.op" % op)
        for key, value in params.items():
            mm.eq(echo[key], value, "%s echoes %s" % (op, key))
        mm.check(not set(echo) & set(quick["results"][op]),
                 "the echo is apart from the result's fields")
    # The numbers are numpy's.
    x = a.astype(np.float64)
    r = mm.run_ok(["stats", raw, "--axis", "0"] + layout)[0]["results"]["stats"]
    mm.assert_close(r["mean"], np.nanmean(x, axis=0), what="quick per-lane mean")
    mm.assert_close(r["std"], np.nanstd(x, axis=0), what="quick per-lane std")
    doc = mm.run_ok(["histogram", raw, "--bins", "9"] + layout)[0]
    r = doc["results"]["histogram"]
    finite = x[~np.isnan(x)]
    counts, edges = np.histogram(finite, bins=9)
    mm.eq(r["counts"], counts.tolist(), "quick histogram counts")
    mm.eq(r["edges"], edges.tolist(), "quick histogram edges")
    mm.eq(doc["analyses"]["histogram"]["bins"], 9, "echoed bins")
    mm.eq(doc["analyses"]["histogram"]["range"], None, "echoed auto range")
    doc = mm.run_ok(["quantiles", raw, "--q", "0.3,0.7"] + layout)[0]
    r = doc["results"]["quantiles"]
    mm.assert_close(r["values"], np.nanquantile(x, [0.3, 0.7]), rtol=0, what="quick quantiles")
    mm.eq(doc["analyses"]["quantiles"]["method"], "linear", "echoed default method")


@mm.test
def started_is_utc_now():
    tmp = _folder("started")
    path = os.path.join(tmp, "a.npy")
    np.save(path, np.arange(10.0))
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    doc = mm.run_ok(["stats", path])[0]
    after = datetime.datetime.now(datetime.timezone.utc)
    started = doc["mmrun"]["started"]
    mm.check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", started) is not None,
             "started %r is not ISO 8601 UTC" % started)
    t = datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    mm.check(before <= t <= after, "started %s not within [%s, %s]" % (t, before, after))
    mm.eq(doc["analyses"], {"stats": {"op": "stats", "axis": None, "ddof": 0}}, "analyses")
    mm.eq(list(doc), ["mmrun", "dataset", "analyses", "results"], "sections in order")


@mm.test
def quick_errors_name_flags():
    tmp = _folder("quick-errors")
    raw = os.path.join(tmp, "a.raw")
    np.arange(40, dtype="<f4").tofile(raw)
    snap = mm.shm_snapshot()
    layout = ["--dtype", "float32", "--shape", "-1,4"]
    cases = [
        (["histogram", raw, "--bins", "0"] + layout, 64, ["--bins", "positive"]),
        (["histogram", raw, "--bins", "x"] + layout, 64, ["--bins", "integer"]),
        (["histogram", raw, "--range", "1"] + layout, 64, ["--range", "LO,HI"]),
        (["stats", raw, "--axis", "5"] + layout, 64, ["--axis", "out of range"]),
        (["stats", raw, "--shape", "-1,4"], 64, ["--dtype"]),
        (["stats", raw, "--dtype", "float33", "--shape", "-1,4"], 64, ["float33"]),
        (["stats", raw, "--cf", "maybe"] + layout, 64, ["--cf"]),
        (["quantiles", raw] + layout, 64, ["--q"]),
        (["quantiles", raw, "--q", "2"] + layout, 64, ["--q"]),
        (["quantiles", raw, "--q", "0.5", "--method", "linaer"] + layout, 64,
         ["--method", "linear"]),
        (["stats"], 64, ["FILE"]),
        (["stats", raw, raw] + layout, 64, ["one FILE"]),
        (["stats", raw, "--bogus", "1"] + layout, 64, ["bogus"]),
        (["stats", os.path.join(tmp, "none.raw")] + layout, 66, ["none.raw"]),
        (["stats", raw, "--dtype", "float32", "--shape", "11,4"], 65, ["a.raw"]),
        (["stats", raw, "--shard", "0/2"] + layout, 64, ["--shard"]),
        # NaN and infinity are no JSON: named as typed, not as "got null".
        (["stats", raw, "--ddof", "nan"] + layout, 64, ["--ddof", "finite", "'nan'"]),
        (["histogram", raw, "--range", "-inf,1"] + layout, 64, ["--range", "finite"]),
        (["quantiles", raw, "--q", "0.5,inf"] + layout, 64, ["--q", "finite"]),
        # The layout's and the dtype's own messages name the flag too.
        (["stats", raw, "--dtype", "float32", "--shape", "0,4"], 64, ["--shape", "positive"]),
        (["stats", raw, "--dtype", "float32", "--shape", "4,-1,-1"], 64, ["--shape", "-1"]),
        (["stats", raw, "--dtype", "float33", "--shape", "-1,4"], 64, ["--dtype", "float33"]),
        # -o or --lock naming FILE: a command-line mistake (64), FILE named.
        (["stats", raw, "-o", raw] + layout, 64, ["-o", "same file as FILE"]),
        (["show", raw, "--lock", raw] + layout, 64, ["--lock", "same file as FILE"]),
        # More numbers than a document holds: no --output flag to name.
        (["histogram", raw, "--bins", "2000000"] + layout, 64,
         ["4000004 numbers", "quick command", "--bins", "config"]),
    ]
    for args, code, frags in cases:
        res = mm.run_mmrun(args)
        mm.assert_error(res, code, frags, args=args)
        mm.check("config key" not in res.err, "%s names a config key: %s" % (args, res.err))
        mm.check("--output" not in res.err, "%s names no such flag: %s" % (args, res.err))
        mm.check("dataset." not in res.err and "null" not in res.err,
                 "%s names a config key or JSON: %s" % (args, res.err))
    mm.assert_no_leftovers(tmp, snap)


@mm.test
def quick_help():
    for op, must in [("stats", ["--axis", "--ddof", "Example"]),
                     ("histogram", ["--bins", "--range", "Example"]),
                     ("quantiles", ["--q", "--method", "Example"]),
                     ("show", ["SELECT", "10000", "Example"])]:
        res = mm.run_mmrun([op, "--help"])
        mm.eq(res.code, 0, "%s --help exit" % op)
        for m in must + ["--dtype", "--shape", "--name"]:
            mm.check(m in res.out, "%s --help lacks %s" % (op, m))
    for cmd in ("validate", "inspect", "merge", "recover"):
        res = mm.run_mmrun([cmd, "--help"])
        mm.eq(res.code, 0, "%s --help exit" % cmd)
        mm.check(res.out.startswith("Usage: mmrun %s" % cmd) and "Example" in res.out,
                 "%s --help: %r" % (cmd, res.out[:200]))
    res = mm.run_mmrun(["--help"])
    for op in ("stats", "histogram", "quantiles", "show"):
        mm.check("\n  %s " % op in res.out, "mmrun --help lacks %s" % op)


@mm.test
def memmap_walkthrough():
    """The README's numpy.memmap walk-through, smaller, each number against numpy."""
    tmp = _folder("walkthrough")
    tmpdir = os.path.join(tmp, "tmp")
    os.makedirs(tmpdir)
    path = os.path.join(tmp, "data.f32")
    m = np.memmap(path, dtype="float32", mode="w+", shape=(10000, 1000))
    m[:] = np.random.default_rng(0).standard_normal((10000, 1000), dtype=np.float32)
    m.flush()
    layout = ["--dtype", "float32", "--shape", "10000,1000"]
    mm.eq(show([path, "[0]"] + layout, tmpdir), str(m[0]) + "\n", "row 0")
    mm.eq(show([path, "[100:200, 50:100]"] + layout, tmpdir), str(m[100:200, 50:100]) + "\n",
          "block")
    x = np.asarray(m, dtype=np.float64)
    for workers in ("1", "4"):
        doc = mm.run_ok(["stats", path, "--axis", "0", "-w", workers] + layout)[0]
        r = doc["results"]["stats"]
        mm.assert_close(r["mean"], x.mean(axis=0), rtol=1e-12, what="per-column mean")
        mm.assert_close(r["std"], x.std(axis=0), rtol=1e-12, what="per-column std")
        g = mm.run_ok(["stats", path, "-w", workers] + layout)[0]["results"]["stats"]
        mm.assert_close(g["mean"], x.mean(), rtol=1e-12, what="global mean")


@mm.test
def stdin_config_interrupt():
    """Ctrl-C stops `mmrun -` that waits for its config on stdin (130)."""
    import signal
    import subprocess
    import time
    proc = subprocess.Popen([mm.mmrun_path(), "-"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    mm.eq(proc.returncode, 130, "exit of mmrun - interrupted (stderr %r)" % err)
    mm.check(b"interrupted by SIGINT" in err, "stderr %r" % err)


@mm.test
def show_stdout_and_signals():
    """show's printing fails as a run's document does: a reader gone is 141
    naming EPIPE, a closed stdout 74; SIGINT once the slice is written says
    nothing was printed (its .npy is show's own, removed); TMPDIR unusable
    is 73 naming TMPDIR. Nothing is left in TMPDIR."""
    import glob
    import signal
    import subprocess
    import time
    tmp = _folder("show-stdout")
    tmpdir = os.path.join(tmp, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    path = os.path.join(tmp, "a.npy")
    np.save(path, rng_for("show-stdout").standard_normal((100, 100)))
    env = dict(os.environ, TMPDIR=tmpdir)
    env.pop("MMRUN_TEST_FAULT", None)
    snap = mm.shm_snapshot()

    r, w = os.pipe()
    os.close(r)  # the reader is gone before show prints
    proc = subprocess.Popen([mm.mmrun_path(), "show", path, "[:50]"], stdout=w,
                            stderr=subprocess.PIPE, env=env)
    os.close(w)
    _, err = proc.communicate(timeout=120)
    res = mm.RunResult(proc.returncode, "", err.decode())
    mm.assert_error(res, 141, ["stdout", "EPIPE"])

    proc = subprocess.Popen([mm.mmrun_path(), "show", path, "[0]"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, close_fds=True,
                            preexec_fn=lambda: os.close(1))
    _, err = proc.communicate(timeout=120)
    mm.assert_error(mm.RunResult(proc.returncode, "", err.decode()), 74, ["stdout"])

    proc = subprocess.Popen([mm.mmrun_path(), "show", path, "[0]"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            env=dict(env, MMRUN_TEST_FAULT="pause_after_commit=1"))
    try:
        deadline = time.time() + 60
        while not glob.glob(os.path.join(tmpdir, "mmrun-show.*", "show.npy")):
            mm.check(time.time() < deadline and proc.poll() is None, "show's .npy never appeared")
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    res = mm.RunResult(proc.returncode, out.decode(), err.decode())
    # Caught before or after the slice's commit: either way nothing is left.
    mm.assert_error(res, 130, ["SIGINT", ("nothing printed", "nothing written")])
    mm.check("show.npy" not in res.err, "the message names show's own file: " + res.err)

    res = mm.run_mmrun(["show", path, "[0]"],
                       extra_env={"TMPDIR": os.path.join(tmp, "missing")})
    mm.assert_error(res, 73, ["TMPDIR", "missing"])
    mm.check("XXXXXX" not in res.err and "mmrun-show." not in res.err, res.err)
    mm.eq(os.listdir(tmpdir), [], "TMPDIR after show's failures")
    mm.assert_no_leftovers(tmp, snap)


@mm.test
def show_killed_folder_removed_later():
    """A show killed with SIGKILL leaves its folder in TMPDIR (no destructor
    runs); the next show removes it, as dead temporary outputs are removed.
    A folder of that name that is a symlink, or a live process's, stays."""
    import glob
    import signal
    import subprocess
    import time
    tmp = _folder("show-killed")
    tmpdir = os.path.join(tmp, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    path = os.path.join(tmp, "a.npy")
    np.save(path, rng_for("show-killed").standard_normal((50, 4)))
    env = dict(os.environ, TMPDIR=tmpdir, MMRUN_TEST_FAULT="pause_after_commit=1")
    proc = subprocess.Popen([mm.mmrun_path(), "show", path, "[0]"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 60
    while not glob.glob(os.path.join(tmpdir, "mmrun-show.*", "show.npy")):
        mm.check(time.time() < deadline and proc.poll() is None, "show's .npy never appeared")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    left = os.listdir(tmpdir)
    mm.eq(len(left), 1, "the killed show's folder")
    # mmrun-show.HOST-PID-XXXXXX: a symlink of the same host and dead pid,
    # to a folder with a file in it, is not followed.
    host, pid = left[0][len("mmrun-show."):].split("-")[:2]
    mm.eq(int(pid), proc.pid, "the pid in the folder's name")
    target = os.path.join(tmp, "keep")
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "precious"), "w") as f:
        f.write("x")
    link = os.path.join(tmpdir, "mmrun-show.%s-%s-evil00" % (host, pid))
    os.symlink(target, link)
    live = os.path.join(tmpdir, "mmrun-show.%s-%d-alive0" % (host, os.getpid()))
    os.mkdir(live)
    res = mm.run_mmrun(["show", path, "[1]"], extra_env={"TMPDIR": tmpdir})
    mm.check(res.code == 0, mm.describe(["show", path, "[1]"], res))
    mm.eq(sorted(os.listdir(tmpdir)), sorted([os.path.basename(link), os.path.basename(live)]),
          "TMPDIR after the next show")
    mm.check(os.path.exists(os.path.join(target, "precious")), "a file behind a symlink was removed")
    os.unlink(link)
    os.rmdir(live)


@mm.test
def show_refuses_a_shared_tmpdir():
    """show uses its private folder by name: a TMPDIR others may rename
    entries in (group- or world-writable without the sticky bit) is refused
    (73 naming TMPDIR); a sticky one, as /tmp, is used."""
    tmp = _folder("show-shared")
    path = os.path.join(tmp, "a.npy")
    np.save(path, np.arange(12.0).reshape(3, 4))
    shared = os.path.join(tmp, "shared")
    os.makedirs(shared, exist_ok=True)
    os.chmod(shared, 0o777)
    res = mm.run_mmrun(["show", path, "[0]"], extra_env={"TMPDIR": shared})
    mm.assert_error(res, 73, ["TMPDIR", shared, "sticky"])
    mm.eq(os.listdir(shared), [], "TMPDIR after the refusal")
    os.chmod(shared, 0o1777)
    res = mm.run_mmrun(["show", path, "[0]"], extra_env={"TMPDIR": shared})
    mm.check(res.code == 0 and "0." in res.out, mm.describe(["show"], res))
    mm.eq(os.listdir(shared), [], "TMPDIR after show")


@mm.test
def closed_stdout_writes_no_file():
    """A closed stdout (`mmrun ... >&-`) is never the number of a file mmrun
    opens: the document went into the --lock file (stdin closed too) or into
    a transformed dataset, exit 0. Now exit 74, both files as they were."""
    import subprocess
    tmp = _folder("closed-stdout")
    path = os.path.join(tmp, "a.npy")
    np.save(path, np.arange(20, dtype="<f4").reshape(4, 5))
    snap = mm.shm_snapshot()

    def run(args, close):
        def closer():
            for fd in close:
                os.close(fd)
        proc = subprocess.Popen([mm.mmrun_path()] + args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=closer, cwd=tmp)
        _, err = proc.communicate(timeout=120)
        return mm.RunResult(proc.returncode, "", err.decode())

    lock = os.path.join(tmp, "lk")
    for args in (["stats", path, "--lock", lock], ["show", path, "[0]", "--lock", lock]):
        res = run(args, (0, 1))
        mm.assert_error(res, 74, ["stdout"], args=args)
        mm.eq(os.path.getsize(lock), 0, "bytes in the --lock file after %s" % args)
    raw = os.path.join(tmp, "t.raw")
    a = np.arange(4000, dtype="<f4")
    a.tofile(raw)
    cfg = write_config(tmp, {"path": raw, "dtype": "float32", "shape": [-1, 4], "mode": "r+"},
                       {"op": "transform", "fn": "affine", "scale": 2.0})
    res = run(["-q", cfg], (1,))
    mm.assert_error(res, 74, ["stdout", "transformed"])
    mm.check(np.array_equal(np.fromfile(raw, dtype="<f4"), a * 2), "the dataset after >&-")
    mm.assert_no_leftovers(tmp, snap)


if __name__ == "__main__":
    mm.main()
