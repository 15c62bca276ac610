"""HDF5 and netCDF-4 datasets against h5py + numpy and netCDF4-python
(SPEC §7, issue 14 "Tests").

Every case writes a small file with h5py (filters from hdf5plugin, n-bit and
compact layout through h5repack) in a temporary folder, reads the array back
with h5py (the oracle for stored values), runs mmrun on it by dataset name
and compares:
  - stats, axis null and each single axis: counts, integer sums, min and max
    exactly; mean, var, std, float sums to 1e-12 relative (numpy nan* on
    float64);
  - histogram (default range, so two passes): counts and edges exactly as
    numpy.histogram;
  - quantiles, axis null and axis 0: numpy.nanquantile (linear) to 1e-12;
  - slice to .npy: the file equals a[select] (dtype, shape, bytes);
  - the same analyses on the same array in an .npy file: a contiguous
    dataset gives byte-identical `results`; any other layout the same counts,
    integer sums, min, max, histograms and quantiles, and the rest to 1e-12
    relative (SPEC §7).
The matrix is a representative sample, not the full product: every dtype in
both byte orders, every layout, every filter, edge chunks, unwritten chunks,
a chunk stored unfiltered (its filter-mask bit), 1-D to 4-D, NaN.
Determinism: 1, 2, 3, 4 and 8 workers, fork and spawn, 1..3 shards + merge
give byte-identical `dataset` and `results` on a compressed chunked cube.
netCDF-4 variables are read by name; CF decoding (`cf`) is compared with
netCDF4-python's default (masked and scaled) values.

When the mmrun under test has no HDF5 driver at all (a file with the HDF5
signature is refused as it was before SPEC §7), every test is skipped with
that reason, and likewise the CF tests when the build has no `cf` key. A
filter that h5py or hdf5plugin on this machine cannot write skips its case.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_hdf5_oracle.py [FILTER...]
"""

import json
import os
import subprocess
import sys
import warnings
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402
from h5oracle import (QS, RTOL, check_stats, expected_histogram, expected_quantiles,  # noqa: E402
                      require_chunk_blocks, require_hdf5)

try:
    import h5py
    from h5py import h5d, h5s, h5t
except ImportError:  # the whole file skips (see require_hdf5)
    h5py = None
try:
    import hdf5plugin
except ImportError:
    hdf5plugin = None
try:
    import netCDF4
except ImportError:
    netCDF4 = None


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


# --------------------------------------------------------------------------
# Data


def random_array(dtype, shape, rng, nan_fraction=0.05):
    """Integers over the dtype's whole range (holding its min and max), bools,
    or normal floats with NaNs (f2 kept in a range it represents)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.3
    if dt.kind in "iu":
        info = np.iinfo(dt)
        a = rng.integers(info.min, info.max, size=shape, dtype=dt.newbyteorder("="), endpoint=True)
        flat = a.reshape(-1)
        flat[0] = info.min
        flat[-1] = info.max
        return a.astype(dt)
    loc, scale = {2: (3.0, 50.0), 4: (10.0, 1e3), 8: (-5e3, 1e6)}[dt.itemsize]
    a = rng.normal(loc, scale, size=shape)
    a[rng.random(shape) < nan_fraction] = np.nan
    return a.astype(dt)


# --------------------------------------------------------------------------
# Oracle (numpy on float64, nan* semantics; SPEC §3)


def select_for(shape):
    """A basic-indexing selection that cuts across chunks: a step on axis 0,
    a middle range on the last axis."""
    parts = ["::2" if shape[0] > 1 else ":"]
    parts += [":"] * (len(shape) - 2)
    if len(shape) > 1:
        n = shape[-1]
        parts.append("%d:%d" % (n // 4, max(n // 4 + 1, n - 1)))
    text = "[" + ", ".join(parts) + "]"
    key = tuple(slice(None, None, 2) if p == "::2" else slice(None) if p == ":" else
                slice(int(p.split(":")[0]), int(p.split(":")[1])) for p in parts)
    return text, key


def analyses_for(a):
    out = [{"name": "all", "op": "stats"}]
    out += [{"name": "ax%d" % k, "op": "stats", "axis": k} for k in range(a.ndim)]
    out += [{"name": "hist", "op": "histogram", "bins": 13},
            {"name": "q", "op": "quantiles", "q": QS},
            {"name": "q0", "op": "quantiles", "q": QS, "axis": 0}]
    return out


def check_results(results, a, what, folder, sel_key=None):
    check_stats(results["all"], a, None, what + " stats")
    for k in range(a.ndim):
        check_stats(results["ax%d" % k], a, k, "%s stats axis %d" % (what, k))
    h = results["hist"]
    exp = expected_histogram(a, 13)
    for k in ("counts", "edges", "below", "above", "nan_count"):
        mm.eq(h.get(k), exp[k], "%s histogram.%s" % (what, k))
    for name, axis in (("q", None), ("q0", 0)):
        exp = expected_quantiles(a, axis)
        got = results[name]["values"]
        mm.eq(mm.shape_of(got), mm.shape_of(exp), "%s quantiles axis %r: shape" % (what, axis))
        mm.assert_close(got, exp, rtol=RTOL, what="%s quantiles axis %r" % (what, axis))
    if sel_key is not None:
        out = np.load(os.path.join(folder, "slice.npy"))
        want = np.asarray(a)[sel_key]
        mm.eq((out.dtype.str, out.shape), (want.dtype.str, want.shape), what + " slice dtype/shape")
        mm.check(out.tobytes() == np.ascontiguousarray(want).tobytes(), what + ": slice bytes differ from a[select]")


def run_doc(folder, dataset, analyses, workers=3, extra=(), cwd="/"):
    """Runs mmrun from another working folder (relative names in the file,
    such as external and virtual sources, resolve against the file's folder)."""
    cfg = mm.write_config(folder, {"dataset": dataset, "analyses": analyses})
    doc, res = mm.run_ok(["-q", "-w", workers] + list(extra) + [cfg], cwd=cwd)
    return doc, res


def compare_to_raw(got, want, a, what):
    """SPEC §7: a chunked dataset agrees with the raw copy to 1e-12 relative,
    exactly for counts, integer sums, min, max, histograms and quantiles.
    Relative to the data's magnitude: a mean that cancels to near zero
    cannot be closer than the rounding of its terms (another block order
    adds them in another order)."""
    integer = a.dtype.kind in "biu"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        big = float(np.nan_to_num(np.nanmax(np.abs(a.astype(np.float64))))) if a.size else 0.0
    atol = {"sum": RTOL * big * a.size, "mean": RTOL * big, "var": RTOL * big * big, "std": RTOL * big}
    mm.eq(list(got.keys()), list(want.keys()), what + ": analyses")
    for name, res in want.items():
        for field, value in res.items():
            w = "%s %s.%s vs the raw copy" % (what, name, field)
            inexact = field in ("mean", "var", "std") or (field == "sum" and not integer)
            if inexact:
                mm.assert_close(mm.parse_doc(json.dumps(got[name][field])), mm.parse_doc(json.dumps(value)),
                                rtol=RTOL, atol=atol[field], what=w)
            else:
                mm.eq(got[name][field], value, w)


def check_h5(folder, fname, name, workers=3, raw_identical=False, what=None):
    """Runs the analyses on dataset `name` of `fname` and checks them against
    h5py's array, and against the same array in an .npy file: byte for byte
    with raw_identical (a contiguous dataset), else as compare_to_raw."""
    what = what or "%s:%s" % (fname, name)
    require_chunk_blocks(os.path.join(folder, fname), name)
    here = os.getcwd()
    os.chdir(folder)  # libhdf5 1.10 resolves external raw files against the working folder
    try:
        with h5py.File(fname, "r") as f:
            a = f[name][...]
    finally:
        os.chdir(here)
    analyses = analyses_for(a)
    sel_text, sel_key = select_for(a.shape)
    analyses.append({"name": "slice", "op": "slice", "select": sel_text, "output": "slice.npy"})
    doc, res = run_doc(folder, {"path": fname, "name": name}, analyses, workers=workers)
    results = doc.get("results")
    mm.check(isinstance(results, dict), what + ": no results object")
    ds = doc.get("dataset", {})
    mm.eq(ds.get("dtype"), a.dtype.str if a.dtype.kind != "b" else "|b1", what + " dataset.dtype")
    mm.eq(ds.get("shape"), list(a.shape), what + " dataset.shape")
    check_results(results, a, what, folder, sel_key)
    mm.write_npy(os.path.join(folder, "copy.npy"), a)
    raw_analyses = [x for x in analyses if x["op"] != "slice"]
    _, raw_res = run_doc(folder, {"path": "copy.npy"}, raw_analyses, workers=workers)
    got = mm.parse_doc(res.out, convert=False)["results"]
    got.pop("slice")
    want = mm.parse_doc(raw_res.out, convert=False)["results"]
    if raw_identical:
        mm.check(json.dumps(got) == json.dumps(want),
                 "%s: contiguous HDF5 results differ from the raw copy's" % what)
    else:
        compare_to_raw(got, want, a, what)
    mm.assert_no_leftovers(folder)
    return doc


# --------------------------------------------------------------------------
# Writing files


def filter_kwargs(flt):
    """h5py create_dataset keywords for a filter name, or Skip when this
    machine's h5py/hdf5plugin cannot write it."""
    from h5py import h5z
    builtin = {"none": {}, "gzip": {"compression": "gzip"},
               "shuffle+gzip": {"compression": "gzip", "shuffle": True},
               "fletcher32": {"fletcher32": True}, "fletcher32+gzip": {"fletcher32": True, "compression": "gzip"},
               "scaleoffset": {"scaleoffset": 0}, "scaleoffset-float": {"scaleoffset": 3},
               "lzf": {"compression": "lzf"}}
    if flt in builtin:
        return builtin[flt]
    if flt == "szip":
        if not h5z.filter_avail(h5z.FILTER_SZIP):
            raise mm.Skip("szip is not available in this HDF5 library")
        return {"compression": "szip"}
    if hdf5plugin is None:
        raise mm.Skip("hdf5plugin is not installed (Debian: python3-hdf5plugin): cannot write %s" % flt)
    plugins = {"lz4": lambda: hdf5plugin.LZ4(), "bzip2": lambda: hdf5plugin.BZip2(),
               "blosc-lz4": lambda: hdf5plugin.Blosc(cname="lz4", shuffle=hdf5plugin.Blosc.SHUFFLE),
               "blosc-zstd": lambda: hdf5plugin.Blosc(cname="zstd", shuffle=hdf5plugin.Blosc.BITSHUFFLE),
               "bitshuffle": lambda: hdf5plugin.Bitshuffle(),
               "bitshuffle-lz4": lambda: hdf5plugin.Bitshuffle(cname="lz4"),
               "zfp": lambda: hdf5plugin.Zfp(reversible=True)}
    return dict(**plugins[flt]())


def write_chunked(path, name, a, chunks, flt, fillvalue=None, partial=None):
    """A chunked dataset; with `partial` (a tuple of slices) only that region
    is written, so chunks outside it stay unallocated (the fill value)."""
    kw = filter_kwargs(flt)
    with h5py.File(path, "a") as f:
        try:
            d = f.create_dataset(name, shape=a.shape, dtype=a.dtype, chunks=chunks, fillvalue=fillvalue, **kw)
        except (ValueError, OSError, TypeError) as e:
            raise mm.Skip("h5py cannot write filter %s here: %s" % (flt, e))
        if partial is None:
            d[...] = a
        else:
            d[partial] = a[partial]


def h5repack(src, dst, *args):
    try:
        res = subprocess.run(["h5repack"] + list(args) + [src, dst], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise mm.Skip("h5repack is not installed (Debian: hdf5-tools)")
    mm.check(res.returncode == 0, "h5repack %s failed: %s" % (" ".join(args), res.stderr.decode()[:500]))


# --------------------------------------------------------------------------
# The matrix: dtypes x (layout, filter, shape)

SHAPES = [(300,), (37, 11), (9, 10, 7), (5, 6, 4, 7)]
CHUNKS = {1: (64,), 2: (8, 4), 3: (4, 3, 5), 4: (2, 4, 3, 3)}  # all leave edge chunks
DTYPES = ["|i1", "|u1", "<i2", ">i2", "<u2", ">u2", "<i4", ">i4", "<u4", ">u4", "<i8", ">i8",
          "<u8", ">u8", "<f2", ">f2", "<f4", ">f4", "<f8", ">f8", "|b1"]
FILTERS = ["none", "gzip", "shuffle+gzip", "fletcher32", "lzf", "lz4", "bzip2", "blosc-lz4",
           "bitshuffle", "szip"]


def dtype_case(k, spelling):
    """Dtype k: contiguous for every third, else chunked with a filter taken
    round-robin (szip only on integers, which it compresses losslessly)."""
    dt = np.dtype(spelling)
    shape = SHAPES[k % len(SHAPES)]
    flt = FILTERS[k % len(FILTERS)]
    if flt == "szip" and dt.kind not in "iu":
        flt = "gzip"
    layout = "contiguous" if k % 3 == 0 else "chunked"

    def fn():
        require_hdf5()
        a = random_array(dt, shape, rng_for("dtype %s" % spelling))
        with mm.tmpdir() as d:
            path = os.path.join(d, "data.h5")
            if layout == "contiguous":
                with h5py.File(path, "w") as f:
                    f.create_dataset("grp/x", data=a)
            else:
                write_chunked(path, "grp/x", a, CHUNKS[len(shape)], flt)
            check_h5(d, "data.h5", "grp/x", raw_identical=(layout == "contiguous"),
                     what="%s %s %s %r" % (dt.str, layout, flt if layout == "chunked" else "", shape))
    return "dtype %s %s%s %dd" % (dt.str, layout, "" if layout == "contiguous" else " " + flt, len(shape)), fn


for _k, _sp in enumerate(DTYPES):
    mm.add_test(*dtype_case(_k, _sp))


def filter_case(flt, spelling, shape):
    def fn():
        require_hdf5()
        dt = np.dtype(spelling)
        a = random_array(dt, shape, rng_for("filter %s" % flt))
        if flt.startswith("scaleoffset") or flt == "zfp":
            a = np.nan_to_num(a, nan=1.0).astype(dt)  # lossy/reversible coders: no NaN
        with mm.tmpdir() as d:
            write_chunked(os.path.join(d, "f.h5"), "/v", a, CHUNKS[len(shape)], flt)
            check_h5(d, "f.h5", "/v", what="filter %s %s %r" % (flt, dt.str, shape))
    return fn


for _flt, _sp, _shape in [
        ("gzip", "<f8", (37, 11)), ("shuffle+gzip", ">f4", (9, 10, 7)), ("fletcher32", "<i4", (300,)),
        ("fletcher32+gzip", ">i2", (5, 6, 4, 7)), ("scaleoffset", "<i4", (37, 11)),
        ("scaleoffset-float", "<f8", (9, 10, 7)), ("szip", "<i2", (37, 11)), ("lzf", "<f4", (9, 10, 7)),
        ("lz4", "<u2", (37, 11)), ("bzip2", "<f8", (300,)), ("blosc-lz4", "<f4", (9, 10, 7)),
        ("blosc-zstd", ">i8", (37, 11)), ("bitshuffle", "<f4", (37, 11)), ("bitshuffle-lz4", "<u4", (9, 10, 7)),
        ("zfp", "<f8", (9, 10, 7))]:
    mm.add_test("filter %s" % _flt, filter_case(_flt, _sp, _shape))


@mm.test("filter nbit (h5repack): full-precision <i4, and a 20-bit big-endian integer type in 4 bytes")
def nbit():
    require_hdf5()
    a = (rng_for("nbit").integers(-(1 << 19), 1 << 19, size=(37, 11))).astype(">i4")
    with mm.tmpdir() as d:
        src, dst = os.path.join(d, "src.h5"), os.path.join(d, "nbit.h5")
        with h5py.File(src, "w") as f:
            f["full"] = a.astype("<i4")
            tid = h5t.STD_I32BE.copy()
            tid.set_precision(20)
            h5d.create(f.id, b"n20", tid, h5s.create_simple(a.shape))
            f["n20"][...] = a
        h5repack(src, dst, "-f", "NBIT", "-l", "CHUNK=8x4")
        with h5py.File(dst, "r") as f:
            for n in ("full", "n20"):
                mm.check("5" in f[n]._filters or "nbit" in f[n]._filters,
                         "h5repack did not apply nbit to %s: %r" % (n, f[n]._filters))
        check_h5(d, "nbit.h5", "full")
        # n-bit exists for types like this one; h5py reads it as >i4.
        check_h5(d, "nbit.h5", "n20")


@mm.test("layout compact (h5repack), big-endian float64")
def compact():
    require_hdf5()
    a = random_array(">f8", (8, 5), rng_for("compact"))
    with mm.tmpdir() as d:
        src, dst = os.path.join(d, "src.h5"), os.path.join(d, "compact.h5")
        with h5py.File(src, "w") as f:
            f["c"] = a
        h5repack(src, dst, "-l", "c:COMPA")
        with h5py.File(dst, "r") as f:
            mm.eq(f["c"].id.get_create_plist().get_layout(), h5d.COMPACT, "layout written by h5repack")
        check_h5(d, "compact.h5", "c")


@mm.test("layout external: raw file named relative to the HDF5 file's folder, run from elsewhere")
def external():
    require_hdf5()
    a = random_array(">f4", (40, 6), rng_for("external"))
    with mm.tmpdir() as d:
        sub = os.path.join(d, "sub")
        os.makedirs(sub)
        with open(os.path.join(sub, "part0.bin"), "wb") as f:
            f.write(b"\x55" * 16 + a[:25].tobytes())
        with open(os.path.join(sub, "part1.bin"), "wb") as f:
            f.write(a[25:].tobytes())
        here = os.getcwd()
        os.chdir(sub)
        try:
            with h5py.File("ext.h5", "w") as f:
                f.create_dataset("e", shape=a.shape, dtype=a.dtype,
                                 external=[("part0.bin", 16, a[:25].nbytes), ("part1.bin", 0, a[25:].nbytes)])
            with h5py.File("ext.h5", "r") as f:
                mm.check(f["e"][...].tobytes() == a.tobytes(), "h5py does not read the external file back")
        finally:
            os.chdir(here)
        check_h5(sub, "ext.h5", "e")


@mm.test("layout virtual: two source files, unmapped rows read as the fill value")
def virtual():
    require_hdf5()
    with mm.tmpdir() as d:
        for i in range(2):
            with h5py.File(os.path.join(d, "src%d.h5" % i), "w") as f:
                f["d"] = rng_for("vds %d" % i).random((10, 6))
        lay = h5py.VirtualLayout(shape=(24, 6), dtype="<f8")
        lay[0:10] = h5py.VirtualSource("src0.h5", "d", shape=(10, 6))
        lay[12:22] = h5py.VirtualSource("src1.h5", "d", shape=(10, 6))
        with h5py.File(os.path.join(d, "v.h5"), "w") as f:
            f.create_virtual_dataset("v", lay, fillvalue=-1.5)
        doc = check_h5(d, "v.h5", "v")
        mm.eq(doc["results"]["all"]["min"], -1.5, "minimum: the fill value of the unmapped rows")


@mm.test("chunks never written read as the fill value (int and float, NaN fill)")
def unwritten_chunks():
    require_hdf5()
    with mm.tmpdir() as d:
        path = os.path.join(d, "u.h5")
        a = random_array("<i2", (40, 30), rng_for("unwritten i"))
        write_chunked(path, "i", a, (8, 8), "shuffle+gzip", fillvalue=-7, partial=np.s_[3:19, 2:13])
        b = random_array("<f4", (6, 20, 9), rng_for("unwritten f"))
        write_chunked(path, "f", b, (2, 5, 4), "gzip", fillvalue=np.nan, partial=np.s_[0:3, 4:11, :])
        with h5py.File(path, "r") as f:
            for n in ("i", "f"):
                total = int(np.prod([-(-s // c) for s, c in zip(f[n].shape, f[n].chunks)]))
                mm.check(f[n].id.get_num_chunks() < total, "%s: every chunk got written" % n)
        check_h5(d, "u.h5", "i")
        check_h5(d, "u.h5", "f")


@mm.test("a chunk stored unfiltered (filter-mask bits set) among compressed chunks")
def unfiltered_chunk():
    require_hdf5()
    a = random_array("<f8", (20, 30), rng_for("unfiltered"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "m.h5")
        with h5py.File(path, "w") as f:
            dset = f.create_dataset("m", data=a, chunks=(7, 8), compression="gzip", shuffle=True)
            block = random_array("<f8", (7, 8), rng_for("unfiltered block"))
            # Both filters skipped for chunk (7, 8): mask bits 0 (shuffle) and 1 (gzip).
            dset.id.write_direct_chunk((7, 8), np.ascontiguousarray(block).tobytes(), filter_mask=3)
            mm.eq(dset.id.get_chunk_info_by_coord((7, 8)).filter_mask, 3, "filter mask written")
        # u1 noise that deflate cannot shrink: HDF5 stores those chunks unfiltered by itself.
        noise = rng_for("noise").integers(0, 256, size=(64, 64), dtype=np.uint8)
        with h5py.File(path, "a") as f:
            f.create_dataset("noise", data=noise, chunks=(32, 32), compression="gzip")
        check_h5(d, "m.h5", "m")
        check_h5(d, "m.h5", "noise")


@mm.test("a chunked dataset over many chunks, 1-D and 4-D, NaN lanes")
def many_chunks():
    require_hdf5()
    with mm.tmpdir() as d:
        path = os.path.join(d, "many.h5")
        a = random_array("<f4", (20000,), rng_for("1d many"))
        write_chunked(path, "one", a, (333,), "blosc-lz4")
        b = random_array(">f8", (7, 9, 8, 10), rng_for("4d many"), nan_fraction=0.2)
        b[:, 2, :, :] = np.nan
        write_chunked(path, "four", b, (3, 2, 3, 4), "shuffle+gzip")
        check_h5(d, "many.h5", "one", workers=2)
        check_h5(d, "many.h5", "four", workers=4)


@mm.test("dataset name: leading / optional, left out for a file with one numeric dataset; misspelt or a group: 78")
def dataset_names():
    require_hdf5()
    a = random_array("<f4", (30, 4), rng_for("names"))
    with mm.tmpdir() as d:
        with h5py.File(os.path.join(d, "one.h5"), "w") as f:
            f["grp/temperature"] = a
            f["grp"].attrs["title"] = "one numeric dataset, in a group"
        texts = []
        for dataset in ({"path": "one.h5", "name": "/grp/temperature"}, {"path": "one.h5", "name": "grp/temperature"},
                        {"path": "one.h5"}, {"path": "one.h5", "format": "hdf5"}):
            doc, res = run_doc(d, dataset, [{"op": "stats"}])
            check_stats(doc["results"]["stats"], a, None, "name %r" % dataset.get("name"))
            texts.append(mm.top_level_spans(res.out)["results"])
        mm.check(len(set(texts)) == 1, "results differ between the spellings of the name")
        for name, closest in (("grp/temperatur", "temperature"), ("grp", "temperature")):
            cfg = mm.write_config(d, {"dataset": {"path": "one.h5", "name": name}, "analyses": [{"op": "stats"}]})
            mm.assert_error(mm.run_mmrun(["-q", cfg]), 78, [closest], args=[cfg])
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# transform (SPEC §7: in place on contiguous datasets, refused on chunked ones)


@mm.test("transform affine in place on a contiguous big-endian dataset: h5py reads the new values")
def transform_contiguous():
    require_hdf5()
    a = random_array(">f8", (300, 7), rng_for("transform"))
    other = random_array("<i4", (50,), rng_for("transform other"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "t.h5")
        with h5py.File(path, "w") as f:
            f["before"] = other
            f["x"] = a
            f["x"].attrs["units"] = "m"
            f["after"] = other[::-1]
        size = os.path.getsize(path)
        cfg = mm.write_config(d, {"dataset": {"path": "t.h5", "name": "x", "mode": "r+"},
                                  "analyses": [{"op": "transform", "fn": "affine", "scale": 2.0, "offset": -1.0}]})
        mm.run_ok(["-q", "-w", 3, cfg])
        want = (a.astype(np.float64) * 2.0 + -1.0).astype(">f8")
        with h5py.File(path, "r") as f:
            got = f["x"][...]
            mm.check(got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True),
                     "transformed dataset differs from a * 2 - 1")
            mm.eq(f["x"].attrs["units"], "m", "attribute after transform")
            mm.check(np.array_equal(f["before"][...], other) and np.array_equal(f["after"][...], other[::-1]),
                     "the other datasets changed")
        mm.eq(os.path.getsize(path), size, "file size after transform")
        mm.assert_no_leftovers(d)


@mm.test("transform on a chunked dataset is refused with exit 78, file untouched")
def transform_chunked_refused():
    require_hdf5()
    a = random_array("<f4", (30, 7), rng_for("transform chunked"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "c.h5")
        write_chunked(path, "x", a, (8, 4), "gzip")
        digest = mm.sha256_file(path)
        cfg = mm.write_config(d, {"dataset": {"path": "c.h5", "name": "x", "mode": "r+"},
                                  "analyses": [{"op": "transform", "fn": "affine", "scale": 2.0}]})
        res = mm.run_mmrun(["-q", cfg])
        mm.assert_error(res, 78, args=[cfg])
        mm.eq(mm.sha256_file(path), digest, "file digest after a refused transform")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Determinism


def spans(text):
    s = mm.top_level_spans(text)
    return s["dataset"], s["results"]


@mm.test("determinism: 1, 2, 3, 4, 8 workers, fork and spawn, 1..3 shards + merge: byte-identical")
def determinism():
    require_hdf5()
    a = random_array("<f4", (41, 30, 20), rng_for("determinism"), nan_fraction=0.1)
    with mm.tmpdir() as d:
        write_chunked(os.path.join(d, "det.h5"), "cube", a, (6, 7, 8), "shuffle+gzip")
        require_chunk_blocks(os.path.join(d, "det.h5"), "cube")
        one_pass = [{"name": "all", "op": "stats"}, {"name": "ax0", "op": "stats", "axis": 0},
                    {"name": "ax2", "op": "stats", "axis": 2},
                    {"name": "hist", "op": "histogram", "bins": 40, "range": [-3000, 3000]}]
        two_pass = [{"name": "histd", "op": "histogram", "bins": 40}, {"name": "q", "op": "quantiles", "q": QS}]
        dataset = {"path": "det.h5", "name": "cube"}
        cfg = mm.write_config(d, {"dataset": dataset, "analyses": one_pass + two_pass})
        # --shard takes single-pass analyses only (SPEC §6).
        cfg1 = mm.write_config(d, {"dataset": dataset, "analyses": one_pass}, name="one_pass.json")

        def run(args):
            res = mm.run_mmrun(args)
            mm.check(res.code == 0, mm.describe(args, res))
            return res.out
        texts = {"%d %s" % (w, launch): run(["-q", "-w", w, "--launch", launch, cfg])
                 for w, launch in ((1, "fork"), (2, "fork"), (3, "spawn"), (4, "fork"), (8, "spawn"), (2, "spawn"))}
        shard_texts = {"whole": run(["-q", "-w", 2, cfg1])}
        for n in (1, 2, 3):
            parts = []
            for i in range(n):
                out = os.path.join(d, "part%d-%d.json" % (n, i))
                run(["-q", "-w", 1 + i % 2, "--launch", ("fork", "spawn")[i % 2], "--shard", "%d/%d" % (i, n),
                     "-o", out, cfg1])
                parts.append(out)
            shard_texts["%d shards" % n] = run(["merge"] + parts)
        for group in (texts, shard_texts):
            first = next(iter(group))
            want = spans(group[first])
            for k, text in group.items():
                got = spans(text)
                mm.check(got[0] == want[0], "dataset section differs: %s vs %s" % (k, first))
                mm.check(got[1] == want[1], "results are not byte-identical: %s vs %s:\n%s\n%s"
                         % (k, first, got[1][:300], want[1][:300]))
        results = mm.parse_doc(texts["1 fork"])["results"]
        mm.check(mm.parse_doc(shard_texts["whole"])["results"] == {k: results[k] for k in ("all", "ax0", "ax2", "hist")},
                 "the single-pass analyses differ between the two configs")
        check_stats(results["all"], a, None, "det all")
        check_stats(results["ax0"], a, 0, "det ax0")
        check_stats(results["ax2"], a, 2, "det ax2")
        f = a.astype(np.float64).reshape(-1)
        mm.eq(results["hist"]["counts"], np.histogram(f[~np.isnan(f)], 40, (-3000, 3000))[0].tolist(),
              "det histogram with range")
        mm.eq(results["histd"]["counts"], expected_histogram(a, 40)["counts"], "det histogram")
        mm.assert_close(results["q"]["values"], expected_quantiles(a, None), rtol=RTOL, what="det quantiles")
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# netCDF-4


def require_netcdf():
    require_hdf5()
    if netCDF4 is None:
        raise mm.Skip("netCDF4-python is not installed for /usr/bin/python3 (Debian: python3-netcdf4)")


def nc_values(path, var, cf):
    """netCDF4-python's values: masked and scaled (its default) when cf,
    else the stored values; masked entries become NaN."""
    with netCDF4.Dataset(path) as ds:
        v = ds.variables[var]
        v.set_auto_maskandscale(cf)
        x = v[...]
    if np.ma.isMaskedArray(x):
        return np.ma.filled(x.astype(np.float64), np.nan)
    return np.asarray(x)


@mm.test("netCDF-4: variables by name (unlimited time, chunked zlib; contiguous), no CF attributes")
def netcdf_plain():
    require_netcdf()
    rng = rng_for("netcdf plain")
    with mm.tmpdir() as d:
        path = os.path.join(d, "plain.nc")
        with netCDF4.Dataset(path, "w") as ds:
            ds.createDimension("time", None)
            ds.createDimension("lat", 13)
            ds.createDimension("lon", 17)
            t = ds.createVariable("temp", "f4", ("time", "lat", "lon"), zlib=True, chunksizes=(4, 5, 6),
                                  fill_value=False)
            t[0:11] = random_array("<f4", (11, 13, 17), rng)
            h = ds.createVariable("height", "i2", ("lat", "lon"), contiguous=True, fill_value=False)
            h[:] = random_array("<i2", (13, 17), rng)
            lat = ds.createVariable("lat", "f8", ("lat",))
            lat[:] = np.linspace(-60, 60, 13)
        for var in ("temp", "height", "lat"):
            require_chunk_blocks(path, var)
            # The stored values ("cf": false), and netCDF4-python's default
            # values ("cf": "auto" decodes a netCDF-4 file: default-fill
            # masking, an integer variable read as float64).
            for cf in (False, True):
                a = nc_values(path, var, cf=cf)
                dataset = {"path": "plain.nc", "name": var}
                if not cf:
                    dataset["cf"] = False
                doc, _ = run_doc(d, dataset, analyses_for(a))
                check_results(doc["results"], a, "netCDF %s cf=%s" % (var, cf), d)
        mm.assert_no_leftovers(d)


def cf_file(path):
    rng = rng_for("cf")
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", None)
        ds.createDimension("x", 23)
        # Packed: int16 with scale_factor/add_offset (float64) and _FillValue.
        p = ds.createVariable("packed", "i2", ("time", "x"), zlib=True, chunksizes=(3, 8), fill_value=-32767)
        p.scale_factor = np.float64(0.01)
        p.add_offset = np.float64(273.15)
        p.set_auto_maskandscale(False)
        raw = rng.integers(-30000, 30000, size=(9, 23)).astype("i2")
        raw[rng.random(raw.shape) < 0.1] = -32767
        p[0:9] = raw
        # Float with _FillValue, missing_value, valid_range and a NaN or two.
        m = ds.createVariable("masked", "f4", ("time", "x"), fill_value=np.float32(-999.0))
        m.missing_value = np.float32(-888.0)
        m.valid_range = np.array([-100.0, 100.0], dtype="f4")
        m.set_auto_maskandscale(False)
        vals = rng.normal(0, 60, size=(9, 23)).astype("f4")
        vals[rng.random(vals.shape) < 0.05] = -999.0
        vals[rng.random(vals.shape) < 0.05] = -888.0
        vals[0, 0] = np.nan
        m[0:9] = vals
        # Float with scale_factor only (float32): unpacked to float32.
        s = ds.createVariable("scaled32", "u1", ("time", "x"), fill_value=np.uint8(255))
        s.scale_factor = np.float32(0.5)
        s.set_auto_maskandscale(False)
        r = rng.integers(0, 256, size=(9, 23)).astype("u1")
        s[0:9] = r


def cf_check(d, var, cf_key):
    """Runs stats and quantiles on `var` with dataset.cf = cf_key; compares
    with netCDF4-python (decoded unless cf_key is False)."""
    path = os.path.join(d, "cf.nc")
    require_chunk_blocks(path, var)
    decoded = cf_key is not False
    a = nc_values(path, var, cf=decoded)
    dataset = {"path": "cf.nc", "name": var}
    if cf_key is not None:
        dataset["cf"] = cf_key
    analyses = [{"name": "all", "op": "stats"}, {"name": "ax0", "op": "stats", "axis": 0},
                {"name": "q", "op": "quantiles", "q": QS}]
    cfg = mm.write_config(d, {"dataset": dataset, "analyses": analyses})
    res = mm.run_mmrun(["-q", "-w", "2", cfg])
    if res.code == 78 and "cf" in res.err:
        raise mm.Skip("this mmrun has no `cf` key yet (SPEC §7 CF decoding): " + res.err.strip())
    mm.check(res.code == 0, mm.describe([cfg], res))
    results = mm.parse_doc(res.out)["results"]
    what = "%s cf=%r" % (var, cf_key)
    check_stats(results["all"], a, None, what)
    check_stats(results["ax0"], a, 0, what + " axis 0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp = np.nanquantile(a.astype(np.float64), QS).tolist()
    mm.assert_close(results["q"]["values"], exp, rtol=RTOL, what=what + " quantiles")


def cf_case(var, cf_key):
    def fn():
        require_netcdf()
        with mm.tmpdir() as d:
            cf_file(os.path.join(d, "cf.nc"))
            cf_check(d, var, cf_key)
            mm.assert_no_leftovers(d)
    return fn


for _var in ("packed", "masked", "scaled32"):
    for _cf in (None, True, False):
        mm.add_test("netCDF CF %s cf=%s (netCDF4-python's values)" % (_var, "default" if _cf is None else _cf),
                    cf_case(_var, _cf))

# --------------------------------------------------------------------------
# Direct chunk reads (source/hdf5/hdf5_chunks.h): unfiltered chunks from the
# file's bytes, shuffle and deflate decoded by mmrun, unallocated chunks
# filled; each against h5py, interior and edge chunks, every dtype in both
# byte orders, 1-D to 4-D.

DIRECT_PIPELINES = {"none": {}, "shuffle": {"shuffle": True},
                    "gzip1": {"compression": "gzip", "compression_opts": 1},
                    "shuffle+gzip4": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
                    "shuffle+gzip9": {"compression": "gzip", "compression_opts": 9, "shuffle": True}}


def datasets_case(filename, label, dtypes, pipeline_of, skip_unwritable=False):
    """A test that writes one chunked dataset per dtype into one file (the
    k-th with pipeline_of(k): h5py keyword arguments and their label) and
    checks each against h5py. skip_unwritable: a pipeline h5py cannot
    write here skips the test."""
    def fn():
        require_hdf5()
        with mm.tmpdir() as d:
            path = os.path.join(d, filename)
            written = []
            for k, spelling in enumerate(dtypes):
                dt = np.dtype(spelling)
                shape = SHAPES[k % len(SHAPES)]
                a = random_array(dt, shape, rng_for("%s %s" % (label, spelling)))
                kw, what = pipeline_of(k)
                name = "d%d" % k
                with h5py.File(path, "a") as f:
                    try:
                        f.create_dataset(name, data=a, chunks=CHUNKS[len(shape)], **kw)
                    except (ValueError, OSError, TypeError) as e:
                        if not skip_unwritable:
                            raise
                        raise mm.Skip("h5py cannot write %s here: %s" % (label, e))
                written.append((name, "%s%s %s %r" % (label, what, dt.str, shape)))
            for name, what in written:
                check_h5(d, filename, name, what=what)
    return fn


def direct_case(pipeline, dtypes):
    return datasets_case("direct.h5", "direct %s" % pipeline, dtypes,
                         lambda k: (DIRECT_PIPELINES[pipeline], ""))


for _i, _p in enumerate(DIRECT_PIPELINES):
    mm.add_test("direct chunks: %s, every dtype" % _p,
                direct_case(_p, [DTYPES[j] for j in range(len(DTYPES)) if j % 2 == _i % 2]))


def write_low_level(path, name, a, chunks, fill, fill_time, gzip=False):
    """A chunked dataset through h5py's low-level API (fill time and value
    chosen), only its first chunk along axis 0 written."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(chunks)
    if gzip:
        dcpl.set_deflate(6)
    if fill is not None:
        dcpl.set_fill_value(np.array(fill, dtype=a.dtype))
    dcpl.set_fill_time(fill_time)
    with h5py.File(path, "a") as f:
        tid = h5py.h5t.py_create(a.dtype)
        h5d.create(f.id, name.encode(), tid, h5s.create_simple(a.shape), dcpl=dcpl)
        f[name][0:chunks[0]] = a[0:chunks[0]]


@mm.test("direct chunks: unwritten chunks read as h5py reads them (fill value; zeros with fill time never)")
def direct_fill():
    require_hdf5()
    with mm.tmpdir() as d:
        path = os.path.join(d, "fill.h5")
        cases = []
        for k, (spelling, fill) in enumerate((("<f4", 2.5), (">i4", -9), ("<u2", 7), (">f8", np.nan))):
            a = random_array(spelling, (23, 9), rng_for("fill %d" % k))
            for t, when in enumerate((h5d.FILL_TIME_ALLOC, h5d.FILL_TIME_IFSET, h5d.FILL_TIME_NEVER)):
                for gzip in (False, True):
                    name = "f%d_%d_%d" % (k, t, gzip)
                    write_low_level(path, name, a, (5, 4), fill, when, gzip)
                    cases.append(name)
        with h5py.File(path, "r") as f:
            never = f["f0_2_0"][...]
            mm.check(not never[5:].any(), "h5py reads fill-time-never unwritten chunks as zeros")
        for name in cases:
            check_h5(d, "fill.h5", name, workers=2)


@mm.test("direct chunks: one filter of shuffle+gzip skipped by a chunk's filter mask")
def direct_filter_mask():
    require_hdf5()
    a = random_array(">f4", (24, 30), rng_for("mask"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "mask.h5")
        with h5py.File(path, "w") as f:
            sg = f.create_dataset("sg", data=a, chunks=(8, 10), compression="gzip", shuffle=True)
            g = f.create_dataset("g", data=a, chunks=(8, 10), compression="gzip")
            for k, (dset, offset, mask) in enumerate(((sg, (8, 10), 1), (sg, (16, 0), 2), (g, (0, 20), 1))):
                block = random_array(">f4", (8, 10), rng_for("mask block %d" % k))
                raw = np.ascontiguousarray(block).tobytes()
                shuffled = np.frombuffer(raw, np.uint8).reshape(-1, 4).T.tobytes()
                # Mask bit 0 skips shuffle (stored: deflated raw bytes) and
                # bit 1 gzip (stored: the shuffled bytes); g has gzip only.
                payload = {1: zlib.compress(raw) if dset is sg else raw, 2: shuffled}[mask]
                dset.id.write_direct_chunk(offset, payload, filter_mask=mask)
        check_h5(d, "mask.h5", "sg")
        check_h5(d, "mask.h5", "g")


@mm.test("direct chunks: results byte-identical for 1 and 3 workers, fork and spawn")
def direct_determinism():
    require_hdf5()
    a = random_array("<f8", (50, 33, 9), rng_for("direct det"), nan_fraction=0.1)
    with mm.tmpdir() as d:
        path = os.path.join(d, "det.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("plain", data=a, chunks=(7, 8, 9))
            f.create_dataset("gz", data=a, chunks=(7, 8, 4), compression="gzip", shuffle=True)
        for name in ("plain", "gz"):
            cfg = mm.write_config(d, {"dataset": {"path": "det.h5", "name": name},
                                      "analyses": [{"name": "all", "op": "stats"},
                                                   {"name": "ax1", "op": "stats", "axis": 1},
                                                   {"name": "q", "op": "quantiles", "q": QS}]})
            texts = {}
            for w, launch in ((1, "fork"), (3, "fork"), (1, "spawn"), (3, "spawn")):
                args = ["-q", "-w", w, "--launch", launch, cfg]
                res = mm.run_mmrun(args)
                mm.check(res.code == 0, mm.describe(args, res))
                texts["%d %s" % (w, launch)] = spans(res.out)[1]
            mm.check(len(set(texts.values())) == 1, "%s: results differ between runs: %r" % (name, list(texts)))
            check_stats(mm.parse_doc(res.out)["results"]["ax1"], a, 1, name + " ax1")
        mm.assert_no_leftovers(d)


def chunk_error(path, name, workers=(1, 3)):
    folder = os.path.dirname(path)
    cfg = mm.write_config(folder, {"dataset": {"path": os.path.basename(path), "name": name},
                                   "analyses": [{"op": "stats"}]})
    for w in workers:
        res = mm.run_mmrun([cfg, "-w", w, "--retries", "0"])
        mm.assert_error(res, 65, ["chunk [1, 0]"], args=[cfg])
    mm.assert_no_leftovers(folder)


@mm.test("direct chunks: hostile stored chunks are exit 65 naming the chunk")
def direct_hostile():
    require_hdf5()
    a = random_array("<i4", (30, 12), rng_for("hostile"))
    for kw, payload in (({}, b"\x01" * 17),  # unfiltered, wrong size
                        ({"compression": "gzip"}, b"\x78\x9c" + b"\xff" * 40),  # not zlib
                        ({"compression": "gzip"}, zlib.compress(b"\x00" * 100)),  # inflates short
                        ({"compression": "gzip", "shuffle": True}, zlib.compress(b"\x00" * 10000))):  # long
        with mm.tmpdir() as d:
            path = os.path.join(d, "bad.h5")
            with h5py.File(path, "w") as f:
                dset = f.create_dataset("x", data=a, chunks=(10, 12), **kw)
                dset.id.write_direct_chunk((10, 0), payload)
            chunk_error(path, "x")


@mm.test("direct chunks: every chunk index of the 1.10 format (fixed and extensible array, v2 B-tree, single chunk, implicit)")
def direct_chunk_indexes():
    require_hdf5()
    a = random_array("<i4", (30, 17), rng_for("indexes"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "idx.h5")
        with h5py.File(path, "w", libver="latest") as f:
            for flt, kw in (("none", {}), ("gzip", {"compression": "gzip", "shuffle": True})):
                f.create_dataset("fixed_" + flt, data=a, chunks=(7, 5), **kw)
                f.create_dataset("earray_" + flt, data=a, chunks=(7, 5), maxshape=(None, 17), **kw)
                f.create_dataset("btree2_" + flt, data=a, chunks=(7, 5), maxshape=(None, None), **kw)
                f.create_dataset("single_" + flt, data=a, chunks=a.shape, **kw)
                partial = f.create_dataset("sparse_" + flt, shape=a.shape, dtype=a.dtype, chunks=(7, 5),
                                           maxshape=(None, 17), fillvalue=-3, **kw)
                partial[8:20, 3:9] = a[8:20, 3:9]
            dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            dcpl.set_chunk((7, 5))
            dcpl.set_alloc_time(h5d.ALLOC_TIME_EARLY)
            h5d.create(f.id, b"implicit", h5py.h5t.STD_I32LE, h5s.create_simple(a.shape), dcpl=dcpl)
            f["implicit"][...] = a
        names = ["implicit"] + [k + "_" + flt for k in ("fixed", "earray", "btree2", "single", "sparse")
                                for flt in ("none", "gzip")]
        for name in names:
            check_h5(d, "idx.h5", name, workers=2)


@mm.test("direct chunks: grids of more than 512 chunks (read with H5Dread_chunk): filters, mask bits, fill values")
def direct_large_grid():
    require_hdf5()
    a = random_array(">f4", (101, 63), rng_for("large grid"))  # chunks (2, 5): 51 x 13 = 663
    with mm.tmpdir() as d:
        path = os.path.join(d, "grid.h5")
        with h5py.File(path, "w") as f:
            for name, kw in (("none", {}), ("gzip", {"compression": "gzip"}),
                             ("sg", {"compression": "gzip", "shuffle": True})):
                dset = f.create_dataset(name, data=a, chunks=(2, 5), **kw)
                if kw:
                    block = random_array(">f4", (2, 5), rng_for("grid block " + name))
                    dset.id.write_direct_chunk((40, 10), block.tobytes(), filter_mask=3)
            sparse = f.create_dataset("sparse", shape=a.shape, dtype=a.dtype, chunks=(2, 5),
                                      compression="gzip", fillvalue=4.5)
            sparse[30:70, 7:40] = a[30:70, 7:40]
        write_low_level(path, "never", a, (2, 5), 3.0, h5d.FILL_TIME_NEVER, gzip=True)
        for name in ("none", "gzip", "sg", "sparse", "never"):
            check_h5(d, "grid.h5", name, workers=2)
        with h5py.File(path, "a") as f:
            f["gzip"].id.write_direct_chunk((2, 0), b"\x78\x9c" + b"\xff" * 40)
        cfg = mm.write_config(d, {"dataset": {"path": "grid.h5", "name": "gzip"}, "analyses": [{"op": "stats"}]})
        for w in (1, 3):
            mm.assert_error(mm.run_mmrun([cfg, "-w", w, "--retries", "0"]), 65, ["chunk [1, 0]"], args=[cfg])
        mm.assert_no_leftovers(d)


@mm.test("direct chunks: a zlib stream with trailing bytes reads as h5py reads it (a few, and far more than the chunk)")
def direct_trailing_bytes():
    require_hdf5()
    a = random_array("<f8", (30, 12), rng_for("trailing"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "trail.h5")
        with h5py.File(path, "w") as f:
            for name, extra in (("few", 100), ("many", 3 * a[10:20].nbytes + 10000)):
                dset = f.create_dataset(name, data=a, chunks=(10, 12), compression="gzip")
                block = random_array("<f8", (10, 12), rng_for("trailing " + name))
                dset.id.write_direct_chunk((10, 0), zlib.compress(block.tobytes()) + b"\x5a" * extra)
        for name in ("few", "many"):
            check_h5(d, "trail.h5", name)


@mm.test("direct chunks: a chunk address past the end of the file is exit 65 naming the chunk")
def direct_address_past_eof():
    require_hdf5()
    a = random_array("<f4", (30, 12), rng_for("past eof"))
    for kw in ({}, {"compression": "gzip"}):
        with mm.tmpdir() as d:
            path = os.path.join(d, "far.h5")
            with h5py.File(path, "w") as f:
                f.create_dataset("x", data=a, chunks=(10, 12), **kw)
            with h5py.File(path, "r") as f:
                addr = f["x"].id.get_chunk_info_by_coord((10, 0)).byte_offset
            with open(path, "rb") as f:
                data = f.read()
            old = addr.to_bytes(8, "little")
            mm.eq(data.count(old), 1, "the chunk's address in the chunk index")
            with open(path, "r+b") as f:  # the v1 B-tree of the chunk index has no checksum
                f.seek(data.index(old))
                f.write((len(data) + 4096).to_bytes(8, "little"))
            chunk_error(path, "x")



# --------------------------------------------------------------------------
# Blosc chunks decoded by mmrun with libblosc (source/hdf5/hdf5_chunks.h):
# every inner codec and blosc shuffle against h5py (hdf5plugin's filter),
# every dtype in both byte orders, edge and unwritten chunks, filter-mask
# bits, HDF5's shuffle around blosc, grids of more than 512 chunks, and
# hostile stored chunks.

BLOSC_CODECS = ["lz4", "lz4hc", "zlib", "zstd", "blosclz", "snappy"]


def blosc_kwargs(cname, shuffle, clevel=5):
    if hdf5plugin is None:
        raise mm.Skip("hdf5plugin is not installed (Debian: python3-hdf5plugin): cannot write blosc")
    return dict(**hdf5plugin.Blosc(cname=cname, clevel=clevel, shuffle=shuffle))


def blosc_case(cname, dtypes):
    # Shuffle none, byte, bit in turn; levels 1 to 9.
    return datasets_case("blosc.h5", "blosc %s" % cname, dtypes,
                         lambda k: (blosc_kwargs(cname, k % 3, clevel=1 + k % 9),
                                    " shuffle %d" % (k % 3)),
                         skip_unwritable=True)


for _i, _c in enumerate(BLOSC_CODECS):
    mm.add_test("blosc chunks: %s, shuffle 0/1/2, every dtype" % _c,
                blosc_case(_c, [DTYPES[j] for j in range(len(DTYPES)) if j % 2 == _i % 2]))


def blosc_low_level(f, name, a, chunks, filters, fill=None):
    """A chunked dataset whose pipeline is `filters` in write order
    ("shuffle", "blosc", "gzip"), written whole."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_chunk(chunks)
    if fill is not None:
        dcpl.set_fill_value(np.array(fill, dtype=a.dtype))
    for flt in filters:
        if flt == "shuffle":
            dcpl.set_shuffle()
        elif flt == "gzip":
            dcpl.set_deflate(4)
        else:
            dcpl.set_filter(32001, h5py.h5z.FLAG_OPTIONAL, blosc_kwargs("lz4", 1)["compression_opts"])
    h5d.create(f.id, name.encode(), h5py.h5t.py_create(a.dtype), h5s.create_simple(a.shape), dcpl=dcpl)
    f[name][...] = a


@mm.test("blosc chunks: HDF5 shuffle before or after blosc, blosc+gzip (H5Dread), unwritten chunks, filter-mask bits, >512 chunks")
def blosc_pipelines():
    require_hdf5()
    a = random_array(">f4", (101, 63), rng_for("blosc pipelines"))
    with mm.tmpdir() as d:
        path = os.path.join(d, "pipe.h5")
        with h5py.File(path, "w") as f:
            blosc_kwargs("lz4", 1)  # skips without hdf5plugin
            for name, filters in (("sb", ("shuffle", "blosc")), ("bs", ("blosc", "shuffle")),
                                  ("bg", ("blosc", "gzip")), ("gb", ("gzip", "blosc"))):
                blosc_low_level(f, name, a, (16, 10), filters)
            for name, chunks in (("mask", (16, 10)), ("grid", (2, 5))):  # 7 x 7 and 51 x 13 chunks
                dset = f.create_dataset(name, data=a, chunks=chunks, **blosc_kwargs("zstd", 2))
                for k, offset in enumerate(((16, 10), (32, 0))):
                    block = random_array(">f4", chunks, rng_for("blosc mask %s %d" % (name, k)))
                    dset.id.write_direct_chunk(offset, block.tobytes(), filter_mask=1)
                    mm.eq(dset.id.get_chunk_info_by_coord(offset).filter_mask, 1, "filter mask written")
            for name, chunks in (("sparse", (16, 10)), ("sparse_grid", (2, 5))):
                sparse = f.create_dataset(name, shape=a.shape, dtype=a.dtype, chunks=chunks, fillvalue=4.5,
                                          **blosc_kwargs("lz4", 1))
                sparse[30:70, 7:40] = a[30:70, 7:40]
            sb = f["sb"]
            block = random_array(">f4", (16, 10), rng_for("blosc mask sb"))
            raw = np.ascontiguousarray(block).tobytes()
            sb.id.write_direct_chunk((16, 0), np.frombuffer(raw, np.uint8).reshape(-1, 4).T.tobytes(),
                                     filter_mask=2)  # blosc skipped: the shuffled bytes
        for name in ("sb", "bs", "bg", "gb", "mask", "grid", "sparse", "sparse_grid"):
            check_h5(d, "pipe.h5", name, workers=2)


@mm.test("blosc chunks: hostile stored chunks (garbage, truncated header or stream, trailing bytes, huge or short sizes, bad block size, bad body) are exit 65 naming the chunk")
def blosc_hostile():
    require_hdf5()
    a = (np.arange(360) % 7).astype("<i4").reshape(30, 12)  # compresses: stored as a blosc stream
    with mm.tmpdir() as d:  # a valid stream of chunk [1, 0], to damage
        path = os.path.join(d, "good.h5")
        with h5py.File(path, "w") as f:
            dset = f.create_dataset("x", data=a, chunks=(10, 12), **blosc_kwargs("lz4", 1))
            _, good = dset.id.read_direct_chunk((10, 0))
    mm.check(len(good) > 32 and good[4:8] == (a[10:20].nbytes).to_bytes(4, "little"), "a blosc header")

    def sizes(stream, nbytes=None, cbytes=None, blocksize=None):
        head = bytearray(stream[:16])
        if nbytes is not None:
            head[4:8] = nbytes.to_bytes(4, "little")
        if blocksize is not None:
            head[8:12] = blocksize.to_bytes(4, "little")
        if cbytes is not None:
            head[12:16] = cbytes.to_bytes(4, "little")
        return bytes(head) + stream[16:]

    body = bytearray(good)
    body[16:] = bytes((x * 37 + 11) & 0xff for x in range(len(good) - 16))
    for what, payload in (("garbage", b"\x01" * 40), ("shorter than a header", good[:9]),
                          ("truncated stream", good[:len(good) // 2]),
                          ("trailing bytes", good + b"\x5a" * 100),  # h5py's filter fails too
                          ("huge size", sizes(good, nbytes=0x7ffffff0)),
                          ("short size", sizes(good, nbytes=a[10:20].nbytes // 2)),
                          ("huge compressed size", sizes(good, cbytes=0x7ffffff0)),
                          ("huge block size", sizes(good, blocksize=0x7ffffff0)),
                          ("zero block size", sizes(good, blocksize=0)),
                          ("bad body", bytes(body))):
        with mm.tmpdir() as d:
            path = os.path.join(d, "bad.h5")
            with h5py.File(path, "w") as f:
                dset = f.create_dataset("x", data=a, chunks=(10, 12), **blosc_kwargs("lz4", 1))
                dset.id.write_direct_chunk((10, 0), payload)
            chunk_error(path, "x")



@mm.test("blosc chunks: mutated streams (lz4, zstd; header and body bytes, cuts) are read as h5py reads them or exit 65, never a crash")
def blosc_mutations():
    require_hdf5()
    rng = rng_for("blosc mutations")
    a = rng.integers(0, 50, size=(30, 12)).astype("<i4")
    with mm.tmpdir() as d:
        path = os.path.join(d, "mut.h5")
        names = []
        with h5py.File(path, "w") as f:
            for cname in ("lz4", "zstd"):
                good_dset = f.create_dataset("good_" + cname, data=a, chunks=(10, 12), **blosc_kwargs(cname, 1))
                mask, good = good_dset.id.read_direct_chunk((10, 0))
                mm.check(mask == 0 and len(good) < a[10:20].nbytes, "chunk [1, 0] is a blosc stream")
                for k in range(24):
                    stream = bytearray(good)
                    kind = k % 4
                    if kind == 0:  # header bytes
                        for _ in range(1 + k % 3):
                            stream[int(rng.integers(0, 16))] ^= 1 << int(rng.integers(0, 8))
                    elif kind == 1:  # block offsets and body
                        for _ in range(1 + k % 5):
                            stream[int(rng.integers(16, len(stream)))] = int(rng.integers(0, 256))
                    elif kind == 2:  # cut, header sizes kept
                        stream = stream[:int(rng.integers(1, len(stream)))]
                    else:  # cut, the header's compressed size made to match
                        stream = stream[:int(rng.integers(16, len(stream)))]
                        stream[12:16] = len(stream).to_bytes(4, "little")
                    name = "%s_%d" % (cname, k)
                    dset = f.create_dataset(name, data=a, chunks=(10, 12), **blosc_kwargs(cname, 1))
                    dset.id.write_direct_chunk((10, 0), bytes(stream))
                    names.append(name)
        for name in names:
            cfg = mm.write_config(d, {"dataset": {"path": "mut.h5", "name": name},
                                      "analyses": [{"name": "s", "op": "slice", "select": "[:, :]",
                                                    "output": "out.npy"}]})
            res = mm.run_mmrun(["-q", "-w", 1, "--retries", "0", cfg])
            if res.code != 0:
                mm.assert_error(res, 65, ["chunk [1, 0]"], args=[cfg])
                continue
            with h5py.File(path, "r") as f:
                try:
                    want = f[name][...]
                except OSError as e:
                    raise mm.Fail("%s: mmrun read it, h5py fails: %s" % (name, e))
            got = np.load(os.path.join(d, "out.npy"))
            mm.check(got.tobytes() == want.tobytes(), "%s: mmrun's bytes differ from h5py's" % name)
            os.unlink(os.path.join(d, "out.npy"))
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
