"""Create an engine by name; the only module that imports a backend's code."""

from __future__ import annotations

from pathlib import Path

from relevance.engines.base import Engine

ENGINES = ("transformers", "vllm")


def create_engine(kind: str, model_dir: Path, *, cache_dir: Path, **options) -> Engine:
    """Load `model_dir` on the engine `kind`; options are the engine's keyword arguments."""
    if kind == "transformers":
        from relevance.engines.transformers_engine import TransformersEngine

        return TransformersEngine(model_dir, cache_dir=cache_dir, **options)
    if kind == "vllm":
        from relevance.engines.vllm_engine import VLLMEngine  # type: ignore[import-not-found]

        return VLLMEngine(model_dir, cache_dir=cache_dir, **options)
    raise ValueError(f"unknown engine {kind!r}; choose one of {ENGINES}")
