"""pass@N sampling, the pass@k estimator, DPO pair construction (exact), and a DPO run that moves the policy."""

from __future__ import annotations

import itertools
import json
from math import isclose
from pathlib import Path

import pytest
import torch

from relevance.engines.transformers_engine import TransformersEngine
from relevance.labels import TAOSR1
from relevance.manifest import read_manifest
from relevance.prompt import PromptRenderer
from tests.training.conftest import make_run, toy_records
from training.config import build_config
from training.dpo import DpoConfig, answer_tokens, build_pairs, dpo_loss, run_dpo
from training.examples import answer_ids
from training.resume import StepCheckpoints
from training.sampling import Answer, SampledPrompt, SamplingConfig, pass_at_k, pass_at_k_curve, sample_prompts

TEACHER = Answer("3\n5. Verdict: 3 Related", 3, True, "teacher")


def _prompt(index: int, levels: list[int | None], gold: int = 3) -> SampledPrompt:
    return SampledPrompt(index, gold, tuple(Answer(f"{lv} s{j}", lv) for j, lv in enumerate(levels)), TEACHER)


# -- pass@k ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,c", [(5, 0), (5, 1), (5, 3), (6, 2), (4, 4)])
def test_pass_at_k_equals_enumeration_over_k_subsets(n, c):
    outcomes = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(itertools.combinations(outcomes, k))
        exact = sum(any(s) for s in subsets) / len(subsets)
        assert isclose(pass_at_k(n, c, k), exact), (n, c, k)


def test_pass_at_k_curve_is_monotone_and_ends_at_any_correct():
    counts = [0, 1, 2, 5, 0]
    curve = pass_at_k_curve(counts, 5)
    values = [curve[k] for k in range(1, 6)]
    assert values == sorted(values)
    assert curve[1] == round(sum(counts) / (5 * len(counts)), 4)
    assert curve[5] == 3 / 5


# -- pair construction ---------------------------------------------------------------------------


def test_pairs_correct_sample_chosen_wrong_sample_rejected():
    pairs, stats = build_pairs([_prompt(0, [1, 3, 2])])
    assert [(p.chosen.text, p.rejected.text, p.chosen.source) for p in pairs] == [("3 s1", "1 s0", "sample")]
    assert stats == {"prompts": 1, "pairs": 1, "skipped_all_correct": 0, "teacher_chosen": 0, "sample_chosen": 1}


def test_pairs_all_wrong_take_the_teacher_answer_as_chosen():
    pairs, stats = build_pairs([_prompt(7, [1, None, 2])], per_prompt=3)
    assert [(p.index, p.chosen, p.rejected.text) for p in pairs] == [(7, TEACHER, "1 s0"), (7, TEACHER, "None s1"), (7, TEACHER, "2 s2")]
    assert stats["teacher_chosen"] == 1 and stats["pairs"] == 3


def test_pairs_skip_all_correct_prompts_and_count_unparsed_as_wrong():
    pairs, stats = build_pairs([_prompt(0, [3, 3, 3]), _prompt(1, [3, None])])
    assert [(p.index, p.chosen.text, p.rejected.text) for p in pairs] == [(1, "3 s0", "None s1")]
    assert stats == {"prompts": 2, "pairs": 1, "skipped_all_correct": 1, "teacher_chosen": 0, "sample_chosen": 1}


def test_pairs_cycle_chosen_answers_up_to_per_prompt():
    pairs, _ = build_pairs([_prompt(0, [3, 1, 3, 2, 4])], per_prompt=2)
    assert [(p.chosen.text, p.rejected.text) for p in pairs] == [("3 s0", "1 s1"), ("3 s2", "2 s3")]


def test_teacher_answer_tokens_are_the_sft_answer(smollm2_tokenizer):
    renderer = PromptRenderer(smollm2_tokenizer, TAOSR1)
    record = toy_records()[2]
    teacher = Answer(renderer.target_text(3, record.rationale), 3, True, "teacher")
    assert answer_tokens(renderer, teacher, 512) == answer_ids(renderer, 3, record.rationale)
    cut = Answer("3\nQuery: a hose", 3, finished=False)
    assert answer_tokens(renderer, cut, 512)[-1] != smollm2_tokenizer.eos_token_id


def test_dpo_loss_prefers_a_larger_chosen_margin():
    z = torch.zeros(1)
    better, _ = dpo_loss(torch.tensor([-1.0]), torch.tensor([-5.0]), z - 3, z - 3, beta=0.5)
    worse, _ = dpo_loss(torch.tensor([-5.0]), torch.tensor([-1.0]), z - 3, z - 3, beta=0.5)
    assert isclose(better.item(), -torch.nn.functional.logsigmoid(torch.tensor(2.0)).item(), rel_tol=1e-6)
    assert better.item() < worse.item()


# -- sampling on a real engine ---------------------------------------------------------------------


def test_sampling_is_seeded_and_parsed(label_sft_dir, cache_dir):
    engine = TransformersEngine(label_sft_dir, cache_dir=cache_dir, dtype="float32")
    renderer = PromptRenderer(engine.tokenizer, engine.scheme)
    cfg = SamplingConfig(n=3, temperature=1.0, max_new_tokens=3)
    first = sample_prompts(engine, renderer, toy_records(), cfg, seed=1)
    again = sample_prompts(engine, renderer, toy_records(), cfg, seed=1)
    assert [[a.text for a in p.samples] for p in first] == [[a.text for a in p.samples] for p in again]
    assert [p.gold for p in first] == [4, 2, 3, 1]
    for p in first:
        assert len(p.samples) == 3 and p.teacher.source == "teacher" and p.teacher.level == p.gold
        assert p.correct == sum(a.level == p.gold for a in p.samples)
    # the label-trained model answers with a label at least sometimes
    assert any(a.level is not None for p in first for a in p.samples)


# -- DPO ------------------------------------------------------------------------------------------


def test_dpo_run_moves_the_policy_toward_chosen(tmp_path, label_sft_dir, tiny_model_dir, cache_dir):
    run = make_run(tmp_path / "run", tiny_model_dir, cache_dir)
    sampling = build_config(SamplingConfig, {"n": 3, "max_new_tokens": 6, "engine": "transformers", "engine_device": "cpu"})
    cfg = build_config(
        DpoConfig,
        {"init": str(label_sft_dir), "lora": True, "lora_r": 4, "max_steps": 4, "batch_size": 4, "learning_rate": 2e-3,
         "beta": 0.1, "log_steps": 1, "save_steps": 2, "device": "cpu"},
    )
    result = run_dpo(run, sampling, cfg)
    final = Path(result["checkpoint"])
    history = result["history"]
    assert len(history) == 4
    # the start policy's margin is 0 on every pair (LoRA starts as the identity); after DPO, chosen answers gained
    assert history[0]["margin"] == pytest.approx(0.0, abs=1e-4)
    assert result["final_margin_all_pairs"] > 0.05, history
    assert result["final_loss_all_pairs"] < history[0]["loss"]
    assert set(result["pass_at_k"]) == {1, 2, 3}
    pairs = json.loads((tmp_path / "run" / "dpo" / "pairs.json").read_text())
    assert pairs["stats"]["pairs"] == len(pairs["pairs"]) > 0
    assert pairs["stats"]["prompts"] == 4
    manifest = read_manifest(final)
    assert manifest.stage == "dpo" and manifest.kind == "adapter" and manifest.parent == str(label_sft_dir.resolve())
    assert manifest.base_model == str(label_sft_dir.resolve())
    TransformersEngine(final, cache_dir=cache_dir, dtype="float32")  # loads through serving
    assert StepCheckpoints(tmp_path / "run" / "dpo" / "checkpoints").steps() == [2]


def test_step_checkpoints_restore_parameters_and_optimizer(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    saved = {n: p.detach().clone() for n, p in model.named_parameters()}
    ckpt = StepCheckpoints(tmp_path / "ck", keep=1)
    ckpt.save(3, model, opt, {"history": [1, 2, 3]})
    ckpt.save(5, model, opt, {"history": [1, 2, 3, 4, 5]})
    assert ckpt.steps() == [5]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    fresh = torch.optim.AdamW(model.parameters(), lr=0.1)
    step, extra = ckpt.restore(model, fresh)
    assert step == 5 and extra["history"] == [1, 2, 3, 4, 5]
    for n, p in model.named_parameters():
        assert torch.equal(p, saved[n])
    assert fresh.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
