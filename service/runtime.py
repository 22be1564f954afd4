"""The serving model: load, validate, warm up, and hold the current version.

`LoadedModel` bundles the scoring core (engine, prompt renderer, retriever) with its manifest; jobs
keep a reference to the one that accepted them, so a later swap never changes a request's
model mid-flight. Loading happens off the event loop.

At start (`load_initial`) the service tries, in order: TAOSR1_MODEL_DIR alone when it is set;
else the registry's `latest`, the versions before it (relevance.registry.fallback_versions),
then the embedded default — validating each registry version cheaply before loading it — and
serves the first that loads. What it skipped, and why, is returned for /models and metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from relevance.base_model import prepare_base_model
from relevance.core import WARM_UP, RenderedGroup, ScoringCore
from relevance.engines.base import Engine
from relevance.engines.options import open_engine
from relevance.manifest import CheckpointManifest, check_retrieval
from relevance.paths import REPO_ROOT
from relevance.prompt import PromptRenderer
from relevance.registry import RegistryError, fallback_versions, read_latest, resolve
from relevance.retrieval_config import Retriever
from relevance.types import RetrievedContext
from relevance.validate import CheckpointInvalid, validate_checkpoint
from service.batcher import work_tokens
from service.deadline import Pace
from service.errors import NotReady
from service.schemas import ModelRef
from service.settings import Settings

log = logging.getLogger("taosr1.runtime")
EMBEDDED_DEFAULT_DIR = REPO_ROOT / "models" / "default"


def default_model_dir(settings: Settings) -> Path:
    """The model `make serve` serves: the trained default shipped in models/default, else the base model."""
    if settings.model_dir is not None:
        return settings.model_dir
    if (EMBEDDED_DEFAULT_DIR / "taosr1.json").is_file():
        return EMBEDDED_DEFAULT_DIR
    return prepare_base_model(settings.cache_dir)


@dataclass
class Skipped:
    """A model the start-up did not serve, and why (reported in /models as registry.skipped)."""

    version: str  # the registry version, 'latest' for a broken pointer, or the folder served outside the registry
    reason: str  # one line
    kind: str  # invalid | load_failed | registry (the metric label)


def start_candidates(settings: Settings) -> tuple[list[tuple[Path | None, str | None]], list[Skipped]]:
    """The (folder, registry version) pairs start-up tries in order — folder None is the embedded
    default, resolved only when reached — and the registry entries it could not even resolve."""
    if settings.model_dir is not None:
        return [(settings.model_dir, None)], []
    registry = Path(settings.registry_dir)
    candidates: list[tuple[Path | None, str | None]] = []
    skipped: list[Skipped] = []
    if registry.is_dir():
        try:
            latest = read_latest(registry)
        except (RegistryError, OSError) as exc:
            latest = None
            skipped.append(Skipped("latest", " ".join(str(exc).split()), "registry"))
        for version in ([latest] if latest else []) + fallback_versions(registry, latest):
            try:
                candidates.append((resolve(registry, version), version))
            except (RegistryError, OSError) as exc:
                skipped.append(Skipped(version, " ".join(str(exc).split()), "registry"))
    candidates.append((None, None))
    return candidates, skipped


def load_initial(settings: Settings, retriever: Retriever | None) -> tuple[LoadedModel | None, list[Skipped]]:
    """Load the first start candidate that validates and loads (blocking); None when none did."""
    candidates, skipped = start_candidates(settings)
    for path, version in candidates:
        try:
            if version is not None:
                validate_checkpoint(path, settings.cache_dir)
                log.info("start: %s validated", version)
            loaded = load_model(settings, path if path is not None else default_model_dir(settings), retriever)
        except Exception as exc:  # noqa: BLE001 - any failure means: try the next candidate
            kind = "invalid" if isinstance(exc, CheckpointInvalid) else "load_failed"
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())
            skipped.append(Skipped(version or str(path or "embedded default"), reason, kind))
            log.error("start: skipped %s (%s)", version or path or "the embedded default", reason)
            continue
        loaded.registry_version = version
        if skipped:
            log.warning("start: serving %s after skipping %s", version or loaded.path, [s.version for s in skipped])
        return loaded, skipped
    return None, skipped


@dataclass
class LoadedModel:
    core: ScoringCore  # the engine, its prompt renderer and the service's retriever
    manifest: CheckpointManifest
    path: Path
    loaded_at: float
    load_seconds: float
    registry_version: str | None = None  # the registry's name for it, when it came from the registry
    leases: int = 0  # requests using it now (event-loop thread only); it is closed after the last one
    pace: Pace | None = None  # its measured speed (admission by cost); None: admit without estimating

    @property
    def engine(self) -> Engine:
        return self.core.engine

    @property
    def renderer(self) -> PromptRenderer:
        return self.core.renderer

    @property
    def ref(self) -> ModelRef:
        m = self.manifest
        return ModelRef(
            name=m.name, version=m.version, stage=m.stage, engine=self.engine.name,
            label_scheme=m.label_scheme, prompt_version=m.prompt_version,
        )


def load_model(settings: Settings, model_dir: Path, retriever: Retriever | None = None) -> LoadedModel:
    """Load and warm up a checkpoint (blocking). Raises on anything that would make it unservable.

    `retriever` is what the scoring core retrieves through (None: retrieval off); a checkpoint
    retrieves the rules of its label scheme and, when it ships its training split (`cases.jsonl`),
    its judged cases from those (retrieval.model_cases).
    """
    started = time.perf_counter()
    engine = open_engine(settings, model_dir)
    try:
        if retriever is not None:  # the rules of its label scheme and its own judged cases, where they differ from the serving index's
            from retrieval.model_cases import checkpoint_retriever

            retriever = checkpoint_retriever(retriever, model_dir, engine.manifest.label_scheme)
        check_retrieval(engine.manifest, settings.retrieval_config, retriever, model_dir)
        core = ScoringCore(engine, retriever)
        core.warm_up()
        pace = measure_pace(core, settings.admission_headroom)
    except BaseException:
        engine.close()  # a half-loaded engine must not keep its memory (or vLLM's processes)
        raise
    loaded = LoadedModel(core, engine.manifest, Path(model_dir), time.time(), time.perf_counter() - started, pace=pace)
    log.info("loaded %s v%s from %s in %.1fs", loaded.manifest.name, loaded.manifest.version, model_dir, loaded.load_seconds)
    return loaded


#: the timed pass at load: the warm-up query with its products four times over, and a short generation
PACE_PRODUCTS, PACE_NEW_TOKENS = 4, 8


def time_scoring(core: ScoringCore) -> tuple[RenderedGroup, int, float]:
    """One timed scoring pass of the warm-up query's products: (the group, its work tokens, seconds).

    Runs the engine directly: call it where nothing else uses the engine (at load, or on the
    engine's own thread, service.pace_probe)."""
    query, products = WARM_UP
    [group] = core.render([query], [(products * PACE_PRODUCTS)[:PACE_PRODUCTS]], [RetrievedContext()])
    t = time.perf_counter()
    core.label_scores([group])
    return group, work_tokens(group.work), time.perf_counter() - t


def measure_pace(core: ScoringCore, headroom: float = 1.0) -> Pace:
    """The engine's speed, measured once at load (after the warm-up): a scoring pass and a short generation.

    The batcher refines the scoring speed from every engine call; explain refines the generation speed.
    """
    group, work, scoring_s = time_scoring(core)
    request = core.explain_requests(group, [core.scheme.level_values[0]], PACE_NEW_TOKENS)[:1]
    t = time.perf_counter()
    try:
        core.engine.generate(request)
        decode_s: float | None = (time.perf_counter() - t) / PACE_NEW_TOKENS
    except Exception as exc:  # noqa: BLE001 - scoring still works; explain then runs unbounded until measured
        log.warning("could not time a generation at load (%s): explain is not bounded by measured speed yet", exc)
        decode_s = None
    pace = Pace(work / max(scoring_s, 1e-6), decode_s, headroom=headroom)
    log.info("measured pace: %.0f work tokens/s, %s s per generated token", pace.tokens_per_s, decode_s)
    return pace


class ModelRuntime:
    def __init__(self) -> None:
        self.current: LoadedModel | None = None
        self.last_error: str | None = None

    def require(self, retry_after_s: int) -> LoadedModel:
        if self.current is None:
            detail = f" (last load failed: {self.last_error})" if self.last_error else " (still loading)"
            raise NotReady(
                "no model is loaded" + detail,
                fix="wait for /readyz to return 200; check the server log if the load failed",
                retry_after_s=retry_after_s,
            )
        return self.current

    @contextmanager
    def lease(self, retry_after_s: int) -> Iterator[LoadedModel]:
        """The serving model, held for one request: a swap meanwhile does not close it under the request."""
        model = self.require(retry_after_s)
        model.leases += 1
        try:
            yield model
        finally:
            model.leases -= 1
