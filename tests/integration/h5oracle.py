"""Shared by the HDF5/netCDF-4 integration tests (test_hdf5_oracle.py,
test_hdf5_corpus.py): whether the mmrun under test reads HDF5 at all, and the
stats oracle (numpy nan* on float64; counts, integer sums, min and max exact,
the rest to 1e-12 relative as SPEC §7 allows a chunked dataset)."""

import os
import warnings

import numpy as np

import mmtest as mm

try:
    import h5py
except ImportError:
    h5py = None

FIELDS = ["count", "nan_count", "sum", "mean", "var", "std", "min", "max"]
RTOL = 1e-12
QS = [0.0, 0.1, 0.5, 0.9, 1.0]


# --------------------------------------------------------------------------
# Does this mmrun read HDF5 at all?

_SUPPORT = None


def require_hdf5():
    """Skips the calling test when h5py is missing or when mmrun refuses a
    plain contiguous HDF5 dataset the way a build without the driver does
    (the `name` key unknown, or the file taken for raw bytes asking for a
    dtype). Any other failure is left to the test, which then fails."""
    global _SUPPORT
    if h5py is None:
        raise mm.Skip("h5py is not installed for /usr/bin/python3 (Debian: python3-h5py)")
    if _SUPPORT is None:
        with mm.tmpdir() as d:
            path = os.path.join(d, "probe.h5")
            with h5py.File(path, "w") as f:
                f["x"] = np.arange(12.0).reshape(3, 4)
            cfg = mm.write_config(d, {"dataset": {"path": "probe.h5", "name": "x"},
                                      "analyses": [{"op": "stats"}]})
            res = mm.run_mmrun(["-q", "-w", "1", cfg])
            if res.code == 0:
                _SUPPORT = ""
            elif (res.code == 78 and "unknown" in res.err and "name" in res.err) or (
                    res.code in (65, 78) and "dtype" in res.err):
                _SUPPORT = "this mmrun has no HDF5 driver (SPEC §7): " + res.err.strip()
            else:
                _SUPPORT = ""  # a real failure: the tests report it
    if _SUPPORT:
        raise mm.Skip(_SUPPORT)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def require_chunk_blocks(path, name):
    """Skips the calling test when dataset `name` of `path` is chunked with
    chunks that do not span whole rows and this tree's scan does not hand
    chunk blocks to the analyses yet (engine/scan.cc without
    Partition::BlockBox: the test H3's test_hdf5.py uses too). A 1-D
    dataset, or chunks of whole rows, are row blocks and run regardless."""
    here = os.getcwd()
    os.chdir(os.path.dirname(os.path.abspath(path)))
    try:
        with h5py.File(os.path.basename(path), "r") as f:
            d = f[name]
            boxes = d.chunks is not None and tuple(d.chunks[1:]) != tuple(d.shape[1:])
    finally:
        os.chdir(here)
    if boxes:
        with open(os.path.join(REPO, "engine", "scan.cc")) as f:
            if "BlockBox" not in f.read():
                raise mm.Skip("engine/scan.cc does not pass chunk boxes to the analyses yet "
                              "(%s: chunks %r of shape %r)" % (name, d.chunks, d.shape))


# --------------------------------------------------------------------------
# Oracle


def exact_sum(a, axes):
    dt = a.dtype
    if dt.kind == "b" or dt.itemsize < 8:
        return a.astype(np.int64).sum(axis=axes).tolist()
    native = a.astype(dt.newbyteorder("="))
    shift = np.uint64(32) if dt.kind == "u" else np.int64(32)
    mask = np.uint64(0xFFFFFFFF) if dt.kind == "u" else np.int64(0xFFFFFFFF)
    hs = (native >> shift).astype(np.int64).sum(axis=axes).tolist()
    ls = (native & mask).astype(np.int64).sum(axis=axes).tolist()

    def combine(h, low):
        if isinstance(h, list):
            return [combine(x, y) for x, y in zip(h, low)]
        return (int(h) << 32) + int(low)
    return combine(hs, ls)


def check_stats(got, a, axis, what):
    axes = tuple(range(a.ndim)) if axis is None else (axis % a.ndim,)
    f = np.asarray(a).astype(np.float64)
    mm.check(isinstance(got, dict), "%s: not an object: %r" % (what, got))
    mm.eq(list(got.keys()), FIELDS, what + ": fields")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        isnan = np.isnan(f)
        absf = np.abs(f)
        exp = {"count": (~isnan).sum(axis=axes), "nan_count": isnan.sum(axis=axes),
               "sum": np.nansum(f, axis=axes), "mean": np.nanmean(f, axis=axes),
               "var": np.nanvar(f, axis=axes), "std": np.nanstd(f, axis=axes),
               "min": np.nanmin(f, axis=axes), "max": np.nanmax(f, axis=axes)}
        tol = {"sum": np.nan_to_num(RTOL * np.nansum(absf, axis=axes)),
               "mean": np.nan_to_num(RTOL * np.nanmean(absf, axis=axes)),
               "var": np.nan_to_num(RTOL * np.nanmean(f * f, axis=axes))}
        std = np.nan_to_num(exp["std"])
        tol["std"] = np.where(std > 0, tol["var"] / (2 * np.where(std > 0, std, 1)), np.sqrt(tol["var"]))
    integer = a.dtype.kind in "biu"
    if integer:
        native = a.astype(np.int64) if a.dtype.kind == "b" else a.astype(a.dtype.newbyteorder("="))
        exp["sum"] = exact_sum(a, axes)
        exp["min"] = native.min(axis=axes).tolist()
        exp["max"] = native.max(axis=axes).tolist()
    for field in FIELDS:
        w = "%s.%s" % (what, field)
        if field in ("count", "nan_count") or (integer and field in ("sum", "min", "max")):
            mm.assert_exact_ints(got[field], exp[field], w)
        elif field in ("min", "max"):
            mm.assert_close(got[field], exp[field], rtol=0.0, atol=0.0, what=w)
        else:
            mm.assert_close(got[field], exp[field], rtol=RTOL, atol=tol[field], what=w)


def expected_histogram(a, bins):
    f = np.asarray(a).astype(np.float64).reshape(-1)
    fin = f[np.isfinite(f)]
    rng = (fin.min(), fin.max()) if fin.size else (0.0, 1.0)
    v = f[~np.isnan(f)]
    counts, edges = np.histogram(v, bins=bins, range=rng)
    return {"counts": counts.tolist(), "edges": edges.tolist(), "below": int((v < edges[0]).sum()),
            "above": int((v > edges[-1]).sum()), "nan_count": int(np.isnan(f).sum())}


def expected_quantiles(a, axis):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanquantile(np.asarray(a).astype(np.float64), QS, axis=axis).tolist()
