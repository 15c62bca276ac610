"""Decoding a result document of mmrun into numpy values.

The document is JSON (SPEC §4): numbers, nested lists of numbers, the strings
"NaN", "Infinity" and "-Infinity" for non-finite floats, and decimal strings
for integer sums beyond 64 bits. decode_document() turns it into Python and
numpy values by the rules listed in docs/CHOICES.md ("Python package"):

- a (nested) list of numbers becomes a numpy array: float64 when any element
  is a float; int64 when every element is an integer that fits, else uint64
  when they all fit that, else an object array of exact Python ints;
- a scalar float becomes numpy.float64, a scalar integer a Python int (exact
  at any size);
- "shape" and "chunks" lists become tuples of ints, as numpy spells shapes;
- an analysis result written to PREFIX.FIELD.npy files (it has a "files"
  object) becomes an NpyResult, which loads each field on first access with
  numpy.load(path, mmap_mode="r");
- text (paths, dtypes, names, versions) is kept as it is.

Pure functions of their input; no I/O except NpyResult's lazy loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)\Z")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1

# Keys whose values are text, even when that text looks like a number (a
# dataset named "NaN", an output named "1").
TEXT_KEYS = frozenset({
    "path", "name", "output", "output_name", "dtype", "stored_dtype", "format", "order",
    "launch", "version", "started", "method", "op", "select", "compression", "warnings",
    "files", "config_dir",
})
# Keys whose lists of ints are shapes: tuples, as numpy spells them.
SHAPE_KEYS = frozenset({"shape", "chunks"})


def decode_document(doc: Any) -> Any:
    """Decodes a parsed result document (the output of json.loads)."""
    return _decode(doc, None)


def _decode(value: Any, key: str | None) -> Any:
    if isinstance(value, dict):
        return _decode_object(value)
    if key in TEXT_KEYS:
        return value
    if isinstance(value, list):
        if key in SHAPE_KEYS and all(_is_int(x) for x in value):
            return tuple(value)
        array = to_array(value)
        if array is not None:
            return array
        return [_decode(item, None) for item in value]
    return _scalar(value)


def _decode_object(obj: dict) -> Any:
    decoded = {k: _decode(v, k) for k, v in obj.items()}
    files = obj.get("files")
    if isinstance(files, dict) and files and all(isinstance(p, str) for p in files.values()):
        return NpyResult(decoded, files)
    return decoded


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _scalar(value: Any) -> Any:
    """A JSON scalar: float -> numpy.float64, int -> int, the non-finite and
    decimal strings -> float64 / int, anything else unchanged."""
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, str):
        if value in NONFINITE:
            return np.float64(NONFINITE[value])
        if _DECIMAL.match(value):
            return int(value)
    return value


def _leaf(x: Any) -> int | float | None:
    """A list element as a number, or None when it is not one."""
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return x
    if isinstance(x, str):
        if x in NONFINITE:
            return NONFINITE[x]
        if _DECIMAL.match(x):
            return int(x)
    return None


def to_array(value: list) -> np.ndarray | None:
    """A rectangular nested list of numbers as a numpy array (dtype by the
    rules of the module docstring), or None when it is ragged or holds
    anything but numbers."""
    shape: list[int] = []
    probe: Any = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    leaves: list[Any] = []
    if not _flatten(value, shape, 0, leaves):
        return None
    numbers = []
    for x in leaves:
        n = _leaf(x)
        if n is None:
            return None
        numbers.append(n)
    if any(isinstance(n, float) for n in numbers):
        return np.array(numbers, dtype=np.float64).reshape(shape)
    return _int_array(numbers).reshape(shape)


def _flatten(value: Any, shape: list[int], depth: int, out: list) -> bool:
    """Appends the leaves of `value` to `out`; False when it is not a
    rectangular nesting of `shape`."""
    if depth == len(shape):
        if isinstance(value, list):
            return False
        out.append(value)
        return True
    if not isinstance(value, list) or len(value) != shape[depth]:
        return False
    if depth + 1 == len(shape):
        if any(isinstance(x, list) for x in value):
            return False
        out.extend(value)
        return True
    return all(_flatten(item, shape, depth + 1, out) for item in value)


def _int_array(numbers: list[int]) -> np.ndarray:
    if not numbers:
        return np.array(numbers, dtype=np.int64)
    lo, hi = min(numbers), max(numbers)
    if _INT64_MIN <= lo and hi <= _INT64_MAX:
        return np.array(numbers, dtype=np.int64)
    if lo >= 0 and hi <= _UINT64_MAX:
        return np.array(numbers, dtype=np.uint64)
    exact = np.empty(len(numbers), dtype=object)
    exact[:] = numbers
    return exact


class NpyResult(Mapping):
    """An analysis result whose fields mmrun wrote to PREFIX.FIELD.npy files.

    A read-only mapping: the result's own keys ("shape", "files", and any
    field kept inline, such as cov's "count") and one key per file. A file's
    field is loaded on first access with numpy.load(path, mmap_mode="r") (a
    read-only memory map; nothing is read until used) and kept. The files
    must stay where mmrun wrote them while the result is used.
    """

    def __init__(self, inline: dict, files: Mapping[str, str]):
        self._inline = inline
        self._files = dict(files)
        self._loaded: dict[str, np.ndarray] = {}

    @property
    def files(self) -> dict[str, str]:
        """{field: path of its .npy file}."""
        return dict(self._files)

    def __getitem__(self, key: str) -> Any:
        if key in self._inline:
            return self._inline[key]
        if key not in self._files:
            raise KeyError(key)
        if key not in self._loaded:
            self._loaded[key] = _load(self._files[key])
        return self._loaded[key]

    def __iter__(self) -> Iterator[str]:
        yield from (k for k in self._files if k not in self._inline)
        yield from self._inline

    def __len__(self) -> int:
        return len(self._inline) + sum(1 for k in self._files if k not in self._inline)

    def __repr__(self) -> str:
        parts = []
        for key in self:
            if key in self._files and key not in self._inline and key not in self._loaded:
                parts.append("%r: <lazy %s>" % (key, self._files[key]))
            else:
                parts.append("%r: %r" % (key, self[key]))
        return "NpyResult({%s})" % ", ".join(parts)


def _load(path: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:
        # An array of no elements cannot be memory-mapped.
        return np.load(path, allow_pickle=False)
