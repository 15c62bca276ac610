"""CF decoding of netCDF-4 / HDF5 variables (SPEC §7 `cf`, docs/HDF5.md
"CF attributes"). The oracle is netCDF4-python (Debian's python3-netcdf4)
with its default auto-mask-and-scale: `Dataset(path)[name][...]`, masked
values as NaN (`.filled(np.nan)`, an integer array as float64 first), and
the decoded dtype it gives. Files are written with netCDF4-python and with
h5py; every analysis result is compared with numpy's nan-functions on those
values (counts, min, max, histograms exact; sums, means to 1e-12), the slice
output byte for byte."""

import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402
from h5oracle import (QS, check_stats, expected_histogram, expected_quantiles,  # noqa: E402
                      require_hdf5)

try:
    import h5py
except ImportError:
    h5py = None
try:
    import netCDF4
except ImportError:
    netCDF4 = None


def require_netcdf():
    require_hdf5()
    if netCDF4 is None:
        raise mm.Skip("netCDF4-python is not installed for /usr/bin/python3 (Debian: python3-netcdf4)")


def rng_for(name):
    return np.random.default_rng(sum(name.encode()) * 7919 + len(name))


def oracle(path, name, keep_int=False):
    """netCDF4-python's default values of `name`, masked as NaN (an integer
    variable as float64, unless keep_int: one mmrun leaves stored because
    no rule masks or unpacks it, docs/HDF5.md)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with netCDF4.Dataset(path) as ds:
            x = ds[name][...]
    if x.dtype.kind == "f":
        return np.ma.filled(x, np.nan).astype(x.dtype.newbyteorder("="))
    if keep_int:
        mm.check(not np.ma.getmaskarray(x).any(), "%s: netCDF4-python masks values" % name)
        return np.ma.getdata(x)
    return np.ma.filled(np.ma.asarray(x).astype(np.float64), np.nan)


def select_for(shape):
    parts = ["::2" if shape[0] > 1 else ":"] + [":"] * (len(shape) - 1)
    key = tuple(slice(None, None, 2) if p == "::2" else slice(None) for p in parts)
    return "[" + ", ".join(parts) + "]", key


def analyses(a):
    sel, _ = select_for(a.shape)
    out = [{"name": "all", "op": "stats"}]
    out += [{"name": "ax%d" % k, "op": "stats", "axis": k} for k in range(a.ndim)]
    out += [{"name": "hist", "op": "histogram", "bins": 11},
            {"name": "q", "op": "quantiles", "q": QS},
            {"name": "slice", "op": "slice", "select": sel, "output": "slice.npy"}]
    return out


def run(d, path, name, a, cf=None, workers=3, launch="fork"):
    dataset = {"path": os.path.basename(path), "name": name}
    if cf is not None:
        dataset["cf"] = cf
    for leftover in ("slice.npy",):
        if os.path.exists(os.path.join(d, leftover)):
            os.remove(os.path.join(d, leftover))
    cfg = mm.write_config(d, {"dataset": dataset, "analyses": analyses(a)})
    doc, res = mm.run_ok(["-q", "-w", workers, "--launch", launch, cfg])
    return doc, res


def check(d, doc, a, what, dtype=None):
    r = doc["results"]
    check_stats(r["all"], a, None, what + " stats")
    for k in range(a.ndim):
        check_stats(r["ax%d" % k], a, k, "%s stats axis %d" % (what, k))
    exp = expected_histogram(a, 11)
    for k in ("counts", "edges", "below", "above", "nan_count"):
        mm.eq(r["hist"].get(k), exp[k], "%s histogram.%s" % (what, k))
    mm.assert_close(r["q"]["values"], expected_quantiles(a, None), rtol=0.0, what=what + " quantiles")
    out = np.load(os.path.join(d, "slice.npy"))
    want = np.ascontiguousarray(a[select_for(a.shape)[1]])
    mm.eq((out.dtype.str, out.shape), (want.dtype.str, want.shape), what + " slice dtype/shape")
    mm.check(out.tobytes() == want.tobytes(), what + ": slice bytes differ from netCDF4-python's")
    if dtype is not None:
        mm.eq(doc["dataset"]["dtype"], dtype, what + " decoded dtype")


# --------------------------------------------------------------------------
# Files written with netCDF4-python


DIMS = ["t", "y", "x", "z"]


def shape_for(ndim):
    return [(40,), (9, 11), (7, 6, 5), (5, 4, 3, 6)][ndim - 1]


def chunks_for(shape):
    return tuple(max(1, (n + 2) // 3) for n in shape)


def nc_case(name, dtype, ndim, attrs, fill, contiguous, unwritten=False, nan=False, zlib=True):
    """A netCDF-4 variable `name`: random stored values of `dtype`, some
    equal to each CF value, `attrs` set before writing raw (contiguous:
    fixed dimensions; else an unlimited first one and zlib chunks)."""
    def make(path):
        rng = rng_for(name)
        shape = shape_for(ndim)
        with netCDF4.Dataset(path, "w") as ds:
            for k, n in enumerate(shape):
                ds.createDimension(DIMS[k], n if contiguous or k > 0 else None)
            kw = {"contiguous": True} if contiguous else {"zlib": zlib, "chunksizes": chunks_for(shape)}
            v = ds.createVariable(name, dtype, tuple(DIMS[:ndim]), fill_value=fill, **kw)
            fill_nc(v, attrs, dtype, shape, rng, unwritten, nan)
    return make


def fill_nc(v, attrs, dtype, shape, rng, unwritten, nan):
    for k, val in attrs.items():
        v.setncattr(k, val)
    v.set_auto_maskandscale(False)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        raw = (rng.normal(0, 50, size=shape)).astype(dt)
    else:
        info = np.iinfo(dt)
        raw = rng.integers(info.min, int(info.max) + 1, size=shape,
                           dtype=np.uint64 if dt == np.uint64 else np.int64).astype(dt)
    flat = raw.reshape(-1)
    specials = []
    for k in ("_FillValue", "missing_value"):
        if k in attrs:
            specials += list(np.atleast_1d(attrs[k]))
    if "_FillValue" not in attrs and dt.str[1:] in netCDF4.default_fillvals:
        specials.append(netCDF4.default_fillvals[dt.str[1:]])
    if dt.kind == "i":
        # netCDF's default fill for i1..i4, but not for i8 (-2**63 + 2).
        specials.append(-int(np.iinfo(dt).max))
    for s in specials:
        idx = rng.integers(0, flat.size, size=max(1, flat.size // 15))
        flat[idx] = np.array(s).astype(dt)
    if nan:
        flat[rng.integers(0, flat.size, size=3)] = np.nan
    raw = flat.reshape(shape)
    if unwritten:
        v[: shape[0] // 2] = raw[: shape[0] // 2]  # the rest: never written chunks
    else:
        v[...] = raw


NC_CASES = []


def nc(name, dtype, ndim=2, attrs=None, fill=None, contiguous=False, **kw):
    NC_CASES.append((name, nc_case(name, dtype, ndim, attrs or {}, fill, contiguous, **kw)))


nc("fill_f4", "f4", 3, fill=np.float32(-999.0))
nc("fill_f4_contig", "f4", 2, fill=np.float32(-999.0), contiguous=True)
nc("fill_nan_f8", "f8", 1, fill=np.float64(np.nan), nan=True)
nc("missing_scalar_f8", "f8", 2, attrs={"missing_value": np.float64(-1.5)}, nan=True)
nc("missing_vector_i2", "i2", 3, attrs={"missing_value": np.array([-5, 7, 300], "i2")})
nc("valid_minmax_i2", "i2", 2, attrs={"valid_min": np.int16(-20000), "valid_max": np.int16(25000)})
nc("valid_range_i4", "i4", 4, attrs={"valid_range": np.array([-10**9, 10**9], "i4")}, fill=np.int32(-1))
nc("valid_range_wins_f4", "f4", 2, attrs={"valid_range": np.array([-40, 40], "f4"),
                                         "valid_min": np.float32(0)})
nc("unsafe_fill_i2", "i2", 2, attrs={"missing_value": np.float64(0.5)})
# float32(0.1) != 0.1: netCDF4-python ignores this missing_value (_check_safecast).
nc("unsafe_missing_f4", "f4", 2, attrs={"missing_value": np.float64(0.1)})
# Python's truth: the string "false" is true, so the values are unsigned.
nc("unsigned_false_string_i2", "i2", 2, attrs={"_Unsigned": "false"})
for _dt in ("i1", "i2", "i4", "u1", "u2"):
    for _at in ("f4", "f8"):
        nc("packed_%s_%s" % (_dt, _at), _dt, 2,
           attrs={"scale_factor": np.array(0.037, _at)[()], "add_offset": np.array(-12.5, _at)[()]})
nc("scale_only_i2_f4", "i2", 2, attrs={"scale_factor": np.float32(0.25)})
nc("offset_only_u2_f8", "u2", 2, attrs={"add_offset": np.float64(1000.5)})
nc("packed_fill_i2", "i2", 3, attrs={"scale_factor": np.float32(0.01), "add_offset": np.float32(20)},
   fill=np.int16(-32767), unwritten=True)
nc("unsigned_i1", "i1", 2, attrs={"_Unsigned": "true"}, fill=np.int8(-1))
nc("unsigned_i2_packed", "i2", 2, attrs={"_Unsigned": "true", "scale_factor": np.float32(0.5)})
# Decoded in place as each chunk is decoded (stored and decoded elements of
# one size): unfiltered chunks (copied, not mapped), and an 8-byte integer
# unpacked to float64 (never-written chunks: test_cf_unwritten_chunks).
nc("fill_f8_plain", "f8", 2, fill=np.float64(7.5), nan=True, zlib=False)
nc("fill_f4_plain", "f4", 4, fill=np.float32(1e20), zlib=False)
nc("packed_i8_f8", "i8", 2, attrs={"scale_factor": np.float64(0.5), "add_offset": np.float64(-3.0)},
   fill=np.int64(-5))
nc("default_f4", "f4", 2)
nc("default_i4", "i4", 3, unwritten=True)
nc("default_i8", "i8", 2, unwritten=True)
nc("default_u8", "u8", 2, unwritten=True)
nc("default_i1_fill_on", "i1", 2)
nc("default_i1_fill_off", "i1", 2, fill=False)
nc("default_f4_contig", "f4", 3, contiguous=True)
# Nothing to mask or unpack (netCDF-c: a byte variable whose fill is off has
# no default fill): the stored values, not decoded.
STORED = {"default_i1_fill_off"}
# Decoded, but nothing masks (netCDF's negative default fill never equals an
# unsigned value): netCDF4-python's unsigned integers, not float64.
UNSIGNED_ONLY = {"unsigned_false_string_i2"}


def nc_test(name, make):
    def fn():
        require_netcdf()
        with mm.tmpdir() as d:
            path = os.path.join(d, name + ".nc")
            make(path)
            stays = name in STORED
            a = oracle(path, name, keep_int=stays or name in UNSIGNED_ONLY)
            doc, _ = run(d, path, name, a)
            check(d, doc, a, name, a.dtype.str)
            mm.eq(doc["dataset"]["cf"]["decoded"], not stays, name + " dataset.cf.decoded")
            # cf: true decodes alike; cf: false gives the stored values.
            doc_true, _ = run(d, path, name, a, cf=True)
            mm.eq(doc_true["results"], doc["results"], name + " cf true vs auto")
            with netCDF4.Dataset(path) as ds:
                ds[name].set_auto_maskandscale(False)
                stored = np.asarray(ds[name][...])
            doc_false, _ = run(d, path, name, stored, cf=False)
            check(d, doc_false, stored, name + " cf=false", stored.dtype.str)
            mm.eq(doc_false["dataset"]["cf"], {"decoded": False}, name + " cf false: dataset.cf")
            mm.assert_no_leftovers(d)
    return fn


for _name, _make in NC_CASES:
    mm.add_test("netCDF4-written %s (netCDF4-python's values)" % _name, nc_test(_name, _make))


# --------------------------------------------------------------------------
# Files written with h5py (no netCDF-4 marker; netCDF-c reads them too)


def h5_file(path, dtype, attrs, fillvalue=None, chunks=None, shape=(12, 10)):
    rng = rng_for(path)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = rng.normal(0, 50, size=shape).astype(dt)
    else:
        info = np.iinfo(dt)
        a = rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64).astype(dt)
    flat = a.reshape(-1)
    for k in ("_FillValue", "missing_value"):
        if k in attrs:
            for s in np.atleast_1d(attrs[k]):
                flat[rng.integers(0, flat.size, size=8)] = np.array(s).astype(dt)
    if dt.str[1:] in netCDF4.default_fillvals:
        flat[rng.integers(0, flat.size, size=5)] = np.array(netCDF4.default_fillvals[dt.str[1:]]).astype(dt)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", data=a, chunks=chunks, fillvalue=fillvalue,
                              compression="gzip" if chunks else None)
        for k, val in attrs.items():
            ds.attrs[k] = val
    return a


H5_CASES = {
    "fill_f4": ("<f4", {"_FillValue": np.float32(-7.0)}),
    "fill_be_i2_packed": (">i2", {"_FillValue": np.int16(-1), "scale_factor": np.float64(0.1),
                                   "add_offset": np.float64(5)}),
    "missing_u2": ("<u2", {"missing_value": np.array([1, 2, 3], "u2")}),
    "valid_be_f8": (">f8", {"valid_min": np.float64(-30), "valid_max": np.float64(60)}),
    "packed_u1_f4": ("|u1", {"scale_factor": np.float32(0.2), "add_offset": np.float32(-3)}),
    "unsigned_i2": ("<i2", {"_Unsigned": "true", "_FillValue": np.int16(-2)}),
}


def h5_test(key, chunks):
    dtype, attrs = H5_CASES[key]

    def fn():
        require_netcdf()
        with mm.tmpdir() as d:
            path = os.path.join(d, "h.h5")
            h5_file(path, dtype, attrs, chunks=chunks)
            a = oracle(path, "v")
            doc, _ = run(d, path, "v", a)
            check(d, doc, a, "h5py " + key)
            mm.assert_no_leftovers(d)
    return fn


for _key in H5_CASES:
    for _chunks in (None, (5, 4)):
        mm.add_test("h5py-written %s %s (netCDF4-python's values)" % (
            _key, "chunked" if _chunks else "contiguous"), h5_test(_key, _chunks))


@mm.test("cf: chunks never written read as the fill value, masked, on the in-place path (float32 "
         "and float64 masked, int64 unpacked to float64; gzip and unfiltered; grids under and over "
         "512 chunks)")
def test_cf_unwritten_chunks():
    require_netcdf()
    for dtype, attrs, fill in (("<f4", {}, np.float32(-999)), ("<f8", {}, np.float64(1e30)),
                               ("<i8", {"scale_factor": np.float64(0.25)}, np.int64(-77))):
        for shape, chunks in (((40, 30), (8, 6)), ((200, 60), (2, 6))):
            for gzip in (True, False):
                with mm.tmpdir() as d:
                    path = os.path.join(d, "u.h5")
                    rng = rng_for(dtype + str(shape))
                    a = (rng.normal(0, 50, size=shape)).astype(dtype)
                    with h5py.File(path, "w") as f:
                        ds = f.create_dataset("v", shape=shape, dtype=dtype, chunks=chunks,
                                              fillvalue=fill, compression="gzip" if gzip else None)
                        ds.attrs["_FillValue"] = fill
                        for k, val in attrs.items():
                            ds.attrs[k] = val
                        n0 = shape[0]
                        ds[: n0 // 3] = a[: n0 // 3]  # whole chunk rows
                        ds[n0 // 2: n0 // 2 + chunks[0], 12:] = a[n0 // 2: n0 // 2 + chunks[0], 12:]
                    want = oracle(path, "v")
                    mm.check(np.isnan(want).sum() > want.size // 3,
                             "%s: the oracle masks too little" % dtype)
                    doc, _ = run(d, path, "v", want)
                    check(d, doc, want, "unwritten %s %s %s gzip=%s" % (dtype, shape, chunks, gzip))
                    mm.assert_no_leftovers(d)


@mm.test("h5py int8 without attributes: cf auto = stored; cf true masks -127 only with a user fill value")
def h5_default_fill_bytes():
    require_netcdf()
    with mm.tmpdir() as d:
        for fillvalue in (None, 5):
            path = os.path.join(d, "b.h5")
            stored = h5_file(path, "i1", {}, fillvalue=fillvalue, chunks=(4, 4))
            doc, _ = run(d, path, "v", stored)
            check(d, doc, stored, "int8 auto fill=%r" % fillvalue, "|i1")
            mm.eq(doc["dataset"]["cf"], {"decoded": False}, "auto on a plain h5py file")
            a = oracle(path, "v", keep_int=fillvalue is None)
            mm.check((a.dtype.kind == "f" and np.isnan(a).sum() > 0) == (fillvalue is not None),
                     "the oracle masks -127 only with a user fill value")
            doc, _ = run(d, path, "v", a, cf=True)
            check(d, doc, a, "int8 cf true fill=%r" % fillvalue, "<f8" if fillvalue is not None else "|i1")
        path = os.path.join(d, "f.h5")
        stored = h5_file(path, "<f4", {}, chunks=(5, 5))
        doc, _ = run(d, path, "v", stored)
        check(d, doc, stored, "float32 auto, no attributes", "<f4")
        a = oracle(path, "v")
        mm.check(np.isnan(a).sum() > 0, "the oracle masks the default fill")
        doc, _ = run(d, path, "v", a, cf=True)
        check(d, doc, a, "float32 cf true (default fill)", "<f4")
        mm.assert_no_leftovers(d)


def merged_shards(d, cfg, n):
    """`mmrun merge` of the n shards of `cfg` (1 or 2 workers, fork and spawn
    in turn), as top-level spans of its document; the part files removed."""
    parts = []
    for i in range(n):
        out = os.path.join(d, "part%d-%d.json" % (n, i))
        args = ["-q", "-w", 1 + i % 2, "--launch", ("fork", "spawn")[i % 2],
                "--shard", "%d/%d" % (i, n), "-o", out, cfg]
        res = mm.run_mmrun(args)
        mm.check(res.code == 0, mm.describe(args, res))
        parts.append(out)
    res = mm.run_mmrun(["merge"] + parts)
    mm.check(res.code == 0, mm.describe(["merge"] + parts, res))
    for p in parts:
        os.remove(p)
    return mm.top_level_spans(res.out)


@mm.test("decoded documents are byte-identical for 1 and 3 workers, fork and spawn, 2 and 3 shards + merge")
def determinism():
    require_netcdf()
    with mm.tmpdir() as d:
        name = "packed_fill_i2"
        make = dict(NC_CASES)[name]
        path = os.path.join(d, name + ".nc")
        make(path)
        a = oracle(path, name)
        texts = {}
        for workers, launch in ((1, "fork"), (3, "fork"), (3, "spawn"), (2, "spawn")):
            _, res = run(d, path, name, a, workers=workers, launch=launch)
            texts["%d %s" % (workers, launch)] = mm.top_level_spans(res.out)["results"]
        first = list(texts.values())[0]
        for k, t in texts.items():
            mm.check(t == first, "results differ: %s vs %s" % (k, list(texts)[0]))
        # Shards (single-pass analyses, SPEC §6) + merge: the whole run's bytes.
        one_pass = [{"name": "all", "op": "stats"}, {"name": "ax1", "op": "stats", "axis": 1},
                    {"name": "hist", "op": "histogram", "bins": 9, "range": [-400.0, 400.0]}]
        cfg = mm.write_config(d, {"dataset": {"path": name + ".nc", "name": name}, "analyses": one_pass},
                              name="one_pass.json")
        whole, _ = mm.run_ok(["-q", "-w", 2, cfg])
        check_stats(whole["results"]["all"], a, None, "one-pass stats")
        want = mm.top_level_spans(mm.run_mmrun(["-q", "-w", 2, cfg]).out)
        for n in (2, 3):
            got = merged_shards(d, cfg, n)
            mm.check((got["dataset"], got["results"]) == (want["dataset"], want["results"]),
                     "%d shards + merge differ from the whole run" % n)
        mm.assert_no_leftovers(d)


@mm.test("a NaN or infinite scale_factor/add_offset decodes alike with fork, spawn and shards + merge")
def nonfinite_packing():
    require_netcdf()
    with mm.tmpdir() as d:
        for k, (sf, ao) in enumerate(((np.float32(np.nan), np.float32(1)),
                                      (np.float64(np.inf), np.float64(0.5)),
                                      (np.float32(2), np.float32(-np.inf)))):
            name = "v%d" % k
            path = os.path.join(d, name + ".nc")
            with netCDF4.Dataset(path, "w") as ds:
                ds.createDimension("t", None)
                ds.createDimension("x", 5)
                v = ds.createVariable(name, "i2", ("t", "x"), zlib=True, chunksizes=(3, 5))
                v.scale_factor, v.add_offset = sf, ao
                v.set_auto_maskandscale(False)
                v[...] = np.arange(40, dtype="i2").reshape(8, 5) - 20
            a = oracle(path, name)
            cfg = mm.write_config(d, {"dataset": {"path": name + ".nc", "name": name},
                                      "analyses": [{"name": "all", "op": "stats"}]}, name="c.json")
            want = mm.run_ok(["-q", "-w", 1, cfg])[0]
            check_stats(want["results"]["all"], a, None, name + " stats")
            for args in (["-w", 3, "--launch", "spawn"], ["-w", 2]):
                got = mm.run_ok(["-q"] + args + [cfg])[0]
                mm.eq(got["results"], want["results"], "%s %s" % (name, args))
            mm.eq(merged_shards(d, cfg, 2)["results"],
                  mm.top_level_spans(mm.run_mmrun(["-q", "-w", 1, cfg]).out)["results"],
                  name + " shards + merge")
        mm.assert_no_leftovers(d)


@mm.test("transform (mode r+) on a CF-decoded dataset: exit 78 naming dataset.cf, file untouched")
def transform_refused():
    require_netcdf()
    with mm.tmpdir() as d:
        path = os.path.join(d, "t.h5")
        h5_file(path, "<f4", {"_FillValue": np.float32(-7.0)})
        digest = mm.sha256_file(path)
        cfg = mm.write_config(d, {"dataset": {"path": "t.h5", "name": "v", "mode": "r+"},
                                  "analyses": [{"op": "transform", "fn": "affine", "scale": 2.0}]})
        mm.assert_error(mm.run_mmrun(["-q", cfg]), 78, ["dataset.cf", "cf\": false"], args=[cfg])
        mm.eq(mm.sha256_file(path), digest, "file digest after a refused transform")
        # cf false: the stored values are transformed.
        cfg = mm.write_config(d, {"dataset": {"path": "t.h5", "name": "v", "mode": "r+", "cf": False},
                                  "analyses": [{"op": "transform", "fn": "affine", "scale": 2.0}]})
        mm.run_ok(["-q", cfg])
        mm.assert_no_leftovers(d)


@mm.test("inspect: cf_auto says what \"cf\": \"auto\" decodes (the result's dataset.cf)")
def inspect_cf_auto():
    require_netcdf()
    with mm.tmpdir() as d:
        path = os.path.join(d, "i.h5")
        h5_file(path, ">i2", {"_FillValue": np.int16(-1), "scale_factor": np.float32(0.5)})
        with h5py.File(path, "a") as f:
            f["plain"] = np.arange(6.0)
        res = mm.run_mmrun(["inspect", path])
        mm.check(res.code == 0, mm.describe(["inspect", path], res))
        doc = mm.parse_doc(res.out)
        by_name = {x["name"]: x for x in doc["datasets"]}
        mm.eq(by_name["/plain"]["cf_auto"], {"decoded": False}, "plain dataset")
        a = oracle(path, "v")
        got, _ = run(d, path, "v", a)
        mm.eq(by_name["/v"]["cf_auto"], got["dataset"]["cf"], "inspect's cf_auto vs the run's dataset.cf")
        cf = got["dataset"]["cf"]
        mm.eq((cf["decoded"], cf["stored_dtype"], cf["fill_value"], cf["scale_factor"], cf["dtype"]),
              (True, ">i2", -1, 0.5, a.dtype.str), "dataset.cf")
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
