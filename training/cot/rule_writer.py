"""The offline teacher: a 5-step rationale composed from a pair's structured fields and the retrieved rules.

No model is involved. The steps are written from what the pair states — the query, the
product's title, brand, category and attributes, the reason tag the synthetic generator
attached (`brand_conflict`, `compat_unstated`, …, when present) — and the retrieved atomic
rule that names the gold level. The verdict is the gold label, so the rationale agrees with
it by construction; real-data pairs without a reason tag get a level-generic reason.
Short on purpose (one line per step): the label comes first and scoring never reads this.
"""

from __future__ import annotations

import re

from relevance.labels import LabelScheme
from relevance.prompt import rationale_text
from relevance.types import LabeledPair, RetrievedContext

_RULE_LEVEL = re.compile(r"\bis ([1-4]) (Excellent|Related|Mismatch|Irrelevant)\b")

# What the reason tag (first tag of a synthetic pair) says, as the attribute-match step.
REASONS: dict[str, str] = {
    "exact": "every stated attribute fits the query",
    "category_mismatch": "nothing to compare: it is another kind of product",
    "related_type": "a related type that can substitute for the one asked for",
    "complement": "it is used together with the asked item, not the item itself",
    "accessory_vs_main": "an accessory for the item the query asks for, not the item",
    "main_vs_accessory": "the main device, while the query asks for an accessory of it",
    "negation_violated": "it contains what the query excludes",
    "negation_unstated": "the listing does not say it is free of what the query excludes",
    "compat_conflict": "it fits a different device than the one named",
    "compat_unstated": "the listing does not state it fits the named device",
    "model_conflict": "a different model than the one named",
    "model_unstated": "the listing does not state the model named",
    "brand_conflict": "a different brand than the one named",
    "brand_unstated": "the listing does not state the brand named",
    "alt_same_brand": "it is the brand the shopper wants an alternative to",
    "alt_not_cheaper": "not a cheaper brand than the one to replace",
    "quantity_mismatch": "the pack size differs from the quantity asked for",
    "quantity_unstated": "the pack size is not stated",
    "age_conflict": "the stated age range does not fit",
    "age_unstated": "no age range is stated",
}
_FACT = re.compile(r"^([a-z]+)_(conflict|unstated)$")
_GENERIC = {
    4: "the stated attributes fit the query",
    3: "a requested detail is missing, loosely met or contradicted",
    2: "it cannot serve the need: wrong device or an excluded ingredient",
    1: "nothing to compare: it is another kind of product",
}
_CATEGORY = {
    4: "yes, the kind of product asked for",
    3: "yes or close, the same or a substitute kind",
    2: "related, but it does not meet the request",
    1: "no, a different kind of product",
}
_CATEGORY_BY_REASON = {
    "related_type": "close, a substitute kind",
    "complement": "related, a complementary product",
    "accessory_vs_main": "related, an accessory of the asked item",
    "main_vs_accessory": "related, the device the accessory is for",
}


def reason_text(reason: str | None, level: int) -> str:
    """The attribute-match sentence for a reason tag (generic by level when unknown).

    >>> reason_text("size_conflict", 3)
    'the stated size conflicts with the query'
    >>> reason_text(None, 3)
    'a requested detail is missing, loosely met or contradicted'
    """
    if reason in REASONS:
        return REASONS[reason]
    m = _FACT.match(reason or "")
    if m:
        fact, kind = m.groups()
        return f"the stated {fact} conflicts with the query" if kind == "conflict" else f"the {fact} asked for is not stated"
    return _GENERIC[level]


def rule_for_level(rules: tuple[str, ...], level: int) -> str | None:
    """The first retrieved rule that concludes `level` (rules end '… is 2 Mismatch.')."""
    for rule in rules:
        m = _RULE_LEVEL.search(rule)
        if m and int(m.group(1)) == level:
            return rule
    return None


def _short(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _constraints(tags: tuple[str, ...]) -> list[str]:
    out = []
    for tag in tags[1:]:
        key, _, value = tag.partition(":")
        if key in ("family", "knowledge") or not value:
            continue
        out.append(f"{key.replace('_', ' ')} {value}")
    return out


def write_steps(pair: LabeledPair, context: RetrievedContext, scheme: LabelScheme) -> dict[str, str]:
    """The five steps for `pair`, its verdict being the gold level."""
    product, level = pair.product, pair.level
    reason = pair.tags[0] if pair.tags and pair.source.startswith("synthetic") else None
    wants = _constraints(pair.tags) if reason else []
    query_step = f'"{_short(pair.query, 60)}"' + (f", needs {', '.join(wants[:3])}" if wants else "")
    item = [_short(product.title, 70)]
    if product.brand:
        item.append(f"brand {product.brand}")
    if product.category:
        item.append(product.category.split(">")[-1].strip())
    attrs = [f"{k} {v}" for k, v in list(product.attributes.items())[:2]]
    item += attrs
    category = _CATEGORY_BY_REASON.get(reason or "", _CATEGORY[level])
    attribute = reason_text(reason, level)
    rule = rule_for_level(context.rules, level)
    if rule:
        attribute += f"; rule: {_short(rule, 90)}"
    lv = scheme.by_level(level)
    return {
        "Query": query_step,
        "Item": "; ".join(item),
        "Category match": category,
        "Attribute match": attribute,
        "Verdict": f"{lv.emit} {lv.name}",
    }


class RuleWriter:
    """Offline teacher; `write(pair, context)` returns the rationale text (never fails)."""

    name = "rules"

    def __init__(self, scheme: LabelScheme):
        self.scheme = scheme

    def write_many(self, items: list[tuple[LabeledPair, RetrievedContext]], progress=None) -> list[str | None]:
        out = []
        for pair, context in items:
            out.append(rationale_text(write_steps(pair, context, self.scheme)))
            if progress is not None:
                progress.update(1)
        return out
