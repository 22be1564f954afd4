"""Fixed, seedless splits of a labelled file by query: `path#fold=K/N` names the K-th of N parts.

A pair's part is a hash of its normalised query, so every product of a query lands in the
same part (no query is both trained on and used for selection), the split never changes
when rows are added elsewhere, and train and eval agree without sharing any state.
"""

from __future__ import annotations

import hashlib
import re

from relevance.types import LabeledPair, normal_query

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
    return int.from_bytes(hashlib.sha256(normal_query(query).encode()).digest()[:8], "big") % n


def pair_key(pair: LabeledPair) -> str:
    """A short, stable identity of a (query, product) pair: its normalised query and product id.

    Eval files record it per pair, so runs on different folds can be pooled and checked for
    overlap with each other and with their training data (`training.pooled`).

    >>> from relevance.types import Product
    >>> a = LabeledPair("iPhone  13 case", Product("B01", "Case"), 4)
    >>> b = LabeledPair("iphone 13 case", Product("B01", "Another title"), 3)
    >>> pair_key(a) == pair_key(b), len(pair_key(a))
    (True, 16)
    """
    return hashlib.sha256(f"{normal_query(pair.query)}\x1f{pair.product.id}".encode()).hexdigest()[:16]


def query_key(query: str) -> str:
    """A short, stable identity of a query (its normalised form), as eval files record it per pair so a
    comparison can resample whole queries (`relevance.metrics.query_interval`) without storing the text.

    >>> query_key("iPhone  13 case") == query_key("iphone 13 case"), len(query_key("iphone 13 case"))
    (True, 16)
    """
    return hashlib.sha256(normal_query(query).encode()).hexdigest()[:16]


def select_fold(pairs: list[LabeledPair], fold: tuple[int, int] | None) -> list[LabeledPair]:
    """The pairs whose query falls in `fold` (all of them for None)."""
    if fold is None:
        return list(pairs)
    k, n = fold
    return [p for p in pairs if query_fold(p.query, n) == k]
