"""Keyword stuffing in a listing: search terms a seller pastes in to win matches, found and dropped.

Sellers paste the searches they want to rank for into a listing: a labelled list ("Related
searches: iphone 13 case, iphone 13 case", "Tags: …", "Keywords: …", "People also search for
…", a run of #hashtags) or the same phrase over and over ("iphone 13 case iphone 13 case").
Pasted words are exactly what a lexical match counts, and a judge that is told which query
words a listing names (`relevance.coverage`) reads them as evidence. Measured on the 31
non-Exact ESCI dev pairs (`taosr1 eval --robustness`, keyword stuffing), the query pasted once
or twice raised the lexical tier's label on 81 % of variants and a model trained with the
coverage line on 15–20 %.

`has_keyword_stuffing(text)` finds two shapes, both regular expressions on the NFKC-normalised
text (microseconds per field):

* a keyword-list lead (`_LEAD`) and the list after it, up to the end of its segment (a sentence
  end, a line break, ";" or " | "); the leads are written in English and as sellers on Amazon's
  other stores write them ("Palabras clave:", "Mots-clés :", "Schlagwörter:", "关键词：", "キーワード:");
  a bare "Search:" counts only where it opens a segment ("Voice search: Alexa" names a feature);
* a phrase of two to eight words repeated back to back, separated only by spaces or list
  punctuation, as whole items (`_REPEAT`: the last copy ends the field, sentence or list item,
  so "iPhone 12, iPhone 12 Pro" is a model list, not a repeat) or three times or more wherever
  it stops (`_REPEAT3`) — the whole run, first copy included, since which copy is the seller's
  own cannot be told.

An attribute whose key announces a keyword list ("search_terms", "generic_keywords", "Tags";
`is_keyword_list_key`) is pasted search terms whole, whatever its value reads like.

`drop_keyword_stuffing(text)` removes those spans and returns the same string when there is
none, so ordinary listings reach the judge byte for byte (tested on every real listing the
repository ships). A single pasted phrase without a lead ("Perfect for iphone 13 case") reads
as an ordinary claim and is left to the model. The prompt renderer (`relevance.prompt`, train
and serve alike), its coverage line, and the fallback scorer's tiers (`retrieval.fallback`,
`retrieval.lexical.shown_text`) all read listings through it; `relevance.listing_flags` reports
the flag beside the score.
"""

from __future__ import annotations

import re
from dataclasses import replace

from relevance.types import Product
from relevance.untrusted import visible_nfkc

FLAG = "keyword_stuffing"

_SEP = r"\s*[:：\-–—]?"
_LIST_NOUN = r"(?:searches|search\s+(?:terms?|keywords?|tags?|phrases?)|keywords?|key\s*words|tags|queries)"
#: the same leads as sellers on Amazon's other stores write them (es, pt, fr, de, it, nl): a
#: "related searches" phrase, or a list noun followed by a colon ("Palabras clave:", "Schlagwörter:")
_FOREIGN_RELATED = (
    r"(?:b[uú]squedas|pesquisas)\s+(?:relacionadas|populares|similares)"
    r"|recherches\s+(?:associ[ée]es|similaires|populaires|connexes|li[ée]es)"
    r"|(?:[äa]hnliche|verwandte|beliebte)\s+(?:suchanfragen|suchbegriffe|suchen)"
    r"|ricerche\s+(?:correlate|simili|popolari)"
    r"|(?:gerelateerde|populaire)\s+zoek(?:opdrachten|termen)"
)
_FOREIGN_NOUN = (
    r"(?:palabras?\s+clave|t[ée]rminos\s+de\s+b[uú]squeda|etiquetas|palavras?[\s-]+chave|termos\s+de\s+pesquisa"
    r"|mots?[\s-]+cl[ée]s?|termes\s+de\s+recherche|[ée]tiquettes"
    r"|such(?:begriffe|w[öo]rter|anfragen)|schlagw[öo]rter|schl[üu]sselw[öo]rter|stichw[öo]rter"
    r"|parole\s+chiave|termini\s+di\s+ricerca|etichette|zoekwoorden|trefwoorden|zoektermen)"
)
#: Chinese, Japanese and Korean leads: no word boundary to lean on, so a bare list noun needs its colon
_CJK_RELATED = r"相关搜索|相關搜尋|热门搜索|熱門搜尋|关联搜索|関連検索|関連キーワード|연관\s*검색어|관련\s*검색어"
_CJK_NOUN = r"关键词|关键字|關鍵詞|關鍵字|搜索词|搜尋詞|标签|標籤|キーワード|検索ワード|タグ|검색어|키워드|태그"
_LEAD = re.compile(
    r"(?:(?<!\w)(?:"
    rf"(?:related|popular|top|hot|trending|similar|other|more|common|recommended|suggested|frequent)\s+{_LIST_NOUN}\b{_SEP}"
    rf"|(?:search|seo|amazon|ebay|etsy|shopify|google)\s+(?:terms?|keywords?|key\s*words|tags?|phrases?)\b{_SEP}"
    r"|(?:keywords?|key\s*words|tags|hashtags?)\s*[:：]"
    r"|(?:^|(?<=[\n|;.!?,:()\[\]•·\-–—]))\s*search\s*[:：]"  # "Search:" opens a segment; "Voice search:" is a feature
    rf"|(?:people|customers|shoppers|buyers|users|others)\s+(?:also\s+)?(?:search(?:ed)?|look(?:ed)?|shop(?:ped)?|ask(?:ed)?)\s+for\b{_SEP}"
    rf"|(?:also\s+search(?:ed)?\s+(?:for|as)|search(?:ed)?\s+as|found\s+by\s+searching(?:\s+for)?)\b{_SEP}"
    rf"|you\s+(?:may|might|can)\s+(?:also\s+)?(?:be\s+)?search(?:ing)?\s+for\b{_SEP}"
    rf"|{_FOREIGN_RELATED}\b{_SEP}|{_FOREIGN_NOUN}\s*[:：]"
    r")"
    rf"|(?:{_CJK_RELATED})\s*[:：]?|(?:{_CJK_NOUN})\s*[:：])",
    re.I,
)
#: the list after a lead runs to the end of its segment (a "." inside "2.5" or "u.s.b" does not end it)
_LIST_TAIL = r"(?:[^\n|;.!?。]|[.!?](?=\S))*"
_LEAD_SPAN = re.compile(_LEAD.pattern + _LIST_TAIL, re.I)
_HASHTAGS = re.compile(r"(?<!\w)#[^\W_][\w-]*(?:[\s,]+#[^\W_][\w-]*)+", re.I)
_WORD = r"[^\W_][\w'&+.-]*"
#: a repeated run is whole items: it starts a segment or follows a space, and its last copy ends the
#: field, the sentence or a list item ("iPhone 12, iPhone 12 Pro" is a list of models, not a repeat)
_REPEAT = re.compile(
    rf"(?<![\w'&+.\-/])((?:{_WORD}\s+){{1,7}}{_WORD})(?:[\s,;/|·•]+\1)+(?=\s*(?:$|[,;|\n]|[.!?](?:\s|$)))", re.I
)
#: three copies or more back to back are a repeat wherever they stop
_REPEAT3 = re.compile(rf"(?<![\w'&+.\-/])((?:{_WORD}\s+){{1,7}}{_WORD})(?:[\s,;/|·•]+\1){{2,}}(?!\w)", re.I)
_LETTERS = re.compile(r"[^\W\d_]{3}")


#: words one of `_LEAD`'s alternatives needs (a cheap test before the regular expression)
_LEAD_HINTS = (
    "search", "keyword", "key word", "tags", "quer", "seo", "hashtag", "amazon ", "ebay ", "etsy ", "shopify ",
    "google ", "look for", "looked for", "shop for", "shopped for", "ask for", "asked for",
    "squeda", "pesquis", "clave", "chave", "chiave", "etiquet", "étiquet", "recherch", "mots", "mot-cl", "mot cl", "termes",
    "suchbegr", "suchw", "suchanfr", "suchen", "schlagw", "sselw",
    "stichw", "ricerch", "termini", "etichett", "zoek", "trefw",
    "相关", "相關", "热门", "熱門", "关联", "関連", "관련", "연관", "关键", "關鍵", "搜索", "搜尋", "标签", "標籤",
    "キーワード", "検索", "タグ", "검색어", "키워드", "태그",
)  # fmt: skip
_TOKEN = re.compile(_WORD)
#: a repeat of a phrase of up to eight words puts one of its word pairs again within eight words
_REPEAT_SPAN = 8


def _may_repeat(text: str) -> bool:
    """True when some phrase of two to eight words comes twice in a row, word for word (what `_REPEAT`
    needs before it checks the separators); most listings are ruled out here, cheaply."""
    tokens = [t.rstrip("'&+.-") for t in _TOKEN.findall(text.lower())]  # "case." ends a copy of "case"
    last: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(zip(tokens, tokens[1:], strict=False)):
        seen = last.get(pair)
        if seen is not None and 2 <= (span := i - seen) <= _REPEAT_SPAN and tokens[seen:i] == tokens[i : i + span]:
            return True
        last[pair] = i
    return False


def _spans(text: str) -> list[tuple[int, int]]:
    found = []
    low = " ".join(text.lower().split())
    if any(hint in low for hint in _LEAD_HINTS):
        found += [m.span() for m in _LEAD_SPAN.finditer(text)]
    if "#" in text:
        found += [m.span() for m in _HASHTAGS.finditer(text)]
    if _may_repeat(text):  # "24 x 24 x" is no stuffing: a repeated phrase needs a word of three letters
        found += [m.span() for r in (_REPEAT, _REPEAT3) for m in r.finditer(text) if _LETTERS.search(m.group(1))]
    return sorted(found)


def has_keyword_stuffing(text: str) -> bool:
    """True when `text` holds a keyword list or a phrase repeated back to back.

    >>> has_keyword_stuffing("Clear case - Related searches: iphone 13 case, iphone 13 case")
    True
    >>> has_keyword_stuffing("Rugged case for iPhone 13, drop tested, 2 pack")
    False
    """
    return bool(text) and bool(_spans(visible_nfkc(text)))


def drop_keyword_stuffing(text: str) -> str:
    """`text` without its keyword lists and repeated runs; the same string when it has none.

    >>> drop_keyword_stuffing("Clear Case for Galaxy S21 iphone 13 case, iphone 13 case")
    'Clear Case for Galaxy S21'
    >>> drop_keyword_stuffing("USB-C cable 2m. Tags: iphone charger, fast charger. Braided nylon.")
    'USB-C cable 2m. Braided nylon.'
    """
    if not text:
        return text
    plain = visible_nfkc(text)
    spans = _spans(plain)
    if not spans:
        return text
    kept, start = [], 0
    for lo, hi in spans:
        if lo > start:
            kept.append(plain[start:lo])
        start = max(start, hi)
    kept.append(plain[start:])
    out = _tidy("".join(kept))
    if not out:  # the whole field was the stuffing: keep one copy of a repeated phrase, drop the lists
        out = _tidy(_HASHTAGS.sub(" ", _LEAD_SPAN.sub(" ", _REPEAT.sub(lambda m: m.group(1), plain))))
    return out


def _tidy(text: str) -> str:
    """Spaces collapsed and the punctuation a dropped span leaves behind removed."""
    out = " ".join(text.split())
    out = re.sub(r"\s+([.,;:!?。])", r"\1", out)  # what a dropped span leaves before punctuation
    out = re.sub(r"([.,;:。])(?:\s*[.,;:。])+", r"\1", out)  # and punctuation runs
    return re.sub(r"^[\s,;:\-–—|]+|[\s,;:\-–—|]+$", "", out)


#: a key that ends in a keyword-list noun ("generic keywords", "product tags"); "voice search" is a feature
_LIST_KEY_END = re.compile(rf"(?:^|\s)(?:{_LIST_NOUN}|hashtags?)$", re.I)


def is_keyword_list_key(key: str) -> bool:
    """True when an attribute's key announces a keyword list, as a lead would ("Search terms",
    "generic_keywords", "Tags"): the whole attribute is pasted search terms.

    >>> [is_keyword_list_key(k) for k in ("search_terms", "Generic Keywords", "Tags", "color", "Voice search")]
    [True, True, True, False, False]
    """
    words = " ".join(re.sub(r"[_\-]+", " ", visible_nfkc(key)).split())
    return bool(words) and bool(_LEAD.fullmatch(f"{words}:") or _LIST_KEY_END.search(words))


def product_has_keyword_stuffing(product: Product) -> bool:
    """True when any seller-written field of `product` holds keyword stuffing."""
    fields = [product.title, product.brand or "", product.category or "", product.description or ""]
    fields += [f"{k}: {v}" for k, v in product.attributes.items()]
    return any(is_keyword_list_key(k) for k in product.attributes) or any(has_keyword_stuffing(f) for f in fields if f)


def drop_product_stuffing(product: Product, description_chars: int | None = None) -> Product:
    """`product` with keyword stuffing dropped from every field (the same object when there is none).

    An attribute whose key announces a keyword list ("Search terms", "Tags") goes whole; an
    attribute left empty goes too. `description_chars` first cuts the description to what the
    caller reads of it (the fallback's product text reads 600 characters), so a long one costs no more.
    """
    if description_chars is not None and product.description and len(product.description) > description_chars:
        product = replace(product, description=product.description[:description_chars])
    if not product_has_keyword_stuffing(product):
        return product
    attributes = {}
    for key, value in product.attributes.items():
        if is_keyword_list_key(key):
            continue
        if kept := drop_keyword_stuffing(value):
            attributes[key] = kept

    def field(text: str | None) -> str | None:
        return drop_keyword_stuffing(text) if text else text

    return replace(
        product,
        title=drop_keyword_stuffing(product.title),
        brand=field(product.brand),
        category=field(product.category),
        attributes=attributes,
        description=field(product.description),
    )
