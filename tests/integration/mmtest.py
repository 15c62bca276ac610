"""Shared helpers for the integration tests that run the real mmrun binaries.

The tests run `mmrun` (and, in spawn mode, `mmworker`) from outside, exactly
as a user would, and check what comes back against SPEC.md, docs/CHOICES.md
and numpy as the oracle. Only the standard library and numpy are used; run
the test files with Debian's /usr/bin/python3, which has numpy.

Environment:
  MMRUN, MMWORKER  absolute paths of the binaries under test (required)
  TMPDIR           where temporary folders are made (default /tmp)
  MMTEST_KEEP=1    keep the temporary folders (for debugging a failure)

A test file registers its tests with @test (or add_test for generated ones)
and ends with `if __name__ == "__main__": mmtest.main()`. main() runs every
test, or those whose name contains one of the command-line arguments, prints
one line per failure and ends with the line `N passed, N failed`; its exit
status is 1 if anything failed.
"""

import atexit
import collections
import ctypes
import hashlib
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

# --------------------------------------------------------------------------
# Binaries

_BINARIES = None


def binaries():
    """Returns (MMRUN, MMWORKER) from the environment or exits with a message."""
    global _BINARIES
    if _BINARIES is None:
        paths = []
        for var in ("MMRUN", "MMWORKER"):
            value = os.environ.get(var, "")
            if not value:
                sys.stderr.write(
                    "mmtest: environment variable %s is not set; set MMRUN and "
                    "MMWORKER to the absolute paths of the mmrun and mmworker "
                    "binaries under test\n" % var)
                sys.exit(2)
            if not os.path.isabs(value):
                sys.stderr.write("mmtest: %s=%r is not an absolute path\n" % (var, value))
                sys.exit(2)
            if not (os.path.isfile(value) and os.access(value, os.X_OK)):
                sys.stderr.write("mmtest: %s=%r is not an executable file\n" % (var, value))
                sys.exit(2)
            paths.append(value)
        _BINARIES = tuple(paths)
    return _BINARIES


def mmrun_path():
    return binaries()[0]


def mmworker_path():
    return binaries()[1]


# --------------------------------------------------------------------------
# Test registry and runner


class Fail(AssertionError):
    """A test failure with a human-readable reason."""


class Skip(Exception):
    """Raised by a test that cannot run here (counted neither way)."""


_TESTS = collections.OrderedDict()


def add_test(name, fn):
    if name in _TESTS:
        raise ValueError("duplicate test name: %s" % name)
    _TESTS[name] = fn


def test(arg=None):
    """Registers a test: @test or @test("readable name")."""
    if callable(arg):
        add_test(arg.__name__, arg)
        return arg

    def wrap(fn):
        add_test(arg or fn.__name__, fn)
        return fn
    return wrap


def check(cond, message):
    if not cond:
        raise Fail(message)


def eq(actual, expected, what):
    if actual != expected:
        raise Fail("%s: got %s, expected %s" % (what, _short(actual), _short(expected)))


def _short(value, limit=300):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...(%d chars)" % len(text)


def _one_line(text, limit=3000):
    text = " | ".join(part for part in str(text).splitlines() if part.strip())
    return text if len(text) <= limit else text[:limit] + "..."


def _failure_location(tb):
    """The innermost frame of a test file (not this module) as 'file:line'."""
    here = os.path.abspath(__file__)
    where = None
    for frame in traceback.extract_tb(tb):
        if os.path.abspath(frame.filename) != here:
            where = "%s:%d" % (os.path.basename(frame.filename), frame.lineno)
    return where


def main():
    binaries()
    filters = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv[1:]
    _become_subreaper()
    passed = failed = 0
    try:
        for name, fn in _TESTS.items():
            if filters and not any(f in name for f in filters):
                continue
            start = time.monotonic()
            try:
                fn()
            except KeyboardInterrupt:
                raise
            except Skip as e:
                print("skip %s: %s" % (name, _one_line(e)))
                sys.stdout.flush()
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failed += 1
                where = _failure_location(sys.exc_info()[2])
                kind = "" if isinstance(e, AssertionError) else type(e).__name__ + ": "
                print("FAIL %s: %s%s%s" % (name, kind, _one_line(e) or "(no message)",
                                           " [%s]" % where if where else ""))
                sys.stdout.flush()
            else:
                passed += 1
                if verbose:
                    print("ok   %s (%.2f s)" % (name, time.monotonic() - start))
                    sys.stdout.flush()
            finally:
                _kill_our_leftover_processes()
    finally:
        _remove_session_root()
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    sys.exit(1 if failed else 0)


# --------------------------------------------------------------------------
# Temporary folders

_SESSION_ROOT = None
_SHM_SNAPSHOTS = {}


def _session_root():
    global _SESSION_ROOT
    if _SESSION_ROOT is None:
        base = os.environ.get("TMPDIR") or "/tmp"
        _SESSION_ROOT = tempfile.mkdtemp(prefix="mmtest-", dir=base)
    return _SESSION_ROOT


@atexit.register
def _remove_session_root():
    global _SESSION_ROOT
    if _SESSION_ROOT is not None and not os.environ.get("MMTEST_KEEP"):
        _force_rmtree(_SESSION_ROOT)
    _SESSION_ROOT = None


def _force_rmtree(path):
    def onerror(func, p, _exc):
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o600)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)


class tmpdir:
    """Context manager: a fresh folder (absolute, symlink-free path), removed
    at the end. It records a snapshot of /dev/shm for assert_no_leftovers."""

    def __enter__(self):
        self.path = os.path.realpath(tempfile.mkdtemp(prefix="t-", dir=_session_root()))
        _SHM_SNAPSHOTS[self.path] = shm_snapshot()
        return self.path

    def __exit__(self, *exc):
        _SHM_SNAPSHOTS.pop(self.path, None)
        if not os.environ.get("MMTEST_KEEP"):
            _force_rmtree(self.path)
        return False


def write_config(folder, config, name="config.json"):
    """Writes `config` (a dict, or a str written verbatim) as JSON; returns its path."""
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        if isinstance(config, str):
            f.write(config)
        else:
            json.dump(config, f, indent=2)
    return path


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------
# Running the binaries

RunResult = collections.namedtuple("RunResult", "code out err")


def run_mmrun(args, cwd=None, env=None, timeout=120, extra_env=None):
    """Runs mmrun with `args`; returns RunResult(code, stdout, stderr) (a tuple).

    A run that takes longer than `timeout` seconds is killed with its whole
    process group and reported as a failure."""
    return run_binary(mmrun_path(), args, cwd=cwd, env=env, timeout=timeout,
                      extra_env=extra_env)


def run_binary(binary, args, cwd=None, env=None, timeout=120, extra_env=None):
    if env is None:
        env = dict(os.environ)
    else:
        env = dict(env)
    if extra_env:
        env.update(extra_env)
    argv = [binary] + [str(a) for a in args]
    # stdout/stderr go to files, not pipes: a leftover worker that inherited
    # them must not keep us waiting for EOF (assert_no_leftovers reports it).
    with tempfile.TemporaryFile() as fout, tempfile.TemporaryFile() as ferr:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=fout, stderr=ferr, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()
            raise Fail("timed out after %s s: %s" % (timeout, " ".join(argv)))
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read(), ferr.read()
    return RunResult(proc.returncode, out.decode("utf-8", "replace"),
                     _without_sanitizer_notes(err.decode("utf-8", "replace"), env))


# LeakSanitizer's note when a thread is exiting while it stops the world to
# look for leaks (it then scans that thread's whole stack and goes on: a
# leak is still reported). Timing-dependent, seen once in the sanitizer
# suite under load; not mmrun's output.
_LSAN_THREAD_NOTE = re.compile(r"^==\d+==Unable to get registers from thread \d+\.\n", re.M)


def _without_sanitizer_notes(err, env):
    """stderr without LeakSanitizer's thread note, under the sanitizer suite
    only (ASAN_OPTIONS set): the one-line error checks stay exact."""
    if not env.get("ASAN_OPTIONS"):
        return err
    return _LSAN_THREAD_NOTE.sub("", err)


def describe(args, res):
    return "mmrun %s -> exit %d, stderr: %s" % (
        " ".join(str(a) for a in args), res.code, _one_line(res.err, 1500))


def run_ok(args, cwd=None, extra_env=None, timeout=120):
    """Runs mmrun, requires exit 0 and a JSON document on stdout; returns
    (parsed document, RunResult)."""
    res = run_mmrun(args, cwd=cwd, extra_env=extra_env, timeout=timeout)
    if res.code != 0:
        raise Fail(describe(args, res))
    try:
        doc = parse_doc(res.out)
    except ValueError as e:
        raise Fail("stdout of mmrun %s is not a valid result document: %s; stdout starts %r"
                   % (" ".join(map(str, args)), e, res.out[:300]))
    return doc, res


def assert_error(res, code, fragments=(), args=None, stdout_empty=True):
    """Checks a failed run: exit `code`, stderr exactly one line starting
    'mmrun: error: ' that contains every string in `fragments` (each item may
    be a tuple of alternatives), and (by default) nothing on stdout."""
    what = describe(args or [], res) if args is not None else "exit %d, stderr %r" % (
        res.code, res.err[:1000])
    if res.code != code:
        raise Fail("expected exit %d: %s" % (code, what))
    lines = res.err.splitlines()
    if len(lines) != 1:
        raise Fail("expected exactly one line on stderr, got %d: %r" % (len(lines), res.err[:1500]))
    line = lines[0]
    if not line.startswith("mmrun: error: "):
        raise Fail("stderr does not start with 'mmrun: error: ': %r" % line)
    for frag in fragments:
        alternatives = frag if isinstance(frag, tuple) else (frag,)
        if not any(alt in line for alt in alternatives):
            raise Fail("stderr %r does not mention %s" % (line, " or ".join(map(repr, alternatives))))
    if stdout_empty and res.out != "":
        raise Fail("stdout is not empty on error: %r" % res.out[:300])


# --------------------------------------------------------------------------
# numpy oracles


def stats_oracle(a, axis, ddof=0):
    """numpy's nan* statistics of `a` cast to float64, the fields of a stats result."""
    f = a.astype(np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return {"count": (~np.isnan(f)).sum(axis=axis), "nan_count": np.isnan(f).sum(axis=axis),
                "sum": np.nansum(f, axis=axis), "mean": np.nanmean(f, axis=axis),
                "var": np.nanvar(f, axis=axis, ddof=ddof), "std": np.nanstd(f, axis=axis, ddof=ddof),
                "min": np.nanmin(f, axis=axis), "max": np.nanmax(f, axis=axis)}


# --------------------------------------------------------------------------
# Result documents

_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def _reject_constant(name):
    raise ValueError("bare %s is not allowed; SPEC §4 spells non-finite floats as strings" % name)


def _convert_nonfinite(obj):
    if isinstance(obj, str):
        return _NONFINITE.get(obj, obj)
    if isinstance(obj, list):
        return [_convert_nonfinite(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _convert_nonfinite(v) for k, v in obj.items()}
    return obj


def parse_doc(text, convert=True):
    """Parses a result document (or any mmrun JSON). Bare NaN/Infinity tokens
    are rejected; the strings "NaN", "Infinity", "-Infinity" become floats
    when `convert` is true. Key order is preserved."""
    obj = json.loads(text, parse_constant=_reject_constant)
    return _convert_nonfinite(obj) if convert else obj


def top_level_spans(text):
    """Returns {key: raw JSON text of its value} for the top-level object in
    `text`, exactly as printed (for byte-identity checks)."""
    dec = json.JSONDecoder(parse_constant=_reject_constant)
    ws = " \t\r\n"
    i = 0
    n = len(text)

    def skip(i):
        while i < n and text[i] in ws:
            i += 1
        return i
    i = skip(i)
    if i >= n or text[i] != "{":
        raise ValueError("document does not start with an object")
    i = skip(i + 1)
    spans = collections.OrderedDict()
    if i < n and text[i] == "}":
        return spans
    while True:
        key, i = dec.raw_decode(text, i)
        i = skip(i)
        if text[i] != ":":
            raise ValueError("expected ':' at %d" % i)
        i = skip(i + 1)
        _, end = dec.raw_decode(text, i)
        spans[key] = text[i:end]
        i = skip(end)
        if text[i] == ",":
            i = skip(i + 1)
            continue
        if text[i] == "}":
            break
        raise ValueError("unexpected %r at %d" % (text[i], i))
    return spans


# --------------------------------------------------------------------------
# Comparisons


def _tolist(x):
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        return x.tolist()
    return x


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def assert_close(actual, expected, rtol=1e-9, atol=0.0, what="value"):
    """Compares nested lists of numbers: |a - e| <= atol + rtol * |e| for every
    element, NaN equals NaN, infinities must match exactly. `atol` is a number
    or a nested list/array shaped like `expected`. Nesting (shape) must match."""
    _close(actual, _tolist(expected), _tolist(atol), rtol, what)


def _close(a, e, atol, rtol, path):
    if isinstance(e, (list, tuple)):
        if not isinstance(a, list):
            raise Fail("%s: expected a list of %d, got %s" % (path, len(e), _short(a)))
        if len(a) != len(e):
            raise Fail("%s: expected %d elements, got %d" % (path, len(e), len(a)))
        for i, (ai, ei) in enumerate(zip(a, e)):
            ti = atol[i] if isinstance(atol, (list, tuple)) else atol
            _close(ai, ei, ti, rtol, "%s[%d]" % (path, i))
        return
    if isinstance(a, str) and a in _NONFINITE:
        a = _NONFINITE[a]
    if not _is_number(a):
        raise Fail("%s: expected a number close to %r, got %s" % (path, e, _short(a)))
    if isinstance(e, bool):
        e = int(e)
    a = float(a)
    e = float(e)
    if math.isnan(e) or math.isnan(a):
        if not (math.isnan(e) and math.isnan(a)):
            raise Fail("%s: got %r, expected %r" % (path, a, e))
        return
    if math.isinf(e) or math.isinf(a):
        if a != e:
            raise Fail("%s: got %r, expected %r" % (path, a, e))
        return
    tol = float(atol) + rtol * abs(e)
    if not abs(a - e) <= tol:
        raise Fail("%s: got %r, expected %r (diff %.3g > tol %.3g)" % (path, a, e, abs(a - e), tol))


INT64_MIN = -(1 << 63)
UINT64_END = 1 << 64


def exact_int(value, path="value"):
    """The int value of an exact-integer result field: a JSON integer, or a
    decimal string for values outside 64 bits (SPEC §3)."""
    if isinstance(value, bool):
        raise Fail("%s: got a JSON boolean %r, expected an integer" % (path, value))
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        body = value[1:] if value.startswith("-") else value
        if body.isdigit() and (body == "0" or not body.startswith("0")):
            return int(value)
        raise Fail("%s: %r is not a decimal integer string" % (path, value))
    raise Fail("%s: expected an exact integer, got %s" % (path, _short(value)))


def assert_exact_ints(actual, expected, what="value"):
    """Compares nested lists of exact integers. Each element must be a JSON
    integer when it fits in [-2^63, 2^63), a decimal string when it lies
    outside [-2^63, 2^64) ("beyond 64 bits"), and either in [2^63, 2^64)."""
    _exact(actual, _tolist(expected), what)


def _exact(a, e, path):
    if isinstance(e, (list, tuple)):
        if not isinstance(a, list):
            raise Fail("%s: expected a list of %d, got %s" % (path, len(e), _short(a)))
        if len(a) != len(e):
            raise Fail("%s: expected %d elements, got %d" % (path, len(e), len(a)))
        for i, (ai, ei) in enumerate(zip(a, e)):
            _exact(ai, ei, "%s[%d]" % (path, i))
        return
    e = int(e)
    got = exact_int(a, path)
    if got != e:
        raise Fail("%s: got %d, expected %d" % (path, got, e))
    if INT64_MIN <= e < (1 << 63) and not isinstance(a, int):
        raise Fail("%s: %d fits in 64 bits and must be a JSON integer, got the string %r" % (path, e, a))
    if not (INT64_MIN <= e < UINT64_END) and not isinstance(a, str):
        raise Fail("%s: %d is beyond 64 bits and must be a decimal string" % (path, e))


def shape_of(nested):
    """The shape of a nested list (checks it is rectangular)."""
    if not isinstance(nested, list):
        return ()
    if not nested:
        return (0,)
    inner = [shape_of(x) for x in nested]
    if any(s != inner[0] for s in inner):
        raise Fail("ragged nested list")
    return (len(nested),) + inner[0]


# --------------------------------------------------------------------------
# Leftovers: shared-memory segments, temporary outputs, worker processes


def shm_snapshot():
    try:
        return set(n for n in os.listdir("/dev/shm") if n.startswith("mmrun-"))
    except OSError:
        return set()


def _proc_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def _read(path, mode="rb"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError:
        return None


def _ppid(pid):
    stat = _read("/proc/%d/stat" % pid)
    if not stat:
        return None
    try:
        # The command name may hold spaces and parentheses: split after the last ')'.
        rest = stat[stat.rindex(b")") + 2:].split()
        return int(rest[1])
    except (ValueError, IndexError):
        return None


def _is_zombie(pid):
    stat = _read("/proc/%d/stat" % pid)
    if not stat:
        return True
    try:
        return stat[stat.rindex(b")") + 2:].split()[0] in (b"Z", b"X")
    except (ValueError, IndexError):
        return True


def _cmdline(pid):
    data = _read("/proc/%d/cmdline" % pid)
    return data.replace(b"\0", b" ").decode("utf-8", "replace") if data else ""


_SUBREAPER = False


def _become_subreaper():
    """Orphaned descendants (workers whose coordinator is gone) are reparented
    to us, so leftovers of our own runs can be told from those of runs by
    other test files running at the same time."""
    global _SUBREAPER
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        _SUBREAPER = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _SUBREAPER = False


def wait_children(proc, n, timeout=60):
    """Waits until the process of Popen `proc` has `n` children (its workers
    started, so its set-up is done) or has exited; returns its children.
    Fixed sleeps were flaky under the sanitizers, whose start-up is slow."""
    deadline = time.time() + timeout
    kids = children_of(proc.pid)
    while len(kids) < n and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
        kids = children_of(proc.pid)
    return kids


def children_of(pid):
    """The pids of the live or zombie children of process `pid` (from /proc)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def stopped_children(proc, count, timeout=60):
    """Waits until `count` children of `proc` are stopped (SIGSTOP); returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = children_of(proc.pid)
        states = []
        for k in kids:
            try:
                with open("/proc/%d/stat" % k) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                states.append(None)
        if len(kids) >= count and all(st == "T" for st in states):
            return kids
        time.sleep(0.005)
    raise Fail("timed out waiting for the workers to stop")


def _reap_zombies():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _descendants():
    me = os.getpid()
    parents = {}
    for pid in _proc_pids():
        pp = _ppid(pid)
        if pp is not None:
            parents[pid] = pp
    out = []
    for pid in parents:
        p = parents.get(pid)
        seen = 0
        while p is not None and p > 1 and seen < 64:
            if p == me:
                out.append(pid)
                break
            p = parents.get(p)
            seen += 1
    return out


def leftover_processes(folder=None):
    """Live processes that look like leftovers of our runs: our descendants
    (after the coordinator exited they are reparented to us), processes whose
    command line names `folder`, and, when we could not become a subreaper,
    any mmworker process."""
    _reap_zombies()
    me = os.getpid()
    found = {}
    for pid in _descendants():
        if not _is_zombie(pid):
            found[pid] = _cmdline(pid)
    worker = _BINARIES[1] if _BINARIES else None
    for pid in _proc_pids():
        if pid == me or pid in found or _is_zombie(pid):
            continue
        cmd = _cmdline(pid)
        if folder and folder in cmd:
            found[pid] = cmd
        elif worker and not _SUBREAPER and worker in cmd:
            found[pid] = cmd
    return found


def _kill_our_leftover_processes():
    for pid in leftover_processes():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.01)
    _reap_zombies()


def _shm_in_use(name):
    """True when a live process has /dev/shm/NAME open or mapped (a run by
    another test file in progress, not a leftover)."""
    target = "/dev/shm/" + name
    for pid in _proc_pids():
        fd_dir = "/proc/%d/fd" % pid
        try:
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)).startswith(target):
                        return True
                except OSError:
                    pass
        except OSError:
            pass
        maps = _read("/proc/%d/maps" % pid, "r")
        if maps and target in maps:
            return True
    return False


def temp_leftovers(folder):
    out = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            if ".tmp" in name or name.startswith(".mmrun"):
                out.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(out)


def _unexplained_segments(snapshot, grace):
    """mmrun-* segments that appeared since `snapshot`, that no live process
    has open or mapped, and that are still there after `grace` seconds.
    (Other runs on the machine - other test files, unit tests of the segment
    code - create short-lived segments of their own; a leak stays.)"""
    deadline = time.monotonic() + grace
    while True:
        new = sorted(n for n in shm_snapshot() - set(snapshot) if not _shm_in_use(n))
        if not new or time.monotonic() >= deadline:
            return new
        time.sleep(0.1)


def assert_no_leftovers(folder, snapshot=None, grace=1.0, shm_grace=3.0):
    """Fails if, since `snapshot` (default: taken when tmpdir() made `folder`),
    a /dev/shm/mmrun-* segment appeared that no live process uses (and that
    does not go away within `shm_grace` seconds); if `folder` holds a
    temporary output (a name containing '.tmp' or starting '.mmrun'); or if a
    worker process of ours is still alive (after `grace` seconds). Leftover
    processes are killed after being reported."""
    if snapshot is None:
        snapshot = _SHM_SNAPSHOTS.get(folder, set())
    problems = []
    deadline = time.monotonic() + grace
    procs = leftover_processes(folder)
    while procs and time.monotonic() < deadline:
        time.sleep(0.05)
        procs = leftover_processes(folder)
    if procs:
        problems.append("processes left running: " + "; ".join(
            "%d %s" % (pid, cmd[:200]) for pid, cmd in sorted(procs.items())))
        for pid in procs:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
        _reap_zombies()
    new_shm = _unexplained_segments(snapshot, shm_grace)
    if new_shm:
        problems.append("shared-memory segments left in /dev/shm: " + ", ".join(new_shm))
    temps = temp_leftovers(folder)
    if temps:
        problems.append("temporary files left in %s: %s" % (folder, ", ".join(temps)))
    if problems:
        raise Fail("; ".join(problems))


# --------------------------------------------------------------------------
# Writing arrays


def raw_bytes(a, order):
    """The bytes of `a` as numpy.memmap would store it in `order` ('C'/'F'),
    in a's dtype (including its byte order)."""
    return np.asarray(a).tobytes(order=order)


def write_raw(path, a, order="C", offset=0, prefix=None, trailing=b""):
    """Writes `a` as a raw file: `offset` bytes of `prefix` (default: bytes
    that are not zeros, so a wrong offset shows), then the data in `order`,
    then `trailing`."""
    if prefix is None:
        prefix = bytes((7 * i + 3) % 251 + 1 for i in range(offset))
    assert len(prefix) == offset
    with open(path, "wb") as f:
        f.write(prefix)
        f.write(raw_bytes(a, order))
        f.write(trailing)
    return path


def write_npy(path, a, order="C", version=None):
    """Writes `a` as .npy (numpy's own writer), C or Fortran order, format
    version (1,0)/(2,0)/(3,0) or numpy's default when None."""
    arr = np.asfortranarray(a) if order == "F" else np.ascontiguousarray(a)
    if order == "F" and arr.ndim > 1:
        assert arr.flags.f_contiguous and not arr.flags.c_contiguous
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)
    return path


def npy_header_len(path):
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        np.lib.format._read_array_header(f, version)
        return f.tell()


def same_path(actual, expected):
    """True when `actual` (an absolute path printed by mmrun) names `expected`."""
    return isinstance(actual, str) and os.path.isabs(actual) and (
        actual == expected or os.path.realpath(actual) == os.path.realpath(expected))
