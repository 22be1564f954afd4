"""Where a stage starts and how its weights load for training and save with a manifest."""

from __future__ import annotations

import torch

from relevance.manifest import read_manifest
from training.config import build_config
from training.policy import TuneConfig, load_policy, save_checkpoint, start_dir_for, trainable_parameters


def test_start_dir_prefers_init_then_the_first_finished_previous_stage(tmp_path, tiny_model_dir, cache_dir):
    dpo, sft = tmp_path / "dpo" / "final", tmp_path / "sft" / "final"
    assert start_dir_for(None, [dpo, sft], str(tiny_model_dir), cache_dir) == tiny_model_dir
    sft.mkdir(parents=True)
    (sft / "taosr1.json").write_text("{}")
    assert start_dir_for(None, [dpo, sft], str(tiny_model_dir), cache_dir) == sft
    dpo.mkdir(parents=True)
    (dpo / "taosr1.json").write_text("{}")
    assert start_dir_for(None, [dpo, sft], str(tiny_model_dir), cache_dir) == dpo
    assert start_dir_for(str(tmp_path / "x"), [dpo, sft], str(tiny_model_dir), cache_dir) == tmp_path / "x"


def test_lora_on_a_full_start_then_lora_again_continues_the_same_adapter(tmp_path, tiny_model_dir, cache_dir):
    cfg = build_config(TuneConfig, {"lora": True, "lora_r": 4, "device": "cpu"})
    first = load_policy(tiny_model_dir, cache_dir, cfg, "cpu")
    assert first.kind == "adapter" and first.base_model == str(tiny_model_dir.resolve())
    with torch.no_grad():
        for p in first.model.parameters():
            if p.requires_grad:
                p.add_(0.01)
    saved = trainable_parameters(first.model)
    out = save_checkpoint(first, tmp_path / "a", stage="sft", data_hash="abc", recipe={"key": {"x": 1}}, metrics={"m": 1})
    manifest = read_manifest(out)
    assert (manifest.kind, manifest.stage, manifest.parent, manifest.data_hash) == ("adapter", "sft", str(tiny_model_dir.resolve()), "abc")
    assert not list(tmp_path.glob(".a-*"))  # the temp folder was renamed into place

    second = load_policy(out, cache_dir, cfg, "cpu")
    assert second.kind == "adapter" and second.base_model == str(tiny_model_dir.resolve())
    again = trainable_parameters(second.model)
    assert again.keys() == saved.keys() and all(torch.equal(again[k], saved[k]) for k in saved)

    merged = load_policy(out, cache_dir, build_config(TuneConfig, {"lora": False}), "cpu")
    assert merged.kind == "full" and not any("lora" in n for n, _ in merged.model.named_parameters())
    assert all(p.requires_grad for p in merged.model.parameters())


def test_export_writes_a_small_adapter_folder_that_scores_like_the_source(tmp_path, tiny_adapter_dir, cache_dir):
    """`taosr1 export`: adapter config + bf16 weights + manifest; no tokenizer; same labels as the source."""
    import numpy as np

    from relevance.engines.base import ScoringGroup
    from relevance.engines.transformers_engine import TransformersEngine
    from relevance.manifest import read_manifest
    from relevance.prompt import PromptRenderer
    from taosr1.cli import main

    out = tmp_path / "default"
    assert main(["export", "--checkpoint", str(tiny_adapter_dir), "--out", str(out), "--version", "2026.11.28", "--name", "taosr1-default"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["adapter_config.json", "adapter_model.safetensors", "taosr1.json"]
    manifest, source = read_manifest(out), read_manifest(tiny_adapter_dir)
    assert (manifest.name, manifest.version, manifest.kind, manifest.base_model) == ("taosr1-default", "2026.11.28", "adapter", source.base_model)
    assert "bfloat16" in manifest.notes
    scores = []
    for folder in (tiny_adapter_dir, out):
        engine = TransformersEngine(folder, cache_dir=cache_dir, dtype="float32")
        renderer = PromptRenderer(engine.tokenizer, engine.scheme)
        group = ScoringGroup(renderer.encode_prefix("red mug"), [renderer.encode_suffix(p) for p in _products()])
        scores.append(np.concatenate(engine.label_scores([group])))
        engine.close()
    assert np.allclose(scores[0], scores[1], atol=0.05)  # bf16 rounding of the adapter weights only


def test_export_ships_the_run_training_split_as_the_served_cases_corpus(tmp_path, tiny_adapter_dir, monkeypatch):
    """A stage checkpoint of a run exports with the run's data/train.jsonl; serving's cases index is built from it."""
    import shutil

    from relevance.datasets.jsonl import save_jsonl
    from relevance.datasets.loaders import load_pairs
    from taosr1.cli import cases_corpus_name, default_case_pairs, main
    from training.data.synthetic import generate

    run = tmp_path / "run"
    shutil.copytree(tiny_adapter_dir, run / "grpo" / "final")
    split = generate(3, 2, seed=5)
    save_jsonl(split, run / "data" / "train.jsonl")
    out = tmp_path / "served"
    assert main(["export", "--checkpoint", str(run / "grpo" / "final"), "--out", str(out), "--version", "v1"]) == 0
    assert load_pairs(out / "cases.jsonl", "jsonl") == load_pairs(run / "data" / "train.jsonl", "jsonl")
    monkeypatch.setenv("TAOSR1_MODEL_DIR", str(out))
    assert default_case_pairs() == load_pairs(out / "cases.jsonl", "jsonl") and cases_corpus_name() == str(out / "cases.jsonl")
    bare = tmp_path / "bare"
    assert main(["export", "--checkpoint", str(run / "grpo" / "final"), "--out", str(bare), "--version", "v1", "--no-cases"]) == 0
    assert not (bare / "cases.jsonl").exists()
    monkeypatch.setenv("TAOSR1_MODEL_DIR", str(bare))
    assert len(default_case_pairs()) > len(split) and "synthetic training split" in cases_corpus_name()  # the built-in corpus


def _products():
    from relevance.types import Product

    return [Product("a", "Red ceramic mug 12 oz", brand="Acme"), Product("b", "Garden hose 50ft")]


def test_a_fresh_adapter_is_drawn_from_the_run_seed_not_from_the_process(tiny_model_dir, cache_dir):
    """This PyTorch seeds every new process at random: a fresh LoRA init must come from the run's seed
    alone (the same whatever the process drew before), differ for another seed, and leave the
    process's RNG where it was."""
    cfg = build_config(TuneConfig, {"lora": True, "lora_r": 4, "device": "cpu"})

    def fresh(seed: int, draws_before: int) -> dict[str, torch.Tensor]:
        torch.rand(draws_before)
        state = torch.get_rng_state()
        weights = trainable_parameters(load_policy(tiny_model_dir, cache_dir, cfg, "cpu", seed=seed).model)
        assert torch.equal(torch.get_rng_state(), state)
        return weights

    first, again, other = fresh(3, 0), fresh(3, 1000), fresh(4, 0)
    lora_a = [k for k in first if "lora_A" in k]
    assert lora_a and all(torch.equal(first[k], again[k]) for k in first)
    assert not any(torch.equal(first[k], other[k]) for k in lora_a)
