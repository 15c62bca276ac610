"""Shared by the tests of mmrun's HDF5 outputs (test_hdf5_output.py,
test_hdf5_generate.py): h5py with hdf5plugin's filters registered, so that
compressed outputs read back, and the check that both are there."""

import contextlib
import hashlib
import os
import shutil
import subprocess

import mmtest as mm

try:
    import h5py
    import hdf5plugin  # noqa: F401  (registers the plugin filters with h5py)
except ImportError:  # pragma: no cover - reported by each test
    h5py = None


def need_h5py():
    """Skips the calling test unless h5py and hdf5plugin are installed."""
    if h5py is None:
        raise mm.Skip("needs h5py and hdf5plugin (scripts/bootstrap)")


def sha(path):
    """The sha256 of the file at `path`, hex."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_failed_then_retried(d, cfg, name):
    """Runs config `cfg` (in folder `d`, writing output `name`) with a worker
    that exits after its first rows: without retries the run fails (70)
    leaving no output and nothing behind; with retries it writes the bytes
    of a clean run."""
    fault = {"MMRUN_TEST_FAULT": "exit_after_rows=1"}
    path = os.path.join(d, name)
    args = ["-q", "-w", 2, "--retries", 0, cfg]
    mm.assert_error(mm.run_mmrun(args, extra_env=fault), 70, ["status 3"], args=args)
    mm.check(not os.path.exists(path), "a failed run wrote " + name)
    mm.assert_no_leftovers(d)
    mm.run_ok(["-q", "-w", 2, cfg])
    clean = sha(path)
    os.remove(path)
    mm.run_ok(["-q", "-w", 2, cfg], extra_env=fault)
    mm.eq(sha(path), clean, "retried run's output")
    mm.assert_no_leftovers(d)


@contextlib.contextmanager
def small_filesystem(folder, size="1m"):
    """A tmpfs of `size` mounted at folder/fs (root only), unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        raise mm.Skip("mounting a small filesystem needs root")
    fs = os.path.join(folder, "fs")
    os.mkdir(fs)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", fs],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        raise mm.Skip("cannot mount a tmpfs: %s" % res.stdout.decode(errors="replace").strip())
    try:
        yield fs
    finally:
        subprocess.run(["umount", "-l", fs])
