"""Query coverage: which of the query's words a listing names, and in which of its fields.

On real ESCI pairs a rule that reads nothing but query coverage beat every learned judge on
the Substitute level (model card: a listing that misses a query word is usually a substitute).
A 135M model sees the words but does not learn the coverage from a few dozen real pairs, so a
prompt can state it: one computed line, outside the seller's block, listing the query words the
listing names in its title, brand, category or attributes, those it names only in its
description, and those it never names. An attribute names a word only when its value reads as a
property: a list of short items ("Navy", "iPhone 13, iPhone 13 Pro", "3 years and up") with no
article, pronoun or purpose word. A value that reads as a sentence or a claim ("Perfect for
iphone 13 case", "Great with your new phone") is free text a seller can write anything into, and
counts as the description does. Words are lower-cased alphanumeric runs in a rough
singular (`cases` meets `case`, `accessories` meets `accessory`, `dresses` meets `dress`); a query word also counts when the listing writes it
split into consecutive words (`iphone13` meets `iPhone 13`), and a listing word counts as its
letter and digit runs too (`iPhone13` names `iphone` and `13`), never inside a longer word
(`stand` does not meet `Standing`). Function words (`for`, `with`, `the`, ...) are left out:
their absence says nothing about the product. (The fallback's lexical tier, retrieval.lexical,
scores a similar coverage as a number; its calibration is its own.)

With `negation` (a model trained so records `coverage_negation` in its manifest) the words a query
rules out ("wall lamp without cord", "sulfate free shampoo"; relevance.exclusions) leave the three
lists, as do their negators, and a fourth clause states whether the listing has each, is free of
it, or is silent. A query with no exclusion gets the same line either way.

With `naming_only` (manifest `coverage_naming_only`) the line has two lists: the query words the
title, brand, category and property attributes name, and those they do not. A word the listing
only mentions counts as not named, so pasting the query into a description or a claim leaves the
line as it was.

With `measures` (manifest `coverage_measures`) query and listing read decimals and dimensions whole
(relevance.measures): "usb 2.0" is one number that "USB 3.0 ... 2.5 inch" does not name, and
"16 x 16" one size that "12x16" does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relevance.exclusions import Exclusion, excluded_spans, listing_stance
from relevance.measures import MEASURE_RUN, listing_measure_words, measure_words
from relevance.types import Product

WORD = re.compile(r"[0-9a-z]+")
_RUN = re.compile(r"[0-9]+|[a-z]+")
#: query words that carry no product meaning (`without` and `no` do, and stay)
FUNCTION_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"})
#: description characters read for coverage (as the cross-encoder's product text)
DESCRIPTION_CHARS = 600
#: words in an item of a property value at most ("Galaxy S21 Ultra 5G", "natural caffeine from green coffee")
PROPERTY_ITEM_WORDS = 6
#: words that make an attribute value read as a sentence or a claim, not a property (`with` and `to`
#: stay out: "Black with Red Trim", "Ages 3 to 5")
PROSE_WORDS = frozenset({"a", "an", "the", "for", "your", "you", "our", "my", "this", "it", "is", "are"})
_ITEM_SEPARATORS = re.compile(r"[,;/|\n]+")
#: query words stated at most (the prompt's query budget is 48 tokens)
MAX_QUERY_WORDS = 16


#: plural endings that take `-es` (`dresses`, `boxes`, `watches`, `brushes`)
_ES_PLURAL = ("sses", "xes", "ches", "shes", "zzes")


def fold(word: str) -> str:
    """A word in its singular form, roughly: `-ies` → `-y`, `-sses`/`-xes`/`-ches`/`-shes` lose `-es`, else a
    trailing plural `s` dropped (words longer than three letters, not `-ss`).

    >>> [fold(w) for w in ("accessories", "cases", "glass", "tvs", "dresses", "boxes", "watches")]
    ['accessory', 'case', 'glass', 'tvs', 'dress', 'box', 'watch']
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(_ES_PLURAL):
        return word[:-2]
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def query_words(query: str, negation: bool = False, measures: bool = False) -> list[str]:
    """The query's distinct folded words in the order the query gives them, function words left out
    (with `negation`, also the exclusions' negators and excluded words; with `measures`, decimals and
    dimensions whole).

    >>> query_words("Cases case for iPhone 13")
    ['case', 'iphone', '13']
    >>> query_words("wall lamp without a cord", negation=True)
    ['wall', 'lamp']
    >>> query_words("usb 2.0 16 x 16 frames"), query_words("usb 2.0 16 x 16 frames", measures=True)
    (['usb', '2', '0', '16', 'x', 'frame'], ['usb', '2.0', '16x16', 'frame'])
    """
    words = measure_words(query) if measures else WORD.findall(query.lower())
    if negation:
        dropped = {i for neg, start, end in excluded_spans(words, FUNCTION_WORDS) for i in (neg, *range(start, end))}
        words = [w for i, w in enumerate(words) if i not in dropped]
    return list(dict.fromkeys(fold(w) for w in words if w not in FUNCTION_WORDS))[:MAX_QUERY_WORDS]


def query_exclusions(query: str) -> list[tuple[str, ...]]:
    """The phrases `query` rules out, as folded words (relevance.exclusions).

    >>> query_exclusions("1.75 reading glasses without blue light blocking"), query_exclusions("Sugar-Free gummies")
    ([('blue', 'light', 'blocking')], [('sugar',)])
    """
    words = WORD.findall(query.lower())
    return list(dict.fromkeys(tuple(fold(w) for w in words[s:e]) for _, s, e in excluded_spans(words, FUNCTION_WORDS)))


class _Text:
    """One listing part, ready for membership tests of folded query words."""

    def __init__(self, text: str, measures: bool = False):
        if measures:
            found, pairs = listing_measure_words(text)
            runs = {r for w in found for r in MEASURE_RUN.findall(w)} | pairs
        else:
            found = WORD.findall(text.lower())
            runs = {r for w in found for r in _RUN.findall(w)}
        self.tokens = set(found) | {fold(w) for w in found} | runs | {fold(r) for r in runs}
        self.squashed = "".join(found)
        ends = [0]
        for w in found:
            ends.append(ends[-1] + len(w))
        self.boundaries = set(ends)  # where a word starts or ends in the squashed text

    def names(self, word: str) -> bool:
        return word in self.tokens or word + "s" in self.tokens or self._joined(word)

    def _joined(self, word: str) -> bool:
        """`word` spelled by consecutive whole words of the text."""
        at = self.squashed.find(word)
        while at >= 0:
            if at in self.boundaries and at + len(word) in self.boundaries:
                return True
            at = self.squashed.find(word, at + 1)
        return False


@dataclass(frozen=True)
class Coverage:
    """The query's words split by where the listing names them."""

    named: tuple[str, ...]
    description_only: tuple[str, ...]
    missing: tuple[str, ...]
    #: the phrases the query rules out and the listing's stance on each (computed with `negation` only)
    excluded: tuple[Exclusion, ...] = ()
    #: computed with `naming_only`: the description's words counted as not named (the line says so)
    naming_only: bool = False

    def line(self) -> str:
        """The prompt line.

        >>> Coverage(("iphone",), (), ("13", "case")).line()
        'Query words the listing names: iphone; only in its description: none; not at all: 13, case'
        >>> from relevance.exclusions import Stance
        >>> Coverage(("lamp",), (), (), (Exclusion(("cord",), Stance.CONTAINS),)).line()
        'Query words the listing names: lamp; only in its description: none; not at all: none; excluded by the query: cord (listing has it)'
        """
        def listed(ws: tuple[str, ...]) -> str:
            return ", ".join(ws) if ws else "none"

        excluded = f"; excluded by the query: {', '.join(e.text() for e in self.excluded)}" if self.excluded else ""
        if self.naming_only:
            return f"Query words the listing's title, brand and properties name: {listed(self.named)}; do not name: {listed(self.missing)}{excluded}"
        return (
            f"Query words the listing names: {listed(self.named)}; only in its description: "
            f"{listed(self.description_only)}; not at all: {listed(self.missing)}{excluded}"
        )


def is_property_value(value: str) -> bool:
    """True when an attribute value reads as a property: items of at most `PROPERTY_ITEM_WORDS`
    words, none holding a word of `PROSE_WORDS`.

    >>> [is_property_value(v) for v in ("Navy Floral", "iPhone 12, iPhone 13 Pro", "Perfect for iphone 13 case")]
    [True, True, False]
    """
    for item in _ITEM_SEPARATORS.split(value.lower()):
        words = WORD.findall(item)
        if len(words) > PROPERTY_ITEM_WORDS or PROSE_WORDS.intersection(words):
            return False
    return True


def naming_and_mentioning_text(product: Product) -> tuple[str, str]:
    """The text that *names* a product — title, brand, category and the property attributes (keys
    and values) — and the text that only *mentions* words: the description (its first
    `DESCRIPTION_CHARS` characters) and the free-text attributes (values that read as sentences or
    claims, each cut to the same length). Each attribute is read once."""
    naming = [product.title, product.brand or "", product.category or ""]
    mentioning = [(product.description or "")[:DESCRIPTION_CHARS]]
    for key, value in product.attributes.items():
        if is_property_value(value):
            naming.append(f"{key} {value}")
        else:
            mentioning.append(f"{key} {value}"[:DESCRIPTION_CHARS])
    return " ".join(naming), " ".join(mentioning)


def listing_fields(product: Product) -> list[str]:
    """Each part of the listing the coverage reads, on its own: title, brand, category, each attribute
    (key and value) and the description's first `DESCRIPTION_CHARS` characters."""
    attributes = [f"{key} {value}"[:DESCRIPTION_CHARS] for key, value in product.attributes.items()]
    return [product.title, product.brand or "", product.category or "", *attributes, (product.description or "")[:DESCRIPTION_CHARS]]


def _exclusions(query: str, product: Product) -> tuple[Exclusion, ...]:
    fields = [[fold(w) for w in WORD.findall(text.lower())] for text in listing_fields(product)]
    return tuple(Exclusion(phrase, listing_stance(phrase, fields)) for phrase in query_exclusions(query))


def query_coverage(
    query: str, product: Product, negation: bool = False, naming_only: bool = False, measures: bool = False
) -> Coverage:
    """Where `product` names each word of `query` (with `negation`, the query's exclusions apart; with
    `naming_only`, a word the listing only mentions — in its description or a claim — counts as missing:
    that text is where a seller pastes the searches it wants to match, while on the real ESCI pairs the
    repository ships it adds 0.13–0.17 query words per pair to the fields' count, at every level alike;
    with `measures`, decimals and dimensions are read whole on both sides).

    >>> c = query_coverage("iphone13 silicone case", Product(id="1", title="Case for iPhone 13", description="Soft silicone."))
    >>> c.named, c.description_only, c.missing
    (('iphone13', 'case'), ('silicone',), ())
    >>> query_coverage("iphone 13 case", Product(id="2", title="Galaxy S21 case", attributes={"note": "Perfect for iphone 13"})).missing
    ()
    >>> query_coverage("iphone 13 case", Product(id="2", title="Galaxy S21 case", attributes={"note": "Perfect for iphone 13"})).description_only
    ('iphone', '13')
    >>> query_coverage("energy drink without caffeine", Product(id="3", title="Energy Drink", attributes={"feature": "Caffeine Free"}), negation=True).line()
    'Query words the listing names: energy, drink; only in its description: none; not at all: none; excluded by the query: caffeine (listing free of it)'
    >>> query_coverage("iphone13 silicone case", Product(id="1", title="Case for iPhone 13", description="Soft silicone."), naming_only=True).line()
    "Query words the listing's title, brand and properties name: iphone13, case; do not name: silicone"
    >>> dock = Product(id="4", title="Docking Station, USB 3.0 to SATA for 2.5 & 3.5 inch drives")
    >>> query_coverage("docking station usb 2.0", dock).missing, query_coverage("docking station usb 2.0", dock, measures=True).missing
    ((), ('2.0',))
    """
    naming, mentioning = naming_and_mentioning_text(product)
    fields = _Text(naming, measures)
    words = query_words(query, negation, measures)
    excluded = _exclusions(query, product) if negation else ()
    if naming_only:
        named = tuple(w for w in words if fields.names(w))
        return Coverage(named, (), tuple(w for w in words if w not in named), excluded, naming_only=True)
    description = _Text(mentioning, measures)
    named, described, missing = [], [], []
    for w in words:
        (named if fields.names(w) else described if description.names(w) else missing).append(w)
    return Coverage(tuple(named), tuple(described), tuple(missing), excluded)
