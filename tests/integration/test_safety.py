"""Data identity and lifecycle (docs/RELIABILITY.md "Data identity and lifecycle").

From outside the binaries: no output may replace a file the run reads (by
path, ./path, symlink, hard link, config key, --state, --shard part,
slice/convert output), nor a device or FIFO; a file renamed over the
dataset's path or shrunk during a run never gives a mixed result; messages
after a transform's commit say it was transformed; every stop signal and a
closed stdout leave nothing behind; the temporary output of a SIGKILLed
coordinator is removed by the next run (only its own, dead, this user's);
integer clip and affine are exact over the whole int64 and uint64 range.

Hooks (core/fault.h): pause_after_rows=N stops a worker (SIGSTOP) once
after N rows of its first attempt, so the test can rename or shrink the file
and resume it with SIGCONT; pause_after_commit=1 makes the coordinator wait
for a signal once its writes are committed; hang_after_rows=N.
"""
import json
import os
import signal
import stat
import subprocess
import time
from fractions import Fraction

import numpy as np

import mmtest as mm

COLS = 4
ROWS = 1400064  # float32: 22.4 MB, two 16 MiB windows for one worker; a multiple of 4096 bytes
SMALL = 50000
SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGQUIT, 131),
           (signal.SIGPIPE, 141), (signal.SIGALRM, 142), (signal.SIGUSR1, 138), (signal.SIGUSR2, 140),
           (signal.SIGXCPU, 152)]


def make(d, rows=ROWS, shape=None, name="data.dat", seed=1, output=None, analyses=None):
    a = np.random.default_rng(seed).normal(0, 1, size=(rows, COLS)).astype("<f4")
    a.tofile(os.path.join(d, name))
    cfg = {"dataset": {"path": name, "dtype": "float32", "shape": shape or [rows, COLS]},
           "analyses": analyses or [{"op": "stats", "axis": 0}]}
    if output:
        cfg["output"] = output
    return mm.write_config(d, cfg), os.path.join(d, name), a


def edit_config(cfg, change):
    with open(cfg) as f:
        j = json.load(f)
    change(j)
    mm.write_config(os.path.dirname(cfg), j, name=os.path.basename(cfg))


children_of = mm.children_of


def state_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def wait_for(cond, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.005)
    raise mm.Fail("timed out waiting for " + what)


def default_signals():
    # mmrun keeps a signal ignored at its start ignored (nohup): give it the
    # default actions whatever the environment running the tests ignores.
    for sig, _ in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def start(args, extra_env=None, cwd=None, stdout=subprocess.PIPE):
    env = dict(os.environ)
    env.update(extra_env or {})
    return subprocess.Popen([mm.mmrun_path()] + [str(x) for x in args], stdout=stdout,
                            stderr=subprocess.PIPE, env=env, cwd=cwd, preexec_fn=default_signals)


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return mm.RunResult(proc.returncode, (out or b"").decode(), err.decode())


def results_text(text):
    spans = mm.top_level_spans(text)
    return spans["dataset"] + spans["results"]


# ---------------------------------------------------------------- overwrites


def refused(d, args, code, fragments, data, cwd=None):
    before = mm.sha256_file(data)
    res = mm.run_mmrun(args, cwd=cwd)
    mm.assert_error(res, code, fragments, args=args)
    mm.eq(mm.sha256_file(data), before, "sha256 of the dataset")
    mm.assert_no_leftovers(d)


def overwrite_case(name, build, code=78):
    def run():
        with mm.tmpdir() as d:
            args, fragments, cwd = build(d)
            refused(d, args, code, fragments, os.path.join(d, "data.dat"), cwd=cwd)
    mm.add_test("identity: " + name, run)


def _o_path(d):
    cfg, data, _ = make(d, rows=SMALL)
    return ["-q", "-o", data, cfg], ["-o", "dataset.path", "same file"], None


def _o_dot(d):
    cfg, _, _ = make(d, rows=SMALL)
    return ["-q", "-o", "./data.dat", "config.json"], ["-o", "dataset.path"], d


def _o_symlink(d):
    cfg, _, _ = make(d, rows=SMALL)
    os.symlink("data.dat", os.path.join(d, "link.dat"))
    return ["-q", "-o", os.path.join(d, "link.dat"), cfg], ["-o", "dataset.path"], None


def _o_hardlink(d):
    cfg, data, _ = make(d, rows=SMALL)
    os.link(data, os.path.join(d, "hard.dat"))
    return ["-q", "-o", os.path.join(d, "hard.dat"), cfg], ["-o", "dataset.path"], None


def _config_output(d):
    cfg, _, _ = make(d, rows=SMALL, output="data.dat")
    return ["-q", cfg], ["output", "dataset.path"], None


def _o_config(d):
    cfg, _, _ = make(d, rows=SMALL)
    return ["-q", "-o", cfg, cfg], ["-o", "CONFIG"], None


def _state(d):
    cfg, data, _ = make(d, rows=SMALL, shape=[-1, COLS])
    os.link(data, os.path.join(d, "hard.dat"))
    return ["-q", "--state", os.path.join(d, "hard.dat"), cfg], ["--state", "dataset.path"], None


def _shard_part(d):
    cfg, data, _ = make(d, rows=SMALL)
    return ["-q", "--shard", "0/2", "-o", data, cfg], ["-o", "dataset.path"], None


def _slice_symlink(d):
    os.symlink("data.dat", os.path.join(d, "link.dat"))
    cfg, _, _ = make(d, rows=SMALL, analyses=[{"op": "slice", "select": "[0:10]", "output": "link.dat"}])
    return ["-q", cfg], ["analyses[0].output", "dataset.path"], None


def _convert_hardlink(d):
    cfg, data, _ = make(d, rows=SMALL, analyses=[
        {"op": "convert", "dtype": "float16", "casting": "same_kind", "output": "hard.dat"}])
    os.link(data, os.path.join(d, "hard.dat"))
    return ["-q", cfg], ["analyses[0].output", "dataset.path"], None


def _dataset_via_symlink_convert(d):
    # The case: the dataset is named through a symlink, the output is its target.
    cfg, _, _ = make(d, rows=SMALL, analyses=[
        {"op": "convert", "dtype": "float16", "casting": "same_kind", "output": "data.dat"}])
    os.symlink("data.dat", os.path.join(d, "blink.dat"))
    edit_config(cfg, lambda j: j["dataset"].update(path="blink.dat"))
    return ["-q", cfg], ["analyses[0].output", "dataset.path"], None


overwrite_case("-o is the dataset (absolute path): 78, data unchanged", _o_path)
overwrite_case("-o ./data.dat from the dataset's folder: 78", _o_dot)
overwrite_case("-o is a symlink to the dataset: 78", _o_symlink)
overwrite_case("-o is a hard link of the dataset: 78", _o_hardlink)
overwrite_case("config output is the dataset: 78", _config_output)
overwrite_case("-o is the config file: 78", _o_config)
overwrite_case("--state is (a hard link of) the dataset: 78", _state)
overwrite_case("--shard part -o is the dataset: 78", _shard_part)
overwrite_case("slice output is a symlink to the dataset: 78", _slice_symlink)
overwrite_case("convert output is a hard link of the dataset: 78", _convert_hardlink)
overwrite_case("convert output is the target of the dataset's symlink: 78", _dataset_via_symlink_convert)


def two_shards(d):
    """A small dataset's config and its two shard parts, written by mmrun."""
    cfg, _, _ = make(d, rows=SMALL)
    parts = [os.path.join(d, "part%d.json" % i) for i in range(2)]
    for i, part in enumerate(parts):
        res = mm.run_mmrun(["-q", "--shard", "%d/2" % i, "-o", part, cfg])
        mm.eq(res.code, 0, "exit of shard %d" % i)
    return cfg, parts


@mm.test("identity: merge -o naming one of its parts (hard link): 78, the part unchanged")
def _():
    with mm.tmpdir() as d:
        cfg, parts = two_shards(d)
        os.link(parts[1], os.path.join(d, "same.json"))
        before = mm.sha256_file(parts[1])
        args = ["merge"] + parts + ["-o", os.path.join(d, "same.json")]
        mm.assert_error(mm.run_mmrun(args), 78, ["-o", "part"], args=args)
        mm.eq(mm.sha256_file(parts[1]), before, "sha256 of the part")
        mm.assert_no_leftovers(d)


@mm.test("identity: merge -o naming the parts' config (path or hard link): 78, the config unchanged")
def _():
    with mm.tmpdir() as d:
        cfg, parts = two_shards(d)
        os.link(cfg, os.path.join(d, "cfg_link.json"))
        before = mm.sha256_file(cfg)
        for target in [cfg, os.path.join(d, "cfg_link.json")]:
            args = ["merge"] + parts + ["-o", target]
            mm.assert_error(mm.run_mmrun(args), 78, ["-o", "same file", "config"], args=args)
            mm.eq(mm.sha256_file(cfg), before, "sha256 of the config")
        mm.assert_no_leftovers(d)


def two_outputs_case(name, analyses, args, fragments, config_output=None):
    @mm.test("identity: " + name)
    def _():
        with mm.tmpdir() as d:
            cfg, data, _ = make(d, rows=SMALL, analyses=analyses, output=config_output)
            for extra in (["validate"], []):
                full = extra + ["-q"] + [a.replace("@", d) for a in args] + [cfg]
                refused(d, full, 78, fragments, data)
                mm.eq(sorted(os.listdir(d)), ["config.json", "data.dat"], "files in the folder")


CONVERT_OUT = [{"op": "convert", "dtype": "float64", "output": "out.npy"}]
two_outputs_case("-o equal to a convert's output (run and validate): 78 naming both, nothing written",
                 CONVERT_OUT, ["-o", "@/out.npy"], ["-o", "analyses[0].output", "same file"])
two_outputs_case("config output equal to a convert's output (by a ./ path): 78 naming both",
                 CONVERT_OUT, [], ["output", "analyses[0].output", "same file"], config_output="./out.npy")
two_outputs_case("two slices with one output (run and validate): 78 naming both, nothing written",
                 [{"name": "a", "op": "slice", "select": "[:10]", "output": "t.npy"},
                  {"name": "b", "op": "slice", "select": "[10:30]", "output": "./t.npy"}],
                 [], ["analyses[0].output", "analyses[1].output", "same file"])


@mm.test("identity: -o a device node (full) is refused (73) and the device is untouched")
def _():
    with mm.tmpdir() as d:
        cfg, data, _ = make(d, rows=SMALL)
        # As root, a private node of the full device (a broken mmrun would
        # replace this one, not the system's /dev/full); otherwise /dev/full,
        # which a user cannot replace anyway.
        dev = "/dev/full"
        if os.geteuid() == 0:
            dev = os.path.join(d, "full")
            os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
        before = os.stat(dev)
        refused(d, ["-q", "-o", dev, cfg], 73, ["full", "character device"], data)
        after = os.stat(dev)
        mm.check(stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino,
                 "the device node was replaced")


@mm.test("identity: -o a FIFO is refused (73) at once and stays a FIFO")
def _():
    with mm.tmpdir() as d:
        cfg, data, _ = make(d, rows=SMALL)
        fifo = os.path.join(d, "out.fifo")
        os.mkfifo(fifo)
        refused(d, ["-q", "-o", fifo, cfg], 73, ["out.fifo", "FIFO"], data)
        mm.check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced")


# ---------------------------------------------------------------- one file for the whole run


def swap_during_run(launch, workers=1):
    with mm.tmpdir() as d:
        cfg, data, _ = make(d)
        _, res0 = mm.run_ok(["-q", "-w", workers, "--launch", launch, cfg])
        want_text = results_text(res0.out)
        # The producer's new version, written beside and renamed over the path.
        new = os.path.join(d, "data.new")
        np.random.default_rng(99).normal(5, 1, size=(ROWS, COLS)).astype("<f4").tofile(new)
        new_sha = mm.sha256_file(new)
        proc = start(["-q", "-w", workers, "--launch", launch, cfg],
                     extra_env={"MMRUN_TEST_FAULT": "pause_after_rows=0"})
        kids = mm.stopped_children(proc, workers)
        os.rename(new, data)
        for k in kids:
            os.kill(k, signal.SIGCONT)
        res = finish(proc)
        if res.code == 0:
            mm.eq(results_text(res.out), want_text, "result of a run whose file was renamed over")
        else:
            mm.assert_error(res, 74, ["data.dat"])
        mm.eq(mm.sha256_file(data), new_sha, "sha256 of the new file")
        mm.assert_no_leftovers(d)


mm.add_test("one file: a file renamed over the dataset during a fork run: the original's result",
            lambda: swap_during_run("fork"))
mm.add_test("one file: a file renamed over the dataset during a spawn run: the original's result",
            lambda: swap_during_run("spawn", workers=2))


@mm.test("one file: the temporaries of an HDF5 output (stage, spool) replaced under the run by "
         "other files of their names: the workers refuse them (74), no output")
def _():
    with mm.tmpdir() as d:
        cfg, data, a = make(d, analyses=[{"op": "convert", "output": "o.h5",
                                          "compression": "gzip:1", "chunks": [1000, COLS]}])
        proc = start(["-q", "-w", 1, cfg], extra_env={"MMRUN_TEST_FAULT": "pause_after_rows=0"})
        kids = mm.stopped_children(proc, 1)
        temps = sorted(n for n in os.listdir(d) if n.startswith(".o.h5.mmrun-tmp-"))
        mm.eq(len(temps), 2, "temporaries beside the target: %s" % temps)
        for n in temps:  # another user's files take the names
            os.rename(os.path.join(d, n), os.path.join(d, "moved" + n))
            with open(os.path.join(d, n), "wb") as f:
                f.write(b"\0" * 4096)
        for k in kids:
            os.kill(k, signal.SIGCONT)
        res = finish(proc)
        mm.assert_error(res, 74, ["o.h5", "replaced during the run"])
        mm.check(not os.path.exists(os.path.join(d, "o.h5")), "an output was committed")
        for n in temps:
            for p in (os.path.join(d, n), os.path.join(d, "moved" + n)):
                if os.path.exists(p):
                    os.unlink(p)
        mm.assert_no_leftovers(d)


@mm.test("one file: a file renamed over the dataset during a transform: the original is transformed, the new one untouched")
def _():
    with mm.tmpdir() as d:
        cfg, data, a = make(d, analyses=[{"op": "transform", "fn": "affine", "scale": 2.0}])
        edit_config(cfg, lambda j: j["dataset"].update(mode="r+"))
        keep = os.path.join(d, "keep.dat")
        os.link(data, keep)  # the original inode, after the rename
        new = os.path.join(d, "data.new")
        np.arange(ROWS * COLS, dtype="<f4").tofile(new)
        new_sha = mm.sha256_file(new)
        proc = start(["-q", "-w", 1, cfg], extra_env={"MMRUN_TEST_FAULT": "pause_after_rows=0"})
        kids = mm.stopped_children(proc, 1)
        os.rename(new, data)
        for k in kids:
            os.kill(k, signal.SIGCONT)
        res = finish(proc)
        got = np.fromfile(keep, dtype="<f4").reshape(ROWS, COLS)
        if res.code == 0:
            mm.check(np.array_equal(got, (a.astype(np.float64) * 2.0).astype("<f4")),
                     "the original file is not exactly transformed")
        else:
            mm.assert_error(res, 74, ["data.dat"])
            mm.check(np.array_equal(got, a), "the original file was not rolled back")
        mm.eq(mm.sha256_file(data), new_sha, "sha256 of the file renamed over the path")
        mm.check(not os.path.exists(data + ".mmrun-journal"), "journal left behind")
        mm.assert_no_leftovers(d)


@mm.test("one file: a dataset shrunk by 4000 bytes mid-run (no SIGBUS) exits 74 naming it")
def _():
    with mm.tmpdir() as d:
        cfg, data, _ = make(d)
        size = os.path.getsize(data)
        mm.check(size % 4096 == 0, "test setup: the file must end on a page boundary")
        for launch in ("fork", "spawn"):
            proc = start(["-q", "-w", 1, "--launch", launch, cfg], extra_env={"MMRUN_TEST_FAULT": "pause_after_rows=0"})
            kids = mm.stopped_children(proc, 1)
            os.truncate(data, size - 4000)
            for k in kids:
                os.kill(k, signal.SIGCONT)
            res = finish(proc)
            mm.assert_error(res, 74, ["data.dat", "shrank"])
            os.truncate(data, size)
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- messages after a commit


@mm.test("commit: SIGINT after a transform's commit says the file was transformed")
def _():
    with mm.tmpdir() as d:
        rows = 20000
        cfg, data, a = make(d, rows=rows, analyses=[{"op": "transform", "fn": "affine", "scale": 3.0}])
        edit_config(cfg, lambda j: j["dataset"].update(mode="r+"))
        want = (a.astype(np.float64) * 3.0).astype("<f4")
        out = os.path.join(d, "out.json")
        proc = start(["-q", "-w", 2, "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "pause_after_commit=1"})

        def committed():
            if os.path.exists(data + ".mmrun-journal"):
                return False
            return np.array_equal(np.fromfile(data, dtype="<f4").reshape(rows, COLS), want)
        wait_for(committed, "the transform to commit")
        proc.send_signal(signal.SIGINT)
        res = finish(proc)
        mm.assert_error(res, 130, ["SIGINT", "transformed", "data.dat"])
        mm.check("nothing written" not in res.err, "the message says nothing was written: " + res.err)
        mm.check(not os.path.exists(out), "the result document was written")
        mm.check(np.array_equal(np.fromfile(data, dtype="<f4").reshape(rows, COLS), want), "data changed again")
        mm.assert_no_leftovers(d)


@mm.test("commit: an output that fails after a transform's commit (rename_fail) says the file was transformed")
def _():
    with mm.tmpdir() as d:
        cfg, data, a = make(d, rows=20000, analyses=[{"op": "transform", "fn": "affine", "offset": 1.0}])
        edit_config(cfg, lambda j: j["dataset"].update(mode="r+"))
        out = os.path.join(d, "out.json")
        res = mm.run_mmrun(["-q", "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "rename_fail=1"})
        mm.assert_error(res, 73, ["out.json", "transformed", "data.dat"])
        mm.check("nothing written" not in res.err, "the message says nothing was written: " + res.err)
        want = (a.astype(np.float64) + 1.0).astype("<f4")
        mm.check(np.array_equal(np.fromfile(data, dtype="<f4").reshape(-1, COLS), want), "the data is not transformed")
        mm.assert_no_leftovers(d)


@mm.test("commit: SIGTERM after per-lane results were written as PREFIX.FIELD.npy names them (not 'nothing written')")
def _():
    with mm.tmpdir() as d:
        cfg, data, a = make(d, analyses=[{"op": "stats", "axis": 1, "output": "pre"}])
        out = os.path.join(d, "out.json")
        proc = start(["-q", "-w", 2, "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "pause_after_commit=1"})
        var = os.path.join(d, "pre.var.npy")
        wait_for(lambda: os.path.exists(var), "the .npy files to be committed")
        proc.send_signal(signal.SIGTERM)
        res = finish(proc)
        mm.assert_error(res, 143, ["SIGTERM", var + " was written", os.path.join(d, "pre.mean.npy") + " was written",
                                   "the result document was not written"])
        mm.check("nothing written" not in res.err, "the message says nothing was written: " + res.err)
        mm.check(not os.path.exists(out), "the result document was written")
        want = a.astype(np.float64).var(axis=1)
        mm.check(np.allclose(np.load(var), want, rtol=1e-12), "pre.var.npy differs from numpy")
        mm.assert_no_leftovers(d)


@mm.test("commit: a stop after a slice's output was committed, while a later pass runs, names the output")
def _():
    with mm.tmpdir() as d:
        cfg, data, a = make(d, analyses=[{"op": "slice", "select": "[:, 2]", "output": "col.npy"},
                                         {"op": "quantiles", "q": [0.5]}])
        out = os.path.join(d, "out.json")
        proc = start(["-q", "-w", 2, "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "pause_after_commit=1"})
        col = os.path.join(d, "col.npy")
        wait_for(lambda: os.path.exists(col), "the slice's output to be committed", timeout=120)
        proc.send_signal(signal.SIGTERM)  # in the quantiles' later passes, or once they are done
        res = finish(proc)
        mm.assert_error(res, 143, ["SIGTERM", col + " was written"])
        mm.check("nothing written" not in res.err, "the message says nothing was written: " + res.err)
        mm.check(np.array_equal(np.load(col), a[:, 2]), "col.npy differs from a[:, 2]")
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- every way out is clean


for _sig, _code in SIGNALS:
    def signalled(sig=_sig, code=_code, launch="fork"):
        with mm.tmpdir() as d:
            cfg, data, _ = make(d, rows=SMALL * 4)
            out = os.path.join(d, "out.json")
            proc = start(["-q", "-w", 2, "--launch", launch, "-o", out, cfg],
                         extra_env={"MMRUN_TEST_FAULT": "hang_after_rows=0"})
            wait_for(lambda: len(children_of(proc.pid)) >= 2, "the workers to start")
            proc.send_signal(sig)
            res = finish(proc)
            mm.assert_error(res, code, ["interrupted", signal.Signals(sig).name])
            mm.check(not os.path.exists(out), "an interrupted run wrote its output")
            mm.assert_no_leftovers(d)
    mm.add_test("signals: %s stops the workers, exits %d, leaves nothing" % (signal.Signals(_sig).name, _code),
                signalled)
mm.add_test("signals: SIGHUP in spawn mode exits 129, leaves nothing",
            lambda: globals()["_spawn_hup"]())


@mm.test("signals: SIGHUP ignored at start (nohup) stays ignored; SIGINT still stops the run")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL * 4)
        env = dict(os.environ, MMRUN_TEST_FAULT="hang_after_rows=0")

        def nohup():
            default_signals()
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", cfg], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, preexec_fn=nohup)
        wait_for(lambda: len(children_of(proc.pid)) >= 2, "the workers to start")
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGINT)
        res = finish(proc)
        mm.assert_error(res, 130, ["SIGINT"])
        mm.assert_no_leftovers(d)


def _spawn_hup():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL * 4)
        proc = start(["-q", "-w", 2, "--launch", "spawn", cfg], extra_env={"MMRUN_TEST_FAULT": "hang_after_rows=0"})
        wait_for(lambda: len(children_of(proc.pid)) >= 2, "the workers to start")
        proc.send_signal(signal.SIGHUP)
        res = finish(proc)
        mm.assert_error(res, 129, ["SIGHUP"])
        mm.assert_no_leftovers(d)


for _sig, _code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
    def early(sig=_sig, code=_code):
        with mm.tmpdir() as d:
            cfg, _, _ = make(d, rows=SMALL)
            out = os.path.join(d, "out.json")
            # mmrun stops itself as main's first action; the signal arrives
            # there, before any of the run's own signal handling existed.
            proc = start(["-q", "-w", 2, "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "stop_at_start=1"})
            wait_for(lambda: state_of(proc.pid) == "T", "mmrun to stop at its start")
            proc.send_signal(sig)
            os.kill(proc.pid, signal.SIGCONT)
            res = finish(proc)
            mm.assert_error(res, code, ["interrupted"])
            mm.check(not os.path.exists(out), "an interrupted run wrote its output")
            mm.assert_no_leftovers(d)
    mm.add_test("signals: %s at mmrun's first instruction still exits %d, leaves nothing"
                % (signal.Signals(_sig).name, _code), early)


@mm.test("signals: stdout closed by its reader (| head): exit 141, one line, nothing left")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL)
        r, w = os.pipe()
        os.close(r)  # the reader is gone before mmrun writes its document
        proc = start(["-q", "-w", 2, cfg], stdout=w)
        os.close(w)
        res = finish(proc)
        mm.assert_error(res, 141, ["EPIPE"], stdout_empty=False)
        mm.assert_no_leftovers(d)


@mm.test("signals: mmrun | head -3 leaves nothing behind")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL)
        res = subprocess.run(["/bin/sh", "-c", '"$0" -q -w 2 "$1" | head -3', mm.mmrun_path(), cfg],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        mm.eq(len(res.stdout.decode().splitlines()), 3, "lines through head")
        mm.assert_no_leftovers(d)


@mm.test("temp outputs: a SIGKILLed coordinator's temporary output is removed by the next run; a live or foreign one is kept")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL * 4)
        out = os.path.join(d, "out.json")
        proc = start(["-q", "-w", 2, "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "hang_after_rows=0"})
        wait_for(lambda: len(children_of(proc.pid)) >= 2, "the workers to start")
        temps = [n for n in os.listdir(d) if n.startswith(".out.json.mmrun-tmp-")]
        mm.eq(len(temps), 1, "temporary outputs of the running coordinator")
        host, pid = temps[0][len(".out.json.mmrun-tmp-"):].split("-")[:2]
        mm.eq(int(pid), proc.pid, "pid in the temporary output's name")
        proc.kill()
        proc.communicate()
        wait_for(lambda: not children_of(proc.pid), "the workers to die")
        # A temporary output of a live process (this one), and one of another user.
        live = os.path.join(d, ".other.json.mmrun-tmp-%s-%d-00000000" % (host, os.getpid()))
        open(live, "w").close()
        foreign = None
        if os.geteuid() == 0:
            foreign = os.path.join(d, ".foreign.json.mmrun-tmp-%s-%d-00000000" % (host, proc.pid))
            open(foreign, "w").close()
            os.chown(foreign, 65534, 65534)
        res = mm.run_mmrun(["-q", "-o", out, cfg])
        mm.eq(res.code, 0, "exit of the next run (%s)" % res.err.strip())
        mm.check(os.path.exists(out), "the next run wrote no output")
        mm.check(not os.path.exists(os.path.join(d, temps[0])), "the dead coordinator's temporary output is still there")
        mm.check(os.path.exists(live), "a live process's temporary output was removed")
        if foreign:
            mm.check(os.path.exists(foreign), "another user's temporary output was removed")
            os.unlink(foreign)
        os.unlink(live)
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- exact integers

I64 = [-(1 << 63), -(1 << 63) + 1, -(1 << 62) - 3, -5, 0, 7, (1 << 53) + 1, (1 << 62) + 1, (1 << 62) + 2,
       (1 << 62) + 3, (1 << 63) - 2, (1 << 63) - 1]
U64 = [0, 1, (1 << 53) + 1, (1 << 63) + 1, (1 << 64) - 3, (1 << 64) - 2, (1 << 64) - 1]


def rint_half_even(fr):
    return round(fr)  # Fraction.__round__: half to even, exact


def int_case(dtype, values, params, oracle):
    def run():
        with mm.tmpdir() as d:
            lo, hi = (-(1 << 63), (1 << 63) - 1) if dtype == "int64" else (0, (1 << 64) - 1)
            a = np.array(values * 50, dtype=dtype)
            path = os.path.join(d, "x.bin")
            a.tofile(path)
            cfg = mm.write_config(d, {"dataset": {"path": "x.bin", "dtype": dtype, "shape": [len(a)], "mode": "r+"},
                                      "analyses": [dict({"op": "transform"}, **params)]})
            doc, _ = mm.run_ok(["-q", "-w", 3, cfg])
            want, sat = [], 0
            for x in a.tolist():
                y = oracle(int(x))
                if y < lo or y > hi:
                    sat += 1
                want.append(min(max(y, lo), hi))
            got = np.fromfile(path, dtype=dtype).tolist()
            mm.eq(got, want, "%s after %s" % (dtype, params))
            mm.eq(doc["results"]["transform"]["saturated"], sat, "saturated")
            mm.assert_no_leftovers(d)
    mm.add_test("exact: %s %s" % (dtype, params), run)


int_case("int64", I64, {"fn": "clip", "min": (1 << 62) + 2}, lambda x: max(x, (1 << 62) + 2))
int_case("int64", I64, {"fn": "clip", "min": -(1 << 62) - 2, "max": (1 << 63) - 2},
         lambda x: min(max(x, -(1 << 62) - 2), (1 << 63) - 2))
int_case("int64", I64, {"fn": "affine", "scale": 1, "offset": 0}, lambda x: x)
int_case("int64", I64, {"fn": "affine", "scale": 1.0, "offset": 3}, lambda x: x + 3)
int_case("int64", I64, {"fn": "affine", "scale": -1}, lambda x: -x)
int_case("int64", I64, {"fn": "affine", "scale": 2, "offset": -7}, lambda x: 2 * x - 7)
int_case("int64", I64, {"fn": "affine", "scale": 0.5}, lambda x: rint_half_even(Fraction(x) / 2))
int_case("uint64", U64, {"fn": "clip", "max": (1 << 64) - 2}, lambda x: min(x, (1 << 64) - 2))
int_case("uint64", U64, {"fn": "clip", "min": (1 << 63) + 2}, lambda x: max(x, (1 << 63) + 2))
int_case("uint64", U64, {"fn": "affine", "offset": 1}, lambda x: x + 1)
int_case("uint64", U64, {"fn": "affine", "scale": 1, "offset": -1}, lambda x: x - 1)
int_case("uint64", U64, {"fn": "affine", "scale": 2}, lambda x: 2 * x)



# ---------------------------------------------------------------- command line


@mm.test("cli: -o '' is exit 64 '-o: empty path', nothing written (not stdout, not the config's output)")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL, output="res.json")
        res = mm.run_mmrun(["-q", "-o", "", cfg])
        mm.assert_error(res, 64, ["-o", "empty path"], args=["-o", "", cfg])
        mm.eq(res.out, "", "stdout")
        mm.check(not os.path.exists(os.path.join(d, "res.json")), "the config's output was written")
        mm.assert_no_leftovers(d)


def stdin_run(args, data, cwd):
    p = subprocess.run([mm.mmrun_path()] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, cwd=cwd, timeout=120)
    return mm.RunResult(p.returncode, p.stdout.decode(), p.stderr.decode())


@mm.test("cli: a config piped to /dev/stdin: 78 'is a FIFO' with the hint to use -")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL)
        with open(cfg, "rb") as f:
            text = f.read()
        res = stdin_run(["-q", "/dev/stdin"], text, d)
        mm.assert_error(res, 78, ["/dev/stdin", "FIFO", "use - to read the config from stdin"])
        mm.eq(stdin_run(["-q", "-"], text, d).code, 0, "exit of the same config given as -")


@mm.test("cli: a config from stdin has the config file's limit (16 MiB): 17 MiB is 78, 15 MiB parses")
def _():
    with mm.tmpdir() as d:
        cfg, _, _ = make(d, rows=SMALL)
        with open(cfg) as f:
            j = json.load(f)
        j["dataset"]["path"] = os.path.join(d, "data.dat")
        for mib, code in [(17, 78), (15, 0)]:
            text = (json.dumps(j) + " " * (mib << 20)).encode()  # trailing white space
            res = stdin_run(["-q", "-"], text, d)
            if code:
                mm.assert_error(res, code, ["stdin", str(16 << 20)])
            else:
                mm.eq(res.code, 0, "exit of a 15 MiB config from stdin: " + res.err)
            # The same text as a file: the same answer.
            with open(os.path.join(d, "big.json"), "wb") as f:
                f.write(text)
            mm.eq(mm.run_mmrun(["-q", os.path.join(d, "big.json")]).code, code, "exit of the file")
            os.unlink(os.path.join(d, "big.json"))

if __name__ == "__main__":
    mm.main()
