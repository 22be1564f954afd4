"""The batch job routes: POST /jobs (upload), GET /jobs, GET /jobs/{id}, GET /jobs/{id}/results, DELETE /jobs/{id}.

Thin: the body is streamed to service.jobs (never held in memory), errors are service.errors
types, results are streamed as NDJSON in input order straight from the job store.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from service.errors import Conflict, NotFound, NotReady, ValidationFailed, error_responses
from service.jobs import JobRunner

#: Content-Type → input format (application/octet-stream needs ?format=)
CONTENT_TYPES = {
    "application/x-ndjson": "ndjson", "application/jsonl": "ndjson", "application/json-lines": "ndjson",
    "text/csv": "csv", "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet",
}


#: the upload as the OpenAPI states it: a required body in one of the three formats
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "One pair per row: NDJSON lines {id?, query, product}, CSV columns id,query,title,… or Parquet.",
        "content": {
            "application/x-ndjson": {"schema": {"type": "string", "minLength": 1}},
            "text/csv": {"schema": {"type": "string", "minLength": 1}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def upload_format(content_type: str | None, given: str | None) -> str:
    """The input format from ?format= or the Content-Type.

    >>> upload_format("application/x-ndjson; charset=utf-8", None), upload_format("application/octet-stream", "parquet")
    ('ndjson', 'parquet')
    """
    if given:
        return given
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    raise ValidationFailed(
        f"cannot tell the upload's format from Content-Type {media or 'none'!r}",
        fix="send Content-Type: application/x-ndjson, text/csv or application/vnd.apache.parquet, or add ?format=ndjson|csv|parquet",
    )


def jobs_router(runner: JobRunner) -> APIRouter:
    router = APIRouter(tags=["jobs"])
    svc = runner.svc

    def found(job_id: str) -> dict:
        job = runner.store.get(job_id) if runner.store.exists else None
        if job is None:
            raise NotFound(f"no job {job_id!r}", fix="list the jobs with GET /jobs")
        return job

    @router.post("/jobs", status_code=202, responses=error_responses("validation", "not_ready"), openapi_extra=UPLOAD_BODY)
    async def create_job(
        request: Request,
        format: Literal["ndjson", "csv", "parquet"] | None = Query(None, description="Input format when the Content-Type does not say."),
        beta: float | None = Query(None, ge=0.0, le=1.0, description="CumPT β (default from settings)."),
    ):
        """Upload pairs (NDJSON `{id?, query, product}` per line, CSV or Parquet) to be scored in the background."""
        if svc.draining:
            raise NotReady("the service is shutting down", fix="retry on another replica", retry_after_s=svc.settings.retry_after_s)
        fmt = upload_format(request.headers.get("content-type"), format)
        return await runner.submit(request.stream(), fmt, svc.settings.beta if beta is None else beta)

    @router.get("/jobs")
    async def list_jobs(limit: int = Query(100, ge=1, le=1000)):
        """The most recent jobs first."""
        return {"jobs": runner.store.list(limit) if runner.store.exists else []}

    @router.get("/jobs/{job_id}", responses=error_responses("not_found"))
    async def get_job(job_id: str):
        """A job's status, row counts (total, done, failed), timestamps (unix seconds) and pinned model."""
        return found(job_id)

    @router.delete("/jobs/{job_id}", responses=error_responses("not_found", "conflict"))
    async def cancel_job(job_id: str):
        """Cancel a queued or running job (its results so far stay readable)."""
        job = found(job_id)
        if not runner.cancel(job_id):
            raise Conflict(f"job {job_id} is already {job['status']}", fix="only queued or running jobs can be cancelled")
        return found(job_id)

    @router.get("/jobs/{job_id}/results", responses=error_responses("not_found"))
    async def job_results(job_id: str):
        """The result lines so far, as NDJSON in input order (one per input row once the job succeeded)."""
        found(job_id)

        def lines():
            for page in runner.store.results(job_id):
                yield "".join(body + "\n" for body in page)

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return router
