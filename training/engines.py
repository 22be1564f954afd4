"""Open a serving engine on a checkpoint for a trainer's offline work (pass@N sampling, eval).

The backend follows the serving configuration unless the stage names one: `engine="auto"`
reads `TAOSR1_ENGINE` (and, for vLLM, every `TAOSR1_VLLM_*` option) through
`relevance.engines.options.EngineSettings`, the engine part of the service's settings, so
training samples from exactly the engine that will serve. Knows nothing about what the
engine is used for.
"""

from __future__ import annotations

from pathlib import Path

from relevance.engines.base import Engine


def open_engine(model_dir: Path, cache_dir: Path, engine: str = "auto", device: str = "cpu", dtype: str = "auto") -> Engine:
    """An engine (transformers or vLLM) holding `model_dir`."""
    from relevance.engines import options

    overrides: dict = {"cache_dir": Path(cache_dir), "dtype": dtype, "device": device}
    if engine != "auto":
        overrides["engine"] = engine
    return options.open_engine(options.EngineSettings(**overrides), Path(model_dir))
