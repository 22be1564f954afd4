"""Request metrics for the scoring endpoints, and refusal of new scoring work while draining.

Counts every scoring request by outcome (the error kind the handlers leave in
`request.state.error_kind`), its latency, and in-flight requests (which the graceful drain
waits for). Knows nothing about scoring.
"""

from __future__ import annotations

import time

from fastapi import FastAPI

from service.errors import NotReady, to_response
from service.metrics import SCORING_ENDPOINTS
from service.serving import Service

MEASURED = tuple(SCORING_ENDPOINTS)


def install_request_metrics(app: FastAPI, svc: Service) -> None:
    metrics = svc.metrics

    @app.middleware("http")
    async def _measure(request, call_next):
        endpoint = request.url.path
        if endpoint not in MEASURED:
            return await call_next(request)
        if svc.draining:  # refused before being accepted: the client may retry elsewhere
            err = NotReady("the service is shutting down", fix="retry on another replica", retry_after_s=svc.settings.retry_after_s)
            metrics.errors.labels(kind=err.kind).inc()
            metrics.requests.labels(endpoint=endpoint, outcome=err.kind).inc()
            refused = to_response(err)
            refused.headers["connection"] = "close"  # no keep-alive request can race the exit
            return refused
        gauge = metrics.inflight.labels(endpoint=endpoint)
        gauge.inc()
        svc.inflight += 1
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # unhandled: counted as an internal error, then the server answers 500
            metrics.errors.labels(kind="internal").inc()
            metrics.requests.labels(endpoint=endpoint, outcome="internal").inc()
            raise
        finally:
            gauge.dec()
            svc.inflight -= 1
        elapsed = time.perf_counter() - started
        outcome = "ok" if response.status_code < 400 else getattr(request.state, "error_kind", f"http_{response.status_code}")
        metrics.requests.labels(endpoint=endpoint, outcome=outcome).inc()
        metrics.request_seconds.labels(endpoint=endpoint).observe(elapsed)
        metrics.stage_seconds.labels(endpoint=endpoint, stage="total").observe(elapsed)
        if svc.draining:  # answered during the drain: the client must not reuse this connection
            response.headers["connection"] = "close"
        return response
