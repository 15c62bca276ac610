"""mmrun from Python: run mmrun's analyses, get numpy arrays back.

A thin layer over the mmrun and mmworker binaries (stdlib and numpy only):

- run(config_or_path, workers=None, launch=None, **options): one run of a
  config (a dict, or a config file's path); returns the result document
  (SPEC §4) with its numbers decoded as numpy values.
- stats(path, ...), histogram(path, ...), quantiles(path, ...): one analysis
  of one file, as the quick commands of SPEC §8; return that analysis's
  result.
- MmrunError: every failure of mmrun (exit_code, message, stderr).
- NpyResult: a result whose fields are PREFIX.FIELD.npy files, each loaded
  (memory-mapped) on first access.

How values are decoded, where the binaries are looked for, and what Ctrl-C
does: docs/PYTHON.md. For example:

>>> import os, tempfile
>>> import numpy as np
>>> import mmrun
>>> folder = tempfile.mkdtemp()
>>> path = os.path.join(folder, "signal.f4")
>>> np.arange(12, dtype=np.float32).tofile(path)
>>> mmrun.stats(path, dtype="float32", shape=(-1, 4), axis=0)["mean"]
array([4., 5., 6., 7.])
>>> try:
...     mmrun.stats(os.path.join(folder, "missing.f4"), dtype="float32")
... except mmrun.MmrunError as e:
...     print(e.exit_code, e.message)  # doctest: +ELLIPSIS
66 .../missing.f4: No such file or directory
>>> import shutil; shutil.rmtree(folder)
"""

from ._decode import NpyResult, decode_document
from ._errors import MmrunError
from ._locate import find_mmrun
from ._quick import histogram, quantiles, stats
from ._run import RUN_OPTIONS, run

__all__ = ["run", "stats", "histogram", "quantiles", "MmrunError", "NpyResult",
           "decode_document", "find_mmrun", "RUN_OPTIONS"]
