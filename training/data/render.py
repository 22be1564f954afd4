"""Turn a synthetic item's stated facts into a marketplace-looking Product.

Titles imitate real listings: brand at the start, in the middle or absent, keyword
stuffing, "Compatible with iPhone 7/8/SE 2020" lists, "Pack of 3", "16 oz", uneven
capitalisation. Every fact the item states appears in the title, the attributes or both;
nothing the item does not state is written. It does not decide labels or pick facts.
"""

from __future__ import annotations

import random

from relevance.types import Product
from training.data.catalogue import DEVICES, INGREDIENTS, TYPES
from training.data.rules import Item

_SEPARATORS = (", ", " ", " - ", " | ", ", ")
_SMALL = {"for", "with", "and", "of", "to", "in", "the", "a", "on", "by", "or"}


def _title_case(text: str) -> str:
    words = text.split(" ")
    out = []
    for i, w in enumerate(words):
        if i and w.lower() in _SMALL:
            out.append(w.lower())
        elif w[:1].islower() and not any(c.isupper() for c in w[1:]):
            out.append(w[:1].upper() + w[1:])
        else:
            out.append(w)
    return " ".join(out)


def _gender(value: str, rng: random.Random) -> str:
    return rng.choice(
        {
            "men": ("Men's", "Mens", "for Men"),
            "women": ("Women's", "Womens", "for Women"),
            "unisex": ("Unisex", "for Men and Women", "Unisex Adult"),
        }[value]
    )


def _size(value: str, rng: random.Random) -> str:
    if value.isdigit():
        return rng.choice((f"Size {value}", f"{value} M US", f"US {value}", f"Size {value} Medium"))
    if value in ("small", "medium", "large", "x-large"):
        short = {"small": "S", "medium": "M", "large": "L", "x-large": "XL"}[value]
        return rng.choice((_title_case(value), short, f"Size {_title_case(value)}", f"{short} Size"))
    if value.endswith(" inch"):
        n = value.split()[0]
        return rng.choice((f"{n} Inch", f'{n}"', f"{n}-Inch", f"{n} inch"))
    return value


def _capacity(value: str, rng: random.Random) -> str:
    n, _, unit = value.partition(" ")
    if not unit:  # "128GB"
        return rng.choice((value, value.replace("GB", " GB").replace("TB", " TB")))
    forms = {
        "oz": (f"{n} oz", f"{n}oz", f"{n} Ounce", f"{n} OZ"),
        "quart": (f"{n} Quart", f"{n}QT", f"{n} Qt"),
        "gallon": (f"{n} Gallon", f"{n} Gal", f"{n}-Gallon"),
    }
    if unit in forms:
        return rng.choice(forms[unit])
    return _title_case(value)


def _fact_phrase(key: str, value: str, rng: random.Random) -> str:
    if key == "gender":
        return _gender(value, rng)
    if key == "size":
        return _size(value, rng)
    if key == "capacity":
        return _capacity(value, rng)
    if key == "insulation":
        if value == "insulated":
            return rng.choice(("Vacuum Insulated", "Double Wall Insulated", "Insulated Stainless Steel"))
        return rng.choice(("Single Wall", "Non-Insulated", "Single Wall Ceramic"))
    if key == "style":
        if value == "formal":
            return rng.choice(("Formal", "Wedding Guest", "Formal Party"))
        return rng.choice(("Casual", "Everyday Casual", "Casual Beach"))
    if key == "season":
        return {"summer": "Summer", "winter": "Winter", "all season": "All Season"}.get(value, value)
    if key == "material" and value == "cotton" and rng.random() < 0.4:
        return "100% Cotton"
    return _title_case(value) if rng.random() < 0.85 else value.upper()


def _attr_value(key: str, value: str) -> str:
    if key == "gender":
        return {"men": "Mens", "women": "Womens", "unisex": "Unisex"}[value]
    return value if key in ("capacity", "size") else _title_case(value)


def _compress(names: list[str]) -> str:
    """ "iPhone 7", "iPhone 8", "iPhone SE 2020" → "iPhone 7/8/SE 2020"."""
    firsts = {n.split(" ", 1)[0] for n in names}
    if len(names) > 1 and len(firsts) == 1 and all(" " in n for n in names):
        head = names[0].split(" ", 1)[0]
        return head + " " + "/".join(n.split(" ", 1)[1] for n in names)
    return "/".join(names)


def compat_names(item: Item) -> list[str]:
    """Display names of the devices an item fits, cartridge lines first."""
    devices = [DEVICES[k] for k in item.compat]
    devices.sort(key=lambda d: d.sellable)
    return [d.name for d in devices]


def _compat_phrase(item: Item, rng: random.Random) -> str:
    names = compat_names(item)
    listed = _compress(names) if rng.random() < 0.7 else ", ".join(names)
    if item.ptype == "ink cartridge":
        return rng.choice(("Replacement for ", "Compatible with ", "for ")) + listed
    return rng.choice(("Compatible with ", "for ", "Designed for ", "Fits ")) + listed


def _pack_phrase(n: int, rng: random.Random) -> str:
    return rng.choice((f"Pack of {n}", f"({n} Pack)", f"{n}-Pack", f"{n} Count", f"{n}pk", f"{n} Pack"))


def _age_phrase(age: tuple[int, int], rng: random.Random) -> str:
    lo, hi = age
    if hi <= 1:
        return rng.choice(("0-12 Months", "for Babies 0-12 Months", "Newborn 0-12M"))
    if hi >= 99:
        return rng.choice((f"Ages {lo}+", f"for Kids {lo} Years and Up", f"Age {lo} and Up"))
    return rng.choice((f"Ages {lo}-{hi}", f"for Kids {lo}-{hi} Years Old", f"Age {lo} to {hi}"))


def _age_attr(age: tuple[int, int]) -> str:
    lo, hi = age
    if hi <= 1:
        return "0 - 12 months"
    if hi >= 99:
        return f"{lo} years and up"
    return f"{lo} - {hi} years"


def _brand_text(brand: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.12:
        return brand.upper()
    if r < 0.16:
        return brand.lower()
    return brand


def _device_title(item: Item, rng: random.Random) -> tuple[str, bool]:
    """Title of a phone / laptop / printer; returns (title, brand_in_title)."""
    t = TYPES[item.ptype]
    bits: list[str] = []
    brand_in = item.show_brand and rng.random() < 0.9
    if item.model:
        device = DEVICES[item.model]
        name = device.name
        if brand_in and not name.lower().startswith(device.brand.lower()):
            name = f"{device.brand} {name}"
        bits.append(name)
    else:
        if brand_in and item.brand:
            bits.append(item.brand)
        bits.append(rng.choice(t.nouns))
    extra = [item.facts[k] for k in ("capacity", "color") if k in item.facts]
    for value in extra:
        bits.append(_title_case(value) if not value[0].isdigit() else value)
    bits.extend(rng.sample(t.keywords, k=rng.randint(1, 2)))
    head = ", ".join(bits[:-1]) if len(bits) > 2 else " ".join(bits[:-1])
    return f"{head} - {bits[-1]}", brand_in


def render_title(item: Item, rng: random.Random, noun: str | None = None) -> tuple[str, set[str], bool]:
    """Title, the fact keys it mentions (plus "compat", "pack"), and whether it names the brand.

    ``noun`` names the product type in the title (a shopper's own words for it, say);
    by default one of the type's listing nouns."""
    t = TYPES[item.ptype]
    if t.device_kind:
        title, brand_in = _device_title(item, rng)
        return title, {k for k in ("capacity", "color") if k in item.facts}, brand_in
    in_title: set[str] = set()
    noun = _title_case(noun) if noun else rng.choice(t.nouns)
    front: list[str] = []
    descriptors: list[str] = []
    tail: list[str] = []

    brand_in = item.show_brand and item.brand is not None and rng.random() < 0.85
    placement = rng.choices(("start", "middle", "end"), weights=(0.6, 0.28, 0.12))[0] if brand_in else ""
    brand = _brand_text(item.brand or "", rng) if brand_in else ""
    if placement == "start":
        front.append(brand)
        if t.lines and rng.random() < 0.4:
            front.append(rng.choice(t.lines))

    for ing in item.free_from:
        if rng.random() < 0.75:
            descriptors.append(rng.choice(INGREDIENTS[ing].free_labels))
    if item.ingredients:
        for ing in item.ingredients:
            labels = INGREDIENTS[ing].contains_labels
            if labels and rng.random() < 0.5:
                descriptors.append(rng.choice(labels))

    for key in ("gender", "material", "insulation", "season", "style"):
        if key in item.facts and rng.random() < 0.75:
            phrase = _fact_phrase(key, item.facts[key], rng)
            (front if key in ("gender", "material", "insulation") and rng.random() < 0.5 else descriptors).append(
                phrase
            )
            in_title.add(key)
    core = " ".join([*front, noun])

    compat = _compat_phrase(item, rng) if item.compat and rng.random() < 0.92 else ""
    if compat:
        in_title.add("compat")
    if item.age is not None and rng.random() < 0.8:
        descriptors.append(_age_phrase(item.age, rng))

    keywords = list(rng.sample(t.keywords, k=min(len(t.keywords), rng.randint(1, 4))))
    for i, kw in enumerate(keywords):
        r = rng.random()
        if r < 0.08:
            keywords[i] = kw.upper()
        elif r < 0.16:
            keywords[i] = kw.lower()
    descriptors.extend(keywords)
    rng.shuffle(descriptors)

    for key in ("color", "size", "capacity"):
        if key in item.facts and rng.random() < 0.8:
            tail.append(_fact_phrase(key, item.facts[key], rng))
            in_title.add(key)
    if item.unit and rng.random() < 0.7:
        tail.append(item.unit)
    pack = _pack_phrase(item.pack, rng) if item.pack and (item.pack > 1 or rng.random() < 0.3) else ""
    if pack:
        in_title.add("pack")

    sep = rng.choice(_SEPARATORS)
    pieces = [core]
    if compat:
        if rng.random() < 0.5:
            pieces[0] = f"{core} {compat}"
        else:
            descriptors.insert(0, compat)
    if placement == "middle":
        pieces.append(brand)
    if descriptors:
        cut = rng.randint(1, len(descriptors))
        pieces.append(" ".join(descriptors[:cut]))
        if descriptors[cut:]:
            pieces.append(" ".join(descriptors[cut:]))
    title = sep.join(p for p in pieces if p)
    if tail:
        title += rng.choice((f" ({', '.join(tail)})", " - " + ", ".join(tail), ", " + " ".join(tail)))
    if pack:
        title += rng.choice((f" ({pack})" if not pack.startswith("(") else f" {pack}", f", {pack}", f" {pack}"))
    if placement == "end":
        title += rng.choice((f" - {brand}", f" by {brand}", f" {brand}"))
    return title.replace("  ", " ").strip(), in_title, brand_in


def _category(item: Item, rng: random.Random) -> str | None:
    path = TYPES[item.ptype].category
    r = rng.random()
    if r < 0.55:
        return " > ".join(path)
    if r < 0.8:
        return path[-1]
    return None


_BLURBS = (
    "Designed for everyday use and built to last.",
    "Satisfaction guaranteed: if you have any questions, contact us and we will reply within 24 hours.",
    "Makes a thoughtful gift for family and friends.",
    "Easy to use, easy to clean and easy to store.",
    "Quality you can trust, tested to strict standards.",
    "Thousands of happy customers love it.",
    "Please allow slight differences due to manual measurement and monitor settings.",
)


def _description(item: Item, rng: random.Random, noun: str) -> str | None:
    if rng.random() < 0.2:
        return None
    t = TYPES[item.ptype]
    lines: list[str] = []
    kws = rng.sample(t.keywords, k=min(3, len(t.keywords)))
    opener = rng.choice(
        (
            "{K}: a {n} made for everyday use, with {k2} and {k3}.",
            "WHY CHOOSE US: {k1}, {k2} and {k3}.",
            "{N} features: {k1}; {k2}; {k3}.",
            "{K} - our {n} combines {k2} with {k3}.",
        )
    )
    lines.append(
        opener.format(
            K=kws[0].upper(),
            N=noun,
            n=noun.lower(),
            k1=kws[0].lower(),
            k2=kws[1 % len(kws)].lower(),
            k3=kws[-1].lower(),
        )
    )
    if item.compat and rng.random() < 0.6:
        lines.append("COMPATIBILITY: fits " + ", ".join(compat_names(item)) + ".")
    for key, value in item.facts.items():
        if rng.random() < 0.35:
            lines.append(f"{key.capitalize()}: {_attr_value(key, value)}.")
    if item.free_from and rng.random() < 0.6:
        plurals = [INGREDIENTS[i].plural for i in item.free_from]
        lines.append("Free from " + " and ".join(plurals) + ".")
    if item.ingredients is not None and rng.random() < 0.4:
        lines.append("See ingredient list for full details.")
    if item.age is not None and rng.random() < 0.5:
        lines.append(f"Recommended for ages {_age_attr(item.age)}.")
    if item.pack and item.pack > 1 and rng.random() < 0.5:
        lines.append(f"What you get: {item.pack} x {noun}.")
    lines.extend(rng.sample(_BLURBS, k=rng.randint(1, 2)))
    bullet = rng.choice(("", "✔ ", "• ", "★ "))
    return "\n".join(bullet + line for line in lines)


def _ingredient_list(item: Item, rng: random.Random) -> str:
    t = TYPES[item.ptype]
    names = list(rng.sample(t.base_ingredients, k=min(len(t.base_ingredients), rng.randint(2, 4))))
    for ing in item.ingredients or ():
        names.append(rng.choice(INGREDIENTS[ing].markers))
    rng.shuffle(names)
    return ", ".join(names)


def ingredients_key(ptype: str) -> str:
    """Attribute holding what a product is made of: "ingredients" for consumables,
    "materials" for goods (a pan's coating, a bottle's plastic)."""
    return "ingredients" if TYPES[ptype].base_ingredients else "materials"


def render(item: Item, product_id: str, rng: random.Random, noun: str | None = None) -> Product:
    """The Product a shopper would see for ``item`` (``noun``: see render_title)."""
    title, in_title, brand_in = render_title(item, rng, noun)
    attrs: dict[str, str] = {}
    for key, value in item.facts.items():
        if key not in in_title or rng.random() < 0.55:
            attrs[key] = _attr_value(key, value)
    if item.model:
        attrs["model_name"] = DEVICES[item.model].name
    if item.compat and ("compat" not in in_title or rng.random() < 0.6):
        attrs["compatible_devices"] = ", ".join(compat_names(item))
    if item.ingredients is not None:
        attrs[ingredients_key(item.ptype)] = _ingredient_list(item, rng)
    if item.free_from:
        labels = [INGREDIENTS[i].free_labels[0] for i in item.free_from]
        if not all(lbl.lower() in title.lower() for lbl in labels) or rng.random() < 0.5:
            attrs["special_feature"] = ", ".join(labels)
    if item.age is not None:
        attrs["age_range"] = _age_attr(item.age)
    if item.pack and ("pack" not in in_title or rng.random() < 0.6):
        attrs["unit_count"] = f"{item.pack}.0 Count"
    if item.unit and rng.random() < 0.4:
        attrs["item_volume" if "oz" in item.unit.lower() or "l" in item.unit.lower() else "size"] = item.unit
    brand_field = item.brand if item.show_brand and (not brand_in or rng.random() < 0.85) else None
    noun = TYPES[item.ptype].nouns[0]
    return Product(
        id=product_id,
        title=title,
        brand=brand_field,
        category=_category(item, rng),
        attributes=attrs,
        description=_description(item, rng, noun),
    )
