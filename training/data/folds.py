"""Fixed, seedless splits of a labelled file by query: `path#fold=K/N` names the K-th of N parts.

A pair's part is a hash of its normalised query, so every product of a query lands in the
same part (no query is both trained on and used for selection), the split never changes
when rows are added elsewhere, and train and eval agree without sharing any state.
"""

from __future__ import annotations

import hashlib
import re

from relevance.types import LabeledPair

_SPEC = re.compile(r"^(?P<path>.+)#fold=(?P<k>\d+)/(?P<n>\d+)$")


def parse_source(source: str) -> tuple[str, tuple[int, int] | None]:
    """(path, (k, n)) for `path#fold=k/n`, else (source, None).

    >>> parse_source("a.csv#fold=1/2"), parse_source("b.csv")
    (('a.csv', (1, 2)), ('b.csv', None))
    """
    m = _SPEC.match(source)
    if not m:
        return source, None
    k, n = int(m["k"]), int(m["n"])
    if not 0 <= k < n:
        raise ValueError(f"{source!r}: fold k/n needs 0 <= k < n")
    return m["path"], (k, n)


def query_fold(query: str, n: int) -> int:
    """The part (0…n-1) a query falls in.

    >>> query_fold("iphone charger", 2) == query_fold("  iPhone   Charger ", 2)
    True
    """
    key = " ".join(query.lower().split()).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % n


def select_fold(pairs: list[LabeledPair], fold: tuple[int, int] | None) -> list[LabeledPair]:
    """The pairs whose query falls in `fold` (all of them for None)."""
    if fold is None:
        return list(pairs)
    k, n = fold
    return [p for p in pairs if query_fold(p.query, n) == k]
