"""The scoring core: retrieve → render → label scores → rows → explain, for every caller.

HTTP routes (through the request batcher), `/relevance/batch`, eval (`Judge`), the reload
canary and the warm-up pass all score through `ScoringCore`, so a pair is retrieved for,
prompted, scored and explained the same way everywhere. Each step is its own method so a
caller that must put something between two steps (the service queues `label_scores` on its
batcher; a deadline could stop before `explain`) calls them one by one; `score_pairs` runs
them all synchronously. Explain reuses the prompt ids the request already rendered and the
engine's label token ids — nothing is encoded twice.

Knows nothing about HTTP, batching, threads, or where retrieval's indexes live (contexts come
through the `Retriever` protocol).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from relevance.assemble import group_by_query, render_group
from relevance.engines.base import Engine, GenerationRequest, ScoringGroup
from relevance.manifest import trained_retrieval
from relevance.parse import ParsedAnswer, parse_answer
from relevance.prompt import RATIONALE_OPENER, FieldBudgets, PromptRenderer
from relevance.retrieval_config import Retriever, contexts_for
from relevance.scoring import DEFAULT_BETA, Scored, score_rows
from relevance.types import LabeledPair, Product, RetrievedContext

#: products the warm-up pass scores (two, so the shared-prefix path runs)
WARM_UP = ("usb c cable", (Product(id="warm-1", title="USB-C charging cable 1m"), Product(id="warm-2", title="Garden hose 15m")))


@dataclass(frozen=True)
class RenderedGroup:
    """One query's products, the context retrieved for it, and the engine work rendered from them."""

    query: str
    products: tuple[Product, ...]
    context: RetrievedContext
    work: ScoringGroup

    def prompt_ids(self, i: int) -> list[int]:
        """The full prompt of product `i`, exactly as it was scored."""
        return self.work.prefix_ids + self.work.suffix_ids[i]


@dataclass(frozen=True)
class Explanation:
    reasoning: str | None = None
    error: str | None = None


class ScoringCore:
    """One engine (and optionally a retriever) behind the five scoring steps."""

    def __init__(
        self,
        engine: Engine,
        retriever: Retriever | None = None,
        renderer: PromptRenderer | None = None,
        budgets: FieldBudgets | None = None,
    ):
        self.engine = engine
        self.retriever = retriever
        if renderer is None:  # the prompt the checkpoint was trained on, coverage line included or not
            renderer = PromptRenderer.for_retrieval(engine.tokenizer, engine.scheme, trained_retrieval(engine.manifest), budgets)
        self.renderer = renderer
        self.scheme = engine.scheme
        self.opener_ids = engine.tokenizer.encode(RATIONALE_OPENER, add_special_tokens=False)

    # -- the steps ------------------------------------------------------------------------
    def retrieve(self, queries: list[str]) -> list[RetrievedContext]:
        return contexts_for(self.retriever, queries)

    def render(
        self, queries: Sequence[str], products: Sequence[Sequence[Product]], contexts: Sequence[RetrievedContext]
    ) -> list[RenderedGroup]:
        return [
            RenderedGroup(q, tuple(ps), c, render_group(self.renderer, q, ps, c))
            for q, ps, c in zip(queries, products, contexts, strict=True)
        ]

    def prepare(self, queries: Sequence[str], products: Sequence[Sequence[Product]]) -> list[RenderedGroup]:
        """Retrieve once per query, then render: the CPU-side work before the engine."""
        return self.render(queries, products, self.retrieve(list(queries)))

    def label_scores(self, groups: Sequence[RenderedGroup]) -> list[np.ndarray]:
        """One (n_products, L) row block per group, straight from the engine (blocking)."""
        return self.engine.label_scores([g.work for g in groups])

    def rows(self, rows: np.ndarray, beta: float = DEFAULT_BETA) -> list[Scored]:
        return score_rows(np.asarray(rows), self.scheme, beta)

    def explain_request(self, group: RenderedGroup, i: int, level: int, max_new_tokens: int) -> GenerationRequest:
        """The generation request for product `i`: its prompt, `level` forced as the first answer
        token and the rationale's opener (`RATIONALE_OPENER`, as every training target has it) after it."""
        forced = [self.label_id(level), *self.opener_ids]
        return GenerationRequest(group.prompt_ids(i) + forced, max_new_tokens=max_new_tokens)

    def explain_requests(self, group: RenderedGroup, levels: Sequence[int], max_new_tokens: int) -> list[GenerationRequest]:
        """One `explain_request` per product of the group, product i forced to `levels[i]`."""
        return [self.explain_request(group, i, level, max_new_tokens) for i, level in enumerate(levels)]

    def parse_explanation(self, level: int, text: str) -> ParsedAnswer:
        """The answer a generation completed: the forced label and opener, then the model's `text`."""
        return parse_answer(self.scheme.by_level(level).emit + RATIONALE_OPENER + text, self.scheme)

    def parse_explanations(self, levels: Sequence[int], texts: Sequence[str]) -> list[Explanation]:
        out = []
        for level, text in zip(levels, texts, strict=True):
            parsed = self.parse_explanation(level, text)
            out.append(Explanation(parsed.reasoning, parsed.error))
        return out

    def explain(self, group: RenderedGroup, levels: Sequence[int], max_new_tokens: int = 160) -> list[Explanation]:
        """The rationale the model writes after emitting each product's level (blocking)."""
        texts = self.engine.generate(self.explain_requests(group, levels, max_new_tokens))
        return self.parse_explanations(levels, texts)

    def label_id(self, level: int) -> int:
        return self.engine.label_ids[self.scheme.level_values.index(level)]

    # -- whole paths ----------------------------------------------------------------------
    def pair_label_scores(
        self, queries: Sequence[str], products: Sequence[Product], chunk_queries: int = 16, progress=None
    ) -> np.ndarray:
        """Label scores (n, L) for pairs given as parallel lists, grouped by query internally."""
        out = np.zeros((len(queries), len(self.scheme.levels)), dtype=np.float32)
        items = list(group_by_query(queries).items())
        for start in range(0, len(items), chunk_queries):
            part = items[start : start + chunk_queries]
            groups = self.prepare([q for q, _ in part], [[products[i] for i in idx] for _, idx in part])
            for (_, idx), rows in zip(part, self.label_scores(groups), strict=True):
                out[idx] = rows
            if progress is not None:
                progress.update(sum(len(idx) for _, idx in part))
        return out

    def score_pairs(
        self, queries: Sequence[str], products: Sequence[Product], beta: float = DEFAULT_BETA, progress=None
    ) -> list[Scored]:
        return self.rows(self.pair_label_scores(queries, products, progress=progress), beta)

    def predict_levels(self, pairs: Sequence[LabeledPair]) -> list[int]:
        """Argmax levels of labelled pairs, each prompted alone as serving prompts it (the canary)."""
        groups = self.prepare([p.query for p in pairs], [[p.product] for p in pairs])
        levels = self.scheme.level_values
        return [levels[int(np.argmax(rows[0]))] for rows in self.label_scores(groups)]

    def warm_up(self) -> None:
        """One real scoring pass (two products, shared prefix, no retrieval); raises if unusable."""
        query, products = WARM_UP
        [rows] = self.label_scores(self.render([query], [products], [RetrievedContext()]))
        if rows.shape != (len(products), len(self.scheme.levels)) or not np.isfinite(rows).all():
            raise RuntimeError(f"warm-up scoring returned unusable scores {rows!r}")
