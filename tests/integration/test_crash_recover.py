"""Crash safety of in-place transforms (SPEC §3 `transform`, `mmrun recover`).

Each scenario transforms a ~16 MB file with 2-3 workers and SIGKILLs the
coordinator's whole process group (coordinator and workers at once) at
seeded random moments (60 kill points across the file): three in four fall
inside the journal's lifetime (once the killed run's journal holds a random
fraction of what a whole run journals), the rest at a random time anywhere
from launch to after the end of a clean run. After
each kill:
  - if a journal was left, any run on the file and `validate` refuse with 65
    naming `mmrun recover`;
  - `mmrun recover FILE` exits 0 and restores the exact sha256 of the file
    before the transform, and removes the journal;
  - a kill that came after the run ended leaves the transformed file, whose
    sha256 must equal that of a clean run.
Recover also refuses corrupt and foreign journals without changing the file.
"""
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import time

import numpy as np

import mmtest as mm
from journal_util import RECORDS_START, counted, crc32c, masked, records_of

KILLS_PER_SCENARIO = 12
RNG = random.Random(20261121)


def scenario_array(kind):
    rng = np.random.default_rng(5)
    if kind == "i2":
        return rng.integers(-3000, 3000, size=(2000000, 4)).astype("<i2")
    if kind == "f8":
        a = rng.normal(size=(500000, 4))
        a[rng.random(a.shape) < 0.1] = np.nan
        return a.astype("<f8")
    if kind == ">f4":
        a = rng.normal(size=(1000000, 4))
        a[rng.random(a.shape) < 0.1] = np.nan
        return a.astype(">f4")
    return rng.normal(size=(1000000, 4)).astype("<f4")


def timed_clean_run(args, env, path):
    """Runs the transform once, polling for its journal; returns (duration,
    first and last moment the journal was seen, exit code). The journal's
    lifetime is the window in which a kill must leave something to recover;
    measuring it on this machine keeps the kill points inside it whatever
    the build (sanitizers make start-up several times slower)."""
    journal = path + ".mmrun-journal"
    seen = []
    t0 = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if os.path.exists(journal):
            seen.append(time.monotonic() - t0)
        time.sleep(0.0005)
    duration = time.monotonic() - t0
    if not seen:
        return duration, 0.0, duration, proc.returncode
    return duration, seen[0], seen[-1], proc.returncode


def kill_aim(k, duration):
    """Three kills in four fall while the run has a journal: (True, f) means
    once the killed run's journal files hold a fraction f of the bytes a
    complete run journals (f = 0: as soon as its journal folder exists).
    Aiming by progress rather than by time keeps them inside the journal's
    lifetime however the machine's load (or a sanitizer) stretches or
    shrinks a run. The rest, (False, d): d seconds after launch, anywhere up
    to just after the end of the clean run (before the journal exists,
    during the commit, after the run)."""
    if k % 4 == 3:
        return False, RNG.uniform(0.0, duration * 1.1)
    return True, RNG.uniform(0.0, 0.9)


def journal_bytes(journal):
    total = 0
    for f in os.listdir(journal):
        try:
            total += os.path.getsize(os.path.join(journal, f))
        except OSError:
            pass
    return total


def wait_for_journal(proc, journal, target, timeout=60):
    """Polls until `journal` exists and holds at least `target` bytes, or
    `proc` ends."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            if os.path.isdir(journal) and journal_bytes(journal) >= target:
                return
        except OSError:
            pass
        time.sleep(0.0005)


SCENARIOS = [
    ("affine float32, 2 fork workers", "f4", "C", 2, "fork", "",
     [{"op": "transform", "fn": "affine", "scale": 2.0, "offset": 1.0}]),
    ("normalize float32 (stats pass + write pass), 3 fork workers", "f4", "C", 3, "fork", "transform_block_ms=4",
     [{"op": "transform", "fn": "normalize", "axis": 0}]),
    ("affine int16 saturating, 2 spawn workers", "i2", "C", 2, "spawn", "",
     [{"op": "transform", "fn": "affine", "scale": 100.0}]),
    ("fill_nan then clip then stats float64, 3 fork workers", "f8", "C", 3, "fork", "transform_block_ms=2",
     [{"op": "transform", "name": "fill", "fn": "fill_nan", "value": 0.5},
      {"op": "transform", "name": "clip", "fn": "clip", "min": -1.0, "max": 1.0},
      {"op": "stats", "axis": 0}]),
    ("fill_nan big-endian F order, 2 spawn workers", ">f4", "F", 2, "spawn", "",
     [{"op": "transform", "fn": "fill_nan", "value": -1.0}]),
]


def setup(d, kind, order, analyses):
    a = scenario_array(kind)
    path = os.path.join(d, "data.dat")
    mm.write_raw(path, a, order=order)
    cfg = mm.write_config(d, {"dataset": {"path": "data.dat", "dtype": a.dtype.str, "shape": list(a.shape),
                                          "order": order, "mode": "r+"},
                              "analyses": analyses})
    reader = mm.write_config(d, {"dataset": {"path": "data.dat", "dtype": a.dtype.str, "shape": list(a.shape),
                                             "order": order},
                                 "analyses": [{"op": "stats"}]}, name="reader.json")
    return path, cfg, reader


def restore_original(path, original):
    shutil.copyfile(original, path)


for title, kind, order, workers, launch, fault, analyses in SCENARIOS:
    def crash_scenario(kind=kind, order=order, workers=workers, launch=launch, fault=fault, analyses=analyses,
                       title=title):
        with mm.tmpdir() as d:
            path, cfg, reader = setup(d, kind, order, analyses)
            original = os.path.join(d, "original.bin")
            shutil.copyfile(path, original)
            want_before = mm.sha256_file(path)
            args = [mm.mmrun_path(), "-q", "-w", str(workers), "--launch", launch, cfg]
            env = dict(os.environ)
            if fault:
                env["MMRUN_TEST_FAULT"] = fault
            # A clean run: its duration spreads the kill points, its result
            # is what a kill after the end must leave.
            duration, journal_from, journal_to, clean_code = timed_clean_run(args, env, path)
            mm.check(clean_code == 0, "clean run failed with exit %d" % clean_code)
            want_after = mm.sha256_file(path)
            mm.check(want_after != want_before, "the transform changed nothing")
            # Bytes a complete run journals: every transform's records cover the file.
            journaled_total = os.path.getsize(path) * sum(1 for a in analyses if a["op"] == "transform")
            restore_original(path, original)
            journaled = 0
            for k in range(KILLS_PER_SCENARIO):
                by_progress, aim = kill_aim(k, duration)
                proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
                if by_progress:
                    wait_for_journal(proc, path + ".mmrun-journal", aim * journaled_total)
                else:
                    time.sleep(aim)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait()
                where = "kill %d %s" % (k, ("at %.0f%% of the journal" % (100 * aim)) if by_progress else
                                        ("at %.3f s of %.3f s" % (aim, duration)))
                if os.path.exists(path + ".mmrun-journal"):
                    journaled += 1
                    res = mm.run_mmrun(["-q", reader])
                    mm.assert_error(res, 65, ["mmrun recover", "data.dat"])
                    res = mm.run_mmrun(["validate", cfg])
                    mm.assert_error(res, 65, ["mmrun recover"])
                    rec = mm.run_mmrun(["recover", path])
                    mm.check(rec.code == 0, "%s: recover exit %d: %s" % (where, rec.code, rec.err))
                    mm.eq(json.loads(rec.out)["recovered"], True, where + ": recovered")
                    mm.check(not os.path.exists(path + ".mmrun-journal"), where + ": journal left after recover")
                    mm.eq(mm.sha256_file(path), want_before, where + ": sha256 after recover")
                else:
                    got = mm.sha256_file(path)
                    if proc.returncode == 0 or got == want_after:
                        mm.eq(got, want_after, where + ": finished run's result")
                        restore_original(path, original)
                    else:
                        # Killed before the journal existed: nothing may have changed.
                        mm.eq(got, want_before, where + ": data changed without a journal")
                        rec = mm.run_mmrun(["recover", path])
                        mm.eq(rec.code, 0, "recover without journal")
                        mm.eq(json.loads(rec.out)["recovered"], False, "recovered without journal")
                        mm.eq(mm.sha256_file(path), want_before, "recover without a journal changed the file")
            print("  %s: %d of %d kills left a journal (journal seen %.3f-%.3f s of %.3f s)"
                  % (title, journaled, KILLS_PER_SCENARIO, journal_from, journal_to, duration))
            mm.check(journaled >= KILLS_PER_SCENARIO // 3,
                     "only %d of %d kills hit a running transform" % (journaled, KILLS_PER_SCENARIO))
            # After all that, a full run still gives the clean result.
            done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
            mm.eq(done.returncode, 0, "final run exit")
            mm.eq(mm.sha256_file(path), want_after, "final run result")
            mm.assert_no_leftovers(d)

    mm.add_test("crash: %d SIGKILLs during %s; recover restores the sha256" % (KILLS_PER_SCENARIO, title),
                crash_scenario)


def killed_journal(d):
    """A 40 MB file whose transform (2 workers, two windows each) was killed
    once a worker had journaled both its windows; returns (path, sha256
    before the transform, that worker's journal file)."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(2500000, 4)).astype("<f4")
    path = os.path.join(d, "data.dat")
    mm.write_raw(path, a)
    before = mm.sha256_file(path)
    cfg = mm.write_config(d, {"dataset": {"path": "data.dat", "dtype": "<f4", "shape": list(a.shape), "mode": "r+"},
                              "analyses": [{"op": "transform", "fn": "affine", "scale": -1.0}]})
    env = dict(os.environ, MMRUN_TEST_FAULT="transform_block_ms=30")
    proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", cfg], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    jdir = path + ".mmrun-journal"
    full = a.nbytes // 2 + RECORDS_START + 2 * 40
    victim = None
    end = time.monotonic() + 30
    while time.monotonic() < end and victim is None:
        for f in (os.listdir(jdir) if os.path.isdir(jdir) else []):
            try:
                p = os.path.join(jdir, f)
                # Both records written and counted (the count is synced after each record).
                if f.endswith(".jnl") and os.path.getsize(p) >= full and counted(p) == 2:
                    victim = p
            except OSError:
                pass
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    mm.check(victim is not None, "no worker journaled both its windows")
    mm.eq(len(records_of(victim)), 2, "records in the victim's journal")
    return path, before, victim


@mm.test("recover: a file without a journal is left alone and says so")
def _():
    with mm.tmpdir() as d:
        path = os.path.join(d, "x.dat")
        mm.write_raw(path, np.arange(100, dtype="<f4"))
        before = mm.sha256_file(path)
        res = mm.run_mmrun(["recover", path])
        mm.eq(res.code, 0, "exit")
        doc = json.loads(res.out)
        mm.eq(doc["recovered"], False, "recovered")
        mm.check("nothing to recover" in doc["message"], "message: %r" % doc["message"])
        mm.eq(mm.sha256_file(path), before, "data")
        res = mm.run_mmrun(["recover", os.path.join(d, "missing.dat")])
        mm.assert_error(res, 66, ["missing.dat"])
        res = mm.run_mmrun(["recover"])
        mm.assert_error(res, 64, ["recover"])


@mm.test("recover: a flipped byte in a record's data is refused (65) and changes nothing")
def _():
    with mm.tmpdir() as d:
        path, before, victim = killed_journal(d)
        current = mm.sha256_file(path)
        pos, length = records_of(victim)[0]
        with open(victim, "r+b") as f:
            f.seek(pos + 40 + length // 2)
            b = f.read(1)
            f.seek(pos + 40 + length // 2)
            f.write(bytes([b[0] ^ 0x10]))
        res = mm.run_mmrun(["recover", path])
        mm.assert_error(res, 65, ["checksum", "corrupt"])
        mm.eq(mm.sha256_file(path), current, "recover of a corrupt journal changed the file")
        mm.check(os.path.isdir(path + ".mmrun-journal"), "a corrupt journal was removed")
        with open(victim, "r+b") as f:  # repaired: recover works
            f.seek(pos + 40 + length // 2)
            f.write(b)
        res = mm.run_mmrun(["recover", path])
        mm.eq(res.code, 0, "recover: " + res.err)
        mm.eq(mm.sha256_file(path), before, "sha256 after recover")


@mm.test("recover: a flipped byte in a journal header is refused (65); a journal of another file too")
def _():
    with mm.tmpdir() as d:
        path, before, victim = killed_journal(d)
        jdir = path + ".mmrun-journal"
        current = mm.sha256_file(path)
        with open(victim, "r+b") as f:
            f.seek(20)
            b = f.read(1)
            f.seek(20)
            f.write(bytes([b[0] ^ 1]))
        res = mm.run_mmrun(["recover", path])
        mm.assert_error(res, 65, ["header checksum"])
        mm.eq(mm.sha256_file(path), current, "data")
        with open(victim, "r+b") as f:  # undo the flip: now recover works
            f.seek(20)
            f.write(b)
        # The journal moved beside another file of the same size: refused.
        other = os.path.join(d, "other.dat")
        shutil.copyfile(path, other)
        shutil.copytree(jdir, other + ".mmrun-journal")
        other_sha = mm.sha256_file(other)
        res = mm.run_mmrun(["recover", other])
        mm.assert_error(res, 65, ["another file"])
        mm.eq(mm.sha256_file(other), other_sha, "foreign journal changed the file")
        res = mm.run_mmrun(["recover", path])
        mm.eq(res.code, 0, "recover after undoing the flip: " + res.err)
        mm.eq(mm.sha256_file(path), before, "sha256 after recover")


@mm.test("recover: a torn last record (crash while journaling) is ignored; the file is restored")
def _():
    with mm.tmpdir() as d:
        path, before, victim = killed_journal(d)
        # A crash while appending: a valid record header whose data is cut short.
        header = struct.pack("<IIQQQI", 0x5243524D, 0, len(records_of(victim)), 0, 1 << 20, masked(0))
        header += struct.pack("<I", masked(crc32c(header)))
        with open(victim, "ab") as f:
            f.write(header + b"\0" * 1000)
        res = mm.run_mmrun(["recover", path])
        mm.eq(res.code, 0, "recover exit: " + res.err)
        doc = json.loads(res.out)
        mm.check(doc["torn_records_ignored"] >= 1, "torn record not reported: %r" % doc)
        mm.eq(mm.sha256_file(path), before, "sha256 after recover")


@mm.test("recover: refuses (75, naming the pid) while the transform still runs")
def _():
    with mm.tmpdir() as d:
        a = scenario_array("f4")
        path = os.path.join(d, "data.dat")
        mm.write_raw(path, a)
        before = mm.sha256_file(path)
        cfg = mm.write_config(d, {"dataset": {"path": "data.dat", "dtype": "<f4", "shape": list(a.shape),
                                              "mode": "r+"},
                                  "analyses": [{"op": "transform", "fn": "affine", "scale": 2.0}]})
        env = dict(os.environ, MMRUN_TEST_FAULT="transform_block_ms=2000")
        proc = subprocess.Popen([mm.mmrun_path(), "-q", "-w", "2", cfg], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 10
        while time.monotonic() < end and not os.path.isdir(path + ".mmrun-journal"):
            time.sleep(0.005)
        res = mm.run_mmrun(["recover", path], timeout=60)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        mm.assert_error(res, 75, ["pid %d" % proc.pid])
        rec = mm.run_mmrun(["recover", path])
        mm.eq(rec.code, 0, "recover after the kill: " + rec.err)
        mm.eq(mm.sha256_file(path), before, "sha256")


if __name__ == "__main__":
    mm.main()
