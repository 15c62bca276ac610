"""Batch and HPC (SPEC §1, §6; docs/HPC.md, docs/PARTIAL_FORMAT.md): --lock,
--progress lines, -q, default worker counts, --shard I/N and auto with
`mmrun merge`, --state incremental runs, and `cmake --install`.

Byte-identity is checked on the raw text of the top-level "dataset" and
"results" members (mm.top_level_spans), not on parsed values.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_batch.py [FILTER...]
"""

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

STATS = [{"name": "cols", "op": "stats", "axis": 0, "ddof": 1},
         {"name": "all", "op": "stats"}]
# For rows of 300000 values: per-row stats and the overall ones.
WIDE = [{"name": "rows", "op": "stats", "axis": 1}, {"name": "all", "op": "stats", "ddof": 1}]


def op_available(d, op, params):
    """True when this mmrun knows `op` (analyses written in parallel may not
    be registered yet)."""
    np.zeros((4, 2), "<f8").tofile(os.path.join(d, "probe.dat"))
    cfg = mm.write_config(d, {"dataset": {"path": "probe.dat", "dtype": "<f8", "shape": [-1, 2]},
                              "analyses": [dict(op=op, **params)]}, "probe.json")
    return mm.run_mmrun(["validate", cfg]).code == 0


def analyses_for(d):
    """stats, plus histogram with a range and cov when they are registered."""
    out = list(STATS)
    hist = {"bins": 7, "range": [-2.0, 2.5]}
    if op_available(d, "histogram", hist):
        out.append(dict(name="hist", op="histogram", **hist))
        out.append({"name": "hist_cols", "op": "histogram", "bins": 5, "range": [-1.0, 1.0], "axis": 0})
    if op_available(d, "cov", {}):
        out.append({"name": "cov", "op": "cov"})
    return out


def data(rows, cols=4, seed=1, dtype="<f8"):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 1.0, size=(rows, cols))
    a[rng.random(a.shape) < 0.02] = np.nan
    return a.astype(dtype)


def spans(text):
    s = mm.top_level_spans(text)
    return s["dataset"], s["results"]


def full_run(cfg, workers=2):
    res = mm.run_mmrun(["-q", "-w", workers, cfg])
    mm.check(res.code == 0, mm.describe([cfg], res))
    return res.out


def assert_same(text_a, text_b, what):
    da, ra = spans(text_a)
    db, rb = spans(text_b)
    mm.check(da == db, "%s: dataset differs:\n%s\n%s" % (what, da[:300], db[:300]))
    if ra != rb:
        raise mm.Fail("%s: results are not byte-identical: %s vs %s" % (what, ra[:400], rb[:400]))


def run_shards(d, cfg, n, workers=(2,), launch="fork", extra_env=None, prefix="part"):
    parts = []
    for i in range(n):
        out = os.path.join(d, "%s-%d.json" % (prefix, i))
        w = workers[i % len(workers)]
        args = ["-q", "-w", w, "--launch", launch, "--shard", "%d/%d" % (i, n), "-o", out, cfg]
        res = mm.run_mmrun(args, extra_env=extra_env)
        mm.check(res.code == 0, mm.describe(args, res))
        mm.eq(res.out, "", "stdout of a shard run with -o")
        parts.append(out)
    return parts


def merge(parts, out=None):
    args = ["merge"] + parts + (["-o", out] if out else [])
    return mm.run_mmrun(args)


def merged_text(parts):
    res = merge(parts)
    mm.check(res.code == 0, mm.describe(["merge"] + parts, res))
    return res.out


def stats_dataset(d, rows=150000, name="d.dat", order="C"):
    a = data(rows)
    mm.write_raw(os.path.join(d, name), a, order=order)
    return a, {"path": name, "dtype": "<f8", "shape": [-1, 4], "order": order}


# --------------------------------------------------------------------------
# Cron: --lock, --progress, -q, atomic outputs


@mm.test("--lock held by another process: exit 75 at once naming its pid; free again afterwards")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d, rows=1000)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS})
        lock = os.path.join(d, "run.lock")
        with open(lock, "w") as f:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            res = mm.run_mmrun(["--lock", lock, "-o", os.path.join(d, "out.json"), cfg], timeout=10)
            mm.assert_error(res, 75, ["--lock", lock, "pid %d" % os.getpid()])
            mm.check(not os.path.exists(os.path.join(d, "out.json")), "an output was written by a locked-out run")
        res = mm.run_mmrun(["-q", "--lock", lock, cfg])
        mm.eq(res.code, 0, "exit code once the lock is free")
        mm.assert_no_leftovers(d)


@mm.test("--progress=SECS on a log file: timestamped lines while a slow run goes on; -q: nothing")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d, rows=40000)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS})
        # The worker hangs once; --timeout kills it after 1.5 s and the retry finishes.
        slow = {"MMRUN_TEST_FAULT": "hang_after_rows=1"}
        args = ["-w", "1", "--timeout", "1.5", "--progress=0.2", cfg]
        doc, res = mm.run_ok(args, extra_env=slow, timeout=60)
        lines = res.err.splitlines()
        pat = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ mmrun: pass 1/1 +\d+(\.\d)?% \d+/40000 rows ")
        mm.check(len(lines) >= 3, "expected several progress lines in 1.5 s at 0.2 s, got %r" % res.err[:500])
        for line in lines[:-1]:
            mm.check(pat.match(line), "not a timestamped progress line: %r" % line)
        final = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ mmrun: done 100\.0% 40000 rows \(axis 0\) x 1 pass "
                           r"in \d+\.\d\ds, \d+\.\d\d GB/s$")
        mm.check(final.match(lines[-1]), "not the final progress line: %r" % lines[-1])
        mm.eq(doc["results"]["all"]["count"] + doc["results"]["all"]["nan_count"], 160000, "values counted")
        res = mm.run_mmrun(["-q", "--progress=0.2", "-w", "1", "--timeout", "1.5", cfg], extra_env=slow, timeout=60)
        mm.eq(res.code, 0, "exit code with -q")
        mm.eq(res.err, "", "stderr with -q")


@mm.test("outputs are atomic: a failing run leaves the previous output untouched and no temporary file")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d, rows=1000)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS, "output": "hourly.json"})
        mm.eq(mm.run_mmrun(["-q", cfg]).code, 0, "first run")
        before = open(os.path.join(d, "hourly.json")).read()
        os.truncate(os.path.join(d, "d.dat"), 0)
        os.remove(os.path.join(d, "d.dat"))
        res = mm.run_mmrun(["-q", cfg])
        mm.assert_error(res, 66, ["d.dat"])
        mm.eq(open(os.path.join(d, "hourly.json")).read(), before, "previous output")
        mm.assert_no_leftovers(d)


@mm.test("configs/cron_hourly.json is a valid --state config")
def _():
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.path.join(here, "..", "..", "configs", "cron_hourly.json")
    with mm.tmpdir() as d:
        os.makedirs(os.path.join(d, "configs"))
        os.makedirs(os.path.join(d, "data"))
        shutil.copy(src, os.path.join(d, "configs"))
        data(5000, 10, dtype="<f4").tofile(os.path.join(d, "data", "time_series.dat"))
        cfg = os.path.join(d, "configs", "cron_hourly.json")
        state = os.path.join(d, "data", "hourly.state")
        res = mm.run_mmrun(["-q", "--lock", os.path.join(d, "data", "hourly.lock"), "--state", state, cfg])
        mm.eq(res.code, 0, "exit code: " + res.err)
        doc = mm.parse_doc(open(os.path.join(d, "data", "hourly.json")).read())
        mm.eq(doc["mmrun"]["rows"], 5000, "rows")
        mm.check(os.path.exists(state), "no state file written")


# --------------------------------------------------------------------------
# Default worker counts


@mm.test("workers default to SLURM_CPUS_PER_TASK, else the affinity mask (taskset -c 0 gives 1)")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d, rows=1000)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS})
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        doc, _ = mm.run_ok([cfg], extra_env={"SLURM_CPUS_PER_TASK": "3"})
        # One block of rows: one worker started, the request reported.
        mm.eq((doc["mmrun"]["workers"], doc["mmrun"].get("workers_requested")), (1, 3),
              "workers with SLURM_CPUS_PER_TASK=3")
        if shutil.which("taskset") is None:
            raise mm.Skip("taskset is not installed")
        cpu = str(min(os.sched_getaffinity(0)))  # "taskset -c 0" where CPU 0 is ours
        res = mm.run_binary("/usr/bin/env", ["taskset", "-c", cpu, mm.mmrun_path(), cfg], env=env)
        mm.eq(res.code, 0, "exit code under taskset: " + res.err)
        mm.eq(mm.parse_doc(res.out)["mmrun"]["workers"], 1, "workers under taskset -c 0")
        mm.eq(json.loads(mm.run_mmrun(["validate", cfg], env=env, extra_env={"SLURM_CPUS_PER_TASK": "5"}).out)
              ["workers_requested"], 5, "validate's workers with SLURM_CPUS_PER_TASK=5")
        doc, _ = mm.run_ok(["-w", "2", cfg], extra_env={"SLURM_CPUS_PER_TASK": "3"})
        mm.eq(doc["mmrun"]["workers_requested"], 2, "-w overrides SLURM_CPUS_PER_TASK")


# --------------------------------------------------------------------------
# Shards and merge


@mm.test("--shard I/N + merge: results byte-identical to one run for N = 1..5 and N > blocks")
def _():
    with mm.tmpdir() as d:
        a, ds = stats_dataset(d)  # 4.8 MB: 5 blocks
        cfg = mm.write_config(d, {"dataset": ds, "analyses": analyses_for(d)})
        want = full_run(cfg, 3)
        for n in (1, 2, 3, 4, 5, 8):
            parts = run_shards(d, cfg, n, workers=(1, 2, 3), prefix="n%d" % n)
            assert_same(merged_text(parts), want, "merge of %d shards" % n)
            # Any order on the command line.
            assert_same(merged_text(parts[::-1]), want, "merge of %d shards in reverse" % n)
        doc = mm.parse_doc(want)
        f = a.astype(np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mm.assert_close(doc["results"]["cols"]["mean"], np.nanmean(f, axis=0), rtol=1e-12, atol=1e-12)
        mm.assert_no_leftovers(d)


@mm.test("--shard on rows larger than a block (pieces), F order, spawn: merge equals one run")
def _():
    with mm.tmpdir() as d:
        a = data(5, 300000, dtype="<f4")  # 1.2 MB rows: blocks are pieces of a row
        mm.write_raw(os.path.join(d, "wide.dat"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "wide.dat", "dtype": "<f4", "shape": [-1, 300000]},
                                  "analyses": WIDE})
        want = full_run(cfg, 2)
        for n in (2, 3, 7):
            assert_same(merged_text(run_shards(d, cfg, n, workers=(2,), launch="spawn", prefix="w%d" % n)),
                        want, "pieces, %d shards" % n)
        b = data(3000, 6, seed=4, dtype=">f8")
        mm.write_raw(os.path.join(d, "f.dat"), b, order="F")
        cfg = mm.write_config(d, {"dataset": {"path": "f.dat", "dtype": ">f8", "shape": [3000, 6], "order": "F"},
                                  "analyses": STATS}, "f.json")
        assert_same(merged_text(run_shards(d, cfg, 4, prefix="f")), full_run(cfg), "F order, 4 shards")


@mm.test("--shard auto from SLURM array variables: ids 3..5 (MIN 3) and 0,2,4 (STEP 2)")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS})
        want = full_run(cfg)
        for ids, mn, step in (((3, 4, 5), 3, 1), ((0, 2, 4), 0, 2)):
            parts = []
            for k, tid in enumerate(ids):
                out = os.path.join(d, "auto-%d.json" % tid)
                env = {"SLURM_ARRAY_TASK_ID": str(tid), "SLURM_ARRAY_TASK_MIN": str(mn),
                       "SLURM_ARRAY_TASK_MAX": str(ids[-1]), "SLURM_ARRAY_TASK_STEP": str(step),
                       "SLURM_ARRAY_TASK_COUNT": "3"}
                res = mm.run_mmrun(["-q", "--shard", "auto", "-o", out, cfg], extra_env=env)
                mm.eq(res.code, 0, "exit code: " + res.err)
                shard = json.load(open(out))["shard"]
                mm.eq((shard["index"], shard["count"]), (k, 3), "shard of task id %d" % tid)
                parts.append(out)
            assert_same(merged_text(parts), want, "merge of SLURM tasks %s" % (ids,))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        res = mm.run_mmrun(["--shard", "auto", cfg], env=env)
        mm.assert_error(res, 64, ["SLURM_ARRAY_TASK_ID"])
        res = mm.run_mmrun(["--shard", "auto", cfg], env=env, extra_env={
            "SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "2",
            "SLURM_ARRAY_TASK_COUNT": "3"})
        mm.assert_error(res, 64, ["--shard auto", "STEP=2"])
        for bad in ("3/3", "1", "a/2", "-1/2", "1/0"):
            mm.assert_error(mm.run_mmrun(["--shard", bad, cfg]), 64, ["--shard"])
        mm.assert_error(mm.run_mmrun(["--shard", "0/2", "--state", os.path.join(d, "s"), cfg]), 64,
                        ["--shard", "--state"])


@mm.test("merge refuses missing, duplicate, foreign and changed-file parts; quantiles refuse --shard (78)")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS})
        parts = run_shards(d, cfg, 3)
        res = merge(parts[:1] + parts[2:])
        mm.assert_error(res, 65, ["missing shard", "1/3"])
        res = merge(parts + [parts[1]])
        mm.assert_error(res, 65, ["both shard 1/3"])
        other = mm.write_config(d, {"dataset": ds, "analyses": STATS[:1]}, "other.json")
        foreign = run_shards(d, other, 3, prefix="other")
        res = merge(parts[:2] + foreign[2:])
        mm.assert_error(res, 65, ["another config", foreign[2]])
        other4 = run_shards(d, cfg, 4, prefix="four")
        res = merge(parts[:2] + other4[2:3])
        mm.assert_error(res, 65, ["2/4"])
        # The file changes (rewritten with other values) before the last shard runs.
        with open(os.path.join(d, "d.dat"), "r+b") as f:
            f.write(b"\x01" * 8)
        changed = run_shards(d, cfg, 3, prefix="changed")
        res = merge(parts[:2] + changed[2:])
        mm.assert_error(res, 65, ["dataset differs", "changed"])
        with open(os.path.join(d, "junk.json"), "w") as f:
            f.write('{"results": {}}')
        mm.assert_error(merge([os.path.join(d, "junk.json")]), 65, ["not an mmrun part file"])
        doc = json.load(open(parts[0]))
        doc["version"] = 99
        with open(os.path.join(d, "v99.json"), "w") as f:
            json.dump(doc, f)
        mm.assert_error(merge([os.path.join(d, "v99.json")] + parts[1:]), 65, ["version 99"])
        mm.assert_error(merge([os.path.join(d, "nope.json")]), 66, ["nope.json"])
        mm.assert_error(merge([]), 64, ["merge"])
        out = os.path.join(d, "merged.json")
        mm.assert_error(merge(parts[:2], out), 65, ["missing shard"])
        mm.check(not os.path.exists(out), "a refused merge wrote its output")
        q = mm.write_config(d, {"dataset": ds, "analyses": STATS + [{"op": "quantiles", "q": [0.5]}]}, "q.json")
        res = mm.run_mmrun(["--shard", "0/2", q])
        if "unknown op" not in res.err:
            mm.assert_error(res, 78, ["analyses[2].op", "--shard", "passes"])
        h = mm.write_config(d, {"dataset": ds, "analyses": [{"op": "histogram", "bins": 4}]}, "h.json")
        res = mm.run_mmrun(["--shard", "0/2", h])
        if "unknown op" not in res.err:
            mm.assert_error(res, 78, ["analyses[0].op", "range"])
        mm.assert_no_leftovers(d)


@mm.test("merge writes -o atomically, else the config's output; the part records the documented fields")
def _():
    with mm.tmpdir() as d:
        _, ds = stats_dataset(d, rows=20000)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": STATS, "output": "final.json"})
        parts = run_shards(d, cfg, 2)
        mm.check(not os.path.exists(os.path.join(d, "final.json")), "a shard wrote the config's output")
        part = json.load(open(parts[1]))
        for key in ("format", "version", "mmrun", "shard", "config", "dataset", "plan", "nodes"):
            mm.check(key in part, "part lacks %r" % key)
        mm.eq(list(part)[:2], ["format", "version"], "first keys of a part")
        mm.eq((part["format"], part["version"]), ("mmrun-part", 5), "format and version")
        for key in ("path", "dtype", "shape", "file_bytes", "mtime_ns"):
            mm.check(key in part["dataset"], "part dataset lacks %r" % key)
        res = merge(parts)
        mm.eq((res.code, res.out), (0, ""), "merge without -o (config output)")
        want = full_run(mm.write_config(d, {"dataset": ds, "analyses": STATS}, "plain.json"))
        assert_same(open(os.path.join(d, "final.json")).read(), want, "merge into the config's output")
        res = merge(parts, os.path.join(d, "sub", "x.json"))
        mm.assert_error(res, 73, ["x.json"])
        mm.eq(merge(parts, os.path.join(d, "m.json")).code, 0, "merge -o")
        assert_same(open(os.path.join(d, "m.json")).read(), want, "merge -o")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Incremental runs


def append(path, a, order="C"):
    with open(path, "ab") as f:
        f.write(mm.raw_bytes(a, order))


def state_run(cfg, state, workers=2, quiet=True, extra=()):
    args = (["-q"] if quiet else []) + ["-w", workers, "--state", state] + list(extra) + [cfg]
    res = mm.run_mmrun(args)
    mm.check(res.code == 0, mm.describe(args, res))
    return res


@mm.test("--state: equal to a full run after 3 appends, reading only the new rows")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "ts.dat")
        a = data(100000, seed=1)
        mm.write_raw(path, a)
        cfg = mm.write_config(d, {"dataset": {"path": "ts.dat", "dtype": "<f8", "shape": [-1, 4]},
                                  "analyses": analyses_for(d)})
        state = os.path.join(d, "ts.state")
        res = state_run(cfg, state)
        assert_same(res.out, full_run(cfg), "first run")
        meta = mm.parse_doc(res.out)["mmrun"]
        mm.eq(meta["incremental"], {"state": "created", "rows_reused": 0, "rows_read": 100000}, "first run")
        total = a
        for k, (n, w) in enumerate(((70001, 1), (3, 3), (131072, 2))):
            more = data(n, seed=10 + k)
            append(path, more)
            total = np.concatenate([total, more])
            res = state_run(cfg, state, workers=w)
            assert_same(res.out, full_run(cfg, 3), "after append %d" % (k + 1))
            inc = mm.parse_doc(res.out)["mmrun"]["incremental"]
            mm.eq(inc["state"], "reused", "state after append %d" % (k + 1))
            mm.eq(inc["rows_reused"] + inc["rows_read"], len(total), "rows after append %d" % (k + 1))
            mm.check(inc["rows_read"] < n + 32768, "append %d read %d rows for %d new ones"
                     % (k + 1, inc["rows_read"], n))
        doc = mm.parse_doc(res.out)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mm.assert_close(doc["results"]["cols"]["var"], np.nanvar(total, axis=0, ddof=1), rtol=1e-10)
        mm.eq(doc["results"]["all"]["count"], int((~np.isnan(total)).sum()), "count")
        # A run with nothing new re-reads only the last partial block.
        res = state_run(cfg, state, extra=["--launch", "spawn"])
        assert_same(res.out, full_run(cfg), "unchanged file")
        mm.check(mm.parse_doc(res.out)["mmrun"]["incremental"]["rows_read"] < 32768, "unchanged file re-read")
        mm.assert_no_leftovers(d)


@mm.test("--state: a shrunk or rewritten file discards the state with one warning; results equal a full run; a corrupt state is 65")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "ts.dat")
        mm.write_raw(path, data(120000, seed=2))
        cfg = mm.write_config(d, {"dataset": {"path": "ts.dat", "dtype": "<f8", "shape": [-1, 4]},
                                  "analyses": STATS})
        state = os.path.join(d, "ts.state")
        state_run(cfg, state)
        os.truncate(path, 90000 * 32)
        res = state_run(cfg, state, quiet=False)
        lines = res.err.splitlines()
        mm.eq(len(lines), 1, "stderr lines after a shrink: %r" % res.err)
        mm.check(lines[0].startswith("mmrun: warning: ") and "shrank" in lines[0] and state in lines[0],
                 "warning: %r" % lines[0])
        assert_same(res.out, full_run(cfg), "after a shrink")
        mm.eq(mm.parse_doc(res.out)["mmrun"]["incremental"]["state"], "discarded", "state after a shrink")
        # Rows already seen change (block 0), then rows are appended.
        with open(path, "r+b") as f:
            f.write(np.array([12345.0], "<f8").tobytes())
        append(path, data(5000, seed=3))
        res = state_run(cfg, state, quiet=False)
        mm.check(res.err.startswith("mmrun: warning: ") and "changed" in res.err and res.err.count("\n") == 1,
                 "warning: %r" % res.err)
        assert_same(res.out, full_run(cfg), "after a rewrite")
        # The config changes: the state is discarded too; -q keeps stderr empty.
        cfg2 = mm.write_config(d, {"dataset": {"path": "ts.dat", "dtype": "<f8", "shape": [-1, 4]},
                                   "analyses": STATS[:1]})
        res = state_run(cfg2, state, quiet=True)
        mm.eq(res.err, "", "stderr with -q")
        assert_same(res.out, full_run(cfg2), "after a config change")
        with open(state, "w") as f:
            f.write("{garbage")
        # A corrupt state is an error (65) naming it, never silently used
        # (test_hostile.py checks each kind of corruption).
        mm.assert_error(mm.run_mmrun(["-q", "--state", state, cfg2]), 65, [state, "invalid JSON"])
        mm.assert_no_leftovers(d)


@mm.test("--state: F order and rows larger than a block; -1 required on the row axis (78)")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "f.dat")
        a = data(30001, 3, seed=5, dtype=">f4").T.copy()  # shape (3, -1) in F order: rows along the last axis
        mm.write_raw(path, a, order="F")
        cfg = mm.write_config(d, {"dataset": {"path": "f.dat", "dtype": ">f4", "shape": [3, -1], "order": "F"},
                                  "analyses": [{"name": "lanes", "op": "stats", "axis": 1}]})
        state = os.path.join(d, "f.state")
        state_run(cfg, state)
        for k in range(2):
            append(path, data(40000 + k, 3, seed=6 + k, dtype=">f4").T.copy(), order="F")
            assert_same(state_run(cfg, state).out, full_run(cfg), "F order, append %d" % (k + 1))
        wide = os.path.join(d, "wide.dat")
        data(2, 300000, dtype="<f4").tofile(wide)
        wcfg = mm.write_config(d, {"dataset": {"path": "wide.dat", "dtype": "<f4", "shape": [-1, 300000]},
                                   "analyses": WIDE}, "wide.json")
        wstate = os.path.join(d, "wide.state")
        state_run(wcfg, wstate)
        append(wide, data(1, 300000, seed=9, dtype="<f4"))
        res = state_run(wcfg, wstate)
        assert_same(res.out, full_run(wcfg), "wide rows")
        mm.eq(mm.parse_doc(res.out)["mmrun"]["incremental"]["rows_read"], 1, "wide rows read")
        fixed = mm.write_config(d, {"dataset": {"path": "wide.dat", "dtype": "<f4", "shape": [3, 300000]},
                                    "analyses": WIDE}, "fixed.json")
        mm.assert_error(mm.run_mmrun(["--state", wstate, fixed]), 78, ["dataset.shape", "-1"])
        mm.assert_no_leftovers(d)


@mm.test("--state and --shard over bool, float16, big-endian int16, uint64: byte-identical to one run")
def _():
    rng = np.random.default_rng(11)
    with mm.tmpdir() as d:
        for dt, cols in (("?", 3), ("<f2", 2), (">i2", 3), ("<u8", 2)):
            def make(n):
                if dt == "?":
                    return rng.random((n, cols)) < 0.3
                if dt == "<f2":
                    a = rng.normal(0, 10, (n, cols)).astype(dt)
                    a[rng.random(a.shape) < 0.01] = np.nan
                    return a
                if dt == ">i2":
                    return rng.integers(-30000, 30000, (n, cols)).astype(dt)
                return rng.integers(0, 1 << 63, (n, cols), dtype=np.uint64).astype(dt) * 2 + 1
            name = "t%s.dat" % dt.strip("<>?") if dt != "?" else "tbool.dat"
            path = os.path.join(d, name)
            mm.write_raw(path, make(300001))
            cfg = mm.write_config(d, {"dataset": {"path": name, "dtype": dt, "shape": [-1, cols]},
                                      "analyses": STATS}, name + ".json")
            state = path + ".state"
            state_run(cfg, state)
            for k in range(2):
                append(path, make(int(rng.integers(1, 200000))))
                assert_same(state_run(cfg, state, workers=3).out, full_run(cfg), "%s append %d" % (dt, k + 1))
            assert_same(merged_text(run_shards(d, cfg, 3, workers=(1, 3), prefix=name)), full_run(cfg),
                        "%s shards" % dt)
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Install


@mm.test("cmake --install puts mmrun, mmworker, mmrun-mpi (when built) and the man page under the prefix")
def _():
    build = os.path.dirname(mm.mmrun_path())
    if not os.path.exists(os.path.join(build, "cmake_install.cmake")) or shutil.which("cmake") is None:
        raise mm.Skip("MMRUN is not in a CMake build folder")
    with mm.tmpdir() as d:
        res = subprocess.run(["cmake", "--install", build, "--prefix", d], capture_output=True, text=True)
        mm.eq(res.returncode, 0, "cmake --install: " + res.stderr[-500:])
        names = ["mmrun", "mmworker"] + (["mmrun-mpi"] if os.path.exists(os.path.join(build, "mmrun-mpi")) else [])
        for name in names:
            mm.check(os.access(os.path.join(d, "bin", name), os.X_OK), "bin/%s not installed" % name)
        man = os.path.join(d, "share", "man", "man1", "mmrun.1")
        mm.check(os.path.exists(man), "man page not installed")
        text = open(man).read()
        mm.check(text.startswith(".TH MMRUN 1") or "\n.TH MMRUN 1" in text, "man page lacks .TH")
        for word in ("\\-\\-shard", "\\-\\-state", "merge", "mmrun-mpi", "EXIT STATUS"):
            mm.check(word in text, "man page does not mention %s" % word)
        res = mm.run_binary(os.path.join(d, "bin", "mmrun"), ["--version"])
        mm.eq(res.code, 0, "installed mmrun --version")


if __name__ == "__main__":
    mm.main()
