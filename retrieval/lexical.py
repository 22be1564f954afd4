"""Lexical query–product similarity: the fallback scorer's last tier, for when even MiniLM is late.

Under a burst that overloads the fallback scorer too (`TAOSR1_OVERLOAD=fallback`), a request
whose pairs the embedder cannot score before its deadline is scored here instead: no model, no
thread hop, tens of microseconds per pair (~73 µs with ESCI's long descriptions). The similarity
is how much of the query the product text covers — the share of the query's words the product
names (a plural `s` folded: `cases` meets `case`), blended with the share of the query's
character trigrams found in the product's squashed text (so `iphone13` still meets `iPhone 13`). It lies in [0, 1] and is calibrated to the four levels like
the cosine (retrieval.fallback: thresholds by macro-F1, a band-softmax temperature by NLL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from relevance.cross_encoder import product_text
from relevance.types import Product

#: weight of word coverage in the similarity; the rest is character-trigram coverage
WORD_WEIGHT = 0.7
_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> set[str]:
    """Lower-cased alphanumeric words, a trailing plural `s` dropped from words longer than three letters.

    >>> sorted(words("Silicone Cases for iPhone-13"))
    ['13', 'case', 'for', 'iphone', 'silicone']
    """
    return _folded(_WORD.findall(text.lower()))


def _folded(found: list[str]) -> set[str]:
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in found}


def trigrams(text: str) -> set[str]:
    """Character trigrams of the text with spaces and punctuation removed.

    >>> sorted(trigrams("USB-C"))
    ['sbc', 'usb']
    """
    squashed = "".join(_WORD.findall(text.lower()))
    return {squashed[i : i + 3] for i in range(len(squashed) - 2)}


def coverage(query: str, text: str) -> float:
    """How much of `query` the `text` covers, in [0, 1].

    >>> round(coverage("iphone 13 case", "Silicone Case for iPhone 13"), 2), coverage("iphone 13 case", "Garden hose")
    (0.94, 0.0)
    """
    return _coverage(words(query), trigrams(query), text)


def _coverage(q_words: set[str], q_grams: set[str], text: str) -> float:
    if not q_words:
        return 0.0
    found = _WORD.findall(text.lower())
    present = set(found)  # a query word (folded) counts when the text has it, or its plural
    word_share = sum(1 for w in q_words if w in present or (not w.endswith("s") and len(w) >= 3 and w + "s" in present)) / len(q_words)
    if not q_grams:
        return word_share
    squashed = "".join(found)  # a trigram's membership is a substring test: no trigram set of the (long) product text
    gram_share = sum(1 for g in q_grams if g in squashed) / len(q_grams)
    return WORD_WEIGHT * word_share + (1 - WORD_WEIGHT) * gram_share


def similarities(queries: Sequence[str], products: Sequence[Product]) -> np.ndarray:
    """The coverage of each (query, product text) pair, for pairs given as parallel lists (each distinct
    query tokenised once)."""
    parsed: dict[str, tuple[set[str], set[str]]] = {}
    out = np.empty(len(queries), dtype=np.float64)
    for i, (q, p) in enumerate(zip(queries, products, strict=True)):
        if q not in parsed:
            parsed[q] = (words(q), trigrams(q))
        out[i] = _coverage(*parsed[q], product_text(p))
    return out
