"""Checkpoint manifests: the JSON file (`taosr1.json`) that sits beside every checkpoint's weights.

It says what the weights are (full model or adapter, and on which base), which label scheme
and prompt version they were trained for, where they came from (stage, parent, data hash,
recipe) and how they measured. The loader refuses a manifest it does not understand and
names the field, so the service never serves weights under the wrong contract.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relevance.labels import DEFAULT_SCHEME, SCHEMES
from relevance.prompt import KNOWN_PROMPT_VERSIONS, PROMPT_VERSION

MANIFEST_FILE = "taosr1.json"
FORMAT_VERSION = 1
KINDS = ("full", "adapter", "cross-encoder")
STAGES = ("base", "zeroshot", "baseline", "sft", "dpo", "grpo", "merged", "custom")


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
    for key in ("metrics", "recipe"):
        if key in raw and not isinstance(raw[key], dict):
            raise ManifestError(path, key, "must be a JSON object")
    return CheckpointManifest(**raw)


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
