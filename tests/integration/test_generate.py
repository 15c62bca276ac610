"""The `generate` analysis (SPEC §3 `generate`, CHOICES "generate").

Files are created with mode w+, read back with numpy (np.fromfile honoring
order, np.load) and compared with numpy: arange and constant exactly,
uniform and normal statistically. The bytes must not depend on the worker
count or the launch mode, and F order must store the same logical array.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_generate.py [FILTER...]
"""

import io
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

DTYPES = ["bool", "int8", "u1", "<i2", ">i2", "uint16", ">u2", "int32", ">i4", "<u4", ">u4",
          "i8", ">i8", "uint64", ">u8", "float16", ">f2", "<f4", ">f4", "float64", ">f8"]


def generate(folder, name, dtype, shape, order, fill, workers=3, launch=None, cfg_name="config.json",
             cwd=None, extra=None):
    """Runs a generate config; returns (document, absolute path of the file)."""
    dataset = {"path": name, "dtype": dtype, "shape": list(shape), "order": order, "mode": "w+"}
    cfg = {"dataset": dataset, "analyses": [{"op": "generate", "fill": fill}]}
    if extra:
        cfg["analyses"].extend(extra)
    cfg_path = mm.write_config(folder, cfg, cfg_name)
    args = ["-q", "--workers", workers]
    if launch:
        args += ["--launch", launch]
    doc, _ = mm.run_ok(args + [cfg_path], cwd=cwd)
    path = os.path.join(folder, name)
    mm.check(os.path.isfile(path), "generate did not create %s" % path)
    mm.assert_no_leftovers(folder)
    return doc, path


def expected_bytes(dtype, shape):
    return int(np.prod(shape)) * np.dtype(dtype).itemsize


def read_back(path, dtype, shape, order):
    """The logical array in the file, checking its size/header first."""
    dt = np.dtype(dtype)
    if path.endswith(".npy"):
        a = np.load(path, allow_pickle=False)
        mm.eq(a.dtype.str, dt.str, "np.load dtype of %s" % os.path.basename(path))
        mm.eq(a.shape, tuple(shape), "np.load shape")
        if len(shape) > 1:
            mm.eq(bool(a.flags.f_contiguous and not a.flags.c_contiguous), order == "F",
                  "fortran_order of the .npy header")
        data_len = os.path.getsize(path) - mm.npy_header_len(path)
        mm.eq(data_len, expected_bytes(dt, shape), "data bytes after the .npy header")
        return a
    mm.eq(os.path.getsize(path), expected_bytes(dt, shape), "size of raw file %s" % path)
    return np.fromfile(path, dtype=dt).reshape(shape, order=order)


def check_result(doc, path, dtype, shape):
    r = doc.get("results", {}).get("generate")
    mm.check(isinstance(r, dict), "no results.generate in %r" % (doc.get("results"),))
    mm.check(mm.same_path(r.get("path"), path), "results.generate.path: %r" % r.get("path"))
    mm.eq(r.get("format"), "npy" if path.endswith(".npy") else "raw", "results.generate.format")
    mm.eq(r.get("dtype"), np.dtype(dtype).str, "results.generate.dtype")
    mm.eq(r.get("shape"), list(shape), "results.generate.shape")
    mm.eq(r.get("bytes"), os.path.getsize(path), "results.generate.bytes")


def arange_expected(dtype, shape):
    n = int(np.prod(shape))
    with np.errstate(all="ignore"):
        return np.arange(n, dtype=np.int64).astype(np.dtype(dtype)).reshape(shape)


def assert_array_equal(got, exp, what):
    mm.eq(got.shape, exp.shape, what + " shape")
    g = np.asarray(got).astype(got.dtype.newbyteorder("="))
    e = np.asarray(exp).astype(exp.dtype.newbyteorder("="))
    if g.dtype.kind == "f":
        same = (g == e) | (np.isnan(g) & np.isnan(e))
        same &= np.signbit(g) == np.signbit(e)
    else:
        same = g == e
    if not same.all():
        idx = np.argwhere(~same)[0]
        raise mm.Fail("%s: %d elements differ; first at %s: got %r, expected %r"
                      % (what, int((~same).sum()), tuple(idx.tolist()), g[tuple(idx)], e[tuple(idx)]))


# --------------------------------------------------------------------------
# arange and constant: exact


def arange_case(dtype, k):
    shape = (300, 7) if k % 2 == 0 else (13, 17, 11)
    exp = arange_expected(dtype, shape)
    for order in ("C", "F"):
        for ext in (".dat", ".npy"):
            with mm.tmpdir() as d:
                doc, path = generate(d, "g" + ext, dtype, shape, order, {"kind": "arange"})
                check_result(doc, path, dtype, shape)
                got = read_back(path, dtype, shape, order)
                assert_array_equal(got, exp, "arange %s %s %s" % (dtype, order, ext))


for _k, _dt in enumerate(DTYPES):
    mm.add_test("generate arange %s" % np.dtype(_dt).str, lambda dt=_dt, k=_k: arange_case(dt, k))


CONSTANTS = [
    ("bool", 1), ("bool", 0), ("int8", -128), ("u1", 200.9), ("<i2", -3.7), (">i2", 12345),
    (">u2", 65535), ("int32", -2147483648), (">u4", 4294967295), ("i8", -9223372036854775808),
    (">i8", 9223372036854775807), ("uint64", 18446744073709551615), (">u8", 12345678901234567),
    ("float16", 0.1), (">f2", -65504.0), ("<f4", 0.1), (">f4", 3.4e38), ("float64", 0.1),
    (">f8", -1e-300),
]


@mm.test("generate constant: the value cast as numpy.full does")
def _():
    for i, (dtype, value) in enumerate(CONSTANTS):
        shape = (40, 3) if i % 2 else (2, 5, 4)
        order = "CF"[i % 2]
        ext = [".dat", ".npy"][(i // 2) % 2]
        with mm.tmpdir() as d:
            doc, path = generate(d, "c" + ext, dtype, shape, order, {"kind": "constant", "value": value})
            check_result(doc, path, dtype, shape)
            got = read_back(path, dtype, shape, order)
            exp = np.full(shape, value, dtype=np.dtype(dtype))
            assert_array_equal(got, exp, "constant %r as %s" % (value, dtype))


@mm.test("generate constant out of the dtype's range is a config error (78)")
def _():
    for dtype, value in (("int8", 300), ("u1", -1), (">u2", 70000), ("int64", 2 ** 63)):
        with mm.tmpdir() as d:
            cfg = mm.write_config(d, {
                "dataset": {"path": "c.dat", "dtype": dtype, "shape": [4], "mode": "w+"},
                "analyses": [{"op": "generate", "fill": {"kind": "constant", "value": value}}]})
            res = mm.run_mmrun(["-q", cfg])
            mm.assert_error(res, 78, [("value", "fill")], args=[cfg])
            mm.check(not os.path.exists(os.path.join(d, "c.dat")),
                     "a rejected generate must not create the file (%s %r)" % (dtype, value))
            mm.assert_no_leftovers(d)


@mm.test("generate unknown fill kind is a config error (78)")
def _():
    with mm.tmpdir() as d:
        cfg = mm.write_config(d, {
            "dataset": {"path": "c.dat", "dtype": "f8", "shape": [4], "mode": "w+"},
            "analyses": [{"op": "generate", "fill": {"kind": "poisson", "lam": 3}}]})
        res = mm.run_mmrun(["-q", cfg])
        mm.assert_error(res, 78, ["poisson"], args=[cfg])
        mm.check(not os.path.exists(os.path.join(d, "c.dat")), "file created on a config error")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# uniform and normal: statistics


def z_ok(observed, expected, sigma, z=5.0):
    return abs(observed - expected) <= z * sigma + 1e-12


def norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


UNIFORM = [
    # dtype, low, high, shape, order, ext
    ("float64", -2.0, 3.0, (20000,), "C", ".dat"),
    (">f8", 1e6, 1e6 + 1.0, (100, 200), "F", ".npy"),
    ("<f4", 10.0, 20.0, (200, 100), "C", ".npy"),
    (">f4", -1.0, 1.0, (20000,), "C", ".dat"),
    ("float16", 0.0, 1.0, (100, 200), "F", ".dat"),
    ("int8", -5, 7, (20000,), "C", ".npy"),
    (">i2", -1000, 1000, (50, 400), "F", ".npy"),
    ("u1", 0, 256, (20000,), "C", ".dat"),
    ("<u4", 3, 13, (20000,), "C", ".dat"),
    (">i8", -10 ** 12, 10 ** 12, (20000,), "C", ".npy"),
    ("uint64", 0, 1000, (20000,), "C", ".dat"),
    ("bool", 0, 2, (20000,), "C", ".dat"),
]


@mm.test("generate uniform: values in [low, high), mean and spread as expected")
def _():
    for i, (dtype, low, high, shape, order, ext) in enumerate(UNIFORM):
        dt = np.dtype(dtype)
        what = "uniform %s [%r, %r)" % (dtype, low, high)
        with mm.tmpdir() as d:
            fill = {"kind": "uniform", "low": low, "high": high, "seed": 100 + i}
            doc, path = generate(d, "u" + ext, dtype, shape, order, fill)
            check_result(doc, path, dtype, shape)
            a = read_back(path, dtype, shape, order)
        n = a.size
        if dt.kind == "b":
            frac = float(a.mean())
            mm.check(z_ok(frac, 0.5, math.sqrt(0.25 / n)), "%s: fraction True %r" % (what, frac))
            continue
        if dt.kind in "iu":
            v = a.astype(object if dt.itemsize == 8 else np.int64)
            vmin, vmax = int(v.min()), int(v.max())
            mm.check(vmin >= low and vmax <= high - 1,
                     "%s: values outside [low, high): min %d max %d" % (what, vmin, vmax))
            f = a.astype(np.float64)
            mean_exp = (low + high - 1) / 2.0
            width = high - low
            sd = math.sqrt((width * width - 1) / 12.0)
            if width <= 256:
                counts = np.bincount((a.astype(np.int64) - low).ravel(), minlength=width)
                p = 1.0 / width
                for j, c in enumerate(counts.tolist()):
                    mm.check(z_ok(c, n * p, math.sqrt(n * p * (1 - p)), z=6.0),
                             "%s: value %d appears %d times, expected about %.0f" % (what, low + j, c, n * p))
        else:
            f = a.astype(np.float64)
            mm.check(bool(np.isfinite(f).all()), "%s: non-finite values" % what)
            vmin, vmax = float(f.min()), float(f.max())
            # float64 must stay below high; float32/float16 values are
            # rounded to the dtype and may round up to high itself.
            upper_ok = vmax < high if dt.itemsize == 8 else vmax <= high
            mm.check(vmin >= low and upper_ok, "%s: values outside the range: min %r max %r" % (what, vmin, vmax))
            mean_exp = (low + high) / 2.0
            sd = (high - low) / math.sqrt(12.0)
            counts, _ = np.histogram(f, bins=10, range=(low, high))
            for j, c in enumerate(counts.tolist()):
                mm.check(z_ok(c, n / 10.0, math.sqrt(n * 0.09), z=6.0),
                         "%s: decile %d holds %d values, expected about %d" % (what, j, c, n // 10))
        mm.check(z_ok(float(f.mean()), mean_exp, sd / math.sqrt(n)),
                 "%s: mean %r, expected about %r" % (what, float(f.mean()), mean_exp))
        mm.check(z_ok(float(f.std()), sd, sd / math.sqrt(n) * 1.2),
                 "%s: std %r, expected about %r" % (what, float(f.std()), sd))


NORMAL = [
    ("float64", 5.0, 2.0, (40000,), "C", ".dat"),
    (">f8", -1e3, 10.0, (200, 200), "F", ".npy"),
    ("<f4", 0.0, 1.0, (40000,), "C", ".npy"),
    (">f2", 1.0, 3.0, (40000,), "C", ".dat"),
]


@mm.test("generate normal floats: mean, std and tail fractions")
def _():
    for i, (dtype, mean, std, shape, order, ext) in enumerate(NORMAL):
        what = "normal %s (%r, %r)" % (dtype, mean, std)
        with mm.tmpdir() as d:
            fill = {"kind": "normal", "mean": mean, "std": std, "seed": 7 + i}
            doc, path = generate(d, "n" + ext, dtype, shape, order, fill)
            check_result(doc, path, dtype, shape)
            a = read_back(path, dtype, shape, order)
        f = a.astype(np.float64).ravel()
        n = f.size
        mm.check(bool(np.isfinite(f).all()), "%s: non-finite values" % what)
        mm.check(z_ok(float(f.mean()), mean, std / math.sqrt(n)),
                 "%s: mean %r" % (what, float(f.mean())))
        mm.check(z_ok(float(f.std()), std, std / math.sqrt(2 * n)),
                 "%s: std %r" % (what, float(f.std())))
        for k_sigma in (1.0, 2.0):
            p = norm_cdf(-k_sigma)
            lowfrac = float((f < mean - k_sigma * std).mean())
            mm.check(z_ok(lowfrac, p, math.sqrt(p * (1 - p) / n)),
                     "%s: fraction below mean-%gσ is %r, expected %r" % (what, k_sigma, lowfrac, p))
            p1 = 1 - norm_cdf(k_sigma)
            highfrac = float((f > mean + k_sigma * std).mean())
            mm.check(z_ok(highfrac, p1, math.sqrt(p1 * (1 - p1) / n)),
                     "%s: fraction above mean+%gσ is %r, expected %r" % (what, k_sigma, highfrac, p1))


@mm.test("generate normal integers: round to nearest and saturate")
def _():
    cases = [
        # dtype, mean, std
        ("<i2", 100.0, 30.0),
        ("u1", 250.0, 20.0),      # saturates at 255, must not wrap to 0..
        ("int8", 0.0, 100.0),     # saturates at both ends
        (">u2", 5.0, 10.0),       # saturates at 0
    ]
    n = 40000
    for i, (dtype, mean, std) in enumerate(cases):
        dt = np.dtype(dtype)
        info = np.iinfo(dt)
        what = "normal %s (%r, %r)" % (dtype, mean, std)
        with mm.tmpdir() as d:
            fill = {"kind": "normal", "mean": mean, "std": std, "seed": 31 + i}
            doc, path = generate(d, "n.dat", dtype, (n,), "C", fill)
            check_result(doc, path, dtype, (n,))
            a = read_back(path, dtype, (n,), "C").astype(np.int64)
        # P(value == k) for the rounded, saturated normal.
        def p_at_most(k):
            return norm_cdf((k + 0.5 - mean) / std)
        p_min = p_at_most(info.min)
        p_max = 1 - p_at_most(info.max - 1)
        for label, frac, p in (("at the dtype minimum", float((a == info.min).mean()), p_min),
                               ("at the dtype maximum", float((a == info.max).mean()), p_max)):
            mm.check(z_ok(frac, p, math.sqrt(max(p * (1 - p), 1e-9) / n), z=6.0),
                     "%s: fraction %s is %r, expected %r" % (what, label, frac, p))
        lo_plausible = max(info.min, mean - 6 * std)
        hi_plausible = min(info.max, mean + 6 * std)
        mm.check(a.min() >= lo_plausible - 1 and a.max() <= hi_plausible + 1,
                 "%s: values wrapped or implausible: min %d max %d" % (what, a.min(), a.max()))
        # Mean of values strictly inside the range (unaffected by saturation).
        inside = (a > info.min) & (a < info.max)
        if p_min < 1e-6 and p_max < 1e-6:
            mm.check(z_ok(float(a.mean()), mean, std / math.sqrt(n)), "%s: mean %r" % (what, a.mean()))
            sd = math.sqrt(std * std + 1.0 / 12.0)
            mm.check(z_ok(float(a.std()), sd, sd / math.sqrt(2 * n)), "%s: std %r" % (what, a.std()))
        mm.check(bool(inside.any()), "%s: every value saturated" % what)


@mm.test("generate seeds: same seed same data, another seed other data")
def _():
    with mm.tmpdir() as d:
        outs = []
        for i, seed in enumerate((1, 1, 2)):
            fill = {"kind": "uniform", "low": 0, "high": 1, "seed": seed}
            _doc, path = generate(d, "s%d.dat" % i, "f8", (1000,), "C", fill, cfg_name="c%d.json" % i)
            outs.append(mm.sha256_file(path))
        mm.eq(outs[0], outs[1], "sha256 for the same seed")
        mm.check(outs[0] != outs[2], "seeds 1 and 2 gave the same bytes")
        outs = []
        for i, seed in enumerate((5, 6)):
            fill = {"kind": "normal", "mean": 0, "std": 1, "seed": seed}
            _doc, path = generate(d, "n%d.dat" % i, "f4", (1000,), "C", fill, cfg_name="n%d.json" % i)
            outs.append(mm.sha256_file(path))
        mm.check(outs[0] != outs[1], "normal seeds 5 and 6 gave the same bytes")


# --------------------------------------------------------------------------
# Determinism: worker count, launch mode, order, shape


DETERMINISM = [
    ("uniform f4 3 MiB raw", "<f4", (800000,), "C", ".dat",
     {"kind": "uniform", "low": -1, "high": 1, "seed": 42}),
    ("normal f8 F npy", ">f8", (200000, 3), "F", ".npy",
     {"kind": "normal", "mean": 2, "std": 3, "seed": 9}),
    ("arange i2 F raw", ">i2", (3, 400000), "F", ".dat", {"kind": "arange"}),
    ("constant u8 npy", "uint64", (300000, 2), "C", ".npy", {"kind": "constant", "value": 77}),
]


def determinism_case(dtype, shape, order, ext, fill):
    with mm.tmpdir() as d:
        digests = {}
        for workers, launch in ((1, "fork"), (2, "fork"), (5, "fork"), (2, "spawn"), (5, "spawn"),
                                (16, "spawn")):
            name = "w%d%s%s" % (workers, launch, ext)
            _doc, path = generate(d, name, dtype, shape, order, fill, workers=workers, launch=launch,
                                  cfg_name="c_%d_%s.json" % (workers, launch))
            digests[(workers, launch)] = mm.sha256_file(path)
            os.unlink(path)
        first = digests[(1, "fork")]
        for key, value in digests.items():
            mm.check(value == first, "bytes differ for --workers %d --launch %s (%s vs 1/fork %s)"
                     % (key[0], key[1], value[:12], first[:12]))


for _name, _dt, _shape, _order, _ext, _fill in DETERMINISM:
    mm.add_test("generate same bytes for any --workers/--launch: " + _name,
                lambda dt=_dt, s=_shape, o=_order, e=_ext, f=_fill: determinism_case(dt, s, o, e, f))


@mm.test("generate F order stores the same logical array as C order")
def _():
    fills = [{"kind": "uniform", "low": -3, "high": 5, "seed": 3},
             {"kind": "normal", "mean": 1, "std": 2, "seed": 4},
             {"kind": "arange"}]
    for fill in fills:
        for dtype in ("<f8", ">i4"):
            for ext in (".dat", ".npy"):
                shape = (17, 5, 9)
                with mm.tmpdir() as d:
                    _dc, pc = generate(d, "c" + ext, dtype, shape, "C", fill, cfg_name="c.json")
                    _df, pf = generate(d, "f" + ext, dtype, shape, "F", fill, cfg_name="f.json")
                    ac = read_back(pc, dtype, shape, "C")
                    af = read_back(pf, dtype, shape, "F")
                    assert_array_equal(af, ac, "F vs C %s %s %s" % (fill["kind"], dtype, ext))
                    if ext == ".dat":
                        with open(pf, "rb") as fh:
                            mm.eq(fh.read(), np.asarray(ac).tobytes(order="F"),
                                  "raw F file bytes = column-major bytes of the C array")


@mm.test("generate values depend only on the flat C index (any shape)")
def _():
    fill = {"kind": "uniform", "low": 0, "high": 10, "seed": 11}
    with mm.tmpdir() as d:
        _d1, p1 = generate(d, "a.dat", "<f8", (3000,), "C", fill, cfg_name="a.json")
        _d2, p2 = generate(d, "b.dat", "<f8", (100, 30), "C", fill, cfg_name="b.json")
        _d3, p3 = generate(d, "c.npy", "<f8", (10, 10, 30), "C", fill, cfg_name="c.json")
        a1 = read_back(p1, "<f8", (3000,), "C")
        a2 = read_back(p2, "<f8", (100, 30), "C")
        a3 = read_back(p3, "<f8", (10, 10, 30), "C")
        assert_array_equal(a2.ravel(), a1, "(100, 30) vs (3000,)")
        assert_array_equal(a3.ravel(), a1, "(10, 10, 30) vs (3000,)")


@mm.test("generate byte order: big-endian file holds the same values as little-endian")
def _():
    fill = {"kind": "normal", "mean": 0, "std": 1, "seed": 5}
    with mm.tmpdir() as d:
        _d1, p1 = generate(d, "le.dat", "<f4", (500, 2), "C", fill, cfg_name="le.json")
        _d2, p2 = generate(d, "be.dat", ">f4", (500, 2), "C", fill, cfg_name="be.json")
        a1 = read_back(p1, "<f4", (500, 2), "C")
        a2 = read_back(p2, ">f4", (500, 2), "C")
        assert_array_equal(a2, a1, ">f4 vs <f4")
        with open(p1, "rb") as f1, open(p2, "rb") as f2:
            mm.check(f1.read() != f2.read(), "big- and little-endian files have identical bytes")


# --------------------------------------------------------------------------
# .npy headers, overwriting, paths, barrier


def numpy_header(dtype, shape, order):
    buf = io.BytesIO()
    arr = np.zeros(shape, dtype=np.dtype(dtype), order=order)
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    data = buf.getvalue()
    return data[:len(data) - arr.nbytes]


@mm.test("generate .npy header is byte-identical to numpy.save's")
def _():
    cases = [("<f4", (1000, 10), "C"), (">i2", (7, 9, 11), "F"), ("bool", (100,), "C"),
             ("uint64", (3, 5), "F"), ("float16", (12345,), "C"), ("|i1", (2, 3, 4, 5), "C")]
    for dtype, shape, order in cases:
        with mm.tmpdir() as d:
            _doc, path = generate(d, "h.npy", dtype, shape, order, {"kind": "arange"})
            hlen = mm.npy_header_len(path)
            with open(path, "rb") as f:
                header = f.read(hlen)
            exp = numpy_header(dtype, shape, order)
            mm.eq(header, exp, "header of %s %r %s" % (dtype, shape, order))


@mm.test("generate overwrites an existing larger file (mode w+)")
def _():
    for ext in (".dat", ".npy"):
        with mm.tmpdir() as d:
            target = os.path.join(d, "g" + ext)
            with open(target, "wb") as f:
                f.write(b"\xAB" * (3 << 20))
            doc, path = generate(d, "g" + ext, "<i4", (100, 3), "C", {"kind": "arange"})
            check_result(doc, path, "<i4", (100, 3))
            got = read_back(path, "<i4", (100, 3), "C")
            assert_array_equal(got, arange_expected("<i4", (100, 3)), "overwritten " + ext)


@mm.test("generate relative path resolves against the config folder, from any cwd")
def _():
    with mm.tmpdir() as d, mm.tmpdir() as elsewhere:
        sub = os.path.join(d, "cfgdir")
        os.makedirs(os.path.join(sub, "out"))
        dataset = {"path": "out/g.npy", "dtype": "<u2", "shape": [10, 4], "mode": "w+"}
        cfg = mm.write_config(sub, {"dataset": dataset, "analyses": [{"op": "generate",
                                                                       "fill": {"kind": "arange"}}]})
        doc, _ = mm.run_ok(["-q", "--workers", 2, cfg], cwd=elsewhere)
        path = os.path.join(sub, "out", "g.npy")
        mm.check(os.path.isfile(path), "file not created in the config folder")
        mm.check(not os.path.exists(os.path.join(elsewhere, "out")), "file created relative to cwd")
        check_result(doc, path, "<u2", (10, 4))
        assert_array_equal(np.load(path), arange_expected("<u2", (10, 4)), "arange u2")
        mm.assert_no_leftovers(d)
        mm.assert_no_leftovers(elsewhere)


@mm.test("generate is a barrier: a later stats sees the written data")
def _():
    with mm.tmpdir() as d:
        shape = (5000, 3)
        extra = [{"name": "cols", "op": "stats", "axis": 0},
                 {"name": "all", "op": "stats", "ddof": 1}]
        doc, path = generate(d, "g.dat", ">i4", shape, "C", {"kind": "arange"}, extra=extra)
        mm.eq(list(doc["results"].keys()), ["generate", "cols", "all"], "result names")
        a = arange_expected(">i4", shape).astype(np.int64)
        cols = doc["results"]["cols"]
        mm.assert_exact_ints(cols["sum"], a.sum(axis=0), "cols.sum")
        mm.assert_exact_ints(cols["min"], a.min(axis=0), "cols.min")
        mm.assert_exact_ints(cols["max"], a.max(axis=0), "cols.max")
        mm.assert_exact_ints(cols["count"], [shape[0]] * 3, "cols.count")
        mm.assert_close(cols["mean"], a.mean(axis=0), what="cols.mean")
        mm.assert_close(cols["var"], a.astype(np.float64).var(axis=0), what="cols.var")
        allr = doc["results"]["all"]
        mm.assert_close(allr["std"], a.astype(np.float64).std(ddof=1), what="all.std")
        mm.assert_exact_ints(allr["sum"], int(a.sum()), "all.sum")


if __name__ == "__main__":
    mm.main()
