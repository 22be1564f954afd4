"""Candidate products for a query: random items, then bent towards an intended relation.

A relation says what the builder *aims* for ("exact", "soft" miss, "related" type,
"conflict", "complement", "irrelevant"); rules.judge alone decides the label, so an aim
that cannot be met (no substitute type exists, say) just yields another label. With
``near_miss`` conflicts pick the closest wrong value (iPhone 13 vs 13 Pro, 128GB vs 256GB).
It does not render text or word queries.
"""

from __future__ import annotations

import random

from training.data.catalogue import (
    DEVICES,
    HOUSE_BRANDS,
    TYPES,
    WILDCARD_VALUES,
    WILDCARDS,
    Device,
    brand_names,
    brand_tier,
    devices_for,
    fit_group,
)
from training.data.rules import Intent, Item

RELATIONS: tuple[str, ...] = ("exact", "soft", "related", "conflict", "complement", "irrelevant")


def random_item(ptype: str, rng: random.Random) -> Item:
    """A product of ``ptype`` with random, internally consistent stated facts."""
    t = TYPES[ptype]
    item = Item(ptype=ptype)
    if t.device_kind:
        options = [d for d in DEVICES.values() if d.kind == t.device_kind and d.sellable]
        if rng.random() < 0.85:
            device = rng.choice(options)
            item.model, item.brand = device.key, device.brand
        else:
            item.brand = rng.choice(t.brands).name
    elif t.house_brands and rng.random() < 0.35:
        item.brand = rng.choice(HOUSE_BRANDS)
    else:
        item.brand = rng.choice(t.brands).name
    item.show_brand = rng.random() < 0.9
    for key, values in t.facts.items():
        if rng.random() < 0.7:
            item.facts[key] = rng.choice(values)
    if t.packs and rng.random() < 0.75:
        item.pack = rng.choice(t.packs)
    if t.units and rng.random() < 0.7:
        item.unit = rng.choice(t.units)
    if t.fits and rng.random() < 0.9:
        device = rng.choice(devices_for(t.fits))
        item.compat = fit_group(t.fits, device.fits[t.fits])
    if t.ingredients:
        if rng.random() < 0.5:
            item.ingredients = tuple(i for i in t.ingredients if rng.random() < 0.5)
            if not item.ingredients and not t.base_ingredients:
                item.ingredients = None  # an empty list of nothing says nothing
        if rng.random() < 0.5:
            pool = [i for i in t.ingredients if not item.contains(i)]
            item.free_from = tuple(i for i in pool if rng.random() < 0.5)
    if t.ages and rng.random() < 0.85:
        item.age = rng.choice(t.ages)
    return item


def _brand_cheaper_than(ptype: str, named: str, rng: random.Random) -> str:
    tier = brand_tier(ptype, named) or 3
    cheaper = [b.name for b in TYPES[ptype].brands if b.tier < tier]
    if TYPES[ptype].house_brands:
        cheaper += list(HOUSE_BRANDS[:4])
    return rng.choice(cheaper)


def _other(values: tuple[str, ...], current: str, rng: random.Random, near: bool) -> str | None:
    options = [v for v in values if v.lower() != current.lower() and v not in WILDCARD_VALUES]
    if not options:
        return None
    if near and current in values:
        i = values.index(current)
        close = [v for v in options if abs(values.index(v) - i) == 1]
        if close:
            return rng.choice(close)
    return rng.choice(options)


def _has_other(values: tuple[str, ...], current: str) -> bool:
    return any(v.lower() != current.lower() and v not in WILDCARD_VALUES for v in values)


def _satisfy(intent: Intent, item: Item, rng: random.Random) -> None:
    """Make ``item`` state what ``intent`` asks, wherever its type can say it."""
    t = TYPES[item.ptype]
    if intent.brand and intent.brand in brand_names(item.ptype):
        item.brand, item.show_brand = intent.brand, True
    if intent.not_brand:
        item.brand, item.show_brand = _brand_cheaper_than(item.ptype, intent.not_brand, rng), True
    for key, value in intent.facts.items():
        if key in t.facts:
            wildcard = WILDCARDS.get(key)
            if wildcard in t.facts[key] and rng.random() < 0.15:
                item.facts[key] = wildcard
            else:
                item.facts[key] = value
    if intent.pack and t.packs:
        item.pack = intent.pack
    device = DEVICES.get(intent.device or intent.model or "")
    if device is not None and t.fits and t.fits in device.fits:
        item.compat = fit_group(t.fits, device.fits[t.fits])
    if device is not None and t.device_kind == device.kind:
        target = device if device.sellable else _sellable_in_group(device, rng)
        if target is not None:
            item.model, item.brand = target.key, target.brand
    if intent.free_from and intent.free_from in t.ingredients:
        ing = intent.free_from
        if item.ingredients is not None:
            item.ingredients = tuple(i for i in item.ingredients if i != ing)
            if not item.ingredients and not t.base_ingredients:
                item.ingredients = None
        if item.ingredients is None or rng.random() < 0.7:
            item.free_from = tuple(dict.fromkeys((*item.free_from, ing)))
    if intent.age is not None and t.ages:
        fitting = [a for a in t.ages if a[0] <= intent.age <= a[1]]
        if fitting:
            item.age = rng.choice(fitting)


def _sellable_in_group(device: Device, rng: random.Random) -> Device | None:
    """A real printer that takes the cartridge line ``device`` names."""
    group = device.fits.get("ink cartridge")
    options = [d for d in DEVICES.values() if d.sellable and d.fits.get("ink cartridge") == group]
    return rng.choice(options) if options else None


def _soft_options(intent: Intent, item: Item) -> list[str]:
    t = TYPES[item.ptype]
    opts = []
    if intent.free_from:
        opts.append("free_from")
    if intent.device and t.fits:
        opts.append("device")
    if intent.model and t.device_kind:
        opts.append("model")
    if (intent.brand or intent.not_brand) and not item.model:
        opts.append("brand")
    opts += [f"fact:{k}" for k in intent.facts if k in t.facts]
    if intent.age is not None and t.ages:
        opts.append("age")
    if intent.pack and t.packs:
        opts.append("pack")
    return opts


def _make_soft(intent: Intent, item: Item, option: str, rng: random.Random) -> None:
    if option == "free_from":
        item.free_from = tuple(i for i in item.free_from if i != intent.free_from)
        item.ingredients = None
    elif option == "device":
        item.compat = ()
    elif option == "model":
        item.model = None
        item.brand = rng.choice(TYPES[item.ptype].brands).name
    elif option == "brand":
        if intent.not_brand and rng.random() < 0.5:
            named = brand_tier(item.ptype, intent.not_brand) or 3
            pricier = [b.name for b in TYPES[item.ptype].brands if b.tier >= named and b.name != intent.not_brand]
            if pricier:
                item.brand, item.show_brand = rng.choice(pricier), True
                return
        item.show_brand = False
    elif option.startswith("fact:"):
        item.facts.pop(option[5:], None)
    elif option == "age":
        item.age = None
    elif option == "pack":
        others = [p for p in TYPES[item.ptype].packs if p != intent.pack]
        item.pack = rng.choice(others) if others and rng.random() < 0.7 else None


def _conflict_options(intent: Intent, item: Item) -> list[str]:
    t = TYPES[item.ptype]
    opts = []
    if intent.free_from and intent.free_from in t.ingredients:
        opts.append("free_from")
    if intent.device and t.fits and len({d.fits[t.fits] for d in devices_for(t.fits)}) > 1:
        opts.append("device")
    if intent.model and t.device_kind:
        opts.append("model")
    if intent.brand and len(brand_names(item.ptype)) > 1:
        opts.append("brand")
    if intent.not_brand and intent.not_brand in brand_names(item.ptype):
        opts.append("not_brand")
    opts += [f"fact:{k}" for k, v in intent.facts.items() if k in t.facts and _has_other(t.facts[k], v)]
    if intent.age is not None and any(not a[0] <= intent.age <= a[1] for a in t.ages):
        opts.append("age")
    return opts


def _make_conflict(intent: Intent, item: Item, option: str, rng: random.Random, near: bool) -> None:
    t = TYPES[item.ptype]
    if option == "free_from":
        ing = intent.free_from
        item.free_from = tuple(i for i in item.free_from if i != ing)
        item.ingredients = tuple(dict.fromkeys((*(item.ingredients or ()), ing)))
    elif option == "device":
        wanted = DEVICES[intent.device or ""].fits.get(t.fits)
        groups = list(dict.fromkeys(d.fits[t.fits] for d in devices_for(t.fits) if d.fits[t.fits] != wanted))
        if near and wanted is not None:
            same_brand = [
                g
                for g in groups
                if any(DEVICES[k].brand == DEVICES[intent.device or ""].brand for k in fit_group(t.fits, g))
            ]
            groups = same_brand or groups
        item.compat = fit_group(t.fits, rng.choice(groups))
    elif option == "model":
        wanted = DEVICES[intent.model or ""]
        others = [d for d in DEVICES.values() if d.kind == wanted.kind and d.sellable and d.key != wanted.key]
        if near:
            others = [d for d in others if d.brand == wanted.brand] or others
        device = rng.choice(others)
        item.model, item.brand = device.key, device.brand
    elif option == "brand":
        if item.model:  # a device's brand comes with its model
            kind = DEVICES[item.model].kind
            devices = [d for d in DEVICES.values() if d.kind == kind and d.sellable and d.brand != intent.brand]
            device = rng.choice(devices)
            item.model, item.brand = device.key, device.brand
            return
        others = [b for b in brand_names(item.ptype) if b != intent.brand]
        item.brand, item.show_brand = rng.choice(others), True
    elif option == "not_brand":
        item.brand, item.show_brand = intent.not_brand, True
    elif option.startswith("fact:"):
        key = option[5:]
        value = _other(t.facts[key], intent.facts[key], rng, near)
        if value is not None:
            item.facts[key] = value
    elif option == "age":
        age = intent.age if intent.age is not None else 0
        item.age = rng.choice([a for a in t.ages if not a[0] <= age <= a[1]])


def _cohere(item: Item) -> None:
    """Drop stated facts that contradict each other in the real world."""
    if item.ptype == "frying pan" and item.facts.get("material", "nonstick aluminum") != "nonstick aluminum":
        if item.ingredients is not None and "ptfe" in item.ingredients:
            item.facts["material"] = "nonstick aluminum"


def _irrelevant_type(intent: Intent, rng: random.Random) -> str:
    taken = set(intent.types) | set(intent.related) | set(intent.complements)
    tops = {TYPES[k].top for k in intent.types}
    pool = [k for k in TYPES if k not in taken]
    near = [k for k in pool if TYPES[k].top in tops]
    if near and rng.random() < 0.35:
        return rng.choice(near)
    return rng.choice(pool)


def _exact_type(intent: Intent, rng: random.Random) -> str:
    """A wanted type that can meet every constraint, when one exists."""

    def can(k: str) -> bool:
        t = TYPES[k]
        device = DEVICES.get(intent.device or "")
        if device is not None and not (t.fits and t.fits in device.fits):
            return False
        if intent.model and t.device_kind != DEVICES[intent.model].kind:
            return False
        if any(key not in t.facts for key in intent.facts):
            return False
        if intent.age is not None and not any(a[0] <= intent.age <= a[1] for a in t.ages):
            return False
        return True

    able = [k for k in intent.types if can(k)]
    return rng.choice(able or list(intent.types))


def build_item(intent: Intent, relation: str, rng: random.Random, near_miss: bool = False) -> Item:
    """A product aimed at ``relation`` to ``intent`` (see RELATIONS); judge() gives its label."""
    if relation == "related" and not intent.related:
        relation = "soft"
    if relation == "complement" and not intent.complements:
        relation = "conflict"
    if relation == "irrelevant":
        return random_item(_irrelevant_type(intent, rng), rng)
    if relation == "related":
        item = random_item(rng.choice(intent.related), rng)
        _satisfy(intent, item, rng)
        _cohere(item)
        return item
    if relation == "complement":
        item = random_item(rng.choice(intent.complements), rng)
        _satisfy(intent, item, rng)
        _cohere(item)
        return item
    item = random_item(_exact_type(intent, rng), rng)
    _satisfy(intent, item, rng)
    if relation == "conflict":
        options = _conflict_options(intent, item)
        if options:
            _make_conflict(intent, item, rng.choice(options), rng, near_miss)
        elif intent.complements:
            return build_item(intent, "complement", rng, near_miss)
        else:
            relation = "soft"
    if relation == "soft":
        options = _soft_options(intent, item)
        if options:
            _make_soft(intent, item, rng.choice(options), rng)
        elif intent.related:
            return build_item(intent, "related", rng, near_miss)
    _cohere(item)
    return item
