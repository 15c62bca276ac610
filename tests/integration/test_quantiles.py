"""The `quantiles` analysis against numpy.nanquantile (SPEC §3 `quantiles`,
docs/CHOICES.md "histogram and quantiles").

Each case writes an array with numpy, runs mmrun and compares `values` with
numpy.nanquantile(a.astype(float64), q, method=..., axis=...).tolist(), in
shape (q first, then the kept axes; a scalar q has no q dimension) and in
value: exactly for the methods that pick data values, within 1e-12 relative
for the interpolating ones. Every method, q at 0 and 1, NaNs and all-NaN
lanes, ties (integer data with few distinct values), infinities. The
environment variable MMRUN_TEST_QUANTILE_CAP lowers the budget of a pass
(counters and gathered pairs) so that small data goes through every
refinement pass (up to 16 at 4 bits each), and the results must not change. Also byte identity across worker counts and
spawn, large results written to .npy, bad parameters (exit 78).

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_quantiles.py [FILTER...]
"""

import json
import os
import sys
import warnings
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

METHODS = ["inverted_cdf", "averaged_inverted_cdf", "closest_observation", "interpolated_inverted_cdf", "hazen",
           "weibull", "linear", "median_unbiased", "normal_unbiased", "lower", "higher", "midpoint", "nearest"]
EXACT = {"inverted_cdf", "closest_observation", "lower", "higher", "nearest"}
DTYPES = ["bool", "int8", "uint16", ">u2", "int64", "float16", ">f2", "<f4", ">f4", "float64", ">f8"]
QS = [0.0, 0.013, 0.25, 0.5, 0.6180339887, 0.75, 0.999, 1.0]
# Budgets: the default (everything gathered at once for small data), 0
# (count 4 bits a pass down to the dtype's last key bit), 40 (a mix).
CAPS = [None, "0", "40"]


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def make_array(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        a = rng.random(shape) < 0.4
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        a = rng.integers(max(info.min, -5), min(info.max, 6), size=shape, endpoint=True)  # many ties
        if dt.itemsize == 8:
            a.reshape(-1)[0] = info.min
            a.reshape(-1)[-1] = info.max
    else:
        a = rng.normal(2.0, 30.0, size=shape)
        a[rng.random(shape) < 0.05] = np.nan
        if a.ndim == 2:
            a[:, 1] = np.nan  # an all-NaN lane of axis 0
            a[2, :] = np.nan  # and of axis 1
    return np.asarray(a).astype(dt)


def write_data(folder, a, order, fmt):
    if fmt == "npy":
        mm.write_npy(os.path.join(folder, "data.npy"), a, order=order)
        return {"path": "data.npy"}
    mm.write_raw(os.path.join(folder, "data.bin"), a, order=order)
    return {"path": "data.bin", "format": "raw", "dtype": a.dtype.str if a.dtype.itemsize > 1 else a.dtype.name,
            "shape": list(a.shape), "order": order}


def run(folder, a, analyses, order="C", fmt="npy", workers=3, extra=(), cap=None, wide=False, tiles=True):
    cfg = {"dataset": write_data(folder, a, order, fmt), "analyses": analyses}
    path = mm.write_config(folder, cfg)
    env = {"MMRUN_TEST_QUANTILE_CAP": cap} if cap is not None else {}
    if wide:
        env["MMRUN_TEST_QUANTILE_WIDE"] = "1"  # 64-bit counters, as lanes of 2^32 values take
    if not tiles:
        env["MMRUN_TEST_QUANTILE_TILES"] = "0"  # the radix passes where lane tiles would run
    return mm.run_ok(["--workers", workers] + list(extra) + [path], extra_env=env or None)


def expected(a, q, method, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanquantile(np.asarray(a).astype(np.float64), q, method=method, axis=axis).tolist()


def check_q(got, a, q, method, axis, what):
    mm.eq(list(got.keys()), ["values"], what + ": fields")
    exp = expected(a, q, method, axis)
    mm.eq(mm.shape_of(got["values"]), mm.shape_of(exp), what + ": shape")
    mm.assert_close(got["values"], exp, rtol=0.0 if method in EXACT else 1e-12, what=what)


def dtype_case(dtype):
    def fn():
        rng = rng_for("q" + dtype)
        layouts = (((200, 7), "C", "npy"), ((200, 7), "F", "raw"), ((4, 6, 9), "F", "npy"))
        for li, (shape, order, fmt) in enumerate(layouts):
            a = make_array(dtype, shape, rng)
            analyses = []
            for axis in (None, 0, 1, -1):
                for m in METHODS:
                    analyses.append({"name": "%s/%s" % (m, axis), "op": "quantiles", "q": QS, "method": m,
                                     "axis": axis})
            analyses.append({"name": "scalar", "op": "quantiles", "q": 0.5, "axis": 0})
            analyses.append({"name": "scalar_all", "op": "quantiles", "q": 1})
            cap = CAPS[li % len(CAPS)]
            with mm.tmpdir() as d:
                doc, _ = run(d, a, analyses, order=order, fmt=fmt, cap=cap)
            res = doc["results"]
            what = "%s %s %s %s cap=%s" % (dtype, shape, order, fmt, cap)
            for axis in (None, 0, 1, -1):
                for m in METHODS:
                    check_q(res["%s/%s" % (m, axis)], a, QS, m, axis, "%s %s axis=%s" % (what, m, axis))
            check_q(res["scalar"], a, 0.5, "linear", 0, what + " scalar q")
            check_q(res["scalar_all"], a, 1, "linear", None, what + " scalar q, axis null")
    return fn


for _dt in DTYPES:
    mm.add_test("quantiles oracle " + _dt, dtype_case(_dt))


@mm.test("quantiles: every refinement depth gives the same exact answer")
def refinement():
    rng = rng_for("refine")
    # Values that share long key prefixes: neighbouring doubles and heavy ties.
    base = 1.0 + np.arange(300) * np.finfo(np.float64).eps
    a = np.concatenate([base, np.full(500, 1.0 + 7 * np.finfo(np.float64).eps), rng.normal(1, 1e-9, 300),
                        [np.inf, -np.inf, -0.0, 0.0, 1e-310, -1e-310, np.nan]])
    rng.shuffle(a)
    a = a.reshape(-1, 1)
    analyses = [{"name": m, "op": "quantiles", "q": QS, "method": m} for m in METHODS]
    analyses += [{"name": m + "/0", "op": "quantiles", "q": QS, "method": m, "axis": 0} for m in METHODS]
    outs = []
    for cap in (None, "0", "1", "5", "120", "600"):
        with mm.tmpdir() as d:
            doc, res = run(d, a, analyses, workers=2, cap=cap)
        for m in METHODS:
            check_q(doc["results"][m], a, QS, m, None, "cap %s %s" % (cap, m))
            check_q(doc["results"][m + "/0"], a, QS, m, 0, "cap %s %s axis 0" % (cap, m))
        outs.append(mm.top_level_spans(res.out)["results"])
        if cap == "0":
            mm.eq(doc["mmrun"]["passes"], 16, "cap 0: 4 bits a pass, every float64 found from its full key")
        if cap is None:
            mm.eq(doc["mmrun"]["passes"], 1, "short lanes are gathered in pass 0")
    for o in outs[1:]:
        mm.check(o == outs[0], "results depend on the gather cap")


@mm.test("quantiles: default budget with more values than it and buckets full of ties")
def default_cap_refines():
    rng = rng_for("ties")
    a = rng.integers(-3, 4, size=(600000, 2)).astype(np.int16)  # ~171000 copies of each value
    b = rng.normal(0, 1, size=(600000, 2)).astype(np.float32)
    analyses = [{"name": m, "op": "quantiles", "q": QS, "method": m} for m in METHODS]
    analyses += [{"name": m + "/0", "op": "quantiles", "q": QS, "method": m, "axis": 0}
                 for m in ("linear", "nearest", "weibull")]
    for arr in (a, b):
        spans = []
        for workers, extra in ((1, ()), (3, ("--launch", "spawn"))):
            with mm.tmpdir() as d:
                doc, res = run(d, arr, analyses, workers=workers, extra=extra)
            spans.append(mm.top_level_spans(res.out)["results"])
        mm.check(spans[0] == spans[1], "results differ between 1 worker and 3 spawned")
        if arr is a:
            # 7 distinct values, ~171000 copies each: pass 0 counts the
            # top 20 key bits, pass 1 the 6 bits left of an int16's 26.
            mm.eq(doc["mmrun"]["passes"], 2, "passes read")
            mm.eq(doc["mmrun"]["bytes_scanned"], 2 * a.nbytes, "bytes_scanned")
        for m in METHODS:
            check_q(doc["results"][m], arr, QS, m, None, "%s %s" % (arr.dtype, m))
        for m in ("linear", "nearest", "weibull"):
            check_q(doc["results"][m + "/0"], arr, QS, m, 0, "%s %s axis 0" % (arr.dtype, m))


@mm.test("quantiles: rows longer than a block (lanes split over blocks), C and F")
def long_rows():
    rng = rng_for("wide")
    a = rng.normal(size=(3, 150000))
    a[rng.random(a.shape) < 0.01] = np.nan
    for order, axis in (("C", 1), ("F", 0)):
        arr = a if order == "C" else a.T
        analyses = [{"name": "lanes", "op": "quantiles", "q": [0, 0.3, 1], "axis": axis, "method": "weibull"},
                    {"name": "all", "op": "quantiles", "q": [0.5], "method": "hazen"}]
        spans = []
        with mm.tmpdir() as d:
            for workers, cap in ((1, None), (2, "100"), (7, None), (3, "0")):
                doc, res = run(d, arr, analyses, order=order, workers=workers, cap=cap)
                spans.append(mm.top_level_spans(res.out)["results"])
        mm.check(len(set(spans)) == 1, "results differ between worker counts / caps")
        check_q(doc["results"]["lanes"], arr, [0, 0.3, 1], "weibull", axis, order + " lanes")
        check_q(doc["results"]["all"], arr, [0.5], "hazen", None, order + " all")


@mm.test("quantiles: axis 0 of a few rows longer than a block, refined, 32- and 64-bit counters")
def few_long_rows():
    rng = rng_for("few long rows")
    # 8 rows of 140,000 (1.12 MB each): a block holds a piece of one row, so
    # each lane gets one value per block. More values than the pass budget
    # (2^20) for 140,000 lanes: 4 bits a lane in pass 0, then refinement.
    # Small integers share their keys' exponent bits: several passes. By
    # default such short lanes are gathered whole in two lane tiles
    # (70,000 lanes a pass); MMRUN_TEST_QUANTILE_TILES=0 keeps the radix.
    a = np.round(rng.normal(0, 40, size=(8, 140000)))
    a[rng.random(a.shape) < 0.05] = np.nan
    a[:, 7] = np.nan  # an all-NaN lane
    b = rng.integers(-1000, 1000, size=(8, 140000)).astype(np.int64)
    analyses = [{"name": "cols", "op": "quantiles", "q": [0.1, 0.5, 0.9], "axis": 0},
                {"name": "near", "op": "quantiles", "q": [0.5], "axis": 0, "method": "nearest"}]
    for arr in (a, b):
        # numpy's per-lane loop is slow on 140,000 lanes: once per array.
        exp = {"cols": np.array(expected(arr, [0.1, 0.5, 0.9], "linear", 0)),
               "near": np.array(expected(arr, [0.5], "nearest", 0))}
        spans = []
        with mm.tmpdir() as d:
            for workers, wide, extra, tiles in ((1, False, (), False), (3, False, ("--launch", "spawn"), False),
                                                (2, True, (), False), (1, False, (), True),
                                                (3, False, ("--launch", "spawn"), True)):
                doc, res = run(d, arr, analyses, workers=workers, wide=wide, extra=extra, tiles=tiles)
                spans.append(mm.top_level_spans(res.out)["results"])
                what = "%s, %d workers, 64-bit counters %s, tiles %s" % (arr.dtype, workers, wide, tiles)
                if tiles:
                    mm.eq(doc["mmrun"]["passes"], 2, what + ": two lane tiles")
                else:
                    mm.check(doc["mmrun"]["passes"] > 2, what + ": refined in more than two passes")
                for name, e in exp.items():
                    got = np.array(doc["results"][name]["values"], dtype=np.float64)
                    mm.eq(got.shape, e.shape, what + " " + name + ": shape")
                    # linear's lerp may differ from numpy's in the last bit; nearest is exact
                    ok = np.isclose(got, e, rtol=1e-12 if name == "cols" else 0.0, atol=0.0, equal_nan=True)
                    mm.check(bool(ok.all()), "%s %s: %d lanes differ from numpy, first %s" %
                             (what, name, int((~ok).sum()), np.argwhere(~ok)[:1].tolist()))
        mm.check(len(set(spans)) == 1, "results differ between worker counts, launch, counter widths and tiles")


@mm.test("quantiles: lane tiles (short lanes gathered whole, a tile a pass) against numpy and the radix")
def lane_tiles():
    # The budget hook makes tiles small: lanes_per_tile = cap // values per
    # lane, one pass per tile (the last one shorter). C order reduces axis
    # 0 (lanes contiguous in a row), F order its last axis (its row axis).
    cases = [("float64", (40, 300), "C", "npy", 0, "530"),  # 13 lanes a tile: 24 tiles, the last of 1
             ("int64", (40, 300), "C", "raw", 0, "400"),
             (">f4", (6, 5, 60), "C", "npy", 0, "700"),
             ("float16", (7, 5, 60), "F", "raw", -1, "300"),
             ("uint16", (7, 5, 60), "F", "npy", 2, "61"),  # one lane a tile: 35 tiles
             ("bool", (30, 200), "C", "npy", 0, "300"),
             ("int8", (30, 200), "C", "raw", 0, "1000")]
    for dtype, shape, order, fmt, axis, cap in cases:
        rng = rng_for("tiles" + dtype)
        a = make_array(dtype, shape, rng)
        if a.dtype.kind == "f":
            a.reshape(-1, order="A")[::37] = np.inf
            a.reshape(-1, order="A")[5::41] = -0.0
        lanes = a.size // shape[axis]
        per_tile = int(cap) // shape[axis]
        tiles = -(-lanes // per_tile)
        analyses = [{"name": m, "op": "quantiles", "q": QS, "method": m, "axis": axis} for m in METHODS]
        what = "%s %s %s %s axis %d cap %s" % (dtype, shape, order, fmt, axis, cap)
        spans = []
        with mm.tmpdir() as d:
            for workers, extra, tiled in ((1, (), True), (2, (), True), (3, ("--launch", "spawn"), True),
                                          (7, (), True), (2, (), False)):
                doc, res = run(d, a, analyses, order=order, fmt=fmt, workers=workers, extra=extra, cap=cap,
                               tiles=tiled)
                spans.append(mm.top_level_spans(res.out)["results"])
                if tiled:
                    mm.eq(doc["mmrun"]["passes"], tiles, what + ": one pass per tile of %d lanes" % per_tile)
        for m in METHODS:
            check_q(doc["results"][m], a, QS, m, axis, what + " " + m)
        mm.check(len(set(spans)) == 1, what + ": results differ between worker counts, launch and the radix")


@mm.test("quantiles: byte-identical for 1, 2, 3, 7 workers and spawn")
def determinism():
    rng = rng_for("qdet")
    a = rng.integers(0, 50, size=(5000, 3)).astype(np.float32)
    a[rng.random(a.shape) < 0.1] = np.nan
    analyses = [{"name": "all", "op": "quantiles", "q": QS},
                {"name": "cols", "op": "quantiles", "q": QS, "axis": 0, "method": "median_unbiased"},
                {"name": "rows", "op": "quantiles", "q": [0.5], "axis": 1, "method": "nearest"}]
    for cap in (None, "3"):
        spans = []
        with mm.tmpdir() as d:
            for workers, extra in ((1, ()), (2, ()), (3, ()), (7, ()), (3, ("--launch", "spawn"))):
                doc, res = run(d, a, analyses, workers=workers, extra=extra, cap=cap)
                spans.append(mm.top_level_spans(res.out)["results"])
        for s in spans[1:]:
            mm.check(s == spans[0], "results differ between worker counts / launch modes (cap %s)" % cap)
        check_q(doc["results"]["all"], a, QS, "linear", None, "all")
        check_q(doc["results"]["cols"], a, QS, "median_unbiased", 0, "cols")
        check_q(doc["results"]["rows"], a, [0.5], "nearest", 1, "rows")


@mm.test("quantiles: validate lists the counting pass; extra passes only when needed")
def validate_passes():
    a = np.arange(100.0).reshape(10, 10)
    with mm.tmpdir() as d:
        cfg = {"dataset": write_data(d, a, "C", "npy"),
               "analyses": [{"op": "stats"}, {"op": "quantiles", "q": [0.5]}]}
        path = mm.write_config(d, cfg)
        res = mm.run_mmrun(["validate", path])
        mm.eq(res.code, 0, "validate exit code: " + res.err)
        plan = json.loads(res.out)
    first = [(s["analysis"], s["pass"]) for s in plan["passes"][0]["analyses"]]
    mm.eq(first, [("stats", 0), ("quantiles", 0)], "pass 0 is shared")
    # Per-row quantiles (lanes inside one block) need a single pass.
    with mm.tmpdir() as d:
        cfg = {"dataset": write_data(d, a, "C", "npy"),
               "analyses": [{"op": "quantiles", "q": [0.5], "axis": 1}]}
        res = mm.run_mmrun(["validate", mm.write_config(d, cfg)])
        mm.eq(res.code, 0, "validate exit code: " + res.err)
        mm.eq(len(json.loads(res.out)["passes"]), 1, "passes of per-row quantiles")


@mm.test("quantiles: per-row quantiles (one pass) shard and merge to the full result")
def shard_per_row():
    rng = rng_for("shard")
    a = rng.normal(size=(2000, 9))
    a[rng.random(a.shape) < 0.1] = np.nan
    with mm.tmpdir() as d:
        cfg = {"dataset": write_data(d, a, "C", "npy"),
               "analyses": [{"op": "quantiles", "q": [0.1, 0.5], "axis": 1, "method": "hazen"}]}
        path = mm.write_config(d, cfg)
        parts = []
        for i in range(3):
            part = os.path.join(d, "part%d.json" % i)
            res = mm.run_mmrun(["--shard", "%d/3" % i, "-o", part, path])
            mm.eq(res.code, 0, "shard %d: %s" % (i, res.err))
            parts.append(part)
        res = mm.run_mmrun(["merge"] + parts)
        mm.eq(res.code, 0, "merge: " + res.err)
        full, _ = mm.run_ok(["-w", "2", path])
        merged = mm.parse_doc(res.out)
        mm.eq(json.dumps(merged["results"]), json.dumps(full["results"]), "merged shards vs one run")
        check_q(full["results"]["quantiles"], a, [0.1, 0.5], "hazen", 1, "per-row")


@mm.test("quantiles: all-NaN data and lanes give NaN")
def all_nan():
    a = np.full((30, 4), np.nan)
    a[:, 2] = np.arange(30)
    with mm.tmpdir() as d:
        doc, _ = run(d, a, [{"name": "all", "op": "quantiles", "q": [0.1, 0.9], "axis": None},
                            {"name": "cols", "op": "quantiles", "q": [0.1, 0.9], "axis": 0}])
    check_q(doc["results"]["all"], a, [0.1, 0.9], "linear", None, "all")
    check_q(doc["results"]["cols"], a, [0.1, 0.9], "linear", 0, "cols")
    b = np.full((10, 2), np.nan)
    with mm.tmpdir() as d:
        doc, _ = run(d, b, [{"op": "quantiles", "q": 0.5}])
    mm.check(np.isnan(doc["results"]["quantiles"]["values"]), "all-NaN data: NaN")


@mm.test("quantiles: a result over 1,000,000 numbers needs output and writes values.npy")
def large_output():
    a = np.random.default_rng(4).integers(0, 100, size=(350000, 3)).astype(np.uint8)
    with mm.tmpdir() as d:
        write_data(d, a, "C", "npy")
        cfg = {"dataset": {"path": "data.npy"},
               "analyses": [{"op": "quantiles", "q": [0.25, 0.5, 0.75], "axis": 1, "method": "midpoint"}]}
        path = mm.write_config(d, cfg)
        mm.assert_error(mm.run_mmrun([path]), 78, ["analyses[0].output"])
        cfg["analyses"][0]["output"] = "qq"
        path = mm.write_config(d, cfg)
        doc, _ = mm.run_ok(["-w", "2", path], timeout=120)
        r = doc["results"]["quantiles"]
        mm.eq(r["shape"], [3, 350000], "shape")
        got = np.load(os.path.join(d, "qq.values.npy"))
        # No NaNs here: numpy.quantile equals nanquantile and is vectorised.
        exp = np.quantile(a.astype(np.float64), [0.25, 0.5, 0.75], method="midpoint", axis=1)
        mm.check(np.array_equal(got, exp), "values file differs from numpy")


@mm.test("quantiles: bad parameters exit 78 naming the key")
def bad_params():
    a = np.arange(20.0).reshape(4, 5)
    bad = [
        ({}, ["analyses[0].q"]),
        ({"q": 1.5}, ["analyses[0].q"]),
        ({"q": -0.1}, ["analyses[0].q"]),
        ({"q": [0.5, 2]}, ["analyses[0].q"]),
        ({"q": []}, ["analyses[0].q"]),
        ({"q": "half"}, ["analyses[0].q"]),
        ({"q": 0.5, "method": "linaer"}, ["analyses[0].method", "did you mean 'linear'"]),
        ({"q": 0.5, "method": "median"}, ["analyses[0].method"]),
        ({"q": 0.5, "axis": 2}, ["analyses[0].axis"]),
        ({"q": 0.5, "axis": -3}, ["analyses[0].axis"]),
        ({"q": 0.5, "axis": [0]}, ["analyses[0].axis"]),
        ({"q": 0.5, "methd": "linear"}, ["analyses[0]", "method"]),
    ]
    with mm.tmpdir() as d:
        write_data(d, a, "C", "npy")
        for params, frags in bad:
            an = {"op": "quantiles"}
            an.update(params)
            path = mm.write_config(d, {"dataset": {"path": "data.npy"}, "analyses": [an]})
            for sub in (["validate", path], [path]):
                mm.assert_error(mm.run_mmrun(sub), 78, frags, args=sub)
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
