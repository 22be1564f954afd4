"""Durable batch jobs: an upload streamed to disk, scored in the background in small steps, resumed after a crash.

`JobRunner` runs one job at a time, oldest first. A job reads its input file row by row
(relevance.batch_io), checks each row (service.batch_records) and scores `TAOSR1_JOB_CHUNK_PAIRS`
rows per step through the same `Service.score` as `/relevance/batch` — retrieval, prompt,
batcher, engine — then stores the step's result lines and counters in one transaction
(service.job_store). On start the runner resumes every queued or running job, skipping the
lines already stored, so results hold exactly one line per input row.

Live traffic keeps priority: a step is submitted only while no scoring request is in flight
and the batcher's queue is empty, and a step is small, so an online request waits at most one
step. The engine time of steps is counted as source="job" (taosr1_engine_seconds_total).

A job is pinned to the model that was serving when it started: it holds a lease on that
model for its lifetime (a hot reload meanwhile swaps the serving model for online traffic,
the old one stays loaded until the job ends), and every result line names its version. After
a restart the job resumes only if that same model name and version is serving again;
otherwise it fails with an error saying so (its results so far are kept and readable).
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator

from relevance.batch_io import iter_rows
from service.batch_records import Pair, check_row, group_pairs, pair_record
from service.errors import EngineFailure, ServiceError, ValidationFailed
from service.job_store import JobStore
from service.metrics import JOB_STATUSES
from service.runtime import LoadedModel
from service.serving import Service

log = logging.getLogger("taosr1.jobs")
IDLE_POLL_S = 0.005


def read_steps(path, fmt: str, size: int, skip: set[int]) -> Iterator[list[tuple[int, object]]]:
    """The input's (line, row) pairs not in `skip`, `size` at a time."""
    step: list[tuple[int, object]] = []
    for line, obj in iter_rows(path, fmt):
        if line in skip:
            continue
        step.append((line, obj))
        if len(step) >= size:
            yield step
            step = []
    if step:
        yield step


class JobRunner:
    """The background worker and the job operations the routes call."""

    def __init__(self, svc: Service):
        self.svc = svc
        self.settings = svc.settings
        self.store = JobStore(svc.settings.jobs_dir)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.store.exists:
            self.store.open()
            for part in (self.store.root / "inputs").glob("*.part"):  # uploads a crash interrupted: never accepted
                part.unlink(missing_ok=True)
            self.update_gauges()
        self._task = asyncio.create_task(self._run(), name="taosr1-jobs")

    async def stop(self) -> None:
        """Stop between steps' commits: an interrupted step is redone by the next start."""
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.store.close()

    def update_gauges(self) -> None:
        counts = self.store.counts()
        for status in JOB_STATUSES:
            self.svc.metrics.jobs.labels(status=status).set(counts.get(status, 0))

    # -- operations (routes) --------------------------------------------------------------------
    async def submit(self, chunks: AsyncIterator[bytes], fmt: str, beta: float) -> dict:
        """Stream an upload to disk, count its rows, and queue it; raises ValidationFailed for an unreadable file."""
        self.store.open()
        job_id = uuid.uuid4().hex[:16]
        final = self.store.input_path(job_id, fmt)
        part = final.with_name(final.name + ".part")
        limit = int(self.settings.job_max_upload_mb * 2**20)
        loop = asyncio.get_running_loop()
        size = 0
        try:
            with part.open("wb") as fh:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise ValidationFailed(
                            f"upload larger than {self.settings.job_max_upload_mb} MiB",
                            fix="split the file into several jobs, or raise TAOSR1_JOB_MAX_UPLOAD_MB",
                        )
                    fh.write(chunk)
                fh.flush()
                await loop.run_in_executor(None, os.fsync, fh.fileno())
            total = await loop.run_in_executor(None, _count_rows, part, fmt)
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)
        job = self.store.create(job_id, fmt, total, beta)
        log.info("job %s queued: %d rows (%s, %d bytes)", job_id, total, fmt, size)
        self.update_gauges()
        self._wakeup.set()
        return job

    def cancel(self, job_id: str) -> bool:
        changed = self.store.finish(job_id, "cancelled")
        if changed:
            log.info("job %s cancelled", job_id)
            self.update_gauges()
        return changed

    # -- the worker -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            jobs = self.store.unfinished() if self.store.exists else []
            if not jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            try:
                await self._run_job(jobs[0])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug or an engine failure: this job fails, the worker goes on
                log.exception("job %s failed", jobs[0]["id"])
                self._fail(jobs[0]["id"], f"{type(exc).__name__}: {exc}")

    def _fail(self, job_id: str, error: str) -> None:
        if self.store.finish(job_id, "failed", " ".join(error.split())):
            self.update_gauges()

    async def _pinned_model(self, job: dict) -> LoadedModel | None:
        """The model the job runs on (the serving one; after a restart, only if it is the one the job started on)."""
        while self.svc.runtime.current is None:
            await asyncio.sleep(0.1)
        model = self.svc.runtime.current
        pinned = job.get("model")
        ref = model.ref
        if pinned and (pinned["name"], pinned["version"]) != (ref.name, ref.version):
            self._fail(job["id"], f"the job started on {pinned['name']} v{pinned['version']}, which is no longer served "
                       f"(now {ref.name} v{ref.version}); its results so far are kept: resubmit the rows not scored")
            return None
        return model

    async def _run_job(self, job: dict) -> None:
        model = await self._pinned_model(job)
        if model is None:
            return
        model.leases += 1  # the job's lease: a hot reload does not close this model under it
        try:
            self.store.start(job["id"], model.ref.model_dump())
            self.update_gauges()
            log.info("job %s running on %s v%s", job["id"], model.ref.name, model.ref.version)
            await self._steps(job, model)
        finally:
            model.leases -= 1

    async def _steps(self, job: dict, model: LoadedModel) -> None:
        loop = asyncio.get_running_loop()
        job_id = job["id"]
        skip = await loop.run_in_executor(None, self.store.done_lines, job_id)
        steps = read_steps(self.store.input_path(job_id, job["format"]), job["format"], self.settings.job_chunk_pairs, skip)
        while True:
            step = await loop.run_in_executor(None, next, steps, None)
            if step is None:
                break
            if (self.store.get(job_id) or {}).get("status") != "running":
                return  # cancelled
            records = await self._score_step(step, model, job["beta"])
            new_ok, new_failed = await loop.run_in_executor(None, self.store.save_step, job_id, records)
            self.svc.metrics.job_pairs.labels(outcome="ok").inc(new_ok)
            self.svc.metrics.job_pairs.labels(outcome="invalid").inc(new_failed)
        if self.store.finish(job_id, "succeeded"):
            log.info("job %s succeeded", job_id)
            self.update_gauges()

    async def _wait_idle(self) -> None:
        """Until no online scoring request is in flight and nothing waits for the engine."""
        while self.svc.inflight > 0 or (self.svc.batcher is not None and self.svc.batcher.pending_pairs > 0):
            await asyncio.sleep(IDLE_POLL_S)

    async def _score_step(self, step: list[tuple[int, object]], model: LoadedModel, beta: float) -> list[dict]:
        checked = [check_row(line, obj, self.settings) for line, obj in step]
        pairs = [c for c in checked if isinstance(c, Pair)]
        records = [c for c in checked if isinstance(c, dict)]
        if pairs:
            queries, groups = group_pairs(pairs)
            await self._wait_idle()
            try:
                out = await self.svc.score(model, queries, [[p.product for p in g] for g in groups], beta,
                                           wait_for_room=True, chunk_pairs=self.settings.max_products, source="job")
            except ServiceError as err:
                raise EngineFailure(f"scoring a step failed: {err.message}") from err
            ref = model.ref
            for group, scored in zip(groups, out.scored, strict=True):
                records += [pair_record(p, sc, ref.name, ref.version) for p, sc in zip(group, scored, strict=True)]
        return sorted(records, key=lambda r: r["line"])


def _count_rows(path, fmt: str) -> int:
    try:
        n = sum(1 for _ in iter_rows(path, fmt))
    except Exception as exc:  # an unreadable CSV/Parquet file as a whole
        raise ValidationFailed(f"the upload is not readable as {fmt}: {type(exc).__name__}: {exc}",
                               fix="send NDJSON (one {id, query, product} object per line), CSV or Parquet") from exc
    if n == 0:
        raise ValidationFailed("the upload has no rows", fix="send at least one {id, query, product} row")
    return n
