"""The FastAPI app: wires the `Service` (service.serving) to its routers, middleware and error table.

Routes live in service.routes (scoring and probes), service.rerank (Cohere/Jina/TEI-compatible
rerank), service.admin (reload, rollback) and service.job_routes (durable batch jobs, run by
service.jobs); none of them imports a backend.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.admin import admin_router
from service.docs import install_docs
from service.errors import install_error_handlers
from service.job_routes import jobs_router
from service.jobs import JobRunner
from service.middleware import install_request_metrics
from service.rerank import cohere_router, tei_router
from service.routes import probe_router, scoring_router
from service.serving import Service
from service.settings import Settings

__all__ = ["Service", "create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    svc = Service(settings or Settings())
    jobs = JobRunner(svc)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await svc.start()
        await jobs.start()
        try:
            yield
        finally:
            await jobs.stop()  # between steps: an interrupted step is redone after the restart
            await svc.stop()

    app = FastAPI(
        title="taosr1",
        summary="Online relevance scoring for e-commerce search (TaoSR1: label first, reasoning after).",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by install_docs (works offline)
    )
    app.state.service = svc
    app.state.jobs = jobs
    install_docs(app)
    install_error_handlers(app, on_error=lambda kind: svc.metrics.errors.labels(kind=kind).inc())
    install_request_metrics(app, svc)
    for router in (scoring_router(svc), cohere_router(svc), tei_router(svc), probe_router(svc), admin_router(svc), jobs_router(jobs)):
        app.include_router(router)
    return app
