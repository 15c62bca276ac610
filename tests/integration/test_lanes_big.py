"""`stats` per lane with many lanes: the column partials (docs/ARCHITECTURE.md
"Partials of stats") against numpy, and the determinism contract on them.

A 16x300x500 array (float32 with NaNs, float64, int16; blocks of at most
1 MiB: 1 or 3 rows, or pieces of a float64 row; each row reaches all
150,000 lanes of axis 0) is reduced over axis 0 and over axes (0, 2) with every field (axis 0:
1.2 million numbers, written to .npy files) and with subsets (a partial
keeps only the columns its fields need). The results (documents and .npy
files) must be byte-identical for 1, 2 and 3 workers, fork and spawn, and
--shard 3/3 + merge, and match numpy's nan* results (integer sums, minima
and maxima exactly).

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_lanes_big.py [FILTER...]
"""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

SHAPE = (16, 300, 500)
ALL = ["count", "nan_count", "sum", "mean", "var", "std", "min", "max"]


def make(d, dtype, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        a = rng.normal(3.0, 2.0, size=SHAPE)
        a[rng.random(SHAPE) < 0.03] = np.nan
        a[:, 0, :] = np.nan  # lanes of NaNs only (count 0)
        a = a.astype(dtype)
    else:
        a = rng.integers(-30000, 30000, size=SHAPE).astype(dtype)
    a.tofile(os.path.join(d, "a.dat"))
    return a


def config(d, dtype):
    analyses = []
    for axis, tag in ((0, "t"), ([0, 2], "tx")):
        analyses.append({"name": tag + "_all", "op": "stats", "axis": axis, "ddof": 1,
                         "output": os.path.join(d, "out", tag + "_all")})
        analyses.append({"name": tag + "_mean", "op": "stats", "axis": axis, "stats": ["mean"],
                         "output": os.path.join(d, "out", tag + "_mean")})
        analyses.append({"name": tag + "_mm", "op": "stats", "axis": axis,
                         "stats": ["count", "min", "max", "nan_count"],
                         "output": os.path.join(d, "out", tag + "_mm")})
    os.makedirs(os.path.join(d, "out"), exist_ok=True)
    return mm.write_config(d, {"dataset": {"path": "a.dat", "dtype": dtype, "shape": list(SHAPE)},
                               "analyses": analyses})


def results_span(text, d):
    """The "results" text and the bytes of every .npy file written."""
    out = os.path.join(d, "out")
    files = {f: open(os.path.join(out, f), "rb").read() for f in sorted(os.listdir(out))}
    return mm.top_level_spans(text)["results"], files


def run(args, d=None):
    """mmrun `args`; with `d`, the .npy outputs of the run before are removed first."""
    if d is not None:
        out = os.path.join(d, "out")
        for f in os.listdir(out):
            os.unlink(os.path.join(out, f))
    res = mm.run_mmrun(args)
    mm.check(res.code == 0, mm.describe(args, res))
    return res.out


def check_numpy(doc, a):
    f = a.astype(np.float64)
    integer = a.dtype.kind != "f"
    for axis, tag in ((0, "t"), ((0, 2), "tx")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = {
                "count": np.sum(~np.isnan(f), axis=axis),
                "nan_count": np.sum(np.isnan(f), axis=axis),
                "sum": np.nansum(f, axis=axis),
                "mean": np.nanmean(f, axis=axis),
                "var": np.nanvar(f, axis=axis, ddof=1),
                "std": np.nanstd(f, axis=axis, ddof=1),
                "min": np.nanmin(f, axis=axis),
                "max": np.nanmax(f, axis=axis),
            }
        for name, fields in ((tag + "_all", ALL), (tag + "_mean", ["mean"]),
                             (tag + "_mm", ["count", "nan_count", "min", "max"])):
            r = doc["results"][name]
            for field in fields:
                got = r[field] if field in r else np.load(r["files"][field])
                got = np.asarray(got, dtype=np.float64)
                mm.eq(list(got.shape), list(want[field].shape), "%s.%s shape" % (name, field))
                if integer and field in ("sum", "min", "max"):
                    mm.check(np.array_equal(got, want[field]), "%s.%s: not exact" % (name, field))
                else:
                    close = np.isclose(got, want[field], rtol=1e-9, atol=1e-9, equal_nan=True)
                    mm.check(close.all(), "%s.%s: %d of %d values differ from numpy's"
                             % (name, field, np.count_nonzero(~close), close.size))


def case(dtype, seed):
    with mm.tmpdir() as d:
        a = make(d, dtype, seed)
        cfg = config(d, dtype)
        base = run(["-q", "-w", "1", cfg], d)
        want = results_span(base, d)
        mm.check(len(want[1]) == 8, "the 8 fields of t_all as .npy files: %s" % sorted(want[1]))
        check_numpy(mm.parse_doc(base), a)
        for w, launch in ((2, "fork"), (3, "fork"), (2, "spawn")):
            got = results_span(run(["-q", "-w", str(w), "--launch", launch, cfg], d), d)
            mm.check(got == want, "%s: %d workers (%s) differ from 1 worker" % (dtype, w, launch))
        parts = []
        for i in range(3):
            out = os.path.join(d, "part-%d.json" % i)
            run(["-q", "-w", "2", "--shard", "%d/3" % i, "-o", out, cfg])
            parts.append(out)
        got = results_span(run(["merge"] + parts[::-1], d), d)
        mm.check(got == want, "%s: merge of 3 shards differs from one run" % dtype)


@mm.test("float32 with NaNs: 150,000 lanes, 1/2/3 workers, spawn, shards: same bytes, numpy")
def _():
    case("<f4", 1)


@mm.test("float64: 150,000 lanes, same bytes, numpy")
def _():
    case("<f8", 2)


@mm.test("int16: 150,000 lanes (int128 columns), same bytes, exact against numpy")
def _():
    case("<i2", 3)


if __name__ == "__main__":
    mm.main()
