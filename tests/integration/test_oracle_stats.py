"""The `stats` analysis against numpy, over every dtype, byte order, storage
order and file format (SPEC §2, §3 `stats`, §4).

Each case writes a random array (fixed seeds) with numpy, runs
`mmrun --workers 3` on a config with several `stats` analyses (axis null,
ints, negative ints, lists; ddof 0 and 1; a `stats` subset) and compares every
field with numpy on the data cast to float64 (nan* semantics). Integer and
bool data must give exact `sum`/`min`/`max` (decimal strings beyond 64 bits).

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_oracle_stats.py [FILTER...]
"""

import json
import os
import sys
import warnings
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

FIELDS = ["count", "nan_count", "sum", "mean", "var", "std", "min", "max"]
WORKERS = 3

# (config spelling, short label). The spellings vary on purpose: names,
# one-letter-and-size codes, explicit '<' '>' '|' byte orders, '?'.
DTYPES = [
    ("bool", "b1"),
    ("int8", "i1"),
    ("u1", "u1"),
    ("<i2", "<i2"), (">i2", ">i2"),
    ("uint16", "<u2"), (">u2", ">u2"),
    ("int32", "<i4"), (">i4", ">i4"),
    ("<u4", "<u4"), (">u4", ">u4"),
    ("i8", "<i8"), (">i8", ">i8"),
    ("uint64", "<u8"), (">u8", ">u8"),
    ("float16", "<f2"), (">f2", ">f2"),
    ("<f4", "<f4"), (">f4", ">f4"),
    ("float64", "<f8"), (">f8", ">f8"),
]

SHAPES = {"1d": (1000,), "2d": (400, 7), "3d": (6, 5, 8)}
AXES = {
    1: [None, 0, -1],
    2: [None, 0, 1, -1, [0, 1]],
    3: [None, 0, 1, -1, [0, 2]],
}


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


# --------------------------------------------------------------------------
# Data


def random_array(dtype, shape, rng, nan_fraction=0.05, nan_lanes=True):
    """A random array of `dtype` (numpy dtype, any byte order) and `shape`.
    Floats get NaNs sprinkled in and, when `nan_lanes`, one all-NaN lane for
    every axis tested on that shape. Integers span the dtype's whole range
    and hold its min and max."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        a = rng.random(shape) < 0.3
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=shape, dtype=dt.newbyteorder("="), endpoint=True)
        flat = a.reshape(-1)
        flat[0] = info.min
        flat[-1] = info.max
    else:
        loc, scale = {2: (3.0, 50.0), 4: (10.0, 1e3), 8: (-5e3, 1e6)}[dt.itemsize]
        a = rng.normal(loc, scale, size=shape)
        a[rng.random(shape) < nan_fraction] = np.nan
        if nan_lanes:
            s = a.shape
            if a.ndim == 2:
                a[:, 2 % s[1]] = np.nan               # a lane of axis 0
                a[3 % s[0], :] = np.nan               # a lane of axis 1 / -1
            elif a.ndim == 3:
                a[:, 1 % s[1], 2 % s[2]] = np.nan     # axis 0
                a[2 % s[0], :, 3 % s[2]] = np.nan     # axis 1
                a[4 % s[0], 0, :] = np.nan            # axis -1
                a[:, 3 % s[1], :] = np.nan            # axes [0, 2]
    return np.asarray(a).astype(dt)


# --------------------------------------------------------------------------
# Oracle


def norm_axes(ndim, axis):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,)
    return tuple(sorted(x % ndim for x in axis))


def exact_sum(a, axes):
    """Exact integer sums over `axes` as Python ints (nested lists)."""
    dt = a.dtype
    if dt.kind == "b" or dt.itemsize < 8:
        s = a.astype(np.int64).sum(axis=axes)
        return s.tolist()
    # 64-bit: split into 32-bit halves whose sums cannot overflow int64.
    native = a.astype(dt.newbyteorder("="))
    if dt.kind == "u":
        hi = (native >> np.uint64(32)).astype(np.int64)
        lo = (native & np.uint64(0xFFFFFFFF)).astype(np.int64)
    else:
        hi = (native >> np.int64(32)).astype(np.int64)
        lo = (native & np.int64(0xFFFFFFFF)).astype(np.int64)
    hs = hi.sum(axis=axes).tolist()
    ls = lo.sum(axis=axes).tolist()

    def combine(h, l):
        if isinstance(h, list):
            return [combine(x, y) for x, y in zip(h, l)]
        return (int(h) << 32) + int(l)
    return combine(hs, ls)


def exact_extreme(a, axes, fn):
    native = a.astype(np.int64) if a.dtype.kind == "b" else a.astype(a.dtype.newbyteorder("="))
    return fn(native, axis=axes).tolist()


def oracle(a, axis, ddof):
    """Expected stats (numpy nan* on float64) plus tolerances per field."""
    axes = norm_axes(a.ndim, axis)
    f = a.astype(np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        isnan = np.isnan(f)
        exp = {
            "count": (~isnan).sum(axis=axes),
            "nan_count": isnan.sum(axis=axes),
            "sum": np.nansum(f, axis=axes),
            "mean": np.nanmean(f, axis=axes),
            "var": np.nanvar(f, axis=axes, ddof=ddof),
            "std": np.nanstd(f, axis=axes, ddof=ddof),
            "min": np.nanmin(f, axis=axes),
            "max": np.nanmax(f, axis=axes),
        }
        absf = np.abs(f)
        tol = {
            "sum": np.nan_to_num(1e-9 * np.nansum(absf, axis=axes)),
            "mean": np.nan_to_num(1e-9 * np.nanmean(absf, axis=axes)),
            "var": np.nan_to_num(1e-10 * np.nanmean(f * f, axis=axes)),
        }
        std = np.nan_to_num(exp["std"])
        tol["std"] = np.where(std > 0, tol["var"] / (2 * np.where(std > 0, std, 1)),
                              np.sqrt(tol["var"]))
    if a.dtype.kind in "biu":
        exp["sum"] = exact_sum(a, axes)
        exp["min"] = exact_extreme(a, axes, np.min)
        exp["max"] = exact_extreme(a, axes, np.max)
    return exp, tol


def check_stats(result, a, axis, ddof, fields=FIELDS, what="stats"):
    """Compares one `stats` result with the oracle."""
    exp, tol = oracle(a, axis, ddof)
    mm.check(isinstance(result, dict), "%s: result is not an object: %r" % (what, result))
    mm.eq(list(result.keys()), [f for f in FIELDS if f in fields], "%s: fields" % what)
    integer = a.dtype.kind in "biu"
    for field in fields:
        got = result[field]
        w = "%s.%s" % (what, field)
        if field in ("count", "nan_count"):
            mm.assert_exact_ints(got, exp[field], w)
        elif field in ("sum", "min", "max") and integer:
            mm.assert_exact_ints(got, exp[field], w)
        elif field in ("min", "max"):
            mm.assert_close(got, exp[field], rtol=0.0, atol=0.0, what=w)
        else:
            mm.assert_close(got, exp[field], rtol=1e-9, atol=tol[field], what=w)


# --------------------------------------------------------------------------
# Running


def npy_order(path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        _shape, fortran, _dtype = np.lib.format._read_array_header(f, version)
    return "F" if fortran else "C"


def check_dataset(doc, path, fmt, descr, shape, order, offset, trailing=0):
    ds = doc.get("dataset")
    mm.check(isinstance(ds, dict), "result document has no 'dataset' object")
    mm.check(mm.same_path(ds.get("path"), path),
             "dataset.path: got %r, expected absolute %r" % (ds.get("path"), path))
    mm.eq(ds.get("format"), fmt, "dataset.format")
    mm.eq(ds.get("dtype"), descr, "dataset.dtype")
    mm.eq(ds.get("shape"), list(shape), "dataset.shape")
    mm.eq(ds.get("order"), order, "dataset.order")
    mm.eq(ds.get("offset"), offset, "dataset.offset")
    mm.eq(ds.get("trailing_bytes"), trailing, "dataset.trailing_bytes")
    rows = shape[-1] if order == "F" else shape[0]
    mm.eq(doc.get("mmrun", {}).get("rows"), rows, "mmrun.rows")


def analyses_for(ndim, subset=True):
    out = []
    for i, axis in enumerate(AXES[ndim]):
        for ddof in (0, 1):
            out.append(({"name": "ax%d_d%d" % (i, ddof), "op": "stats", "axis": axis, "ddof": ddof},
                        axis, ddof, FIELDS))
    if subset:
        fields = ["max", "std", "count"]
        out.append(({"name": "subset", "op": "stats", "axis": 0, "ddof": 1, "stats": fields},
                    0, 1, fields))
    return out


def run_and_check(folder, dataset, analyses, a, what, workers=WORKERS, extra_args=()):
    cfg = {"dataset": dataset, "analyses": [x[0] for x in analyses]}
    cfg_path = mm.write_config(folder, cfg)
    args = ["--workers", workers, "-q"] + list(extra_args) + [cfg_path]
    doc, _res = mm.run_ok(args)
    results = doc.get("results")
    mm.check(isinstance(results, dict), "%s: no 'results' object" % what)
    mm.eq(list(results.keys()), [x[0]["name"] for x in analyses], "%s: result names" % what)
    for spec, axis, ddof, fields in analyses:
        check_stats(results[spec["name"]], a, axis, ddof, fields,
                    "%s %s(axis=%r, ddof=%d)" % (what, spec["name"], axis, ddof))
    mm.assert_no_leftovers(folder)
    return doc


def matrix_case(spelling, order, fmt, case_index):
    dt = np.dtype(spelling)
    name = "stats %s %s %s" % (dt.str, order, fmt)
    for shape_name, shape in SHAPES.items():
        rng = rng_for("%s %s" % (name, shape_name))
        a = random_array(dt, shape, rng)
        what = "%s %s %r" % (name, shape_name, shape)
        with mm.tmpdir() as d:
            if fmt == "raw":
                offset = [13, 64, 4099, 1][case_index % 4]
                path = mm.write_raw(os.path.join(d, "data.dat"), a, order=order, offset=offset)
                dataset = {"path": "data.dat", "dtype": spelling, "shape": list(shape),
                           "order": order, "offset": offset}
                if case_index % 2:
                    dataset["format"] = "raw"
                exp_offset, exp_order = offset, order
            else:
                version = [(1, 0), (2, 0), (3, 0)][case_index % 3]
                fname = "data.bin" if case_index % 5 == 0 else "data.npy"
                path = mm.write_npy(os.path.join(d, fname), a, order=order, version=version)
                dataset = {"path": fname}
                if case_index % 3 == 1:
                    dataset["format"] = "npy"
                elif case_index % 3 == 2:
                    dataset["format"] = "auto"
                exp_offset, exp_order = mm.npy_header_len(path), npy_order(path)
            doc = run_and_check(d, dataset, analyses_for(len(shape)), a, what)
            check_dataset(doc, path, fmt, dt.str, shape, exp_order, exp_offset)


def register_matrix():
    i = 0
    for spelling, _label in DTYPES:
        for order in ("C", "F"):
            for fmt in ("raw", "npy"):
                dt = np.dtype(spelling)
                name = "stats %s %s %s" % (dt.str, order, fmt)
                mm.add_test(name, lambda s=spelling, o=order, f=fmt, k=i: matrix_case(s, o, f, k))
                i += 1


register_matrix()


# --------------------------------------------------------------------------
# Arrays that span several blocks (blocks are about 1 MiB)

MULTIBLOCK = ["bool", "int8", ">u1", ">i2", "<u2", "<i4", ">u4", ">i8", "<u8",
              ">f2", "float32", ">f8"]


def multiblock_case(spelling, k):
    dt = np.dtype(spelling)
    target = 3 * (1 << 20) if dt.kind == "f" and dt.itemsize == 4 else int(2.5 * (1 << 20))
    lanes = 4
    n = target // (dt.itemsize * lanes)
    order = "C" if k % 2 == 0 else "F"
    shape = (n, lanes) if order == "C" else (lanes, n)
    long_axis = 0 if order == "C" else 1
    rng = rng_for("multiblock %s" % spelling)
    a = random_array(dt, shape, rng, nan_fraction=0.01, nan_lanes=False)
    if dt.kind == "f":
        # One lane entirely NaN.
        if order == "C":
            a[:, 1] = np.nan
        else:
            a[1, :] = np.nan
    analyses = [
        ({"name": "all", "op": "stats"}, None, 0, FIELDS),
        ({"name": "lanes", "op": "stats", "axis": long_axis, "ddof": 1}, long_axis, 1, FIELDS),
        ({"name": "lanes_neg", "op": "stats", "axis": long_axis - 2, "ddof": 0}, long_axis, 0, FIELDS),
    ]
    with mm.tmpdir() as d:
        if k % 4 < 2:
            path = mm.write_raw(os.path.join(d, "big.dat"), a, order=order, offset=100)
            dataset = {"path": "big.dat", "dtype": spelling, "shape": list(shape), "order": order,
                       "offset": 100}
            fmt, offset = "raw", 100
        else:
            path = mm.write_npy(os.path.join(d, "big.npy"), a, order=order)
            dataset = {"path": "big.npy"}
            fmt, offset = "npy", mm.npy_header_len(path)
        doc = run_and_check(d, dataset, analyses, a, "multiblock %s %r %s" % (dt.str, shape, order))
        check_dataset(doc, path, fmt, dt.str, shape, order, offset)


for _k, _sp in enumerate(MULTIBLOCK):
    mm.add_test("stats multiblock %s" % np.dtype(_sp).str, lambda s=_sp, k=_k: multiblock_case(s, k))


# --------------------------------------------------------------------------
# Infinities: the one-read pieces of a block shift by the running mean,
# which an infinity makes infinite; numpy gives sum inf, mean inf, var nan.


def infinity_case(spelling):
    dt = np.dtype(spelling)
    rng = rng_for("infinity %s" % spelling)
    a = random_array(dt, (60000, 10), rng, nan_fraction=0.01, nan_lanes=False)
    a[0, 7] = np.inf            # in a block's first piece
    a[50000, 3] = np.inf        # in a later piece
    a[20000, 5] = np.inf        # both signs: sum and mean NaN
    a[40000, 5] = -np.inf
    with mm.tmpdir() as d:
        mm.write_raw(os.path.join(d, "inf.dat"), a)
        dataset = {"path": "inf.dat", "dtype": spelling, "shape": list(a.shape)}
        analyses = [({"name": "cols", "op": "stats", "axis": 0}, 0, 0, FIELDS),
                    ({"name": "all", "op": "stats"}, None, 0, FIELDS)]
        for workers in ("1", "3"):
            run_and_check(d, dataset, analyses, a, "infinities %s, %s workers" % (spelling, workers),
                          workers=workers)
        # Only +inf in the whole array: the global sum and mean are inf.
        b = a.copy()
        b[:, 5] = np.nan_to_num(b[:, 5], neginf=0.0)
        mm.write_raw(os.path.join(d, "inf.dat"), b)
        run_and_check(d, dataset, [({"name": "all", "op": "stats"}, None, 1, FIELDS)], b,
                      "+inf only %s" % spelling)


for _sp in ("<f4", ">f4", "<f8"):
    mm.add_test("stats with infinities %s" % _sp, lambda s=_sp: infinity_case(s))


@mm.test("stats: the AVX-512, AVX2 and baseline kernels (MMRUN_SIMD) give byte-identical results")
def _():
    rng = rng_for("simd copies")
    with mm.tmpdir() as d:
        for spelling, shape in (("<f4", (300001, 10)), ("<f4", (200000, 3)), ("<f8", (150000, 7))):
            a = random_array(np.dtype(spelling), shape, rng, nan_fraction=0.02, nan_lanes=False)
            mm.write_raw(os.path.join(d, "x.dat"), a)
            cfg = mm.write_config(d, {"dataset": {"path": "x.dat", "dtype": spelling, "shape": list(shape)},
                                      "analyses": [{"name": "all", "op": "stats"},
                                                   {"name": "cols", "op": "stats", "axis": 0}]})
            outs = []
            # A copy the CPU lacks gives the best it has: still the same bytes.
            for simd in ("", "base", "avx2", "avx512"):
                res = mm.run_mmrun(["-q", "-w", "2", cfg], extra_env={"MMRUN_SIMD": simd})
                mm.eq(res.code, 0, "exit with MMRUN_SIMD=%r: %s" % (simd, res.err))
                outs.append(json.dumps(json.loads(res.out)["results"]))
            for simd, out in zip(("base", "avx2", "avx512"), outs[1:]):
                mm.eq(out, outs[0], "%s %r: results with MMRUN_SIMD=%s" % (spelling, shape, simd))


# --------------------------------------------------------------------------
# A mean large against the spread (timestamps, offsets): numpy's two-pass
# variance keeps every digit; a merge of piece means rounded at the mean's
# scale lost them (1.8e-10 relative at 1.7e9 + U(0, 10), 1e-9 at 1e10).


def exact_moments(a, axis):
    """Mean and variance (ddof 0) in long double, two passes, of the values
    less the first (an exact subtraction here): a long double sum of 3.6e6
    values of 1e15 is itself off in the variance's 12th digit."""
    k = a.flat[0]
    x = ((a.astype(np.int64) - np.int64(k)) if a.dtype.kind == "i" else (a - k)).astype(np.longdouble)
    m = x.mean(axis=axis)
    v = ((x - (m if axis is None else np.expand_dims(m, axis))) ** 2).mean(axis=axis)
    return (m + np.longdouble(k)).astype(np.float64), v.astype(np.float64)


def raw_and_hdf5_runs(d, a, spelling, analyses, chunks, check):
    """Runs `analyses` on `a` as a raw file and as a chunked HDF5 dataset
    (`chunks`), with 1 and 3 workers; check(results, what) on each, and the
    3-worker results must equal the 1-worker ones byte for byte."""
    import h5py
    mm.write_raw(os.path.join(d, "t.dat"), a)
    with h5py.File(os.path.join(d, "t.h5"), "w") as f:
        f.create_dataset("x", data=a, chunks=chunks)
    for dataset in ({"path": "t.dat", "dtype": spelling, "shape": list(a.shape)},
                    {"path": "t.h5", "name": "x"}):
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": analyses})
        docs = []
        for workers in ("1", "3"):
            doc, _res = mm.run_ok(["-q", "-w", workers, cfg])
            docs.append(doc["results"])
            check(doc["results"], "%s %s, %s workers" % (spelling, dataset["path"], workers))
        mm.eq(docs[1], docs[0], "%s %s: 3 workers vs 1" % (spelling, dataset["path"]))
    os.unlink(os.path.join(d, "t.dat"))


@mm.test("stats: var, std and mean of data with a large mean keep numpy's digits (every path)")
def _():
    rng = rng_for("large mean")
    n = 1_200_000  # several blocks and many 32 KiB pieces, in every layout below
    cases = [
        ("<f8", 1.7e9 + rng.uniform(0, 10, (n, 3))),
        (">f8", 1e10 + rng.uniform(0, 10, (n, 3))),
        ("<i8", 10**15 + rng.integers(0, 1000, (n, 3))),
        ("<i4", 2 * 10**9 + rng.integers(0, 100, (n, 3))),
        ("<f4", 273.15 + rng.normal(0, 0.5, (n, 3))),
    ]
    analyses = [{"name": "all", "op": "stats", "stats": ["mean", "var", "std"]},
                {"name": "cols", "op": "stats", "axis": 0, "stats": ["mean", "var", "std"]}]
    with mm.tmpdir() as d:
        for spelling, values in cases:
            a = values.astype(spelling)
            moments = {name: exact_moments(a, axis) for name, axis in (("all", None), ("cols", 0))}

            def check(results, what):
                for name, (mean, var) in moments.items():
                    r = results[name]
                    w = "%s %s" % (what, name)
                    # 1e-12, not 1e-15: a chunk's column of 50,000
                    # values adds its squares in order (1e-13 here).
                    mm.assert_close(r["mean"], mean, rtol=1e-15, what=w + ": mean")
                    mm.assert_close(r["var"], var, rtol=1e-12, what=w + ": var")
                    mm.assert_close(r["std"], np.sqrt(var), rtol=1e-12, what=w + ": std")
            raw_and_hdf5_runs(d, a, spelling, analyses, (50_000, 1), check)


@mm.test("stats: values near the float64 range, and a first piece far from the rest (review findings)")
def _():
    import math
    n = 2_000_000
    far = np.random.default_rng(6).uniform(0, 1, n)
    far[:4096] += 1e8  # the first 32 KiB piece
    far[4096:] -= 1e8 * 4096 / (n - 4096)
    cases = [
        # Deviations overflow: numpy's mean, var inf (was mean -inf, var NaN).
        ("nearmax", np.array([1.7e308, -1.7e308, 1.7e308]), np.inf, 1e-12),
        # Squares overflow: var inf (was NaN).
        ("huge", np.random.default_rng(2).normal(0, 1, 1000) * 1e200, np.inf, 1e-12),
        # The running mean must follow the data: 1.4e-8 relative off
        # before; numpy is 8e-11 off (differences at the scale of 1e8).
        ("far first piece", far, None, 1e-9),
    ]
    with mm.tmpdir() as d:
        for what, a, var, rtol in cases:
            mm.write_raw(os.path.join(d, "x.dat"), a)
            cfg = mm.write_config(d, {"dataset": {"path": "x.dat", "dtype": "<f8", "shape": [a.size]},
                                      "analyses": [{"name": "s", "op": "stats"}]})
            docs = []
            for w in ("1", "3"):
                doc, _res = mm.run_ok(["-q", "-w", w, cfg])
                docs.append(doc["results"])
                r = doc["results"]["s"]
                mean = math.fsum(a) / a.size
                mm.assert_close(r["mean"], mean, rtol=rtol, what="%s: mean" % what)
                if var is not None:
                    mm.eq((r["var"], r["std"]), (np.inf, np.inf), "%s: var, std" % what)
                else:
                    _m, v = exact_moments(a, None)
                    mm.assert_close(r["var"], v, rtol=1e-12, what="%s: var" % what)
            mm.eq(docs[1], docs[0], "%s: 3 workers vs 1" % what)


def exact_int_var(a, axis):
    """Variance (ddof 0) of integers in exact integer arithmetic: n^2 var =
    n sum x^2 - (sum x)^2, one division at the end (Python ints)."""
    x = a.astype(object)
    n = a.size if axis is None else a.shape[axis]
    s, q = x.sum(axis=axis), (x * x).sum(axis=axis)
    v = (q * n - s * s)
    if axis is None:
        return float(v / (n * n))
    return np.array([float(e / (n * n)) for e in v.flat]).reshape(v.shape)


@mm.test("stats: 64-bit integers beyond 2^53 keep an exact variance (nanosecond timestamps, range ends)")
def _():
    # double(x) rounds such values to 53 bits: 2^60 + U(0, 1000) loses 8
    # bits a value, and the variance came out 13 % off (numpy's 84 % off);
    # deviations from the integer part of the mean are exact.
    rng = rng_for("int64 beyond 2^53")
    n = 400_000
    i64 = np.iinfo(np.int64)
    cases = [
        ("<i8", 1_733_000_000_000_000_000 + rng.integers(0, 1000, (n, 3))),  # ns timestamps
        (">i8", 2**60 + rng.integers(0, 1000, (n, 3))),
        ("<u8", (2**64 - 1) - rng.integers(0, 100, (n, 3), dtype=np.uint64)),
        # The first three fail on the old rounding; these two pass either
        # way and pin the uint64 branch and the int128 fallback.
        ("<u8", 2**63 + rng.integers(0, 2**50, (n, 3), dtype=np.uint64)),
        ("<i8", np.where(rng.random((n, 3)) < 0.5, i64.min + rng.integers(0, 9, (n, 3)),
                         i64.max - rng.integers(0, 9, (n, 3)))),  # a spread beyond 2^63
    ]
    analyses = [{"name": "all", "op": "stats", "stats": ["mean", "var"]},
                {"name": "cols", "op": "stats", "axis": 0, "stats": ["var"]},
                {"name": "rows", "op": "stats", "axis": 1, "stats": ["var"]}]
    with mm.tmpdir() as d:
        for spelling, values in cases:
            a = values.astype(spelling)
            want = {"all": exact_int_var(a, None), "cols": exact_int_var(a, 0),
                    "rows": exact_int_var(a[:2000], 1)}
            mean = float(sum(int(x) for x in a.flat) / a.size)

            def check(r, w):
                mm.assert_close(r["all"]["mean"], mean, rtol=1e-15, what=w + ": mean")
                mm.assert_close(r["all"]["var"], want["all"], rtol=1e-13, what=w + ": var")
                mm.assert_close(r["cols"]["var"], want["cols"], rtol=1e-13, what=w + ": var axis 0")
                mm.assert_close(r["rows"]["var"][:2000], want["rows"], rtol=1e-13, what=w + ": var axis 1")
            raw_and_hdf5_runs(d, a, spelling, analyses, (30_000, 2), check)


# --------------------------------------------------------------------------
# Shape -1 and trailing bytes


@mm.test("stats shape -1 with trailing bytes, C order raw int32")
def _():
    rng = rng_for("minus1 C")
    a = random_array(np.dtype("<i4"), (1234, 7), rng)
    with mm.tmpdir() as d:
        path = mm.write_raw(os.path.join(d, "data.dat"), a, order="C", offset=5, trailing=b"\x01" * 11)
        dataset = {"path": "data.dat", "dtype": "<i4", "shape": [-1, 7], "offset": 5}
        analyses = [({"name": "cols", "op": "stats", "axis": 0}, 0, 0, FIELDS),
                    ({"name": "all", "op": "stats", "ddof": 1}, None, 1, FIELDS)]
        doc = run_and_check(d, dataset, analyses, a, "shape [-1, 7]")
        check_dataset(doc, path, "raw", "<i4", (1234, 7), "C", 5, trailing=11)


@mm.test("stats shape -1 with trailing bytes, F order raw float64")
def _():
    rng = rng_for("minus1 F")
    a = random_array(np.dtype(">f8"), (3, 2001), rng)
    with mm.tmpdir() as d:
        # A partial last row (column, in F order) of 3*8 bytes is 24 bytes; add 23.
        path = mm.write_raw(os.path.join(d, "data.dat"), a, order="F", offset=0,
                            trailing=b"\x7f" * 23)
        dataset = {"path": "data.dat", "dtype": ">f8", "shape": [3, -1], "order": "F"}
        analyses = [({"name": "rows", "op": "stats", "axis": 1}, 1, 0, FIELDS),
                    ({"name": "cols", "op": "stats", "axis": -2, "ddof": 1}, 0, 1, FIELDS)]
        doc = run_and_check(d, dataset, analyses, a, "shape [3, -1] F")
        check_dataset(doc, path, "raw", ">f8", (3, 2001), "F", 0, trailing=23)


@mm.test("stats shape -1 on a 1-d file with trailing bytes and a large 3 MiB span")
def _():
    rng = rng_for("minus1 1d")
    n = (3 << 20) // 4 + 77
    a = random_array(np.dtype("<f4"), (n,), rng, nan_fraction=0.02)
    with mm.tmpdir() as d:
        path = mm.write_raw(os.path.join(d, "data.dat"), a, offset=3, trailing=b"\x00\x01\x02")
        dataset = {"path": "data.dat", "dtype": "f4", "shape": [-1], "offset": 3}
        analyses = [({"name": "all", "op": "stats", "ddof": 1}, None, 1, FIELDS)]
        doc = run_and_check(d, dataset, analyses, a, "shape [-1]")
        check_dataset(doc, path, "raw", "<f4", (n,), "C", 3, trailing=3)


# --------------------------------------------------------------------------
# Edge cases of NaN, ddof and axis


@mm.test("stats all-NaN array gives count 0, sum 0 and NaN elsewhere")
def _():
    a = np.full((50, 3), np.nan, dtype="<f4")
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "nan.npy"), a)
        analyses = [({"name": "all", "op": "stats"}, None, 0, FIELDS),
                    ({"name": "cols", "op": "stats", "axis": 0, "ddof": 1}, 0, 1, FIELDS)]
        doc = run_and_check(d, {"path": "nan.npy"}, analyses, a, "all-NaN")
        r = doc["results"]["all"]
        mm.eq(r["count"], 0, "count")
        mm.eq(r["nan_count"], 150, "nan_count")
        mm.eq(r["sum"], 0, "sum")
        for f in ("mean", "var", "std", "min", "max"):
            mm.check(isinstance(r[f], float) and np.isnan(r[f]), "%s: expected NaN, got %r" % (f, r[f]))


@mm.test("stats NaN is printed as the string NaN")
def _():
    a = np.array([[1.0, np.nan], [2.0, np.nan]], dtype="<f8")
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"},
                                  "analyses": [{"op": "stats", "axis": 0}]})
        res = mm.run_mmrun(["-q", "--workers", WORKERS, cfg])
        mm.check(res.code == 0, mm.describe([cfg], res))
        raw = mm.parse_doc(res.out, convert=False)
        mm.eq(raw["results"]["stats"]["mean"], [1.5, "NaN"], "raw mean")
        mm.eq(raw["results"]["stats"]["min"], [1.0, "NaN"], "raw min")
        mm.eq(raw["results"]["stats"]["count"], [2, 0], "raw count")
        mm.eq(raw["results"]["stats"]["sum"], [3.0, 0], "raw sum")
        mm.assert_no_leftovers(d)


@mm.test("stats lanes of one value: var is NaN with ddof 1, 0 with ddof 0")
def _():
    rng = rng_for("len1")
    a = random_array(np.dtype("<f8"), (5, 1, 3), rng, nan_fraction=0.0, nan_lanes=False)
    b = random_array(np.dtype("<i2"), (5, 1, 3), rng)
    for arr, label in ((a, "f8"), (b, "i2")):
        with mm.tmpdir() as d:
            mm.write_npy(os.path.join(d, "x.npy"), arr)
            analyses = [({"name": "d0", "op": "stats", "axis": 1, "ddof": 0}, 1, 0, FIELDS),
                        ({"name": "d1", "op": "stats", "axis": 1, "ddof": 1}, 1, 1, FIELDS),
                        ({"name": "d2", "op": "stats", "axis": [0, 1], "ddof": 2}, [0, 1], 2, FIELDS)]
            doc = run_and_check(d, {"path": "x.npy"}, analyses, arr, "len-1 lanes " + label)
            var = doc["results"]["d1"]["var"]
            mm.check(all(np.isnan(v) for row in var for v in row), "var with ddof 1 on 1 value: %r" % var)


@mm.test("stats ddof equal to the count gives NaN var (numpy nanvar rule)")
def _():
    a = np.array([[1.0, 2.0, np.nan], [4.0, np.nan, np.nan]], dtype="<f8")
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), a)
        analyses = [({"name": "r", "op": "stats", "axis": 1, "ddof": 1}, 1, 1, FIELDS),
                    ({"name": "r2", "op": "stats", "axis": 1, "ddof": 2}, 1, 2, FIELDS)]
        run_and_check(d, {"path": "x.npy"}, analyses, a, "ddof vs count")


@mm.test("stats axis lists: negative entries and any order")
def _():
    rng = rng_for("axis lists")
    a = random_array(np.dtype("<f4"), (4, 6, 5, 3), rng)
    with mm.tmpdir() as d:
        mm.write_raw(os.path.join(d, "x.dat"), a, order="F", offset=8)
        dataset = {"path": "x.dat", "dtype": "float32", "shape": [4, 6, 5, 3], "order": "F",
                   "offset": 8}
        analyses = [({"name": "a", "op": "stats", "axis": [-1, 0]}, [0, 3], 0, FIELDS),
                    ({"name": "b", "op": "stats", "axis": [2, 0, 1]}, [0, 1, 2], 1, FIELDS),
                    ({"name": "c", "op": "stats", "axis": [-3], "ddof": 1}, [1], 1, FIELDS),
                    ({"name": "d", "op": "stats", "axis": [0, 1, 2, 3]}, None, 0, FIELDS),
                    ({"name": "e", "op": "stats", "axis": -4}, 0, 0, FIELDS)]
        for spec, axis, ddof, _f in analyses:
            spec["ddof"] = ddof
        run_and_check(d, dataset, analyses, a, "axis lists 4-d F")


@mm.test("stats axis [] reduces nothing (CHOICES)")
def _():
    rng = rng_for("axis empty")
    a = random_array(np.dtype("<f8"), (4, 3), rng, nan_fraction=0.3, nan_lanes=False)
    a[0, 0] = np.nan
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), a)
        analyses = [({"name": "e", "op": "stats", "axis": []}, [], 0, FIELDS)]
        run_and_check(d, {"path": "x.npy"}, analyses, a, "axis []")


@mm.test("stats subset keeps only the listed fields, in SPEC order")
def _():
    rng = rng_for("subset")
    a = random_array(np.dtype(">i8"), (300, 4), rng)
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), a)
        subsets = [["max", "count", "mean"], ["var"], ["std", "nan_count"], ["sum", "min"],
                   list(reversed(FIELDS))]
        analyses = []
        for i, s in enumerate(subsets):
            analyses.append(({"name": "s%d" % i, "op": "stats", "axis": i % 2, "ddof": 1, "stats": s},
                             i % 2, 1, s))
        run_and_check(d, {"path": "x.npy"}, analyses, a, "subset")


@mm.test("stats name defaults to the op")
def _():
    a = np.arange(12, dtype="<u2").reshape(3, 4)
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "x.npy"}, "analyses": [{"op": "stats"}]})
        doc, _ = mm.run_ok(["-q", "--workers", WORKERS, cfg])
        mm.eq(list(doc["results"].keys()), ["stats"], "result names")
        check_stats(doc["results"]["stats"], a, None, 0)
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Exact integer sums


@mm.test("stats uint64 sums beyond 2^64 are exact decimal strings")
def _():
    rng = rng_for("u64 big")
    top = np.iinfo(np.uint64).max
    a = (np.uint64(top) - rng.integers(0, 1000, size=(200, 3), dtype=np.uint64)).astype(">u8")
    a[0, 0] = top
    a[:, 2] = rng.integers(0, 5, size=200, dtype=np.uint64)   # a lane whose sum fits
    with mm.tmpdir() as d:
        mm.write_raw(os.path.join(d, "x.dat"), a, offset=0)
        dataset = {"path": "x.dat", "dtype": ">u8", "shape": [200, 3]}
        analyses = [({"name": "all", "op": "stats"}, None, 0, FIELDS),
                    ({"name": "cols", "op": "stats", "axis": 0}, 0, 0, FIELDS)]
        doc = run_and_check(d, dataset, analyses, a, "u64 big")
        got = doc["results"]["all"]["sum"]
        mm.check(isinstance(got, str), "sum beyond 2^64 must be a string, got %r" % got)
        mm.eq(int(got), int(a.astype(object).sum()), "sum")
        mm.check(isinstance(doc["results"]["cols"]["sum"][2], int), "a small sum must be a JSON integer")
        mm.eq(doc["results"]["all"]["max"], int(top), "max (exact, 2^64-1)")


@mm.test("stats int64 sums below -2^63 are exact decimal strings; extremes exact")
def _():
    rng = rng_for("i64 big")
    lo = np.iinfo(np.int64).min
    a = (lo + rng.integers(0, 1000, size=(100, 2), dtype=np.int64)).astype("<i8")
    a[0, 1] = np.iinfo(np.int64).max
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "x.npy"), a, order="F")
        analyses = [({"name": "all", "op": "stats"}, None, 0, FIELDS),
                    ({"name": "rows", "op": "stats", "axis": 1}, 1, 0, FIELDS)]
        doc = run_and_check(d, {"path": "x.npy"}, analyses, a, "i64 big")
        got = doc["results"]["all"]["sum"]
        mm.check(isinstance(got, str) and got.startswith("-"),
                 "sum below -2^63 must be a negative decimal string, got %r" % got)
        mm.eq(int(got), int(a.astype(object).sum()), "sum")
        mm.eq(doc["results"]["all"]["min"], int(lo), "min")
        mm.eq(doc["results"]["all"]["max"], int(np.iinfo(np.int64).max), "max")


@mm.test("stats bool: sum counts True, min/max are integers 0/1")
def _():
    a = np.zeros((7, 5), dtype=bool)
    a[1, :] = True
    a[:, 3] = True
    a[4, 0] = True
    with mm.tmpdir() as d:
        mm.write_raw(os.path.join(d, "b.dat"), a.view(np.uint8) * 1, offset=2)
        dataset = {"path": "b.dat", "dtype": "?", "shape": [7, 5], "offset": 2}
        analyses = [({"name": "all", "op": "stats"}, None, 0, FIELDS),
                    ({"name": "cols", "op": "stats", "axis": 0}, 0, 0, FIELDS),
                    ({"name": "rows", "op": "stats", "axis": 1, "ddof": 1}, 1, 1, FIELDS)]
        doc = run_and_check(d, dataset, analyses, a, "bool")
        r = doc["results"]["all"]
        mm.eq(r["sum"], int(a.sum()), "sum")
        mm.check(type(r["min"]) is int and type(r["max"]) is int,
                 "bool min/max must be integers, got %r %r" % (r["min"], r["max"]))
        mm.eq((r["min"], r["max"]), (0, 1), "min, max")


@mm.test("stats bool stored as nonzero bytes other than 1 counts them as True")
def _():
    raw = np.array([0, 1, 2, 255, 0, 7], dtype=np.uint8)
    a = raw != 0
    with mm.tmpdir() as d:
        mm.write_raw(os.path.join(d, "b.dat"), raw, offset=0)
        dataset = {"path": "b.dat", "dtype": "bool", "shape": [6]}
        analyses = [({"name": "all", "op": "stats"}, None, 0, FIELDS)]
        run_and_check(d, dataset, analyses, a, "bool bytes")


@mm.test("stats float16 special values: subnormals, max, negative zero")
def _():
    vals = np.array([6e-8, -6e-8, 65504.0, -65504.0, -0.0, 0.0, 1e-4, np.nan, 3.140625],
                    dtype="<f2")
    a = np.tile(vals, (20, 1)).astype(">f2")
    with mm.tmpdir() as d:
        mm.write_npy(os.path.join(d, "h.npy"), a)
        analyses = [({"name": "all", "op": "stats"}, None, 0, FIELDS),
                    ({"name": "cols", "op": "stats", "axis": 0, "ddof": 1}, 0, 1, FIELDS)]
        run_and_check(d, {"path": "h.npy"}, analyses, a, "float16 specials")


@mm.test("stats with more than 1,000,000 numbers writes PREFIX.FIELD.npy equal to numpy; without output it is exit 78")
def _():
    rng = rng_for("large result")
    a = rng.integers(-300, 300, size=(130000, 9)).astype(">i2")
    a64 = a.astype(np.float64)
    with mm.tmpdir() as d:
        mm.write_raw(os.path.join(d, "x.dat"), a)
        dataset = {"path": "x.dat", "dtype": ">i2", "shape": [130000, 9]}
        bad = mm.write_config(d, {"dataset": dataset, "analyses": [{"op": "stats", "axis": 1}]}, name="bad.json")
        mm.assert_error(mm.run_mmrun(["-q", bad]), 78, ["output"], args=[bad])
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": [{"op": "stats", "axis": -1, "ddof": 1,
                                                                    "output": "out/rows"}]})
        os.makedirs(os.path.join(d, "out"))
        texts = set()
        for w in (1, 3):
            doc, res = mm.run_ok(["-q", "-w", w, cfg])
            files = doc["results"]["stats"]["files"]
            mm.eq(doc["results"]["stats"]["shape"], [130000], "shape")
            texts.add(tuple(open(files[f], "rb").read() for f in FIELDS))
        mm.eq(len(texts), 1, "files identical for 1 and 3 workers")
        want = {"count": np.full(130000, 9), "nan_count": np.zeros(130000), "sum": a64.sum(1),
                "mean": a64.mean(1), "var": a64.var(1, ddof=1), "std": a64.std(1, ddof=1),
                "min": a64.min(1), "max": a64.max(1)}
        for f in FIELDS:
            got = np.load(files[f])
            mm.eq(got.dtype.kind, "i" if f in ("count", "nan_count", "sum", "min", "max") else "f", f + " dtype")
            mm.check(np.allclose(got, want[f], rtol=1e-12, atol=1e-9), f + " differs from numpy")
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
