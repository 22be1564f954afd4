"""The public routes: request → schema checks → scoring core (through `Service`) → response schema.

Scoring (`/relevance`, `/relevance/batch`) and the probes (`/healthz`, `/readyz`, `/models`,
`/metrics`). Routes never import an engine, build error JSON, or score by themselves: errors
are raised as `service.errors` types and the one table turns them into responses.

Each scoring request has a deadline (`deadline_ms`, default TAOSR1_DEADLINE_MS) that `Service.score`
and `Service.explain` keep; every result says whether the model or the fallback scored it. The
request models come from `limited_models(settings)`, so the OpenAPI states the limits; no
`from __future__ import annotations` here, because FastAPI reads those per-app annotations.
"""

import asyncio
import time

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from relevance.assemble import group_by_query
from relevance.core import Explanation
from relevance.scoring import Scored
from service.errors import NotReady, error_responses
from service.limits import check_batch, check_relevance
from service.schemas import BatchResponse, RelevanceResponse, limited_models
from service.serving import Service


def result(
    product_id: str, sc: Scored, explanation: Explanation | None = None, flags: list[str] | None = None, scored_by: str = "model"
) -> dict:
    """One product's entry of a response (`reasoning` only when explained, `flags` only when any fired)."""
    ex = explanation or Explanation()
    return {
        "id": product_id,
        "label": sc.label,
        "level": sc.level,
        "probs": {str(k): round(v, 6) for k, v in sc.probs.items()},
        "tier": sc.tier,
        "score": round(sc.score, 6),
        "cumpt_level": sc.cumpt_level,
        "expected_level": round(sc.expected_level, 6),
        "reasoning": ex.reasoning,
        "reasoning_error": ex.error,
        "flags": flags or None,
        "scored_by": scored_by,
    }


def rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in timings.items()}


def batch_groups(queries: list[str], max_products: int) -> list[tuple[str, list[int]]]:
    """Pairs grouped by query (first-seen order), each group cut to at most `max_products` positions.

    >>> batch_groups(["a", "b", "a", "a"], 2)
    [('a', [0, 2]), ('a', [3]), ('b', [1])]
    """
    out = []
    for query, idx in group_by_query(queries).items():
        out += [(query, idx[i : i + max_products]) for i in range(0, len(idx), max_products)]
    return out


#: what a scoring route can answer besides 200 (the OpenAPI lists each with the error envelope)
SCORING_ERRORS = error_responses("bad_request", "validation", "overloaded", "not_ready", "deadline", "engine", "internal")


def scoring_router(svc: Service) -> APIRouter:
    router = APIRouter()
    settings = svc.settings
    models = limited_models(settings)

    @router.post("/relevance", response_model=RelevanceResponse, response_model_exclude_none=True, responses=SCORING_ERRORS)
    @svc.count_failed_pairs("/relevance", lambda req: len(req.products))
    async def relevance(req: models.relevance, request: Request):
        """Score a page of candidate products for one query, within the request's deadline."""
        started = time.perf_counter()
        check_relevance(req.query, req.products, req.explain, settings)
        deadline = svc.deadline(req.deadline_ms, started)
        with svc.runtime.lease(settings.retry_after_s) as model:  # held until the answer is built
            products = [p.to_product() for p in req.products]
            beta = settings.beta if req.beta is None else req.beta
            out = await svc.score(
                model, [req.query], [products], beta, wait_for_room=False, deadline=deadline, endpoint="/relevance",
                receive=request.receive,
            )
            [group], [scored], [by], timings = out.groups, out.scored, out.scored_by, out.timings
            explanations = [None] * len(scored)
            if req.explain:
                t = time.perf_counter()
                skip = [None if b == "model" else b for b in by]
                explanations = await svc.explain(model, group, scored, deadline, skip)
                timings["explain"] = (time.perf_counter() - t) * 1000
            svc.record_scored("/relevance", scored)
            flags = await asyncio.to_thread(svc.listing_flags, "/relevance", products)  # ~2 ms per long listing: off the loop
            timings["total"] = (time.perf_counter() - started) * 1000
            svc.observe_stages("/relevance", timings)
            svc.note_deadline("/relevance", deadline)
            return {
                "query": req.query,
                "results": [
                    result(p.id, sc, ex, fl, b)
                    for p, sc, ex, fl, b in zip(products, scored, explanations, flags, by, strict=True)
                ],
                "model": model.ref,
                "beta": beta,
                "timings_ms": rounded(timings),
            }

    @router.post(
        "/relevance/batch", response_model=BatchResponse, response_model_exclude_none=True, responses=SCORING_ERRORS
    )
    @svc.count_failed_pairs("/relevance/batch", lambda req: len(req.pairs))
    async def relevance_batch(req: models.batch, request: Request):
        """Score many (query, product) pairs. Grouped by query inside; results in input order; within the deadline."""
        started = time.perf_counter()
        check_batch(req.pairs, settings)
        deadline = svc.deadline(req.deadline_ms, started)
        with svc.runtime.lease(settings.retry_after_s) as model:  # held until the answer is built
            beta = settings.beta if req.beta is None else req.beta
            groups = batch_groups([p.query for p in req.pairs], settings.max_products)
            products = [[req.pairs[i].product.to_product() for i in idx] for _, idx in groups]
            out = await svc.score(
                model, [q for q, _ in groups], products, beta, wait_for_room=True, deadline=deadline,
                endpoint="/relevance/batch", receive=request.receive,
            )
            results: list[dict | None] = [None] * len(req.pairs)
            all_flags = await asyncio.to_thread(lambda: [svc.listing_flags("/relevance/batch", prods) for prods in products])
            for (_, idx), scored, flags, by in zip(groups, out.scored, all_flags, out.scored_by, strict=True):
                for i, sc, fl, b in zip(idx, scored, flags, by, strict=True):
                    results[i] = {"query": req.pairs[i].query, **result(req.pairs[i].product.id, sc, flags=fl, scored_by=b)}
            svc.record_scored("/relevance/batch", [sc for scored in out.scored for sc in scored])
            out.timings["total"] = (time.perf_counter() - started) * 1000
            svc.observe_stages("/relevance/batch", out.timings)
            svc.note_deadline("/relevance/batch", deadline)
            return {"results": results, "model": model.ref, "beta": beta, "n": len(results), "timings_ms": rounded(out.timings)}

    return router


def probe_router(svc: Service) -> APIRouter:
    router = APIRouter()
    retry_after_s = svc.settings.retry_after_s

    @router.get("/healthz")
    async def healthz():
        """Liveness: the process is up and its event loop answers."""
        return {"status": "alive"}

    @router.get("/readyz", responses=error_responses("not_ready"))
    async def readyz():
        """Readiness: a model is loaded and its warm-up scoring pass succeeded."""
        if svc.draining:
            raise NotReady("shutting down", fix="route to another replica", retry_after_s=retry_after_s, extra={"status": "draining"})
        if svc.runtime.current is None:
            error = svc.runtime.last_error
            raise NotReady(
                "not ready: " + (f"model load failed: {error}" if error else "model loading"),
                fix="fix the model (see the log) and restart or reload" if error else "wait and retry",
                retry_after_s=retry_after_s,
                extra={"status": "not_ready"},
            )
        return {"status": "ready", "model": svc.runtime.current.ref.model_dump()}

    @router.get("/models")
    async def models():
        """The serving model: version, manifest and where it was loaded from."""
        cur = svc.runtime.current
        serving = None
        if cur is not None:
            serving = {**cur.ref.model_dump(), "path": str(cur.path), "load_seconds": round(cur.load_seconds, 3), "manifest": cur.manifest.__dict__}
        return {"serving": serving, "last_error": svc.runtime.last_error, "registry": svc.reloader.describe()}

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics():
        """Prometheus exposition of every taosr1_* series."""
        return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return router
