"""Hot-loading model versions from the registry: watch, load beside, validate, canary, swap, retire.

A new version (the registry's `latest` pointer moved, or `POST /admin/reload`) is validated
(relevance.validate: manifest, weights, tokenizer, single-token labels), then loaded on a
thread of its own while the serving model keeps answering, with a warm-up scoring pass
(service.runtime.load_model, the scoring core's warm-up). It is then scored on a small labelled
canary set, beside the serving model, and refused when its macro-F1 drops more than
TAOSR1_CANARY_MAX_DROP (default 0.1) below the serving model's on the same pairs, or is below
TAOSR1_CANARY_MIN_MACRO_F1, or its agreement with the serving model is below
TAOSR1_CANARY_MIN_AGREEMENT. Each step (validated, loaded, swapped, refused) is one log line. Only then is it swapped in — one assignment on the event loop, so
a request sees either the old model or the new one, never a mix. Requests hold a lease on the
model that accepted them; the old model's engine is closed once its last lease ends.

Any failure (missing files, corrupt weights, wrong label scheme, canary below threshold, out of
memory) leaves the serving model in place, is recorded in `/models` and in
`taosr1_model_reloads_total{outcome="failed"}`, and is not retried by the watcher until the
pointer moves again. The watcher also polls while no model is loaded (every start candidate
failed), so a repaired `latest` is picked up without a restart. Rollback returns to the version served before the current one and moves
the registry's `latest` pointer there too, so a restart serves what is serving now.

Knows nothing about HTTP: service.errors maps RegistryError and ReloadFailed to responses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from relevance.datasets.canary import canary_pairs
from relevance.metrics import classification_report
from relevance.registry import RegistryError, check_version_name, read_latest, resolve, set_latest
from relevance.types import LabeledPair
from relevance.validate import validate_checkpoint
from service.errors import ReloadFailed
from service.runtime import LoadedModel, Skipped

log = logging.getLogger("taosr1.reloader")

HISTORY = 20  # reload attempts kept for /models


@dataclass
class ReloadAttempt:
    """One reload attempt, as /models reports it."""

    version: str
    trigger: str  # watch | admin | rollback
    outcome: str  # loaded | failed | unchanged
    seconds: float = 0.0
    error: str | None = None
    canary: dict = field(default_factory=dict)
    finished_at: float = field(default_factory=time.time)


def canary_verdict(result: dict, min_macro_f1: float, max_drop: float, min_agreement: float) -> None:
    """Raise ReloadFailed, naming the setting, when a canary `result` fails a threshold.

    `result` has n and macro_f1, and serving_macro_f1 / agreement when a model was serving.

    >>> canary_verdict({"n": 16, "macro_f1": 0.7, "serving_macro_f1": 0.75}, 0.0, 0.1, 0.0)
    >>> canary_verdict({"n": 16, "macro_f1": 0.2, "serving_macro_f1": 0.75}, 0.0, 0.1, 0.0)
    Traceback (most recent call last):
    ...
    service.errors.ReloadFailed: canary macro-F1 0.2 is 0.55 below the serving model's 0.75 on 16 pairs (TAOSR1_CANARY_MAX_DROP=0.1)
    """
    n, f1 = result["n"], result["macro_f1"]
    serving = result.get("serving_macro_f1")
    if serving is not None and max_drop < 1 and f1 < serving - max_drop - 1e-9:
        raise ReloadFailed(
            f"canary macro-F1 {f1} is {round(serving - f1, 4)} below the serving model's {serving} on {n} pairs "
            f"(TAOSR1_CANARY_MAX_DROP={max_drop})"
        )
    if f1 < min_macro_f1:
        raise ReloadFailed(f"canary macro-F1 {f1} < TAOSR1_CANARY_MIN_MACRO_F1={min_macro_f1} on {n} pairs")
    if "agreement" in result and min_agreement > 0 and result["agreement"] < min_agreement:
        raise ReloadFailed(
            f"canary agreement with the serving model {result['agreement']} < "
            f"TAOSR1_CANARY_MIN_AGREEMENT={min_agreement} on {n} pairs"
        )


class Reloader:
    """Owns every change of the serving model after the first one."""

    def __init__(self, service):
        self.svc = service
        self.settings = service.settings
        self.registry_dir = Path(self.settings.registry_dir)
        self.lock = asyncio.Lock()
        self.load_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taosr1-reload")
        self.history: deque[ReloadAttempt] = deque(maxlen=HISTORY)
        self.served: list[str] = []  # registry versions served, oldest first (for rollback)
        self.failed: dict[str, str] = {}  # version -> why; the watcher does not retry these
        self.seen_pointer: str | None = None
        self.skipped: list[Skipped] = []  # what start-up did not serve, and why
        self._watch_task: asyncio.Task | None = None
        self._retire_tasks: set[asyncio.Task] = set()
        self._canary: list[LabeledPair] | None = None
        self._serving_levels: dict[int, list[int]] = {}  # id(serving LoadedModel) -> its canary levels

    # -- lifecycle ------------------------------------------------------------------------
    def note_initial(self, loaded: LoadedModel | None, skipped: list[Skipped] | None = None) -> None:
        """Record the start-up's outcome (the model served, if any, and what it skipped) for the
        watcher, rollback and /models; skipped registry versions are not retried until the pointer moves."""
        self.skipped = list(skipped or [])
        for s in self.skipped:
            self.failed[s.version] = s.reason
        if loaded is not None and loaded.registry_version:
            self.served.append(loaded.registry_version)
        self.seen_pointer = self._pointer()

    def start(self) -> None:
        if self.settings.registry_poll_s > 0:
            self._watch_task = asyncio.create_task(self._watch(), name="taosr1-registry-watch")

    async def stop(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
        for task in list(self._retire_tasks):
            task.cancel()
        self.load_executor.shutdown(wait=False, cancel_futures=True)

    # -- the watcher -------------------------------------------------------------------------
    def _pointer(self) -> str | None:
        try:
            return read_latest(self.registry_dir)
        except (RegistryError, OSError) as exc:
            log.warning("registry %s: %s", self.registry_dir, exc)
            return None

    async def _watch(self) -> None:
        """Poll the `latest` pointer (one small file read per interval, off the request path)."""
        while True:
            await asyncio.sleep(self.settings.registry_poll_s)
            if self.svc.draining or (self.svc.load_task is not None and not self.svc.load_task.done()):
                continue  # draining, or start-up still loading: it owns the first model
            pointer = self._pointer()
            if pointer is None or pointer == self.seen_pointer:
                continue
            self.seen_pointer = pointer
            if pointer in self.failed or pointer == self.serving_version:
                continue
            try:
                await self.reload(pointer, trigger="watch")
            except ReloadFailed:
                pass  # recorded; the serving model stays
            except Exception:  # never let the watcher die
                log.exception("watcher: reload of %s crashed", pointer)

    @property
    def serving_version(self) -> str | None:
        cur = self.svc.runtime.current
        return cur.registry_version if cur else None

    # -- reload / rollback ----------------------------------------------------------------------
    async def reload(self, version: str = "latest", trigger: str = "admin") -> ReloadAttempt:
        """Make `version` (a registry version name, or 'latest') the serving model.

        Raises RegistryError for a name that is not allowed or not published (nothing is loaded),
        ReloadFailed when loading, validation or the canary refused it.
        """
        if version == "latest":
            version = read_latest(self.registry_dir) or ""
            if not version:
                raise RegistryError(f"registry {self.registry_dir} has no published version yet")
        check_version_name(version)
        async with self.lock:
            if version == self.serving_version:
                return self._record(ReloadAttempt(version, trigger, "unchanged"))
            path = resolve(self.registry_dir, version)
            started = time.perf_counter()
            loop = asyncio.get_running_loop()
            loaded: LoadedModel | None = None
            try:
                await loop.run_in_executor(self.load_executor, validate_checkpoint, path, self.settings.cache_dir)
                log.info("reload %s (%s): validated", version, trigger)
                loaded = await loop.run_in_executor(self.load_executor, self.svc.load, path)
                loaded.registry_version = version
                log.info("reload %s (%s): loaded and warmed up in %.1fs", version, trigger, loaded.load_seconds)
                canary = await self._check_canary(loaded)
            except Exception as exc:
                if loaded is not None:
                    await loop.run_in_executor(self.load_executor, loaded.engine.close)
                error = " ".join(f"{type(exc).__name__}: {exc}".split())
                self.failed[version] = error
                if self.svc.runtime.current is None:
                    self.svc.runtime.last_error = error
                self.svc.metrics.reloads.labels(outcome="failed").inc()
                self._record(ReloadAttempt(version, trigger, "failed", time.perf_counter() - started, error))
                log.error("reload %s (%s): refused (%s); still serving %s", version, trigger, error, self.serving_version)
                raise ReloadFailed(error, self.serving_version) from exc
            previous = self.svc.runtime.current
            self.svc.install(loaded)  # the swap: one assignment on the event loop
            self.failed.pop(version, None)
            if not self.served or self.served[-1] != version:
                self.served.append(version)
            seconds = time.perf_counter() - started
            self.svc.metrics.reloads.labels(outcome="loaded").inc()
            self.svc.metrics.reload_seconds.observe(seconds)
            if previous is not None:
                task = asyncio.create_task(self._retire(previous))
                self._retire_tasks.add(task)
                task.add_done_callback(self._retire_tasks.discard)
            log.info("reload %s (%s): swapped in, now serving it (was %s; %.1fs, canary %s)", version, trigger,
                     previous.registry_version if previous else None, seconds, canary)
            return self._record(ReloadAttempt(version, trigger, "loaded", seconds, canary=canary))

    async def rollback(self) -> ReloadAttempt:
        """Serve the version served before the current one, and point `latest` at it."""
        current = self.serving_version
        earlier = [v for v in self.served if v != current]
        if not earlier:
            raise ReloadFailed(f"nothing to roll back to: no registry version was served before {current!r}", current)
        target = earlier[-1]
        await asyncio.get_running_loop().run_in_executor(None, set_latest, self.registry_dir, target)
        self.seen_pointer = target  # the watcher must not treat our own pointer move as news
        attempt = await self.reload(target, trigger="rollback")
        if attempt.outcome == "loaded":
            # the rolled-back-from version leaves the history: a second rollback goes further back
            self.served = [v for v in self.served if v != current]
        return attempt

    async def _retire(self, old: LoadedModel) -> None:
        """Close the old engine once no request holds it; on the engine thread, never mid-batch."""
        while old.leases > 0:  # a request's lease covers its queued jobs and its explain calls
            await asyncio.sleep(0.05)
        await asyncio.get_running_loop().run_in_executor(self.svc.engine_executor, old.engine.close)
        log.info("retired %s v%s", old.manifest.name, old.manifest.version)

    # -- canary -------------------------------------------------------------------------------
    async def _check_canary(self, candidate: LoadedModel) -> dict:
        s = self.settings
        loop = asyncio.get_running_loop()
        if self._canary is None:
            self._canary = await loop.run_in_executor(self.load_executor, canary_pairs, s.canary_data, s.canary_size)
        pairs = self._canary
        new_levels = await loop.run_in_executor(self.load_executor, self._predict, candidate, pairs)
        result: dict = {"n": len(pairs)}
        result["macro_f1"] = round(classification_report([p.level for p in pairs], new_levels)["macro_f1"], 4)
        current = self.svc.runtime.current
        if current is not None and (s.canary_min_agreement > 0 or s.canary_max_drop < 1):
            # the serving model's canary answers run on the engine thread, between live batches:
            # computed once per serving model, and only when a threshold asks for them
            key = id(current)
            if key not in self._serving_levels:
                self._serving_levels = {key: await loop.run_in_executor(self.svc.engine_executor, self._predict, current, pairs)}
            old_levels = self._serving_levels[key]
            result["serving_macro_f1"] = round(classification_report([p.level for p in pairs], old_levels)["macro_f1"], 4)
            result["agreement"] = round(float(np.mean([a == b for a, b in zip(new_levels, old_levels, strict=True)])), 4)
        canary_verdict(result, s.canary_min_macro_f1, s.canary_max_drop, s.canary_min_agreement)
        return result

    @staticmethod
    def _predict(model: LoadedModel, pairs: list[LabeledPair]) -> list[int]:
        """Argmax levels of `pairs` on `model`, through the scoring core serving uses."""
        return model.core.predict_levels(pairs)

    def _record(self, attempt: ReloadAttempt) -> ReloadAttempt:
        self.history.append(attempt)
        return attempt

    def describe(self) -> dict:
        """The registry side of /models."""
        return {
            "dir": str(self.registry_dir),
            "latest": self._pointer(),
            "serving": self.serving_version,
            "served": list(self.served),
            "poll_s": self.settings.registry_poll_s,
            "failed": dict(self.failed),
            "skipped": [asdict(x) for x in self.skipped],
            "reloads": [asdict(a) for a in self.history],
        }
