"""The within-query ordering term: which pairs it reads, its value and gradient, and the label SFT with it on."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from training.config import build_config
from training.rank_term import expected_levels, ordered_pairs, rank_loss_sum
from training.sft import SftConfig

LEVELS = (4, 3, 2, 1)


def test_only_pairs_with_different_gold_levels_count_better_first():
    assert ordered_pairs([4, 4, 4]) == ([], [])
    better, worse = ordered_pairs([1, 4, 3])
    assert sorted(zip(better, worse, strict=True)) == [(1, 0), (1, 2), (2, 0)]


def test_the_loss_is_ranknet_on_the_expected_level():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0], [0.0, 1.0, 0.0, 0.0]])
    expected = expected_levels(logits, LEVELS)
    assert expected[0] > expected[2] > expected[1]  # mass on 4, on 3, on 1
    loss, right = rank_loss_sum(logits, [1, 4, 3], LEVELS, scale=2.0)  # golds order them the other way round
    gaps = [expected[1] - expected[0], expected[1] - expected[2], expected[2] - expected[0]]
    assert math.isclose(float(loss), sum(math.log1p(math.exp(-2.0 * float(g))) for g in gaps), rel_tol=1e-6)
    assert right == 0


def test_a_group_with_one_gold_level_adds_nothing_but_keeps_the_graph():
    logits = torch.randn(3, 4, requires_grad=True)
    loss, right = rank_loss_sum(logits, [3, 3, 3], LEVELS, scale=2.0)
    loss.backward()
    assert loss.item() == 0.0 and right == 0 and logits.grad.abs().sum().item() == 0.0


def test_its_gradient_lifts_the_better_product_and_lowers_the_worse():
    logits = torch.zeros(2, 4, requires_grad=True)
    loss, _ = rank_loss_sum(logits, [4, 1], LEVELS, scale=2.0)
    loss.backward()
    with torch.no_grad():
        moved = expected_levels(logits - 0.5 * logits.grad, LEVELS)
    assert moved[0] > 2.5 > moved[1]  # both start at the mean level 2.5


@pytest.mark.parametrize("values", [{"rank_weight": -0.1}, {"rank_scale": 0.0}])
def test_the_config_refuses_a_negative_weight_or_a_scale_that_is_not_positive(values):
    with pytest.raises(ValueError, match="rank_"):
        build_config(SftConfig, {"objective": "label", **values})


def test_label_sft_with_the_ordering_term_orders_each_querys_products(tmp_path, tiny_model_dir, cache_dir):
    from safetensors.torch import load_file

    from relevance.manifest import read_manifest
    from tests.training.conftest import make_run, query_group_records
    from training.sft import run_sft

    def train(rank_weight: float) -> Path:
        run = make_run(tmp_path / f"rank-{rank_weight}", tiny_model_dir, cache_dir, query_group_records())
        cfg = build_config(SftConfig, {"objective": "label", "lora": False, "device": "cpu", "epochs": 12, "batch_size": 8,
                                       "learning_rate": 5e-3, "lr_scheduler": "constant", "warmup_ratio": 0.0, "log_steps": 1,
                                       "save_steps": 100, "rationale_fraction": 0.0, "rank_weight": rank_weight})
        return Path(run_sft(run, cfg)["checkpoint"])

    ranked, plain = train(1.0), train(0.0)
    history = read_manifest(ranked).metrics["train"]["history"]
    assert all(h["rank_pairs"] == 6 for h in history)  # every step takes all four queries: mug and hose three ordered pairs each
    assert history[-1]["rank_loss"] < history[0]["rank_loss"] and history[-1]["rank_acc"] == 1.0
    assert "rank_loss" not in read_manifest(plain).metrics["train"]["history"][0]  # off by default: no term, no metrics
    # same seed, same batches: only the term's gradient can tell the two apart
    weights = [load_file(str(next(d.glob("*.safetensors")))) for d in (ranked, plain)]
    assert any(not torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
