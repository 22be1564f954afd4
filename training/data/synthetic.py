"""Seeded synthetic (query, product, level) pairs covering what TaoSR1 targets.

Query families: generic, brand, attribute (size, color, capacity, material, gender),
quantity, negation ("shampoo without sulfates"), alternative ("cheaper alternative to
dyson"), compatibility ("case for iphone 8"), main item ("iphone 13" vs its case) and
knowledge ("gift for a 5 year old"). Each query gets products aimed at every level; the
level itself comes only from rules.judge, whose rule name leads the pair's tags, followed by
``family:<name>`` and the query's constraints. Same arguments, same pairs.

Training conflicts pick the nearest wrong value (iPhone 13 Pro for iPhone 13), and most
wanted-type listings name their type in the query's own words, as real listings do; so a
real Substitute (the query's words but one) has synthetic look-alikes at level 3.
``generate_hard_set`` words queries with a disjoint template set and a separate random
stream, with more conflicts and no echoed type names, so it can serve as a held-out
evaluation set.
This module orchestrates; vocabulary, wording, rendering and rules live in catalogue.py,
queries.py, render.py and rules.py.

    python -m training.data.synthetic out.jsonl --queries 200 --per-query 8 --seed 0 [--hard]
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from relevance.datasets.jsonl import save_jsonl
from relevance.labels import DEFAULT_SCHEME
from relevance.types import LabeledPair
from training.data.catalogue import TYPES
from training.data.items import build_item
from training.data.queries import FAMILIES, SOFT_FAMILIES, Split, build_query, with_soft_qualifier
from training.data.render import render
from training.data.rules import Intent, conflict_level, judge

# How often each relation is aimed at; tuned so levels 4/3/2/1 land near 37/30/13/20 (real
# search pages are mostly Exact; an attribute conflict is a level-3 substitute).
TRAIN_MIX: dict[str, float] = {
    "exact": 0.36,
    "soft": 0.10,
    "related": 0.09,
    "conflict": 0.15,
    "complement": 0.11,
    "irrelevant": 0.19,
}
HARD_MIX: dict[str, float] = {
    "exact": 0.24,
    "soft": 0.16,
    "related": 0.12,
    "conflict": 0.26,
    "complement": 0.08,
    "irrelevant": 0.14,
}

# How often a product of a wanted type is titled with the query's own name for the type, as
# real listings mostly are ("16 x 16 frames" → "… Picture Frame …"). Applied alike at every
# level, so the words a listing leaves out are its missing details, not a paraphrased type.
ECHO_TYPE_NAME = 0.6

SOURCE = "synthetic"
HARD_SOURCE = "synthetic-hard"


def _queries(n: int, rng: random.Random, split: Split, families: Sequence[str]) -> list[Intent]:
    seen: set[str] = set()
    out: list[Intent] = []
    for i in range(n):
        family = families[i % len(families)]
        intent = build_query(family, rng, split)
        for _ in range(30):
            if intent.text not in seen:
                break
            intent = build_query(family, rng, split)
        seen.add(intent.text)
        out.append(intent)
    return out


def _pairs(
    intents: list[Intent],
    products_per_query: int,
    rng: random.Random,
    mix: dict[str, float],
    id_prefix: str,
    source: str,
    near_miss: bool,
    echo: float = 0.0,
    scheme: str = DEFAULT_SCHEME.name,
) -> list[LabeledPair]:
    relations, weights = list(mix), list(mix.values())
    pairs: list[LabeledPair] = []
    counter = 0
    for intent in intents:
        for _ in range(products_per_query):
            relation = rng.choices(relations, weights=weights)[0]
            item = build_item(intent, relation, rng, near_miss=near_miss)
            level, rule = judge(intent, item, scheme)
            noun = _query_type_name(intent, item.ptype) if echo and rng.random() < echo else None
            product = render(item, f"{id_prefix}-{counter:06d}", rng, noun)
            counter += 1
            pairs.append(
                LabeledPair(query=intent.text, product=product, level=level, source=source, tags=(rule, *intent.tags()))
            )
    return pairs


def _query_type_name(intent: Intent, ptype: str) -> str | None:
    """The query's own words for ``ptype`` when the query names a wanted type, else None."""
    if ptype not in intent.types:
        return None
    text = f" {intent.text.lower()} "
    named = [name for name, _ in TYPES[ptype].query if f" {name.lower()} " in text]
    return max(named, key=len) if named else None


def _soft_qualified(intents: list[Intent], share: float, seed: int) -> list[Intent]:
    """``share`` of the plain product queries with a soft word added, from a random stream of their
    own: every other draw of the generator, and so every product and level, is what it was without."""
    rng = random.Random(f"taosr1-soft-{seed}")
    return [with_soft_qualifier(i, rng) if i.family in SOFT_FAMILIES and rng.random() < share else i for i in intents]


def _check(n_queries: int, products_per_query: int) -> None:
    if n_queries < 0 or products_per_query < 1:
        raise ValueError(f"need n_queries >= 0 and products_per_query >= 1, got {n_queries} and {products_per_query}")


def generate(
    n_queries: int,
    products_per_query: int,
    seed: int,
    echo: float = ECHO_TYPE_NAME,
    scheme: str = DEFAULT_SCHEME.name,
    soft: float = 0.0,
) -> list[LabeledPair]:
    """``n_queries * products_per_query`` training pairs; families round-robin, deterministic.

    Conflicts pick the nearest wrong value; ``echo`` is how often a wanted-type product is titled
    with the query's own name for its type (ECHO_TYPE_NAME); ``scheme`` is the label scheme whose
    line the levels follow (rules.ATTRIBUTE_CONFLICT_LEVEL); ``soft`` is the share of plain product
    queries worded with a soft word no listing needs to repeat (queries.with_soft_qualifier; 0
    leaves every pair as it was)."""
    _check(n_queries, products_per_query)
    conflict_level(scheme)
    if not 0.0 <= soft <= 1.0:
        raise ValueError(f"soft must be a share in [0, 1], got {soft}")
    rng = random.Random(seed)
    intents = _queries(n_queries, rng, "train", FAMILIES)
    if soft:
        intents = _soft_qualified(intents, soft, seed)
    return _pairs(
        intents, products_per_query, rng, TRAIN_MIX, f"SYN{seed}", SOURCE, near_miss=True, echo=echo, scheme=scheme
    )


def generate_hard_set(
    n_queries: int, products_per_query: int, seed: int = 0, scheme: str = DEFAULT_SCHEME.name
) -> list[LabeledPair]:
    """Held-out pairs: hard-split templates (no query string shared with ``generate``), an
    independent random stream, more conflicts and nearest-value conflicts. The scheme changes
    levels only: the queries and products are the same under every scheme."""
    _check(n_queries, products_per_query)
    conflict_level(scheme)
    rng = random.Random(f"taosr1-hard-{seed}")
    intents = _queries(n_queries, rng, "hard", FAMILIES)
    return _pairs(intents, products_per_query, rng, HARD_MIX, f"HARD{seed}", HARD_SOURCE, near_miss=True, scheme=scheme)


def balance_by_level(pairs: Sequence[LabeledPair], seed: int, per_level: int | None = None) -> list[LabeledPair]:
    """Resample so each level present has ``per_level`` pairs (default: the largest level's count).

    Levels above the target are down-sampled without replacement; levels below keep all
    their pairs and are topped up by sampling them with replacement. Levels absent from
    ``pairs`` stay absent. The result is shuffled; same seed, same result.

    >>> from relevance.types import LabeledPair, Product
    >>> ps = [LabeledPair("q", Product(str(i), "t"), 4 if i < 3 else 1) for i in range(4)]
    >>> sorted(p.level for p in balance_by_level(ps, seed=0))
    [1, 1, 1, 4, 4, 4]
    """
    by_level: dict[int, list[LabeledPair]] = defaultdict(list)
    for pair in pairs:
        by_level[pair.level].append(pair)
    if not by_level:
        return []
    target = per_level if per_level is not None else max(len(v) for v in by_level.values())
    if target < 0:
        raise ValueError(f"per_level must be >= 0, got {target}")
    rng = random.Random(seed)
    out: list[LabeledPair] = []
    for level in sorted(by_level, reverse=True):
        group = by_level[level]
        if len(group) >= target:
            out.extend(rng.sample(group, target))
        else:
            out.extend(group)
            out.extend(rng.choices(group, k=target - len(group)))
    rng.shuffle(out)
    return out


def write_synthetic(path: str | Path, n_queries: int, products_per_query: int, seed: int, hard: bool = False) -> int:
    """Generate (or, with ``hard``, generate the hard set) and write JSONL; returns the count."""
    make = generate_hard_set if hard else generate
    return save_jsonl(make(n_queries, products_per_query, seed), path)
