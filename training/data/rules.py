"""The labelling rules of the synthetic set: a query intent, a product's stated facts, a level.

``judge`` is the single place a synthetic pair gets its level, and it returns the name of the
rule that fired. It sees only what a product *states* (a fact the listing does not mention
does not exist here), so every label can be read off the rendered product. It knows nothing
about random generation or title wording.

Rules, first match wins:

* product type is neither wanted, a substitute, nor a complement → 1 ``category_mismatch``
* product type is a complement (accessory for the wanted device, the device for a wanted
  accessory, ink for a printer …) → 2 ``accessory_vs_main`` / ``main_vs_accessory`` / ``complement``
* it cannot serve the need → 2: ``negation_violated`` (it contains what the query
  excludes), ``compat_conflict`` (it fits another device)
* the right kind of product that breaks a stated attribute → 3, a functional substitute (the
  ESCI convention: "fails some aspects of the query but can be used instead"):
  ``model_conflict``, ``brand_conflict``, ``alt_same_brand`` (the brand the shopper wants an
  alternative to), ``<fact>_conflict`` (size, color, capacity, material, gender, season,
  style, insulation), ``age_conflict``. Under TaoSR1's own line (label scheme
  ``taosr1-4level``, which the shipped default was trained under) these are 2; the scheme is
  ``judge``'s one argument beyond the pair (its ``line``, ``ATTRIBUTE_CONFLICT_LEVEL``)
* product type is a substitute (conditioner for shampoo) → 3 ``related_type``
* a constraint is not stated, or only loosely met → 3: ``negation_unstated``,
  ``compat_unstated``, ``model_unstated``, ``brand_unstated``, ``alt_not_cheaper``,
  ``<fact>_unstated``, ``age_unstated``, ``quantity_mismatch``, ``quantity_unstated``
* otherwise → 4 ``exact``
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relevance.labels import DEFAULT_SCHEME, SCHEMES
from training.data.catalogue import DEVICES, TYPES, WILDCARDS, brand_tier

#: the level of the right kind of product that breaks a stated attribute, by the line a label
#: scheme draws between 3 and 2 (relevance.labels.LINES)
ATTRIBUTE_CONFLICT_LEVEL: dict[str, int] = {"taosr1": 2, "esci": 3}

# Order in which fact conflicts are reported.
FACT_ORDER: tuple[str, ...] = (
    "gender",
    "size",
    "capacity",
    "color",
    "material",
    "season",
    "style",
    "insulation",
)


@dataclass
class Item:
    """What a synthetic product states about itself (unstated facts are simply absent)."""

    ptype: str
    brand: str | None = None  # the maker; shown or not, see show_brand
    show_brand: bool = True
    facts: dict[str, str] = field(default_factory=dict)
    pack: int | None = None
    unit: str | None = None
    compat: tuple[str, ...] = ()  # device keys it fits, as stated
    model: str | None = None  # for a device: which device it is
    free_from: tuple[str, ...] = ()  # ingredient keys it claims to lack
    ingredients: tuple[str, ...] | None = None  # ingredient keys in its stated list; None = no list
    age: tuple[int, int] | None = None  # stated age range, (lo, hi) years, hi 99 = "and up"

    def shown_brand(self) -> str | None:
        """The brand a shopper can tell: shown, or implied by the device model it is."""
        if self.model:
            return DEVICES[self.model].brand
        return self.brand if self.show_brand else None

    def lacks(self, ingredient: str) -> bool:
        """It says so, or it lists its ingredients and this one is not among them."""
        return ingredient in self.free_from or (self.ingredients is not None and ingredient not in self.ingredients)

    def contains(self, ingredient: str) -> bool:
        return self.ingredients is not None and ingredient in self.ingredients


@dataclass
class Intent:
    """What a query asks for, as constraints on a product."""

    family: str
    text: str
    types: tuple[str, ...]
    related: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()
    brand: str | None = None
    not_brand: str | None = None  # "cheaper alternative to X"
    facts: dict[str, str] = field(default_factory=dict)
    pack: int | None = None
    device: str | None = None  # accessory must fit this device
    model: str | None = None  # product must be this device
    free_from: str | None = None  # ingredient the query excludes
    age: int | None = None
    knowledge: str = ""  # the world knowledge a knowledge query leans on, for tags

    def tags(self) -> tuple[str, ...]:
        """Tags describing the query (the rule tag is put in front by the generator)."""
        out = [f"family:{self.family}"]
        if self.free_from:
            out.append(f"negates:{self.free_from}")
        if self.device:
            out.append(f"device:{self.device}")
        if self.model:
            out.append(f"model:{self.model}")
        if self.brand:
            out.append(f"brand:{self.brand}")
        if self.not_brand:
            out.append(f"alternative_to:{self.not_brand}")
        out.extend(f"{k}:{v}" for k, v in self.facts.items())
        if self.pack:
            out.append(f"pack:{self.pack}")
        if self.age is not None:
            out.append(f"age:{self.age}")
        if self.knowledge:
            out.append(f"knowledge:{self.knowledge}")
        return tuple(out)


def fact_matches(key: str, wanted: str, stated: str) -> bool:
    """A stated fact meets a wanted one: equal (any case), or a wildcard like unisex."""
    return stated.lower() == wanted.lower() or stated.lower() == WILDCARDS.get(key)


def _complement_rule(intent: Intent, item: Item) -> str:
    if intent.model:
        return "accessory_vs_main"
    if TYPES[item.ptype].device_kind:
        return "main_vs_accessory"
    return "complement"


def _unusable(intent: Intent, item: Item) -> str | None:
    """A broken constraint that makes the product useless for the need."""
    if intent.free_from and item.contains(intent.free_from):
        return "negation_violated"
    if intent.device and item.compat and intent.device not in item.compat:
        return "compat_conflict"
    return None


def _attribute_conflict(intent: Intent, item: Item) -> str | None:
    """A stated attribute that contradicts the query, on a product that could still stand in."""
    if intent.model and item.model and item.model != intent.model:
        return "model_conflict"
    shown = item.shown_brand()
    if intent.brand and shown and shown.lower() != intent.brand.lower():
        return "brand_conflict"
    if intent.not_brand and shown and shown.lower() == intent.not_brand.lower():
        return "alt_same_brand"
    for key in FACT_ORDER:
        if key in intent.facts and key in item.facts:
            if not fact_matches(key, intent.facts[key], item.facts[key]):
                return f"{key}_conflict"
    if intent.age is not None and item.age is not None:
        lo, hi = item.age
        if not lo <= intent.age <= hi:
            return "age_conflict"
    return None


def _soft_miss(intent: Intent, item: Item) -> str | None:
    if intent.free_from and not item.lacks(intent.free_from):
        return "negation_unstated"
    if intent.device and not item.compat:
        return "compat_unstated"
    if intent.model and not item.model:
        return "model_unstated"
    shown = item.shown_brand()
    if (intent.brand or intent.not_brand) and not shown:
        return "brand_unstated"
    if intent.not_brand and shown:
        named = brand_tier(intent.types[0], intent.not_brand) or 3
        tier = brand_tier(item.ptype, shown) or 2
        if tier >= named:
            return "alt_not_cheaper"
    for key in FACT_ORDER:
        if key in intent.facts and key not in item.facts:
            return f"{key}_unstated"
    if intent.age is not None and item.age is None:
        return "age_unstated"
    if intent.pack:
        if item.pack is None:
            return "quantity_unstated"
        if item.pack != intent.pack:
            return "quantity_mismatch"
    return None


def conflict_level(scheme: str) -> int:
    """The level an attribute conflict gets under label scheme ``scheme``."""
    if scheme not in SCHEMES:
        raise ValueError(f"no synthetic labelling line for label scheme {scheme!r}; known: {sorted(SCHEMES)}")
    return ATTRIBUTE_CONFLICT_LEVEL[SCHEMES[scheme].line]


def judge(intent: Intent, item: Item, scheme: str = DEFAULT_SCHEME.name) -> tuple[int, str]:
    """Level 1-4 of ``item`` for ``intent`` under label scheme ``scheme``, and the name of the rule
    that decided it."""
    if item.ptype in intent.types:
        substitute = False
    elif item.ptype in intent.related:
        substitute = True
    elif item.ptype in intent.complements:
        return 2, _complement_rule(intent, item)
    else:
        return 1, "category_mismatch"
    unusable = _unusable(intent, item)
    if unusable:
        return 2, unusable
    conflict = _attribute_conflict(intent, item)
    if conflict:
        return conflict_level(scheme), conflict
    if substitute:
        return 3, "related_type"
    miss = _soft_miss(intent, item)
    if miss:
        return 3, miss
    return 4, "exact"
