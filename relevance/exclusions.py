"""Query exclusions: the words a query rules out ("wall lamp without cord", "sugar free gummies"),
and whether a listing contains them, rules them out too, or says nothing of them.

A coverage line that counts query words alone reads "energy drink without caffeine" against a
"Caffeine Free" drink and against one whose ingredients list caffeine the same way: both name
`caffeine`. Shoppers write exclusions often enough (6 of the 100 ESCI dev queries; 2 of their
pairs are Irrelevant, near misses that name the excluded thing) that the line states them apart.

Query side: a negator opens an exclusion of the words after it, past an article ("without a
cable"): `without` and `not` (skipping a verb: "does not contain sulfates") up to
`MAX_EXCLUDED_WORDS` words; `no` (not before a number: "no 2 pencil"), `non` and `zero` one word
("non slip socks"). An exclusion stops at a function word or another negator. A postfix `free`
excludes the one word before it ("sulfate free", "gluten-free") unless that is a function word;
"free shipping" excludes nothing.

Listing side: the fields the coverage line reads (relevance.coverage.listing_fields: title, brand,
category, each attribute, the description's first characters), each on its own (a phrase never
runs from one field into the next). An excluded phrase is ruled out by the listing where it is found with a
negator or "free from/of" in the four words before it ("free from sugar and caffeine"), with
`free` right after it, or as one word ending in `less` ("cordless"); found anywhere else, the
listing has it. Having it wins: "Caffeine Free" in the features does not undo "caffeine" in the
ingredients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

#: words that open an exclusion of the words after them
NEGATORS = frozenset({"without", "no", "non", "zero", "not"})
#: verbs a `not` exclusion skips ("not contain sulfates", "does not have a cord")
_NOT_VERBS = frozenset({"contain", "contains", "containing", "have", "has", "having", "include", "includes", "including", "use", "uses", "using"})
#: words an exclusion skips right after its negator ("without a cord", "no added sugar")
_SKIPPED = frozenset({"a", "an", "the", "any", "added"})
#: the postfix negator ("sulfate free", "gluten-free")
FREE = "free"
#: listing words before an excluded phrase searched for a negator ("free from sugar and caffeine")
_BEFORE = 4
_FREE_FROM = frozenset({(FREE, "from"), (FREE, "of")})
#: excluded words per exclusion at most: a `without` or `not` clause often runs to the query's end
#: ("without blue light blocking"); `no`, `non` and `zero` prefix one word ("non slip socks", "zero sugar soda")
MAX_EXCLUDED_WORDS = 3
_ONE_WORD_NEGATORS = frozenset({"no", "non", "zero"})


class Stance(StrEnum):
    """What a listing says of an excluded phrase."""

    CONTAINS = "listing has it"
    RULES_OUT = "listing free of it"
    SILENT = "listing silent"


@dataclass(frozen=True)
class Exclusion:
    """One phrase the query rules out (folded words) and the listing's stance on it."""

    words: tuple[str, ...]
    stance: Stance = Stance.SILENT

    def text(self) -> str:
        return f"{' '.join(self.words)} ({self.stance.value})"


def excluded_spans(words: list[str], function_words: frozenset[str]) -> list[tuple[int, int, int]]:
    """(negator index, first excluded index, end) of each exclusion in the query's lower-case `words`.

    >>> excluded_spans("wall lamp without cord".split(), frozenset({"for"}))
    [(2, 3, 4)]
    >>> excluded_spans("sulfate free shampoo for kids".split(), frozenset({"for"}))
    [(1, 0, 1)]
    >>> excluded_spans("free shipping no 2 pencil".split(), frozenset())
    []
    """
    spans: list[tuple[int, int, int]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w == FREE and i > 0 and words[i - 1] not in function_words and words[i - 1] not in NEGATORS:
            if not spans or spans[-1][2] <= i - 1:
                spans.append((i, i - 1, i))
        elif w in NEGATORS and i + 1 < len(words) and not words[i + 1].isdigit():
            start = i + 1
            while start < len(words) and (words[start] in _SKIPPED or (w == "not" and words[start] in _NOT_VERBS)):
                start += 1
            end, most = start, 1 if w in _ONE_WORD_NEGATORS else MAX_EXCLUDED_WORDS
            while end < len(words) and end - start < most and words[end] not in function_words | NEGATORS:
                if words[end] == FREE:
                    break
                end += 1
            if end > start:
                spans.append((i, start, end))
                i = end
                continue
        i += 1
    return spans


def listing_stance(phrase: tuple[str, ...], fields: Iterable[list[str]]) -> Stance:
    """The listing's stance on an excluded `phrase` (folded words), from each field's folded words."""
    ruled_out = False
    n = len(phrase)
    for words in fields:
        for at in range(len(words) - n + 1):
            if tuple(words[at : at + n]) != phrase:
                continue
            before = words[max(0, at - _BEFORE) : at]
            after = words[at + n] if at + n < len(words) else ""
            if NEGATORS.intersection(before) or _FREE_FROM.intersection(zip(before, before[1:], strict=False)) or after == FREE:
                ruled_out = True
            else:
                return Stance.CONTAINS
        if n == 1 and f"{phrase[0]}less" in words:
            ruled_out = True
    return Stance.RULES_OUT if ruled_out else Stance.SILENT
