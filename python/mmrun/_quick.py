"""stats(), histogram(), quantiles(): one analysis of one file, without a
config file, as mmrun's quick commands (SPEC §8) do it.

Each builds the config the quick command stands for ({"dataset": {path and
layout}, "analyses": [one analysis]}), runs it with run(), and returns that
analysis's result: a dict of numpy arrays and scalars (an NpyResult when the
fields went to PREFIX.FIELD.npy files).
"""

from __future__ import annotations

import operator
import os
from typing import Any

import numpy as np

from ._run import RUN_OPTIONS, run

# The layout options of `mmrun inspect` (raw: dtype, shape, order, offset;
# HDF5: name, cf), and format.
LAYOUT_KEYS = ("format", "dtype", "shape", "order", "offset", "name", "cf")


def _dtype(value: Any) -> str:
    """A numpy spelling: a string as given (mmrun checks it), anything numpy
    takes for a dtype (np.float32, np.dtype(">f8")) as its .str."""
    return value if isinstance(value, str) else np.dtype(value).str


def _shape(value: Any) -> list[int]:
    if isinstance(value, (tuple, list)):
        return [operator.index(n) for n in value]
    return [operator.index(value)]


def _layout_value(key: str, value: Any) -> Any:
    if key == "dtype":
        return _dtype(value)
    if key == "shape":
        return _shape(value)
    if key == "offset":
        return operator.index(value)
    if key == "cf":
        if value not in (True, False, "auto"):
            raise ValueError("cf must be True, False or 'auto', got %r" % (value,))
        return value
    if not isinstance(value, str):
        raise TypeError("%s must be a string, got %r" % (key, value))
    return value


def _axis(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [operator.index(a) for a in value]
    return operator.index(value)


def _run_one(caller: str, path: Any, analysis: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """Runs `analysis` over the file at `path`; kwargs hold the layout and
    run options. Returns the analysis's result."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError("path must be a path, got %r" % (path,))
    dataset: dict[str, Any] = {"path": os.fspath(path)}
    options: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in LAYOUT_KEYS:
            if value is not None:
                dataset[key] = _layout_value(key, value)
        elif key in RUN_OPTIONS:
            options[key] = value
        else:
            raise TypeError("%s() got an unexpected keyword argument %r" % (caller, key))
    analysis = {k: v for k, v in analysis.items() if v is not None}
    doc = run({"dataset": dataset, "analyses": [analysis]}, **options)
    return doc["results"][analysis["op"]]


def stats(path: str | os.PathLike, axis: int | list[int] | None = None, ddof: int | None = None,
          *, prefix: str | None = None, **layout: Any) -> Any:
    """count, nan_count, sum, mean, var, std, min and max of the file's values
    (numpy's nan* functions on the data as float64; SPEC §3 "stats").

    axis: None (every value), an int or a list of ints (negative counts from
    the end); each field is then an array shaped like numpy's result. ddof:
    the variance's delta degrees of freedom (0). prefix: where results of
    more than 1,000,000 numbers go (PREFIX.FIELD.npy, loaded lazily).
    layout: dtype, shape, order, offset (raw files), name, cf (HDF5), format;
    and the run options of run() (workers, launch, timeout, ...).

    Integer data: sum, min and max are exact (Python ints as scalars; int64,
    uint64 or object arrays). Returns a dict of the fields.
    """
    axis = None if axis is None else _axis(axis)
    ddof = None if ddof is None else operator.index(ddof)
    return _run_one("stats", path, {"op": "stats", "axis": axis, "ddof": ddof, "output": prefix},
                    layout)


def histogram(path: str | os.PathLike, bins: int | None = None, range: Any = None,
              axis: int | None = None, *, prefix: str | None = None, **layout: Any) -> Any:
    """numpy.histogram of the file's non-NaN values (SPEC §3 "histogram").

    bins: the number of bins (10); range: (lo, hi) (default: the finite
    minimum and maximum of the data); axis: None (one histogram) or an int
    (one histogram per lane along that axis, counts[j] is lane j's).
    prefix, layout: as for stats().

    Returns a dict: counts, edges (as numpy.histogram gives them), below,
    above (values outside the range) and nan_count.
    """
    bins = None if bins is None else operator.index(bins)
    if range is not None:
        lo, hi = range  # ValueError unless a pair
        range = [float(lo), float(hi)]
    axis = None if axis is None else operator.index(axis)
    return _run_one("histogram", path, {"op": "histogram", "bins": bins, "range": range,
                                        "axis": axis, "output": prefix}, layout)


def quantiles(path: str | os.PathLike, q: Any, method: str | None = None,
              axis: int | None = None, *, prefix: str | None = None, **layout: Any) -> Any:
    """numpy.nanquantile(a, q, method=method, axis=axis), exact (SPEC §3
    "quantiles").

    q: a probability or a sequence of them, in [0, 1]; method: numpy's names
    ("linear" by default); axis: None or an int. prefix, layout: as for
    stats().

    Returns a dict whose "values" is shaped as numpy's result: q first (no q
    axis for a scalar q), then the kept axes.
    """
    if np.ndim(q) > 1:
        raise ValueError("q must be a number or a 1-D sequence, got %d dimensions" % np.ndim(q))
    qs: Any = float(q) if np.ndim(q) == 0 else [float(x) for x in np.asarray(q)]
    if method is not None and not isinstance(method, str):
        raise TypeError("method must be a string, got %r" % (method,))
    axis = None if axis is None else operator.index(axis)
    return _run_one("quantiles", path, {"op": "quantiles", "q": qs, "method": method,
                                        "axis": axis, "output": prefix}, layout)
