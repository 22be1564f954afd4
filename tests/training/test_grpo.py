"""GRPO: rewards, the dynamic-sampling filter (exact), advantages and loss, and a run that moves the policy
toward the rewarded label."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from relevance.checkpoint import load_causal_lm, load_tokenizer
from relevance.labels import TAOSR1, get_scheme
from relevance.manifest import read_manifest
from relevance.prompt import PromptRenderer
from tests.training.conftest import make_run, toy_records
from training.config import ConfigError, build_config
from training.dynamic_sampling import PromptStream, in_pass_rate_window, informative_groups, prompt_order
from training.examples import prompt_ids
from training.grpo import GrpoConfig, group_advantages, grpo_loss, run_grpo
from training.rewards import format_reward, label_reward, total_reward

# -- rewards ----------------------------------------------------------------------------------------


def test_rewards_read_the_label_with_the_serving_parser():
    assert [label_reward(t, 2, TAOSR1) for t in ("2", " 2\nreason", "2.", "22", "3", "", "Mismatch")] == [1, 1, 1, 0, 0, 0, 0]
    assert format_reward("2\n1. Query: q\n5. Verdict: 2 Mismatch", TAOSR1) == 1.0
    assert format_reward("2\n5. Verdict: Excellent", TAOSR1) == 0.0  # a verdict by name that contradicts the label
    assert total_reward("1\n5. Verdict: 1 Irrelevant", 2, TAOSR1, format_weight=0.5) == 0.5
    assert total_reward("2", 2, TAOSR1, format_weight=0.0) == 1.0


# -- dynamic sampling ------------------------------------------------------------------------------


def test_informative_groups_drop_all_right_and_all_wrong():
    correct = [[True, True, True], [False, False, False], [True, False, False], [False, False, True], [True], [False]]
    assert informative_groups(correct) == ([2, 3], 4 / 6)
    assert informative_groups([[True, False]] * 3) == ([0, 1, 2], 0.0)


def test_pass_rate_window_is_inclusive_and_checked():
    assert in_pass_rate_window([0.0, 0.125, 0.5, 0.875, 1.0], 0.125, 0.875) == [1, 2, 3]
    with pytest.raises(ValueError, match="low <= high"):
        in_pass_rate_window([0.5], 0.9, 0.1)


def test_class_balanced_order_cycles_levels():
    levels = [4] * 6 + [3] * 2 + [2] * 1 + [1] * 3
    order = prompt_order(levels, seed=3, balanced=True)
    assert set(order) == set(range(len(levels)))  # every prompt drawn
    assert len(order) == 4 * 6  # the epoch lasts as long as the commonest level
    for start in range(0, len(order), 4):  # every stretch of four draws holds each level once
        assert [levels[i] for i in order[start:start + 4]] == [4, 3, 2, 1]
    assert Counter(order[1::4]) == {6: 3, 7: 3}  # a rare level's prompts come round equally often
    assert Counter(order[3::4]) == {9: 2, 10: 2, 11: 2}
    assert prompt_order(levels, 3, True) == order  # seeded


def test_class_balanced_stream_stays_balanced_to_the_end_of_its_epoch():
    """The recipe's GRPO prompt mix (164/56/51/49 prompts at levels 4/3/2/1), ten steps of 32:
    every step draws eight prompts of each level, the last steps as the first."""
    levels = [4] * 164 + [3] * 56 + [2] * 51 + [1] * 49
    stream = PromptStream(levels, seed=1, balanced=True)
    for _ in range(10):
        assert Counter(levels[i] for i in stream.take(32)) == {4: 8, 3: 8, 2: 8, 1: 8}


def test_prompt_stream_respects_the_allowed_set_and_refills_epochs():
    stream = PromptStream([4, 3, 2, 1, 4], seed=0, balanced=False, allowed=[1, 3])
    drawn = stream.take(5)
    assert set(drawn) == {1, 3} and stream.epoch == 3
    assert sorted(drawn[:2]) == [1, 3] and sorted(drawn[2:4]) == [1, 3]
    with pytest.raises(ValueError, match="no prompts"):
        PromptStream([4], seed=0, balanced=False, allowed=[])


# -- advantages and loss -----------------------------------------------------------------------------


def test_group_advantages_are_zero_for_equal_rewards_and_standardised_otherwise():
    adv = group_advantages(torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]]))
    assert torch.equal(adv[0], torch.zeros(4))
    assert adv[1, 0] > 0 and torch.allclose(adv[1, 1:], adv[1, 1].expand(3))
    assert abs(adv[1].sum().item()) < 1e-5


def test_grpo_loss_gradient_raises_the_logprob_of_advantaged_answers():
    new = torch.zeros(2, 3, requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    loss, info = grpo_loss(new, new.detach(), new.detach(), mask, torch.tensor([1.0, -1.0]), clip_eps=0.2, kl_beta=0.1)
    loss.backward()
    assert info["kl"] == 0.0
    assert torch.all(new.grad[0, :2] < 0) and torch.all(new.grad[1] > 0)  # descent raises answer 0, lowers answer 1
    assert new.grad[0, 2] == 0  # padding carries no gradient
    # outside the clip range the surrogate is flat: no gradient from the advantage
    far = torch.full((1, 1), 1.0, requires_grad=True)  # ratio e^1 > 1.2 with a positive advantage
    loss, _ = grpo_loss(far, torch.zeros(1, 1), far.detach(), torch.ones(1, 1, dtype=torch.bool), torch.tensor([1.0]), 0.2, 0.0)
    loss.backward()
    assert far.grad.abs().item() == 0.0


def test_config_validation_names_the_conflicting_values():
    with pytest.raises(ValueError, match=r"pass_rate_low \(0.8\) must be <= grpo.pass_rate_high \(0.2\)"):
        build_config(GrpoConfig, {"pass_rate_low": 0.8, "pass_rate_high": 0.2})
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        build_config(GrpoConfig, {"group_size": 1})
    with pytest.raises(ConfigError, match="unknown recipe key 'group'"):
        build_config(GrpoConfig, {"group": 4})


# -- a run -----------------------------------------------------------------------------------------


def _gold_label_prob(model_dir: Path, cache_dir: Path) -> float:
    """Mean probability (full vocabulary) that the first answer token is the gold label, over the toy prompts."""
    model, _ = load_causal_lm(model_dir, cache_dir, torch.float32)
    tokenizer = load_tokenizer(model_dir, cache_dir)
    renderer = PromptRenderer(tokenizer, get_scheme(read_manifest(model_dir).label_scheme))  # the prompt it trained on
    probs = []
    with torch.no_grad():
        for record in toy_records():
            logits = model(input_ids=torch.tensor([prompt_ids(renderer, record)])).logits[0, -1]
            gold = tokenizer.encode(str(record.pair.level), add_special_tokens=False)[0]
            probs.append(torch.softmax(logits.float(), -1)[gold].item())
    return sum(probs) / len(probs)


def test_grpo_moves_the_policy_toward_the_rewarded_label(tmp_path, label_sft_dir, tiny_model_dir, cache_dir):
    run = make_run(tmp_path / "run", tiny_model_dir, cache_dir, toy_records(rationale=False))
    cfg = build_config(
        GrpoConfig,
        {"init": str(label_sft_dir), "lora": False, "max_steps": 8, "batch_size": 4, "group_size": 4, "max_new_tokens": 1,
         "learning_rate": 2e-3, "kl_beta": 0.01, "format_weight": 0.0, "log_steps": 1, "save_steps": 3, "device": "cpu",
         "class_balanced": True, "max_rounds": 2},
    )
    before = _gold_label_prob(label_sft_dir, cache_dir)
    result = run_grpo(run, cfg)
    after = _gold_label_prob(Path(result["checkpoint"]), cache_dir)
    assert after > before + 0.05, (before, after, result["history"])
    history = result["history"]
    assert len(history) == 8 and result["updates"] >= 1
    for h in history:  # the logged fraction is what the filter dropped out of what was generated
        assert h["filtered_fraction"] == pytest.approx(1 - h["groups_kept"] / h["groups_generated"])
        assert h["groups_kept"] <= cfg.batch_size
    logged = [json.loads(x) for x in (tmp_path / "run" / "logs" / "grpo.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged] == list(range(1, 9)) and all("filtered_fraction" in x for x in logged)
    manifest = read_manifest(result["checkpoint"])
    assert manifest.stage == "grpo" and manifest.kind == "full" and manifest.parent == str(label_sft_dir.resolve())
    assert manifest.metrics["train"]["steps"] == 8


def test_grpo_without_dynamic_sampling_keeps_every_group(tmp_path, label_sft_dir, tiny_model_dir, cache_dir):
    run = make_run(tmp_path / "run", tiny_model_dir, cache_dir, toy_records(rationale=False))
    cfg = build_config(
        GrpoConfig,
        {"init": str(label_sft_dir), "lora": True, "lora_r": 4, "max_steps": 2, "batch_size": 3, "group_size": 2,
         "max_new_tokens": 1, "learning_rate": 1e-3, "dynamic_sampling": False, "log_steps": 1, "save_steps": 5, "device": "cpu"},
    )
    result = run_grpo(run, cfg)
    assert [(h["groups_generated"], h["groups_kept"], h["filtered_fraction"]) for h in result["history"]] == [(3, 3, 0.0)] * 2
    assert read_manifest(result["checkpoint"]).kind == "adapter"


def test_grpo_prefilter_draws_only_prompts_inside_the_pass_rate_window(tmp_path, label_sft_dir, tiny_model_dir, cache_dir):
    run = make_run(tmp_path / "run", tiny_model_dir, cache_dir, toy_records(rationale=False))
    cfg = build_config(
        GrpoConfig,
        {"init": str(label_sft_dir), "lora": True, "lora_r": 4, "max_steps": 2, "batch_size": 2, "group_size": 2,
         "max_new_tokens": 1, "prefilter": True, "prefilter_samples": 4, "pass_rate_low": 0.25, "pass_rate_high": 1.0,
         "log_steps": 1, "save_steps": 5, "device": "cpu"},
    )
    result = run_grpo(run, cfg)
    lines = (tmp_path / "run" / "grpo" / "prefilter" / "samples.jsonl").read_text().splitlines()
    sampled = [json.loads(x) for x in lines]
    rates = [sum(a["level"] == s["gold"] for a in s["samples"]) / 4 for s in sampled]
    allowed = set(in_pass_rate_window(rates, 0.25, 1.0))
    drawn = {i for h in result["history"] for i in h["prompts"]}
    assert len(sampled) == 4 and 0 < len(allowed) < 4  # the window leaves some prompts out
    assert drawn and drawn <= allowed
