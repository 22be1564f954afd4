"""The fallback scorer's queue: concurrent requests' fallback pairs scored together, each by its deadline.

Under overload (`TAOSR1_OVERLOAD=fallback`) many requests reach the fallback at about the same
moment: a burst that the engine cannot take falls back all at once. So the fallback has one
worker thread (its MiniLM calls never compete with each other for the two cores) and one queue:
while a call runs, new requests' pairs wait, and the next call takes everything that waited as
one batch (the embedder's cost per text falls as the batch grows; product texts already embedded
lately come from the scorer's cache). A call embeds at most MAX_CALL_TEXTS texts, so the plan
for what waits is redone every fraction of a second on the pace just measured.

The embedder has a pace too, and a burst can outrun it. Every request says when its rows are due
(`expires`); the queue predicts when a call would finish — the call running now, then
`fixed_s` + `text_s` per product text still to embed — and a request whose rows would be late
is scored by the lexical tier at once instead (`scorer.quick_label_scores`, no model), so
the fallback answers within the deadline however deep the burst. Within a call, requests are
taken earliest deadline first. `text_s` is measured (moving average over calls); `reserve_s` is
the time a request keeps back for the fallback: the work queued ahead of it and its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from relevance.types import Product

#: fixed cost of one embedder call when nothing better is measured (event-loop and thread hops, tokenizer)
FIXED_S = 0.01
#: weight of the newest call in the per-text cost's moving average
EWMA = 0.3
#: the most product texts one embedder call takes (more wait for the next call, planned on the pace just measured)
MAX_CALL_TEXTS = 64
#: calls that embed fewer texts than this do not update the per-text cost (their fixed part dominates)
MIN_TEXTS_TO_MEASURE = 4


def time_embedder(embedder, texts: int = 16, chars: int = 1000) -> tuple[float, float]:
    """(fixed s per call, s per text) of `embedder.encode`, from one text and from `texts` distinct ones
    (each timed on its second pass, so warm-up costs are not counted). The texts are `chars` long —
    past the embedder's window (128 tokens), as listings with descriptions are — so the per-text cost
    starts as an upper bound; every call's measurement then moves it towards the real mix."""
    filler = ("usb c charging cable 1m garden hose 15m " * (chars // 30 + 1))[:chars]
    batch = [f"{i} {filler}" for i in range(texts)]
    timings = []
    for sample in (batch[:1], batch):
        for _ in range(2):
            t = time.perf_counter()
            embedder.encode(sample)
            elapsed = time.perf_counter() - t
        timings.append(elapsed)
    one, many = timings
    text_s = max((many - one) / (texts - 1), 1e-5)
    return max(one - text_s, 1e-4), text_s


@dataclass
class _Waiting:
    queries: Sequence[str]
    products: Sequence[Product]
    future: asyncio.Future
    expires: float | None  # perf_counter time the rows are due by; None: no deadline


class FallbackQueue:
    """Coalesces concurrent `score` calls into embedder calls on a dedicated thread, the late ones lexical.

    `on_lexical(pairs)` is called with the number of pairs each time the lexical tier scores some."""

    def __init__(self, scorer, text_s: float, fixed_s: float = FIXED_S, on_lexical: Callable[[int], None] | None = None):
        self.scorer = scorer
        self.text_s = text_s
        self.fixed_s = fixed_s
        self.on_lexical = on_lexical
        self.pending_pairs = 0
        self.lexical_pairs = 0
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task | None = None
        self._busy_until = 0.0  # predicted end of the call running now (perf_counter)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taosr1-fallback")

    def reserve_s(self, pairs: int) -> float:
        """Seconds a request keeps back so `pairs` of its own can be fallback-scored after the work queued ahead
        (every pair counted as a text to embed: an upper bound when the cache holds some)."""
        return self.text_s * (self.pending_pairs + pairs) + self.fixed_s

    def _needs(self, w: _Waiting) -> set[tuple[str, str]]:
        """What an embedder call for a request's pairs encodes: its distinct queries and its product texts not
        cached (each request's once: `_plan` unions them, so a plan is one pass over the waiting products)."""
        return {("query", q) for q in w.queries} | {("product", t) for t in self.scorer.missing_texts(w.products)}

    def _call_s(self, texts: int) -> float:
        return self.fixed_s + self.text_s * texts if texts else 0.0

    def _quick(self, w: _Waiting) -> None:
        """Score a request's pairs with the lexical tier now (on the event loop: ~0.26 ms per pair with a long description)."""
        if not w.future.done():
            w.future.set_result(self.scorer.quick_label_scores(w.queries, w.products))
            self.lexical_pairs += len(w.queries)
            if self.on_lexical is not None:
                self.on_lexical(len(w.queries))

    async def score(self, queries: Sequence[str], products: Sequence[Product], expires: float | None = None) -> np.ndarray:
        """(n, 4) logits for the pairs: from the next embedder call together with whatever else is waiting,
        or from the lexical tier when that call could not deliver them by `expires`."""
        if not queries:
            return np.zeros((0, 4))
        future = asyncio.get_running_loop().create_future()
        waiting = _Waiting(queries, products, future, expires)
        start = max(time.perf_counter(), self._busy_until)
        if expires is not None and start + self._call_s(len(self._needs(waiting))) > expires:
            self._quick(waiting)  # even alone, the next call would be late
            return await future
        self._waiting.append(waiting)
        self.pending_pairs += len(queries)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    def _plan(self, batch: list[_Waiting]) -> tuple[list[_Waiting], int, list[_Waiting]]:
        """Of `batch`, earliest deadline first: the requests the next embedder call serves in time (at most
        MAX_CALL_TEXTS texts, at least one request), the texts it embeds, and those left for the call after;
        a request no call could serve in time is scored lexically now."""
        live = sorted((w for w in batch if not w.future.done()), key=lambda w: (w.expires is None, w.expires or 0.0))
        now, taken, later, needs = time.perf_counter(), [], [], set()
        for w in live:
            own = self._needs(w)
            if now + self._call_s(len(own)) > (w.expires if w.expires is not None else float("inf")):
                self._quick(w)  # late even in a call of its own
                continue
            more = len(needs | own)
            if taken and (more > MAX_CALL_TEXTS or (w.expires is not None and now + self._call_s(more) > w.expires)):
                later.append(w)  # the next call, planned again when this one is done
                continue
            taken.append(w)
            needs |= own
        texts = len(needs)
        return taken, texts, later

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting, []
            live: list[_Waiting] = []
            later: list[_Waiting] = []
            try:
                live, texts, later = self._plan(batch)
                self._waiting = later + self._waiting
                if live:
                    queries = [q for w in live for q in w.queries]
                    products = [p for w in live for p in w.products]
                    t = time.perf_counter()
                    self._busy_until = t + self._call_s(texts)
                    rows = await loop.run_in_executor(self._executor, self.scorer.label_scores, queries, products)
                    if texts >= MIN_TEXTS_TO_MEASURE:
                        per_text = max(0.0, time.perf_counter() - t - self.fixed_s) / texts
                        self.text_s += EWMA * (per_text - self.text_s)
                    start = 0
                    for w in live:
                        stop = start + len(w.queries)
                        if not w.future.done():
                            w.future.set_result(rows[start:stop])
                        start = stop
            except Exception as exc:  # the scorer failed: every request in the call fails with it
                for w in live:
                    if not w.future.done():
                        w.future.set_exception(exc)
            finally:
                self._busy_until = 0.0
                kept = {id(w) for w in later}
                self.pending_pairs -= sum(len(w.queries) for w in batch if id(w) not in kept)

    def close(self) -> None:
        self._executor.shutdown(wait=False)
