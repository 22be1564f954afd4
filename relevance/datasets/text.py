"""Cleaning of marketplace text: HTML to plain text, whitespace, simplified ESCI product_text.

Pure string functions; they know nothing about files, labels or the synthetic catalogue.
"""

from __future__ import annotations

import html
import re

_BREAK_TAGS = re.compile(r"<\s*(br|/p|p|/li|li|/div|div|/h\d|h\d|tr|/tr)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_NEWLINES = re.compile(r"\s*\n\s*")


def strip_html(text: str) -> str:
    """Plain text of an HTML fragment: block tags become line breaks, entities are decoded.

    >>> strip_html("<b>Soft</b> &amp; warm<br>Machine wash <i>cold</i><br/><br>")
    'Soft & warm\\nMachine wash cold'
    """
    text = _BREAK_TAGS.sub("\n", text)
    text = _TAG.sub("", text)
    return normalize_space(html.unescape(text))


def normalize_space(text: str) -> str:
    """Collapse runs of spaces, keep single line breaks, trim.

    >>> normalize_space("  a   b \\n\\n  c ")
    'a b\\nc'
    """
    text = _SPACES.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _NEWLINES.sub("\n", text).strip()


def none_if_blank(text: str | None) -> str | None:
    """None for a missing or whitespace-only value, else the value trimmed."""
    if text is None:
        return None
    text = text.strip()
    return text or None


_MAX_TITLE = 200  # ESCI titles rarely run past 200 characters
_WORD = re.compile(r"[^\W_][\w'&.+-]*", re.UNICODE)
# Words that open many titles without being a brand.
_NOT_BRANDS = frozenset(
    "the a an new for with and of in on to by from my our your this best premium original "
    "genuine upgraded updated mfi certified led usb ultra super mini pro max plus smart "
    "wireless portable fast solar power phone cell battery charger cable lightning touch".split()
)


def _brand_candidates(text: str, query_words: set[str]) -> list[re.Match[str]]:
    """Words that may be the listing's brand: the first word, or the word after an early comma."""
    words = list(_WORD.finditer(text))
    picks: list[re.Match[str]] = []
    if words:
        picks.append(words[0])
    for m in words[1:]:
        if m.start() > 80:
            break
        if text[: m.start()].rstrip().endswith((",", "(", "[")):
            picks.append(m)
            break
    return [
        m
        for m in picks
        if m.group().lower() not in _NOT_BRANDS
        and m.group().lower() not in query_words
        and not any(ch.isdigit() for ch in m.group())
        and len(m.group()) > 1
    ]


def split_product_text(text: str, query: str = "") -> tuple[str, str | None, str | None]:
    """Split a simplified-ESCI ``product_text`` ("title brand description" joined) into parts.

    The joined text has no separator, so this is a heuristic. Such listings repeat the brand
    right after the title; when the title's first word, or the word after an early comma
    (where marketplace titles often put the brand), comes back as a whole word between 30
    and 350 characters in, that repeat is taken as the brand: title before it, description
    after it. Generic title words ("MFi", "LED", "Phone") and words of the query are never
    taken for a brand. Otherwise the title is the text up to the last word boundary before
    200 characters and the rest is the description. Returns
    ``(title, brand or None, description or None)``; no text is dropped except the repeat.

    >>> split_product_text("HOVAMP Nylon Braided Cable Compatible iPhone XS/8/7 HOVAMP [Durability] Woven.")
    ('HOVAMP Nylon Braided Cable Compatible iPhone XS/8/7', 'HOVAMP', '[Durability] Woven.')
    >>> split_product_text("Short title only")
    ('Short title only', None, None)
    """
    text = normalize_space(text).replace("\n", " ")
    query_words = {w.lower() for w in _WORD.findall(query)}
    for cand in _brand_candidates(text, query_words):
        pattern = re.compile(r"(?<![\w])" + re.escape(cand.group()) + r"(?![\w])")
        for match in pattern.finditer(text, cand.end()):
            if 30 <= match.start() <= 350:
                brand, end = cand.group(), match.end()
                # Two-word brands ("Amazon Basics") repeat as a whole too.
                nxt = _WORD.match(text, cand.end() + 1)
                if (
                    nxt is not None
                    and nxt.start() == cand.end() + 1
                    and nxt.group()[:1].isupper()
                    and nxt.group().lower() not in _NOT_BRANDS
                ):
                    phrase = text[cand.start() : nxt.end()]
                    if text.startswith(phrase, match.start()):
                        brand, end = phrase, match.start() + len(phrase)
                title = text[: match.start()].rstrip(" ,-|")
                return title, brand, none_if_blank(text[end:])
    if len(text) <= _MAX_TITLE:
        return text, None, None
    cut = text.rfind(" ", 0, _MAX_TITLE)
    cut = cut if cut > 0 else _MAX_TITLE
    return text[:cut].rstrip(" ,-|"), None, none_if_blank(text[cut:])
