"""The FastAPI app: routes, start-up and shutdown, wiring of runtime, retrieval and batcher.

Routes only speak in schemas and the engine protocol; they never import a backend.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, Header, Response
from fastapi.responses import JSONResponse

from relevance.assemble import group_by_query, render_group
from relevance.engines.base import GenerationRequest
from relevance.parse import parse_answer
from relevance.registry import RegistryError, VersionNameError
from relevance.scoring import Scored, score_rows
from relevance.types import RetrievedContext
from service.batcher import Batcher
from service.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    NotReady,
    ServiceError,
    Unauthorized,
    ValidationFailed,
    install_error_handlers,
    to_response,
)
from service.limits import check_batch, check_relevance
from service.metrics import Metrics
from service.reloader import Reloader, ReloadFailed
from service.runtime import LoadedModel, ModelRuntime, initial_model, load_model
from service.schemas import (
    BatchPairResult,
    BatchRequest,
    BatchResponse,
    RelevanceRequest,
    RelevanceResponse,
    ReloadRequest,
)
from service.settings import Settings

log = logging.getLogger("taosr1.app")


class Service:
    """Everything a request handler needs, created once per app."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = Metrics()
        self.runtime = ModelRuntime()
        self.engine_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taosr1-engine")
        self.io_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="taosr1-prep")
        self.knowledge = None
        self.batcher: Batcher | None = None
        self.load_task: asyncio.Task | None = None
        self.inflight = 0
        self.draining = False
        self.reloader = Reloader(self)

    def start_draining(self) -> None:
        self.draining = True
        self.metrics.ready.set(0)

    # -- lifecycle ----------------------------------------------------------------------
    def load_knowledge(self) -> None:
        if not self.settings.retrieval:
            return
        from retrieval.knowledge import KnowledgeBase

        index_dir = self.settings.resolved_index_dir
        if not index_dir.is_dir():
            raise RuntimeError(
                f"retrieval indexes not found at {index_dir}: run `taosr1 index build` "
                "(make serve does), or set TAOSR1_RETRIEVAL=false"
            )
        self.knowledge = KnowledgeBase.load(index_dir)

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.io_executor, self.load_knowledge)
        s = self.settings
        self.batcher = Batcher(self.engine_executor, self.metrics, s.batch_max_tokens, s.batch_max_wait_ms, s.queue_max_pairs, s.retry_after_s)
        self.batcher.start()
        self.load_task = asyncio.create_task(self._load_initial())
        self.reloader.start()

    async def _load_initial(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            model_dir, registry_version = await loop.run_in_executor(self.io_executor, initial_model, self.settings)
            loaded = await loop.run_in_executor(self.engine_executor, load_model, self.settings, model_dir)
            loaded.registry_version = registry_version
        except Exception as exc:
            log.exception("model load failed")
            self.runtime.last_error = f"{type(exc).__name__}: {exc}"
            self.metrics.reloads.labels(outcome="failed").inc()
            return
        self.install(loaded)
        self.reloader.note_initial(loaded)
        self.metrics.reloads.labels(outcome="loaded").inc()

    def install(self, loaded: LoadedModel) -> None:
        self.runtime.current = loaded
        ref = loaded.ref
        self.metrics.set_model(ref.name, ref.version, ref.stage, ref.engine)
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

    # -- scoring ------------------------------------------------------------------------
    def _retrieve(self, queries: list[str]) -> list[RetrievedContext]:
        if self.knowledge is None:
            return [RetrievedContext() for _ in queries]
        s = self.settings
        return self.knowledge.retrieve_many(queries, k_rules=s.k_rules, k_cases=s.k_cases, k_knowledge=s.k_knowledge)

    async def score_groups(self, model: LoadedModel, queries: list[str], products_per_query: list[list], wait_for_room: bool):
        """Retrieve, render, queue and await scores; returns (rows per query, contexts, timings)."""
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()

        def prepare():
            contexts = self._retrieve(queries)
            t_ret = time.perf_counter()
            groups = [render_group(model.renderer, q, ps, c) for q, ps, c in zip(queries, products_per_query, contexts, strict=True)]
            return contexts, groups, t_ret

        contexts, groups, t_ret = await loop.run_in_executor(self.io_executor, prepare)
        t1 = time.perf_counter()
        jobs = await self.batcher.submit(groups, model, wait_for_room=wait_for_room)
        rows = [await j.future for j in jobs]
        t2 = time.perf_counter()
        first_start = min(j.started for j in jobs)
        timings = {
            "retrieval": (t_ret - t0) * 1000,
            "render": (t1 - t_ret) * 1000,
            "queue": max(0.0, first_start - t1) * 1000,
            "inference": (t2 - first_start) * 1000,
        }
        return rows, contexts, timings

    async def explain(self, model: LoadedModel, query: str, context, products, scored: list[Scored]) -> list[tuple[str | None, str | None]]:
        renderer, scheme = model.renderer, model.engine.scheme
        requests = []
        for product, sc in zip(products, scored, strict=True):
            emit = scheme.by_level(sc.level).emit
            ids = renderer.encode(query, product, context) + model.engine.tokenizer.encode(emit, add_special_tokens=False)
            requests.append(GenerationRequest(ids, max_new_tokens=self.settings.explain_max_new_tokens))
        texts = await asyncio.get_running_loop().run_in_executor(self.engine_executor, model.engine.generate, requests)
        out = []
        for sc, text in zip(scored, texts, strict=True):
            parsed = parse_answer(scheme.by_level(sc.level).emit + text, scheme)
            out.append((parsed.reasoning, parsed.error))
        return out

    def record_scored(self, endpoint: str, scored: list[Scored]) -> None:
        for sc in scored:
            self.metrics.labels.labels(label=sc.label).inc()
            self.metrics.tiers.labels(tier=sc.tier).inc()
        self.metrics.pairs.labels(endpoint=endpoint, outcome="ok").inc(len(scored))

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
            self.metrics.stage_seconds.labels(endpoint=endpoint, stage=stage).observe(ms / 1000)


def _result(product_id: str, sc: Scored, reasoning=None, reasoning_error=None) -> dict:
    return {
        "id": product_id,
        "label": sc.label,
        "level": sc.level,
        "probs": {str(k): round(v, 6) for k, v in sc.probs.items()},
        "tier": sc.tier,
        "score": round(sc.score, 6),
        "cumpt_level": sc.cumpt_level,
        "expected_level": round(sc.expected_level, 6),
        "reasoning": reasoning,
        "reasoning_error": reasoning_error,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    svc = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await svc.start()
        try:
            yield
        finally:
            await svc.stop()

    app = FastAPI(
        title="taosr1",
        summary="Online relevance scoring for e-commerce search (TaoSR1: label first, reasoning after).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = svc
    install_error_handlers(app, on_error=lambda kind: svc.metrics.errors.labels(kind=kind).inc())

    @app.middleware("http")
    async def _measure(request, call_next):
        endpoint = request.url.path
        if endpoint not in ("/relevance", "/relevance/batch"):
            return await call_next(request)
        if svc.draining:  # refused before being accepted: the client may retry elsewhere
            err = NotReady("the service is shutting down", fix="retry on another replica", retry_after_s=settings.retry_after_s)
            svc.metrics.errors.labels(kind=err.kind).inc()
            svc.metrics.requests.labels(endpoint=endpoint, outcome=err.kind).inc()
            return to_response(err)
        gauge = svc.metrics.inflight.labels(endpoint=endpoint)
        gauge.inc()
        svc.inflight += 1
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # unhandled: counted as an internal error, then the server answers 500
            svc.metrics.errors.labels(kind="internal").inc()
            svc.metrics.requests.labels(endpoint=endpoint, outcome="internal").inc()
            raise
        finally:
            gauge.dec()
            svc.inflight -= 1
        elapsed = time.perf_counter() - started
        # the error handlers leave the error kind in request.state (service.errors)
        outcome = "ok" if response.status_code < 400 else getattr(request.state, "error_kind", f"http_{response.status_code}")
        svc.metrics.requests.labels(endpoint=endpoint, outcome=outcome).inc()
        svc.metrics.request_seconds.labels(endpoint=endpoint).observe(elapsed)
        svc.metrics.stage_seconds.labels(endpoint=endpoint, stage="total").observe(elapsed)
        return response

    @app.post("/relevance", response_model=RelevanceResponse, response_model_exclude_none=True)
    @svc.count_failed_pairs("/relevance", lambda req: len(req.products))
    async def relevance(req: RelevanceRequest):
        """Score a page of candidate products for one query."""
        started = time.perf_counter()
        check_relevance(req.query, req.products, req.explain, settings)
        with svc.runtime.lease(settings.retry_after_s) as model:  # held until the answer is built
            products = [p.to_product() for p in req.products]
            beta = settings.beta if req.beta is None else req.beta
            [rows], [context], timings = await svc.score_groups(model, [req.query], [products], wait_for_room=False)
            scored = score_rows(rows, model.engine.scheme, beta)
            explanations = [(None, None)] * len(scored)
            if req.explain:
                t = time.perf_counter()
                explanations = await svc.explain(model, req.query, context, products, scored)
                timings["explain"] = (time.perf_counter() - t) * 1000
            svc.record_scored("/relevance", scored)
            timings["total"] = (time.perf_counter() - started) * 1000
            svc.observe_stages("/relevance", {k: v for k, v in timings.items() if k != "total"})
            return {
                "query": req.query,
                "results": [_result(p.id, sc, *ex) for p, sc, ex in zip(products, scored, explanations, strict=True)],
                "model": model.ref,
                "beta": beta,
                "timings_ms": {k: round(v, 3) for k, v in timings.items()},
            }

    @app.post("/relevance/batch", response_model=BatchResponse, response_model_exclude_none=True)
    @svc.count_failed_pairs("/relevance/batch", lambda req: len(req.pairs))
    async def relevance_batch(req: BatchRequest):
        """Score many (query, product) pairs — offline jobs. Grouped by query inside; results in input order."""
        started = time.perf_counter()
        check_batch(req.pairs, settings)
        with svc.runtime.lease(settings.retry_after_s) as model:  # held until the answer is built
            beta = settings.beta if req.beta is None else req.beta
            groups = group_by_query([p.query for p in req.pairs])
            queries, members = [], []
            for query, idx in groups.items():
                for start in range(0, len(idx), settings.max_products):
                    queries.append(query)
                    members.append(idx[start : start + settings.max_products])
            products = [[req.pairs[i].product.to_product() for i in idx] for idx in members]
            rows, _, timings = await svc.score_groups(model, queries, products, wait_for_room=True)
            out: list[BatchPairResult | None] = [None] * len(req.pairs)
            all_scored = []
            for idx, group_rows in zip(members, rows, strict=True):
                scored = score_rows(np.asarray(group_rows), model.engine.scheme, beta)
                all_scored += scored
                for i, sc in zip(idx, scored, strict=True):
                    pair = req.pairs[i]
                    out[i] = {"query": pair.query, **_result(pair.product.id, sc)}
            svc.record_scored("/relevance/batch", all_scored)
            timings["total"] = (time.perf_counter() - started) * 1000
            svc.observe_stages("/relevance/batch", {k: v for k, v in timings.items() if k != "total"})
            return {"results": out, "model": model.ref, "beta": beta, "n": len(out), "timings_ms": {k: round(v, 3) for k, v in timings.items()}}

    @app.get("/healthz")
    async def healthz():
        """Liveness: the process is up and its event loop answers."""
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        """Readiness: a model is loaded and its warm-up scoring pass succeeded."""
        if svc.draining:
            return JSONResponse(
                {"status": "draining", "error": {"kind": "not_ready", "message": "shutting down", "fix": "route to another replica"}},
                status_code=503, headers={"Retry-After": str(settings.retry_after_s)},
            )
        if svc.runtime.current is None:
            err = NotReady(
                "not ready: " + (f"model load failed: {svc.runtime.last_error}" if svc.runtime.last_error else "model loading"),
                fix="wait and retry" if not svc.runtime.last_error else "fix the model (see the log) and restart or reload",
                retry_after_s=settings.retry_after_s,
            )
            svc.metrics.errors.labels(kind=err.kind).inc()
            return JSONResponse({"status": "not_ready", "error": {"kind": err.kind, "message": err.message, "fix": err.fix}}, status_code=503, headers={"Retry-After": str(settings.retry_after_s)})
        return {"status": "ready", "model": svc.runtime.current.ref.model_dump()}

    @app.get("/models")
    async def models():
        """The serving model: version, manifest and where it was loaded from."""
        cur = svc.runtime.current
        return {
            "serving": None if cur is None else {
                **cur.ref.model_dump(),
                "path": str(cur.path),
                "load_seconds": round(cur.load_seconds, 3),
                "manifest": cur.manifest.__dict__,
            },
            "last_error": svc.runtime.last_error,
            "registry": svc.reloader.describe(),
        }

    def require_admin(authorization: str | None) -> None:
        if not settings.admin_enabled:
            raise NotFound("admin endpoints are off", fix="set TAOSR1_ADMIN_ENABLED=true and a long random TAOSR1_ADMIN_TOKEN")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("admin endpoints need a bearer token", fix="send 'Authorization: Bearer <TAOSR1_ADMIN_TOKEN>'")
        if not secrets.compare_digest(token.strip().encode(), settings.admin_token.encode()):
            raise Forbidden("wrong admin token", fix="send the TAOSR1_ADMIN_TOKEN the service was started with")

    async def run_reload(action) -> dict:
        try:
            attempt = await action()
        except VersionNameError as exc:
            raise ValidationFailed(
                "invalid version", fix="name a version inside the registry (see GET /models)",
                fields=[FieldProblem("version", str(exc), "use a published version name such as 'v0003', or 'latest'")],
            ) from exc
        except RegistryError as exc:
            raise NotFound(str(exc), fix="publish the version first, or pick one listed in GET /models") from exc
        except ReloadFailed as exc:
            raise Conflict(f"reload refused, still serving {svc.reloader.serving_version}: {exc}",
                           fix="see GET /models (registry.reloads) and the server log") from exc
        return {"status": attempt.outcome, **attempt.__dict__, "serving": svc.runtime.current.ref.model_dump()}

    @app.post("/admin/reload")
    async def admin_reload(req: ReloadRequest | None = None, authorization: str | None = Header(None)):
        """Load a registry version (default: `latest`) beside the serving one, check it, and swap it in."""
        require_admin(authorization)
        version = (req or ReloadRequest()).version
        return await run_reload(lambda: svc.reloader.reload(version, trigger="admin"))

    @app.post("/admin/rollback")
    async def admin_rollback(authorization: str | None = Header(None)):
        """Serve the version served before the current one again (and point `latest` at it)."""
        require_admin(authorization)
        return await run_reload(svc.reloader.rollback)

    @app.get("/metrics")
    async def metrics():
        """Prometheus exposition of every taosr1_* series."""
        return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app

