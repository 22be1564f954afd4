"""The fallback scorer's queue: concurrent requests' fallback pairs scored together, on a thread of their own.

Under overload (`TAOSR1_OVERLOAD=fallback`) many requests reach the fallback at about the same
moment: a burst that the engine cannot take falls back all at once. Scored one request at a
time, each waits behind every call ahead of it, and the last answer misses its deadline by the
sum of them. So the fallback has one worker thread (its MiniLM calls never compete with each
other or with retrieval's for the two cores) and one queue: while a call runs, new requests'
pairs wait, and the next call takes everything that waited as one batch — the cost per pair
falls as the load grows, and no request waits longer than the call before it plus its own.

`pair_s` is the measured cost per pair (moving average over calls), `pending_pairs` what is
queued or being scored; `reserve_s` is the time a request keeps back for the fallback: the
work ahead of it and its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from relevance.types import Product

#: fixed part of the time kept for the fallback (event-loop and thread hops), on top of the per-pair cost
FIXED_S = 0.01
#: weight of the newest call in the per-pair cost's moving average
EWMA = 0.3


@dataclass
class _Waiting:
    queries: Sequence[str]
    products: Sequence[Product]
    future: asyncio.Future


class FallbackQueue:
    """Coalesces concurrent `score` calls into one `scorer.label_scores` call on a dedicated thread."""

    def __init__(self, scorer, pair_s: float):
        self.scorer = scorer
        self.pair_s = pair_s
        self.pending_pairs = 0
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taosr1-fallback")

    def reserve_s(self, pairs: int) -> float:
        """Seconds a request keeps back so `pairs` of its own can be fallback-scored after the work queued ahead."""
        return self.pair_s * (self.pending_pairs + pairs) + FIXED_S

    async def score(self, queries: Sequence[str], products: Sequence[Product]) -> np.ndarray:
        """(n, 4) logits for the pairs, scored in the next call together with whatever else is waiting."""
        if not queries:
            return np.zeros((0, 4))
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(queries, products, future))
        self.pending_pairs += len(queries)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting, []
            live = [w for w in batch if not w.future.done()]  # a request cancelled meanwhile is skipped
            n = sum(len(w.queries) for w in batch)
            try:
                if live:
                    queries = [q for w in live for q in w.queries]
                    products = [p for w in live for p in w.products]
                    t = time.perf_counter()
                    rows = await loop.run_in_executor(self._executor, self.scorer.label_scores, queries, products)
                    self.pair_s += EWMA * ((time.perf_counter() - t) / len(queries) - self.pair_s)
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
                self.pending_pairs -= n

    def close(self) -> None:
        self._executor.shutdown(wait=False)
