"""The one exception type of the mmrun package."""

from __future__ import annotations


class MmrunError(Exception):
    """mmrun failed, or could not be run.

    Attributes:
      exit_code  mmrun's exit status (SPEC §5: 64 bad command line, 65 bad
                 data, 66 missing input, 70 worker failed, 73 cannot create an
                 output, 74 I/O error, 75 locked, 77 permission denied, 78 bad
                 config, 128 + n killed by signal n); 127 when the binary was
                 not found.
      message    the error line without its "mmrun: error: " prefix.
      stderr     everything mmrun wrote on stderr ("" when it did not run).
    """

    def __init__(self, exit_code: int, message: str, stderr: str = ""):
        super().__init__(exit_code, message, stderr)
        self.exit_code = exit_code
        self.message = message
        self.stderr = stderr

    def __str__(self) -> str:
        return "%s (exit %d)" % (self.message, self.exit_code)
