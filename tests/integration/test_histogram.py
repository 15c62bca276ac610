"""The `histogram` analysis against numpy.histogram (SPEC §3 `histogram`,
docs/CHOICES.md "histogram and quantiles").

Each case writes an array with numpy, runs mmrun and compares `counts` and
`edges` exactly with numpy.histogram on the non-NaN values cast to float64,
lane by lane for an `axis`, plus `below`, `above` and `nan_count`. Without
`range` the expected range is the finite min/max of the whole array (one
range for every lane), (0, 1) when there is no finite value. Also: values
on and within one ulp of bin edges, infinities, bins 1 and 1000, byte
identity across worker counts and spawn, large results written to .npy
files, and bad parameters (exit 78 naming the key).

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_histogram.py [FILTER...]
"""

import json
import math
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

DTYPES = ["bool", "int8", "uint16", ">u2", "int64", "float16", ">f2", "<f4", ">f4", "float64", ">f8"]


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def make_array(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        a = rng.random(shape) < 0.4
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(info.min, -1000), min(info.max, 1000)
        a = rng.integers(lo, hi, size=shape, endpoint=True)
    else:
        a = rng.normal(2.0, 30.0, size=shape)
        a[rng.random(shape) < 0.05] = np.nan
        if a.ndim == 2:
            a[:, 1] = np.nan  # an all-NaN lane of axis 0
    return np.asarray(a).astype(dt)


def write_data(folder, a, order, fmt):
    if fmt == "npy":
        path = os.path.join(folder, "data.npy")
        mm.write_npy(path, a, order=order)
        return {"path": "data.npy"}
    path = os.path.join(folder, "data.bin")
    mm.write_raw(path, a, order=order)
    return {"path": "data.bin", "format": "raw", "dtype": a.dtype.str if a.dtype.itemsize > 1 else a.dtype.name,
            "shape": list(a.shape), "order": order}


def run(folder, a, analyses, order="C", fmt="npy", workers=3, extra=(), extra_env=None):
    cfg = {"dataset": write_data(folder, a, order, fmt), "analyses": analyses}
    path = mm.write_config(folder, cfg)
    args = ["--workers", workers] + list(extra) + [path]
    doc, res = mm.run_ok(args, extra_env=extra_env)
    return doc, res


def expected(a, bins=10, rng=None, axis=None):
    """numpy's answer: dict of counts/edges/below/above/nan_count."""
    f = np.asarray(a).astype(np.float64)
    if rng is None:
        fin = f[np.isfinite(f)]
        rng = (fin.min(), fin.max()) if fin.size else (0.0, 1.0)
    if axis is None:
        lanes = f.reshape(1, -1)
        kept = ()
    else:
        moved = np.moveaxis(f, axis, -1)
        kept = moved.shape[:-1]
        lanes = moved.reshape(-1, moved.shape[-1])
    counts, below, above, nans = [], [], [], []
    edges = None
    for lane in lanes:
        v = lane[~np.isnan(lane)]
        c, edges = np.histogram(v, bins=bins, range=rng)
        counts.append(c)
        lo, hi = edges[0], edges[-1]
        below.append(int((v < lo).sum()))
        above.append(int((v > hi).sum()))
        nans.append(int(np.isnan(lane).sum()))
    counts = np.array(counts, dtype=np.int64).reshape(kept + (bins,))
    shape = lambda x: np.array(x, dtype=np.int64).reshape(kept).tolist()  # noqa: E731
    return {"counts": counts.tolist(), "edges": edges.tolist(), "below": shape(below), "above": shape(above),
            "nan_count": shape(nans)}


def check_hist(got, exp, what):
    mm.eq(list(got.keys()), ["counts", "edges", "below", "above", "nan_count"], what + ": fields")
    for k in ("counts", "below", "above", "nan_count"):
        mm.eq(got[k], exp[k], "%s.%s" % (what, k))
    # Edges bit for bit (JSON round-trips doubles exactly).
    mm.eq(got["edges"], exp["edges"], what + ".edges")


def dtype_case(dtype):
    def fn():
        rng = rng_for("hist" + dtype)
        for shape, order, fmt in (((300, 7), "C", "npy"), ((300, 7), "F", "raw"), ((5, 6, 7), "F", "npy"),
                                  ((5, 6, 7), "C", "raw")):
            a = make_array(dtype, shape, rng)
            axes = [None, 0, 1, -1]
            analyses = []
            for i, axis in enumerate(axes):
                analyses.append({"name": "d%d" % i, "op": "histogram", "axis": axis})
                analyses.append({"name": "r%d" % i, "op": "histogram", "axis": axis, "bins": 7,
                                 "range": [-20, 25.5]})
            analyses.append({"name": "one", "op": "histogram", "bins": 1})
            analyses.append({"name": "many", "op": "histogram", "bins": 1000})
            with mm.tmpdir() as d:
                doc, _ = run(d, a, analyses, order=order, fmt=fmt)
            res = doc["results"]
            what = "%s %s %s %s" % (dtype, shape, order, fmt)
            for i, axis in enumerate(axes):
                check_hist(res["d%d" % i], expected(a, 10, None, axis), "%s d axis=%s" % (what, axis))
                check_hist(res["r%d" % i], expected(a, 7, (-20, 25.5), axis), "%s r axis=%s" % (what, axis))
            check_hist(res["one"], expected(a, 1), what + " bins=1")
            check_hist(res["many"], expected(a, 1000), what + " bins=1000")
    return fn


for _dt in DTYPES:
    mm.add_test("histogram oracle " + _dt, dtype_case(_dt))


@mm.test("histogram: values on and next to bin edges, infinities, explicit range")
def edges_and_rounding():
    lo, hi, bins = -1.3, 2.9, 37
    edges = np.linspace(lo, hi, bins + 1)
    vals = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                           [np.inf, -np.inf, np.nan, -5.0, 5.0, 0.0, -0.0, 1e-300],
                           np.random.default_rng(5).uniform(lo, hi, 2000)])
    a = vals.reshape(-1, 1)
    with mm.tmpdir() as d:
        doc, _ = run(d, a, [{"name": "x", "op": "histogram", "bins": bins, "range": [lo, hi]},
                            {"name": "ax", "op": "histogram", "bins": bins, "range": [lo, hi], "axis": 0},
                            {"name": "dflt", "op": "histogram", "bins": bins}])
    res = doc["results"]
    check_hist(res["x"], expected(a, bins, (lo, hi)), "x")
    mm.eq(res["x"]["below"], int((vals < lo).sum()), "below counts -inf and values under lo")
    mm.eq(res["x"]["above"], int((vals > hi).sum()), "above counts +inf and values over hi")
    mm.eq(res["x"]["nan_count"], 1, "nan_count")
    check_hist(res["ax"], expected(a, bins, (lo, hi), 0), "ax")
    check_hist(res["dflt"], expected(a, bins), "default range ignores infinities")
    mm.eq(res["dflt"]["below"], 1, "-inf is below the default range")
    mm.eq(res["dflt"]["above"], 1, "+inf is above the default range")
    # Many bins over a range whose edges are not representable.
    b = np.random.default_rng(9).uniform(0.1, 0.7, 5000)
    b = np.concatenate([b, np.linspace(0.1, 0.7, 1001)]).reshape(-1, 1)
    with mm.tmpdir() as d:
        doc, _ = run(d, b, [{"op": "histogram", "bins": 1000, "range": [0.1, 0.7]}])
    check_hist(doc["results"]["histogram"], expected(b, 1000, (0.1, 0.7)), "1000 bins on linspace edges")


@mm.test("histogram: constant data, all-NaN data, only infinities")
def degenerate():
    cases = {
        "constant": np.full((50, 3), 4.25),
        "allnan": np.full((50, 3), np.nan),
        "infs": np.array([[np.inf, -np.inf, np.nan]] * 4),
    }
    for name, a in cases.items():
        with mm.tmpdir() as d:
            doc, _ = run(d, a, [{"name": "h", "op": "histogram", "bins": 4},
                                {"name": "h0", "op": "histogram", "bins": 4, "axis": 0},
                                {"name": "eq", "op": "histogram", "bins": 3, "range": [2, 2]}])
        res = doc["results"]
        check_hist(res["h"], expected(a, 4), name)
        check_hist(res["h0"], expected(a, 4, None, 0), name + " axis 0")
        check_hist(res["eq"], expected(a, 3, (2, 2)), name + " range [2, 2]")
    mm.eq(doc["results"]["h"]["edges"], [0.0, 0.25, 0.5, 0.75, 1.0], "no finite data: range (0, 1)")


def results_span(text):
    return mm.top_level_spans(text)["results"]


@mm.test("histogram: rows longer than a block (lanes split over blocks), C and F")
def long_rows():
    rng = rng_for("wide")
    a = rng.normal(size=(3, 150000))
    a[rng.random(a.shape) < 0.01] = np.nan
    for order, axis in (("C", 1), ("F", 0)):
        arr = a if order == "C" else a.T
        analyses = [{"name": "lanes", "op": "histogram", "bins": 9, "axis": axis},
                    {"name": "all", "op": "histogram", "bins": 11, "range": [-1, 2]}]
        spans = []
        with mm.tmpdir() as d:
            for workers in (1, 2, 7):
                doc, res = run(d, arr, analyses, order=order, workers=workers)
                spans.append(results_span(res.out))
        mm.check(len(set(spans)) == 1, "results differ between worker counts")
        check_hist(doc["results"]["lanes"], expected(arr, 9, None, axis), order + " lanes")
        check_hist(doc["results"]["all"], expected(arr, 11, (-1, 2)), order + " all")


def pairs_case(dtype):
    def fn():
        # Native float32 and float64 runs of one lane of at least 8 x bins^2
        # values, bins <= 128, are counted in pairs of bins (docs/CHOICES.md
        # "histogram"); 129 bins and short runs are not. Ranges narrower
        # than the data and NaN put values outside the pairs in most vectors
        # of some lanes. A row of 262144 float64 values is two blocks of
        # 131072 = 8 x 128^2. A raw file whose data starts 4 bytes in gives
        # the same results (blocks are read into aligned buffers; the unit
        # test "float64 blocks at any alignment" feeds a misaligned one).
        rng = rng_for("pairs" + dtype)
        cols = 200000 if dtype == "float32" else 262144
        a = rng.normal(0, 1, size=(3, cols)).astype(dtype)
        a[0, rng.random(cols) < 0.3] = np.nan
        a[2, :] *= 4  # a third of this lane lies outside [-3, 3]
        edges = np.linspace(-3, 3, 101, dtype=dtype).repeat(10)[:1000]
        a[1, :1000] = edges  # on edges, in a run's first tile and in later ones
        a[1, 5000:6000] = edges
        a[1, 150001:151001] = edges
        analyses = [{"name": "b%d_%s" % (bins, axis), "op": "histogram", "bins": bins, "axis": axis,
                     "range": [-3, 3]}
                    for bins in (100, 128, 129) for axis in (None, 1)]
        analyses.append({"name": "auto", "op": "histogram", "bins": 64, "edges_dtype": "input"})
        spans = []
        with mm.tmpdir() as d:
            for workers in (1, 3):
                doc, res = run(d, a, analyses, workers=workers)
                spans.append(results_span(res.out))
            path = os.path.join(d, "shifted.bin")
            with open(path, "wb") as f:
                f.write(b"\0" * 4 + a.tobytes())
            cfg = {"dataset": {"path": "shifted.bin", "format": "raw", "dtype": a.dtype.str,
                               "shape": list(a.shape), "offset": 4},
                   "analyses": analyses}
            _, res = mm.run_ok(["--workers", 2, mm.write_config(d, cfg)])
            spans.append(results_span(res.out))
        mm.check(spans[0] == spans[1], "results differ between 1 and 3 workers")
        mm.check(spans[0] == spans[2], "results differ at a 4-byte offset")
        for bins in (100, 128, 129):
            for axis in (None, 1):
                check_hist(doc["results"]["b%d_%s" % (bins, axis)], expected(a, bins, (-3, 3), axis),
                           "bins %d axis %s" % (bins, axis))
        fin = a[np.isfinite(a)]
        counts, edges = np.histogram(fin, bins=64, range=(fin.min(), fin.max()))
        mm.eq(doc["results"]["auto"]["counts"], counts.tolist(), "auto range, input edges: counts")
        mm.eq(doc["results"]["auto"]["edges"], edges.astype(np.float64).tolist(), "auto range: edges")
    return fn


for _dt in ("float32", "float64"):
    mm.add_test("histogram: %s lanes long enough to be counted in pairs of bins, with singles mixed in"
                % _dt, pairs_case(_dt))


def range_and_auto(bins_list):
    """Histograms over [-1000, 1000] with each of bins_list bins, and with 33
    bins over the auto range, each for axis None and 1."""
    analyses = [{"name": "r%d_%s" % (bins, axis), "op": "histogram", "bins": bins, "axis": axis,
                 "range": [-1000, 1000]}
                for bins in bins_list for axis in (None, 1)]
    return analyses + [{"name": "auto_%s" % axis, "op": "histogram", "bins": 33, "axis": axis}
                       for axis in (None, 1)]


def run_both_ways(d, a, analyses, only_direct=()):
    """a's document with 1 and 3 workers (their results checked the same
    bytes), with analyses + only_direct; and the document of a's transposed
    copy with analyses, axis 1 as axis 0 (strided lanes), 3 workers."""
    spans = []
    for workers in (1, 3):
        doc, res = run(d, a, list(analyses) + list(only_direct), workers=workers, fmt="raw")
        spans.append(results_span(res.out))
    mm.check(spans[0] == spans[1], "results differ between 1 and 3 workers")
    t = np.ascontiguousarray(a.T)
    tdoc, _ = run(d, t, [dict(x, axis=0 if x.get("axis") == 1 else x.get("axis")) for x in analyses],
                  workers=3)
    return doc, tdoc


def pattern_case(dtype):
    def fn():
        # One- and two-byte types take each value's slot from a table of
        # every stored bit pattern (docs/CHOICES.md "histogram"), built once
        # a worker when a block (1 MiB) holds at least 65536 values and kept
        # for its later blocks: 3 x 1,200,003 values are 4 to 7 blocks,
        # dealt differently to 1 and 3 workers; the odd count makes
        # one-byte runs end off their 4-way loop. Integers sit on the edges
        # of [-1000, 1000] / 40 bins; floats get exact edges, NaN,
        # infinities and subnormals. 1 and 3 workers, a transposed copy
        # (axis 0 over its 3 columns as strided lanes), rows longer than a
        # block reduced over axis 0 (one value a lane in each run), more
        # slots than the table holds (70000 bins), and numpy's answers.
        rng = rng_for("pattern" + dtype)
        dt = np.dtype(dtype)
        n = 1200003
        if dt.kind == "b":
            a = rng.random((3, n)) < 0.3
        elif dt.kind in "iu":
            lo = -1200 if dt.kind == "i" else 0
            a = rng.integers(lo, 1200, size=(3, n), endpoint=True).astype(dt)
            a[1, :2000] = np.arange(-1000 if dt.kind == "i" else 0, 1001, 50).repeat(100)[:2000]
        else:
            a = (rng.normal(0, 400, size=(3, n))).astype(dt)
            special = np.array([np.nan, np.inf, -np.inf, 6e-8, -6e-8, 0.0, -0.0, 1000, -1000, 999.5],
                               dtype=dt)
            a[0, rng.random(n) < 0.2] = np.nan
            a[1, :1000] = np.linspace(-1000, 1000, 41).astype(dt).repeat(25)[:1000]
            a[2, ::97] = special[rng.integers(0, special.size, size=a[2, ::97].size)]
        analyses = range_and_auto((7, 40, 1000))
        wide = {"name": "wide", "op": "histogram", "bins": 70000, "range": [-1000, 1000]}
        with mm.tmpdir() as d:
            doc, tdoc = run_both_ways(d, a, analyses, [wide])
            w = a[:, :1100000]  # rows longer than a block (1 MiB)
            run(d, w, [{"name": "cols", "op": "histogram", "bins": 1, "axis": 0, "range": [-1000, 1000],
                        "output": os.path.join(d, "cols")}], workers=2, fmt="raw")
            cols = {k: np.load(os.path.join(d, "cols.%s.npy" % k)).tolist()
                    for k in ("counts", "below", "above", "nan_count")}
        for bins in (7, 40, 1000):
            for axis in (None, 1):
                name = "r%d_%s" % (bins, axis)
                exp = expected(a, bins, (-1000, 1000), axis)
                check_hist(doc["results"][name], exp, "%s %s" % (dtype, name))
                check_hist(tdoc["results"][name], exp, "%s transposed %s" % (dtype, name))
        for axis in (None, 1):
            exp = expected(a, 33, None, axis)
            check_hist(doc["results"]["auto_%s" % axis], exp, "%s auto axis %s" % (dtype, axis))
            check_hist(tdoc["results"]["auto_%s" % axis], exp, "%s transposed auto axis %s" % (dtype, axis))
        check_hist(doc["results"]["wide"], expected(a, 70000, (-1000, 1000)), dtype + " 70000 bins")
        # One bin per column: numpy's counts of a 1-bin histogram, column by
        # column, without a Python loop over 1,100,000 lanes.
        f = w.astype(np.float64)
        nan = np.isnan(f)
        mm.eq(cols["counts"], ((f >= -1000) & (f <= 1000)).sum(axis=0)[:, None].tolist(), dtype + " cols counts")
        mm.eq(cols["below"], (f < -1000).sum(axis=0).tolist(), dtype + " cols below")
        mm.eq(cols["above"], (f > 1000).sum(axis=0).tolist(), dtype + " cols above")
        mm.eq(cols["nan_count"], nan.sum(axis=0).tolist(), dtype + " cols nan_count")
    return fn


for _dt in ("bool", "int8", "uint8", "int16", ">i2", "uint16", ">u2", "float16", ">f2"):
    mm.add_test("histogram: %s values binned by a table of every bit pattern, against numpy" % _dt,
                pattern_case(_dt))


def wide_integer_case(dtype):
    def fn():
        # Four- and eight-byte integers are widened to doubles by the vector
        # kernel (64-bit ones from two exact 32-bit halves, rounded once as
        # numpy's cast rounds), and values on or near an edge take numpy's
        # edge corrections (simd::ResolveExact): with unit bins over
        # [-1000, 1000] every integer in range is on an edge. Row 2 holds the
        # type's extremes and 64-bit halfway cases (2^53 + 1, 2^53 + 3,
        # 2^63 - 512), which make its auto range the type's own; two bins over
        # [2^53 + 4, 2^53 + 8] hold 2^53 + 3 only when it is rounded to
        # nearest (to 2^53 + 4; truncated it is 2^53 + 2, below).
        rng = rng_for("wide" + dtype)
        dt = np.dtype(dtype)
        info = np.iinfo(dt)
        n = 200003
        lo = -1200 if dt.kind == "i" else 0
        a = rng.integers(lo, 2400 + lo, size=(3, n), endpoint=True).astype(dt)
        special = [info.min, info.max, info.max - 1, 0, 1]
        if dt.itemsize == 8:
            special += [2**53 + 1, 2**53 + 3, 2**63 - 512, 2**63 - 513]
            special += [-(2**53 + 1), -(2**63 - 512)] if dt.kind == "i" else [2**64 - 1024, 2**64 - 1025]
        a[2, ::7] = np.array(special, dtype=object)[rng.integers(0, len(special), size=a[2, ::7].size)]
        analyses = range_and_auto((7, 2000))
        analyses.append({"name": "rounding", "op": "histogram", "bins": 2, "axis": None,
                         "range": [2**53 + 4, 2**53 + 8]})
        with mm.tmpdir() as d:
            doc, tdoc = run_both_ways(d, a, analyses)
        for name in [x["name"] for x in analyses]:
            q = next(x for x in analyses if x["name"] == name)
            rng_ = tuple(q["range"]) if "range" in q else None
            exp = expected(a, q["bins"], rng_, q["axis"])
            check_hist(doc["results"][name], exp, "%s %s" % (dtype, name))
            check_hist(tdoc["results"][name], exp, "%s transposed %s" % (dtype, name))
    return fn


for _dt in ("int32", ">i4", "uint32", "int64", ">i8", "uint64", ">u8"):
    mm.add_test("histogram: %s values widened by the vector kernel, on every edge of unit bins, against numpy" % _dt,
                wide_integer_case(_dt))


@mm.test("histogram: auto range of integers finds the extremes at every position of its four chains and in the tail")
def integer_extremes():
    # Integer extremes are compared as integers in four interleaved chains
    # and a tail (histogram.cc): a lone minimum and maximum placed in each.
    # Signed types get only negative values (a chain started at 0 instead of
    # the type's least value would show).
    n = 1003
    for dtype in ("int32", ">i8", "uint64", "int16", "int8"):
        dt = np.dtype(dtype)
        low, high = (5, 100) if dt.kind == "u" else (-100, -5)
        base = np.random.default_rng(3).integers(low + 15, high - 10, size=n).astype(dt)
        for at in (0, 1, 2, 3, n - 1):
            a = base.copy()
            a[at] = low
            a[(at + 5) % n if at != n - 1 else n - 2] = high
            with mm.tmpdir() as d:
                doc, _ = run(d, a, [{"op": "histogram", "bins": 9}], workers=1, fmt="raw")
            check_hist(doc["results"]["histogram"], expected(a, 9), "%s extremes at %d" % (dtype, at))


def zeros_case(dtype, with_inf=False):
    def fn():
        # The extremes pass: one- and two-byte types go by which bit
        # patterns occur, and when +0 and -0 both occur and one is an
        # extreme the block is read value by value; other floats are widened
        # a tile at a time and reduced by the vector kernel, which may keep
        # either zero, and then the block is searched for its first zero.
        # Either way the extreme is the first zero seen, as a loop over the
        # values leaves it. The largest value a zero shows its sign as the
        # last edge (numpy's linspace ends on `stop`); the smallest would not
        # (0 * step + lo is +0). The test's oracle ignores the sign, so it is
        # checked here, for each order of the two zeros. Native floats are
        # reduced as stored, or with an infinity (the vector reduction of the
        # stored values then gives up on the block) in tiles. Float64 files
        # are two blocks, the second's zero of the other sign: the earlier
        # block's zero must win.
        rng = rng_for("zeros" + dtype)
        dt = np.dtype(dtype)
        a = np.abs(rng.normal(0, 3, size=(200003,))).astype(dt)
        if with_inf:
            a[7] = np.inf
        for first in (-0.0, 0.0):
            for arr, what in ((a, "min"), ((-np.abs(a)).astype(dt), "max")):
                arr = arr.copy()
                # The first zero in way 13 of the reduction's 16, the other
                # in way 2: ways combined in order would keep the second.
                arr[13], arr[18], arr[150000] = first, -first, -first
                analyses = [{"name": "h", "op": "histogram", "bins": 17}]
                spans = []
                with mm.tmpdir() as d:
                    for workers in (1, 3):
                        doc, res = run(d, arr, analyses, workers=workers, fmt="raw")
                        spans.append(results_span(res.out))
                mm.check(spans[0] == spans[1], "results differ between 1 and 3 workers")
                check_hist(doc["results"]["h"], expected(arr, 17), "%s zeros at the %s" % (dtype, what))
                if what == "max":
                    last = doc["results"]["h"]["edges"][-1]
                    mm.check(last == 0 and math.copysign(1.0, last) == math.copysign(1.0, first),
                             "%s: last edge %r, not the first zero %r" % (dtype, last, first))
    return fn


for _dt, _inf in (("float16", False), (">f2", False), (">f4", False), (">f8", True), ("<f4", False),
                 ("<f4", True), ("<f8", False)):
    mm.add_test("histogram: %s%s whose smallest or largest value is a zero of both signs, auto range: numpy's counts, and the largest keeps the sign of the first zero seen" % (_dt, " with an infinity" if _inf else ""),
                zeros_case(_dt, _inf))


@mm.test("histogram: bool data all True, auto range: numpy widens (1, 1) to (0.5, 1.5)")
def bool_all_true():
    # Min and max 1 make a range (0.5, 1.5), unlike random bools (0, 1),
    # which is also the range when nothing was found: below and above the
    # one-byte pattern threshold (1024 values a block).
    for n in (1000, 5000):
        a = np.ones(n, dtype=bool)
        with mm.tmpdir() as d:
            doc, _ = run(d, a, [{"op": "histogram", "bins": 4}], workers=2, fmt="raw")
        check_hist(doc["results"]["histogram"], expected(a, 4), "all True, %d values" % n)
        mm.eq(doc["results"]["histogram"]["edges"][0], 0.5, "first edge")


@mm.test("histogram: byte-identical for 1, 2, 3, 7 workers and spawn")
def determinism():
    rng = rng_for("det")
    a = rng.normal(0, 1, size=(3000, 5)).astype(np.float32)
    a[rng.random(a.shape) < 0.1] = np.nan
    analyses = [{"name": "all", "op": "histogram", "bins": 50},
                {"name": "cols", "op": "histogram", "bins": 20, "axis": 0},
                {"name": "rows", "op": "histogram", "bins": 3, "axis": 1, "range": [-1, 1]}]
    spans = []
    with mm.tmpdir() as d:
        for workers, extra in ((1, ()), (2, ()), (3, ()), (7, ()), (3, ("--launch", "spawn"))):
            _, res = run(d, a, analyses, workers=workers, extra=extra)
            spans.append(results_span(res.out))
        doc = mm.parse_doc(res.out)
    for s in spans[1:]:
        mm.check(s == spans[0], "results differ between worker counts / launch modes")
    check_hist(doc["results"]["all"], expected(a, 50), "all")
    check_hist(doc["results"]["cols"], expected(a, 20, None, 0), "cols")
    check_hist(doc["results"]["rows"], expected(a, 3, (-1, 1), 1), "rows")


@mm.test("histogram: validate lists the min/max pass before the counting pass")
def validate_passes():
    a = np.arange(100.0).reshape(10, 10)
    with mm.tmpdir() as d:
        cfg = {"dataset": write_data(d, a, "C", "npy"),
               "analyses": [{"op": "stats"}, {"name": "h", "op": "histogram"},
                            {"name": "hr", "op": "histogram", "range": [0, 1]}]}
        path = mm.write_config(d, cfg)
        res = mm.run_mmrun(["validate", path])
        mm.eq(res.code, 0, "validate exit code: " + res.err)
        plan = json.loads(res.out)
    passes = [[(s["analysis"], s["pass"]) for s in p["analyses"]] for p in plan["passes"]]
    mm.eq(passes, [[("stats", 0), ("h", 0), ("hr", 0)], [("h", 1)]], "passes")


@mm.test("histogram: a result over 1,000,000 numbers needs output and writes .npy files")
def large_output():
    a = np.random.default_rng(3).integers(0, 9, size=(25000, 4)).astype(np.int16)
    with mm.tmpdir() as d:
        write_data(d, a, "C", "npy")
        cfg = {"dataset": {"path": "data.npy"}, "analyses": [{"op": "histogram", "bins": 40, "axis": 1}]}
        path = mm.write_config(d, cfg)
        res = mm.run_mmrun([path])
        mm.assert_error(res, 78, ["analyses[0].output", "PREFIX"])
        cfg["analyses"][0]["output"] = "out/h"
        os.makedirs(os.path.join(d, "out"))
        path = mm.write_config(d, cfg)
        doc, _ = mm.run_ok(["-w", "3", path])
        r = doc["results"]["histogram"]
        mm.eq(r["shape"], [25000], "shape")
        exp = expected(a, 40, None, 1)
        got = {k: np.load(os.path.join(d, "out", "h.%s.npy" % k)) for k in ("counts", "edges", "below", "above",
                                                                               "nan_count")}
        for k in ("counts", "below", "above", "nan_count"):
            mm.eq(got[k].tolist(), exp[k], "file " + k)
        mm.eq(got["edges"].tolist(), exp["edges"], "file edges")
        mm.eq(sorted(os.listdir(os.path.join(d, "out"))), sorted("h.%s.npy" % k for k in got), "files written")


@mm.test("histogram: bad parameters exit 78 naming the key")
def bad_params():
    a = np.arange(20.0).reshape(4, 5)
    bad = [
        ({"bins": 0}, "analyses[0].bins"),
        ({"bins": -3}, "analyses[0].bins"),
        ({"bins": 2.5}, "analyses[0].bins"),
        ({"bins": "ten"}, "analyses[0].bins"),
        ({"range": [3, 1]}, "analyses[0].range"),
        ({"range": [1]}, "analyses[0].range"),
        ({"range": [0, "1"]}, "analyses[0].range"),
        ({"range": [-1e308, 1e308]}, ("analyses[0].range", "overflows")),
        ({"axis": 2}, "analyses[0].axis"),
        ({"axis": -3}, "analyses[0].axis"),
        ({"axis": [0, 1]}, "analyses[0].axis"),
        ({"bin": 3}, ("analyses[0]", "bins")),
    ]
    with mm.tmpdir() as d:
        write_data(d, a, "C", "npy")
        for params, key in bad:
            an = {"op": "histogram"}
            an.update(params)
            text = json.dumps({"dataset": {"path": "data.npy"}, "analyses": [an]})
            path = mm.write_config(d, text)
            for sub in (["validate", path], [path]):
                res = mm.run_mmrun(sub)
                mm.assert_error(res, 78, [key] if isinstance(key, str) else list(key), args=sub)
        # A number beyond double range is a config error, not a crash.
        path = mm.write_config(d, '{"dataset": {"path": "data.npy"}, '
                                  '"analyses": [{"op": "histogram", "range": [0, 1e400]}]}')
        mm.assert_error(mm.run_mmrun([path]), 78, ["1e400"])
        mm.assert_no_leftovers(d)



@mm.test("histogram: data whose max - min overflows float64 without a range: exit 65 asking for one")
def auto_range_overflow():
    with mm.tmpdir() as d:
        write_data(d, np.array([-1e308, 0.0, 1e308]), "C", "npy")
        path = mm.write_config(d, {"dataset": {"path": "data.npy"}, "analyses": [{"op": "histogram"}]})
        mm.assert_error(mm.run_mmrun(["-q", path]), 65, ["range", "overflows"])
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
