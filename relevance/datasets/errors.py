"""The one error type the data loaders raise for a bad file, row or field.

It only formats the location (file, line, field) and the reason; it knows no file format.
"""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """A data file that cannot be read as the format it claims to be.

    The message names the file, the line (1-based, the first line of the record) and the
    field when they are known, then what was wrong and what was expected.
    """

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field
        self.reason = reason
        where = self.path
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {reason}")
