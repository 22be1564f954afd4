"""Dynamic micro-batching: concurrent requests' query groups are merged into engine calls.

Requests put `Job`s (one query group each, bound to the model that was serving when they
were accepted) on a queue bounded in pairs; when admitting a job would exceed the bound the
submitter gets `Overloaded` (→ 429 with Retry-After) unless it asked to wait for room
(the offline batch endpoint does). One worker takes jobs until the token budget is full or
the wait time has passed, runs them on the engine in a thread, and resolves the futures.

Deadlines: a job may carry the time it `expires` (its request's deadline). Work whose request
has given up (`withdraw`, or its future cancelled) or expired leaves the queue without being
computed, and the queue depth drops at once. Every completed engine call feeds the serving
model's measured pace (work tokens/s: a group's prefix once, plus its suffixes), which admission by cost (service.deadline) reads
together with `pending_tokens`, the work queued ahead.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from relevance.engines.base import ScoringGroup
from service.errors import EngineFailure, Overloaded
from service.metrics import Metrics


def work_tokens(group: ScoringGroup) -> int:
    """The tokens an engine computes for a group: its shared prefix once, then each product's suffix.

    Admission by cost measures and predicts in these units (service.deadline.Pace).

    >>> work_tokens(ScoringGroup([1, 2, 3], [[4], [5, 6]]))
    6
    """
    return len(group.prefix_ids) + sum(len(s) for s in group.suffix_ids)


@dataclass
class Job:
    group: ScoringGroup
    model: object  # the runtime's LoadedModel that must score this job
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)
    started: float = 0.0
    expires: float | None = None  # perf_counter time after which the result is of no use
    source: str = "online"  # online | job (a durable batch job, service.jobs): engine time is counted per source

    def dead(self, now: float) -> bool:
        """Given up (future cancelled or resolved) or expired before it started."""
        return self.future.done() or (self.expires is not None and now >= self.expires)


class Batcher:
    def __init__(
        self,
        executor: ThreadPoolExecutor,
        metrics: Metrics,
        max_batch_tokens: int,
        max_wait_ms: float,
        max_queue_pairs: int,
        retry_after_s: int,
    ):
        self.executor = executor
        self.metrics = metrics
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue_pairs = max_queue_pairs
        self.retry_after_s = retry_after_s
        self._queue: deque[Job] = deque()
        self._pending_pairs = 0
        self._pending_tokens = 0
        self._wakeup = asyncio.Event()
        self._room = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self._closed = False

    @property
    def pending_pairs(self) -> int:
        return self._pending_pairs

    @property
    def pending_tokens(self) -> int:
        """Work tokens (`work_tokens`) queued or being scored: the work ahead of a new request."""
        return self._pending_tokens

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="taosr1-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        self._closed = True
        self._wakeup.set()
        if self._task:
            await self._task

    async def submit(
        self,
        groups: list[ScoringGroup],
        model: object,
        wait_for_room: bool = False,
        expires: float | None = None,
        source: str = "online",
    ) -> list[Job]:
        """Queue all groups of one request atomically; returns their jobs (await job.future).

        Waiting for room (`wait_for_room`) ends at `expires`, with `Overloaded`.
        """
        n = sum(g.n for g in groups)
        if self._pending_pairs + n > self.max_queue_pairs and self._pending_pairs > 0:
            overloaded = Overloaded(
                f"{self._pending_pairs} pairs are waiting for the engine (limit {self.max_queue_pairs})",
                fix=f"retry after {self.retry_after_s}s, or send fewer products per second",
                retry_after_s=self.retry_after_s,
            )
            if not wait_for_room:
                raise overloaded
            timeout = None if expires is None else max(0.0, expires - time.perf_counter())
            try:
                async with asyncio.timeout(timeout), self._room:
                    await self._room.wait_for(lambda: self._pending_pairs == 0 or self._pending_pairs + n <= self.max_queue_pairs)
            except TimeoutError:
                raise overloaded from None
        loop = asyncio.get_running_loop()
        jobs = [Job(g, model, loop.create_future(), expires=expires, source=source) for g in groups]
        self._queue.extend(jobs)
        self._count(n, sum(work_tokens(g) for g in groups))
        self._wakeup.set()
        return jobs

    def withdraw(self, jobs: list[Job]) -> int:
        """Take jobs that have not started off the queue (their request gave up); returns how many pairs left."""
        gone = {id(j) for j in jobs if not j.started}
        if not gone:
            return 0
        kept, pairs, tokens = deque(), 0, 0
        for job in self._queue:
            if id(job) in gone:
                pairs, tokens = pairs + job.group.n, tokens + work_tokens(job.group)
                if not job.future.done():
                    job.future.cancel()
            else:
                kept.append(job)
        self._queue = kept
        if pairs:
            self._count(-pairs, -tokens)
            self._notify_room()
        return pairs

    def _count(self, pairs: int, tokens: int) -> None:
        self._pending_pairs += pairs
        self._pending_tokens += tokens
        self.metrics.queue_depth.set(self._pending_pairs)

    def _notify_room(self) -> None:
        async def notify() -> None:
            async with self._room:
                self._room.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def _drop_dead(self) -> None:
        """Jobs whose request gave up or whose deadline passed leave the queue uncomputed."""
        now = time.perf_counter()
        dead = [j for j in self._queue if j.dead(now)]
        if dead:
            self.withdraw(dead)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait_s > 0 and self._batch_tokens_available() < self.max_batch_tokens:
                await asyncio.sleep(self.max_wait_s)
            self._drop_dead()
            if not self._queue:
                continue
            batch = self._take_batch()
            await self._execute(batch)

    def _batch_tokens_available(self) -> int:
        return sum(j.group.tokens for j in self._queue)

    def _take_batch(self) -> list[Job]:
        first = self._queue.popleft()
        batch, tokens = [first], first.group.tokens
        while self._queue and self._queue[0].model is first.model:
            nxt = self._queue[0]
            if tokens + nxt.group.tokens > self.max_batch_tokens:
                break
            batch.append(self._queue.popleft())
            tokens += nxt.group.tokens
        return batch

    async def _execute(self, batch: list[Job]) -> None:
        model = batch[0].model
        now = time.perf_counter()
        for job in batch:
            job.started = now
        groups = [j.group for j in batch]
        tokens = sum(work_tokens(g) for g in groups)
        self.metrics.batch_pairs.observe(sum(g.n for g in groups))
        self.metrics.batch_tokens.observe(sum(g.tokens for g in groups))
        loop = asyncio.get_running_loop()
        try:
            rows: list[np.ndarray] = await loop.run_in_executor(self.executor, model.engine.label_scores, groups)
            self._count_engine_time(batch, time.perf_counter() - now)
        except Exception as exc:  # the engine failed: fail these jobs, keep serving
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(EngineFailure(f"engine failed: {exc!r}", fix="retry; see server logs"))
        else:
            pace = getattr(model, "pace", None)
            if pace is not None:
                pace.observe_scoring(tokens, time.perf_counter() - now)
                self.metrics.engine_tokens_per_s.set(pace.tokens_per_s)
            for job, r in zip(batch, rows, strict=True):
                if not job.future.done():
                    job.future.set_result(r)
        finally:
            self._count(-sum(g.n for g in groups), -tokens)
            async with self._room:
                self._room.notify_all()

    def _count_engine_time(self, batch: list[Job], seconds: float) -> None:
        """Engine seconds per source (online, job), split by pairs when one call served both."""
        total = sum(j.group.n for j in batch) or 1
        for job in batch:
            self.metrics.engine_seconds.labels(source=job.source).inc(seconds * job.group.n / total)
