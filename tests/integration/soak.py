"""Soak: kill a random worker at a random moment, many times.

Every run must end with the exact result of a clean run, or with exit 70
naming the worker (when the kill lands on a retry too), never hang, and leave
no segment, temporary file or process behind. SOAK_RUNS sets the number of
runs (ctest runs a short version; `make soak` runs 200).
"""
import os
import random
import signal
import subprocess
import time

import numpy as np

import mmtest as mm

RUNS = int(os.environ.get("SOAK_RUNS", "20"))


def children_of(pid):
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return out


@mm.test("soak: random worker kills end exact or with exit 70, never leaking")
def _():
    rng = random.Random(20261121)
    with mm.tmpdir() as d:
        a = np.random.default_rng(3).normal(size=(1_000_000, 4)).astype("<f4")
        a.tofile(os.path.join(d, "x.dat"))
        cfg = mm.write_config(d, {
            "dataset": {"path": "x.dat", "dtype": "float32", "shape": [1_000_000, 4]},
            "analyses": [{"op": "stats", "axis": 0}, {"name": "all", "op": "stats"}]})
        _, clean = mm.run_ok(["-q", "-w", 2, cfg])
        want = mm.top_level_spans(clean.out)["results"]
        outcomes = {"exact": 0, "exit70": 0, "unharmed": 0}
        for i in range(RUNS):
            workers = rng.randint(2, 4)
            launch = rng.choice(["fork", "spawn"])
            proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", str(workers), "--launch", launch, cfg],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0.0, 0.03))
            victims = children_of(proc.pid)
            killed = False
            if victims:
                try:
                    os.kill(rng.choice(victims), signal.SIGKILL)
                    killed = True
                except ProcessLookupError:
                    pass
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                raise mm.Fail("run %d hung (workers %d, %s)" % (i, workers, launch))
            res = mm.RunResult(proc.returncode, out.decode(), err.decode())
            if res.code == 0:
                mm.eq(mm.top_level_spans(res.out)["results"], want, "results of run %d" % i)
                outcomes["exact" if killed else "unharmed"] += 1
            else:
                mm.assert_error(res, 70, ["worker"], args=[cfg])
                outcomes["exit70"] += 1
            mm.assert_no_leftovers(d)
        print("soak: %d runs: %r" % (RUNS, outcomes))


if __name__ == "__main__":
    mm.main()
