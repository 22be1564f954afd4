"""The pipeline's soup stage on the tiny model: a second RL seed from the run's SFT adapter, averaged with the run's GRPO."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from relevance.engines.base import ScoringGroup
from relevance.engines.transformers_engine import TransformersEngine
from relevance.manifest import read_manifest
from relevance.prompt import PromptRenderer
from relevance.types import Product
from tests.training.conftest import make_run, toy_records
from training.pipeline import build_configs, load_recipe, run_pipeline, run_stage
from training.run import RunLayout
from training.seed_soup import seed_dir

LABEL_TUNE = {"objective": "label", "lora": True, "batch_size": 4, "learning_rate": 5e-3, "device": "cpu", "log_steps": 1, "save_steps": 100}


def recipe(run_dir: Path, tiny_model_dir: Path, cache_dir: Path, seeds: list[int]) -> dict:
    return {
        "run": {"run_dir": str(run_dir), "cache_dir": str(cache_dir), "base_model": str(tiny_model_dir), "retrieval": False,
                "dtype": "float32", "seed": 0},
        "sft": {**LABEL_TUNE, "lora_r": 4, "lora_alpha": 8, "max_steps": 2, "learning_rate": 1e-2},
        "sampling": {"n": 3, "engine": "transformers", "engine_device": "cpu"},
        "dpo": {**LABEL_TUNE, "max_steps": 2},
        "grpo": {**LABEL_TUNE, "max_steps": 2, "group_size": 4, "dynamic_sampling": False},
        "soup": {"seeds": seeds},
        "pipeline": {"stages": ["sft", "dpo", "grpo", "soup"], "isolate": False},
    }


@pytest.fixture(scope="module")
def souped_run(tmp_path_factory, tiny_model_dir, cache_dir) -> Path:
    root = tmp_path_factory.mktemp("soup-run")
    make_run(root / "run", tiny_model_dir, cache_dir, toy_records(rationale=False))
    path = root / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe(root / "run", tiny_model_dir, cache_dir, [0, 1])))
    run_pipeline(path)
    return root


def test_the_soup_averages_the_run_grpo_with_a_seed_trained_from_the_same_sft(souped_run, cache_dir):
    layout = RunLayout(souped_run / "run")
    seed = seed_dir(layout, 1)
    assert (seed / "sft").is_symlink() and (seed / "sft").resolve() == (layout.root / "sft").resolve()
    own, other = read_manifest(layout.final("grpo")), read_manifest(RunLayout(seed).final("grpo"))
    assert (own.recipe["run"]["seed"], other.recipe["run"]["seed"]) == (0, 1)
    assert read_manifest(RunLayout(seed).final("dpo")).parent == str(layout.final("sft").resolve())
    soup = read_manifest(layout.final("soup"))
    assert (soup.stage, soup.kind, soup.base_model) == ("soup", "adapter", own.base_model)
    ingredients = soup.recipe["soup"]["ingredients"]
    assert [i["path"] for i in ingredients] == [str(layout.final("grpo").resolve()), str(RunLayout(seed).final("grpo").resolve())]
    assert [i["seed"] for i in ingredients] == [0, 1]

    renderer = None
    scores = {}
    for name, folder in (("own", layout.final("grpo")), ("seed", RunLayout(seed).final("grpo")), ("soup", layout.final("soup"))):
        engine = TransformersEngine(folder, cache_dir=cache_dir, dtype="float32")
        renderer = renderer or PromptRenderer(engine.tokenizer, engine.scheme)
        products = [Product("a", "Expandable garden hose 50ft"), Product("b", "Hose reel cart")]
        group = ScoringGroup(renderer.encode_prefix("garden hose"), [renderer.encode_suffix(p) for p in products])
        scores[name] = engine.label_scores([group])[0]
    assert np.abs(scores["own"] - scores["seed"]).max() > 0  # the seed changed what RL learned
    assert scores["soup"].shape == (2, 4) and np.isfinite(scores["soup"]).all()
    assert np.abs(scores["soup"] - scores["own"]).max() > 0 and np.abs(scores["soup"] - scores["seed"]).max() > 0


def test_rerunning_the_stage_skips_trained_seeds_and_rewrites_the_soup(souped_run):
    cfgs = build_configs(load_recipe(souped_run / "recipe.yaml"))
    before = (souped_run / "run" / "soup" / "final" / "adapter_model.safetensors").read_bytes()
    summary = run_stage("soup", cfgs)
    assert summary["seeds"] == [0, 1]
    assert summary["stages"]["seed1.dpo"]["skipped"] is True and summary["stages"]["seed1.grpo"]["skipped"] is True
    assert (souped_run / "run" / "soup" / "final" / "adapter_model.safetensors").read_bytes() == before


def test_no_other_seed_skips_the_stage_and_a_missing_grpo_is_named(tmp_path, tiny_model_dir, cache_dir):
    cfgs = build_configs(recipe(tmp_path / "run", tiny_model_dir, cache_dir, [0]))
    assert run_stage("soup", cfgs) == {"skipped": True}
    cfgs = build_configs(recipe(tmp_path / "run", tiny_model_dir, cache_dir, [3]))
    with pytest.raises(FileNotFoundError, match="run grpo first"):
        run_stage("soup", cfgs)
    with pytest.raises(ValueError, match="repeats a seed"):
        build_configs(recipe(tmp_path / "run", tiny_model_dir, cache_dir, [1, 1]))
    assert json.dumps(cfgs["soup"].seeds) == "[3]"
