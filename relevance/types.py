"""Plain data types every package speaks: a product, a labelled (query, product) pair.

Knows nothing about models, prompts or HTTP; pydantic request models convert into these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def normal_query(query: str) -> str:
    """`query` lower-cased with its spacing collapsed: the form in which two queries are the same one.

    >>> normal_query("  iPhone   Charger ")
    'iphone charger'
    """
    return " ".join(query.lower().split())


@dataclass(frozen=True)
class Product:
    """One candidate product as the service and the trainers see it."""

    id: str
    title: str
    brand: str | None = None
    category: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class LabeledPair:
    """A (query, product) pair with a gold level on the 4-level scale (4 best, 1 worst)."""

    query: str
    product: Product
    level: int
    source: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetrievedContext:
    """What retrieval puts into a prompt for one query, already rendered as short lines.

    rules: atomic relevance rules ("A product for a different brand than the query names is 2 Mismatch").
    cases: similar labelled examples ("query: … | product: … -> 3").
    knowledge: facts about the query ("a 5 year old: toys labelled 3+ or 5+ fit").
    """

    rules: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()
    knowledge: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.rules or self.cases or self.knowledge)
