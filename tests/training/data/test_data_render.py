"""Rendering: every fact a synthetic item states is visible in its Product, nothing else is."""

from __future__ import annotations

import random
import re

import pytest

from training.data.catalogue import DEVICES, HOUSE_BRANDS, INGREDIENTS, TYPES
from training.data.items import random_item
from training.data.render import compat_names, ingredients_key, render

_SIZE_SHORT = {"small": "s", "medium": "m", "large": "l", "x-large": "xl"}


def _squash(text: str) -> str:
    text = text.lower().replace('"', " inch")
    for long, short in (("ounce", "oz"), ("quart", "qt"), ("gallon", "gal")):
        text = text.replace(long, short)
    return re.sub(r"[^a-z0-9]", "", text)


@pytest.mark.parametrize("ptype", sorted(TYPES))
def test_every_stated_fact_is_visible(ptype: str) -> None:
    rng = random.Random(ptype)
    for i in range(40):
        item = random_item(ptype, rng)
        product = render(item, f"P{i}", rng)
        title, attrs = product.title, product.attributes
        words = {_squash(w) for w in re.split(r"[\s,()|/-]+", title)}
        for key, value in item.facts.items():
            if key in attrs:
                continue
            if key == "gender":
                said = {"men": r"\bmen'?s?\b", "women": r"\bwomen'?s?\b"}.get(value, r"unisex|men and women")
                assert re.search(said, title.lower()), (value, title)
            elif key == "size" and value in _SIZE_SHORT:
                assert _squash(value) in _squash(title) or _SIZE_SHORT[value] in words, (value, title)
            elif key == "insulation":
                assert "insulated" in title.lower() or "single wall" in title.lower(), title
            elif key == "style":
                assert any(w in title.lower() for w in ("formal", "wedding", "casual")), title
            else:
                assert _squash(value) in _squash(title), (key, value, title)
        if item.compat:
            names = compat_names(item)
            assert attrs.get("compatible_devices") == ", ".join(names) or names[0].split(" ")[-1] in title, title
        if item.model:
            assert attrs["model_name"] == DEVICES[item.model].name
            assert DEVICES[item.model].name in title
        if item.pack:
            assert attrs.get("unit_count") == f"{item.pack}.0 Count" or str(item.pack) in title
        if item.age is not None:
            assert "age_range" in attrs
        if item.ingredients is not None:
            listed = attrs[ingredients_key(ptype)].lower()
            for ing in item.ingredients:
                assert any(m in listed for m in INGREDIENTS[ing].markers)
            for ing in TYPES[ptype].ingredients:
                if ing not in item.ingredients:
                    assert not any(m in listed for m in INGREDIENTS[ing].markers), (ing, listed)
        else:
            assert "ingredients" not in attrs and "materials" not in attrs
        for ing in item.free_from:
            labels = INGREDIENTS[ing].free_labels
            shown = title.lower() + " " + attrs.get("special_feature", "").lower()
            assert any(lbl.lower() in shown for lbl in labels), (ing, title, attrs)
        brand = (item.brand or "").lower()
        own_title = title.lower()
        for name in compat_names(item):  # "Compatible with HP 67" names the printer maker, not the seller
            own_title = own_title.replace(name.lower(), "")
        if item.model is None:
            assert (brand in own_title or product.brand == item.brand) == item.show_brand, (item, product)
        if not item.show_brand:
            assert product.brand is None


def test_house_brands_and_odd_capitalisation_occur() -> None:
    rng = random.Random(0)
    titles = [render(random_item("phone case", rng), str(i), rng).title for i in range(300)]
    assert any(any(b in t for b in HOUSE_BRANDS) for t in titles)
    assert any(any(w.isupper() and len(w) > 4 and w.isalpha() for w in t.split()) for t in titles)
    assert any(re.search(r"\b[a-z]{4,} [a-z]{4,}\b", t) for t in titles)  # lower-cased keyword runs
