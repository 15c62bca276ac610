"""Worker failures, corrupted slots, shrinking files and signals, run for real.

Uses the documented test hook MMRUN_TEST_FAULT (core/fault.h):
kill_after_rows=N, exit_after_rows=N, corrupt_slot=1, throw_after_rows=N act
on a worker's first attempt only, so a retry must give the exact result of a
clean run; throw_while_running=1 makes the coordinator throw as a bug would.
"""
import os
import signal
import subprocess
import time

import numpy as np

import mmtest as mm

ROWS, COLS = 400000, 4  # 6.4 MB of float32: several blocks per worker


def make_dataset(d):
    rng = np.random.default_rng(7)
    a = rng.normal(0, 1, size=(ROWS, COLS)).astype("<f4")
    a.tofile(os.path.join(d, "x.dat"))
    return mm.write_config(d, {
        "dataset": {"path": "x.dat", "dtype": "float32", "shape": [ROWS, COLS]},
        "analyses": [{"op": "stats", "axis": 0}, {"name": "all", "op": "stats"}]})


children_of = mm.children_of


def results_text(res):
    spans = mm.top_level_spans(res.out)
    return spans["dataset"] + spans["results"]


def clean_run(cfg):
    _, res = mm.run_ok(["-q", "-w", 3, cfg])
    return results_text(res)


for launch in ("fork", "spawn"):
    for fault in ("kill_after_rows=1", "exit_after_rows=1", "corrupt_slot=1",
                  "throw_after_rows=1"):
        def retried(launch=launch, fault=fault):
            with mm.tmpdir() as d:
                cfg = make_dataset(d)
                want = clean_run(cfg)
                _, res = mm.run_ok(["-q", "-w", 3, "--launch", launch, cfg],
                                   extra_env={"MMRUN_TEST_FAULT": fault})
                mm.eq(results_text(res), want, "results after a retried " + fault)
                mm.assert_no_leftovers(d)

        def exhausted(launch=launch, fault=fault):
            with mm.tmpdir() as d:
                cfg = make_dataset(d)
                args = ["-q", "-w", 2, "--launch", launch, "--retries", 0, cfg]
                res = mm.run_mmrun(args, extra_env={"MMRUN_TEST_FAULT": fault})
                why = {"kill_after_rows=1": "SIGKILL", "exit_after_rows=1": "status 3",
                       "corrupt_slot=1": "checksum",
                       "throw_after_rows=1": "internal error: test fault throw_after_rows"}[fault]
                mm.assert_error(res, 70, [("worker 0 (rows [0, ", "worker 1 (rows ["), why], args=args)
                mm.assert_no_leftovers(d)

        mm.add_test("faults: %s worker with %s is retried to the exact result" % (launch, fault), retried)
        mm.add_test("faults: %s worker with %s and --retries 0 exits 70" % (launch, fault), exhausted)


@mm.test("faults: an exception in the coordinator while workers run is exit 70, one line, "
         "the previous -o output kept, nothing left behind (fork and spawn)")
def _():
    for launch in ("fork", "spawn"):
        with mm.tmpdir() as d:
            cfg = make_dataset(d)
            out = os.path.join(d, "result.json")
            with open(out, "w") as f:
                f.write("previous\n")
            args = ["-w", 2, "--launch", launch, "-o", out, cfg]
            res = mm.run_mmrun(args, extra_env={"MMRUN_TEST_FAULT": "throw_while_running=1"})
            mm.assert_error(res, 70, ["internal error", "throw_while_running"], args=args)
            mm.eq(open(out).read(), "previous\n", "the -o output after the failed run")
            mm.assert_no_leftovers(d)


@mm.test("faults: a file that shrinks under the run exits 74 naming it")
def _():
    with mm.tmpdir() as d:
        cfg = make_dataset(d)
        path = os.path.join(d, "x.dat")
        # Shrink the file while the workers run: a slow run via a large file.
        big = np.zeros((ROWS * 40, COLS), dtype="<f4")
        big.tofile(path)
        mm.write_config(d, {
            "dataset": {"path": "x.dat", "dtype": "float32", "shape": [ROWS * 40, COLS]},
            "analyses": [{"op": "stats", "axis": 0}]})
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", cfg], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        # Truncate once the workers exist (the plan has checked the size by then).
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None and not children_of(proc.pid):
            time.sleep(0.001)
        os.truncate(path, 4096)
        out, err = proc.communicate(timeout=120)
        res = mm.RunResult(proc.returncode, out.decode(), err.decode())
        if res.code == 0:
            raise mm.Skip("the run finished before the file shrank")
        mm.assert_error(res, 74, ["x.dat"], args=[cfg])
        mm.assert_no_leftovers(d)


for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
    def interrupted(sig=sig, code=code):
        with mm.tmpdir() as d:
            cfg = make_dataset(d)
            out = os.path.join(d, "out.json")
            # Workers that hang: killed after the first window they scan.
            proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", "-o", out, cfg],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=dict(os.environ, MMRUN_TEST_FAULT="hang_after_rows=0"))
            mm.wait_children(proc, 2)
            proc.send_signal(sig)
            o, e = proc.communicate(timeout=60)
            res = mm.RunResult(proc.returncode, o.decode(), e.decode())
            mm.assert_error(res, code, ["interrupted"], args=[cfg])
            mm.check(not os.path.exists(out), "an interrupted run wrote its output")
            mm.assert_no_leftovers(d)

    mm.add_test("faults: %s stops the workers and exits %d" % (signal.Signals(sig).name, code), interrupted)


@mm.test("faults: --timeout kills a hung worker and exits 70 after the retries")
def _():
    with mm.tmpdir() as d:
        cfg = make_dataset(d)
        args = ["-q", "-w", 2, "--timeout", "0.5", "--retries", 0, cfg]
        res = mm.run_mmrun(args, extra_env={"MMRUN_TEST_FAULT": "hang_after_rows=0"})
        mm.assert_error(res, 70, ["timed out"], args=args)
        mm.assert_no_leftovers(d)


@mm.test("faults: --timeout retries a hung first attempt to the exact result")
def _():
    with mm.tmpdir() as d:
        cfg = make_dataset(d)
        want = clean_run(cfg)
        _, res = mm.run_ok(["-q", "-w", 2, "--timeout", "1", cfg],
                           extra_env={"MMRUN_TEST_FAULT": "hang_after_rows=0"})
        mm.eq(results_text(res), want, "results after a timed-out first attempt")
        mm.assert_no_leftovers(d)


@mm.test("faults: a full /dev/shm (segment allocation fails) exits 73 and leaves nothing")
def _():
    with mm.tmpdir() as d:
        cfg = make_dataset(d)
        res = mm.run_mmrun(["-q", cfg], extra_env={"MMRUN_TEST_FAULT": "segment_enospc=1"})
        mm.assert_error(res, 73, ["/dev/shm"], args=[cfg])
        mm.assert_no_leftovers(d)


@mm.test("faults: a failing output rename exits 73, keeps the old output and leaves no temporary file")
def _():
    with mm.tmpdir() as d:
        cfg = make_dataset(d)
        out = os.path.join(d, "out.json")
        with open(out, "w") as f:
            f.write("old")
        res = mm.run_mmrun(["-q", "-o", out, cfg], extra_env={"MMRUN_TEST_FAULT": "rename_fail=1"})
        mm.assert_error(res, 73, ["out.json"], args=[cfg])
        mm.eq(open(out).read(), "old", "the previous output")
        mm.assert_no_leftovers(d)


@mm.test("faults: SIGKILL of the coordinator: workers exit, the next run removes the stale segment")
def _():
    with mm.tmpdir() as d:
        cfg = make_dataset(d)
        before = set(os.listdir("/dev/shm"))
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=dict(os.environ, MMRUN_TEST_FAULT="hang_after_rows=0"))
        workers = mm.wait_children(proc, 2)
        mm.check(len(workers) == 2, "expected 2 workers, found %r" % workers)
        def creator(name):  # the creator pid in the segment header (docs/SEGMENT_FORMAT.md)
            try:
                with open("/dev/shm/" + name, "rb") as f:
                    return int.from_bytes(f.read(24)[16:24], "little")
            except OSError:
                return None
        # Only this run's segment: other runs (ctest -j) may create theirs meanwhile.
        ours = [n for n in set(os.listdir("/dev/shm")) - before
                if n.startswith("mmrun-") and creator(n) == proc.pid]
        proc.kill()
        proc.wait()
        deadline = time.time() + 5
        while time.time() < deadline and any(os.path.exists("/proc/%d" % w) and not mm._is_zombie(w) for w in workers):
            time.sleep(0.05)
        alive = [w for w in workers if os.path.exists("/proc/%d" % w) and not mm._is_zombie(w)]
        mm.check(not alive, "workers %r outlived their coordinator" % alive)
        mm.check(len(ours) >= 1, "the killed run had no segment")
        # Any later run of this user removes it (under ctest -j another test's run may do it first).
        mm.run_ok(["-q", cfg])
        left = [n for n in ours if os.path.exists("/dev/shm/" + n)]
        mm.check(not left, "the next run did not remove the stale segments %r" % left)


if __name__ == "__main__":
    mm.main()
