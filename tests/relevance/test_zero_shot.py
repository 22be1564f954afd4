"""The zero-shot baseline: a short prompt (query, title, brand), scored by the real engine from one prefill."""

from __future__ import annotations

import numpy as np
import pytest

from relevance.engines.transformers_engine import TransformersEngine
from relevance.labels import TAOSR1
from relevance.scoring import softmax_rows
from relevance.types import LabeledPair, Product, RetrievedContext
from relevance.zero_shot import ZERO_SHOT_PROMPT_VERSION, ZeroShotRenderer, zero_shot_instruction, zero_shot_judge

PRODUCTS = [
    Product("a", "Silicone case for iPhone 13", brand="Spigen", description="soft touch", category="Cases"),
    Product("b", "USB-C wall charger 20 W"),
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir, cache_dir):
    return TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32", threads=2)


def test_the_prompt_is_query_title_brand_and_one_line_per_level(engine):
    r = ZeroShotRenderer(engine.tokenizer, TAOSR1)
    context = RetrievedContext(rules=("a retrieved rule",), cases=("query: x | product: y -> 4",))
    prefix = r.prefix_text("iphone 13 case", context)
    assert "iphone 13 case" in prefix and "retrieved rule" not in prefix and "product: y" not in prefix
    assert all(f"{lv.emit} = {lv.name}" in zero_shot_instruction(TAOSR1) for lv in TAOSR1.levels)
    first, second = r.suffix_text(PRODUCTS[0]), r.suffix_text(PRODUCTS[1])
    assert "Silicone case for iPhone 13" in first and "Brand: Spigen" in first
    assert "soft touch" not in first and "Cases" not in first and "Brand" not in second
    assert r.version == ZERO_SHOT_PROMPT_VERSION
    assert r.encode("q", PRODUCTS[0])[: len(r.encode_prefix("q"))] == r.encode_prefix("q")  # one prefix for every product


def test_the_judge_reads_the_label_distribution_of_one_forward(engine):
    import torch

    judge = zero_shot_judge(engine)
    assert judge.retriever is None
    scored = judge.score_pairs(["iphone 13 case"] * 2, PRODUCTS)
    with torch.inference_mode():
        expected = np.stack([
            engine.model(input_ids=torch.tensor([judge.renderer.encode("iphone 13 case", p)])).logits[0, -1][engine.label_ids].float().numpy()
            for p in PRODUCTS
        ])
    probs = np.array([[s.probs[lv] for lv in TAOSR1.level_values] for s in scored])
    np.testing.assert_allclose(probs, softmax_rows(expected), atol=1e-4)
    assert [s.level for s in scored] == [TAOSR1.level_values[int(i)] for i in expected.argmax(axis=1)]


def test_train_eval_has_a_zeroshot_row(engine, tiny_model_dir, cache_dir, tmp_path):
    from training.config import build_config
    from training.evaluate import EvalConfig, evaluate_checkpoint
    from training.run import RunConfig

    run = build_config(RunConfig, {"run_dir": str(tmp_path / "run"), "cache_dir": str(cache_dir), "retrieval": False, "dtype": "float32"})
    cfg = build_config(EvalConfig, {"stages": ["zeroshot"], "explain_samples": 0, "eval_device": "cpu"})
    pairs = [LabeledPair("iphone 13 case", PRODUCTS[0], 4), LabeledPair("iphone 13 case", PRODUCTS[1], 1)]
    out = evaluate_checkpoint(tiny_model_dir, {"real": pairs}, cfg, run, None, zero_shot=True)
    assert out["model"]["stage"] == "zeroshot" and out["sets"]["real"]["n"] == 2
    judge = zero_shot_judge(engine)
    assert out["sets"]["real"]["pred"] == [s.level for s in judge.score_pairs([p.query for p in pairs], [p.product for p in pairs])]

