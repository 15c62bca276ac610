"""Hostile users and hostile files (issue 11; docs/RELIABILITY.md "Hostile
users"): objects planted in /dev/shm, configs, parts and states that would
crash a careless parser, edited or forged parts, squatted lock files, and an
old row changed under --state.

Tests that need a second local user create one with useradd when running as
root and remove it at the end; otherwise they print a skip message.

Run: MMRUN=... MMWORKER=... /usr/bin/python3 tests/integration/test_hostile.py [FILTER...]
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mmtest as mm  # noqa: E402

STATS = [{"name": "cols", "op": "stats", "axis": 0}, {"name": "all", "op": "stats"}]
K = 16  # kStateVerifyRuns (runner/state.h)


def dataset(d, rows=100000, cols=4, seed=1, name="d.dat"):
    a = np.random.default_rng(seed).normal(size=(rows, cols)).astype("<f8")
    mm.write_raw(os.path.join(d, name), a)
    return mm.write_config(d, {"dataset": {"path": name, "dtype": "<f8", "shape": [-1, cols]},
                               "analyses": STATS})


@contextlib.contextmanager
def other_user():
    """Yields (name, uid) of a fresh local user, or None (with a message)
    when not root or useradd is missing. The user is removed afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        print("  skip: needs root and useradd to create a second user")
        yield None
        return
    name = "mmhost%d" % (os.getpid() % 100000)
    subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        print("  skip: useradd failed: %s" % r.stdout.decode().strip())
        yield None
        return
    try:
        yield name, pwd.getpwnam(name).pw_uid
    finally:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# /dev/shm


@contextlib.contextmanager
def planted_shm(user):
    """Plants, under this uid's segment prefix, a FIFO, a symlink, a folder
    and (with a second user) a regular file owned by that user; holds a
    descriptor to each so concurrent tests see them as in use, not leaked.
    Yields their paths; removes them at the end."""
    base = "/dev/shm/mmrun-%d-00000000deadbe" % os.getuid()
    paths = {"fifo": base + "ef", "link": base + "ee", "dir": base + "ed"}
    if user:
        paths["foreign"] = base + "ec"
    fds = []
    try:
        os.mkfifo(paths["fifo"], 0o600)
        fds.append(os.open(paths["fifo"], os.O_RDWR | os.O_NONBLOCK))
        os.symlink("/etc/passwd", paths["link"])
        fds.append(os.open(paths["link"], os.O_PATH | os.O_NOFOLLOW))
        os.mkdir(paths["dir"], 0o700)
        fds.append(os.open(paths["dir"], os.O_RDONLY))
        if user:
            fd = os.open(paths["foreign"], os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"\0" * 4096)
            os.fchown(fd, user[1], -1)
            fds.append(fd)
        yield paths
    finally:
        for p in paths.values():
            try:
                os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            except OSError:
                pass
        for fd in fds:
            os.close(fd)


@mm.test("shm: a FIFO, symlink, folder and another user's file planted under the segment prefix: the run "
         "finishes, leaves them alone, one summary warning (stderr and warnings list); SIGINT still works")
def _():
    with other_user() as user, mm.tmpdir() as d:
        cfg = dataset(d)
        with planted_shm(user) as planted:
            res = mm.run_mmrun(["-w", 2, cfg], timeout=60)
            mm.check(res.code == 0, mm.describe([cfg], res))
            for kind, path in planted.items():
                mm.check(os.path.lexists(path), "planted %s %s was removed" % (kind, path))
            # One summary line for all of them, also in the result's warnings.
            lines = [l for l in res.err.splitlines() if "/dev/shm" in l]
            mm.eq(len(lines), 1, "summary lines about /dev/shm in %r" % res.err)
            mm.check(lines[0].startswith("mmrun: warning: skipped %d objects" % len(planted)) and
                     any(p in lines[0] for p in planted.values()), "summary: %r" % lines[0])
            mm.check(any(w.startswith("skipped %d objects" % len(planted))
                         for w in mm.parse_doc(res.out).get("warnings", [])), "warnings list")
            mm.check(all(line.startswith("mmrun: warning: ") for line in res.err.splitlines()),
                     "stderr: %r" % res.err)
            res = mm.run_mmrun(["-q", "-w", 2, cfg], timeout=60)
            mm.eq((res.code, res.err), (0, ""), "exit and stderr with -q")
            # SIGINT after the sweep (the workers exist) still ends the run.
            proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", cfg], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE,
                                    env=dict(os.environ, MMRUN_TEST_FAULT="hang_after_rows=0"))
            deadline = time.monotonic() + 60
            children = "/proc/%d/task/%d/children" % (proc.pid, proc.pid)
            while time.monotonic() < deadline and not open(children).read().strip():
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            o, e = proc.communicate(timeout=60)
            mm.assert_error(mm.RunResult(proc.returncode, o.decode(), e.decode()), 130, ["interrupted"])
            for path in planted.values():
                mm.check(os.path.lexists(path), "planted %s was removed" % path)
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Configs that would crash a careless reader


@mm.test("config: 10^5-deep nesting, /dev/zero, a FIFO, a folder, a socket: exit 78 at once, one line")
def _():
    import socket
    with mm.tmpdir() as d:
        deep = os.path.join(d, "deep.json")
        with open(deep, "w") as f:
            f.write("[" * 100000 + "]" * 100000)
        deep_obj = os.path.join(d, "deep_obj.json")
        with open(deep_obj, "w") as f:
            f.write('{"dataset": ' + '{"a": ' * 100000 + "1" + "}" * 100000 + "}")
        fifo = os.path.join(d, "fifo.json")
        os.mkfifo(fifo)
        sock_path = os.path.join(d, "sock.json")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(sock_path)
        cases = [(deep, ["deep.json", "nested deeper"]), (deep_obj, ["deep_obj.json", "nested deeper"]),
                 ("/dev/zero", ["/dev/zero", "not a regular file"]), (fifo, ["fifo.json", "FIFO"]),
                 (d, ["directory"]), (sock_path, ["socket"])]
        for path, frags in cases:
            for cmd in ([], ["validate"]):
                args = cmd + [path]
                res = mm.run_mmrun(args, timeout=30)
                mm.assert_error(res, 78, frags, args=args)
                mm.check(len(res.err) < 500, "a long message: %d bytes" % len(res.err))
        sock.close()
        mm.assert_no_leftovers(d)


@mm.test("dataset: a FIFO, a folder, /dev/zero and a socket as the dataset are exit 66 at once, one line saying "
         "what it is, for a run, a quick command, inspect and recover")
def _():
    import socket
    with mm.tmpdir() as d:
        fifo = os.path.join(d, "fifo.f4")
        os.mkfifo(fifo)
        sock_path = os.path.join(d, "sock.f4")
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(sock_path)
        folder = os.path.join(d, "dir.f4")
        os.mkdir(folder)
        for path, what in ((fifo, "FIFO"), (folder, "directory"), ("/dev/zero", "character device"),
                           (sock_path, "socket")):
            cfg = mm.write_config(d, {"dataset": {"path": path, "dtype": "<f4", "shape": [4]},
                                      "analyses": [{"op": "stats"}]})
            for args in ([cfg], ["stats", path, "--dtype", "<f4"], ["inspect", path], ["recover", path]):
                res = mm.run_mmrun(args, timeout=30)
                mm.assert_error(res, 66, [path, what], args=args)
        sock.close()
        mm.assert_no_leftovers(d)


@mm.test("config: a NUL byte in a path string (output, dataset.path) is exit 78 naming the key")
def _():
    with mm.tmpdir() as d:
        dataset(d)
        for cfg, key in (({"dataset": {"path": "d.dat", "dtype": "<f8", "shape": [-1, 4]}, "analyses": STATS,
                           "output": "res.json\u0000.evil"}, "'output'"),
                         ({"dataset": {"path": "d.dat\u0000x", "dtype": "<f8", "shape": [-1, 4]},
                           "analyses": STATS}, "'dataset.path'")):
            path = mm.write_config(d, cfg, "nul.json")
            mm.assert_error(mm.run_mmrun([path]), 78, [key, "NUL"])
            mm.check(not os.path.exists(os.path.join(d, "res.json")), "res.json written")
        mm.assert_no_leftovers(d)


@mm.test("inspect: a .npy with a truncated body is exit 65 'file too small', not a dtype the user never gave")
def _():
    with mm.tmpdir() as d:
        p = os.path.join(d, "a.npy")
        mm.write_npy(p, np.arange(100, dtype="<f4"))
        os.truncate(p, os.path.getsize(p) - 10)
        mm.assert_error(mm.run_mmrun(["inspect", p]), 65, ["a.npy", "too small"])
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# Parts


def checksum64(data):
    """core/checksum.cc's Checksum64, to forge a seal as an attacker could."""
    m = (1 << 64) - 1
    n = len(data)
    h = 0x6a09e667f3bcc909 ^ n
    i = 0
    while i + 8 <= n:
        w = int.from_bytes(data[i:i + 8], "little")
        h ^= (w * 0x9e3779b97f4a7c15) & m
        h = ((((h << 31) | (h >> 33)) & m) * 0x87c37b91114253d5) & m
        i += 8
    h ^= (int.from_bytes(data[i:], "little") * 0x4cf5ad432745937f) & m
    for mul in (0xff51afd7ed558ccd, 0xc4ceb9fe1a85ec53):
        h ^= h >> 33
        h = (h * mul) & m
    h ^= h >> 33
    return "%016x" % h


def seal(doc):
    body = dict((k, v) for k, v in doc.items() if k != "checksum")
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    doc["checksum"] = checksum64(text)
    return doc


def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def prints_alike(path):
    """Whether Python's json.dumps prints every float of the part as the
    file has it. nlohmann's dump (Grisu2) does not always give the
    shortest digits Python gives, so a run whose elapsed_s lands on such a
    value (about 1 run in a few hundred) could not be re-sealed here."""
    alike = [True]

    def read_float(text):
        alike[0] = alike[0] and repr(float(text)) == text
        return float(text)

    with open(path) as f:
        json.load(f, parse_float=read_float)
    return alike[0]


def shards(d, cfg, n=2):
    """Runs the n shards of cfg into part-I.json, again (up to 5 times in
    all) while a part holds a float Python would print otherwise."""
    for _ in range(5):
        parts = []
        for i in range(n):
            out = os.path.join(d, "part-%d.json" % i)
            res = mm.run_mmrun(["-q", "-w", 2, "--shard", "%d/%d" % (i, n), "-o", out, cfg])
            mm.check(res.code == 0, mm.describe([cfg], res))
            parts.append(out)
        if all(prints_alike(p) for p in parts):
            break
    return parts


def set_key(doc, dotted, value):
    keys = dotted.split(".")
    for k in keys[:-1]:
        doc = doc[k]
    doc[keys[-1]] = value


@mm.test("merge: a wrong JSON type at each key (format, version, plan.config_dir, plan.pass, "
         "mmrun.bytes_scanned, shard.index, nodes ...) is exit 65 naming the part and the key")
def _():
    with mm.tmpdir() as d:
        cfg = dataset(d)
        parts = shards(d, cfg)
        good = load(parts[1])
        mm.eq(seal(dict(good))["checksum"], good["checksum"], "the documented seal of an untouched part")
        bad = os.path.join(d, "bad.json")
        cases = [("format", 5, "format"), ("version", "2", "version"), ("plan.config_dir", 5, "plan.config_dir"),
                 ("plan.pass", "0", "plan.pass"), ("mmrun.bytes_scanned", "x", "mmrun.bytes_scanned"),
                 ("mmrun.workers", -1, "mmrun.workers"), ("shard.index", "1", "shard.index"),
                 ("shard.rows", 7, "shard.rows"), ("plan", [], "plan"), ("nodes", {}, "nodes"),
                 ("config_path", None, "config_path"), ("checksum", 1, "checksum")]
        for key, value, frag in cases:
            doc = load(parts[1])
            set_key(doc, key, value)
            save(bad, doc)
            res = mm.run_mmrun(["merge", parts[0], bad])
            mm.assert_error(res, 65, [bad, frag], args=["merge", key])
        # Any edit of a value keeps the types but breaks the seal.
        doc = load(parts[1])
        doc["mmrun"]["rows"] += 1
        save(bad, doc)
        mm.assert_error(mm.run_mmrun(["merge", parts[0], bad]), 65, [bad, "checksum"])
        with open(bad, "w") as f:
            f.write(open(parts[1]).read().replace('"level"', '"levle"', 1))
        mm.assert_error(mm.run_mmrun(["merge", parts[0], bad]), 65, [bad])
        # A NUL in a path of a (re-sealed) part.
        doc = load(parts[1])
        doc["config_path"] = doc["config_path"] + "\u0000.evil"
        save(bad, seal(doc))
        mm.assert_error(mm.run_mmrun(["merge", parts[0], bad]), 65, [bad, "NUL"])
        # Parts that are not regular files are refused at once.
        fifo = os.path.join(d, "fifo.json")
        os.mkfifo(fifo)
        for p, frag in ((fifo, "FIFO"), ("/dev/zero", "not a regular file"), (d, "directory")):
            mm.assert_error(mm.run_mmrun(["merge", parts[0], p], timeout=30), 65, [p, frag])
        deep = os.path.join(d, "deep.json")
        with open(deep, "w") as f:
            f.write("[" * 100000 + "]" * 100000)
        mm.assert_error(mm.run_mmrun(["merge", deep]), 65, ["deep.json", "nested deeper"])
        mm.assert_no_leftovers(d)


@mm.test("outputs: a bind mount of the output folder does not make two new outputs two files (two slices, "
         "generate's dataset and a slice, --lock and -o: 78); an output over another user's 0666 file "
         "does not take its bits")
def _():
    if os.geteuid() != 0 or shutil.which("mount") is None:
        raise mm.Skip("a bind mount needs root")
    with mm.tmpdir() as d:
        a_dir, b_dir = os.path.join(d, "A"), os.path.join(d, "bmA")
        os.mkdir(a_dir)
        os.mkdir(b_dir)
        res = subprocess.run(["mount", "--bind", a_dir, b_dir], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if res.returncode != 0:
            raise mm.Skip("cannot bind-mount: %s" % res.stdout.decode(errors="replace").strip())
        try:
            np.arange(8, dtype="<f4").tofile(os.path.join(a_dir, "d.f4"))
            ds = {"path": "A/d.f4", "dtype": "<f4", "shape": [2, 4]}
            two = mm.write_config(d, {"dataset": ds, "analyses": [
                {"name": "s1", "op": "slice", "select": "[0]", "output": "A/x.npy"},
                {"name": "s2", "op": "slice", "select": "[1]", "output": "bmA/x.npy"}]}, name="two.json")
            gen = mm.write_config(d, {"dataset": {"path": "A/g.f4", "dtype": "<f4", "shape": [100, 4], "mode": "w+"},
                                      "analyses": [{"op": "generate", "fill": {"kind": "arange"}},
                                                   {"op": "slice", "select": "[:10]", "output": "bmA/g.f4"}]},
                                  name="gen.json")
            stats = mm.write_config(d, {"dataset": ds, "analyses": [{"op": "stats"}]}, name="stats.json")
            for args, frags in (([two], ["A/x.npy", "bmA/x.npy"]), ([gen], ["g.f4"]),
                                (["--lock", os.path.join(b_dir, "lk"), "-o", os.path.join(a_dir, "lk"), stats],
                                 ["lk", "--lock"])):
                res = mm.run_mmrun(["-q"] + args)
                mm.assert_error(res, 78, frags, args=args)
            mm.eq(sorted(os.listdir(a_dir)), ["d.f4"], "files after the refused runs")
            # Another user's 0666 file at the output's name: replaced, but the
            # result is not left writable by everyone.
            victim = os.path.join(a_dir, "res.json")
            with open(victim, "w") as f:
                f.write("{}")
            os.chown(victim, 65534, 65534)
            os.chmod(victim, 0o666)
            res = mm.run_mmrun(["-q", "-o", victim, stats])
            mm.check(res.code == 0, mm.describe([stats], res))
            st = os.stat(victim)
            mm.eq((st.st_uid, st.st_mode & 0o022), (0, 0), "owner and group/other write bits of the result")
        finally:
            subprocess.run(["umount", "-l", b_dir])
        mm.assert_no_leftovers(d)


def paused_run(args, cwd):
    """Starts mmrun with its one worker stopped before it opens the dataset
    (pause_before_open); returns (process, the stopped worker pids)."""
    env = dict(os.environ, MMRUN_TEST_FAULT="pause_before_open=1")
    proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "1", "--retries", "0"] + [str(a) for a in args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    return proc, mm.stopped_children(proc, 1)


def resume(proc, kids):
    for k in kids:
        os.kill(k, signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    return mm.RunResult(proc.returncode, out.decode(), err.decode())


@mm.test("outputs: another user who replaces (file, symlink) or removes an output's temporary file in a "
         "folder writable by all (no sticky bit) while the run works gets nothing published: exit 73 naming "
         "the output, the old output and the planted file kept, the symlink's target untouched")
def _():
    with mm.tmpdir() as d:
        shared = os.path.join(d, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o777)  # writable by all, no sticky bit: others may rename and unlink here
        cfg = dataset(d)
        stranger = 65534 if os.geteuid() == 0 else os.getuid()
        victim = os.path.join(d, "victim.txt")
        with open(victim, "w") as f:
            f.write("precious\n")
        for how in ("file", "symlink", "removed", "per-lane file"):
            out = os.path.join(shared, "out.json")
            with open(out, "w") as f:
                f.write('{"old": true}')
            args = ["-o", out, cfg]
            name = "out.json"
            if how == "per-lane file":  # a per-lane result's .npy, opened by name by the workers too
                # more than 1,000,000 lanes: the workers write the fields (docs/CHOICES.md)
                dataset(d, rows=1100000, cols=2, name="big.dat")
                big = mm.write_config(d, {"dataset": {"path": "big.dat", "dtype": "<f8", "shape": [-1, 2]},
                                          "analyses": [{"op": "stats", "axis": 1,
                                                        "output": os.path.join(shared, "pre")}]},
                                      name="big.json")
                args = ["-o", out, big]
                name = "pre.mean.npy"
            proc, kids = paused_run(args, d)
            temps = [t for t in os.listdir(shared) if t.startswith("." + name + ".mmrun-tmp-")]
            mm.eq(len(temps), 1, "temporary files of %s while the worker is stopped (%s)" % (name, how))
            temp = os.path.join(shared, temps[0])
            os.rename(temp, os.path.join(shared, "moved-aside"))  # what the other user keeps of ours
            if how == "file" or how == "per-lane file":
                with open(temp, "w") as f:
                    f.write('{"forged": true}')
                os.chown(temp, stranger, stranger)
            elif how == "symlink":
                os.symlink(victim, temp)
                os.lchown(temp, stranger, stranger)
            res = resume(proc, kids)
            want = [name] if how == "per-lane file" else ["out.json", "no longer the file mmrun wrote"]
            mm.check(res.code in (73, 74) if how == "per-lane file" else res.code == 73,
                     "exit %d for a replaced temporary file (%s): %s" % (res.code, how, res.err))
            for frag in want:
                mm.check(frag in res.err, "message lacks %r (%s): %s" % (frag, how, res.err))
            mm.eq(len(res.err.strip().splitlines()), 1, "stderr lines (%s)" % how)
            with open(out) as f:
                mm.eq(f.read(), '{"old": true}', "the old output after a refused commit (%s)" % how)
            with open(victim) as f:
                mm.eq(f.read(), "precious\n", "the symlink's target (%s)" % how)
            if how != "removed":
                mm.check(os.path.lexists(temp), "the planted %s was deleted by mmrun" % how)
                os.unlink(temp)
            os.unlink(os.path.join(shared, "moved-aside"))
            left = sorted(t for t in os.listdir(shared) if t != "out.json")
            mm.eq(left, [], "files left in the folder (%s)" % how)
            os.unlink(out)
        mm.assert_no_leftovers(d)


@mm.test("outputs: a folder the user may write and search but not list (0333, a 1733 drop box) takes the result "
         "document and per-lane .npy files written by the workers; nothing left behind")
def _():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        raise mm.Skip("needs root and setpriv to run as another user (root ignores folder permissions)")
    with mm.tmpdir() as d:
        os.chmod(os.path.dirname(d), 0o711)  # the session's root: searchable by the other user
        os.chmod(d, 0o755)
        for b in (mm.mmrun_path(), mm.mmworker_path()):
            shutil.copy(b, d)
        dataset(d, rows=1100000, cols=2, name="big.dat")  # > 1,000,000 lanes: the workers write the fields
        for mode in (0o333, 0o1733):
            box = os.path.join(d, "box")
            os.mkdir(box)
            os.chmod(box, mode)
            cfg = mm.write_config(d, {"dataset": {"path": "big.dat", "dtype": "<f8", "shape": [-1, 2]},
                                      "analyses": [{"op": "stats", "axis": 1, "output": os.path.join(box, "pre")}]},
                                  name="box.json")
            os.chmod(cfg, 0o644)
            os.chmod(os.path.join(d, "big.dat"), 0o644)
            res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                                  "MMWORKER=" + os.path.join(d, "mmworker"), os.path.join(d, "mmrun"), "-q", "-w", "2",
                                  "-o", os.path.join(box, "out.json"), cfg],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=d, timeout=120)
            mm.check(res.returncode == 0, "exit %d in a %o folder: %s" % (res.returncode, mode, res.stderr.decode()))
            names = sorted(os.listdir(box))
            mm.eq(names, sorted(["out.json"] + ["pre.%s.npy" % f for f in
                                                ("count", "nan_count", "sum", "mean", "var", "std", "min", "max")]),
                  "files in the %o folder" % mode)
            want = np.fromfile(os.path.join(d, "big.dat"), dtype="<f8").reshape(-1, 2).mean(axis=1)
            mm.check(np.allclose(np.load(os.path.join(box, "pre.mean.npy")), want, rtol=1e-12),
                     "pre.mean.npy differs from numpy (%o)" % mode)
            shutil.rmtree(box)
        mm.assert_no_leftovers(d)


@mm.test("merge: a per-lane result's PREFIX.FIELD.npy that is one of the parts (or -o) is exit 78 before "
         "anything is written; the part is kept")
def _():
    with mm.tmpdir() as d:
        a = np.random.default_rng(3).normal(size=(1100000, 2)).astype("<f8")  # 1.1 M lanes: files
        mm.write_raw(os.path.join(d, "d.dat"), a)
        cfg = mm.write_config(d, {"dataset": {"path": "d.dat", "dtype": "<f8", "shape": [-1, 2]},
                                  "analyses": [{"op": "stats", "axis": 1, "output": "x"}]})
        parts = shards(d, cfg)
        part0 = os.path.join(d, "x.mean.npy")  # the part, renamed after its run
        os.rename(parts[0], part0)
        before = mm.sha256_file(part0)
        out = os.path.join(d, "m.json")
        res = mm.run_mmrun(["merge", part0, parts[1], "-o", out])
        mm.assert_error(res, 78, ["x.mean.npy", "analyses[0].output", "part"])
        mm.eq(mm.sha256_file(part0), before, "the part after a refused merge")
        mm.eq(sorted(os.listdir(d)), sorted(["config.json", "d.dat", "x.mean.npy", "part-1.json"]),
              "files after a refused merge")
        os.rename(part0, parts[0])
        res = mm.run_mmrun(["merge", parts[0], parts[1], "-o", os.path.join(d, "x.var.npy")])
        mm.assert_error(res, 78, ["x.var.npy", "-o"])
        res = mm.run_mmrun(["merge", parts[0], parts[1], "-o", out])
        mm.check(res.code == 0, mm.describe(["merge"], res))
        mm.check(np.allclose(np.load(os.path.join(d, "x.mean.npy")), a.mean(axis=1)), "merged means")
        mm.assert_no_leftovers(d)


@mm.test("merge: a forged part (re-sealed) cannot choose the output: merge recomputes the plan from the "
         "config it names and refuses a part whose config or plan differs (65)")
def _():
    with mm.tmpdir() as d:
        cfg = dataset(d)
        parts = shards(d, cfg)
        evil = os.path.join(d, "evil")
        os.mkdir(evil)
        victim = os.path.join(evil, "chosen.json")
        forged = os.path.join(d, "forged-%d.json")
        # Every part sends the output elsewhere, consistently, and is re-sealed.
        forged_parts = []
        for i, p in enumerate(parts):
            doc = load(p)
            doc["plan"]["config"]["output"] = "chosen.json"
            doc["plan"]["config_dir"] = evil
            doc["config"]["output"] = "chosen.json"
            save(forged % i, seal(doc))
            forged_parts.append(forged % i)
        res = mm.run_mmrun(["merge"] + forged_parts)
        mm.assert_error(res, 65, [forged % 0, "config"])
        mm.check(not os.path.exists(victim), "merge wrote the forged output path")
        # Only the plan edited (config_dir): the plan differs from the config's.
        doc = load(parts[1])
        doc["plan"]["config_dir"] = evil
        save(forged % 1, seal(doc))
        mm.assert_error(mm.run_mmrun(["merge", parts[0], forged % 1]), 65, [forged % 1, "plan differs"])
        # A part from another config.
        cfg2 = mm.write_config(d, {"dataset": {"path": "d.dat", "dtype": "<f8", "shape": [-1, 4]},
                                   "analyses": STATS[:1]}, "other.json")
        other = os.path.join(d, "other-1.json")
        mm.check(mm.run_mmrun(["-q", "--shard", "1/2", "-o", other, cfg2]).code == 0, "shard of other.json")
        mm.assert_error(mm.run_mmrun(["merge", parts[0], other]), 65, [other, "another config"])
        # The config edited after the shards ran.
        res = mm.run_mmrun(["merge"] + parts)
        mm.eq(res.code, 0, "merge of the untouched parts")
        c = load(cfg)
        c["output"] = "moved.json"
        save(cfg, c)
        mm.assert_error(mm.run_mmrun(["merge"] + parts), 65, ["differs from " + cfg])
        os.unlink(cfg)
        mm.assert_error(mm.run_mmrun(["merge"] + parts), 66, [cfg])
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# States


@mm.test("--state: {\"format\": 5}, wrong types, an edit, garbage: exit 65 naming the file (and key); "
         "a FIFO or device as the state: 73 at once; nothing left behind")
def _():
    with mm.tmpdir() as d:
        cfg = dataset(d)
        state = os.path.join(d, "s.state")
        out = os.path.join(d, "out.json")
        mm.check(mm.run_mmrun(["-q", "--state", state, cfg]).code == 0, "first --state run")
        good = open(state).read()
        cases = [('{"format": 5}', ["format"]), ("[1, 2]", ["not an mmrun state"]),
                 ("{garbage", ["invalid JSON"]), ("[" * 100000, ["nested deeper"])]
        for key, value in (("rows", "100"), ("complete_blocks", -1), ("tail", []), ("tail.rows", {}),
                           ("nodes", 1), ("block_checksums", 7), ("verify_run", None), ("checksum", 1)):
            doc = json.loads(good)
            set_key(doc, key, value)
            cases.append((json.dumps(doc), [key.split(".")[-1]]))
        doc = json.loads(good)
        doc["rows"] -= 1
        cases.append((json.dumps(doc), ["checksum"]))
        for text, frags in cases:
            with open(state, "w") as f:
                f.write(text)
            args = ["-q", "-o", out, "--state", state, cfg]
            mm.assert_error(mm.run_mmrun(args), 65, [state] + frags, args=args)
            mm.check(not os.path.exists(out), "output written")
            mm.assert_no_leftovers(d)
        os.unlink(state)
        os.mkfifo(state)
        mm.assert_error(mm.run_mmrun(["-q", "--state", state, cfg], timeout=30), 73, [state, "FIFO"])
        mm.assert_error(mm.run_mmrun(["-q", "--state", "/dev/null", cfg], timeout=30), 73, ["/dev/null"])
        mm.check(os.path.exists("/dev/null") and not os.path.isfile("/dev/null"), "/dev/null replaced")
        mm.assert_no_leftovers(d)


@mm.test("--state: written 0600; a state writable by group/others, another user's state (even a valid "
         "copy) or a symlink is refused with 77 naming the mode/owner and the fix; nothing written")
def _():
    with other_user() as user, mm.tmpdir() as d:
        cfg = dataset(d, rows=1000)
        state = os.path.join(d, "s.state")
        out = os.path.join(d, "out.json")
        mm.check(mm.run_mmrun(["-q", "--state", state, cfg]).code == 0, "first --state run")
        mm.eq(os.stat(state).st_mode & 0o7777, 0o600, "mode of a written state")
        args = ["-q", "-o", out, "--state", state, cfg]
        os.chmod(state, 0o666)
        mm.assert_error(mm.run_mmrun(args), 77, [state, "0666", "chmod go-w"], args=args)
        mm.check(not os.path.exists(out), "output written")
        os.chmod(state, 0o620)
        mm.assert_error(mm.run_mmrun(args), 77, [state, "0620"], args=args)
        os.chmod(state, 0o600)
        mm.eq(mm.run_mmrun(args).code, 0, "exit with the user's own 0600 state")
        os.unlink(out)
        link = os.path.join(d, "link.state")
        os.symlink(state, link)
        largs = ["-q", "-o", out, "--state", link, cfg]
        mm.assert_error(mm.run_mmrun(largs), 77, [link, "symbolic link"], args=largs)
        mm.check(os.path.islink(link), "the symlink was replaced")
        if user:
            name, uid = user
            os.chown(state, uid, -1)
            mm.assert_error(mm.run_mmrun(args), 77, [state, name, "remove it"], args=args)
            mm.eq(os.stat(state).st_uid, uid, "owner of the refused state")
            os.chmod(state, 0o666)
            mm.assert_error(mm.run_mmrun(args), 77, [state, name], args=args)
        mm.check(not os.path.exists(out), "output written")
        os.unlink(state)
        os.unlink(link)
        mm.assert_no_leftovers(d)


def append(path, rows, seed):
    with open(path, "ab") as f:
        f.write(np.random.default_rng(seed).normal(size=(rows, 4)).astype("<f8").tobytes())


def same_results(a, b):
    return mm.top_level_spans(a)["results"] == mm.top_level_spans(b)["results"]


@mm.test("--state: +inf written into old block 1 is detected within K runs (and at once with --verify); "
         "the state is discarded with a warning and the result equals a full run")
def _():
    with mm.tmpdir() as d:
        cfg = dataset(d, rows=200000)  # 6 blocks of 32768 rows
        path = os.path.join(d, "d.dat")
        block_rows = 32768
        for verify in (True, False):
            state = os.path.join(d, "v.state" if verify else "r.state")
            mm.check(mm.run_mmrun(["-q", "--state", state, cfg]).code == 0, "first --state run")
            with open(path, "r+b") as f:
                f.seek((block_rows + 5) * 32 + 8)  # row 5 of block 1, column 1
                f.write(np.array([np.inf], "<f8").tobytes())
            extra = ["--verify"] if verify else []
            detected = None
            for run in range(1, K + 2):
                append(path, 100, seed=run)
                res = mm.run_mmrun(["-w", 2, "--state", state] + extra + [cfg])
                mm.check(res.code == 0, mm.describe([cfg], res))
                inc = mm.parse_doc(res.out)["mmrun"]["incremental"]["state"]
                if inc == "discarded":
                    mm.check("block 1" in res.err and res.err.startswith("mmrun: warning: ") and
                             res.err.count("\n") == 1, "warning: %r" % res.err)
                    mm.check(any("block 1" in w and "discarding it" in w
                                 for w in mm.parse_doc(res.out).get("warnings", [])),
                             "the discard warning is not in the result's warnings list")
                    full = mm.run_mmrun(["-q", "-w", 2, cfg])
                    mm.check(same_results(res.out, full.out), "the result after detection is not a full run's")
                    mm.check(mm.parse_doc(res.out)["results"]["all"]["max"] == float("inf"), "max is not inf")
                    detected = run
                    break
            mm.check(detected is not None and detected <= K, "a changed block 1 was not detected in %d runs" % K)
            if verify:
                mm.eq(detected, 1, "run that detects the change with --verify")
            # Put the value back for the next round (a change again).
            with open(path, "r+b") as f:
                f.seek((block_rows + 5) * 32 + 8)
                f.write(np.array([0.5], "<f8").tobytes())
        mm.assert_error(mm.run_mmrun(["--verify", cfg]), 64, ["--verify", "--state"])
        mm.assert_no_leftovers(d)


# --------------------------------------------------------------------------
# --lock


@mm.test("--lock: created 0600; a symlink, FIFO or folder is refused (77); another user's lock file is "
         "refused with 77 naming the owner; the mode of an existing lock of ours is never changed")
def _():
    with other_user() as user, mm.tmpdir() as d:
        cfg = dataset(d, rows=1000)
        lock = os.path.join(d, "run.lock")
        res = mm.run_mmrun(["-q", "--lock", lock, cfg])
        mm.eq(res.code, 0, "exit with a fresh lock file")
        mm.eq(os.stat(lock).st_mode & 0o7777, 0o600, "mode of a created lock file")
        os.chmod(lock, 0o666)
        mm.eq(mm.run_mmrun(["-q", "--lock", lock, cfg]).code, 0, "exit with an open lock file of ours")
        mm.eq(os.stat(lock).st_mode & 0o7777, 0o666, "mode of our lock file after a run")
        target = os.path.join(d, "target")
        with open(target, "w") as f:
            f.write("precious\n")
        link = os.path.join(d, "link.lock")
        os.symlink(target, link)
        mm.assert_error(mm.run_mmrun(["-q", "--lock", link, cfg]), 77, [link, "symbolic link"])
        dangling = os.path.join(d, "dangling.lock")
        os.symlink(os.path.join(d, "nowhere"), dangling)
        mm.assert_error(mm.run_mmrun(["-q", "--lock", dangling, cfg]), 77, [dangling, "symbolic link"])
        mm.check(not os.path.exists(os.path.join(d, "nowhere")), "the link's target was created")
        fifo = os.path.join(d, "fifo.lock")
        os.mkfifo(fifo, 0o600)
        mm.assert_error(mm.run_mmrun(["-q", "--lock", fifo, cfg], timeout=30), 77, [fifo, "FIFO"])
        mm.assert_error(mm.run_mmrun(["-q", "--lock", d, cfg]), 77, [d, "directory"])
        mm.eq(open(target).read(), "precious\n", "the symlink's target")
        if user:
            squat = os.path.join(d, "squat.lock")
            with open(squat, "w"):
                pass
            os.chown(squat, user[1], -1)
            os.chmod(squat, 0o666)
            mm.assert_error(mm.run_mmrun(["-q", "--lock", squat, cfg]), 77, [squat, user[0]])
            mm.eq(os.stat(squat).st_mode & 0o7777, 0o666, "mode of another user's file")
        mm.assert_no_leftovers(d)



@mm.test("--lock naming the dataset, the config or a slice's output: 78 naming --lock and the key; "
         "nothing written, the files' modes unchanged")
def _():
    with mm.tmpdir() as d:
        cfg = dataset(d, rows=1000)
        with open(cfg) as f:
            j = json.load(f)
        j["analyses"] = [{"op": "slice", "select": "[:10]", "output": "x.npy"}]
        cfg2 = mm.write_config(d, j, name="slice.json")
        data = os.path.join(d, "d.dat")
        os.chmod(data, 0o644)
        os.chmod(cfg, 0o644)
        before = {p: mm.sha256_file(p) for p in (data, cfg)}
        for lock, config, key in ((data, cfg, "dataset.path"), (cfg, cfg, "CONFIG"),
                                  (os.path.join(d, "x.npy"), cfg2, "analyses[0].output")):
            args = ["-q", "--lock", lock, config]
            mm.assert_error(mm.run_mmrun(args), 78, ["--lock", key], args=args)
        for p in (data, cfg):
            mm.eq(os.stat(p).st_mode & 0o7777, 0o644, "mode of " + p)
            mm.eq(mm.sha256_file(p), before[p], "sha256 of " + p)
        mm.check(not os.path.exists(os.path.join(d, "x.npy")), "x.npy was created")
        mm.assert_no_leftovers(d)

# --------------------------------------------------------------------------
# Libraries planted in the current directory


def lazy_libraries(binary):
    """The sonames a binary opens when a run first needs them
    (core/lazy_library.h: libblosc, libdeflate, cairo, ...), read from its bytes."""
    with open(binary, "rb") as f:
        return {m.decode() for m in re.findall(rb"lib[A-Za-z0-9_+-]+\.so\.[0-9.]*[0-9]", f.read())}


def ldd_names(path):
    out = subprocess.run(["ldd", path], stdout=subprocess.PIPE).stdout.decode()
    return {line.split()[0] for line in out.splitlines() if ".so" in line and "=>" in line}


def library_path(soname):
    """Where the loader finds `soname` (ldconfig's cache), or None."""
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    out = subprocess.run([ldconfig, "-p"], stdout=subprocess.PIPE).stdout.decode()
    for line in out.splitlines():
        if line.strip().startswith(soname + " ") and "=>" in line:
            return line.split("=>")[-1].strip()
    return None


@mm.test("libraries: a library planted in the current folder under the name of every library mmrun and "
         "mmworker load, at start or on first use (libdeflate, cairo), and of theirs, and of libhdf5's "
         "plugins, is never loaded: --version, a raw run, HDF5 runs (gzip; lzf through its plugin), a "
         "picture; no search path in the binaries")
def _():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise mm.Skip("no C compiler to build the planted library")
    with mm.tmpdir() as d:
        cfg = dataset(d, rows=1000)
        src = os.path.join(d, "planted.c")
        with open(src, "w") as f:
            f.write('#include <fcntl.h>\n#include <unistd.h>\n'
                    '__attribute__((constructor)) static void planted(void) {\n'
                    '  int fd = open("%s", O_WRONLY | O_CREAT, 0600);\n'
                    '  if (fd >= 0) close(fd);\n}\n' % os.path.join(d, "LOADED"))
        planted = os.path.join(d, "planted.so")
        r = subprocess.run([cc, "-shared", "-fPIC", "-o", planted, src], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        mm.check(r.returncode == 0, "cc: %s" % r.stdout.decode())
        names, lazy = set(), set()
        for binary in (mm.mmrun_path(), mm.mmworker_path()):
            names |= ldd_names(binary)
            lazy |= lazy_libraries(binary)
            if shutil.which("readelf"):
                dyn = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE).stdout.decode()
                mm.check("RPATH" not in dyn and "RUNPATH" not in dyn, "%s has a search path: %s" % (
                    binary, [l for l in dyn.splitlines() if "PATH" in l]))
        mm.check(any(n.startswith("libdeflate") for n in lazy) and any(n.startswith("libcairo") for n in lazy),
                 "no libdeflate or libcairo among the libraries loaded on first use: %s" % lazy)
        plugins = "/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins"
        if os.path.isdir(plugins):
            for p in os.listdir(plugins):
                names |= ldd_names(os.path.join(plugins, p))
        for soname in lazy:
            names.add(soname)
            path = library_path(soname)
            if path:
                names |= ldd_names(path)
        for n in names:
            shutil.copy(planted, os.path.join(d, n))
        a = np.arange(600, dtype="<f4").reshape(200, 3)
        import h5py  # noqa: E402 (Debian's python3-h5py, installed with the tests' tools)
        with h5py.File(os.path.join(d, "c.h5"), "w") as f:
            f.create_dataset("x", data=a, chunks=(50, 3), compression="gzip")
        with h5py.File(os.path.join(d, "l.h5"), "w") as f:  # decoded by libhdf5's lzf plugin
            f.create_dataset("x", data=a, chunks=(50, 3), compression="lzf")
        h5cfg = mm.write_config(d, {"dataset": {"path": "c.h5", "name": "x"},
                                    "analyses": [{"op": "stats", "axis": 0, "plot": "p.svg"}]},
                                name="h.json")
        lzfcfg = mm.write_config(d, {"dataset": {"path": "l.h5", "name": "x"},
                                     "analyses": [{"op": "stats"}]}, name="l.json")
        for args in (["--version"], ["-q", "-w", 2, cfg], ["-q", "-w", 2, h5cfg],
                     ["-q", "-w", 2, "--launch", "spawn", h5cfg], ["-q", "-w", 2, lzfcfg]):
            res = mm.run_mmrun(args, cwd=d)
            mm.eq(res.code, 0, "exit of %s (%s)" % (args, res.err[:300]))
            mm.check(not os.path.exists(os.path.join(d, "LOADED")),
                     "a library planted in the current folder was loaded by mmrun %s" % args)
        mm.check(os.path.exists(os.path.join(d, "p.svg")), "the picture was not drawn")


if __name__ == "__main__":
    mm.main()
