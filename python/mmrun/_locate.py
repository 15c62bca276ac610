"""Finding the mmrun binary, and the environment it runs in.

Order (README "From Python"):
  1. the environment variable MMRUN (the path of mmrun);
  2. the bin folder of the prefix the package was installed to with
     `cmake --install` (recorded in the generated module mmrun/_paths.py);
  3. the build tree, when the package is used from the repository:
     <repository>/build/mmrun for <repository>/python/mmrun;
  4. mmrun on PATH.
mmrun finds mmworker (spawn mode) next to itself, or through the environment
variable MMRUN_WORKER; MMWORKER, the name the test suite uses, is passed on
as MMRUN_WORKER when MMRUN_WORKER is not set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ._errors import MmrunError

BINARY_NOT_FOUND = 127  # the exit code a shell gives for a command not found

_HOW_TO_GET_IT = (
    "build it in the repository (cmake -S . -B build && cmake --build build --target mmrun "
    "mmworker), install it (cmake --install build --prefix PREFIX), put it on PATH, or set "
    "MMRUN=/path/to/mmrun")


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _installed_bindir() -> Path | None:
    try:
        from . import _paths  # written by cmake --install (CMakeLists.txt)
    except ImportError:
        return None
    return Path(_paths.BINDIR)


def find_mmrun() -> str:
    """The path of the mmrun binary to run (see the module docstring).

    Raises MmrunError (exit_code 127) when MMRUN names no executable file or
    when no mmrun is found at all."""
    env = os.environ.get("MMRUN", "")
    if env:
        if not _executable(Path(env)):
            raise MmrunError(BINARY_NOT_FOUND,
                             "MMRUN=%s is not an executable file; %s" % (env, _HOW_TO_GET_IT))
        return env
    candidates = []
    bindir = _installed_bindir()
    if bindir is not None:
        candidates.append(bindir / "mmrun")
    candidates.append(Path(__file__).resolve().parent.parent.parent / "build" / "mmrun")
    for path in candidates:
        if _executable(path):
            return str(path)
    on_path = shutil.which("mmrun")
    if on_path:
        return on_path
    raise MmrunError(BINARY_NOT_FOUND, "mmrun binary not found; " + _HOW_TO_GET_IT)


def child_environment() -> dict[str, str]:
    """The environment mmrun runs with: ours, plus MMRUN_WORKER from MMWORKER."""
    env = dict(os.environ)
    if env.get("MMWORKER") and not env.get("MMRUN_WORKER"):
        env["MMRUN_WORKER"] = env["MMWORKER"]
    return env
