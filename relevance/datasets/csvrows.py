"""Reading delimited text files row by row with the line number each record starts on.

It knows CSV/TSV mechanics (encoding, header, multi-line quoted fields) and nothing about
which columns a dataset has.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from relevance.datasets.errors import DataFormatError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # product descriptions can be long


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """The header row of a delimited file, stripped of a UTF-8 BOM and spaces."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        row = next(csv.reader(fh, delimiter=delimiter), None)
    if row is None:
        raise DataFormatError(path, "empty file: expected a header row", line=1)
    return [name.strip() for name in row]


def iter_rows(path: Path, required: tuple[str, ...], delimiter: str = ",") -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line, row)`` for each record; ``line`` is where the record starts (1-based).

    Fails with a DataFormatError naming the missing column when the header lacks one of
    ``required``, and naming the line when a record has more fields than the header.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise DataFormatError(path, "empty file: expected a header row", line=1) from None
        missing = [name for name in required if name not in header]
        if missing:
            raise DataFormatError(
                path,
                f"missing column(s) {', '.join(missing)}; header has: {', '.join(header)}",
                line=1,
                field=missing[0],
            )
        start = reader.line_num + 1
        try:
            for values in reader:
                if not values or all(not v.strip() for v in values):
                    start = reader.line_num + 1
                    continue
                if len(values) > len(header):
                    raise DataFormatError(
                        path,
                        f"{len(values)} fields but the header has {len(header)}"
                        + (" (is this file tab-separated?)" if delimiter == "," else ""),
                        line=start,
                    )
                row = dict(zip(header, values, strict=False))
                for name in header[len(values) :]:
                    row[name] = ""
                yield start, row
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataFormatError(path, f"unreadable CSV: {exc}", line=start) from exc
