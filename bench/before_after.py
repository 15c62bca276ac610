"""Before/after timing of every analysis, for a change that must not make
mmrun slower (e.g. a redesign): `bench/before_after.py OLD_DIR [NEW_DIR]`.

OLD_DIR and NEW_DIR each hold an `mmrun` and an `mmworker` (NEW_DIR defaults
to build/). Each case is timed with both binaries in turn, round after round
(after one warm-up each), and the medians are compared, so a host whose
speed swings between minutes slows both alike. The results of the two
binaries must be byte-identical apart from the run's timing and paths
(checked once per case): a faster wrong answer is not a win.

Environment: BA_GB (size of the float32 file, default 1), BA_REPS (rounds,
default 7). Prints a Markdown table for docs/BENCHMARKS.md.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bench", "out")
GB = float(os.environ.get("BA_GB", "1"))
REPS = int(os.environ.get("BA_REPS", "7"))
COLS = 10
ROWS = int(GB * 1e9 / 4 / COLS)


def write_config(name, cfg):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def dataset(path, mode="r"):
    return {"path": path, "dtype": "float32", "shape": [ROWS, COLS], "mode": mode}


def cases(data, scratch):
    one = lambda *a: [dict(x) for x in a]  # noqa: E731
    return [
        ("stats (global)", one({"op": "stats"}), data, "fork"),
        ("stats axis 0", one({"op": "stats", "axis": 0}), data, "fork"),
        ("stats (global), spawn", one({"op": "stats"}), data, "spawn"),
        ("histogram 100 bins, range", one({"op": "histogram", "bins": 100, "range": [-5, 5]}), data, "fork"),
        ("histogram 100 bins, no range", one({"op": "histogram", "bins": 100}), data, "fork"),
        ("quantiles 3 q", one({"op": "quantiles", "q": [0.01, 0.5, 0.99]}), data, "fork"),
        ("quantiles axis 0", one({"op": "quantiles", "q": [0.5], "axis": 0}), data, "fork"),
        ("cov axis 0", one({"op": "cov", "axis": 0}), data, "fork"),
        ("slice [::7, 2:5]", one({"op": "slice", "select": "[::7, 2:5]", "output": "ba_slice.npy"}), data, "fork"),
        ("convert to float64", one({"op": "convert", "dtype": "float64", "output": "ba_conv.npy"}), data, "fork"),
        ("transform affine (in place)", one({"op": "transform", "fn": "affine", "scale": 1.0, "offset": 0.0}),
         scratch, "fork"),
    ]


def normalized(text):
    """The result document without what legitimately differs between two
    runs (timing, the binaries' version)."""
    doc = json.loads(text)
    m = doc.get("mmrun", {})
    for k in list(m):
        if "time" in k or "elapsed" in k or k.endswith("_s") or k == "version":
            del m[k]
    return json.dumps(doc, sort_keys=True)


def main():
    old = os.path.abspath(sys.argv[1])
    new = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build"))
    os.makedirs(OUT, exist_ok=True)
    data = os.path.join(OUT, "ba_f32_%gg.dat" % GB)
    if not (os.path.exists(data) and os.path.getsize(data) == ROWS * COLS * 4):
        gen = write_config("ba_gen.json", {"dataset": dataset(data, "w+"), "analyses": [
            {"op": "generate", "fill": {"kind": "normal", "mean": 0, "std": 1, "seed": 11}}]})
        subprocess.run([os.path.join(new, "mmrun"), "-q", gen], check=True, stdout=subprocess.DEVNULL)
    scratch = os.path.join(OUT, "ba_scratch.dat")
    shutil.copyfile(data, scratch)
    size = os.path.getsize(data)
    print("| case | before (s) | after (s) | after/before |")
    print("|---|---:|---:|---:|")
    for title, analyses, path, launch in cases(data, scratch):
        mode = "r+" if analyses[0]["op"] == "transform" else "r"
        cfg = write_config("ba_case.json", {"dataset": dataset(path, mode), "analyses": analyses})
        runs = {}
        for tag, d in (("before", old), ("after", new)):
            env = dict(os.environ, MMWORKER=os.path.join(d, "mmworker"))
            args = [os.path.join(d, "mmrun"), "-q", "-w", "2", "--launch", launch, cfg]
            runs[tag] = (args, env)
        docs = {}
        for tag, (args, env) in runs.items():  # warm-up, and the results compared
            res = subprocess.run(args, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            docs[tag] = normalized(res.stdout)
        same = docs["before"] == docs["after"]
        times = {k: [] for k in runs}
        for _ in range(REPS):
            for tag, (args, env) in runs.items():
                t0 = time.perf_counter()
                subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times[tag].append(time.perf_counter() - t0)
        b, a = statistics.median(times["before"]), statistics.median(times["after"])
        print("| %s%s | %.3f | %.3f | %.2f |" % (title, "" if same else " **(results differ)**", b, a, a / b),
              flush=True)
    os.unlink(scratch)
    print("\n%d rounds, medians, 2 workers, %.2f GB float32 file (%d x %d)." % (REPS, size / 1e9, ROWS, COLS))


if __name__ == "__main__":
    main()
