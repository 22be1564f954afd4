"""One settings object, read once from the environment (prefix `TAOSR1_`); nothing else reads env.

Validation here fails fast at start-up with the setting's name and the fix.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ADMIN_TOKENS = frozenset({"", "change-me", "changeme", "admin", "secret", "token"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAOSR1_", env_file=None, extra="ignore")

    # where
    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to bind.")
    cache_dir: Path = Field(REPO_ROOT / "var" / "cache", description="Prepared base model and other caches.")
    index_dir: Path | None = Field(None, description="Retrieval indexes (default: <cache_dir>/indexes).")
    registry_dir: Path = Field(REPO_ROOT / "var" / "registry", description="Model registry (versioned checkpoints).")

    # model
    model_dir: Path | None = Field(
        None, description="Checkpoint folder to serve (default: the embedded default model)."
    )
    engine: Literal["transformers", "vllm"] = Field("transformers", description="Scoring backend.")
    dtype: Literal["auto", "bfloat16", "float32", "float16"] = Field(
        "auto", description="Weights dtype; auto = bf16 where the CPU or GPU supports it."
    )
    device: str = Field("cpu", description="torch device for the transformers engine (cpu, cuda, cuda:1).")
    threads: int | None = Field(None, ge=1, description="Intra-op threads (default: all available cores).")
    prefix_sharing: bool = Field(True, description="Reuse a query's prefix KV cache across its products.")

    # retrieval
    retrieval: bool = Field(True, description="Put retrieved rules, cases and query knowledge into the prompt.")
    k_rules: int = Field(3, ge=0, le=20)
    k_cases: int = Field(2, ge=0, le=20)
    k_knowledge: int = Field(1, ge=0, le=20)

    # scoring
    beta: float = Field(0.5, ge=0.0, le=1.0, description="Default CumPT β.")

    # limits
    max_products: int = Field(128, ge=1, description="Max products in one /relevance call.")
    max_batch_pairs: int = Field(10_000, ge=1, description="Max pairs in one /relevance/batch call.")
    max_query_chars: int = Field(512, ge=1)
    max_title_chars: int = Field(1000, ge=1)
    max_field_chars: int = Field(2000, ge=1, description="Max chars of brand, category, each attribute.")
    max_description_chars: int = Field(10_000, ge=1)
    max_attributes: int = Field(64, ge=0)
    max_explain_products: int = Field(16, ge=1, description="Max products per call with explain=true.")
    explain_max_new_tokens: int = Field(160, ge=1, le=2048)

    # batching
    batch_max_tokens: int = Field(16384, ge=256, description="Token budget of one engine call.")
    batch_max_wait_ms: float = Field(2.0, ge=0, description="How long the batcher waits to fill a batch.")
    queue_max_pairs: int = Field(2048, ge=1, description="Pairs waiting for the engine before 429.")
    retry_after_s: int = Field(1, ge=1, description="Retry-After sent with 429 and 503.")

    # admin
    admin_token: str = Field("", description="Bearer token for /admin/*; admin is off while empty.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.model_dir is not None and not (self.model_dir / "taosr1.json").is_file():
            raise ValueError(
                f"TAOSR1_MODEL_DIR={self.model_dir} has no taosr1.json manifest: point it at a checkpoint folder "
                "(or unset it to serve the embedded default)"
            )
        if self.admin_token and self.admin_token.strip().lower() in DEFAULT_ADMIN_TOKENS:
            raise ValueError("TAOSR1_ADMIN_TOKEN is a default/guessable value: set a long random token")
        return self

    @cached_property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.cache_dir / "indexes"

    @property
    def admin_enabled(self) -> bool:
        return bool(self.admin_token)
