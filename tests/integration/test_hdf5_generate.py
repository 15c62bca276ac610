"""`generate` writing HDF5 (SPEC §7 "HDF5 outputs", issue 15) with h5py as
the oracle: the dataset h5py reads back holds byte for byte what the same
config writes to a raw file (numpy.fromfile), over dtypes (bool, float16,
big-endian), 1-D to 3-D shapes with edge chunks, every fill, and the
compressions gzip+shuffle, lzf, blosc:lz4, bitshuffle and none; h5dump
describes it; the same file bytes for 1 and 4 workers and for spawned
workers; bad parameters are config errors (78) naming the dataset key; a
full disk or a refused target is a clean error that leaves nothing behind.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_hdf5_generate.py [FILTER...]
"""

import os
import shutil
import signal
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402
from h5output import check_failed_then_retried, h5py, need_h5py, sha, small_filesystem  # noqa: E402


def generate(d, path, dtype, shape, fill, workers=2, extra=(), **dataset):
    """Runs a generate config writing `path`; returns (its result, the run's doc)."""
    ds = dict({"path": path, "dtype": dtype, "shape": list(shape), "mode": "w+"}, **dataset)
    cfg = mm.write_config(d, {"dataset": ds, "analyses": [{"op": "generate", "fill": fill}]})
    res = mm.run_mmrun(["-q", "-w", workers] + list(extra) + [cfg])
    mm.check(res.code == 0, mm.describe([cfg], res))
    doc = mm.parse_doc(res.out)
    return doc["results"]["generate"], doc


def raw_oracle(d, dtype, shape, fill):
    """What the same config writes to a raw file, read with numpy.fromfile."""
    generate(d, "oracle.dat", dtype, shape, fill)
    a = np.fromfile(os.path.join(d, "oracle.dat"), dtype=np.dtype(dtype)).reshape(shape)
    os.remove(os.path.join(d, "oracle.dat"))
    return a


def stored_chunk_bytes(dset):
    n = dset.id.get_num_chunks()
    return sum(dset.id.get_chunk_info(i).size for i in range(n)), n


FILLS = [{"kind": "arange"},
         {"kind": "uniform", "low": -3, "high": 200, "seed": 7},
         {"kind": "normal", "mean": 5, "std": 20, "seed": 2},
         {"kind": "constant", "value": 3}]

# (dataset keys, the compression h5py reports, the filter ids in the file)
COMPRESSIONS = [({"compression": "gzip:1", "shuffle": True}, "gzip", {1, 2}),
                ({"compression": "lzf"}, "lzf", {32000}),
                ({"compression": "blosc:lz4"}, None, {32001}),
                ({"compression": "bitshuffle"}, None, {32008}),
                ({}, None, set()),  # contiguous
                ({"chunks": "auto"}, None, set())]


@mm.test("hdf5 generate: h5py reads back, byte for byte, what the same config writes raw, over "
         "dtypes (u1, i2, f4, >f8, f2, bool), 1-D to 3-D shapes with edge chunks, every fill and "
         "compression; the result describes the file")
def _():
    need_h5py()
    shapes = [((1000,), [97]), ((37, 11), [8, 4]), ((13, 9, 7), [5, 4, 3])]
    k = 0
    for dtype in ("u1", "<i2", "<f4", ">f8", "<f2", "|b1"):
        for shape, chunks in shapes:
            with mm.tmpdir() as d:
                fill = FILLS[k % len(FILLS)]
                params, comp, filter_ids = COMPRESSIONS[k % len(COMPRESSIONS)]
                k += 1
                params = dict(params)
                if params.get("compression"):
                    params["chunks"] = chunks
                want = raw_oracle(d, dtype, shape, fill)
                what = "%s %s %s %s" % (dtype, shape, fill["kind"], params)
                res, _ = generate(d, "g.h5", dtype, shape, fill, **params)
                path = os.path.join(d, "g.h5")
                with h5py.File(path, "r") as f:
                    dset = f["data"]
                    got = dset[()]
                    mm.eq(got.dtype, want.dtype, what + ": dtype")
                    mm.eq(got.shape, want.shape, what + ": shape")
                    mm.check(got.tobytes() == want.tobytes(), what + ": values differ")
                    mm.eq(dset.compression, comp, what + ": compression")
                    plist = dset.id.get_create_plist()
                    ids = {plist.get_filter(i)[0] for i in range(plist.get_nfilters())}
                    mm.eq(ids, filter_ids, what + ": filters")
                    h = res["hdf5"]
                    mm.eq(h["chunks"], list(dset.chunks) if dset.chunks else None,
                          what + ": chunks in the result")
                    if dset.chunks:
                        stored, n = stored_chunk_bytes(dset)
                        mm.eq(h["stored_bytes"], stored, what + ": stored bytes")
                        mm.eq(n, int(np.prod([-(-s // c) for s, c in zip(shape, dset.chunks)])),
                              what + ": chunks written")
                    else:
                        mm.eq(h["stored_bytes"], want.nbytes, what + ": contiguous bytes")
                    mm.eq(h["logical_bytes"], want.nbytes, what + ": logical bytes")
                mm.eq(res["format"], "hdf5", what + ": format")
                mm.eq(res["bytes"], os.path.getsize(path), what + ": bytes")
                mm.assert_no_leftovers(d)


@mm.test("hdf5 generate: the dataset's name (groups created), and explicit format hdf5")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        want = raw_oracle(d, "<i2", (50, 6), {"kind": "arange"})
        for params in ({"name": "/g/h/x", "compression": "gzip"}, {"name": "y", "format": "hdf5"}):
            res, _ = generate(d, "n.hdf5", "<i2", (50, 6), {"kind": "arange"}, **params)
            name = params["name"]
            mm.eq(res["hdf5"]["name"], name if name.startswith("/") else "/" + name, "name")
            with h5py.File(os.path.join(d, "n.hdf5"), "r") as f:
                mm.eq(list(f.keys()), [name.strip("/").split("/")[0]], "top-level objects")
                mm.check(np.array_equal(f[name][()], want), "%s: values differ" % name)
        mm.assert_no_leftovers(d)


@mm.test("hdf5 generate: the same file bytes for 1 and 4 workers and spawned workers; h5dump -H "
         "describes it")
def _():
    need_h5py()
    shape = (2003, 517)
    with mm.tmpdir() as d:
        for params in ({"compression": "gzip:1", "chunks": [100, 100]},
                       {"compression": "blosc:lz4"}, {}):
            digests = set()
            for workers, extra in ((1, ()), (4, ()), (3, ("--launch", "spawn"))):
                _, doc = generate(d, "s.h5", ">f4", shape, {"kind": "normal", "seed": 5},
                                  workers, extra, **params)
                mm.eq(doc["mmrun"]["workers"], workers, "%s: workers used" % params)
                digests.add(sha(os.path.join(d, "s.h5")))
            mm.eq(len(digests), 1, "distinct outputs for %s" % params)
            if shutil.which("h5dump"):
                out = subprocess.run(["h5dump", "-H", "-p", os.path.join(d, "s.h5")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                text = out.stdout.decode(errors="replace")
                mm.eq(out.returncode, 0, "h5dump exit: %s" % text[-300:])
                for want in ('DATASET "data"', "( 2003, 517 )", "H5T_IEEE_F32BE",
                             "DEFLATE" if "gzip" in params.get("compression", "") else "DATASET"):
                    mm.check(want in text, "h5dump -H lacks %r: %s" % (want, text[:600]))
        mm.assert_no_leftovers(d)


@mm.test("hdf5 generate: bad parameters are config errors (78) naming the dataset key, nothing "
         "written")
def _():
    with mm.tmpdir() as d:
        base = {"path": "o.h5", "dtype": "<f4", "shape": [20, 10], "mode": "w+"}
        fill = {"kind": "arange"}
        cases = [({"compression": "zip"}, "dataset.compression", "must be one of"),
                 ({"compression": "gzip:10"}, "dataset.compression", "1 to 9"),
                 ({"chunks": [21, 5]}, "dataset.chunks", "larger than"),
                 ({"chunks": [5]}, "dataset.chunks", "one extent per axis"),
                 ({"compression": "gzip", "chunks": None}, "dataset.compression", "needs chunks"),
                 ({"shuffle": 1}, "dataset.shuffle", "true or false"),
                 ({"compression": "bitshuffle", "shuffle": True}, "dataset.shuffle", "bitshuffle"),
                 ({"path": "o.dat", "compression": "gzip"}, "dataset.compression", "HDF5 files"),
                 ({"path": "o.npy", "chunks": [4, 4]}, "dataset.chunks", "HDF5 files"),
                 ({"path": "o.dat", "name": "x"}, "dataset.name", "HDF5 files"),
                 ({"path": "o.nc"}, "dataset.path", "netCDF"),
                 ({"path": "o.dat", "format": "hdf5"}, "dataset.format", ".h5"),
                 ({"format": "raw"}, "dataset.format", "HDF5 file"),
                 ({"order": "F"}, "dataset.order", "C"),
                 ({"offset": 16}, "dataset.offset", "HDF5")]
        for params, key, words in cases:
            cfg = mm.write_config(d, {"dataset": dict(base, **params),
                                      "analyses": [{"op": "generate", "fill": fill}]})
            mm.assert_error(mm.run_mmrun([cfg]), 78, [key, words], args=[cfg])
        # An HDF5 key over a dataset that is read; a second analysis after an HDF5 generate.
        mm.write_raw(os.path.join(d, "in.dat"), np.zeros((20, 10), "<f4"))
        cfg = mm.write_config(d, {"dataset": {"path": "in.dat", "dtype": "<f4", "shape": [20, 10],
                                              "compression": "gzip"},
                                  "analyses": [{"op": "stats"}]})
        mm.assert_error(mm.run_mmrun([cfg]), 78, ["dataset.compression", "mode w+"], args=[cfg])
        cfg = mm.write_config(d, {"dataset": base, "analyses": [
            {"op": "generate", "fill": fill}, {"op": "stats"}]})
        mm.assert_error(mm.run_mmrun([cfg]), 78, ["analyses[1]", "second run"], args=[cfg])
        for name in ("o.h5", "o.dat", "o.npy", "o.nc"):
            mm.check(not os.path.exists(os.path.join(d, name)), "a refused run wrote " + name)
        mm.assert_no_leftovers(d)


@mm.test("hdf5 generate: a full disk (contiguous: before any work; chunked: while compressing) and "
         "a refused target are clean errors (73, one line naming the file) that leave no output, temporary, segment or "
         "process")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        with small_filesystem(d) as fs:
            fill = {"kind": "uniform", "seed": 1}  # incompressible: 2 MB of float64 on 1 MB
            for params in ({}, {"compression": "lzf", "chunks": [50, 500]}):
                ds = dict({"path": "full.h5", "dtype": "<f8", "shape": [500, 500], "mode": "w+"},
                          **params)
                cfg = mm.write_config(fs, {"dataset": ds,
                                           "analyses": [{"op": "generate", "fill": fill}]})
                for launch in ("fork", "spawn"):
                    args = ["-q", "-w", 2, "--launch", launch, "--retries", 0, cfg]
                    res = mm.run_mmrun(args)
                    mm.assert_error(res, 73, ["full.h5", "No space left"], args=args)
                    mm.eq(sorted(os.listdir(fs)), ["config.json"], "%s: files left" % params)
                    mm.assert_no_leftovers(fs)
        # A target that is a folder.
        os.mkdir(os.path.join(d, "dir.h5"))
        for params in ({}, {"compression": "gzip"}):
            ds = dict({"path": "dir.h5", "dtype": "u1", "shape": [10], "mode": "w+"}, **params)
            cfg = mm.write_config(d, {"dataset": ds,
                                      "analyses": [{"op": "generate", "fill": {"kind": "arange"}}]})
            mm.assert_error(mm.run_mmrun(["-q", cfg]), 73, ["dir.h5"], args=[cfg])
            mm.eq(os.listdir(os.path.join(d, "dir.h5")), [], "the folder's contents")
        mm.assert_no_leftovers(d)


@mm.test("hdf5 generate: a failed worker leaves no output and no temporary; a retried one gives "
         "the clean run's bytes")
def _():
    need_h5py()
    with mm.tmpdir() as d:
        ds = {"path": "r.h5", "dtype": "<f4", "shape": [400000, 8], "mode": "w+"}
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [
            {"op": "generate", "fill": {"kind": "normal", "seed": 9}}]})
        check_failed_then_retried(d, cfg, "r.h5")

@mm.test("hdf5 generate: the temporary workers write (the file; a chunked output's spool) "
         "replaced under the run by another file of its name: the workers refuse it (74), no "
         "output")
def _():
    for params, launch in (({}, "fork"), ({"compression": "gzip:1"}, "fork"),
                           ({"compression": "gzip:1"}, "spawn")):
        with mm.tmpdir() as d:
            ds = dict({"path": "t.h5", "dtype": "<f4", "shape": [1000, 50], "mode": "w+"},
                      **params)
            cfg = mm.write_config(d, {"dataset": ds, "analyses": [
                {"op": "generate", "fill": {"kind": "arange"}}]})
            env = dict(os.environ, MMRUN_TEST_FAULT="pause_before_open=1")
            proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "1", "--launch", launch, cfg],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            kids = mm.stopped_children(proc, 1)
            temps = sorted(n for n in os.listdir(d) if n.startswith(".t.h5.mmrun-tmp-"))
            mm.eq(len(temps), 1, "%s: temporaries beside the target: %s" % (params, temps))
            moved = os.path.join(d, "moved" + temps[0])
            os.rename(os.path.join(d, temps[0]), moved)  # another user's file takes the name
            with open(os.path.join(d, temps[0]), "wb") as f:
                f.write(b"\0" * (1 << 20))
            for k in kids:
                os.kill(k, signal.SIGCONT)
            out, err = proc.communicate(timeout=120)
            res = mm.RunResult(proc.returncode, out.decode(), err.decode())
            mm.assert_error(res, 74, ["t.h5", "replaced during the run"])
            mm.check(not os.path.exists(os.path.join(d, "t.h5")), "an output was committed")
            for path in (os.path.join(d, temps[0]), moved):
                if os.path.exists(path):
                    os.unlink(path)
            mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
