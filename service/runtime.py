"""The serving model: load, validate, warm up, and hold the current version.

`LoadedModel` bundles an engine with the prompt renderer for its tokenizer and scheme; jobs
keep a reference to the one that accepted them, so a later swap never changes a request's
model mid-flight. Loading happens off the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from relevance.base_model import prepare_base_model
from relevance.engines.base import Engine, ScoringGroup
from relevance.engines.factory import create_engine
from relevance.manifest import CheckpointManifest
from relevance.prompt import PromptRenderer
from relevance.registry import read_latest, resolve
from relevance.types import Product
from service.errors import NotReady
from service.schemas import ModelRef
from service.settings import REPO_ROOT, Settings

log = logging.getLogger("taosr1.runtime")
EMBEDDED_DEFAULT_DIR = REPO_ROOT / "models" / "default"


def default_model_dir(settings: Settings) -> Path:
    """The model `make serve` serves: the trained default shipped in models/default, else the base model."""
    if settings.model_dir is not None:
        return settings.model_dir
    if (EMBEDDED_DEFAULT_DIR / "taosr1.json").is_file():
        return EMBEDDED_DEFAULT_DIR
    return prepare_base_model(settings.cache_dir)


def initial_model(settings: Settings) -> tuple[Path, str | None]:
    """What the service loads at start and its registry version (None when not from the registry):
    TAOSR1_MODEL_DIR if set, else the registry's `latest` version if one is published, else the default."""
    if settings.model_dir is None:
        latest = read_latest(settings.registry_dir) if Path(settings.registry_dir).is_dir() else None
        if latest is not None:
            return resolve(settings.registry_dir, latest), latest
    return default_model_dir(settings), None


@dataclass
class LoadedModel:
    engine: Engine
    renderer: PromptRenderer
    manifest: CheckpointManifest
    path: Path
    loaded_at: float
    load_seconds: float
    registry_version: str | None = None  # the registry's name for it, when it came from the registry
    leases: int = 0  # requests using it now (event-loop thread only); it is closed after the last one

    @property
    def ref(self) -> ModelRef:
        m = self.manifest
        return ModelRef(
            name=m.name, version=m.version, stage=m.stage, engine=self.engine.name,
            label_scheme=m.label_scheme, prompt_version=m.prompt_version,
        )


def engine_options(settings: Settings) -> dict:
    if settings.engine == "transformers":
        return {
            "dtype": settings.dtype,
            "device": settings.device,
            "threads": settings.threads,
            "prefix_sharing": settings.prefix_sharing,
            "max_batch_tokens": settings.batch_max_tokens,
        }
    if settings.engine == "vllm":
        return {
            "dtype": settings.dtype,
            "threads": settings.threads,
            "mode": settings.vllm_mode,
            "url": settings.vllm_url,
            "start_sidecar": settings.vllm_start_sidecar,
            "max_model_len": settings.vllm_max_model_len,
            "kv_cache_gb": settings.vllm_kv_cache_gb,
            "gpu_memory_utilization": settings.vllm_gpu_memory_utilization,
            "enable_lora": settings.vllm_enable_lora,
            "max_lora_rank": settings.vllm_max_lora_rank,
            "max_loras": settings.vllm_max_loras,
            "enforce_eager": settings.vllm_enforce_eager,
            "startup_timeout_s": settings.vllm_startup_timeout_s,
            "request_timeout_s": settings.vllm_request_timeout_s,
        }
    return {"dtype": settings.dtype}


def load_model(settings: Settings, model_dir: Path) -> LoadedModel:
    """Load and warm up a checkpoint (blocking). Raises on anything that would make it unservable."""
    started = time.perf_counter()
    engine = create_engine(settings.engine, model_dir, cache_dir=settings.cache_dir, **engine_options(settings))
    try:
        renderer = PromptRenderer(engine.tokenizer, engine.scheme)
        warm_up(engine, renderer)
    except BaseException:
        engine.close()  # a half-loaded engine must not keep its memory (or vLLM's processes)
        raise
    loaded = LoadedModel(engine, renderer, engine.manifest, Path(model_dir), time.time(), time.perf_counter() - started)
    log.info("loaded %s v%s from %s in %.1fs", loaded.manifest.name, loaded.manifest.version, model_dir, loaded.load_seconds)
    return loaded


def warm_up(engine: Engine, renderer: PromptRenderer) -> None:
    """One real scoring pass (two products, shared prefix) — readiness means this succeeded."""
    products = [Product(id="warm-1", title="USB-C charging cable 1m"), Product(id="warm-2", title="Garden hose 15m")]
    group = ScoringGroup(renderer.encode_prefix("usb c cable"), [renderer.encode_suffix(p) for p in products])
    [rows] = engine.label_scores([group])
    if rows.shape != (2, len(engine.scheme.levels)) or not (rows == rows).all():
        raise RuntimeError(f"warm-up scoring returned unusable scores {rows!r}")


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
