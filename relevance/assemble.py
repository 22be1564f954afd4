"""Turn queries and products into engine work: group by query, render one scoring group per query.

Used by the scoring core (relevance.core) so a pair is always prompted the same way. Knows
nothing about HTTP, batching or where contexts come from.
"""

from __future__ import annotations

from collections.abc import Sequence

from relevance.engines.base import ScoringGroup
from relevance.prompt import PromptRenderer
from relevance.retrieval_config import Retriever, contexts_for
from relevance.types import Product, RetrievedContext

__all__ = ["Retriever", "contexts_for", "group_by_query", "render_group"]


def group_by_query(queries: Sequence[str]) -> dict[str, list[int]]:
    """Input positions of each distinct query, in first-seen order.

    >>> group_by_query(["a", "b", "a"])
    {'a': [0, 2], 'b': [1]}
    """
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault(q, []).append(i)
    return groups


def render_group(
    renderer: PromptRenderer, query: str, products: Sequence[Product], context: RetrievedContext
) -> ScoringGroup:
    return ScoringGroup(
        prefix_ids=renderer.encode_prefix(query, context),
        suffix_ids=[renderer.encode_suffix(p, query) for p in products],
    )
