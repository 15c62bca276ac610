"""mmrun-mpi (SPEC §6, docs/HPC.md): under mpirun each rank is a worker over
its row range and rank 0 writes the same result document as mmrun, with
`dataset` and `results` byte-identical.

mmrun-mpi is looked for beside MMRUN (or in MMRUN_MPI). Without mpirun the
tests are skipped with a message; with mpirun but no mmrun-mpi they fail
(CI installs Open MPI through scripts/bootstrap, so the binary must exist).

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_mpi.py [FILTER...]
"""

import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

STATS = [{"name": "cols", "op": "stats", "axis": 0, "ddof": 1},
         {"name": "all", "op": "stats"}]


def mpi_binary():
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        raise mm.Skip("mpirun is not installed (Debian: openmpi-bin libopenmpi-dev; scripts/bootstrap "
                      "installs them)")
    exe = os.environ.get("MMRUN_MPI") or os.path.join(os.path.dirname(mm.mmrun_path()), "mmrun-mpi")
    if not os.access(exe, os.X_OK):
        raise mm.Fail("mpirun is installed but %s is not built (CMake did not find MPI?)" % exe)
    return mpirun, exe


def mpirun(np_, args, timeout=120):
    runner, exe = mpi_binary()
    argv = ["--oversubscribe", "-np", str(np_)]
    if os.geteuid() == 0:
        argv.insert(0, "--allow-run-as-root")
    # No ssh/rsh inside the sandbox: every rank is local.
    env = {"OMPI_MCA_plm_rsh_agent": "", "OMPI_MCA_btl": "self,vader", "OMPI_MCA_rmaps_base_oversubscribe": "1",
           "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    if os.environ.get("ASAN_OPTIONS"):
        # Under the sanitizer suite: Open MPI's own allocations outlive
        # MPI_Finalize by design; leaks of ours are caught by the mmrun runs.
        env["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"] + ":detect_leaks=0"
    return mm.run_binary(runner, argv + [exe] + [str(a) for a in args], timeout=timeout, extra_env=env)


def spans(text):
    s = mm.top_level_spans(text)
    return s["dataset"], s["results"]


def op_available(d, op, params):
    np.zeros((4, 2), "<f8").tofile(os.path.join(d, "probe.dat"))
    cfg = mm.write_config(d, {"dataset": {"path": "probe.dat", "dtype": "<f8", "shape": [-1, 2]},
                              "analyses": [dict(op=op, **params)]}, "probe.json")
    return mm.run_mmrun(["validate", cfg]).code == 0


def compare_with_mmrun(cfg, ranks):
    res = mpirun(ranks, [cfg])
    mm.check(res.code == 0, "mpirun -np %d mmrun-mpi -> exit %d: %s" % (ranks, res.code, res.err[-1500:]))
    want = mm.run_mmrun(["-q", "-w", 2, cfg])
    mm.check(want.code == 0, want.err)
    mm.eq(spans(res.out), spans(want.out), "dataset and results of %d ranks vs mmrun" % ranks)
    meta = mm.parse_doc(res.out)["mmrun"]
    mm.eq((meta["workers"], meta["launch"]), (ranks, "mpi"), "mmrun.workers/launch")
    # Passes no analysis needs are skipped and not counted, as mmrun does.
    want_meta = mm.parse_doc(want.out)["mmrun"]
    mm.eq((meta["passes"], meta["bytes_scanned"]), (want_meta["passes"], want_meta["bytes_scanned"]),
          "mmrun.passes/bytes_scanned vs mmrun")
    return res


@mm.test("mpirun -np 3 mmrun-mpi: byte-identical to mmrun (stats, histogram, cov, quantiles)")
def _():
    with mm.tmpdir() as d:
        rng = np.random.default_rng(3)
        a = rng.normal(size=(150000, 4))
        a[rng.random(a.shape) < 0.02] = np.nan
        mm.write_raw(os.path.join(d, "d.dat"), a.astype("<f8"))
        analyses = list(STATS)
        for op, params in (("histogram", {"bins": 9, "range": [-2.0, 2.0]}), ("histogram", {"bins": 5}),
                           ("cov", {}), ("quantiles", {"q": [0.1, 0.5, 0.9]})):
            if op_available(d, op, params):
                analyses.append(dict(name="%s%d" % (op, len(analyses)), op=op, **params))
        cfg = mm.write_config(d, {"dataset": {"path": "d.dat", "dtype": "<f8", "shape": [-1, 4]},
                                  "analyses": analyses})
        compare_with_mmrun(cfg, 3)
        mm.assert_no_leftovers(d)


@mm.test("mmrun-mpi: more ranks than blocks, big-endian F order, and -o written atomically")
def _():
    with mm.tmpdir() as d:
        a = np.arange(3000 * 5, dtype=">i4").reshape(3000, 5) % 97
        mm.write_raw(os.path.join(d, "s.dat"), a, order="F")
        cfg = mm.write_config(d, {"dataset": {"path": "s.dat", "dtype": ">i4", "shape": [3000, 5], "order": "F"},
                                  "analyses": STATS})
        compare_with_mmrun(cfg, 3)
        out = os.path.join(d, "out.json")
        res = mpirun(2, ["-o", out, cfg])
        mm.eq((res.code, res.out), (0, ""), "exit and stdout with -o")
        want = mm.run_mmrun(["-q", cfg]).out
        mm.eq(spans(open(out).read()), spans(want), "document written with -o")
        mm.assert_no_leftovers(d)


@mm.test("mmrun-mpi: an exception in a rank's scan (a bug) is exit 70 with one line from rank 0, "
         "the previous -o output kept, nothing left behind")
def _():
    with mm.tmpdir() as d:
        a = np.arange(200000 * 4, dtype="<f4").reshape(200000, 4)
        a.tofile(os.path.join(d, "t.dat"))
        cfg = mm.write_config(d, {"dataset": {"path": "t.dat", "dtype": "<f4", "shape": [200000, 4]},
                                  "analyses": STATS})
        out = os.path.join(d, "out.json")
        with open(out, "w") as f:
            f.write("previous\n")
        os.environ["MMRUN_TEST_FAULT"] = "throw_after_rows=1"  # every rank inherits it
        try:
            res = mpirun(2, ["-o", out, cfg])
        finally:
            del os.environ["MMRUN_TEST_FAULT"]
        mm.eq(res.code, 70, "exit code: " + res.err[-800:])
        lines = [x for x in res.err.splitlines() if x.startswith("mmrun")]
        mm.eq(len(lines), 1, "error lines: %r" % res.err[-800:])
        mm.check("internal error: test fault throw_after_rows" in lines[0] and "rank " in lines[0],
                 "message: %r" % lines[0])
        mm.eq(open(out).read(), "previous\n", "-o output after the failed run")
        mm.assert_no_leftovers(d)


@mm.test("mmrun-mpi: a bad config exits 78 with one error line; writing analyses are refused")
def _():
    with mm.tmpdir() as d:
        np.zeros((10, 2), "<f8").tofile(os.path.join(d, "z.dat"))
        cfg = mm.write_config(d, {"dataset": {"path": "z.dat", "dtype": "<f8", "shape": [-1, 2]},
                                  "analyses": [{"op": "stats", "axsi": 0}]})
        res = mpirun(3, [cfg])
        mm.eq(res.code, 78, "exit code: " + res.err[-800:])
        lines = [x for x in res.err.splitlines() if x.startswith("mmrun")]
        mm.eq(len(lines), 1, "error lines: %r" % res.err[-800:])
        mm.check("axsi" in lines[0], "error does not name the key: %r" % lines[0])
        gen = mm.write_config(d, {"dataset": {"path": "g.dat", "dtype": "<f8", "shape": [10, 2], "mode": "w+"},
                                  "analyses": [{"op": "generate", "fill": {"kind": "arange"}}]}, "gen.json")
        res = mpirun(2, [gen])
        mm.eq(res.code, 78, "exit code for generate: " + res.err[-800:])
        mm.check("mmrun-mpi" in res.err and "analyses[0].op" in res.err, "message: %r" % res.err[-500:])
        mm.check(not os.path.exists(os.path.join(d, "g.dat")), "generate ran under mmrun-mpi")


@mm.test("mmrun-mpi: -o, the config's output or a slice output naming the dataset or the config (also "
         "by symlink or hard link), or two outputs in one file, is exit 78 before anything is written; "
         "the files are kept")
def _():
    with mm.tmpdir() as d:
        a = np.arange(40.0).reshape(20, 2)
        data = os.path.join(d, "z.dat")
        a.tofile(data)
        os.link(data, os.path.join(d, "hard.dat"))
        os.symlink("z.dat", os.path.join(d, "soft.dat"))
        ds = {"path": "z.dat", "dtype": "<f8", "shape": [-1, 2]}
        cfg = mm.write_config(d, {"dataset": ds, "analyses": [{"op": "stats"}]})
        cfg_out = mm.write_config(d, {"dataset": ds, "analyses": [{"op": "stats"}], "output": "z.dat"},
                                  "out.json")
        cfg_slice = mm.write_config(d, {"dataset": ds, "analyses": [
            {"op": "slice", "select": "[:, 0]", "output": "hard.dat"}]}, "slice.json")
        cfg_two = mm.write_config(d, {"dataset": ds, "analyses": [
            {"op": "slice", "select": "[:, 0]", "output": "s.npy"},
            {"op": "slice", "name": "b", "select": "[:, 1]", "output": "s.npy"}]}, "two.json")
        before = {n: mm.sha256_file(os.path.join(d, n)) for n in ("z.dat", "config.json")}
        for args, frags in ((["-o", data, cfg], ["-o", "dataset.path"]),
                            (["-o", os.path.join(d, "soft.dat"), cfg], ["-o", "dataset.path"]),
                            (["-o", os.path.join(d, "hard.dat"), cfg], ["-o", "dataset.path"]),
                            (["-o", cfg, cfg], ["-o", "CONFIG"]),
                            ([cfg_out], ["output", "dataset.path"]),
                            ([cfg_slice], ["analyses[0].output", "dataset.path"]),
                            ([cfg_two], ["analyses[1].output", "analyses[0].output"])):
            res = mpirun(2, args)
            mm.eq(res.code, 78, "%s: exit code: %s" % (args, res.err[-800:]))
            lines = [x for x in res.err.splitlines() if x.startswith("mmrun")]
            mm.eq(len(lines), 1, "error lines: %r" % res.err[-800:])
            for frag in frags:
                mm.check(frag in lines[0], "%s: %r does not name %s" % (args, lines[0], frag))
            for n, sha in before.items():
                mm.eq(mm.sha256_file(os.path.join(d, n)), sha, "%s after %s" % (n, args))
            mm.check(not os.path.exists(os.path.join(d, "s.npy")), "an output was written")
        mm.assert_no_leftovers(d)


@mm.test("mmrun-mpi over HDF5: chunked shuffle+gzip (edge chunks, 3 and 5 ranks) and contiguous: "
         "byte-identical to mmrun --workers 1 and 3")
def _():
    mpi_binary()  # skips without mpirun before asking for h5py
    try:
        import h5py
    except ImportError:
        raise mm.Skip("h5py is not installed (Debian: python3-h5py; scripts/bootstrap installs it)")
    with mm.tmpdir() as d:
        rng = np.random.default_rng(14)
        a = rng.normal(size=(1013, 6, 5)) * 10
        a[rng.random(a.shape) < 0.02] = np.nan
        with h5py.File(os.path.join(d, "m.h5"), "w") as f:
            f.create_dataset("chunked", data=a.astype("<f4"), chunks=(37, 4, 5), shuffle=True,
                             compression="gzip")
            f.create_dataset("contiguous", data=(a * 100).astype(">f8"))
        analyses = list(STATS)
        for op, params in (("histogram", {"bins": 9}), ("quantiles", {"q": [0.1, 0.5, 0.9]})):
            if op_available(d, op, params):
                analyses.append(dict(name="%s%d" % (op, len(analyses)), op=op, **params))
        for name, ranks in (("chunked", 3), ("chunked", 5), ("contiguous", 3)):
            cfg = mm.write_config(d, {"dataset": {"path": "m.h5", "name": name}, "analyses": analyses},
                                  name="%s.json" % name)
            res = mpirun(ranks, [cfg])
            mm.check(res.code == 0, "mpirun -np %d mmrun-mpi %s -> exit %d: %s" % (ranks, name, res.code,
                                                                                   res.err[-1500:]))
            for workers in (1, 3):
                want = mm.run_mmrun(["-q", "-w", workers, cfg])
                mm.check(want.code == 0, want.err)
                mm.eq(spans(res.out), spans(want.out),
                      "%s: dataset and results of %d ranks vs mmrun -w %d" % (name, ranks, workers))
        mm.assert_no_leftovers(d)


@mm.test("mmrun-mpi draws the config's pictures (plot keys); a picture over the dataset is 78")
def _():
    with mm.tmpdir() as d:
        a = np.random.default_rng(7).normal(size=(20000, 3))
        mm.write_raw(os.path.join(d, "d.dat"), a.astype("<f8"))
        analyses = [{"name": "cols", "op": "stats", "axis": 0, "plot": "cols.png"},
                    {"name": "h", "op": "histogram", "bins": 12, "range": [-3, 3], "plot": "h.svg"}]
        cfg = mm.write_config(d, {"dataset": {"path": "d.dat", "dtype": "<f8", "shape": [-1, 3]},
                                  "analyses": analyses})
        res = mpirun(2, [cfg])
        mm.check(res.code == 0, "mmrun-mpi -> exit %d: %s" % (res.code, res.err[-1500:]))
        with open(os.path.join(d, "cols.png"), "rb") as f:
            mm.eq(f.read(8), b"\x89PNG\r\n\x1a\n", "signature of cols.png")
        with open(os.path.join(d, "h.svg")) as f:
            mm.check(f.read().startswith("<?xml"), "h.svg is not an SVG document")
        os.symlink("d.dat", os.path.join(d, "d.png"))
        analyses[0]["plot"] = "d.png"
        cfg = mm.write_config(d, {"dataset": {"path": "d.dat", "dtype": "<f8", "shape": [-1, 3]},
                                  "analyses": analyses})
        before = mm.sha256_file(os.path.join(d, "d.dat"))
        res = mpirun(2, [cfg])
        mm.eq(res.code, 78, "exit of mmrun-mpi with a picture over the dataset: %s" % res.err[-800:])
        mm.eq(mm.sha256_file(os.path.join(d, "d.dat")), before, "the dataset")
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
