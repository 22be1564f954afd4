"""Re-measuring a serving model's pace before a request is refused on it as too large.

Admission by cost (service.deadline) trusts the model's measured pace: a timed pass at load,
then every engine call the batcher completes. A pass timed while the machine was busy (a start
or a hot reload next to other work) can be several times too slow, and a request refused as
`too_large` never reaches the engine, so nothing would ever correct it: the service would keep
answering 422 to ordinary pages. So when a request is about to be refused as too large and no
engine call has measured the pace for `TAOSR1_PACE_STALE_S`, `PaceProbe.refresh` first times one
scoring pass (service.runtime.time_scoring) on the engine's own thread, replaces the pace with
it, and admission runs again. Concurrent requests share one pass per model; a request waits
for it no longer than its own deadline allows; a fresh pace is trusted as it is.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor

from service.metrics import Metrics
from service.runtime import LoadedModel, time_scoring

log = logging.getLogger("taosr1.pace")


class PaceProbe:
    """Times a model's scoring on the engine thread when its pace is stale; one pass per model at a time."""

    def __init__(self, executor: Executor, metrics: Metrics, stale_s: float):
        self.executor = executor  # the engine's one thread: the pass never runs beside a batch
        self.metrics = metrics
        self.stale_s = stale_s
        self._passes: dict[int, asyncio.Future] = {}

    async def refresh(self, model: LoadedModel, wait_s: float) -> bool:
        """Re-measure `model`'s pace when stale, waiting `wait_s` at most (the request's time left; the
        pass may queue behind an engine call); True when it was (admission should run again)."""
        if model.pace is None or wait_s <= 0 or not model.pace.stale(self.stale_s):
            return False
        key = id(model)
        task = self._passes.get(key)
        if task is None:  # the pass is a task of its own: it lands even if the request that started it goes away
            task = asyncio.ensure_future(self._remeasure(model))
            self._passes[key] = task
            task.add_done_callback(lambda _: self._passes.pop(key, None))
        try:
            await asyncio.wait_for(asyncio.shield(task), wait_s)
        except TimeoutError:  # the engine is busy: refuse on the pace it has (the pass still lands for later requests)
            return False
        except Exception as exc:  # noqa: BLE001 - the engine failed: keep the old pace, the request is refused on it
            log.warning("could not re-measure the pace of %s: %r", model.manifest.name, exc)
            return False
        return True

    async def _remeasure(self, model: LoadedModel) -> None:
        pace = model.pace
        before = pace.tokens_per_s
        _, tokens, seconds = await asyncio.get_running_loop().run_in_executor(self.executor, time_scoring, model.core)
        pace.remeasure(tokens, seconds)
        self.metrics.pace_remeasures.inc()
        self.metrics.engine_tokens_per_s.set(pace.tokens_per_s)
        log.info("re-measured the pace before a too-large refusal: %.0f -> %.0f work tokens/s", before, pace.tokens_per_s)
