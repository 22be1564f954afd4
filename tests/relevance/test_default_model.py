"""The embedded default model shipped in models/default: a small, valid adapter that `make serve` picks up."""

from __future__ import annotations

import json
from pathlib import Path

from relevance.base_model import BASE_MODEL_NAME
from relevance.manifest import read_manifest
from relevance.stages import EVAL_STAGES, REFERENCE_STAGES
from service.runtime import EMBEDDED_DEFAULT_DIR, default_model_dir
from service.settings import Settings


def test_default_model_is_a_small_adapter_over_the_embedded_base_with_its_eval_record():
    manifest = read_manifest(EMBEDDED_DEFAULT_DIR)
    assert manifest.kind == "adapter" and manifest.base_model == BASE_MODEL_NAME
    trained = set(EVAL_STAGES) - set(REFERENCE_STAGES)  # sft, dpo, grpo, soup: what the pipeline trains
    assert manifest.stage in trained and manifest.data_hash
    files = sorted(p.name for p in EMBEDDED_DEFAULT_DIR.iterdir())
    assert {"adapter_config.json", "adapter_model.safetensors", "taosr1.json"} <= set(files)
    assert sum(p.stat().st_size for p in EMBEDDED_DEFAULT_DIR.iterdir()) < 12 * 2**20  # a few MB, fine for git
    config = json.loads((EMBEDDED_DEFAULT_DIR / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] >= 1
    # the recipe that produced it is recorded (and points at the shipped recipe file's settings)
    assert manifest.recipe["run"]["base_model"] == BASE_MODEL_NAME


def test_make_serve_serves_the_default_unless_a_model_is_given(tmp_path, tiny_model_dir):
    assert default_model_dir(Settings(cache_dir=tmp_path)) == EMBEDDED_DEFAULT_DIR
    assert default_model_dir(Settings(cache_dir=tmp_path, model_dir=tiny_model_dir)) == Path(tiny_model_dir)
