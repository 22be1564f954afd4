"""The prepared base model's manifest follows the current prompt version and label scheme."""

import json
from pathlib import Path

from relevance.base_model import _current_base_manifest
from relevance.labels import DEFAULT_SCHEME
from relevance.prompt import PROMPT_VERSION


def _write(path: Path, **fields: str) -> Path:
    path.write_text(json.dumps({"kind": "causal-lm", **fields}))
    return path


def test_a_base_manifest_is_restamped_with_the_current_prompt_and_scheme(tmp_path: Path) -> None:
    path = _write(tmp_path / "taosr1.json", stage="base", prompt_version="taosr1-prompt-v0", label_scheme="taosr1-4level")
    _current_base_manifest(path)
    raw = json.loads(path.read_text())
    assert (raw["prompt_version"], raw["label_scheme"], raw["kind"]) == (PROMPT_VERSION, DEFAULT_SCHEME.name, "causal-lm")
    assert not path.with_suffix(".json.tmp").exists()


def test_a_trained_manifest_keeps_the_scheme_it_was_trained_under(tmp_path: Path) -> None:
    path = _write(tmp_path / "taosr1.json", stage="grpo", prompt_version="taosr1-prompt-v0", label_scheme="taosr1-4level")
    before = path.read_text()
    _current_base_manifest(path)
    assert path.read_text() == before
