"""Synchronous relevance judging on one engine: the offline path used by eval and training.

Same assembly (retrieval, prompt, label scoring, CumPT) as the service, without HTTP or the
request batcher. `explain` forces the scored label as the first answer token and lets the
model write the rationale after it — label first, reasoning after.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from relevance.assemble import Retriever, contexts_for, group_by_query, render_group
from relevance.engines.base import Engine, GenerationRequest
from relevance.parse import ParsedAnswer, parse_answer
from relevance.prompt import FieldBudgets, PromptRenderer
from relevance.scoring import Scored, score_rows
from relevance.types import Product, RetrievedContext


class Judge:
    def __init__(self, engine: Engine, retriever: Retriever | None = None, budgets: FieldBudgets | None = None):
        self.engine = engine
        self.retriever = retriever
        self.renderer = PromptRenderer(engine.tokenizer, engine.scheme, budgets)
        self.label_ids = [engine.tokenizer.encode(e, add_special_tokens=False)[0] for e in engine.scheme.emits]

    def label_scores(self, queries: Sequence[str], products: Sequence[Product], chunk_queries: int = 16, progress=None) -> np.ndarray:
        """Label scores (n, L) for pairs given as parallel lists, grouped by query internally."""
        groups = group_by_query(queries)
        out = np.zeros((len(queries), len(self.engine.scheme.levels)), dtype=np.float32)
        items = list(groups.items())
        for start in range(0, len(items), chunk_queries):
            part = items[start : start + chunk_queries]
            contexts = contexts_for(self.retriever, [q for q, _ in part])
            work = [render_group(self.renderer, q, [products[i] for i in idx], c) for (q, idx), c in zip(part, contexts, strict=True)]
            for (_, idx), rows in zip(part, self.engine.label_scores(work), strict=True):
                out[idx] = rows
            if progress is not None:
                progress.update(sum(len(idx) for _, idx in part))
        return out

    def score_pairs(self, queries: Sequence[str], products: Sequence[Product], beta: float = 0.5, progress=None) -> list[Scored]:
        return score_rows(self.label_scores(queries, products, progress=progress), self.engine.scheme, beta)

    def explain(
        self, query: str, product: Product, level: int, context: RetrievedContext | None = None, max_new_tokens: int = 160
    ) -> ParsedAnswer:
        """The rationale the model writes after emitting `level` for this pair."""
        if context is None:
            context = contexts_for(self.retriever, [query])[0]
        prompt = self.renderer.encode(query, product, context)
        emit = self.engine.scheme.by_level(level).emit
        label_id = self.label_ids[self.engine.scheme.emits.index(emit)]
        [text] = self.engine.generate([GenerationRequest(prompt + [label_id], max_new_tokens=max_new_tokens)])
        return parse_answer(emit + text, self.engine.scheme)
