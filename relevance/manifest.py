"""Checkpoint manifests: the JSON file (`taosr1.json`) that sits beside every checkpoint's weights.

It says what the weights are (full model or adapter, and on which base), which label scheme
and prompt version they were trained for (and the retrieval config with its index corpus hash), where they came from (stage, parent, data hash,
recipe) and how they measured. The loader refuses a manifest it does not understand and
names the field, so the service never serves weights under the wrong contract.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relevance.labels import DEFAULT_SCHEME, SCHEMES
from relevance.prompt import KNOWN_PROMPT_VERSIONS, PROMPT_VERSION
from relevance.retrieval_config import RetrievalConfig, coverage_options
from relevance.stages import STAGES

log = logging.getLogger("taosr1.manifest")

MANIFEST_FILE = "taosr1.json"
FORMAT_VERSION = 1
KINDS = ("full", "adapter", "cross-encoder")


class ManifestError(ValueError):
    """A manifest is missing, malformed, or describes something this build cannot serve."""

    def __init__(self, path: Path | str, field_name: str, problem: str):
        self.field = field_name
        super().__init__(f"{path}: manifest field {field_name!r}: {problem}")


@dataclass
class CheckpointManifest:
    name: str
    version: str
    base_model: str
    kind: str = "full"
    label_scheme: str = DEFAULT_SCHEME.name
    prompt_version: str = PROMPT_VERSION
    stage: str = "base"
    parent: str | None = None
    data_hash: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    # the retrieval config it was trained with (RetrievalConfig keys) and "corpus": the index corpus
    # hash; empty in manifests written before it was recorded (read as "the default, any corpus")
    retrieval: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    notes: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


_REQUIRED = ("name", "version", "base_model")


def validate_manifest(raw: dict[str, Any], path: Path | str = "<manifest>") -> CheckpointManifest:
    """Build a manifest from parsed JSON, refusing unknown fields and unsupported values."""
    if not isinstance(raw, dict):
        raise ManifestError(path, "<root>", "must be a JSON object")
    known = {f.name for f in fields(CheckpointManifest)}
    for key in raw:
        if key not in known:
            raise ManifestError(path, key, f"unknown field; this build understands {sorted(known)}")
    for key in _REQUIRED:
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ManifestError(path, key, "required, a non-empty string")
    fmt = raw.get("format_version", FORMAT_VERSION)
    if fmt != FORMAT_VERSION:
        raise ManifestError(path, "format_version", f"{fmt!r} is not supported (this build reads {FORMAT_VERSION})")
    checks = {
        "kind": KINDS,
        "stage": STAGES,
        "label_scheme": tuple(SCHEMES),
        "prompt_version": tuple(sorted(KNOWN_PROMPT_VERSIONS)),
    }
    for key, allowed in checks.items():
        if key in raw and raw[key] not in allowed:
            raise ManifestError(path, key, f"{raw[key]!r} is not one of {list(allowed)}")
    for key in ("metrics", "recipe", "retrieval"):
        if key in raw and not isinstance(raw[key], dict):
            raise ManifestError(path, key, "must be a JSON object")
    try:
        trained_retrieval(CheckpointManifest(**raw))
    except (TypeError, ValueError) as exc:
        raise ManifestError(path, "retrieval", str(exc)) from exc
    return CheckpointManifest(**raw)


def trained_retrieval(manifest: CheckpointManifest) -> RetrievalConfig:
    """The retrieval config the checkpoint was trained with (the default when the manifest predates it)."""
    return RetrievalConfig.from_dict({k: v for k, v in manifest.retrieval.items() if k != "corpus"})


def check_retrieval(manifest: CheckpointManifest, serving: RetrievalConfig, retriever: object, path: Path | str) -> None:
    """Refuse to serve a checkpoint with another retrieval config than it recorded (like the prompt version).

    Manifests without a recorded config are served under any config. A recorded index corpus
    hash that differs from the serving index's is logged, not refused (cases indexes grow).
    """
    if not manifest.retrieval:
        return
    trained = trained_retrieval(manifest)
    # the coverage line is the model's own (the renderer reads it)
    if trained != replace(serving, **coverage_options(trained)):
        raise ManifestError(
            path, "retrieval",
            f"trained with {trained.to_dict()}, serving config is {serving.to_dict()}: set TAOSR1_RETRIEVAL / "
            "TAOSR1_K_RULES / TAOSR1_K_CASES / TAOSR1_K_KNOWLEDGE to the trained values, or retrain",
        )
    corpus, serving_corpus = manifest.retrieval.get("corpus"), getattr(retriever, "corpus_hash", None)
    if corpus and serving_corpus and corpus != serving_corpus:
        log.warning("%s: trained on index corpus %s…, serving %s…", path, corpus[:12], serving_corpus[:12])


def read_manifest(model_dir: Path | str) -> CheckpointManifest:
    path = Path(model_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ManifestError(path, "<file>", f"missing: every checkpoint folder needs a {MANIFEST_FILE}")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(path, "<json>", f"not valid JSON ({exc})") from exc
    return validate_manifest(raw, path)


def require_llm(manifest: CheckpointManifest, path: Path | str) -> CheckpointManifest:
    """The manifest, when it describes an LLM checkpoint (full or adapter) an engine can load."""
    if manifest.kind not in ("full", "adapter"):
        raise ManifestError(
            path,
            "kind",
            f"{manifest.kind!r} checkpoints are not served by the LLM engines; "
            "evaluate them with `taosr1 eval --model` (cross-encoder baselines) or serve a full/adapter checkpoint",
        )
    return manifest


def write_manifest(model_dir: Path | str, manifest: CheckpointManifest) -> Path:
    """Write the manifest durably (temp file, fsync, rename)."""
    validate_manifest(asdict(manifest))
    path = Path(model_dir) / MANIFEST_FILE
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as fh:
        fh.write(manifest.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
