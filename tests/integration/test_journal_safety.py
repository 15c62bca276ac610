"""The journal of in-place transforms against links, leaks, corruption and
other local users (docs/JOURNAL_FORMAT.md, docs/RELIABILITY.md "Journals").

A transform is stopped at a known point with the test hook
MMRUN_TEST_FAULT=journal_hold_after=2 (one worker, 40 MB of float32, three
windows: the first window is changed, the second journaled and counted,
then the worker sleeps) and SIGKILLed with its process group. Then:
  - through a symlink or a hard link: every run on any name of the file
    exits 65 naming `mmrun recover`, and recover through either name
    restores the exact bytes;
  - the journal folder is 0700 and its files carry the dataset's mode;
  - each corruption (bit flip in the last record, truncation inside it or at
    a record boundary, a deleted journal file) is refused with 65 and the
    data is left as it was;
  - a journal planted by another user (right device, inode and checksums) is
    refused, a planted `.committed` symlink is never followed;
  - a dataset locked by a program that is not mmrun gives 75 naming its pid.
Tests that need a second user create one with useradd when run as root and
are skipped otherwise.
"""
import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import numpy as np

import mmtest as mm
from journal_util import counted, records_of, write_journal

SHAPE = (2500000, 4)  # 40 MB of float32: four windows of a journaled transform (12 MiB) for one worker


def make_dataset(d, name="d.f4"):
    path = os.path.join(d, name)
    a = np.random.default_rng(11).normal(size=SHAPE).astype("<f4")
    mm.write_raw(path, a)
    return path


def config(d, dataset_name, transform=True, name=None):
    ds = {"path": dataset_name, "dtype": "<f4", "shape": list(SHAPE)}
    if transform:
        ds["mode"] = "r+"
        analyses = [{"op": "transform", "fn": "affine", "scale": -2.0, "offset": 1.0}]
    else:
        analyses = [{"op": "stats"}]
    return mm.write_config(d, {"dataset": ds, "analyses": analyses},
                           name=name or ("t-%s.json" if transform else "s-%s.json") % dataset_name)


def journal_files(jdir):
    """The journal files in `jdir`, none if it is not a folder (the run may
    remove it at any moment: at its end)."""
    try:
        return sorted(f for f in os.listdir(jdir) if f.endswith(".jnl"))
    except (FileNotFoundError, NotADirectoryError):
        return []


def kill_group(proc):
    """SIGKILLs the process group of `proc` (a session leader) and reaps it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
    proc.stderr.close()


@contextlib.contextmanager
def held_transform(cfg, jdir):
    """Runs the transform of `cfg` until its worker holds after two counted
    records in `jdir`; yields the coordinator's Popen; SIGKILLs the group."""
    env = dict(os.environ, MMRUN_TEST_FAULT="journal_hold_after=2")
    data = jdir[:-len(".mmrun-journal")]
    with open(data, "rb") as f:
        first_page = f.read(4096)
    proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "1", cfg], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        end = time.monotonic() + 60
        ready = False
        while time.monotonic() < end and not ready and proc.poll() is None:
            for f in journal_files(jdir):
                try:
                    ready = ready or counted(os.path.join(jdir, f)) == 2
                except OSError:
                    pass
            time.sleep(0.01)
        mm.check(ready, "the transform never held after two records (exit %r, %r)"
                 % (proc.poll(), proc.stderr.read() if proc.poll() is not None else ""))
        # The first window is written back while the second record is being
        # counted (the worker closes each window behind the next): wait for it.
        changed = False
        while time.monotonic() < end and not changed:
            with open(data, "rb") as f:
                changed = f.read(4096) != first_page
            time.sleep(0.005)
        mm.check(changed, "the held transform never wrote its first window")
        yield proc
    finally:
        kill_group(proc)


def killed(cfg, jdir):
    with held_transform(cfg, jdir):
        pass


def recover_ok(name, want_sha, data):
    res = mm.run_mmrun(["recover", name])
    mm.eq(res.code, 0, "recover %s: %s" % (name, res.err))
    mm.eq(json.loads(res.out)["recovered"], True, "recovered")
    mm.eq(mm.sha256_file(data), want_sha, "sha256 after recover " + name)


# ---------------------------------------------------------------- identity

@mm.test("journal: a transform killed through a symlink or a hard link: every name of the file exits 65, "
         "recover through either name restores the bytes")
def _():
    with mm.tmpdir() as d:
        data = make_dataset(d)
        os.symlink("d.f4", os.path.join(d, "link.f4"))
        os.link(data, os.path.join(d, "hard.f4"))
        before = mm.sha256_file(data)
        readers = [config(d, n, transform=False) for n in ("d.f4", "link.f4", "hard.f4")]
        rewrite = config(d, "d.f4")
        for via, recover_name in (("link.f4", "link.f4"), ("link.f4", "d.f4"), ("hard.f4", "d.f4")):
            where = "transform via %s, recover via %s" % (via, recover_name)
            jdir = os.path.join(d, via if via == "hard.f4" else "d.f4") + ".mmrun-journal"
            killed(config(d, via), jdir)
            mm.check(os.path.isdir(jdir), where + ": no journal beside the real file")
            mm.check(not os.path.lexists(os.path.join(d, "link.f4.mmrun-journal")), where + ": journal beside the symlink")
            mm.check(mm.sha256_file(data) != before, where + ": the killed transform changed nothing")
            for r in readers + [rewrite]:
                res = mm.run_mmrun(["-q", r])
                mm.assert_error(res, 65, ["mmrun recover", "interrupted transform"])
            res = mm.run_mmrun(["validate", readers[2]])
            mm.assert_error(res, 65, ["mmrun recover"])
            recover_ok(os.path.join(d, recover_name), before, data)
            mm.check(not os.path.lexists(jdir), where + ": journal left after recover")
            mm.run_ok(["-q", readers[1]])
        mm.assert_no_leftovers(d)


def killed_after_commit(d):
    """Runs a transform of d.f4 that is killed between its commit (the
    rename of its journal) and the removal of its mark and leftover; returns
    (data path, sha256 of the complete result, leftover path)."""
    data = make_dataset(d)
    ref = make_dataset(d, "ref.f4")
    mm.run_ok(["-q", config(d, "ref.f4")])  # the complete transform, for comparison
    want = mm.sha256_file(ref)
    env = dict(os.environ, MMRUN_TEST_FAULT="journal_hold_after_commit=1")
    proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "1", config(d, "d.f4")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    prefix = "d.f4.mmrun-journal.committed-"
    try:
        end = time.monotonic() + 60
        left = []
        while time.monotonic() < end and not left and proc.poll() is None:
            left = [f for f in os.listdir(d) if f.startswith(prefix)]
            time.sleep(0.01)
        mm.check(left, "the transform never held after its commit (exit %r, %r)"
                 % (proc.poll(), proc.stderr.read() if proc.poll() is not None else ""))
    finally:
        kill_group(proc)
    leftover = os.path.join(d, left[0])
    mm.eq(oct(os.stat(leftover).st_mode & 0o7777), oct(0o700), "leftover mode")
    mm.check(not os.path.lexists(data + ".mmrun-journal"), "the journal was not renamed")
    mm.eq(mm.sha256_file(data), want, "data after the commit")
    return data, want, leftover


def mark_of(path):
    try:
        return os.getxattr(path, "user.mmrun.journal")
    except OSError:
        return None


@mm.test("journal: a window's changes reach the file only after its record is counted, the last window too "
         "(records made durable while the worker goes on)")
def _():
    # Every count waits 700 ms (journal_commit_ms): while a record is
    # written but not counted, its window of the file must hold the bytes
    # the record holds. The worker keeps going while the disk syncs a record,
    # so this fails if a window is written back before its count (the last
    # window has no next window to wait at).
    with mm.tmpdir() as d:
        data = make_dataset(d)
        original = open(data, "rb").read()
        jdir = data + ".mmrun-journal"
        env = dict(os.environ, MMRUN_TEST_FAULT="journal_commit_ms=700")
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "1", config(d, "d.f4")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        seen = set()  # uncounted records whose window was checked
        try:
            while proc.poll() is None:
                for f in journal_files(jdir):
                    p = os.path.join(jdir, f)
                    try:
                        c0 = counted(p)
                        recs = records_of(p)
                        if c0 is None or len(recs) <= c0:
                            continue
                        with open(p, "rb") as j:
                            j.seek(recs[c0][0] + 16)
                            off, length = struct.unpack("<QQ", j.read(16))
                        with open(data, "rb") as df:
                            df.seek(off)
                            now = df.read(length)
                        if counted(p) != c0:
                            continue  # counted meanwhile: the window may have changed since
                    except OSError:
                        continue
                    mm.check(now == original[off:off + length],
                             "window at byte %d changed before its record %d was counted" % (off, c0))
                    seen.add(c0)
                time.sleep(0.02)
            mm.eq(proc.returncode, 0, "transform exit: %r" % proc.stderr.read())
        finally:
            kill_group(proc)
        mm.eq(seen, {0, 1, 2, 3}, "uncounted records observed (four windows)")
        want = (np.frombuffer(original, dtype="<f4") * np.float32(-2.0) + np.float32(1.0)).astype("<f4")
        mm.check(open(data, "rb").read() == want.tobytes(), "the transform's result")
        mm.assert_no_leftovers(d)


@mm.test("journal: a transform killed between its commit and the journal's deletion: recover says it had "
         "committed and removes the 0700 .committed leftover and the file's mark; the data is the complete "
         "result")
def _():
    with mm.tmpdir() as d:
        data, want, leftover = killed_after_commit(d)
        res = mm.run_mmrun(["recover", data])
        mm.eq(res.code, 0, "recover: " + res.err)
        doc = json.loads(res.out)
        mm.eq(doc["recovered"], False, "recovered")
        for word in ("committed", "complete result", "removed"):
            mm.check(word in doc["message"], "recover's message lacks %r: %r" % (word, doc["message"]))
        mm.check("not changed" not in doc["message"], "recover lies: %r" % doc["message"])
        mm.eq([f for f in os.listdir(d) if "mmrun-journal" in f], [], "journal leftovers after recover")
        mm.eq(mark_of(data), None, "the file's mark after recover")
        mm.eq(mm.sha256_file(data), want, "data after recover")
        res = mm.run_mmrun(["recover", data])  # nothing left: the plain message
        mm.check("not changed" in json.loads(res.out)["message"], "second recover: " + res.out)
        mm.run_ok(["-q", config(d, "d.f4", transform=False)])  # also removes the killed run's segment
        mm.assert_no_leftovers(d)


@mm.test("journal: after a transform killed between its commit and the removal of its mark (the file holds the "
         "complete result), validate and a reading run exit 0 and change nothing; the next transform removes "
         "the mark and the leftover and runs")
def _():
    with mm.tmpdir() as d:
        data, want, leftover = killed_after_commit(d)
        mark = mark_of(data)
        res = mm.run_mmrun(["validate", config(d, "d.f4", transform=False)])
        mm.eq(res.code, 0, "validate: " + res.err)
        mm.run_ok(["-q", config(d, "d.f4", transform=False)])
        mm.check(os.path.isdir(leftover), "a reading run removed the leftover")
        mm.eq(mark_of(data), mark, "the file's mark after a reading run")
        mm.eq(mm.sha256_file(data), want, "data after the reading run")
        mm.run_ok(["-q", config(d, "d.f4")])
        mm.run_ok(["-q", config(d, "ref.f4")])  # the same transform again, for comparison
        mm.eq([f for f in os.listdir(d) if "mmrun-journal" in f], [], "journal leftovers after the transform")
        mm.eq(mark_of(data), None, "the file's mark after the transform")
        mm.eq(mm.sha256_file(data), mm.sha256_file(os.path.join(d, "ref.f4")), "data after the transform")
        mm.assert_no_leftovers(d)


@mm.test("journal: a mark that names a folder with a planted '.committed' entry that is not this file's "
         "journal (a plain folder, another file's journal, a relative mark): runs refuse with 65 naming "
         "`mmrun recover`, and nothing is deleted")
def _():
    with mm.tmpdir() as d:
        if not user_xattrs_work(d):
            raise mm.Skip("the test folder's filesystem has no user xattrs")
        data = make_dataset(d)
        other = os.path.join(d, "other")
        os.mkdir(other)
        planted_journal = os.path.join(other, "d.f4.mmrun-journal")
        plain = planted_journal + ".committed-planted"
        os.mkdir(plain)  # a plain folder, no manifest
        # Another file's committed journal: a real leftover of a transform of other/x.f4.
        make_dataset(other, "x.f4")
        env = dict(os.environ, MMRUN_TEST_FAULT="journal_hold_after_commit=1")
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "1", config(other, "x.f4")], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and proc.poll() is None and \
                    not [f for f in os.listdir(other) if f.startswith("x.f4.mmrun-journal.committed-")]:
                time.sleep(0.01)
        finally:
            kill_group(proc)
        foreign = [f for f in os.listdir(other) if f.startswith("x.f4.mmrun-journal.committed-")]
        mm.check(foreign, "no committed leftover of x.f4")
        os.rename(os.path.join(other, foreign[0]), planted_journal + ".committed-foreign")
        for mark in (planted_journal, "d.f4.mmrun-journal"):
            os.setxattr(data, "user.mmrun.journal", mark.encode())
            for cfg in (config(d, "d.f4", transform=False), config(d, "d.f4")):
                res = mm.run_mmrun(["-q", cfg])
                mm.assert_error(res, 65, ["mmrun recover"])
            mm.eq(mark_of(data), mark.encode(), "the mark after the refused runs")
        for f in ("d.f4.mmrun-journal.committed-foreign", "d.f4.mmrun-journal.committed-planted"):
            mm.check(os.path.isdir(os.path.join(other, f)), "a refused run removed the planted " + f)
        mm.check(os.path.exists(os.path.join(other, "d.f4.mmrun-journal.committed-foreign", "MANIFEST")) or
                 os.listdir(os.path.join(other, "d.f4.mmrun-journal.committed-foreign")),
                 "the foreign journal was emptied")
        os.removexattr(data, "user.mmrun.journal")
        mm.run_ok(["-q", config(d, "d.f4", transform=False)])


def user_xattrs_work(d):
    probe = os.path.join(d, "xattr-probe")
    open(probe, "wb").close()
    try:
        os.setxattr(probe, "user.mmrun.probe", b"1")
        return True
    except OSError:
        return False
    finally:
        os.unlink(probe)


@mm.test("journal: a transform killed through a hard link in ANOTHER folder: every run on the other name "
         "exits 65 naming the journal; recover of either name restores the bytes and removes the mark")
def _():
    with mm.tmpdir() as d:
        if not user_xattrs_work(d):
            raise mm.Skip("the test folder's filesystem has no user xattrs (mmrun then cannot see "
                          "journals beside hard links in other folders: documented limitation)")
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        os.mkdir(a)
        os.mkdir(b)
        data = make_dataset(b)
        other = os.path.join(a, "d.f4")
        os.link(data, other)
        before = mm.sha256_file(data)
        jdir = data + ".mmrun-journal"
        for recover_name in (other, data):
            killed(config(d, "b/d.f4", name="t-b.json"), jdir)
            mm.check(os.path.isdir(jdir), "no journal")
            mm.eq(os.getxattr(data, "user.mmrun.journal").decode(), jdir, "the mark on the file")
            for cfg in (config(d, "a/d.f4", transform=False, name="s-a.json"), config(d, "a/d.f4", name="t-a.json")):
                res = mm.run_mmrun(["-q", cfg])
                mm.assert_error(res, 65, ["mmrun recover", jdir])
            mm.check(not os.path.lexists(other + ".mmrun-journal"), "a second journal beside the other name")
            recover_ok(recover_name, before, data)
            mm.check(not os.path.lexists(jdir), "journal left after recover")
            mm.eq(os.listxattr(data), [], "xattrs left after recover")
        # The journal deleted behind mmrun's back: the mark still refuses runs,
        # recover explains and removes it.
        killed(config(d, "b/d.f4", name="t-b.json"), jdir)
        shutil.rmtree(jdir)
        res = mm.run_mmrun(["-q", config(d, "a/d.f4", transform=False, name="s-a.json")])
        mm.assert_error(res, 65, ["partly transformed", "mmrun recover", jdir])
        res = mm.run_mmrun(["recover", other])
        mm.assert_error(res, 65, ["is gone", "partly transformed", "cannot be restored"])
        mm.eq(os.listxattr(data), [], "the mark after recover")
        # A finished transform leaves no mark.
        mm.run_ok(["-q", config(d, "a/d.f4", name="t-a.json")])
        mm.eq(os.listxattr(data), [], "xattrs after a finished transform")
        mm.run_ok(["-q", config(d, "b/d.f4", transform=False, name="s-b.json")])
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- permissions

@mm.test("journal: the folder is 0700 and the journal files carry the dataset's mode (0600, 0640)")
def _():
    with mm.tmpdir() as d:
        data = make_dataset(d)
        before = mm.sha256_file(data)
        jdir = data + ".mmrun-journal"
        for mode in (0o600, 0o640):
            os.chmod(data, mode)
            with held_transform(config(d, "d.f4"), jdir):
                mm.eq(oct(os.stat(jdir).st_mode & 0o7777), oct(0o700), "journal folder mode")
                names = os.listdir(jdir)
                mm.check("manifest" in names and journal_files(jdir), "journal files: %r" % names)
                for f in journal_files(jdir):
                    mm.eq(oct(os.stat(os.path.join(jdir, f)).st_mode & 0o7777), oct(mode), f + " mode")
                mm.eq(oct(os.stat(os.path.join(jdir, "manifest")).st_mode & 0o7777), oct(0o600), "manifest mode")
            recover_ok(data, before, data)
        # A finished transform leaves no journal and no committed folder.
        mm.run_ok(["-q", config(d, "d.f4")])
        left = [f for f in os.listdir(d) if "mmrun-journal" in f]
        mm.eq(left, [], "journal leftovers after a finished transform")
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- completeness

def flip(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x04]))


def truncate(n):
    return lambda path: os.truncate(path, n(path))


CORRUPTIONS = [
    ("a flipped bit in the last record's data", lambda p: flip(p, os.path.getsize(p) - 3), ["checksum"]),
    ("a flipped bit in the last record's header", lambda p: flip(p, records_of(p)[-1][0] + 17), ["checksum"]),
    ("truncation inside the last record", truncate(lambda p: os.path.getsize(p) - 1000), ["truncated"]),
    ("truncation at a record boundary", truncate(lambda p: records_of(p)[-1][0]), ["truncated"]),
    ("a deleted journal file", os.unlink, ["missing", "incomplete"]),
]


@mm.test("journal: each corruption (bit flips, truncations, a deleted file) -> recover exits 65, data unchanged")
def _():
    with mm.tmpdir() as d:
        data = make_dataset(d)
        before = mm.sha256_file(data)
        jdir = data + ".mmrun-journal"
        killed(config(d, "d.f4"), jdir)
        victim = os.path.join(jdir, journal_files(jdir)[0])
        mm.eq(len(records_of(victim)), 2, "records")
        saved = open(victim, "rb").read()
        current = mm.sha256_file(data)
        for what, corrupt, words in CORRUPTIONS:
            corrupt(victim)
            res = mm.run_mmrun(["recover", data])
            mm.assert_error(res, 65, words)
            mm.eq(mm.sha256_file(data), current, what + ": data changed")
            mm.check(os.path.isdir(jdir), what + ": the journal was removed")
            with open(victim, "wb") as f:  # repaired for the next case
                f.write(saved)
            os.chmod(victim, 0o644)
        recover_ok(data, before, data)
        mm.run_ok(["-q", config(d, "d.f4", transform=False)])  # also removes the killed run's segment
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- other users

@contextlib.contextmanager
def other_user():
    """A throw-away local user (root only); yields its uid."""
    if os.geteuid() != 0:
        raise mm.Skip("needs root to create a second user")
    if shutil.which("useradd") is None:
        raise mm.Skip("no useradd")
    name = "mmatk%d" % os.getpid()
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", name], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        yield int(subprocess.check_output(["id", "-u", name]).decode())
    finally:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def chown_tree(path, uid):
    os.lchown(path, uid, -1)
    if os.path.isdir(path) and not os.path.islink(path):
        for f in os.listdir(path):
            os.lchown(os.path.join(path, f), uid, -1)


@mm.test("journal: a valid journal planted by another user is refused (77), the data unchanged")
def _():
    with mm.tmpdir() as d, other_user() as uid:
        os.chmod(d, 0o777)  # a shared folder the other user may write in
        data = make_dataset(d)
        before = mm.sha256_file(data)
        evil = np.full(1024, 1337.0, dtype="<f4").tobytes()
        jdir = write_journal(data, [(0, evil)])
        chown_tree(jdir, uid)
        for args in (["recover", data], ["-q", config(d, "d.f4", transform=False)], ["-q", config(d, "d.f4")]):
            res = mm.run_mmrun(args)
            mm.assert_error(res, 77, ["owned by uid %d" % uid, "not a journal mmrun wrote"])
            mm.eq(mm.sha256_file(data), before, "data after %r" % args)
        # Owned by us but writable by others: refused as well.
        chown_tree(jdir, 0)
        os.chmod(jdir, 0o777)
        res = mm.run_mmrun(["recover", data])
        mm.assert_error(res, 77, ["writable by group or others"])
        mm.eq(mm.sha256_file(data), before, "data")
        # The same journal, ours and private: accepted (so it was a valid journal).
        os.chmod(jdir, 0o700)
        res = mm.run_mmrun(["recover", data])
        mm.eq(res.code, 0, "recover of our own journal: " + res.err)
        mm.check(np.all(np.fromfile(data, dtype="<f4", count=1024) == 1337.0), "our journal was not applied")
        mm.assert_no_leftovers(d)


@mm.test("journal: planted symlinks (.committed, the journal folder) are never followed; the target stays intact")
def _():
    with mm.tmpdir() as d:
        data = make_dataset(d)
        precious = os.path.join(d, "precious")
        os.mkdir(precious)
        for i in range(3):
            with open(os.path.join(precious, "f%d" % i), "w") as f:
                f.write("keep %d" % i)
        planted = [data + ".mmrun-journal.committed", data + ".mmrun-journal.committed-0123456789abcdef"]
        for p in planted:
            os.symlink(precious, p)
        mm.run_ok(["-q", config(d, "d.f4")])  # a transform commits and sweeps leftovers
        res = mm.run_mmrun(["recover", data])
        mm.eq(res.code, 0, "recover: " + res.err)
        mm.eq(sorted(os.listdir(precious)), ["f0", "f1", "f2"], "precious after transform and recover")
        for p in planted:
            mm.check(os.path.islink(p), "planted symlink %s removed or replaced" % p)
            os.unlink(p)
        # The journal folder itself a symlink: every run refuses it, clearly.
        os.symlink(precious, data + ".mmrun-journal")
        current = mm.sha256_file(data)
        for args in (["recover", data], ["-q", config(d, "d.f4", transform=False)], ["-q", config(d, "d.f4")]):
            res = mm.run_mmrun(args)
            mm.assert_error(res, 77, ["symbolic link"])
        mm.eq(sorted(os.listdir(precious)), ["f0", "f1", "f2"], "precious after runs on a symlinked journal")
        mm.eq(mm.sha256_file(data), current, "data")
        os.unlink(data + ".mmrun-journal")
        mm.assert_no_leftovers(d)


# ---------------------------------------------------------------- locks

HOLDER = r"""
import fcntl, struct, sys, time
f = open(sys.argv[1], "r+b")
if sys.argv[2] == "byte":
    fcntl.lockf(f, fcntl.LOCK_EX, 1, 1 << 62)
elif sys.argv[2] == "ofd":  # an open file description lock: tells no pid
    fcntl.fcntl(f, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 1 << 62, 1, 0))
else:
    fcntl.lockf(f, fcntl.LOCK_EX)
print("ready", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def lock_holder(data, kind):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, data, kind], stdout=subprocess.PIPE)
    try:
        mm.eq(holder.stdout.readline().strip(), b"ready", "lock holder")
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


@mm.test("dataset lock: held by a program that is not mmrun -> 75 naming its pid and saying so")
def _():
    with mm.tmpdir() as d:
        data = make_dataset(d)
        before = mm.sha256_file(data)
        for kind in ("byte", "whole file"):
            with lock_holder(data, kind) as holder:
                for cfg in (config(d, "d.f4"), config(d, "d.f4", transform=False)):
                    res = mm.run_mmrun(["-q", cfg])
                    mm.assert_error(res, 75, ["pid %d" % holder.pid, "not an mmrun run"])
        # An OFD lock names no pid: the message says the holder cannot be
        # identified (after waiting 3 s for dying workers), never blames a run.
        with lock_holder(data, "ofd"):
            res = mm.run_mmrun(["-q", config(d, "d.f4")])
            mm.assert_error(res, 75, ["cannot be identified", "not mmrun"])
        mm.eq(mm.sha256_file(data), before, "data")
        mm.run_ok(["-q", config(d, "d.f4", transform=False)])
        mm.assert_no_leftovers(d)


if __name__ == "__main__":
    mm.main()
