"""The serving layer: one `Service` per app — model runtime, retriever, batcher, reloader, metrics.

It runs the scoring core (relevance.core) for the routes: the CPU-side steps (retrieve,
render) on an I/O thread, `label_scores` through the request batcher onto the engine thread,
`explain` on the engine thread; it records the per-stage timings and the metrics every
backend emits. With a request deadline, admission by cost, withdrawal of abandoned work and the
fallback scorer (`TAOSR1_OVERLOAD=fallback`) come from service.overload. Routes call `score` / `explain` and never touch an engine; this module knows
nothing about HTTP schemas.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from relevance.core import Explanation, RenderedGroup
from relevance.engines.base import ScoringGroup
from relevance.listing_flags import listing_flags
from relevance.retrieval_config import Retriever
from relevance.scoring import Scored
from relevance.types import Product
from service import overload
from service.batcher import Batcher
from service.deadline import Deadline
from service.errors import ServiceError
from service.fallback_queue import FallbackQueue, time_embedder
from service.metrics import Metrics
from service.pace_probe import PaceProbe
from service.reloader import Reloader
from service.runtime import LoadedModel, ModelRuntime, load_initial, load_model
from service.settings import Settings

log = logging.getLogger("taosr1.serving")


@dataclass
class ScoredGroups:
    """What `Service.score` returns: per query group its rendering and its scored products."""

    groups: list[RenderedGroup]
    scored: list[list[Scored]]
    timings: dict[str, float]  # ms per stage: retrieval, render, queue, inference (fallback when used)
    scored_by: list[list[str]] = field(default_factory=list)  # per group, per product: "model" or "fallback"


def chunk_work(work: ScoringGroup, max_pairs: int | None) -> list[ScoringGroup]:
    """One query group's work cut into groups of at most `max_pairs` products, sharing its prefix.

    >>> [g.n for g in chunk_work(ScoringGroup([1, 2], [[3]] * 5), 2)], chunk_work(ScoringGroup([1], [[2]]), None)[0].n
    ([2, 2, 1], 1)
    """
    if not max_pairs or work.n <= max_pairs:
        return [work]
    return [ScoringGroup(work.prefix_ids, work.suffix_ids[i : i + max_pairs]) for i in range(0, work.n, max_pairs)]


class Service:
    """Everything a request handler needs, created once per app."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = Metrics()
        self.runtime = ModelRuntime()
        self.engine_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taosr1-engine")
        self.io_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="taosr1-prep")
        self.retriever: Retriever | None = None
        self.fallback: FallbackQueue | None = None  # the fallback scorer's queue, when TAOSR1_OVERLOAD=fallback
        self.batcher: Batcher | None = None
        self.load_task: asyncio.Task | None = None
        self.inflight = 0
        self.draining = False
        self.reloader = Reloader(self)
        self.pace_probe = PaceProbe(self.engine_executor, self.metrics, settings.pace_stale_s)

    def start_draining(self, why: str = "shutdown") -> None:
        if not self.draining:
            log.info("draining (%s): readiness 503, new scoring requests refused, %d in flight", why, self.inflight)
        self.draining = True
        self.metrics.ready.set(0)

    # -- lifecycle ----------------------------------------------------------------------
    def load_retriever(self) -> None:
        config = self.settings.retrieval_config
        if not config.enabled:
            return
        from retrieval.knowledge import open_retriever

        index_dir = self.settings.resolved_index_dir
        if not index_dir.is_dir():
            raise RuntimeError(
                f"retrieval indexes not found at {index_dir}: run `taosr1 index build` "
                "(make serve does), or set TAOSR1_RETRIEVAL=false"
            )
        self.retriever = open_retriever(index_dir, config)

    def load_fallback(self) -> None:
        """The fallback scorer on the retrieval embedder (TAOSR1_OVERLOAD=fallback only), timed once."""
        if self.settings.overload != "fallback":
            return
        from retrieval.embedder import Embedder
        from retrieval.fallback import FallbackScorer

        kb = getattr(self.retriever, "kb", None)
        embedder = kb.embedder if kb is not None else Embedder.load()
        index_dir = self.settings.resolved_index_dir
        scorer = FallbackScorer.open(embedder, index_dir if index_dir.is_dir() else None)
        fixed_s, text_s = time_embedder(embedder)
        self.fallback = FallbackQueue(scorer, text_s, fixed_s, on_lexical=self.metrics.fallback_lexical_pairs.inc)
        log.info(
            "fallback scorer ready (thresholds %s, %s; %.1f ms per call + %.1f ms per text)",
            scorer.calibration.thresholds, scorer.calibration.data, fixed_s * 1000, text_s * 1000,
        )

    def load(self, model_dir) -> LoadedModel:
        """Load and warm up a checkpoint with this service's retriever (blocking)."""
        return load_model(self.settings, model_dir, self.retriever)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.io_executor, self.load_retriever)
        await asyncio.get_running_loop().run_in_executor(self.io_executor, self.load_fallback)
        s = self.settings
        self.batcher = Batcher(self.engine_executor, self.metrics, s.batch_max_tokens, s.batch_max_wait_ms, s.queue_max_pairs, s.retry_after_s)
        self.batcher.start()
        self.load_task = asyncio.create_task(self._load_initial())
        self.reloader.start()

    async def _load_initial(self) -> None:
        """Serve the first good model of latest → earlier versions → the embedded default (service.runtime)."""
        loop = asyncio.get_running_loop()
        try:
            loaded, skipped = await loop.run_in_executor(self.engine_executor, load_initial, self.settings, self.retriever)
        except Exception as exc:  # a bug in the fallback itself: reported like a failed load
            log.exception("model load failed")
            loaded, skipped = None, []
            self.runtime.last_error = f"{type(exc).__name__}: {exc}"
        for s in skipped:
            self.metrics.load_skipped.labels(reason=s.kind).inc()
            self.metrics.reloads.labels(outcome="failed").inc()
        if loaded is None:
            if skipped:
                self.runtime.last_error = skipped[-1].reason
            self.reloader.note_initial(None, skipped)
            return
        self.install(loaded)
        self.reloader.note_initial(loaded, skipped)
        self.metrics.reloads.labels(outcome="loaded").inc()

    def install(self, loaded: LoadedModel) -> None:
        self.runtime.current = loaded
        self.runtime.last_error = None
        ref = loaded.ref
        self.metrics.set_model(ref.name, ref.version, ref.stage, ref.engine)
        if loaded.pace is not None:
            self.metrics.engine_tokens_per_s.set(loaded.pace.tokens_per_s)
        self.metrics.ready.set(1)

    async def stop(self) -> None:
        self.metrics.ready.set(0)
        if self.load_task and not self.load_task.done():
            self.load_task.cancel()
        await self.reloader.stop()
        if self.batcher:
            await self.batcher.stop()
        if self.runtime.current:
            self.runtime.current.engine.close()
        self.engine_executor.shutdown(wait=True)
        self.io_executor.shutdown(wait=False)
        if self.fallback is not None:
            self.fallback.close()

    # -- scoring: the core's steps, on the right threads ----------------------------------------
    async def score(
        self,
        model: LoadedModel,
        queries: list[str],
        products: Sequence[Sequence[Product]],
        beta: float,
        wait_for_room: bool,
        chunk_pairs: int | None = None,
        deadline: Deadline | None = None,
        endpoint: str = "",
        receive: overload.Receive | None = None,
        source: str = "online",
    ) -> ScoredGroups:
        """Retrieve and render (I/O thread), queue label scoring on the batcher, turn rows into scores.

        With `chunk_pairs`, each rendered group goes to the batcher as jobs of at most that many
        products, all sharing the group's one prefix (a rerank page of 1,000 documents does not
        hold the engine for one long call; other requests' jobs interleave). With a `deadline`:
        admission by cost, waiting until the deadline at most, and the fallback scorer for what
        cannot make it (service.overload); when the client disconnects (its ASGI `receive` says so)
        the request's queued work is withdrawn. `source` ("job" for a durable batch job) is what
        the batcher counts the engine time under.
        """
        loop = asyncio.get_running_loop()
        core = model.core
        t0 = time.perf_counter()

        def prepare():
            contexts = core.retrieve(queries)
            t_ret = time.perf_counter()
            return core.render(queries, products, contexts), t_ret

        groups, t_ret = await loop.run_in_executor(self.io_executor, prepare)
        t1 = time.perf_counter()
        admitted = await overload.admit_groups(self, model, groups, deadline, endpoint, chunk_pairs)
        got = await overload.engine_rows(
            self, model, groups, admitted, wait_for_room, chunk_pairs, deadline, endpoint, receive, source=source
        )
        t2 = time.perf_counter()
        started = [j.started for j in got.jobs if j.started]
        first_start = min(started) if started else t2
        timings = {
            "retrieval": (t_ret - t0) * 1000,
            "render": (t1 - t_ret) * 1000,
            "queue": max(0.0, first_start - t1) * 1000,
            "inference": (t2 - first_start) * 1000,
        }
        rows, scored_by = await overload.with_fallback(self, groups, got, len(core.scheme.levels), endpoint, timings, deadline)
        return ScoredGroups(groups, [core.rows(r, beta) for r in rows], timings, scored_by)

    async def explain(
        self, model: LoadedModel, group: RenderedGroup, scored: list[Scored], deadline: Deadline | None = None,
        skip: Sequence[str | None] | None = None,
    ) -> list[Explanation]:
        """Rationales after each product's scored level, from the prompt ids the request already rendered;
        with a deadline, only those that fit (the others say why: service.overload.explain_within)."""
        return await overload.explain_within(self, model, group, scored, deadline, skip)

    def deadline(self, deadline_ms: float | None, started: float) -> Deadline:
        """A request's deadline: its `deadline_ms`, or TAOSR1_DEADLINE_MS, from when it started."""
        s = self.settings
        return Deadline.after(s.deadline_ms if deadline_ms is None else deadline_ms, s.deadline_margin_ms, started)

    def note_deadline(self, endpoint: str, deadline: Deadline) -> None:
        """Count a deadline miss when the answer leaves after its deadline."""
        if deadline.missed():
            self.metrics.deadline_misses.labels(endpoint=endpoint).inc()

    # -- metrics ------------------------------------------------------------------------
    def record_scored(self, endpoint: str, scored: list[Scored]) -> None:
        for sc in scored:
            self.metrics.labels.labels(label=sc.label).inc()
            self.metrics.tiers.labels(tier=sc.tier).inc()
        self.metrics.pairs.labels(endpoint=endpoint, outcome="ok").inc(len(scored))

    def listing_flags(self, endpoint: str, products: Sequence[Product]) -> list[list[str]]:
        """Each product's listing flags (relevance.listing_flags), counted in taosr1_listing_flags_total."""
        out = [listing_flags(p) for p in products]
        for flags in out:
            for flag in flags:
                self.metrics.listing_flags.labels(endpoint=endpoint, flag=flag).inc()
        return out

    def count_failed_pairs(self, endpoint: str, n_pairs):
        """Route decorator: pairs of a request that fails with a ServiceError count under its kind."""

        def wrap(route):
            @functools.wraps(route)
            async def counted(req, *args, **kwargs):
                try:
                    return await route(req, *args, **kwargs)
                except ServiceError as err:
                    self.metrics.pairs.labels(endpoint=endpoint, outcome=err.kind).inc(n_pairs(req))
                    raise

            return counted

        return wrap

    def observe_stages(self, endpoint: str, timings: dict[str, float]) -> None:
        for stage, ms in timings.items():
            if stage != "total":
                self.metrics.stage_seconds.labels(endpoint=endpoint, stage=stage).observe(ms / 1000)
