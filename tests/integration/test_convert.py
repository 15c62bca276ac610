"""The `convert` analysis against numpy (SPEC §3 `convert`, CHOICES "slice
and convert").

A .npy output must be byte for byte what
numpy.save(numpy.asarray(a.transpose(axes), dtype=dtype, order=order))
writes; a raw output must be the bytes of that array in `order`. Covered:
C <-> F, every transpose of a 3-d array, dtype changes allowed under each
casting rule (numpy.can_cast) and forbidden ones (exit 78 naming
analyses[i].casting and both dtypes), big-endian sources and targets,
inputs of several blocks and rows longer than a block, an output larger
than one write span, outputs written around the page cache (O_DIRECT), and
the same bytes for 1, 2, 3, 7 workers and spawn.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_convert.py [FILTER...]
"""

import io
import itertools
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def random_array(dtype, shape, rng, small=False):
    """Random values of `dtype`; `small` keeps them in [-100, 100] (floats in
    (-1, 100)), so casts to any integer type are in range."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = (max(info.min, -100), min(info.max, 100)) if small else (info.min, info.max)
        return rng.integers(lo, hi, size=shape, dtype=dt.newbyteorder("=")).astype(dt)
    if small:  # truncates into the range of every integer type, unsigned included
        return rng.uniform(-0.99, 100.0, size=shape).astype(dt)
    return (rng.standard_normal(shape) * 1e3).astype(dt)


def write_input(folder, a, order, fmt, name="data"):
    if fmt == "npy":
        path = mm.write_npy(os.path.join(folder, name + ".npy"), a, order=order)
        return {"path": os.path.basename(path)}
    path = mm.write_raw(os.path.join(folder, name + ".dat"), a, order=order)
    return {"path": os.path.basename(path), "dtype": a.dtype.str, "shape": list(a.shape), "order": order}


def expected_bytes(a, output, axes=None, dtype=None, order="C", casting="safe"):
    """What numpy writes for the conversion (np.save for .npy, else raw bytes)."""
    t = a.transpose(axes) if axes is not None else a
    with np.errstate(all="ignore"):
        b = np.asarray(t.astype(np.dtype(dtype) if dtype else t.dtype, casting=casting), order=order)
    b = np.asarray(b, order=order)
    if output.endswith(".npy"):
        buf = io.BytesIO()
        np.save(buf, b)
        return buf.getvalue(), b
    return b.tobytes(order=order), b


def run_convert(folder, dataset, analyses, workers=3, launch=None):
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": analyses})
    args = ["-q", "--workers", workers] + (["--launch", launch] if launch else []) + [cfg]
    doc, _ = mm.run_ok(args)
    mm.assert_no_leftovers(folder)
    return doc


def check_file(doc, name, folder, analysis, a, what):
    path = os.path.join(folder, analysis["output"])
    exp, arr = expected_bytes(a, analysis["output"], analysis.get("axes"), analysis.get("dtype"),
                              analysis.get("order", "C"), analysis.get("casting", "safe"))
    with open(path, "rb") as f:
        got = f.read()
    if got != exp:
        detail = ""
        if path.endswith(".npy"):
            try:
                g = np.load(path)
                detail = " (np.load: dtype %s shape %s equal %s)" % (
                    g.dtype.str, g.shape, np.array_equal(g, arr, equal_nan=True))
            except Exception as e:  # noqa: BLE001
                detail = " (np.load fails: %s)" % e
        raise mm.Fail("%s: %s differs from numpy's bytes (%d vs %d bytes)%s" %
                      (what, os.path.basename(path), len(got), len(exp), detail))
    r = doc["results"][name]
    mm.check(mm.same_path(r.get("path"), path), what + ": result path %r" % r.get("path"))
    mm.eq(r.get("shape"), list(arr.shape), what + ": result shape")
    mm.eq(r.get("dtype"), arr.dtype.str, what + ": result dtype")
    mm.eq(r.get("bytes"), len(got), what + ": result bytes")
    mm.eq(r.get("format"), "npy" if path.endswith(".npy") else "raw", what + ": result format")


def run_and_check(folder, a, order, fmt, analyses, workers=3, what=""):
    for i, an in enumerate(analyses):
        an.setdefault("name", "c%d" % i)
        an["op"] = "convert"
    doc = run_convert(folder, write_input(folder, a, order, fmt), analyses, workers=workers)
    for an in analyses:
        check_file(doc, an["name"], folder, an, a, "%s %s" % (what, {k: v for k, v in an.items() if k != "op"}))
    return doc


# --------------------------------------------------------------------------
# Oracle tests


@mm.test
def convert_c_and_f_both_ways():
    for src_order in ("C", "F"):
        for fmt in ("raw", "npy"):
            with mm.tmpdir() as d:
                a = random_array("<f4", (60, 70, 80), rng_for("cf" + src_order + fmt))  # 1.3 MB
                run_and_check(d, a, src_order, fmt, [
                    {"output": "c.npy", "order": "C"}, {"output": "f.npy", "order": "F"},
                    {"output": "c.raw", "order": "C"}, {"output": "f.raw", "order": "F"},
                    {"output": "d.npy"}], what="%s %s" % (src_order, fmt))


@mm.test
def convert_every_transpose_of_a_3d_array():
    perms = [list(p) for p in itertools.permutations(range(3))] + [[-1, 0, 1], [2, -2, 0]]
    for src_order in ("C", "F"):
        with mm.tmpdir() as d:
            a = random_array(">i2", (30, 40, 50), rng_for("perm" + src_order))
            analyses = []
            for i, p in enumerate(perms):
                for order in ("C", "F"):
                    analyses.append({"output": "t%d%s.npy" % (i, order), "axes": p, "order": order})
            run_and_check(d, a, src_order, "npy", analyses, what="transpose %s" % src_order)


@mm.test
def convert_dtypes_under_each_casting_rule():
    cases = {
        # source: [(target, casting)] all allowed by numpy.can_cast
        "bool": [("f2", "safe"), (">i8", "safe"), ("u1", "safe")],
        "<i2": [("<f4", "safe"), (">i4", "safe"), ("f8", "safe"), ("i1", "same_kind"), ("u1", "unsafe"),
                ("bool", "unsafe"), ("f2", "same_kind")],
        ">u2": [(">u4", "safe"), ("<i4", "safe"), ("i2", "same_kind"), ("f2", "same_kind"), ("<u2", "safe")],
        "u1": [("i2", "safe"), ("f2", "safe"), ("i1", "same_kind")],
        ">i8": [("f8", "safe"), ("f4", "same_kind"), ("i1", "same_kind"), ("<i8", "safe"), ("u8", "unsafe")],
        "<u8": [("f8", "safe"), ("i8", "same_kind"), ("f4", "same_kind")],
        "float16": [("f4", "safe"), (">f8", "safe"), ("i4", "unsafe"), ("bool", "unsafe")],
        ">f4": [("<f4", "safe"), ("f8", "safe"), ("f2", "same_kind"), ("i2", "unsafe"), ("u1", "unsafe")],
        "<f8": [(">f8", "safe"), ("f4", "same_kind"), ("float16", "same_kind"), ("i4", "unsafe"),
                (">i8", "unsafe"), ("u2", "unsafe"), ("bool", "unsafe")],
    }
    for src, targets in cases.items():
        with mm.tmpdir() as d:
            a = random_array(src, (200, 30), rng_for("dt" + src), small=True)
            analyses = []
            for i, (dt, casting) in enumerate(targets):
                mm.check(np.can_cast(np.dtype(src), np.dtype(dt), casting), "test case %s->%s" % (src, dt))
                analyses.append({"output": "o%d.npy" % i, "dtype": dt, "casting": casting,
                                 "order": "F" if i % 2 else "C"})
                analyses.append({"output": "o%d.raw" % i, "dtype": dt, "casting": casting})
            run_and_check(d, a, "F" if len(src) % 2 else "C", "raw", analyses, what=src)


@mm.test
def convert_float_edge_values_under_unsafe():
    with mm.tmpdir() as d:
        a = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 300.7, -300.7, -1.5, 2.5, -0.9, 126.99, 65520.0],
                     dtype="<f8")
        ds = write_input(d, a, "C", "raw")
        doc = run_convert(d, ds, [{"name": "i8", "op": "convert", "output": "i8.npy", "dtype": "int8",
                                   "casting": "unsafe"},
                                  {"name": "u2", "op": "convert", "output": "u2.npy", "dtype": ">u2",
                                   "casting": "unsafe"},
                                  {"name": "f2", "op": "convert", "output": "f2.npy", "dtype": "f2",
                                   "casting": "same_kind"},
                                  {"name": "b", "op": "convert", "output": "b.npy", "dtype": "bool",
                                   "casting": "unsafe"}])
        # CHOICES: NaN -> 0; out of range -> saturate; in range -> truncate toward zero.
        mm.eq(np.load(os.path.join(d, "i8.npy")).tolist(),
              [0, 127, -128, 127, -128, 127, -128, -1, 2, 0, 126, 127], "float64 -> int8")
        mm.eq(np.load(os.path.join(d, "u2.npy")).tolist(),
              [0, 65535, 0, 65535, 0, 300, 0, 0, 2, 0, 126, 65520], "float64 -> >u2")
        with np.errstate(all="ignore"):
            mm.check(np.array_equal(np.load(os.path.join(d, "f2.npy")), a.astype("f2"), equal_nan=True),
                     "float64 -> float16 as numpy")
        mm.eq(np.load(os.path.join(d, "b.npy")).tolist(), a.astype(bool).tolist(), "float64 -> bool as numpy")
        mm.eq(doc["results"]["u2"]["dtype"], ">u2", "result dtype")


@mm.test
def convert_rows_longer_than_a_block_and_a_big_transpose():
    with mm.tmpdir() as d:
        a = random_array("<f8", (3, 200000), rng_for("long"))  # rows of 1.6 MB
        run_and_check(d, a, "C", "raw", [{"output": "t.npy", "axes": [1, 0]},
                                         {"output": "f.npy", "order": "F", "dtype": "f4",
                                          "casting": "same_kind"}], what="long rows")
    with mm.tmpdir() as d:
        # 18 MB out: more than one 16 MiB write span.
        a = random_array(">f8", (1500, 1500), rng_for("big"))
        run_and_check(d, a, "C", "npy", [{"output": "f.npy", "order": "F", "dtype": "<f8"}], what="big")


@mm.test
def convert_same_bytes_for_any_worker_count_and_spawn():
    with mm.tmpdir() as d:
        a = random_array("<f4", (50, 60, 90), rng_for("det"))  # 1.1 MB
        ds = write_input(d, a, "F", "raw")
        digests = None
        for workers, launch in ((1, None), (2, None), (3, None), (7, None), (3, "spawn")):
            analyses = [{"name": "a", "op": "convert", "output": "w%da.npy" % workers, "axes": [2, 0, 1]},
                        {"name": "b", "op": "convert", "output": "w%db.raw" % workers, "order": "F",
                         "dtype": ">f8"},
                        {"name": "c", "op": "convert", "output": "w%dc.npy" % workers, "dtype": "f2",
                         "casting": "same_kind", "axes": [1, 2, 0]}]
            doc = run_convert(d, ds, analyses, workers=workers, launch=launch)
            got = [mm.sha256_file(os.path.join(d, an["output"])) for an in analyses]
            if digests is None:
                digests = got
                for an in analyses:
                    check_file(doc, an["name"], d, an, a, "workers %d" % workers)
            mm.eq(got, digests, "sha256 of the outputs with %d workers (%s)" % (workers, launch or "fork"))


@mm.test
def convert_long_runs_written_around_the_page_cache():
    """Outputs whose runs are long enough to go around the page cache
    (O_DIRECT, in whole 4 KiB blocks; the partial blocks at each write's
    ends, where a .npy header or another worker's rows begin, buffered):
    numpy's bytes for 1, 2, 3 workers and spawn, .npy (data at an unaligned
    offset) and raw, odd row lengths so that no worker boundary is aligned."""
    with mm.tmpdir() as d:
        a = random_array("<f4", (1777, 613), rng_for("direct"))  # 4.4 MB in, 8.7 MB out
        ds = write_input(d, a, "C", "raw")
        for workers, launch in ((1, None), (2, None), (3, None), (3, "spawn")):
            tag = "w%d%s" % (workers, launch or "")
            analyses = [{"name": "a", "op": "convert", "output": tag + "a.npy", "dtype": "<f8"},
                        {"name": "b", "op": "convert", "output": tag + "b.raw", "dtype": ">f4"},
                        {"name": "c", "op": "convert", "output": tag + "c.npy"}]
            doc = run_convert(d, ds, analyses, workers=workers, launch=launch)
            for an in analyses:
                check_file(doc, an["name"], d, an, a, "%s %s" % (tag, an["output"]))


# --------------------------------------------------------------------------
# Errors


def expect_error(folder, dataset, analysis, code, fragments):
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": [dict(analysis, op="convert")]})
    res = mm.run_mmrun(["-q", cfg])
    mm.assert_error(res, code, fragments, args=[cfg])
    mm.assert_no_leftovers(folder)
    mm.check(not os.path.exists(os.path.join(folder, "o.npy")), "no output after an error")


@mm.test
def convert_forbidden_casts_exit_78():
    with mm.tmpdir() as d:
        for src, dst, casting in (("<f8", "<i4", "safe"), ("<f8", ">f4", "safe"), ("<i4", "<u4", "same_kind"),
                                  ("<f4", "<i8", "same_kind"), (">u8", "<i8", "safe"), ("<i2", "|b1", "same_kind")):
            ds = write_input(d, np.zeros((4, 3), dtype=src), "C", "raw", name="x" + src[1:])
            an = {"output": "o.npy", "dtype": dst}
            if casting != "safe":
                an["casting"] = casting
            expect_error(d, ds, an, 78, ["analyses[0].casting", src, dst, casting])


@mm.test
def convert_bad_parameters_exit_78():
    with mm.tmpdir() as d:
        ds = write_input(d, np.zeros((4, 3, 2)), "C", "raw")
        for an, key in (({"order": "X"}, "order"), ({"order": "c"}, "order"), ({"axes": [0, 0, 1]}, "axes"),
                        ({"axes": [0, 1]}, "axes"), ({"axes": [0, 1, 3]}, "axes"), ({"axes": "0,1,2"}, "axes"),
                        ({"dtype": "complex64"}, "dtype"), ({"dtype": "f3"}, "dtype"),
                        ({"casting": "no"}, "casting"), ({"casting": 1}, "casting"), ({"bogus": 1}, "bogus")):
            expect_error(d, ds, dict(an, output="o.npy"), 78, ["analyses[0]." + key])
        expect_error(d, ds, {}, 78, ["analyses[0].output"])
        expect_error(d, ds, {"output": "data.dat"}, 78, ["analyses[0].output", "same file as dataset.path"])
        expect_error(d, ds, {"output": "nowhere/o.npy"}, 73, ["nowhere/o.npy"])


if __name__ == "__main__":
    mm.main()
