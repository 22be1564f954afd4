"""One settings object, read once from the environment (prefix `TAOSR1_`); nothing else reads env.

The engine part (`TAOSR1_ENGINE`, `TAOSR1_DTYPE`, `TAOSR1_VLLM_*`, …) is inherited from
`relevance.engines.options.EngineSettings`, which trainers read alone.

Validation here fails fast at start-up with the setting's name and the fix.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from relevance.engines.options import EngineSettings
from relevance.paths import REPO_ROOT
from relevance.retrieval_config import DEFAULT_RETRIEVAL, RetrievalConfig
from relevance.scoring import DEFAULT_BETA

DEFAULT_ADMIN_TOKENS = frozenset({"", "change-me", "changeme", "admin", "secret", "token"})


class Settings(EngineSettings):
    # hide_input_in_errors: a refusal never echoes what was given (the admin token is a secret)
    model_config = SettingsConfigDict(env_prefix="TAOSR1_", env_file=None, extra="ignore", hide_input_in_errors=True)

    # where
    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to bind.")
    index_dir: Path | None = Field(None, description="Retrieval indexes (default: <cache_dir>/indexes).")
    registry_dir: Path = Field(REPO_ROOT / "var" / "registry", description="Model registry (versioned checkpoints).")

    # model (engine, dtype, device, threads, prefix_sharing, batch_max_tokens, vllm_*: EngineSettings)
    model_dir: Path | None = Field(
        None, description="Checkpoint folder to serve (default: the embedded default model)."
    )
    # retrieval
    retrieval: bool = Field(
        DEFAULT_RETRIEVAL.enabled, description="Put retrieved rules, cases and query knowledge into the prompt."
    )
    k_rules: int = Field(DEFAULT_RETRIEVAL.k_rules, ge=0, le=20)
    k_cases: int = Field(DEFAULT_RETRIEVAL.k_cases, ge=0, le=20)
    k_knowledge: int = Field(DEFAULT_RETRIEVAL.k_knowledge, ge=0, le=20)

    # scoring
    beta: float = Field(DEFAULT_BETA, ge=0.0, le=1.0, description="Default CumPT β.")

    # limits
    max_products: int = Field(128, ge=1, description="Max products in one /relevance call.")
    max_batch_pairs: int = Field(10_000, ge=1, description="Max pairs in one /relevance/batch call.")
    max_rerank_documents: int = Field(
        1000, ge=1, description="Max documents in one /v1/rerank, /v2/rerank or /rerank call (one query group)."
    )
    max_query_chars: int = Field(512, ge=1)
    max_title_chars: int = Field(1000, ge=1)
    max_field_chars: int = Field(2000, ge=1, description="Max chars of brand, category, each attribute.")
    max_description_chars: int = Field(10_000, ge=1)
    max_attributes: int = Field(64, ge=0)
    max_explain_products: int = Field(16, ge=1, description="Max products per call with explain=true.")
    explain_max_new_tokens: int = Field(160, ge=1, le=2048)

    # batching
    batch_max_wait_ms: float = Field(2.0, ge=0, description="How long the batcher waits to fill a batch.")
    queue_max_pairs: int = Field(2048, ge=1, description="Pairs waiting for the engine before 429.")
    retry_after_s: int = Field(1, ge=1, description="Retry-After sent with 429 and 503.")

    # deadline and overload (service.deadline): answer within the deadline, or refuse / degrade
    deadline_ms: float = Field(
        10_000, ge=1,
        description="Default time budget of a scoring request, from arrival to answer (request field deadline_ms). "
        "10 s lets a 32-product page of the CPU default through (~6 s); lower it on GPU deployments.",
    )
    max_deadline_ms: float = Field(300_000, ge=1, description="The largest deadline_ms a request may ask for.")
    deadline_margin_ms: float = Field(
        50, ge=0, description="Kept back from every deadline for building and sending the answer."
    )
    overload: Literal["reject", "fallback"] = Field(
        "reject",
        description="What happens to pairs that cannot be scored in time: reject (429 with Retry-After, or 422 when "
        "the request alone can never fit) or fallback (scored by the calibrated MiniLM fallback, marked so).",
    )
    admission_headroom: float = Field(
        1.0, ge=1.0, le=10.0, description="Measured cost estimates are multiplied by this before admitting (more caution)."
    )
    pace_stale_s: float = Field(
        5.0, ge=0,
        description="Before refusing a request as too large (422), re-time the engine when no engine call has measured "
        "its speed for this many seconds (a pace measured under contention at start-up or reload is corrected).",
    )

    # lifecycle
    drain_delay_s: float = Field(2.0, ge=0, description="After SIGTERM: seconds readiness is 503 before exit may start.")
    drain_timeout_s: float = Field(30.0, ge=0, description="After the delay: max seconds to wait for in-flight requests.")

    # hot-loading from the model registry (registry_dir)
    registry_poll_s: float = Field(
        5.0, ge=0, description="How often to check the registry's `latest` pointer for a new version (0: never)."
    )
    canary_data: Path | None = Field(
        None, description="Labelled pairs (esci/wands/jsonl) a new version must pass (default: the shipped ESCI fixture)."
    )
    canary_size: int = Field(16, ge=1, description="How many canary pairs to score before a swap.")
    canary_min_macro_f1: float = Field(
        0.0, ge=0, le=1, description="Refuse a new version whose macro-F1 on the canary set is below this."
    )
    canary_max_drop: float = Field(
        0.1, ge=0, le=1,
        description="Refuse a new version whose canary macro-F1 is more than this below the serving model's (1: off).",
    )
    canary_min_agreement: float = Field(
        0.0, ge=0, le=1, description="Refuse a new version whose labels agree with the serving model's on fewer canary pairs."
    )

    # durable batch jobs (service.jobs)
    jobs_dir: Path = Field(REPO_ROOT / "var" / "jobs", description="Batch jobs: their inputs and SQLite state (jobs.db).")
    job_chunk_pairs: int = Field(
        32, ge=1, le=4096, description="Pairs a job scores per step; results are committed per step; online requests wait at most one step."
    )
    job_max_upload_mb: float = Field(2048, gt=0, description="Largest POST /jobs upload, in MiB.")

    # admin
    admin_enabled: bool = Field(False, description="Serve POST /admin/reload and /admin/rollback (needs admin_token).")
    admin_token: str = Field("", description="Bearer token for /admin/*: long and random; default values are refused.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.model_dir is not None and not (self.model_dir / "taosr1.json").is_file():
            raise ValueError(
                f"TAOSR1_MODEL_DIR={self.model_dir} has no taosr1.json manifest: point it at a checkpoint folder "
                "(or unset it to serve the embedded default)"
            )
        if self.engine == "vllm" and self.vllm_mode == "sidecar" and not self.vllm_start_sidecar and not self.vllm_url:
            raise ValueError("TAOSR1_VLLM_START_SIDECAR=false needs TAOSR1_VLLM_URL (the running vLLM server's http://host:port)")
        if self.admin_enabled and self.admin_token.strip().lower() in DEFAULT_ADMIN_TOKENS:
            raise ValueError(
                "TAOSR1_ADMIN_ENABLED=true needs TAOSR1_ADMIN_TOKEN set to a long random value "
                "(it is empty or a default): e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        if self.deadline_ms > self.max_deadline_ms:
            raise ValueError(f"TAOSR1_DEADLINE_MS ({self.deadline_ms:g}) must not exceed TAOSR1_MAX_DEADLINE_MS ({self.max_deadline_ms:g})")
        if self.admin_token and self.admin_token.strip().lower() in DEFAULT_ADMIN_TOKENS:
            raise ValueError("TAOSR1_ADMIN_TOKEN is a default/guessable value: set a long random token")
        return self

    @property
    def retrieval_config(self) -> RetrievalConfig:
        """What the scoring core retrieves: the one config eval, CoT and manifests also use."""
        return RetrievalConfig(self.retrieval, self.k_rules, self.k_cases, self.k_knowledge)

    @cached_property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.cache_dir / "indexes"
