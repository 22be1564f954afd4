"""Synthetic shopper queries: one builder per query family, templates split train / hard.

Each builder draws a query intent (what is wanted, and the constraints rules.judge checks)
and words it with a template of its split. The "train" and "hard" template sets never
produce the same string, so a hard set is never trained on. Products and labels are not
made here. `with_soft_qualifier` adds the words shoppers type that a listing need not repeat
("comfy", "best", "for gifting"): a real Exact listing often leaves a query word out, and
without them every synthetic query word is a constraint whose absence lowers the label.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from training.data.catalogue import (
    ALTERNATIVE_TO,
    DEVICES,
    INGREDIENTS,
    TYPES,
    WILDCARD_VALUES,
    devices_for,
)
from training.data.rules import Intent

Split = str  # "train" | "hard"

FAMILIES: tuple[str, ...] = (
    "generic",
    "brand",
    "attribute",
    "quantity",
    "negation",
    "alternative",
    "compatibility",
    "main_item",
    "knowledge",
)

TEMPLATES: dict[str, dict[Split, tuple[str, ...]]] = {
    "generic": {"train": ("{q}",), "hard": ("buy {q}", "{q} on sale", "good {q} to buy")},
    "brand": {"train": ("{b} {q}",), "hard": ("{q} by {b}", "{q} from {b}", "{q} made by {b}")},
    "color": {"train": ("{v} {q}",), "hard": ("{q} in {v}", "{q} {v} color")},
    "size": {"train": ("{q} size {v}",), "hard": ("size {v} {q}", "{q} in size {v}")},
    "dimension": {"train": ("{v} {q}",), "hard": ("{q} {v} wide", "{q} measuring {v}")},
    "capacity": {"train": ("{v} {q}",), "hard": ("{q} with {v} capacity", "{q} that holds {v}")},
    "material": {"train": ("{v} {q}",), "hard": ("{q} made of {v}", "{q} made from {v}")},
    "gender": {"train": ("{g} {q}",), "hard": ("{q} for {gw}", "{q} for a {gs}")},
    "quantity": {"train": ("{q} {n} pack", "pack of {n} {q}"), "hard": ("{q} {n} count", "{n} count {q}")},
    "negation": {
        "train": ("{q} without {i}", "{f} {q}"),
        "hard": ("{q} with no {i}", "{q} that does not contain {i}", "{q} containing zero {i}"),
    },
    "alternative": {
        "train": ("cheaper alternative to {b}", "{b} alternative", "cheaper alternative to {b} {q}"),
        "hard": ("{b} dupe", "something like {b} but cheaper", "budget {q} like {b}"),
    },
    "compatibility": {
        "train": ("{q} for {d}", "{d} {q}"),
        "hard": ("{q} that fits {d}", "{q} compatible with {d}", "{q} that works with {d}"),
    },
    "main_item": {"train": ("{d}", "{b} {d}"), "hard": ("{d} brand new", "buy a {d}", "{d} for sale")},
    "age_gift": {
        "train": ("gift for a {n} year old", "toys for {n} year olds"),
        "hard": ("birthday present for a {n} year old", "what to get a {n} yr old"),
    },
    "wedding": {
        "train": ("what to wear to a {s} wedding",),
        "hard": ("{s} wedding guest outfit", "outfit ideas for a {s} wedding"),
    },
    "hot_coffee": {
        "train": ("how to keep coffee hot all day", "something to keep my coffee hot"),
        "hard": ("mug that keeps coffee warm for hours", "how do i stop my coffee getting cold"),
    },
    "coffee_gift": {
        "train": ("gift for a coffee lover", "gifts for coffee drinkers"),
        "hard": ("present for someone who loves coffee", "what to buy a coffee addict"),
    },
    "rain_hike": {
        "train": ("what to wear hiking in the rain",),
        "hard": ("jacket for hiking in wet weather", "staying dry on a rainy trail"),
    },
    "cable_free": {
        "train": ("how to charge my {d} without a cable",),
        "hard": ("cable free charging for {d}", "charge {d} without plugging in"),
    },
}

_GENDER_WORDS = {
    "men": (("mens", "men's"), "men", "man"),
    "women": (("womens", "women's"), "women", "woman"),
}


def _types_named(name: str) -> tuple[str, ...]:
    return tuple(k for k, t in TYPES.items() if any(q == name for q, _ in t.query))


def _neighbours(types: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Substitutes and complements of ``types`` (neither includes a wanted type)."""
    related: list[str] = []
    complements: list[str] = []
    for k in types:
        for s in TYPES[k].siblings:
            if s not in types and s not in related:
                related.append(s)
        for c in TYPES[k].complements:
            if c not in types and c not in complements:
                complements.append(c)
    return tuple(related), tuple(c for c in complements if c not in related)


def _fill(rng: random.Random, family: str, split: Split, **slots: str) -> str:
    return rng.choice(TEMPLATES[family][split]).format(**slots)


def _intent(family: str, text: str, types: tuple[str, ...], **kw: Any) -> Intent:
    related, complements = _neighbours(types)
    kw.setdefault("related", related)
    kw.setdefault("complements", complements)
    return Intent(family=family, text=text, types=types, **kw)


def _pick_type(rng: random.Random, want: Callable[[str], bool]) -> str:
    return rng.choice([k for k, t in TYPES.items() if want(k)])


def generic(rng: random.Random, split: Split) -> Intent:
    t = TYPES[_pick_type(rng, lambda k: True)]
    name, implied = rng.choice(t.query)
    return _intent("generic", _fill(rng, "generic", split, q=name), _types_named(name), facts=dict(implied))


def brand(rng: random.Random, split: Split) -> Intent:
    t = TYPES[_pick_type(rng, lambda k: not TYPES[k].device_kind)]
    name, implied = rng.choice(t.query)
    b = rng.choice(t.brands).name
    text = _fill(rng, "brand", split, q=name, b=b.lower())
    return _intent("brand", text, _types_named(name), brand=b, facts=dict(implied))


_ATTR_KEYS = ("color", "size", "capacity", "material", "gender")


def attribute(rng: random.Random, split: Split) -> Intent:
    def ok(k: str) -> bool:
        t = TYPES[k]
        return not t.device_kind and any(a in t.facts for a in _ATTR_KEYS)

    t = TYPES[_pick_type(rng, ok)]
    name, implied = rng.choice(t.query)
    keys = [a for a in _ATTR_KEYS if a in t.facts and a not in dict(implied)]
    if not keys:
        return generic(rng, split)
    key = rng.choice(keys)
    value = rng.choice([v for v in t.facts[key] if v not in WILDCARD_VALUES])
    if key == "gender":
        forms, plural, single = _GENDER_WORDS[value]
        text = _fill(rng, "gender", split, q=name, g=rng.choice(forms), gw=plural, gs=single)
    else:
        family = "dimension" if key == "size" and value.endswith("inch") else key
        text = _fill(rng, family, split, q=name, v=value.lower().replace(" ", "") if value.endswith("GB") else value)
    return _intent("attribute", text, _types_named(name), facts={**dict(implied), key: value})


def quantity(rng: random.Random, split: Split) -> Intent:
    t = TYPES[_pick_type(rng, lambda k: len(TYPES[k].packs) > 1 and not TYPES[k].device_kind)]
    name, implied = rng.choice(t.query)
    n = rng.choice([p for p in t.packs if p > 1])
    text = _fill(rng, "quantity", split, q=name, n=str(n))
    return _intent("quantity", text, _types_named(name), pack=n, facts=dict(implied))


def negation(rng: random.Random, split: Split) -> Intent:
    t = TYPES[_pick_type(rng, lambda k: bool(TYPES[k].ingredients))]
    name, implied = rng.choice(t.query)
    ing = INGREDIENTS[rng.choice(t.ingredients)]
    text = _fill(rng, "negation", split, q=name, i=ing.plural, f=ing.free)
    return _intent("negation", text, _types_named(name), free_from=ing.key, facts=dict(implied))


def alternative(rng: random.Random, split: Split) -> Intent:
    b = rng.choice(tuple(ALTERNATIVE_TO))
    t = TYPES[ALTERNATIVE_TO[b]]
    name, _ = rng.choice(t.query)
    text = _fill(rng, "alternative", split, b=b.lower(), q=name)
    return _intent("alternative", text, (t.key,), not_brand=b, knowledge=f"{b} makes {t.key}")


def compatibility(rng: random.Random, split: Split) -> Intent:
    t = TYPES[_pick_type(rng, lambda k: bool(TYPES[k].fits))]
    device = rng.choice(devices_for(t.fits))
    name, _ = rng.choice(t.query)
    text = _fill(rng, "compatibility", split, q=name, d=device.key)
    return _intent("compatibility", text, _types_named(name), device=device.key)


def main_item(rng: random.Random, split: Split) -> Intent:
    device = rng.choice([d for d in DEVICES.values() if d.sellable])
    ptype = next(k for k, t in TYPES.items() if t.device_kind == device.kind)
    template = rng.choice(TEMPLATES["main_item"][split])
    with_brand = "{b}" in template and device.brand.lower() not in device.key
    if "{b}" in template and not with_brand:
        template = "{d}"
    text = template.format(d=device.key, b=device.brand.lower())
    return _intent("main_item", text, (ptype,), model=device.key, brand=device.brand if with_brand else None)


_TOYS = ("building set", "plush toy", "board game", "stem kit", "baby rattle")


def knowledge(rng: random.Random, split: Split) -> Intent:
    kind = rng.choice(("age_gift", "age_gift", "wedding", "hot_coffee", "coffee_gift", "rain_hike", "cable_free"))
    if kind == "age_gift":
        n = rng.randint(2, 12)
        text = _fill(rng, kind, split, n=str(n))
        return _intent(
            "knowledge",
            text,
            _TOYS,
            related=("kids book",),
            complements=(),
            age=n,
            knowledge=f"toys labelled for ages that include {n} suit a {n} year old",
        )
    if kind == "wedding":
        season = rng.choice(("summer", "winter"))
        text = _fill(rng, kind, split, s=season)
        return _intent(
            "knowledge",
            text,
            ("dress", "suit"),
            related=("heels", "sandals", "winter coat"),
            complements=(),
            facts={"season": season, "style": "formal"},
            knowledge=f"a {season} wedding calls for formal {season} clothes",
        )
    if kind == "hot_coffee":
        return _intent(
            "knowledge",
            _fill(rng, kind, split),
            ("travel mug",),
            related=("coffee mug", "water bottle"),
            complements=(),
            facts={"insulation": "insulated"},
            knowledge="insulated mugs keep coffee hot",
        )
    if kind == "coffee_gift":
        return _intent(
            "knowledge",
            _fill(rng, kind, split),
            ("coffee", "travel mug", "coffee mug"),
            related=(),
            complements=(),
            knowledge="coffee lovers like coffee and mugs",
        )
    if kind == "rain_hike":
        return _intent(
            "knowledge",
            _fill(rng, kind, split),
            ("rain jacket",),
            related=("winter coat",),
            complements=(),
            knowledge="a waterproof rain jacket keeps a hiker dry",
        )
    device = rng.choice(devices_for("charging cable"))
    return _intent(
        "knowledge",
        _fill(rng, kind, split, d=device.key),
        ("wireless charger",),
        related=(),
        complements=("charging cable", "smartphone"),
        device=device.key,
        knowledge="charging without a cable means a Qi wireless charger",
    )


BUILDERS: dict[str, Callable[[random.Random, Split], Intent]] = {
    "generic": generic,
    "brand": brand,
    "attribute": attribute,
    "quantity": quantity,
    "negation": negation,
    "alternative": alternative,
    "compatibility": compatibility,
    "main_item": main_item,
    "knowledge": knowledge,
}


#: words and phrases shoppers add that state no checkable property: no catalogue type, value or
#: template uses them, so a listing at any level may leave them out (model card, twenty-fourth)
SOFT_PREFIXES: tuple[str, ...] = (
    "best", "cute", "nice", "comfy", "cheap", "affordable", "stylish", "trendy", "popular", "unique",
    "pretty", "beautiful", "awesome", "amazing", "perfect", "lovely", "fancy", "sturdy", "reliable", "great", "gorgeous",
)  # fmt: skip
SOFT_SUFFIXES: tuple[str, ...] = ("for gifting", "everyone loves", "worth every penny")
#: families worded as plain product queries; the knowledge and alternative ones are sentences or
#: comparisons ("gift for a coffee lover", "cheaper alternative to dyson") left as they are
SOFT_FAMILIES: frozenset[str] = frozenset(
    {"generic", "brand", "attribute", "quantity", "negation", "compatibility", "main_item"}
)


def with_soft_qualifier(intent: Intent, rng: random.Random) -> Intent:
    """The intent with one soft word before its text (or, one time in five, a soft phrase after it).

    Only the wording changes: the constraints, and so every product's level, stay as they were.

    >>> from training.data.rules import Intent
    >>> with_soft_qualifier(Intent("generic", "phone case", ("phone case",)), random.Random(0)).text
    'amazing phone case'
    """
    if rng.random() < 0.2:
        return replace(intent, text=f"{intent.text} {rng.choice(SOFT_SUFFIXES)}")
    return replace(intent, text=f"{rng.choice(SOFT_PREFIXES)} {intent.text}")


def build_query(family: str, rng: random.Random, split: Split) -> Intent:
    """One query intent of ``family`` worded with a ``split`` template ("train" or "hard")."""
    if split not in ("train", "hard"):
        raise ValueError(f"split must be 'train' or 'hard', got {split!r}")
    return BUILDERS[family](rng, split)
