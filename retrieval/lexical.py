"""Lexical query–product similarity: the fallback scorer's last tier, for when even MiniLM is late.

Under a burst that overloads the fallback scorer too (`TAOSR1_OVERLOAD=fallback`), a request
whose pairs the embedder cannot score before its deadline is scored here instead: no model, no
thread hop, about a microsecond per pair. The similarity is how much of the query the product
text covers — the share of the query's words found among the product's words (a trailing plural
`s` dropped on both sides), blended with the share of the query's character trigrams (so
`iphone13` still meets `iPhone 13`). It lies in [0, 1] and is calibrated to the four levels like
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
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in _WORD.findall(text.lower())}


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
    q_words, q_grams = words(query), trigrams(query)
    if not q_words:
        return 0.0
    word_share = len(q_words & words(text)) / len(q_words)
    gram_share = len(q_grams & trigrams(text)) / len(q_grams) if q_grams else word_share
    return WORD_WEIGHT * word_share + (1 - WORD_WEIGHT) * gram_share


def similarities(queries: Sequence[str], products: Sequence[Product]) -> np.ndarray:
    """The coverage of each (query, product text) pair, for pairs given as parallel lists."""
    return np.array([coverage(q, product_text(p)) for q, p in zip(queries, products, strict=True)], dtype=np.float64)
