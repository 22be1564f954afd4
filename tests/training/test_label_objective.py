"""The label objective: shared-prefix training forward equals serving's scores; SFT, DPO and GRPO on it move the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from relevance.engines.transformers_engine import TransformersEngine
from relevance.labels import TAOSR1, get_scheme
from relevance.manifest import read_manifest
from relevance.prompt import PromptRenderer
from relevance.types import RetrievedContext
from tests.training.conftest import TOY_PAIRS, make_run, query_group_records, toy_records
from training.config import build_config
from training.examples import CotRecord
from training.label_dpo import sample_pairs
from training.label_objective import LabelGroup, LabelHead, build_groups, label_logits, record_positions
from training.policy import TuneConfig, load_policy
from training.run import RunLayout
from training.sft import SftConfig


def test_shared_prefix_forward_equals_each_prompt_scored_alone(tiny_model_dir, cache_dir):
    policy = load_policy(tiny_model_dir, cache_dir, build_config(TuneConfig, {"lora": True, "lora_r": 4}), "cpu", "float32")
    renderer = PromptRenderer(policy.tokenizer, TAOSR1)
    records = query_group_records()
    groups = build_groups(renderer, records)
    assert max(g.n for g in groups) == 3  # two queries with three products
    head = LabelHead(policy.model, policy.tokenizer, TAOSR1)
    policy.model.eval()
    for g in groups:
        shared = label_logits(policy.model, head, g, policy.tokenizer.pad_token_id)
        for row, suffix in enumerate(g.suffixes):
            alone = label_logits(policy.model, head, LabelGroup(g.prefix + suffix[:-1], [suffix[-1:]], [g.golds[row]], [0]), 0)
            torch.testing.assert_close(shared[row], alone[0], atol=1e-4, rtol=1e-4)


def test_gradients_reach_every_lora_layer_through_the_shared_prefix(tiny_model_dir, cache_dir):
    policy = load_policy(tiny_model_dir, cache_dir, build_config(TuneConfig, {"lora": True, "lora_r": 4}), "cpu", "float32")
    renderer = PromptRenderer(policy.tokenizer, TAOSR1)
    [g] = [g for g in build_groups(renderer, query_group_records()) if g.n == 3][:1]
    head = LabelHead(policy.model, policy.tokenizer, TAOSR1)
    logits = label_logits(policy.model, head, g, policy.tokenizer.pad_token_id)
    torch.nn.functional.cross_entropy(logits, head.columns(g.golds)).backward()
    grads = {n: p.grad for n, p in policy.model.named_parameters() if p.requires_grad}
    assert grads and all(v is not None and v.abs().sum() > 0 for n, v in grads.items() if "lora_B" in n)


def test_dpo_pairs_follow_pass_at_n_rules():
    head = type("H", (), {"levels": (4, 3, 2, 1), "column": lambda self, lv: (4, 3, 2, 1).index(lv)})()
    groups = [LabelGroup([1], [[2], [3]], [4, 1], [0, 1])]
    sure_right = torch.log(torch.tensor([[1.0, 1e-9, 1e-9, 1e-9], [0.0 + 1e-9, 1e-9, 0.5, 0.5]]))
    pairs, stats = sample_pairs(groups, [sure_right], head, n=8, seed=0)
    assert stats["all_correct_skipped"] == 1  # row 0: every draw is the gold label 4
    assert [(gi, row, c) for gi, row, c, _ in pairs] == [(0, 1, 3)]  # chosen = gold level 1's column
    assert pairs[0][3] == 2  # rejected = the wrong draw (level 2)
    assert stats["pass_at_k_exact"][1] == pytest.approx((1.0 + 0.5) / 2, abs=1e-3)


def test_dpo_loss_at_the_reference_is_log2_plus_the_weighted_chosen_nll(tiny_model_dir, cache_dir):
    """At the first step the policy is the reference: every margin is 0, so each pair costs log 2 + α·NLL(chosen)."""
    import math
    import random

    from training.dpo import DpoConfig
    from training.label_dpo import dpo_step, label_distributions, pair_weights

    policy = load_policy(tiny_model_dir, cache_dir, build_config(TuneConfig, {"lora": True, "lora_r": 4}), "cpu", "float32")
    groups = build_groups(PromptRenderer(policy.tokenizer, TAOSR1), query_group_records())
    head = LabelHead(policy.model, policy.tokenizer, TAOSR1)
    pad = policy.tokenizer.pad_token_id
    logps = label_distributions(policy.model, head, groups, pad)
    pairs = [(gi, row, head.column(g.golds[row]), (head.column(g.golds[row]) + 1) % 4) for gi, g in enumerate(groups) for row in range(g.n)]
    ref = {(gi, row): (float(logps[gi][row, c]), float(logps[gi][row, w])) for gi, row, c, w in pairs}
    policy.model.eval()  # no dropout: the step's forward equals the reference's
    for alpha in (0.0, 1.0):
        cfg = build_config(DpoConfig, {"objective": "label", "batch_size": len(pairs), "class_balance": 1.0, "nll_weight": alpha})
        loss, stats = dpo_step(policy.model, head, groups, pairs, ref, cfg, pad)(0, random.Random(0))
        weights = pair_weights(pairs, head.levels, 1.0)
        nll = torch.tensor([-float(logps[gi][row, c]) for gi, row, c, _ in pairs])
        assert loss == pytest.approx(float((weights * (math.log(2) + alpha * nll)).mean()), rel=1e-4)
        assert stats["margin"] == pytest.approx(0.0, abs=1e-5) and stats["chosen_nll"] == pytest.approx(float(nll.mean()), rel=1e-4)
        # per chosen level: every pair counted once under its gold level, each margin 0
        golds = [g.golds[row] for g in groups for row in range(g.n)]
        assert {lv: stats[f"pairs_{lv}"] for lv in head.levels} == {lv: float(golds.count(lv)) for lv in head.levels}
        assert all(stats[f"margin_sum_{lv}"] == pytest.approx(0.0, abs=1e-4) for lv in head.levels)


def test_rationale_term_one_record_at_a_time_has_the_padded_batch_gradient(tiny_model_dir, cache_dir):
    """The rationale term back-propagates record by record (a peak of one prompt) with the batch mean's gradient."""
    from training.examples import answer_ids, prompt_ids
    from training.label_sft import rationale_backward
    from training.sft import answer_only_loss

    policy = load_policy(tiny_model_dir, cache_dir, build_config(TuneConfig, {"lora": True, "lora_r": 4}), "cpu", "float32")
    model, renderer = policy.model, PromptRenderer(policy.tokenizer, TAOSR1)
    records = [CotRecord(r.pair, r.context, f"because {r.pair.product.title} is what was asked", "rules") for r in query_group_records()[:3]]
    for name, p in model.named_parameters():  # LoRA B starts at zero: give every adapter a gradient path
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.eval()  # no LoRA dropout: both ways see the same function

    loss, tokens = rationale_backward(model, renderer, records, 0.3, prompt_grad=True)
    one_by_one = [p.grad.clone() for p in trainable]
    model.zero_grad()
    seqs = [(prompt_ids(renderer, r), answer_ids(renderer, r.pair.level, r.rationale)) for r in records]
    width, pad = max(len(a) + len(b) for a, b in seqs), policy.tokenizer.pad_token_id
    ids = torch.full((len(seqs), width), pad)
    labels = torch.full((len(seqs), width), -100)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (prompt, answer) in enumerate(seqs):
        n = len(prompt) + len(answer)
        ids[i, :n], labels[i, len(prompt) : n], mask[i, :n] = torch.tensor(prompt + answer), torch.tensor(answer), 1
    batch, _, _ = answer_only_loss(model, {"input_ids": ids, "labels": labels, "attention_mask": mask})
    (0.3 * batch).backward()
    assert loss == pytest.approx(float(batch.detach()), rel=1e-5) and tokens == sum(len(a) + len(b) for a, b in seqs)
    batched = [p.grad for p in trainable]
    gap = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(one_by_one, batched, strict=True)))
    norm = torch.sqrt(sum((b**2).sum() for b in batched))
    assert gap <= 1e-5 * norm, (float(gap), float(norm))


def test_rationale_term_with_the_prompt_detached_has_the_same_loss_and_the_answers_gradient(tiny_model_dir, cache_dir):
    """The default rationale term runs the prompt without gradients: same loss value as the exact term,
    the exact gradient when the prompt is one token, and a gradient close to the exact one otherwise."""
    from training.label_sft import detached_prompt_nll, rationale_backward

    policy = load_policy(tiny_model_dir, cache_dir, build_config(TuneConfig, {"lora": True, "lora_r": 4}), "cpu", "float32")
    model, renderer = policy.model, PromptRenderer(policy.tokenizer, TAOSR1)
    records = [CotRecord(r.pair, r.context, f"because {r.pair.product.title} is what was asked", "rules") for r in query_group_records()[:3]]
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.eval()

    def grads(**kw):
        model.zero_grad()
        loss, tokens = rationale_backward(model, renderer, records, 0.3, **kw)
        return loss, tokens, torch.cat([p.grad.flatten().clone() for p in trainable])

    exact_loss, exact_tokens, exact = grads(prompt_grad=True)
    loss, tokens, detached = grads()
    assert loss == pytest.approx(exact_loss, rel=1e-5) and tokens == exact_tokens
    cosine = float(exact @ detached / (exact.norm() * detached.norm()))
    assert 0.5 < cosine < 1 - 1e-6, cosine  # the answer's share of the gradient, not all of it

    from training.sft import answer_only_loss

    prompt, answer = [policy.tokenizer.bos_token_id or 1], [5, 6, 7, 8]  # a one-token prompt: nothing to detach
    model.zero_grad()
    detached_prompt_nll(model, prompt, answer, "cpu").backward()
    one = torch.cat([p.grad.flatten().clone() for p in trainable])
    model.zero_grad()
    full, _, _ = answer_only_loss(model, {"input_ids": torch.tensor([prompt + answer]), "labels": torch.tensor([[-100] + answer])})
    (full * len(answer)).backward()
    ref = torch.cat([p.grad.flatten().clone() for p in trainable])
    assert torch.allclose(one, ref, atol=1e-6, rtol=1e-4)


@pytest.fixture(scope="module")
def label_pipeline(tmp_path_factory, tiny_model_dir, cache_dir):
    """SFT → DPO → GRPO on the label objective, tiny model, toy data (label-only and rationale records)."""
    from training.dpo import DpoConfig, run_dpo
    from training.grpo import GrpoConfig, run_grpo
    from training.sampling import SamplingConfig
    from training.sft import SftConfig, run_sft

    records = query_group_records() * 2
    run = make_run(tmp_path_factory.mktemp("label-run"), tiny_model_dir, cache_dir, records)
    common = {"lora": False, "device": "cpu", "log_steps": 1, "save_steps": 100}
    sft = build_config(SftConfig, {**common, "objective": "label", "epochs": 8, "batch_size": 8, "learning_rate": 1e-2,
                                   "rationale_fraction": 0.25, "rationale_weight": 0.02, "inject_fraction": 0.5,
                                   "stuffing_fraction": 0.5, "warmup_ratio": 0.0, "lr_scheduler": "constant"})
    out = {"sft": run_sft(run, sft)}
    dpo = build_config(DpoConfig, {**common, "objective": "label", "init": out["sft"]["checkpoint"], "max_steps": 6, "batch_size": 4,
                                   "learning_rate": 2e-3, "beta": 0.5,
                                   "class_balance": 1.0, "nll_weight": 1.0})
    out["dpo"] = run_dpo(run, build_config(SamplingConfig, {"n": 4}), dpo)
    grpo = build_config(GrpoConfig, {**common, "objective": "label", "max_steps": 6, "batch_size": 4, "group_size": 8,
                                     "learning_rate": 2e-3, "class_balanced": True, "stuffing_fraction": 0.5})
    out["grpo"] = run_grpo(run, grpo)
    return run, out


def _probs_of_gold(model_dir: Path, cache_dir: Path, records) -> float:
    from relevance.core import ScoringCore
    engine = TransformersEngine(model_dir, cache_dir=cache_dir, dtype="float32")
    scored = ScoringCore(engine).score_pairs([r.pair.query for r in records], [r.pair.product for r in records])
    return float(np.mean([s.probs[r.pair.level] for s, r in zip(scored, records, strict=True)]))


def test_label_sft_learns_the_labels_and_reports_its_efficiency(label_pipeline, tiny_model_dir, cache_dir):
    run, out = label_pipeline
    train = read_manifest(Path(out["sft"]["checkpoint"])).metrics["train"]
    assert train["loss_last"] < train["loss_first"], train
    assert train["examples_per_s"] > 0 and train["tokens_per_s"] > 0 and train["peak_rss_gb"] > 0
    assert train["precision"] == "float32" and train["threads"] >= 1 and train["device"] == "cpu"  # the run's dtype is float32
    records = query_group_records()
    assert _probs_of_gold(Path(out["sft"]["checkpoint"]), cache_dir, records) > _probs_of_gold(tiny_model_dir, cache_dir, records) + 0.1


def test_label_dpo_and_grpo_train_from_the_previous_stage(label_pipeline):
    run, out = label_pipeline
    layout = RunLayout(run.run_dir)
    dpo = read_manifest(layout.final("dpo"))
    assert dpo.parent == str(Path(out["sft"]["checkpoint"]).resolve())
    assert "pass_at_k_exact" in dpo.metrics["train"]["pairs"]
    grpo = read_manifest(layout.final("grpo"))
    assert grpo.parent == str(layout.final("dpo").resolve())
    history = grpo.metrics["train"]["history"]
    assert len(history) == 6 and all(0.0 <= h["filtered"] <= 1.0 for h in history)


def test_grpo_moves_probability_towards_the_rewarded_label(tmp_path, tiny_model_dir, cache_dir):
    from training.grpo import GrpoConfig, run_grpo

    records = [CotRecord(TOY_PAIRS[1], RetrievedContext(), "", "rules")] * 8  # one prompt: a bandit over 4 labels
    run = make_run(tmp_path / "grpo", tiny_model_dir, cache_dir, records)
    cfg = build_config(GrpoConfig, {"lora": False, "device": "cpu", "objective": "label", "max_steps": 10, "batch_size": 4,
                                    "group_size": 16, "learning_rate": 1e-3, "log_steps": 1, "save_steps": 100,
                                    "dynamic_sampling": False, "kl_beta": 0.0})
    before = _probs_of_gold(tiny_model_dir, cache_dir, records[:1])
    run_grpo(run, cfg)
    assert _probs_of_gold(RunLayout(run.run_dir).final("grpo"), cache_dir, records[:1]) > before + 0.1


def test_exact_expected_reward_moves_probability_towards_the_gold_label_and_logs_kept_levels(tmp_path, tiny_model_dir, cache_dir):
    from training.grpo import GrpoConfig, run_grpo

    records = [CotRecord(TOY_PAIRS[1], RetrievedContext(), "", "rules")] * 8
    run = make_run(tmp_path / "grpo", tiny_model_dir, cache_dir, records)
    cfg = build_config(GrpoConfig, {"lora": False, "device": "cpu", "objective": "label", "reward_estimate": "exact",
                                    "max_steps": 10, "batch_size": 4, "learning_rate": 1e-3, "log_steps": 1,
                                    "save_steps": 100, "pass_rate_low": 0.0, "pass_rate_high": 0.99, "kl_beta": 0.0})
    before = _probs_of_gold(tiny_model_dir, cache_dir, records[:1])
    result = run_grpo(run, cfg)
    assert _probs_of_gold(RunLayout(run.run_dir).final("grpo"), cache_dir, records[:1]) > before + 0.1
    gold = TOY_PAIRS[1].level
    history = result["history"]
    assert history[0]["kept"] > 0  # later steps may keep none: the gold probability left the window
    for h in history:  # every kept prompt has the one gold level
        assert h[f"kept_{gold}"] == h["kept"] and all(h[f"kept_{lv}"] == 0 for lv in (4, 3, 2, 1) if lv != gold)
    with pytest.raises(ValueError, match="reward_estimate"):
        build_config(GrpoConfig, {"objective": "sequence", "reward_estimate": "exact"}).validate()


def _grpo_step_on(tiny_model_dir, cache_dir, records, ref_row: torch.Tensor, **cfg):
    """On a fresh seeded LoRA policy: the label-GRPO step over `records` (each prompt's reference
    log-probabilities = `ref_row`, prompts in file order), the trainable parameters, the groups,
    the label head, and a reader of a group's label probabilities."""
    from types import SimpleNamespace

    from training.dynamic_sampling import PromptStream
    from training.label_grpo import grpo_step

    torch.manual_seed(0)
    policy = load_policy(tiny_model_dir, cache_dir, build_config(TuneConfig, {"lora": True, "lora_r": 4}), "cpu", "float32")
    groups = build_groups(PromptRenderer(policy.tokenizer, TAOSR1), records)
    head = LabelHead(policy.model, policy.tokenizer, TAOSR1)
    pad = policy.tokenizer.pad_token_id
    settings = SimpleNamespace(**{"batch_size": len(records), "max_rounds": 1, "group_size": 4, "nll_weight": 0.0, **cfg})
    step = grpo_step(policy.model, head, groups, record_positions(groups, len(records)), [ref_row.expand(g.n, -1).clone() for g in groups],
                     PromptStream([r.pair.level for r in records], 0, False), settings, pad)

    def probs(group: LabelGroup) -> torch.Tensor:
        with torch.no_grad():
            return label_logits(policy.model, head, group, pad).softmax(-1)

    return step, [q for q in policy.model.parameters() if q.requires_grad], groups, head, probs


def _optimizer_steps(step, opt: torch.optim.Optimizer, n: int) -> list[dict[str, float]]:
    """`n` optimiser steps of a GRPO step function (the same seeded draws each time); each step's log."""
    import random

    logs = []
    for _ in range(n):
        opt.zero_grad()
        _, info = step(0, random.Random(0))
        opt.step()
        logs.append(info)
    return logs


def test_kl_scope_seen_holds_the_prompts_dynamic_sampling_dropped(tiny_model_dir, cache_dir):
    """With every prompt outside the window nothing is kept: `kept` leaves the model untouched,
    `seen` pulls each scored prompt's label distribution towards the reference."""

    from training.grpo import GrpoConfig

    records = query_group_records()
    target = torch.log(torch.tensor([0.01, 0.01, 0.01, 0.97]))  # a reference that favours the last label column
    for scope in ("kept", "seen"):
        step, params, groups, _, probs = _grpo_step_on(
            tiny_model_dir, cache_dir, records, target, reward_estimate="exact", dynamic_sampling=True,
            pass_rate_low=0.0, pass_rate_high=0.0, kl_scope=scope, kl_beta=1.0, kept_balance=False)

        def p_last() -> float:
            return float(torch.cat([probs(g)[:, -1] for g in groups]).mean())  # noqa: B023 - read within this iteration

        before = p_last()
        for info in _optimizer_steps(step, torch.optim.Adam(params, lr=0.01), 8):
            assert info["kept"] == 0 and info["examples"] == len(records), (scope, info)
        moved = p_last() - before
        assert (abs(moved) < 1e-6) if scope == "kept" else (moved > 0.05), (scope, before, moved)
    with pytest.raises(ValueError, match="kl_scope"):
        build_config(GrpoConfig, {"kl_scope": "all"}).validate()
    with pytest.raises(ValueError, match="need grpo.objective 'label'"):
        build_config(GrpoConfig, {"objective": "sequence", "kl_scope": "seen"}).validate()
    with pytest.raises(ValueError, match="need grpo.objective 'label'"):
        build_config(GrpoConfig, {"objective": "sequence", "kept_balance": True}).validate()


def test_nll_weight_pulls_every_scored_prompt_towards_its_gold_label(tiny_model_dir, cache_dir):
    """Nothing kept and no KL: with `nll_weight` 0 the step leaves the model untouched; with 1 each
    scored prompt's gold log-probability rises (the anchor DPO has, on the prompts under the KL term)."""

    from training.grpo import GrpoConfig

    records = query_group_records()
    for weight in (0.0, 1.0):
        step, params, groups, head, probs = _grpo_step_on(
            tiny_model_dir, cache_dir, records, torch.zeros(4), reward_estimate="exact", dynamic_sampling=True,
            pass_rate_low=0.0, pass_rate_high=0.0, kl_scope="seen", kl_beta=0.0, kept_balance=False, nll_weight=weight)

        def gold_logprob() -> float:  # mean over the prompts (the random model's distributions are peaked: mean p hides it)
            return float(torch.cat([probs(g).gather(1, head.columns(g.golds).unsqueeze(1)).squeeze(1) for g in groups]).log().mean())  # noqa: B023

        before = gold_logprob()
        for info in _optimizer_steps(step, torch.optim.Adam(params, lr=0.002), 8):
            assert info["kept"] == 0 and info["gold_nll"] > 0, (weight, info)
        moved = gold_logprob() - before
        assert (abs(moved) < 1e-5) if weight == 0 else (moved > 0.5), (weight, before, moved)
    with pytest.raises(ValueError, match="nll_weight"):
        build_config(GrpoConfig, {"objective": "sequence", "nll_weight": 1.0}).validate()
    with pytest.raises(ValueError, match="nll_weight"):
        build_config(GrpoConfig, {"nll_weight": -1.0}).validate()


def _level_1_gain(tiny_model_dir, cache_dir, kept_balance: bool) -> tuple[float, dict[str, float]]:
    """Four exact-reward GRPO steps on seven level-4 prompts and one level-1 prompt, all kept:
    (change of the level-1 prompt's gold probability, the last step's log)."""

    records = [CotRecord(TOY_PAIRS[0], RetrievedContext(), "", "rules")] * 7 + [CotRecord(TOY_PAIRS[3], RetrievedContext(), "", "rules")]
    step, params, groups, head, probs = _grpo_step_on(
        tiny_model_dir, cache_dir, records, torch.zeros(4), reward_estimate="exact", dynamic_sampling=False,
        kl_scope="kept", kl_beta=0.0, kept_balance=kept_balance)
    [level_1] = [g for g in groups if g.golds == [1]]
    before = float(probs(level_1)[0, head.column(1)])
    logs = _optimizer_steps(step, torch.optim.SGD(params, lr=0.5), 4)
    return float(probs(level_1)[0, head.column(1)]) - before, logs[-1]


def test_kept_balance_gives_a_rarely_kept_level_the_weight_of_a_common_one(tiny_model_dir, cache_dir):
    plain, info = _level_1_gain(tiny_model_dir, cache_dir, kept_balance=False)
    balanced, _ = _level_1_gain(tiny_model_dir, cache_dir, kept_balance=True)
    assert info["kept_4"] == 7 and info["kept_1"] == 1
    assert balanced > plain + 0.01, (plain, balanced)


def test_injected_copies_keep_their_true_level():
    from training.data.injection import augment

    pairs = [p for p in TOY_PAIRS] * 10
    copies = augment(pairs, 0.5, seed=1)
    assert copies and all(c.level == next(p.level for p in TOY_PAIRS if p.product.id == c.product.id) for c in copies)
    assert {t for c in copies for t in c.tags} >= {"injected", "neutral-noise"}
    assert augment(pairs, 0.5, seed=1) == copies  # seeded: the same copies again


def test_below_exact_rate_sets_the_share_of_below_exact_copies():
    from training.data.injection import augment

    pairs = [p for p in TOY_PAIRS] * 200
    share = {}
    for rate in (1.0, 2.0):
        copies = augment(pairs, 0.1, seed=3, below_exact_rate=rate)
        share[rate] = sum(c.level < 4 for c in copies) / len(copies)
    base = sum(p.level < 4 for p in pairs) / len(pairs)
    assert abs(share[1.0] - base) < 0.06  # every level alike: the copies keep the pairs' mix
    assert share[2.0] > share[1.0] + 0.05  # below-Exact copied at twice the rate
    with pytest.raises(ValueError, match="sft.inject_below_exact_rate must be >= 0"):
        build_config(SftConfig, {"inject_below_exact_rate": -1})


def test_stuffed_copies_paste_the_query_keep_the_level_and_use_train_wordings_only():
    import random

    from training.data.injection import _STUFFING_LEADS, augment, stuff, stuffing_text
    from training.label_sft import with_injections, with_stuffing

    pairs = [p for p in TOY_PAIRS] * 40
    copies = stuff(pairs, 0.5, seed=2)
    assert copies == stuff(pairs, 0.5, seed=2)  # seeded
    records = [CotRecord(p, RetrievedContext(), "r") for p in pairs]
    injected = with_injections(records, 0.5, 2, 1.0)
    both = with_stuffing(injected, 0.5, 2, 1.0)
    assert both[: len(injected)] == injected and len(both) > len(injected)  # the instruction copies stay as they were
    assert [r.pair for r in injected[len(records):]] == augment(pairs, 0.5, seed=2)
    assert [r.pair for r in both[len(injected):]] == stuff([r.pair for r in injected], 0.5, seed=2)
    by_id = {p.product.id: p for p in TOY_PAIRS}
    stuffed = [c for c in copies if "stuffed" in c.tags]
    noise = [c for c in copies if "neutral-noise" in c.tags]
    assert stuffed and noise and len(stuffed) + len(noise) == len(copies)
    assert all(c.level == by_id[c.product.id].level for c in copies)

    def text(product) -> str:
        return " ".join([product.title, product.description or "", *product.attributes.values()]).lower()

    assert all(text(c.product).count(c.query.lower()) > text(by_id[c.product.id].product).count(c.query.lower()) for c in stuffed)
    assert not any(text(c.product).count(c.query.lower()) > text(by_id[c.product.id].product).count(c.query.lower()) for c in noise)
    rng = random.Random(0)
    train = {stuffing_text("usb cable", rng, "train") for _ in range(200)}
    assert not any(t.startswith(lead) for t in train for lead in _STUFFING_LEADS["eval"])  # the eval's wordings stay unseen
    assert stuff(pairs, 0.0, seed=2) == []


def test_stuffing_options_are_checked():
    from training.grpo import GrpoConfig

    with pytest.raises(ValueError, match="sft.stuffing_fraction"):
        build_config(SftConfig, {"stuffing_fraction": -0.1})
    with pytest.raises(ValueError, match="grpo.stuffing_fraction needs grpo.objective 'label'"):
        build_config(GrpoConfig, {"stuffing_fraction": 0.2, "objective": "sequence"})
    assert build_config(GrpoConfig, {"stuffing_fraction": 0.2, "objective": "label"}).stuffing_fraction == 0.2


@pytest.mark.parametrize(("negation", "naming_only", "measures"), [(False, False, False), (True, False, False), (False, True, False),
                                                                (False, True, True)])
def test_a_coverage_run_trains_on_the_prompt_its_checkpoint_serves(tmp_path, tiny_model_dir, cache_dir, negation, naming_only, measures):
    """`run.coverage` (and `run.coverage_negation`, `run.coverage_naming_only`, `run.coverage_measures`) put the coverage line in the trainer's prompts, the
    manifest records them, and serving the checkpoint renders the very same ids (one prompt for train and serve)."""
    from dataclasses import replace

    from relevance.core import ScoringCore
    from training.sft import run_sft

    records = toy_records(rationale=False)
    if negation:  # every query rules something out, so the clause is in every prompt
        records = [replace(r, pair=replace(r.pair, query=f"{r.pair.query} without glitter")) for r in records]
    if measures:  # every query asks for a size, which the line states as one word
        records = [replace(r, pair=replace(r.pair, query=f"{r.pair.query} 16 x 20")) for r in records]
    run = replace(make_run(tmp_path, tiny_model_dir, cache_dir, records), coverage=True, coverage_negation=negation,
                  coverage_naming_only=naming_only, coverage_measures=measures)
    cfg = build_config(SftConfig, {"objective": "label", "lora": False, "max_steps": 1, "batch_size": 4, "device": "cpu",
                                   "save_steps": 100, "log_steps": 1, "rationale_fraction": 0.0, "inject_fraction": 0.0})
    checkpoint = Path(run_sft(run, cfg)["checkpoint"])
    assert read_manifest(checkpoint).retrieval["coverage"] is True
    assert read_manifest(checkpoint).retrieval["coverage_negation"] is negation
    assert read_manifest(checkpoint).retrieval["coverage_naming_only"] is naming_only
    assert read_manifest(checkpoint).retrieval["coverage_measures"] is measures
    engine = TransformersEngine(checkpoint, cache_dir=cache_dir, dtype="float32")
    core = ScoringCore(engine)
    scheme = get_scheme(read_manifest(checkpoint).label_scheme)  # the scheme its prompts were rendered under
    renderer = PromptRenderer(engine.tokenizer, scheme, coverage=True, coverage_negation=negation, coverage_naming_only=naming_only,
                              coverage_measures=measures)
    for group in build_groups(renderer, records):
        for row, ri in enumerate(group.records):
            served = core.prepare([records[ri].pair.query], [[records[ri].pair.product]])[0]
            assert group.prefix + group.suffixes[row] == served.prompt_ids(0)
            served_text = engine.tokenizer.decode(served.prompt_ids(0))
            assert ("Query words the listing names" in served_text) is not naming_only
            assert ("title, brand and properties name" in served_text) is naming_only
            assert ("glitter (listing silent)" in served_text) is negation
            assert ("16x20" in served_text) is measures


def test_lora_label_sft_with_one_seed_trains_the_same_adapter_whatever_the_process_drew(tmp_path, tiny_model_dir, cache_dir):
    """`run.seed` decides a LoRA SFT end to end: its fresh adapter, the step order, the rationale
    picks and the injected copies. Two runs with other draws from the process RNG in between train
    bit-identical adapters (before the adapter's init was seeded, they started apart)."""
    from training.policy import trainable_parameters
    from training.sft import run_sft

    cfg = build_config(SftConfig, {"lora": True, "lora_r": 4, "lora_dropout": 0.0, "device": "cpu", "objective": "label",
                                   "max_steps": 3, "batch_size": 4, "learning_rate": 1e-2, "rationale_fraction": 0.5,
                                   "inject_fraction": 0.5, "log_steps": 1, "save_steps": 100})

    def adapter(name: str) -> dict[str, torch.Tensor]:
        torch.rand(int(torch.randint(1, 1000, (1,))))  # whatever the process drew before the stage
        run = make_run(tmp_path / name, tiny_model_dir, cache_dir, query_group_records())
        policy = load_policy(Path(run_sft(run, cfg)["checkpoint"]), cache_dir, cfg, "cpu", "float32")
        return trainable_parameters(policy.model)

    first, second = adapter("a"), adapter("b")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
