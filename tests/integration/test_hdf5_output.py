"""HDF5 outputs of `slice` and `convert` (SPEC §7 "HDF5 outputs", issue 15)
with h5py as the oracle: every output reads back equal to numpy's
a[select] / asarray(a.transpose(axes), dtype), over dtypes (bool, float16,
big-endian), chunks (auto, lists, edge chunks, null), every compression
Debian's plugins provide, slice and convert; h5dump describes it; the same
bytes for 1 and 4 workers and for spawned workers; bad parameters are
config errors (78) naming the key; nothing is left behind, and a failed
run leaves no output.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_hdf5_output.py [FILTER...]
"""

import os
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402
from h5output import check_failed_then_retried, h5py, need_h5py, sha, small_filesystem  # noqa: E402


def data(shape, dtype, seed=1):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.3
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape).astype(dt)
    a = (rng.standard_normal(shape) * 100).astype(dt)
    if a.size > 3:
        a.flat[3] = np.nan
    return a


def raw_input(d, a, name="in.dat"):
    mm.write_raw(os.path.join(d, name), a)
    return {"path": name, "dtype": a.dtype.str, "shape": list(a.shape)}


def run(d, dataset, op, workers=2, extra=()):
    cfg = mm.write_config(d, {"dataset": dataset, "analyses": [op]})
    res = mm.run_mmrun(["-q", "-w", workers] + list(extra) + [cfg])
    mm.check(res.code == 0, mm.describe([cfg], res))
    return mm.parse_doc(res.out)["results"][op.get("name", op["op"])]


def read(path, name="data"):
    with h5py.File(path, "r") as f:
        d = f[name]
        return d[()], d.chunks, d.compression, d.dtype


@mm.test("hdf5 output: convert over dtypes and byte orders, auto chunks and gzip: h5py reads "
         "asarray(a.transpose(axes), dtype)")
def _():
    need_h5py()
    for dtype in ("|b1", "<i1", "<u2", ">i4", "<i8", ">u8", "<f2", ">f4", "<f8"):
        with mm.tmpdir() as d:
            a = data((37, 11, 6), dtype)
            ds = raw_input(d, a)
            for params in ({}, {"compression": "gzip:1"}, {"chunks": [8, 4, 6]},
                           {"axes": [2, 0, 1], "compression": "gzip", "chunks": [3, 10, 11]}):
                op = dict({"op": "convert", "output": "o.h5"}, **params)
                res = run(d, ds, op)
                want = a.transpose(params["axes"]) if "axes" in params else a
                got, chunks, comp, dt = read(os.path.join(d, "o.h5"))
                mm.check(dt == a.dtype, "%s %s: dtype %s" % (dtype, params, dt))
                mm.check(np.array_equal(got, want, equal_nan=a.dtype.kind == "f"),
                         "%s %s: values differ" % (dtype, params))
                mm.eq(res["format"], "hdf5", "format")
                mm.eq(res["hdf5"]["chunks"], list(chunks) if chunks else None, "chunks in result")
                mm.eq(res["bytes"], os.path.getsize(os.path.join(d, "o.h5")), "bytes")
                if "compression" in params:
                    mm.eq(comp, "gzip", "compression of %s" % params)
            mm.assert_no_leftovers(d)


@mm.test("hdf5 output: every compression (gzip, lzf, lz4, bzip2, szip, blosc and its codecs, "
         "bitshuffle) reads back with h5py; stored bytes and ratio in the result")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        a = np.round(data((120, 70), "<f4") / 10)  # compressible
        ds = raw_input(d, a)
        for comp in ("gzip:9", "lzf", "lz4", "bzip2", "szip", "blosc", "blosc:zstd:3",
                     "blosc:zlib", "blosc:lz4hc", "bitshuffle"):
            res = run(d, ds, {"op": "convert", "output": "o.h5", "compression": comp,
                              "chunks": [32, 32]})
            got, chunks, _, _ = read(os.path.join(d, "o.h5"))
            mm.check(np.array_equal(got, a, equal_nan=True), "%s: values differ" % comp)
            with h5py.File(os.path.join(d, "o.h5"), "r") as f:  # every chunk went through
                masks = {f["data"].id.get_chunk_info(i).filter_mask for i in range(12)}
            mm.eq(masks, {0}, "%s: chunk filter masks" % comp)
            mm.eq(chunks, (32, 32), "%s: chunks" % comp)
            h = res["hdf5"]
            mm.check(h["stored_bytes"] < h["logical_bytes"], "%s: nothing saved: %s" % (comp, h))
            mm.check(abs(h["compression_ratio"] - h["logical_bytes"] / h["stored_bytes"]) < 1e-9,
                     "%s: ratio %s" % (comp, h))
        mm.assert_no_leftovers(d)


@mm.test("hdf5 output: slice along each axis, with steps and dropped axes, into chunked and "
         "contiguous HDF5, named datasets in groups")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        a = data((50, 40, 30), "<f8")
        ds = raw_input(d, a)
        for select, params in (("[:, 3]", {"compression": "lzf"}),
                               ("[::3, 5:, -1]", {}),
                               ("[7]", {"chunks": "auto", "output_name": "/g/h/x"}),
                               ("[:, :, 2:29:4]", {"chunks": [50, 7, 3], "shuffle": True}),
                               ("[4, 5, 6]", {})):
            op = dict({"op": "slice", "select": select, "output": "s.h5"}, **params)
            run(d, ds, op)
            want = eval("a" + select)  # noqa: S307 - the test's own literals
            got, _, _, _ = read(os.path.join(d, "s.h5"), params.get("output_name", "data"))
            mm.check(np.array_equal(got, want, equal_nan=True), "slice %s: values differ" % select)
        mm.assert_no_leftovers(d)


@mm.test("hdf5 output: chunks gathered from a stage in the input's order: C and Fortran inputs, "
         "every axes permutation, steps, skinny chunks (lines read element by element), item "
         "sizes 1 to 8")
def _():
    import itertools
    need_h5py()
    with mm.tmpdir() as d:
        dtypes = ["|u1", "<i2", ">f4", "<f8"]
        for i, (order, axes) in enumerate(itertools.product("CF", itertools.permutations(range(3)))):
            a = data((37, 23, 19), dtypes[i % 4], seed=i)
            with open(os.path.join(d, "in.dat"), "wb") as f:
                f.write(a.tobytes(order=order))
            ds = {"path": "in.dat", "dtype": a.dtype.str, "shape": list(a.shape), "order": order}
            want = a.transpose(axes)
            o = want.shape
            chunks = [[5, 4, 3], [o[0], 1, 1], [1, 1, o[2]], [o[0], 2, o[2]]][i % 4]
            op = {"op": "convert", "output": "o.h5", "axes": list(axes), "chunks": chunks}
            if i % 3 == 0:
                op["compression"] = "gzip:1"
            run(d, ds, op, workers=1 + i % 3)
            got, got_chunks, _, dt = read(os.path.join(d, "o.h5"))
            what = "order %s axes %s %s chunks %s" % (order, axes, a.dtype.str, chunks)
            mm.eq(list(got_chunks), chunks, what + ": chunks")
            mm.check(np.array_equal(got, want, equal_nan=a.dtype.kind == "f"), what + ": values")
            mm.eq(dt, a.dtype, what + ": dtype")
        # Column chunks of a C input: lines longer than a 4 MiB region (read in
        # pieces), and lines whose elements are more than a page apart.
        for shape, chunks in (((3000, 400), [3000, 1]), ((100, 1100), [100, 3])):
            a = data(shape, "<f4", seed=7)
            with open(os.path.join(d, "in.dat"), "wb") as f:
                f.write(a.tobytes())
            ds = {"path": "in.dat", "dtype": "<f4", "shape": list(shape)}
            run(d, ds, {"op": "convert", "output": "o.h5", "chunks": chunks})
            got = read(os.path.join(d, "o.h5"))[0]
            mm.check(np.array_equal(got, a, equal_nan=True), "column chunks %s: values" % chunks)
        # A slice with steps (one negative) and a dropped axis, from a Fortran input.
        a = data((41, 29, 17), "<f4", seed=99)
        with open(os.path.join(d, "in.dat"), "wb") as f:
            f.write(a.tobytes(order="F"))
        ds = {"path": "in.dat", "dtype": "<f4", "shape": [41, 29, 17], "order": "F"}
        for sel, want, chunks in (("[::-2, 3:, ::3]", a[::-2, 3:, ::3], [4, 1, 5]),
                                  ("[:, 7, ::-1]", a[:, 7, ::-1], [41, 2])):
            run(d, ds, {"op": "slice", "select": sel, "output": "o.h5", "chunks": chunks,
                        "compression": "gzip:1"})
            got = read(os.path.join(d, "o.h5"))[0]
            mm.check(np.array_equal(got, want, equal_nan=True), "slice %s: values" % sel)
        mm.assert_no_leftovers(d)


@mm.test("hdf5 output: chunks of 1 MiB, long enough for the coordinator to write their whole "
         "blocks around the page cache and their ends through it: values, and the same bytes "
         "for 1 and 3 workers")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        a = data((300000, 6), "<f8", seed=5)
        ds = raw_input(d, a)
        for extra in ({}, {"compression": "lz4"}):
            digests = set()
            for workers in (1, 3):
                op = dict({"op": "convert", "output": "o.h5", "chunks": [131072, 1]}, **extra)
                run(d, ds, op, workers)
                got = read(os.path.join(d, "o.h5"))[0]
                mm.check(np.array_equal(got, a, equal_nan=True),
                         "%s, %d workers: values" % (extra, workers))
                digests.add(sha(os.path.join(d, "o.h5")))
            mm.eq(len(digests), 1, "distinct outputs for %s" % extra)
        mm.assert_no_leftovers(d)


@mm.test("hdf5 output: the same bytes for 1 and 4 workers and for spawned workers; h5dump -H "
         "describes the file")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        a = data((203, 31, 17), "<f4")
        ds = raw_input(d, a)
        for params in ({"compression": "gzip:1", "chunks": [20, 8, 17]},
                       {"compression": "blosc"}, {}):
            op = dict({"op": "convert", "output": "o.h5", "axes": [1, 2, 0]}, **params)
            digests = set()
            for workers, extra in ((1, ()), (4, ()), (3, ("--launch", "spawn"))):
                run(d, ds, op, workers, extra)
                digests.add(sha(os.path.join(d, "o.h5")))
            mm.eq(len(digests), 1, "distinct outputs for %s" % params)
            if shutil.which("h5dump"):
                out = subprocess.run(["h5dump", "-H", os.path.join(d, "o.h5")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                mm.eq(out.returncode, 0, "h5dump exit: %s" % out.stdout.decode()[-300:])
                mm.check(b"DATASET \"data\"" in out.stdout and b"( 31, 17, 203 )" in out.stdout,
                         "h5dump -H: %s" % out.stdout.decode()[:400])
        mm.assert_no_leftovers(d)


@mm.test("hdf5 output: bad parameters are config errors (78) naming the key, nothing written")
def _():
    with mm.tmpdir() as d:
        a = data((20, 10), "<f4")
        ds = raw_input(d, a)
        cases = [({"compression": "zip"}, "compression", "must be one of"),
                 ({"compression": "gzip:10"}, "compression", "1 to 9"),
                 ({"chunks": [21, 5]}, "chunks", "larger than"),
                 ({"chunks": [5]}, "chunks", "one extent per axis"),
                 ({"compression": "gzip", "chunks": None}, "compression", "needs chunks"),
                 ({"shuffle": 1}, "shuffle", "true or false")]
        for params, key, words in cases:
            cfg = mm.write_config(d, {"dataset": ds, "analyses": [
                dict({"op": "convert", "output": "o.h5"}, **params)]})
            mm.assert_error(mm.run_mmrun([cfg]), 78, ["analyses[0].%s" % key, words], args=[cfg])
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [
            {"op": "convert", "output": "o.npy", "compression": "gzip"}]})
        mm.assert_error(mm.run_mmrun([cfg]), 78, ["analyses[0].compression", "HDF5 outputs"],
                        args=[cfg])
        mm.check(not os.path.exists(os.path.join(d, "o.h5")), "a refused run wrote o.h5")
        mm.assert_no_leftovers(d)


@mm.test("hdf5 output: a full disk while a compressed output is staged, compressed or written is exit 73, "
         "one line naming the output (not libhdf5's text), nothing left behind")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        # 8 MB of incompressible float32: the stage (8 MB) fails on 4 MB;
        # on 12 MB and 16 MB the spool of compressed chunks or the chunks
        # written into the HDF5 file run out.
        a = np.random.default_rng(5).random((500000, 4)).astype("<f4")
        raw_input(d, a)
        for size in ("4m", "12m", "16m"):
            with small_filesystem(d, size) as fs:
                out = os.path.join(fs, "o.h5")
                cfg = mm.write_config(d, {"dataset": {"path": "in.dat", "dtype": "<f4", "shape": list(a.shape)},
                                          "analyses": [{"op": "convert", "output": out, "chunks": "auto",
                                                        "compression": "gzip"}]}, name="full.json")
                args = ["-q", "-w", 2, "--retries", 0, cfg]
                res = mm.run_mmrun(args)
                mm.assert_error(res, 73, [out, "No space left"], args=args)
                mm.check("/proc/self/fd" not in res.err and "errno" not in res.err, "libhdf5's text: " + res.err)
                mm.eq(os.listdir(fs), [], "files left on the full disk (%s)" % size)
                mm.assert_no_leftovers(d)
            os.rmdir(os.path.join(d, "fs"))


@mm.test("hdf5 output: a failed worker leaves no output and no temporary (stage, spool); a "
         "retried one gives the clean run's bytes")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        a = data((4000, 50), "<f4")
        ds = raw_input(d, a)
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [
            {"op": "convert", "output": "o.h5", "compression": "gzip:1", "chunks": [100, 50]}]})
        check_failed_then_retried(d, cfg, "o.h5")


if __name__ == "__main__":
    mm.main()
