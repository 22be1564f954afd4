"""One entry point for labelled pairs on disk: ESCI CSV, WANDS folder, or JSONL.

``load_pairs`` picks the reader from the ``format`` argument or, when it is None, from the
path (folder → WANDS, .jsonl/.json → JSONL, .csv/.tsv → by header). The readers themselves
live in esci.py, wands.py and jsonl.py and are re-exported here. Nothing here samples,
balances or splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from relevance.datasets.csvrows import read_header
from relevance.datasets.errors import DataFormatError
from relevance.datasets.esci import is_esci_header, load_esci
from relevance.datasets.jsonl import load_jsonl, save_jsonl
from relevance.datasets.wands import FILES as WANDS_FILES
from relevance.datasets.wands import load_wands
from relevance.types import LabeledPair

Format = Literal["esci", "wands", "jsonl"]
FORMATS: tuple[str, ...] = ("esci", "wands", "jsonl")

__all__ = [
    "FORMATS",
    "DataFormatError",
    "Format",
    "detect_format",
    "load_esci",
    "load_jsonl",
    "load_pairs",
    "load_wands",
    "save_jsonl",
]


def detect_format(path: str | Path) -> Format:
    """Guess the format of ``path``: a folder (or one of its three tables) is WANDS, .jsonl /
    .json / .ndjson is JSONL, a .csv whose header has esci_label is ESCI, a tab-separated
    header with query_id + product_id is a WANDS table."""
    p = Path(path)
    if p.is_dir():
        return "wands"
    if not p.is_file():
        raise DataFormatError(p, "no such file or folder")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    header = read_header(p)
    if is_esci_header(header):
        return "esci"
    tab_header = read_header(p, delimiter="\t")
    if p.name in WANDS_FILES and ("query_id" in tab_header or "product_id" in tab_header):
        return "wands"
    shown = ", ".join(header[:8]) or "empty"
    if "esci_label" in header:
        reason = (
            "looks like ESCI (it has esci_label) but has no product_title column (official ESCI) and no "
            f"product_text column (simplified ESCI): add one (header: {shown})"
        )
    else:
        reason = (
            "cannot tell the format: expected a WANDS folder, a .jsonl file, or a CSV with esci_label and "
            f"product_title (or product_text) columns (header: {shown}); or name it with --format esci|wands|jsonl "
            "(format= in Python)"
        )
    raise DataFormatError(p, reason, line=1)


def load_pairs(path: str | Path, format: Format | None = None) -> list[LabeledPair]:
    """Load labelled pairs from ``path`` in ``format`` ("esci", "wands", "jsonl"), or detect it.

    For WANDS, ``path`` is the folder (a path to one of its three tables means its folder).
    """
    fmt = format or detect_format(path)
    p = Path(path)
    if fmt == "esci":
        return load_esci(p)
    if fmt == "wands":
        return load_wands(p if p.is_dir() else p.parent)
    if fmt == "jsonl":
        return load_jsonl(p)
    raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)} or None")
