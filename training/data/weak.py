"""Weakly labelled pairs built from real listings' own text, for training on real-looking data.

The repo ships 199 human-labelled real pairs; models trained mostly on the synthetic catalogue
read real titles poorly (they call real Irrelevant listings Exact). Real *listings* are cheap
to reuse, though, and two rules label new pairs of them with high precision and without a
human:

- ``title_query`` → 4 Excellent: a query cut from a listing's own title (its leading content
  words, no bracketed parts, sizes or packaging counts) names the very product it came from.
- ``foreign_query`` → 1 Irrelevant: a real query paired with a listing that was gathered for
  a different query and shares no content word (nor a word stem) with it.

Nothing here reads a pair's gold level: only its query and its listing, so weak pairs can be
drawn from any labelled file whose listings are in the training split (never from the
selection or evaluation folds). Ambiguous constructions (a title query against a sibling
listing of the same query, a brand swapped in) are not made: their ESCI label could be Exact
or Substitute.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from relevance.types import LabeledPair

SOURCE = "weak"
TITLE_QUERY = "weak:title_query"
FOREIGN_QUERY = "weak:foreign_query"

_STOP = frozenset(
    "a an and or the of for with without to in on at by from as is it its this that your you our "
    "new pack set pcs piece pieces count lot x".split()
)
_BRACKETS = re.compile(r"[\(\[\{][^\)\]\}]*[\)\]\}]")
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def content_words(text: str) -> list[str]:
    """Lower-cased words of `text` that carry meaning: no stop words, at least one letter, 2+ chars.

    >>> content_words("YATHON Vintage Party Dresses for Women (L, Navy) 2 Pack")
    ['yathon', 'vintage', 'party', 'dresses', 'women', 'l', 'navy']
    """
    words = _WORD.findall(text.lower())
    return [w.strip("'-") for w in words if w not in _STOP and any(c.isalpha() for c in w) and w.strip("'-")]


def _stem(word: str) -> str:
    """A crude stem so 'chargers'/'charger' and 'cases'/'case' count as shared words."""
    for suffix in ("ies", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def shares_a_word(query: str, title: str) -> bool:
    """True when query and title have a content word (or its stem) in common.

    >>> shares_a_word("iphone chargers", "Anker USB C Charger for iPhone 13"), shares_a_word("knee length dress", "USB C Charger")
    (True, False)
    """
    q = {_stem(w) for w in content_words(query) if len(w) > 1}
    t = {_stem(w) for w in content_words(title) if len(w) > 1}
    return bool(q & t)


def title_query(title: str, rng: random.Random, brand: str | None = None, min_words: int = 2, max_words: int = 5) -> str | None:
    """A shopper-style query cut from a title: 2–5 leading content words, half the time without the brand.

    Bracketed parts and words with digits (sizes, counts, years) are dropped. None when fewer
    than `min_words` words are left.

    >>> title_query("YATHON Vintage Party Dresses for Women (L, Navy) 2Pcs", random.Random(0), brand="Yathon") in {
    ...     "vintage party", "vintage party dresses", "vintage party dresses women", "yathon vintage party",
    ...     "yathon vintage party dresses", "yathon vintage party dresses women"}
    True
    >>> title_query("(Renewed) 2021", random.Random(0)) is None
    True
    """
    words = [w for w in content_words(_BRACKETS.sub(" ", title)) if len(w) > 1 and not any(c.isdigit() for c in w)]
    brand_words = content_words(brand or "")
    lead = words[: len(brand_words)] if brand_words and words[: len(brand_words)] == brand_words else []
    body = words[len(lead) :]
    if len(body) < min_words:
        return None
    n = rng.randint(min_words, min(max_words, len(body)))
    keep_brand = bool(lead) and rng.random() < 0.5
    return " ".join((lead if keep_brand else []) + body[:n])


def weak_pairs(pairs: Sequence[LabeledPair], seed: int, per_listing: int = 1) -> list[LabeledPair]:
    """Weakly labelled pairs from the listings (and real queries) of `pairs`; their gold levels are not read.

    For each distinct listing (by product id): `per_listing` title queries → 4, and `per_listing`
    real queries of other query groups that share no word with its title → 1. Deterministic for
    a seed.
    """
    rng = random.Random(seed)
    listings: dict[str, LabeledPair] = {}
    own_queries: dict[str, set[str]] = {}  # every query a listing was gathered for
    for pair in pairs:
        listings.setdefault(pair.product.id, pair)
        own_queries.setdefault(pair.product.id, set()).add(pair.query)
    queries = sorted({p.query for p in pairs})
    out: list[LabeledPair] = []
    for product_id in sorted(listings):
        product = listings[product_id].product
        made: set[str] = set()
        for _ in range(per_listing * 3):  # a few tries: short titles yield few distinct cuts
            q = title_query(product.title, rng, brand=product.brand)
            if q and q not in made:
                made.add(q)
                out.append(LabeledPair(q, product, 4, source=SOURCE, tags=(TITLE_QUERY,)))
            if len(made) >= per_listing:
                break
        foreign = [q for q in queries if q not in own_queries[product_id] and not shares_a_word(q, product.title)]
        for q in rng.sample(foreign, min(per_listing, len(foreign))):
            out.append(LabeledPair(q, product, 1, source=SOURCE, tags=(FOREIGN_QUERY,)))
    return out

