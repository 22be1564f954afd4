"""Scoring within a deadline: admission by cost, withdrawal of abandoned work, degrading to the fallback.

`Service.score` (service.serving) calls these steps between rendering and turning rows into
scores when a request has a deadline:

1. `admit_groups` — admission by cost (service.deadline.admit) against the serving model's
   measured pace and the tokens queued ahead. `TAOSR1_OVERLOAD=reject`: a request that cannot
   finish in time is refused — 422 naming `deadline_ms` and how many products would fit when it
   never could, 429 with Retry-After while the queue is in the way. `fallback`: the products
   that do not fit go to the fallback scorer.
2. `engine_rows` — the admitted products go to the batcher with the time they expire; the
   request waits until then at most, and withdraws whatever is still queued when it stops
   waiting (deadline, client gone, handler cancelled), so abandoned work is never computed.
   Past the deadline: 504 (`reject`) or the fallback (`fallback`).
3. `with_fallback` — the fallback scorer (retrieval.fallback, through its coalescing queue:
   service.fallback_queue) scores the rest;
   every product is marked `model` or `fallback`.
4. `explain_within` — rationales that fit in the time left; the others say why they are missing.

Time is kept for the fallback itself: in `fallback` mode the engine's share of the budget ends
early by the measured fallback cost of the request's pairs and of the fallback work queued ahead.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from relevance.core import Explanation, RenderedGroup
from relevance.engines.base import ScoringGroup
from relevance.scoring import Scored
from service.batcher import Job
from service.deadline import Deadline, ExplainPlan, admit, explain_plan, retry_after
from service.errors import Abandoned, DeadlineExceeded, FieldProblem, Overloaded, ValidationFailed

if TYPE_CHECKING:
    from service.runtime import LoadedModel
    from service.serving import Service

#: how a request names what it scores, by endpoint (in refusals)
UNITS = {"/relevance/batch": "pairs", "/v1/rerank": "documents", "/v2/rerank": "documents", "/rerank": "texts"}
#: the request's ASGI receive channel: once the body is read, it only answers when the client disconnects
Receive = Callable[[], Awaitable[dict]]


@dataclass
class EngineRows:
    """Per group: the engine's rows for its first products (None: none), and why the rest were not."""

    rows: list[np.ndarray | None]
    reasons: list[str | None]
    jobs: list[Job] = field(default_factory=list)


def fallback_reserve(svc: Service, pairs: int) -> float:
    """Seconds kept back in fallback mode so pairs still queued at the deadline can be fallback-scored
    after the fallback work already queued (service.fallback_queue)."""
    if svc.settings.overload != "fallback" or svc.fallback is None:
        return 0.0
    return svc.fallback.reserve_s(pairs)


def _refusal(svc: Service, model: LoadedModel, reason: str, n: int, fits: int, wait_s: float, endpoint: str, ms: float):
    unit = UNITS.get(endpoint, "products")
    tps = model.pace.tokens_per_s
    if reason == "too_large":
        problem = f"{n} {unit} cannot be scored within deadline_ms={ms:g} at the measured {tps:.0f} tokens/s; about {fits} would fit"
        fix = f"send at most {fits} {unit} per call, or a larger deadline_ms (at most {svc.settings.max_deadline_ms:g})"
        return ValidationFailed(f"invalid request: {problem}", fix=fix, fields=[FieldProblem("deadline_ms", problem, fix)])
    ahead = svc.batcher.pending_tokens
    wait = retry_after(wait_s, svc.settings.retry_after_s)
    return Overloaded(
        f"the work queued ahead ({ahead} tokens, ~{model.pace.scoring_s(ahead):.1f}s at {tps:.0f} tokens/s) "
        f"would not let {n} {unit} finish within deadline_ms={ms:g}",
        fix=f"retry after {wait}s, send fewer {unit}, or a larger deadline_ms", retry_after_s=wait,
    )


def product_costs(work: ScoringGroup, chunk_pairs: int | None = None) -> list[int]:
    """Each product's share of the work tokens: its suffix, plus the prefix shared over its batcher job.

    >>> product_costs(ScoringGroup([0] * 10, [[1], [1, 2]])), product_costs(ScoringGroup([0] * 10, [[1]] * 4), 2)
    ([6, 7], [6, 6, 6, 6])
    """
    per_job = min(work.n, chunk_pairs or work.n) or 1
    return [len(s) + math.ceil(len(work.prefix_ids) / per_job) for s in work.suffix_ids]


async def admit_groups(
    svc: Service, model: LoadedModel, groups: list[RenderedGroup], deadline: Deadline | None, endpoint: str,
    chunk_pairs: int | None = None,
) -> tuple[list[int], str | None]:
    """How many products of each group the engine scores, and why not all; raises when refused (reject mode).

    Before refusing as too large on a pace no engine call has confirmed lately, the pace is timed
    again and admission reruns on it (service.pace_probe)."""
    counts = [g.work.n for g in groups]
    if deadline is None or model.pace is None:
        return counts, None
    costs = [product_costs(g.work, chunk_pairs) for g in groups]
    reserve = fallback_reserve(svc, sum(counts))
    budget = deadline.budget_s - deadline.margin_s - reserve  # what "never fits" is judged against

    def admission():
        return admit(costs, svc.batcher.pending_tokens, model.pace, deadline.remaining() - reserve, budget)

    adm = admission()
    if adm.reason == "too_large" and await svc.pace_probe.refresh(model, deadline.remaining() - reserve):
        adm = admission()
    if adm.reason is None:
        return adm.take, None
    svc.metrics.admissions_refused.labels(endpoint=endpoint, reason=adm.reason).inc()
    if svc.settings.overload == "fallback" and svc.fallback is not None:
        return adm.take, adm.reason
    raise _refusal(svc, model, adm.reason, sum(counts), adm.fits_alone, adm.wait_s, endpoint, deadline.ms)


async def engine_rows(
    svc: Service,
    model: LoadedModel,
    groups: list[RenderedGroup],
    admitted: tuple[list[int], str | None],
    wait_for_room: bool,
    chunk_pairs: int | None,
    deadline: Deadline | None,
    endpoint: str,
    receive: Receive | None,
    source: str = "online",
) -> EngineRows:
    """The engine's rows for the admitted products of each group, waiting until the deadline at most."""
    from service.serving import chunk_work

    take, reason = admitted
    out = EngineRows([None] * len(groups), [reason if n < g.work.n else None for g, n in zip(groups, take, strict=True)])
    parts = []
    for group, n in zip(groups, take, strict=True):
        work = group.work if n == group.work.n else ScoringGroup(group.work.prefix_ids, group.work.suffix_ids[:n])
        parts.append(chunk_work(work, chunk_pairs) if n else [])
    flat = [w for ws in parts for w in ws]
    if not flat:
        return out
    expires = None
    if deadline is not None:
        expires = time.perf_counter() + deadline.remaining() - fallback_reserve(svc, sum(g.work.n for g in groups))
    degrade = deadline is not None and svc.settings.overload == "fallback" and svc.fallback is not None
    try:
        out.jobs = await svc.batcher.submit(flat, model, wait_for_room=wait_for_room, expires=expires, source=source)
    except Overloaded:
        svc.metrics.admissions_refused.labels(endpoint=endpoint, reason="queue_full").inc()
        if not degrade:
            raise
        out.reasons = ["queue_full"] * len(groups)
        return out
    if not await await_jobs(svc, out.jobs, expires, receive):
        if not degrade:
            svc.metrics.deadline_misses.labels(endpoint=endpoint).inc()
            raise DeadlineExceeded(
                f"not scored within deadline_ms={deadline.ms:g}: the engine was slower than its measured pace",
                fix="retry, send fewer products, or a larger deadline_ms", retry_after_s=svc.settings.retry_after_s,
            )
    start = 0
    for g, ws in enumerate(parts):  # per group: the rows of its leading finished jobs
        mine, start = out.jobs[start : start + len(ws)], start + len(ws)
        finished = []
        for job in mine:
            if not job.future.done() or job.future.cancelled():
                out.reasons[g] = "deadline"
                break
            finished.append(np.asarray(job.future.result()))
        if finished:
            out.rows[g] = np.concatenate(finished)
    return out


async def client_gone(receive: Receive) -> None:
    """Return once the client has disconnected (the request body is already read: only that can arrive)."""
    while (await receive()).get("type") != "http.disconnect":
        pass


async def await_jobs(svc: Service, jobs: list[Job], expires: float | None, receive: Receive | None) -> bool:
    """Wait for `jobs` until `expires`; True when all finished. Whatever has not started when the
    wait ends (time out, the client gone, the handler cancelled) is withdrawn from the queue."""
    futures = [j.future for j in jobs]
    watcher = asyncio.ensure_future(client_gone(receive)) if receive is not None else None
    try:
        while pending := [f for f in futures if not f.done()]:
            left = None if expires is None else expires - time.perf_counter()
            if left is not None and left <= 0:
                break
            await asyncio.wait(pending + ([watcher] if watcher else []), timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if watcher is not None and watcher.done() and any(not f.done() for f in futures):
                raise Abandoned("the client disconnected before the answer", fix="keep the connection open until the answer")
    finally:
        if watcher is not None:
            watcher.cancel()
        svc.batcher.withdraw(jobs)
    for f in futures:  # an engine failure fails the request, as before
        if f.done() and not f.cancelled() and f.exception() is not None:
            raise f.exception()
    return all(f.done() and not f.cancelled() for f in futures)


async def with_fallback(
    svc: Service, groups: list[RenderedGroup], got: EngineRows, width: int, endpoint: str, timings: dict[str, float],
    deadline: Deadline | None = None,
) -> tuple[list[np.ndarray], list[list[str]]]:
    """Each group's full rows: the engine's for what it scored, the fallback scorer's for the rest
    (due by the deadline: its queue scores lexically what its embedder could not deliver in time)."""
    done = [np.asarray(r, dtype=np.float64) if r is not None else np.zeros((0, width)) for r in got.rows]
    need = [(g, i) for g, group in enumerate(groups) for i in range(len(done[g]), group.work.n)]
    extra = np.zeros((0, width))
    if need:
        if svc.fallback is None:  # admission refuses before this outside fallback mode
            raise RuntimeError("pairs left unscored without a fallback scorer")
        t = time.perf_counter()
        queries, products = [groups[g].query for g, _ in need], [groups[g].products[i] for g, i in need]
        expires = None if deadline is None else time.perf_counter() + deadline.remaining()
        extra = await svc.fallback.score(queries, products, expires)
        timings["fallback"] = (time.perf_counter() - t) * 1000
    rows, scored_by, k = [], [], 0
    for g, group in enumerate(groups):
        rest = group.work.n - len(done[g])
        rows.append(np.concatenate([done[g], extra[k : k + rest]]) if rest else done[g])
        scored_by.append(["model"] * len(done[g]) + ["fallback"] * rest)
        if rest:
            svc.metrics.fallback_pairs.labels(endpoint=endpoint, reason=got.reasons[g] or "deadline").inc(rest)
        k += rest
    return rows, scored_by


async def explain_within(
    svc: Service, model: LoadedModel, group: RenderedGroup, scored: list[Scored], deadline: Deadline | None,
    skip: Sequence[str | None] | None = None,
) -> list[Explanation]:
    """Rationales for the products that fit in the time left (all without a deadline).

    The first products get theirs; when not even one fits whole, one is generated shortened
    ("cut: deadline"); the others say "skipped: deadline". `skip[i]` (e.g. "fallback") names why
    product i is not explained at all. If generation runs past the deadline anyway, the answer
    leaves without the rationales (the engine finishes them unread).
    """
    max_new = svc.settings.explain_max_new_tokens
    reasons = list(skip or [None] * len(scored))
    todo = [i for i, why in enumerate(reasons) if why is None]
    if deadline is None or model.pace is None:
        plan = ExplainPlan(len(todo), max_new, False)
    else:
        plan = explain_plan(len(todo), max_new, model.pace, deadline.remaining())
    chosen = todo[: plan.products]
    out = [Explanation(None, f"skipped: {why or 'deadline'}") for why in reasons]
    if not chosen:
        return out
    core = model.core
    levels = [scored[i].level for i in chosen]
    requests = [core.explain_request(group, i, level, plan.max_new_tokens) for i, level in zip(chosen, levels, strict=True)]
    t = time.perf_counter()
    future = asyncio.get_running_loop().run_in_executor(svc.engine_executor, model.engine.generate, requests)
    try:
        timeout = None if deadline is None else max(0.0, deadline.remaining())
        texts = await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        return out
    if model.pace is not None:
        model.pace.observe_generation(len(requests), plan.max_new_tokens, time.perf_counter() - t)
    cut = f"cut: deadline (at most {plan.max_new_tokens} tokens)" if plan.cut else None
    for i, ex in zip(chosen, core.parse_explanations(levels, texts), strict=True):
        out[i] = Explanation(ex.reasoning, ex.error or cut)
    return out
