"""The `slice` analysis against numpy basic indexing (SPEC §3 `slice`,
CHOICES "slice and convert").

Arrays (1-d, 2-d, 3-d; C and F order; raw and .npy; bool, float16, >i4 and
more) are written with numpy; one config holds many `slice` analyses and
each output must equal a[select] exactly: numpy.load gives the same dtype
(byte order included), shape and values, and a raw output holds the C-order
bytes of a[select]. Inputs span several blocks, and rows longer than a
block, so selections cross block and window edges. The output files must be
the same bytes for 1, 3, 7 workers and spawn; bad selections exit 78 naming
analyses[i].select, with nothing left behind.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_slice.py [FILTER...]
"""

import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

# Selections per number of dimensions (at least 25 in all).
SELECTIONS = {
    1: ["[:]", "[-1]", "[0]", "[::2]", "[::-1]", "[5:1:-2]", "[5:5]", "[...]", "[100:-100:7]",
        "[-3:]", "[::-1000]", "[1:2]"],
    2: ["[:, 0]", "[-1]", "[100:200, 5:10]", "[::2, ...]", "[..., ::-3]", "[5:1:-2, -1]", "[7, 3]",
        "[:, 3:3]", "[::-1, ::-1]", "[1:, :-1]", "[-1, ::5]", "[0:1]"],
    3: ["[:, :, 0]", "[5, :, :]", "[..., 1]", "[1, ..., 2]", "[::2, ...]", "[::-1, 1:, ::-2]",
        "[2:9:3, -1, :]", "[:, 4:4, :]", "[1, 2, 3]", "[-1, ::-1]", "[:, ::7, 1:3]", "[3]"],
}

DTYPES = ["bool", "float16", ">i4", "<u2", ">f8", "int8", "<f4", ">u8"]


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def random_array(dtype, shape, rng):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt.newbyteorder("=")).astype(dt)
    a = rng.standard_normal(shape).astype(dt)
    a.flat[::97] = np.nan
    return a


def write_input(folder, a, order, fmt, name="data"):
    if fmt == "npy":
        path = mm.write_npy(os.path.join(folder, name + ".npy"), a, order=order)
        return {"path": os.path.basename(path)}
    path = mm.write_raw(os.path.join(folder, name + ".dat"), a, order=order, offset=24)
    return {"path": os.path.basename(path), "dtype": a.dtype.str, "shape": list(a.shape), "order": order,
            "offset": 24}


def run_slices(folder, dataset, selections, ext=".npy", workers=3, launch=None, prefix="out"):
    """One config with one slice per selection; returns (document, output paths)."""
    analyses, paths = [], []
    for i, sel in enumerate(selections):
        path = os.path.join(folder, "%s%d%s" % (prefix, i, ext))
        analyses.append({"name": "s%d" % i, "op": "slice", "select": sel, "output": os.path.basename(path)})
        paths.append(path)
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": analyses})
    args = ["-q", "--workers", workers] + (["--launch", launch] if launch else []) + [cfg]
    doc, _ = mm.run_ok(args)
    mm.assert_no_leftovers(folder)
    return doc, paths


def expected(a, sel):
    return np.asarray(eval("a" + sel, {"a": a}))  # noqa: S307 - test selections only


def check_output(doc, name, path, a, sel, what):
    exp = expected(a, sel)
    r = doc["results"][name]
    mm.check(mm.same_path(r.get("path"), path), "%s: path %r" % (what, r.get("path")))
    mm.eq(r.get("shape"), list(exp.shape), what + ": result shape")
    # numpy's dtype of a[sel]: the file's, but native for a 0-d result (a
    # full index gives a numpy scalar, always native).
    mm.eq(r.get("dtype"), exp.dtype.str, what + ": result dtype")
    mm.eq(r.get("bytes"), os.path.getsize(path), what + ": result bytes")
    if path.endswith(".npy"):
        got = np.load(path, allow_pickle=False)
        mm.eq(r.get("format"), "npy", what + ": format")
    else:
        mm.eq(r.get("format"), "raw", what + ": format")
        mm.eq(os.path.getsize(path), exp.nbytes, what + ": raw size")
        got = np.fromfile(path, dtype=exp.dtype).reshape(exp.shape)  # C order, as tofile
    mm.eq(got.dtype.str, exp.dtype.str, what + ": dtype")
    mm.eq(got.shape, exp.shape, what + ": shape")
    mm.check(np.array_equal(got, exp, equal_nan=got.dtype.kind == "f"),
             "%s: values differ from numpy's a%s" % (what, sel))


def check_all(doc, paths, a, selections, what):
    for i, (sel, path) in enumerate(zip(selections, paths)):
        check_output(doc, "s%d" % i, path, a, sel, "%s a%s" % (what, sel))


# --------------------------------------------------------------------------
# Oracle tests


@mm.test
def slice_3d_every_order_and_format():
    # 40 x 60 x 70 float64 is 1.3 MB: two blocks; in F order a row (axis 2
    # index) is 19 KB, in C order 34 KB.
    for order in ("C", "F"):
        for fmt in ("raw", "npy"):
            with mm.tmpdir() as d:
                a = random_array(">f8", (40, 60, 70), rng_for("3d" + order + fmt))
                doc, paths = run_slices(d, write_input(d, a, order, fmt), SELECTIONS[3])
                check_all(doc, paths, a, SELECTIONS[3], "%s %s" % (order, fmt))


@mm.test
def slice_2d_every_dtype():
    for dtype in DTYPES:
        for order in ("C", "F"):
            with mm.tmpdir() as d:
                a = random_array(dtype, (300, 40), rng_for("2d" + dtype + order))
                doc, paths = run_slices(d, write_input(d, a, order, "npy" if dtype[0] in "bf>" else "raw"),
                                        SELECTIONS[2])
                check_all(doc, paths, a, SELECTIONS[2], "%s %s" % (dtype, order))


@mm.test
def slice_1d_several_blocks():
    with mm.tmpdir() as d:
        a = random_array("<f8", (300000,), rng_for("1d"))  # 2.4 MB: three blocks
        sels = SELECTIONS[1] + ["[131000:131200]", "[::-131071]", "[131072:262144:3]"]
        doc, paths = run_slices(d, write_input(d, a, "C", "raw"), sels)
        check_all(doc, paths, a, sels, "1-d")


@mm.test
def slice_rows_longer_than_a_block():
    # C (3, 200000) float64: each 1.6 MB row is cut into two blocks.
    with mm.tmpdir() as d:
        a = random_array("<f8", (3, 200000), rng_for("long"))
        sels = ["[1]", "[:, 1000:150000:7]", "[:, ::-3]", "[-1, 131070:131075]", "[::2, 199999]", "[1:2, 5:6]"]
        doc, paths = run_slices(d, write_input(d, a, "C", "npy"), sels)
        check_all(doc, paths, a, sels, "long rows")


@mm.test
def slice_worst_axis_of_an_f_order_cube():
    # "[5, :, :]" of an F-order cube takes a piece of every storage row.
    with mm.tmpdir() as d:
        a = random_array("<f4", (10, 120, 300), rng_for("cube"))  # 1.4 MB
        sels = ["[5, :, :]", "[:, 7, :]", "[:, :, 299]", "[5, ::-1, ::2]"]
        doc, paths = run_slices(d, write_input(d, a, "F", "npy"), sels)
        check_all(doc, paths, a, sels, "F cube")
        got = np.load(paths[0])
        mm.check(got.flags.f_contiguous and not got.flags.c_contiguous,
                 "a .npy slice of an F-order input is written in F order (fortran_order True)")


@mm.test
def slice_raw_outputs_are_c_order():
    with mm.tmpdir() as d:
        a = random_array(">i4", (30, 20, 10), rng_for("raw"))
        sels = ["[:, ::2, 1:]", "[::-1]", "[3]"]
        doc, paths = run_slices(d, write_input(d, a, "F", "raw"), sels, ext=".bin")
        check_all(doc, paths, a, sels, "raw out")
        for i, sel in enumerate(sels):
            mm.eq(doc["results"]["s%d" % i]["order"], "C", "order of a raw output")
            with open(paths[i], "rb") as f:
                mm.eq(f.read(), expected(a, sel).tobytes(order="C"), "raw bytes of a%s" % sel)


@mm.test
def slice_empty_selections_give_valid_npy():
    with mm.tmpdir() as d:
        a = random_array("float16", (50, 6), rng_for("empty"))
        sels = ["[5:5]", "[:, 4:2]", "[10:0]", "[-1:0:1, ::-1]"]
        doc, paths = run_slices(d, write_input(d, a, "C", "raw"), sels)
        check_all(doc, paths, a, sels, "empty")
        for p in paths:
            mm.eq(np.load(p).size, 0, "elements of an empty selection")


@mm.test
def slice_output_bytes_identical_for_1_3_7_workers_and_spawn():
    with mm.tmpdir() as d:
        a = random_array(">f4", (64, 50, 120), rng_for("det"))  # 1.5 MB
        for order in ("C", "F"):
            ds = write_input(d, a, order, "raw", name="data" + order)
            sels = ["[::3, 1:, ::-2]", "[5, :, :]", "[..., 7]", "[:]"]
            digests = None
            for workers, launch in ((1, None), (3, None), (7, None), (3, "spawn")):
                doc, paths = run_slices(d, ds, sels, workers=workers, launch=launch, prefix="w%d" % workers)
                got = [mm.sha256_file(p) for p in paths]
                if digests is None:
                    digests = got
                    check_all(doc, paths, a, sels, order)
                mm.eq(got, digests, "%s: sha256 of the outputs with %d workers (%s)" % (order, workers,
                                                                                      launch or "fork"))


@mm.test
def slice_shares_the_scan_with_stats():
    with mm.tmpdir() as d:
        a = random_array("<f8", (5000, 40), rng_for("share"))  # 1.6 MB
        ds = write_input(d, a, "C", "raw")
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [
            {"op": "stats"}, {"op": "slice", "select": "[4000:4010, ::-1]", "output": "o.npy"}]})
        doc, _ = mm.run_ok(["-q", "-w", "2", cfg])
        mm.eq(doc["results"]["stats"]["count"], int(np.count_nonzero(~np.isnan(a))), "stats count")
        check_output(doc, "slice", os.path.join(d, "o.npy"), a, "[4000:4010, ::-1]", "shared pass")


@mm.test
def slice_and_convert_survive_a_killed_worker():
    # The first attempt of every worker is SIGKILLed after its first window;
    # the retry rewrites the same elements, so the outputs are still exact.
    with mm.tmpdir() as d:
        a = random_array("<f8", (3, 1200000), rng_for("kill"))  # 28.8 MB: several windows per worker
        ds = write_input(d, a, "C", "raw")
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [
            {"name": "s0", "op": "slice", "select": "[::-1, 7::3]", "output": "k.npy"},
            {"name": "c", "op": "convert", "output": "t.npy", "axes": [1, 0]}]})
        doc, _ = mm.run_ok(["-q", "-w", "2", "--retries", "1", cfg],
                           extra_env={"MMRUN_TEST_FAULT": "kill_after_rows=0"})
        mm.assert_no_leftovers(d)
        check_output(doc, "s0", os.path.join(d, "k.npy"), a, "[::-1, 7::3]", "after a kill")
        mm.check(np.array_equal(np.load(os.path.join(d, "t.npy")), a.T, equal_nan=True), "convert after a kill")


@mm.test
def slice_convert_cov_after_generate():
    with mm.tmpdir() as d:
        cfg = mm.write_config(d, {
            "dataset": {"path": "g.npy", "dtype": ">i4", "shape": [300, 7], "order": "F", "mode": "w+"},
            "analyses": [{"op": "generate", "fill": {"kind": "arange"}},
                         {"op": "slice", "select": "[::-7, 2]", "output": "s.bin"},
                         {"op": "convert", "output": "c.npy", "dtype": "f8"},
                         {"op": "cov"}]})
        doc, _ = mm.run_ok(["-q", "-w", "3", cfg])
        mm.assert_no_leftovers(d)
        a = np.arange(300 * 7, dtype=">i4").reshape(300, 7)
        check_output(doc, "slice", os.path.join(d, "s.bin"), a, "[::-7, 2]", "after generate")
        mm.check(np.array_equal(np.load(os.path.join(d, "c.npy")), a.astype("f8")), "convert after generate")
        mm.assert_close(doc["results"]["cov"]["cov"], np.cov(a.astype("f8"), rowvar=False), what="cov")


# --------------------------------------------------------------------------
# Errors


def expect_error(folder, dataset, analysis, code, fragments):
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": [{"op": "stats"}, analysis]})
    res = mm.run_mmrun(["-q", cfg])
    mm.assert_error(res, code, fragments, args=[cfg])
    mm.assert_no_leftovers(folder)
    mm.check(not os.path.exists(os.path.join(folder, "o.npy")), "no output after an error")


@mm.test
def slice_bad_selections_exit_78():
    with mm.tmpdir() as d:
        ds = write_input(d, np.zeros((10, 4)), "C", "raw")
        for sel, frag in (("[10]", "index 10 is out of bounds for axis 0 with size 10"),
                          ("[0, -5]", "index -5 is out of bounds for axis 1"),
                          ("[0, 0, 0]", "too many indices"),
                          ("[[1, 2]]", "advanced indexing"),
                          ("[None]", "None/newaxis"),
                          ("[True]", "boolean"),
                          ("[..., ...]", "'...' may appear only once"),
                          ("[::0]", "step cannot be zero"),
                          ("[1.5]", "bad integer")):
            expect_error(d, ds, {"op": "slice", "select": sel, "output": "o.npy"}, 78,
                         ["analyses[1].select", frag])
        expect_error(d, ds, {"op": "slice", "select": 3, "output": "o.npy"}, 78, ["analyses[1].select"])
        expect_error(d, ds, {"op": "slice", "output": "o.npy"}, 78, ["analyses[1].select"])
        expect_error(d, ds, {"op": "slice", "select": "[:]"}, 78, ["analyses[1].output"])
        expect_error(d, ds, {"op": "slice", "select": "[:]", "output": "data.dat"}, 78,
                     ["analyses[1].output", "same file as dataset.path"])
        expect_error(d, ds, {"op": "slice", "select": "[:]", "output": "o.npy", "step": 2}, 78,
                     ["analyses[1].step"])
        expect_error(d, ds, {"op": "slice", "select": "[:]", "output": "missing/o.npy"}, 73, ["missing/o.npy"])


if __name__ == "__main__":
    mm.main()
