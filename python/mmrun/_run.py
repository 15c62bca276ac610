"""run(): one mmrun run from Python, and its result document decoded.

The config goes to `mmrun [OPTIONS] -` on stdin (a dict) or is named by its
path. mmrun's stdout is collected in a temporary file (the document may be
large); its stderr is read by a thread that keeps the error line and passes
warnings and progress lines on to sys.stderr. A Ctrl-C while mmrun runs is
passed on to it as SIGINT (it stops its workers and removes its segment),
mmrun is waited for, and the KeyboardInterrupt is raised again.

run() may be called from any thread; KeyboardInterrupt reaches only the main
thread.
"""

from __future__ import annotations

import json
import numbers
import operator
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from ._decode import decode_document
from ._errors import MmrunError
from ._locate import BINARY_NOT_FOUND, child_environment, find_mmrun

_ERROR_PREFIX = "mmrun: error: "


def _count(name: str, value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("%s must be an integer, got %r" % (name, value))
    return str(operator.index(value))


def _seconds(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number of seconds, got %r" % (name, value))
    return repr(float(value))


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("%s must be a string, got %r" % (name, value))
    return value


def _path(name: str, value: Any) -> str:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError("%s must be a path, got %r" % (name, value))
    return os.fspath(value)


def _shard(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return "%s/%s" % (_count(name, value[0]), _count(name, value[1]))
    raise TypeError("%s must be 'I/N', 'auto' or a pair (I, N), got %r" % (name, value))


# Run options (SPEC §1): Python name -> (flag, converter of the value). A
# flag without a converter is a switch, given when the value is true.
RUN_OPTIONS = {
    "workers": ("--workers", _count),
    "launch": ("--launch", _text),
    "output": ("--output", _path),
    "timeout": ("--timeout", _seconds),
    "retries": ("--retries", _count),
    "lock": ("--lock", _path),
    "quiet": ("--quiet", None),
    "progress": ("--progress", None),  # True, or a number of seconds
    "shard": ("--shard", _shard),
    "state": ("--state", _path),
    "verify": ("--verify", None),
}


def option_args(options: Mapping[str, Any], caller: str = "run") -> list[str]:
    """The command-line flags for run options; None (and False for a switch)
    means mmrun's default. TypeError for an unknown option or a value of the
    wrong type."""
    args: list[str] = []
    for name, value in options.items():
        if name not in RUN_OPTIONS:
            raise TypeError("%s() got an unexpected keyword argument %r" % (caller, name))
        if value is None:
            continue
        flag, convert = RUN_OPTIONS[name]
        if convert is not None:
            args += [flag, convert(name, value)]
        elif value is True:
            args.append(flag)
        elif value is False:
            continue
        elif name == "progress":
            args.append("%s=%s" % (flag, _seconds(name, value)))
        else:
            raise TypeError("%s must be True or False, got %r" % (name, value))
    return args


def run(config_or_path: Mapping[str, Any] | str | os.PathLike, workers: int | None = None,
        launch: str | None = None, **options: Any) -> Any:
    """Runs mmrun on a config and returns its result document, decoded.

    config_or_path: a config (a dict, SPEC §2), passed to `mmrun -` on stdin
    (relative paths in it resolve against the current folder), or the path of
    a config file (relative paths resolve against the file's folder).
    workers, launch and the keyword options are mmrun's run options with
    Python names: output, timeout, retries, lock, quiet, progress (True or
    seconds), shard ('I/N', 'auto' or (I, N)), state, verify. None means
    mmrun's default.

    Returns the document as a dict, numbers decoded as numpy values
    (docs/PYTHON.md, "How the document is decoded"). With output= (or a config "output")
    the document is read back from that file. A shard run returns its part
    document as plain JSON, for `mmrun merge`.

    Raises MmrunError when mmrun fails or is not found, TypeError for an
    unknown option or a value of the wrong type. A KeyboardInterrupt stops
    mmrun (SIGINT) and is raised again once it has exited.
    """
    args = option_args(dict(options, workers=workers, launch=launch))
    if isinstance(config_or_path, Mapping):
        config_text: str | None = json.dumps(config_or_path, default=_json_value, allow_nan=False)
        config_arg = "-"
        config = dict(config_or_path)
        config_dir = os.getcwd()
    elif isinstance(config_or_path, (str, os.PathLike)):
        config_text = None
        config_arg = os.fspath(config_or_path)
        config = _read_config(config_arg)
        config_dir = os.path.dirname(os.path.abspath(config_arg))
    else:
        raise TypeError("config_or_path must be a dict or a path, got %r" % (config_or_path,))
    if config_arg.startswith("-") and config_arg != "-":
        config_arg = os.path.join(".", config_arg)  # a file, not an option
    argv = [find_mmrun()] + args + [config_arg]
    code, text, err = _execute(argv, config_text, forward_stderr=not options.get("quiet"))
    if code != 0:
        raise MmrunError(128 - code if code < 0 else code, _error_message(code, err), err)
    if not text.strip():
        # The document went to a file: -o (relative to the current folder),
        # else the config's "output" (relative to the config's folder).
        output = options.get("output") or config.get("output")
        if not output:
            raise MmrunError(code, "mmrun exited 0 but printed no result document", err)
        base = os.getcwd() if options.get("output") else config_dir
        with open(os.path.join(base, os.fspath(output))) as f:
            text = f.read()
    doc = json.loads(text)
    if isinstance(doc, dict) and doc.get("format") == "mmrun-part":
        return doc
    return decode_document(doc)


def _json_value(value: Any) -> Any:
    """numpy values and paths in a config dict, as JSON can hold them."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError("a config cannot hold %r (of type %s)" % (value, type(value).__name__))


def _read_config(path: str) -> dict:
    """The config file's JSON object, or {} when it cannot be read (mmrun
    then says why)."""
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _error_message(code: int, stderr: str) -> str:
    lines = stderr.splitlines()
    for line in reversed(lines):
        if line.startswith(_ERROR_PREFIX):
            return line[len(_ERROR_PREFIX):]
    if code < 0:
        return "mmrun was killed by %s" % _signal_name(-code)
    last = lines[-1] if lines else "no message"
    return "mmrun exited with status %d: %s" % (code, last)


def _signal_name(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        return "signal %d" % signo


class _StderrReader(threading.Thread):
    """Reads mmrun's stderr to its end: keeps all of it, and passes every
    line but the error line on to sys.stderr when `forward` is set."""

    def __init__(self, stream: IO[bytes], forward: bool):
        super().__init__(name="mmrun-stderr", daemon=True)
        self._stream = stream
        self._forward = forward
        self._lines: list[str] = []

    def run(self) -> None:
        for raw in self._stream:
            line = raw.decode("utf-8", "replace")
            self._lines.append(line)
            if self._forward and not line.startswith(_ERROR_PREFIX):
                sys.stderr.write(line)
                sys.stderr.flush()

    def text(self) -> str:
        return "".join(self._lines)


def _execute(argv: list[str], stdin_text: str | None, forward_stderr: bool) -> tuple[int, str, str]:
    """Runs argv; returns (exit code, stdout, stderr). The exit code is
    negative (-n) when mmrun died of signal n, as subprocess reports it."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                argv, env=child_environment(), stdout=out, stderr=subprocess.PIPE,
                stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL)
        except OSError as e:
            raise MmrunError(BINARY_NOT_FOUND, "cannot run %s: %s" % (argv[0], e.strerror)) from e
        reader = _StderrReader(proc.stderr, forward_stderr)
        try:
            reader.start()
            if stdin_text is not None:
                _feed(proc, stdin_text)
            code = proc.wait()
        except KeyboardInterrupt:
            # mmrun takes signals only once it runs: it must not wait for
            # the rest of a config we stopped writing.
            _close_quietly(proc.stdin)
            _interrupt(proc)
            if reader.is_alive():
                reader.join(timeout=2.0)
            raise
        # A worker that outlived mmrun may hold stderr open: do not wait for it.
        reader.join(timeout=2.0)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    return code, text, reader.text()


def _feed(proc: subprocess.Popen, text: str) -> None:
    """Writes the config to mmrun's stdin and closes it. mmrun may exit
    without reading it (a bad option): its exit status says why."""
    try:
        proc.stdin.write(text.encode("utf-8"))
        proc.stdin.close()
    except BrokenPipeError:
        _close_quietly(proc.stdin)


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass


def _interrupt(proc: subprocess.Popen) -> None:
    """Stops mmrun with SIGINT and waits for it to exit. A Ctrl-C on the
    terminal reached it already (same process group): the second SIGINT is
    harmless. Further Ctrl-Cs while waiting send SIGINT again."""
    while True:
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            proc.wait()
            return
        except KeyboardInterrupt:
            continue
