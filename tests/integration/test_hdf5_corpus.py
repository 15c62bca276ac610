"""Real HDF5 and netCDF-4 files that nobody here wrote (issue 14 "Tests",
SPEC §7): the test data Debian packages ship, and copies of them re-encoded
with nccopy and h5repack.

For every dataset in every file (found by walking the file with h5py):
  - numeric (SPEC §2 types, h5py's bool included) and readable by h5py:
    `mmrun` stats (axis null) equal numpy's on h5py's array: count,
    nan_count, integer sum, min and max exactly, the rest to 1e-12 relative;
  - anything h5py cannot read (a type numpy lacks, a filter not installed),
    and every non-numeric type (compound, string, variable-length, array,
    opaque, reference, long double): mmrun exits 65 with one error line;
  - scalar and empty datasets (outside SPEC §2's shapes), bitfields and
    enums other than h5py's bool (SPEC §7 is silent on them) are only listed.
Debian's netCDF-3 files (python3-scipy's) are converted to netCDF-4 with
nccopy (contiguous, deflate+shuffle, netCDF-4 classic) and checked the same
way. Every case reads with "cf": false (the stored values h5py reads).
A file (or a whole package) absent from this machine skips with the reason;
`scripts/bootstrap` installs every package listed here (r-bioc-rhdf5 and
r-bioc-hdf5array bring R along: about 70 MiB). MMRUN_CORPUS (folders
separated by ':') adds more files.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_hdf5_corpus.py [FILTER...]
"""

import glob
import json
import os
import shutil
import subprocess
import sys


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402
from h5oracle import check_stats, require_chunk_blocks, require_hdf5  # noqa: E402

try:
    import h5py
except ImportError:
    h5py = None

SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5", ".nc", ".nc4")

# Package -> where its files are once installed.
PACKAGES = {
    "python-tables-data": ["/usr/share/python-tables/**/*"],
    "gmt-gshhg-low": ["/usr/share/gmt-gshhg/*.nc"],
    "bitshuffle": ["/usr/lib/python3/dist-packages/bitshuffle/tests/data/*.h5"],
    "python3-h5py": ["/usr/lib/python3/dist-packages/h5py/**/tests/data_files/*.h5"],
    "r-bioc-rhdf5": ["/usr/lib/R/site-library/rhdf5/testfiles/*.h5"],
    "r-bioc-hdf5array": ["/usr/lib/R/site-library/HDF5Array/extdata/*.h5"],
}


def files_of(patterns):
    out = set()
    for pattern in patterns:
        for path in glob.glob(pattern, recursive=True):
            if path.endswith(SUFFIXES) and os.path.isfile(path) and h5py is not None and h5py.is_hdf5(path):
                out.add(path)
    return sorted(out)


# --------------------------------------------------------------------------
# Classifying datasets


def walk(path):
    """[(name, kind, detail)] for every dataset in the file: kind 'numeric'
    (detail = h5py's array), 'refused' (detail = why mmrun must exit 65) or
    'listed' (detail = why it is outside the contract). Links h5py cannot
    follow (external links to absent files) are left out."""
    names = []
    with h5py.File(path, "r") as f:
        f.id.links.visit(lambda n: names.append(n.decode() if isinstance(n, bytes) else n))
        out = []
        for name in names:
            try:
                obj = f.get(name)
            except (KeyError, OSError, ValueError):
                continue  # a dangling soft or external link
            if not isinstance(obj, h5py.Dataset):
                continue
            out.append((name,) + classify(obj))
    return out


def classify(d):
    try:
        dt = d.dtype
    except (ValueError, TypeError, OSError) as e:
        return "refused", "h5py cannot map the type: %s" % e
    if d.shape is None or d.shape == () or 0 in d.shape:
        return "listed", "scalar or empty dataspace %r" % (d.shape,)
    if dt.names is not None:
        return "refused", "compound"
    if dt.subdtype is not None:
        return "refused", "array type %s" % dt
    enum = h5py.check_enum_dtype(dt)
    if enum is not None and dt.kind != "b":
        return "listed", "enum %r (SPEC §7 is silent on enums other than bool)" % (enum,)
    if d.id.get_type().get_class() == h5py.h5t.BITFIELD:
        return "listed", "bitfield read by h5py as %s (SPEC §7 is silent on bitfields)" % dt
    if h5py.check_string_dtype(dt) is not None or h5py.check_vlen_dtype(dt) is not None:
        return "refused", "string or variable-length"
    if h5py.check_ref_dtype(dt) is not None:
        return "refused", "reference"
    if dt.kind not in "biuf" or (dt.kind == "f" and dt.itemsize > 8):
        return "refused", "type %s" % dt
    try:
        a = d[...]
    except (OSError, ValueError, TypeError) as e:
        return "refused", "h5py cannot read it: %s" % e
    return "numeric", a


def check_file(path, folder):
    """Checks every dataset of `path`; returns the counts of numeric, refused,
    listed and deferred (chunk blocks not in this tree yet) datasets."""
    counts = {"numeric": 0, "refused": 0, "listed": 0, "deferred": 0}
    datasets = walk(path)
    # inspect describes the whole file: one JSON document naming datasets
    # h5py also reaches (each object once, h5py every link to it).
    res = mm.run_mmrun(["inspect", path])
    mm.check(res.code == 0 and res.err == "", "inspect %s: %s" % (path, mm.describe(["inspect"], res)))
    listed = [e["name"] for e in json.loads(res.out)["datasets"]]
    seen = {"/" + name.lstrip("/") for name, _, _ in datasets}
    mm.check(set(listed) <= seen, "inspect %s lists %s, which h5py does not reach" %
             (path, sorted(set(listed) - seen)[:5]))
    mm.check(bool(listed) == bool(datasets), "inspect %s lists %d datasets, h5py %d" %
             (path, len(listed), len(datasets)))
    for name, kind, detail in datasets:
        counts[kind] += 1
        if kind == "listed":
            continue
        what = "%s:%s" % (path, name)
        if kind == "numeric":
            try:
                require_chunk_blocks(path, name)
            except mm.Skip as e:
                counts["deferred"] += 1
                print("note: %s deferred: %s" % (what, e))
                continue
        # "cf": false: the oracle is h5py's stored values (CF decoding of a
        # netCDF-4 file is test_hdf5_cf.py's).
        cfg = mm.write_config(folder, {"dataset": {"path": path, "name": name, "cf": False},
                                       "analyses": [{"op": "stats"}]})
        res = mm.run_mmrun(["-q", "-w", "2", cfg])
        if kind == "numeric":
            mm.check(res.code == 0, "%s (%s %r): %s" % (what, detail.dtype, detail.shape, mm.describe([cfg], res)))
            check_stats(mm.parse_doc(res.out)["results"]["stats"], detail, None, what)
        else:
            try:
                mm.assert_error(res, 65, args=[cfg])
            except mm.Fail as e:
                raise mm.Fail("%s (%s): %s" % (what, detail, e))
    mm.assert_no_leftovers(folder)
    return counts


def package_case(package):
    def fn():
        require_hdf5()
        paths = files_of(PACKAGES[package])
        if not paths:
            raise mm.Skip("%s is not installed here (no files under %s)" % (package, ", ".join(PACKAGES[package])))
        total = {"numeric": 0, "refused": 0, "listed": 0, "deferred": 0}
        with mm.tmpdir() as d:
            for path in paths:
                for k, v in check_file(path, d).items():
                    total[k] += v
        mm.check(total["numeric"] + total["refused"] > 0, "%s: no dataset found in %d files" % (package, len(paths)))
    return fn


for _package in PACKAGES:
    mm.add_test("corpus %s" % _package, package_case(_package))


@mm.test("corpus MMRUN_CORPUS folders")
def extra_folders():
    require_hdf5()
    folders = [p for p in os.environ.get("MMRUN_CORPUS", "").split(":") if p]
    if not folders:
        raise mm.Skip("MMRUN_CORPUS is not set")
    paths = files_of([os.path.join(p, "**", "*") for p in folders])
    if not paths:
        raise mm.Skip("no HDF5 files under MMRUN_CORPUS=%s" % ":".join(folders))
    with mm.tmpdir() as d:
        for path in paths:
            check_file(path, d)


# --------------------------------------------------------------------------
# Re-encoded copies of the real files


def tool(name, package):
    path = shutil.which(name)
    if path is None:
        raise mm.Skip("%s is not installed (Debian: %s)" % (name, package))
    return path


def run_tool(args):
    res = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mm.check(res.returncode == 0, "%s failed: %s" % (" ".join(args), res.stderr.decode()[:500]))


@mm.test("corpus gmt-gshhg-low re-encoded by nccopy: deflate+shuffle, other chunks, netCDF-4 classic")
def nccopy_variants():
    require_hdf5()
    nccopy = tool("nccopy", "netcdf-bin")
    src = files_of(PACKAGES["gmt-gshhg-low"])
    if not src:
        raise mm.Skip("gmt-gshhg-low is not installed here")
    src = src[0]  # the crude resolution: the smallest
    with mm.tmpdir() as d:
        variants = [("nc4-d5-s.nc", ["-k", "nc4", "-d", "5", "-s"]),
                    ("nc7-d1.nc", ["-k", "nc7", "-d", "1"]),
                    ("nc4-contig.nc", ["-k", "nc4", "-d", "0"])]
        for name, flags in variants:
            out = os.path.join(d, name)
            run_tool([nccopy] + flags + [src, out])
            counts = check_file(out, d)
            mm.check(counts["numeric"] > 0, "%s: no numeric variable" % name)


@mm.test("corpus python-tables-data and bitshuffle re-encoded by h5repack: gzip+shuffle, chunked, contiguous")
def h5repack_variants():
    require_hdf5()
    h5repack = tool("h5repack", "hdf5-tools")
    srcs = files_of(PACKAGES["python-tables-data"] + PACKAGES["bitshuffle"])
    srcs = [p for p in srcs if os.path.basename(p) in ("blosc_bigendian.h5", "regression_0.1.3.h5",
                                                      "attr-u16.h5", "test_filenode_v1.h5")]
    if not srcs:
        raise mm.Skip("neither python-tables-data nor bitshuffle is installed here")
    with mm.tmpdir() as d:
        for src in srcs:
            for tag, flags in (("gz", ["-f", "SHUF", "-f", "GZIP=6"]), ("contig", ["-l", "CONTI"]),
                               ("chunk", ["-l", "CHUNK=3"])):
                out = os.path.join(d, "%s.%s.h5" % (os.path.basename(src)[:-3], tag))
                res = subprocess.run([h5repack] + flags + [src, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if res.returncode != 0:
                    continue  # h5repack cannot apply this layout to every dataset (e.g. CHUNK=3 on 2-D)
                check_file(out, d)


# Package -> its netCDF-3 (classic) files, converted to netCDF-4 by nccopy
# below (Debian ships few netCDF-4 files besides gmt-gshhg; scipy's cover
# an unlimited dimension, 1-D to 4-D, int16/int32/float/double, CF
# attributes and a char variable, which must be refused).
NETCDF3_PACKAGES = {
    "python3-scipy": ["/usr/lib/python3/dist-packages/scipy/io/tests/data/*.nc"],
}


def netcdf3_files(patterns):
    out = []
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            with open(path, "rb") as f:
                if f.read(3) == b"CDF":
                    out.append(path)
    return out


def netcdf3_case(package):
    def fn():
        require_hdf5()
        nccopy = tool("nccopy", "netcdf-bin")
        srcs = netcdf3_files(NETCDF3_PACKAGES[package])
        if not srcs:
            raise mm.Skip("%s is not installed here (no netCDF-3 files under %s)"
                          % (package, ", ".join(NETCDF3_PACKAGES[package])))
        with mm.tmpdir() as d:
            total = {"numeric": 0, "refused": 0, "listed": 0, "deferred": 0}
            for src in srcs:
                for tag, flags in (("nc4", ["-k", "nc4"]), ("d1s", ["-k", "nc4", "-d", "1", "-s"]),
                                   ("nc7d5", ["-k", "nc7", "-d", "5"])):
                    out = os.path.join(d, "%s.%s.nc" % (os.path.basename(src)[:-3], tag))
                    run_tool([nccopy] + flags + [src, out])
                    mm.check(h5py.is_hdf5(out), "nccopy %s did not write HDF5" % " ".join(flags))
                    for k, v in check_file(out, d).items():
                        total[k] += v
                    os.unlink(out)
            mm.check(total["numeric"] > 0, "%s: no numeric variable in %d files" % (package, len(srcs)))
    return fn


for _package in NETCDF3_PACKAGES:
    mm.add_test("corpus %s netCDF-3 files converted by nccopy to netCDF-4 (contiguous, deflate+shuffle, "
                "netCDF-4 classic)" % _package, netcdf3_case(_package))


if __name__ == "__main__":
    mm.main()
