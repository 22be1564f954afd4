"""Turn queries and products into engine work: group by query, retrieve once per query, render.

Shared by the service, the CLI's eval and the trainers so a pair is always prompted the same
way. Knows nothing about HTTP or batching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from relevance.engines.base import ScoringGroup
from relevance.prompt import PromptRenderer
from relevance.types import Product, RetrievedContext


class Retriever(Protocol):
    def retrieve_many(self, queries: list[str]) -> list[RetrievedContext]: ...


def group_by_query(queries: Sequence[str]) -> dict[str, list[int]]:
    """Input positions of each distinct query, in first-seen order.

    >>> group_by_query(["a", "b", "a"])
    {'a': [0, 2], 'b': [1]}
    """
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault(q, []).append(i)
    return groups


def contexts_for(retriever: Retriever | None, queries: list[str]) -> list[RetrievedContext]:
    if retriever is None or not queries:
        return [RetrievedContext() for _ in queries]
    return retriever.retrieve_many(queries)


def render_group(
    renderer: PromptRenderer, query: str, products: Sequence[Product], context: RetrievedContext
) -> ScoringGroup:
    return ScoringGroup(
        prefix_ids=renderer.encode_prefix(query, context),
        suffix_ids=[renderer.encode_suffix(p) for p in products],
    )
