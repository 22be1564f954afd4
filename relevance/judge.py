"""Synchronous relevance judging on one engine: the offline path used by eval and training.

A thin face of the scoring core (relevance.core) with eval's calls: the same retrieval,
prompt, label scoring and CumPT as the service, without HTTP or the request batcher.
`explain` forces the scored label as the first answer token, then the rationale's opener
(`relevance.prompt.RATIONALE_OPENER`, as every training target starts), and lets the model
write the rest — label first, reasoning after.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from relevance.core import ScoringCore
from relevance.engines.base import Engine
from relevance.parse import ParsedAnswer
from relevance.prompt import FieldBudgets, PromptRenderer
from relevance.retrieval_config import Retriever
from relevance.scoring import DEFAULT_BETA, Scored
from relevance.types import Product, RetrievedContext


class Judge:
    def __init__(
        self, engine: Engine, retriever: Retriever | None = None, budgets: FieldBudgets | None = None,
        renderer: PromptRenderer | None = None,
    ):
        self.core = ScoringCore(engine, retriever, renderer=renderer, budgets=budgets)
        self.engine = engine
        self.retriever = retriever
        self.renderer = self.core.renderer

    def label_scores(self, queries: Sequence[str], products: Sequence[Product], chunk_queries: int = 16, progress=None) -> np.ndarray:
        """Label scores (n, L) for pairs given as parallel lists, grouped by query internally."""
        return self.core.pair_label_scores(queries, products, chunk_queries, progress)

    def score_pairs(self, queries: Sequence[str], products: Sequence[Product], beta: float = DEFAULT_BETA, progress=None) -> list[Scored]:
        return self.core.score_pairs(queries, products, beta, progress)

    def explain(
        self, query: str, product: Product, level: int, context: RetrievedContext | None = None, max_new_tokens: int = 160
    ) -> ParsedAnswer:
        """The rationale the model writes after emitting `level` for this pair."""
        contexts = self.core.retrieve([query]) if context is None else [context]
        [group] = self.core.render([query], [[product]], contexts)
        [request] = self.core.explain_requests(group, [level], max_new_tokens)
        [text] = self.engine.generate([request])
        return self.core.parse_explanation(level, text)
