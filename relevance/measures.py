"""Measures read whole: a decimal is one word, a dimension one word of its sorted numbers.

A search for "usb 2.0" or "16 x 16 frames" asks for one value. Split into digit runs ("2", "0";
"16", "x", "16") it is named by any listing that carries those digits somewhere ("USB 3.0 ...
2.5 inch", "2x16TB", "12x16"), so a coverage line built on runs calls such a substitute a match.
Read whole, a decimal is one word with its trailing zeros dropped down to one digit ("2.00" →
"2.0", "1.750" → "1.75"), named only by the same decimal; a listing's whole-valued decimal also
names its integer ("USB 3.0" names "usb 3", while a "2" in "2 Pack" does not name "2.0"). A
dimension — numbers joined by `x`, `by`, `*` or `×`, each with an optional unit — is one word of
its numbers in ascending order, units dropped ("16 x 16", "16x16" and `16" x 16"` → "16x16";
"8x4 feet" and "4 Ft. X 8 Ft." → "4x8"). A three-way dimension in a listing also names each pair
of its numbers ("4 Ft. X 8 Ft. X 10.5 In." names "4x8"), as a listing of a box states its footprint.
"""

from __future__ import annotations

import re
from itertools import combinations

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_UNIT = r"(?:\s*(?:feet|foot|ft|inches|inch|in|cm|mm|m|\"|'|”|″)\.?)?"
_BY = r"\s*(?:x|by|\*|×)\s*"
#: two or three numbers joined by `x`/`by`/`*`/`×`, each with an optional unit, not inside a longer word
DIMENSION = re.compile(rf"(?<![0-9a-z.])({_NUMBER}){_UNIT}{_BY}({_NUMBER}){_UNIT}(?:{_BY}({_NUMBER}){_UNIT})?(?![0-9a-z])")
#: a word: a decimal whole ("2.5", "v2.0") or a lower-case alphanumeric run
MEASURE_WORD = re.compile(r"[0-9a-z]*[0-9](?:\.[0-9]+)+|[0-9a-z]+")
#: a word's parts: numbers (decimals whole) and letter runs
MEASURE_RUN = re.compile(r"[0-9]+(?:\.[0-9]+)?|[a-z]+")
_DECIMAL = re.compile(r"([0-9]+)\.([0-9]+)")


def number(text: str) -> str:
    """A decimal written with its trailing zeros dropped down to one digit (an integer as it is).

    >>> [number(n) for n in ("2.0", "2.00", "1.750", "10.5", "16")]
    ['2.0', '2.0', '1.75', '10.5', '16']
    """
    whole, dot, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0') or '0'}" if dot else whole


def size(text: str) -> str:
    """A number of a dimension: its value with no trailing decimal zeros ("16.0" is 16).

    >>> [size(n) for n in ("16.0", "10.50", "16")]
    ['16', '10.5', '16']
    """
    return number(text).removesuffix(".0")


def dimension_word(numbers: list[str]) -> str:
    """The word of a dimension: its numbers in ascending order, joined by `x`.

    >>> dimension_word(["8", "4"]), dimension_word(["16.0", "16"]), dimension_word(["4", "8", "10.5"])
    ('4x8', '16x16', '4x8x10.5')
    """
    return "x".join(sorted((size(n) for n in numbers), key=float))


def _dimensions(text: str) -> tuple[str, list[list[str]]]:
    """`text` with each dimension written as its word, and each dimension's numbers."""
    found: list[list[str]] = []

    def whole(match: re.Match[str]) -> str:
        numbers = [n for n in match.groups() if n]
        found.append(numbers)
        return f" {dimension_word(numbers)} "

    return DIMENSION.sub(whole, text), found


def measure_words(text: str) -> list[str]:
    """The lower-case words of `text` with measures read whole (a dimension's units go with it).

    >>> measure_words("SSD docking station USB 2.00")
    ['ssd', 'docking', 'station', 'usb', '2.0']
    >>> measure_words('16" x 16" frames'), measure_words("raised bed 8x4 feet")
    (['16x16', 'frames'], ['raised', 'bed', '4x8'])
    """
    rewritten, _ = _dimensions(text.lower())
    return _words(rewritten)


def _words(rewritten: str) -> list[str]:
    """The words of text whose dimensions are already written as words, decimals normalised."""
    return [_DECIMAL.sub(lambda m: number(m.group(0)), w) for w in MEASURE_WORD.findall(rewritten)]


def listing_measure_words(text: str) -> tuple[list[str], set[str]]:
    """The words of a listing's text with measures read whole, and the further words it names: each
    pair of a three-way dimension's numbers, the integer of a whole-valued decimal.

    >>> words, more = listing_measure_words("Greenes 4 Ft. X 8 Ft. X 10.5 In. Cedar Bed, USB 3.0")
    >>> words, sorted(more)
    (['greenes', '4x8x10.5', 'cedar', 'bed', 'usb', '3.0'], ['3', '4x10.5', '4x8', '8x10.5'])
    """
    rewritten, dimensions = _dimensions(text.lower())
    words = _words(rewritten)
    pairs = {dimension_word(list(p)) for numbers in dimensions if len(numbers) == 3 for p in combinations(numbers, 2)}
    integers = {m[1] for w in words for m in _DECIMAL.finditer(w) if number(m[0]).endswith(".0")}
    return words, pairs | integers
