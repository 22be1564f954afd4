"""Lexical query–product similarity: the fallback scorer's last tier, for when even MiniLM is late.

Under a burst that overloads the fallback scorer too (`TAOSR1_OVERLOAD=fallback`), a request
whose pairs the embedder cannot score before its deadline is scored here instead: no model, no
thread hop, ~0.26 ms per pair with ESCI's long descriptions (0.065 ms without the keyword-stuffing
check, measured side by side on the 199 real listings, 2026-12-04). The similarity
is how much of the query the product text covers — the share of the query's words the product
names (plurals folded both ways: `cases` meets `case`, `dress` meets `dresses`), blended with the share of the query's
character trigrams found in the product's squashed text (so `iphone13` still meets `iPhone 13`). It lies in [0, 1] and is calibrated to the four levels like
the cosine (retrieval.fallback: thresholds by macro-F1, a band-softmax temperature by NLL).
Keyword stuffing (pasted search-term lists, phrases repeated back to back) is dropped from the
listing first (relevance.keyword_stuffing): on pasted queries the bare coverage raised 81 % of
stuffed non-Exact ESCI listings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from relevance.coverage import fold
from relevance.cross_encoder import DESCRIPTION_CHARS, product_text
from relevance.keyword_stuffing import drop_product_stuffing
from relevance.types import Product

#: weight of word coverage in the similarity; the rest is character-trigram coverage
WORD_WEIGHT = 0.7
_WORD = re.compile(r"[0-9a-z]+")


def words(text: str) -> set[str]:
    """Lower-cased alphanumeric words in a rough singular (relevance.coverage.fold: `cases` → `case`,
    `dresses` → `dress`).

    >>> sorted(words("Silicone Cases for iPhone-13 dresses"))
    ['13', 'case', 'dress', 'for', 'iphone', 'silicone']
    """
    return _folded(_WORD.findall(text.lower()))


def _folded(found: list[str]) -> set[str]:
    return {fold(w) for w in found}


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
    present = _folded(found)  # a query word counts when the text has it, singular or plural (both folded)
    word_share = sum(1 for w in q_words if w in present) / len(q_words)
    if not q_grams:
        return word_share
    squashed = "".join(found)  # a trigram's membership is a substring test: no trigram set of the (long) product text
    gram_share = sum(1 for g in q_grams if g in squashed) / len(q_grams)
    return WORD_WEIGHT * word_share + (1 - WORD_WEIGHT) * gram_share


def shown_text(product: Product) -> str:
    """The product text the fallback's tiers read: keyword stuffing dropped (relevance.keyword_stuffing), then
    `product_text`, which reads the description's first 600 characters; only twice that is searched for stuffing."""
    return product_text(drop_product_stuffing(product, description_chars=2 * DESCRIPTION_CHARS))


def similarities(queries: Sequence[str], products: Sequence[Product]) -> np.ndarray:
    """The coverage of each (query, product text) pair, for pairs given as parallel lists (each distinct
    query tokenised once)."""
    parsed: dict[str, tuple[set[str], set[str]]] = {}
    out = np.empty(len(queries), dtype=np.float64)
    for i, (q, p) in enumerate(zip(queries, products, strict=True)):
        if q not in parsed:
            parsed[q] = (words(q), trigrams(q))
        out[i] = _coverage(*parsed[q], shown_text(p))
    return out
