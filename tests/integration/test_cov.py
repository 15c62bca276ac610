"""The `cov` analysis against numpy.cov / numpy.corrcoef (SPEC §3 `cov`,
CHOICES "cov").

Arrays are written with numpy (raw and .npy, C and F order, every dtype
including bool, float16 and big-endian), mmrun's `cov` and `corr` are
compared with numpy on the data cast to float64 to 1e-9 relative, after
removing the observations that hold a NaN (listwise deletion, counted in
`nan_count`). Both layouts are covered: observations as storage rows (C
with axis 0, F with axis 1) and variables as storage rows (C with axis 1,
F with axis 0, where workers read each variable's piece themselves), with
several blocks and with rows longer than a block. Results must be the same
bytes for 1, 2, 3, 7 workers and spawn.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_cov.py [FILTER...]
"""

import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

DTYPES = ["bool", "int8", "u1", "<i2", ">i2", "uint16", ">i4", "<u4", "i8", ">u8",
          "float16", ">f2", "<f4", ">f4", "float64", ">f8"]


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def random_data(dtype, shape, rng, nan_rows=0.0, axis=0):
    """Correlated random data of `dtype`; for floats, a fraction `nan_rows`
    of the observations (along `axis`) get a NaN in one variable."""
    dt = np.dtype(dtype)
    n, k = (shape[0], shape[1]) if axis == 0 else (shape[1], shape[0])
    base = rng.standard_normal((n, k)) @ rng.standard_normal((k, k))
    if dt.kind == "b":
        obs = base > 0.3
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        span = min(100.0, float(info.max) / 4)
        obs = np.clip(np.round(base * span / 4 + (span if dt.kind == "u" else 0)), info.min, info.max)
    else:
        obs = base * 3.0 + 1.5
        if nan_rows > 0:
            rows = rng.choice(n, size=max(1, int(n * nan_rows)), replace=False)
            obs[rows, rng.integers(0, k, size=len(rows))] = np.nan
    obs = obs.astype(dt)
    return obs if axis == 0 else obs.T.copy()


def oracle(a, axis, ddof):
    """(cov, corr, count, nan_count) of numpy with listwise deletion."""
    obs = np.asarray(a, dtype=np.float64)
    if axis == 1:
        obs = obs.T
    keep = ~np.isnan(obs).any(axis=1)
    used = obs[keep]
    k = obs.shape[1]
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cov = np.asarray(np.cov(used, rowvar=False, ddof=ddof)).reshape(k, k)
            corr = np.asarray(np.corrcoef(used, rowvar=False)).reshape(k, k)
    return cov, corr, int(keep.sum()), int((~keep).sum())


def write_input(folder, a, order, fmt, name="data"):
    """Writes `a` raw or .npy in `order`; returns the config's dataset block."""
    if fmt == "npy":
        path = mm.write_npy(os.path.join(folder, name + ".npy"), a, order=order)
        return {"path": os.path.basename(path)}
    path = mm.write_raw(os.path.join(folder, name + ".dat"), a, order=order)
    return {"path": os.path.basename(path), "dtype": a.dtype.str, "shape": list(a.shape), "order": order}


def run_cov(folder, dataset, analyses, workers=3, launch=None):
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": analyses})
    args = ["-q", "--workers", workers]
    if launch:
        args += ["--launch", launch]
    doc, res = mm.run_ok(args + [cfg])
    mm.assert_no_leftovers(folder)
    return doc, res


def check_cov(result, a, axis, ddof, what):
    cov, corr, count, nan_count = oracle(a, axis, ddof)
    mm.eq(result.get("count"), count, what + ": count")
    mm.eq(result.get("nan_count"), nan_count, what + ": nan_count")
    finite = np.abs(cov[np.isfinite(cov)])
    scale = float(finite.max()) if finite.size else 0.0
    mm.assert_close(result.get("cov"), cov, rtol=1e-9, atol=1e-12 * scale, what=what + ": cov")
    mm.assert_close(result.get("corr"), corr, rtol=1e-9, atol=1e-12, what=what + ": corr")


# --------------------------------------------------------------------------
# Oracle tests


@mm.test
def cov_every_dtype_both_layouts():
    with mm.tmpdir() as d:
        for dtype in DTYPES:
            rng = rng_for("dtype" + dtype)
            a = random_data(dtype, (3000, 4), rng, nan_rows=0.03)
            ds = write_input(d, a, "C", "raw")
            doc, _ = run_cov(d, ds, [{"op": "cov"}])
            check_cov(doc["results"]["cov"], a, 0, 1, dtype + " axis 0")
            # The transpose with axis 1: variables are storage rows.
            t = np.ascontiguousarray(a.T)
            ds = write_input(d, t, "C", "raw", name="t")
            doc, _ = run_cov(d, ds, [{"op": "cov", "axis": 1}])
            check_cov(doc["results"]["cov"], t, 1, 1, dtype + " axis 1")


@mm.test
def cov_many_variables_go_to_npy_files():
    with mm.tmpdir() as d:
        a = random_data("<f4", (6, 800), rng_for("files"), nan_rows=0.2)
        ds = write_input(d, a, "F", "npy")
        os.mkdir(os.path.join(d, "out"))
        doc, _ = run_cov(d, ds, [{"op": "cov", "output": "out/m"}])
        r = doc["results"]["cov"]
        cov, corr, count, nan_count = oracle(a, 0, 1)
        mm.eq(r.get("count"), count, "count")
        mm.eq(r.get("nan_count"), nan_count, "nan_count")
        mm.eq(r.get("shape"), [800, 800], "shape")
        for field, exp in (("cov", cov), ("corr", corr)):
            path = r["files"][field]
            mm.check(mm.same_path(path, os.path.join(d, "out", "m.%s.npy" % field)), "file path %r" % path)
            got = np.load(path)
            mm.eq(got.dtype.str, "<f8", field + " dtype")
            mm.check(np.allclose(got, exp, rtol=1e-9, atol=1e-12, equal_nan=True), field + " file values")


@mm.test
def cov_orders_formats_axes_with_nan_rows():
    # 60000 x 5 float64 is 2.4 MB: several blocks in both layouts.
    for order in ("C", "F"):
        for fmt in ("raw", "npy"):
            for axis in (0, 1):
                with mm.tmpdir() as d:
                    rng = rng_for("ofa%s%s%d" % (order, fmt, axis))
                    shape = (60000, 5) if axis == 0 else (5, 60000)
                    a = random_data(">f8" if fmt == "raw" else "<f4", shape, rng, nan_rows=0.02, axis=axis)
                    ds = write_input(d, a, order, fmt)
                    doc, _ = run_cov(d, ds, [{"op": "cov", "axis": axis}])
                    check_cov(doc["results"]["cov"], a, axis, 1, "%s %s axis %d" % (order, fmt, axis))


@mm.test
def cov_ddof_0_1_2_and_negative_axis():
    with mm.tmpdir() as d:
        a = random_data("<f8", (500, 3), rng_for("ddof"), nan_rows=0.05)
        ds = write_input(d, a, "F", "npy")
        doc, _ = run_cov(d, ds, [{"name": "d0", "op": "cov", "ddof": 0},
                                 {"name": "d1", "op": "cov", "ddof": 1},
                                 {"name": "d2", "op": "cov", "ddof": 2, "axis": -2}])
        check_cov(doc["results"]["d0"], a, 0, 0, "ddof 0")
        check_cov(doc["results"]["d1"], a, 0, 1, "ddof 1")
        check_cov(doc["results"]["d2"], a, 0, 2, "ddof 2")


@mm.test
def cov_axis1_small_and_result_keys():
    with mm.tmpdir() as d:
        a = random_data("<f8", (4, 900), rng_for("ax1"), nan_rows=0.05, axis=1)
        ds = write_input(d, a, "C", "raw")
        doc, _ = run_cov(d, ds, [{"op": "cov", "axis": 1, "ddof": 0}])
        r = doc["results"]["cov"]
        mm.eq(list(r.keys()), ["count", "nan_count", "cov", "corr"], "result keys")
        check_cov(r, a, 1, 0, "axis 1 ddof 0")


@mm.test
def cov_rows_longer_than_a_block():
    # Variables as storage rows of 1.6 MB: each is cut into pieces.
    with mm.tmpdir() as d:
        a = random_data("<f8", (3, 200000), rng_for("long"), nan_rows=0.01, axis=1)
        ds = write_input(d, a, "C", "raw")
        doc, _ = run_cov(d, ds, [{"op": "cov", "axis": 1}], workers=2)
        check_cov(doc["results"]["cov"], a, 1, 1, "long rows")
        # The same data as F order with axis 0 (the transpose).
        ds = write_input(d, np.ascontiguousarray(a.T), "F", "npy", name="t")
        doc, _ = run_cov(d, ds, [{"op": "cov", "axis": 0}], workers=3)
        check_cov(doc["results"]["cov"], a.T, 0, 1, "long rows, F")


@mm.test
def cov_all_nan_and_too_few_observations():
    with mm.tmpdir() as d:
        a = np.full((10, 3), np.nan)
        ds = write_input(d, a, "C", "raw")
        doc, _ = run_cov(d, ds, [{"op": "cov"}])
        r = doc["results"]["cov"]
        mm.eq(r["count"], 0, "count")
        mm.eq(r["nan_count"], 10, "nan_count")
        mm.check(np.isnan(np.array(r["cov"], dtype=float)).all(), "cov of nothing is NaN: %r" % r["cov"])
        mm.check(np.isnan(np.array(r["corr"], dtype=float)).all(), "corr of nothing is NaN: %r" % r["corr"])
        b = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 5.0]])
        ds = write_input(d, b, "C", "raw", name="b")
        doc, _ = run_cov(d, ds, [{"op": "cov", "ddof": 2}, {"name": "one", "op": "cov", "ddof": 1}])
        check_cov(doc["results"]["cov"], b, 0, 2, "count - ddof = 0 (numpy: infinities)")
        check_cov(doc["results"]["one"], b, 0, 1, "two observations")


# --------------------------------------------------------------------------
# Determinism


@mm.test
def cov_large_means_keep_their_digits_raw_and_chunked():
    """Means large against the spread (1e6 + N(0, 1), columns of very
    different scales): piece means rounded at the mean's scale cost 3e-10
    (8e-9 across scales) where chunks split the variables."""
    import h5py
    rng = rng_for("large means")
    n = 200_000
    a = np.stack([1e6 + rng.normal(0, 1, n), 1.7e9 + rng.uniform(0, 10, n),
                  -3e4 + rng.normal(0, 1e-3, n)], axis=1)
    # Long double co-moments of the values less the first row (exact here).
    x = (a - a[0]).astype(np.longdouble)
    d = x - x.mean(axis=0)
    want = ((d.T @ d) / (n - 1)).astype(np.float64)
    with mm.tmpdir() as folder:
        datasets = [write_input(folder, a, "C", "raw")]
        for chunks in ((100, 1), (4096, 3), (1000, 2)):
            name = "c%d_%d.h5" % chunks
            with h5py.File(os.path.join(folder, name), "w") as f:
                f.create_dataset("x", data=a, chunks=chunks)
            datasets.append({"path": name, "name": "x"})
        for dataset in datasets:
            docs = []
            for w in (1, 3):
                doc, _res = run_cov(folder, dataset, [{"name": "c", "op": "cov"}], workers=w)
                docs.append(doc["results"])
                got = np.array(doc["results"]["c"]["cov"])
                rel = np.abs(got - want) / np.sqrt(np.outer(np.diag(want), np.diag(want)))
                mm.check(rel.max() < 1e-12, "%s, %d workers: cov off by %.2e of the scale"
                         % (dataset["path"], w, rel.max()))
            mm.eq(docs[1], docs[0], "%s: 3 workers vs 1" % dataset["path"])


@mm.test
def cov_constant_column_and_overflowing_values():
    """A constant column has co-moments 0 and corr NaN whatever constant
    (the corrected sums left ~1e-32, corr +-1); values whose products
    overflow give cov inf, not NaN (review findings, session 21)."""
    rng = rng_for("constant column")
    with mm.tmpdir() as folder:
        for c in (0.1, 0.5, 1.0 / 3, 1.7e9 + 0.3):
            a = np.column_stack([np.full(1000, c), rng.normal(0, 1, 1000)])
            doc, _res = run_cov(folder, write_input(folder, a, "C", "raw"),
                                [{"name": "c", "op": "cov"}], workers=2)
            r = doc["results"]["c"]
            mm.eq([r["cov"][0][0], r["cov"][0][1], r["cov"][1][0]], [0.0, 0.0, 0.0],
                  "constant %r: its co-moments" % c)
            mm.check(np.isnan([r["corr"][0][0], r["corr"][0][1], r["corr"][1][0]]).all(),
                     "constant %r: its correlations are %r, not NaN" % (c, r["corr"]))
            mm.assert_close(r["cov"][1][1], np.var(a[:, 1], ddof=1), rtol=1e-12,
                            what="constant %r: the other variance" % c)
        a = np.column_stack([rng.normal(0, 1, 1000) * 1e200, rng.normal(0, 1, 1000)])
        doc, _res = run_cov(folder, write_input(folder, a, "C", "raw"),
                            [{"name": "c", "op": "cov"}], workers=2)
        mm.eq(doc["results"]["c"]["cov"][0][0], np.inf, "cov of values near 1e200")


@mm.test
def cov_same_bytes_for_any_worker_count_and_spawn():
    for label, shape, order, axis in (("obs-major", (70000, 4), "C", 0), ("var-major", (4, 70000), "C", 1),
                                      ("var-major F", (70000, 4), "F", 0)):
        with mm.tmpdir() as d:
            a = random_data("<f8", shape, rng_for(label), nan_rows=0.01, axis=axis)
            ds = write_input(d, a, order, "raw")
            spans = None
            for workers, launch in ((1, None), (2, None), (3, None), (7, None), (3, "spawn")):
                cfg = mm.write_config(d, {"dataset": ds, "analyses": [{"op": "cov", "axis": axis}]})
                args = ["-q", "--workers", workers] + (["--launch", launch] if launch else []) + [cfg]
                doc, res = mm.run_ok(args)
                s = mm.top_level_spans(res.out)["results"]
                if spans is None:
                    spans = s
                    check_cov(doc["results"]["cov"], a, axis, 1, label)
                mm.eq(s == spans, True, "%s: results with %d workers %s equal those with 1" %
                      (label, workers, launch or "fork"))
            mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Errors


def expect_error(folder, dataset, analysis, code, fragments):
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": [analysis]})
    res = mm.run_mmrun(["-q", cfg])
    mm.assert_error(res, code, fragments, args=[cfg])
    mm.assert_no_leftovers(folder)


@mm.test
def cov_bad_parameters_exit_78():
    with mm.tmpdir() as d:
        ds = write_input(d, np.zeros((10, 3)), "C", "raw")
        expect_error(d, ds, {"op": "cov", "axis": 2}, 78, ["analyses[0].axis"])
        expect_error(d, ds, {"op": "cov", "axis": [0]}, 78, ["analyses[0].axis"])
        expect_error(d, ds, {"op": "cov", "ddof": -1}, 78, ["analyses[0].ddof"])
        expect_error(d, ds, {"op": "cov", "ddof": 0.5}, 78, ["analyses[0].ddof"])
        expect_error(d, ds, {"op": "cov", "bins": 3}, 78, ["analyses[0].bins"])
        ds3 = write_input(d, np.zeros((2, 3, 4)), "C", "raw", name="cube")
        expect_error(d, ds3, {"op": "cov"}, 78, ["analyses[0].op", "2-d"])
        wide = write_input(d, np.zeros((2, 4097), dtype=np.uint8), "C", "raw", name="wide")
        expect_error(d, wide, {"op": "cov", "output": "w"}, 78, ["analyses[0].axis", "4097 variables", "4096"])
        mid = write_input(d, np.zeros((2, 800), dtype=np.uint8), "C", "raw", name="mid")
        expect_error(d, mid, {"op": "cov"}, 78, ["analyses[0].output", "PREFIX"])


if __name__ == "__main__":
    mm.main()
