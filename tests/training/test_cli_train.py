"""`taosr1 train cot|sft`, `taosr1 train pipeline` and `taosr1 publish` as subprocesses on the tiny recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relevance.engines.base import ScoringGroup
from relevance.engines.transformers_engine import TransformersEngine
from relevance.manifest import read_manifest
from relevance.prompt import PromptRenderer
from relevance.registry import read_latest, resolve
from training.config import missing_help
from training.pipeline import SECTIONS, STAGE_SECTIONS

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "training" / "recipes" / "tiny.yaml"
SFT_FLAGS = ["--max-steps", "2", "--batch-size", "2", "--max-records", "4", "--device", "cpu", "--lora-r", "4", "--save-steps", "1", "--log-steps", "1"]


def taosr1(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "taosr1.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, tiny_model_dir, cache_dir, index_dir) -> dict:
    root = tmp_path_factory.mktemp("cli-run")
    common = ["--recipe", str(RECIPE), "--run-dir", str(root / "run"), "--base-model", str(tiny_model_dir),
              "--cache-dir", str(cache_dir), "--index-dir", str(index_dir)]
    cot = taosr1("train", "cot", *common, "--synthetic-queries", "3", "--synthetic-products", "2", "--hard-queries", "2",
                 "--hard-products", "2", "--max-pairs", "4")
    assert cot.returncode == 0, cot.stderr[-3000:]
    sft = taosr1("train", "sft", *common, *SFT_FLAGS)
    assert sft.returncode == 0, sft.stderr[-3000:]
    return {"root": root, "common": common, "cot": json.loads(cot.stdout.strip().splitlines()[-1]),
            "sft": json.loads(sft.stdout.strip().splitlines()[-1])}


def test_every_stage_field_has_help_text():
    assert {name: missing_help(cls) for name, cls in SECTIONS.items() if missing_help(cls)} == {}
    assert set(STAGE_SECTIONS) == {"cot", "baseline", "sft", "dpo", "grpo", "soup", "eval"}


def test_train_sft_produces_a_checkpoint_the_engine_serves(cli_run, tiny_model_dir, cache_dir):
    assert cli_run["cot"]["kept"] == 4
    summary = cli_run["sft"]
    assert summary["skipped"] is False and summary["steps"] == 2 and summary["examples"] == 4
    final = Path(summary["checkpoint"])
    manifest = read_manifest(final)
    assert manifest.stage == "sft" and manifest.kind == "adapter" and manifest.recipe["sft"]["max_steps"] == 2
    assert manifest.recipe["run"]["retrieval"] is True  # from the recipe, not overridden
    engine = TransformersEngine(final, cache_dir=cache_dir, dtype="float32")
    base = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32")
    renderer = PromptRenderer(engine.tokenizer, engine.scheme)
    group = ScoringGroup(renderer.encode_prefix("garden hose"), [renderer.encode_suffix(p) for p in _products()])
    trained, untrained = engine.label_scores([group])[0], base.label_scores([group])[0]
    assert trained.shape == (2, 4) and np.abs(trained - untrained).max() > 0


def test_publish_then_rerun_is_a_no_op(cli_run, tmp_path):
    final = cli_run["sft"]["checkpoint"]
    registry = tmp_path / "registry"
    pub = taosr1("publish", "--checkpoint", final, "--registry", str(registry))
    assert pub.returncode == 0, pub.stderr[-2000:]
    out = json.loads(pub.stdout)
    assert out["version"] == "v0001" and read_latest(registry) == "v0001"
    assert read_manifest(resolve(registry)).stage == "sft"
    sets = ["--set", f"run.run_dir={cli_run['root'] / 'run'}"] + [
        f"--set={section}.{key.lstrip('-').replace('-', '_')}={value}"
        for section, flags in (("run", cli_run["common"][2:]), ("sft", SFT_FLAGS))
        for key, value in zip(flags[::2], flags[1::2], strict=True)
        if key != "--run-dir"
    ]
    again = taosr1("train", "pipeline", "--recipe", str(RECIPE), "--stages", "sft", *sets)
    assert again.returncode == 0, again.stderr[-3000:]
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["sft"] == {"checkpoint": final, "skipped": True}


def test_unknown_override_is_refused_with_the_known_keys(tmp_path):
    r = taosr1("train", "pipeline", "--recipe", str(RECIPE), "--set", "sft.max_stepz=3", "--stages", "sft")
    assert r.returncode != 0 and "unknown command line key 'max_stepz'" in r.stderr and "max_steps" in r.stderr


def test_a_list_override_takes_the_recipe_list_form_and_a_broken_one_names_the_key():
    from training.config import ConfigError, load_recipe
    from training.pipeline import build_configs, parse_sets

    item = 'data.eval_files=["held-out=f.csv#fold=2/4", "seen=f.csv#fold=0/4"]'
    cfgs = build_configs(load_recipe(RECIPE), parse_sets([item, "eval.sets=[held-out, seen]", "data.rl_only=[]"]))
    assert cfgs["data"].eval_files == ["held-out=f.csv#fold=2/4", "seen=f.csv#fold=0/4"]
    assert cfgs["eval"].sets == ["held-out", "seen"] and cfgs["data"].rl_only == []
    assert build_configs(load_recipe(RECIPE), parse_sets(["eval.stages=sft,grpo"]))["eval"].stages == ["sft", "grpo"]
    with pytest.raises(ConfigError, match=r"DataConfig\.train: '\[a, b' is not a valid list"):
        build_configs(load_recipe(RECIPE), parse_sets(["data.train=[a, b"]))


def _products():
    from relevance.types import Product

    return [Product("a", "Expandable garden hose 50ft"), Product("b", "Hose reel cart")]


def test_a_failing_stage_in_its_child_process_fails_the_pipeline_with_its_message(tmp_path):
    r = taosr1("train", "pipeline", "--recipe", str(RECIPE), "--set", f"run.run_dir={tmp_path / 'empty'}", "--stages", "sft")
    assert r.returncode != 0
    assert "stage sft failed" in r.stderr and "run `taosr1 train cot` first" in r.stderr
