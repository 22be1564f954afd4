"""pass@N + DPO: sample the SFT model, pair a correct answer (chosen) with a wrong one (rejected), run DPO.

Pair construction (`build_pairs`, pure): prompts whose N samples are all correct are skipped
(nothing to prefer); otherwise chosen = a correct sample, rejected = a wrong one (an
unparsable answer counts as wrong); when all N samples are wrong, the teacher's gold CoT
answer is the chosen one — the paper's way of using the pass@N headroom.

Training is a compact own loop with the sigmoid DPO loss
`-log σ(β·[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])` over summed answer-token
log-probabilities. Why not TRL's DPOTrainer: in TRL 1.16 it always re-tokenizes text
`prompt`/`chosen`/`rejected` columns (pre-tokenized `prompt_ids` are only taken on its
vision path), which would tokenize the prompt as one string instead of serving's
separately tokenized prefix + suffix, and it takes no per-pair reference log-probs computed
from a merged SFT adapter. The reference is the start checkpoint (SFT final), frozen; its
log-probs are computed once. Resumes from `<run>/dpo/checkpoints/`; output `<run>/dpo/final`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from relevance.labels import get_scheme
from relevance.prompt import PromptRenderer
from training.config import option, to_dict
from training.examples import answer_ids, end_of_turn_id, load_records, prompt_ids
from training.logprobs import completion_logprobs
from training.policy import TuneConfig, load_policy, pick_device, reference_model, save_checkpoint, start_dir_for
from training.resume import StepCheckpoints, finished
from training.run import JsonlLog, RunConfig, RunLayout, file_hash, log, prompt_key, retrieval_config
from training.sampling import Answer, SampledPrompt, SamplingConfig, run_sampling


@dataclass
class DpoConfig(TuneConfig):
    learning_rate: float = option(5e-6, "peak learning rate (AdamW)")
    batch_size: int = option(4, "preference pairs per optimiser step")
    max_steps: int = option(100, "optimiser steps of this stage")
    beta: float = option(0.1, "DPO temperature β: how far the policy may move from the reference")
    pairs_per_prompt: int = option(1, "at most this many (chosen, rejected) pairs per prompt")
    max_answer_tokens: int = option(256, "cut chosen/rejected answers to this many tokens")
    objective: str = option(
        "sequence",
        "label: pass@N from label draws of one prefill, DPO on the label tokens (training/label_dpo.py); "
        "sequence: sampled answers, DPO on whole answers",
    )
    epochs: float | None = option(None, "objective label: passes over the preference pairs (overrides max_steps when set)")
    class_balance: float = option(
        0.0, "objective label: weigh each pair by (1/frequency of its chosen level)^this, mean 1 (0 = unweighted)"
    )
    direction_balance: bool = option(
        False,
        "objective label: between any two levels, give the pairs that choose the one and those that choose "
        "the other the same total weight (after class_balance), so a shift of mass between two levels wins "
        "as many pairs as it loses and only telling prompts apart lowers the DPO term (not the nll_weight anchor)",
    )
    nll_weight: float = option(
        0.0,
        "objective label: add this times the chosen label's negative log-likelihood to each pair's DPO loss "
        "(anchors the chosen label; DPO alone may move mass to a level neither side names)",
    )

    def validate(self) -> None:
        super().validate()
        if self.beta <= 0:
            raise ValueError(f"dpo.beta must be > 0, got {self.beta}")
        if self.pairs_per_prompt < 1:
            raise ValueError(f"dpo.pairs_per_prompt must be >= 1, got {self.pairs_per_prompt}")
        if self.nll_weight < 0:
            raise ValueError(f"dpo.nll_weight must be >= 0, got {self.nll_weight}")
        if self.objective not in ("label", "sequence"):
            raise ValueError(f"dpo.objective must be 'label' or 'sequence', got {self.objective!r}")


@dataclass(frozen=True)
class PreferencePair:
    index: int  # the prompt's CoT record
    chosen: Answer
    rejected: Answer


def build_pairs(prompts: Sequence[SampledPrompt], per_prompt: int = 1) -> tuple[list[PreferencePair], dict[str, int]]:
    """Preference pairs from sampled prompts, and counts of what happened to the prompts.

    >>> from training.sampling import Answer, SampledPrompt
    >>> t = Answer("3 teacher", 3, True, "teacher")
    >>> mixed = SampledPrompt(0, 3, (Answer("1 a", 1), Answer("3 b", 3), Answer("x", None)), t)
    >>> wrong = SampledPrompt(1, 3, (Answer("2 c", 2), Answer("1 d", 1)), t)
    >>> right = SampledPrompt(2, 3, (Answer("3 e", 3), Answer("3 f", 3)), t)
    >>> pairs, stats = build_pairs([mixed, wrong, right], per_prompt=2)
    >>> [(p.index, p.chosen.text, p.rejected.text) for p in pairs]
    [(0, '3 b', '1 a'), (0, '3 b', 'x'), (1, '3 teacher', '2 c'), (1, '3 teacher', '1 d')]
    >>> stats
    {'prompts': 3, 'pairs': 4, 'skipped_all_correct': 1, 'teacher_chosen': 1, 'sample_chosen': 1}
    """
    pairs: list[PreferencePair] = []
    stats = {"prompts": len(prompts), "pairs": 0, "skipped_all_correct": 0, "teacher_chosen": 0, "sample_chosen": 0}
    for prompt in prompts:
        right = [a for a in prompt.samples if a.level == prompt.gold]
        wrong = [a for a in prompt.samples if a.level != prompt.gold]
        if not wrong:
            stats["skipped_all_correct"] += 1
            continue
        if right:
            chosen = right
            stats["sample_chosen"] += 1
        else:
            chosen = [prompt.teacher]
            stats["teacher_chosen"] += 1
        for j, rejected in enumerate(wrong[:per_prompt]):
            pairs.append(PreferencePair(prompt.index, chosen[j % len(chosen)], rejected))
    stats["pairs"] = len(pairs)
    return pairs, stats


def answer_tokens(renderer: PromptRenderer, answer: Answer, max_tokens: int) -> list[int]:
    """Token ids of an answer: the teacher's exactly as SFT built them; a sample's text re-encoded,
    with end-of-turn when it ended on its own."""
    if answer.source == "teacher":
        parsed_rationale = answer.text.partition("\n")[2]
        return answer_ids(renderer, answer.level, parsed_rationale or None, max_tokens)  # type: ignore[arg-type]
    ids = renderer.tokenizer.encode(answer.text, add_special_tokens=False)
    if answer.finished:
        ids = ids + [end_of_turn_id(renderer.tokenizer)]
    return ids[:max_tokens] or [end_of_turn_id(renderer.tokenizer)]


def dpo_loss(
    policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, per-pair reward margin) of the sigmoid DPO loss over summed log-probs.

    >>> z = torch.zeros(2)
    >>> loss, margin = dpo_loss(z, z, z, z, beta=0.1)
    >>> round(loss.item(), 4), margin.tolist()
    (0.6931, [0.0, 0.0])
    """
    margin = beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    return -F.logsigmoid(margin).mean(), margin.detach()


def _summed(model, prompts: list[list[int]], answers: list[list[int]], pad_id: int) -> torch.Tensor:
    logps, mask = completion_logprobs(model, prompts, answers, pad_id)
    return (logps * mask).sum(dim=1)


def run_dpo(
    run: RunConfig, sampling: SamplingConfig, cfg: DpoConfig, layout: RunLayout | None = None, cot_path: Path | None = None
) -> dict[str, Any]:
    """Sample the start checkpoint, build pairs, train `<run>/dpo/final`; returns a summary."""
    layout = layout or RunLayout(run.run_dir, run.index_dir)
    cot_path = Path(cot_path or layout.cot)
    if not cot_path.is_file():
        raise FileNotFoundError(f"{cot_path} is missing: run `taosr1 train cot` first (or pass a CoT file)")
    cache_dir = Path(run.cache_dir)
    stage_dir, final = layout.stage_dir("dpo"), layout.final("dpo")
    start = start_dir_for(cfg.init, [layout.final("sft")], run.base_model, cache_dir)
    data_hash = file_hash(cot_path)
    key = {"data": data_hash, "start": str(Path(start).resolve()), "dpo": to_dict(cfg), "sampling": to_dict(sampling), "seed": run.seed}
    key.update(prompt_key(run))
    if finished(final, key):
        log(f"dpo: {final} is up to date")
        return {"checkpoint": str(final), "skipped": True}
    if cfg.objective == "label":
        from training.label_dpo import run_label_dpo

        return run_label_dpo(run, sampling, cfg, layout, cot_path, start, key)

    records = load_records(cot_path)
    sampled, passk = run_sampling(start, cache_dir, records, sampling, stage_dir, run.seed, run.dtype, {"data": data_hash})
    pairs, pair_stats = build_pairs(sampled, cfg.pairs_per_prompt)
    (stage_dir / "pairs.json").write_text(json.dumps({"stats": pair_stats, "pairs": [
        {"index": p.index, "chosen": p.chosen.text, "chosen_source": p.chosen.source, "rejected": p.rejected.text} for p in pairs
    ]}, indent=1))
    log(f"dpo: pairs {pair_stats}")
    if not pairs:
        raise ValueError(f"dpo: no preference pairs from {len(sampled)} prompts (all samples correct: {pair_stats})")

    device = pick_device(cfg.device)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype, seed=run.seed)
    renderer = PromptRenderer.for_retrieval(policy.tokenizer, get_scheme(policy.label_scheme), retrieval_config(run))
    pad_id = policy.tokenizer.pad_token_id
    prompts = [prompt_ids(renderer, records[p.index]) for p in pairs]
    chosen = [answer_tokens(renderer, p.chosen, cfg.max_answer_tokens) for p in pairs]
    rejected = [answer_tokens(renderer, p.rejected, cfg.max_answer_tokens) for p in pairs]
    summary = train_dpo(policy.model, prompts, chosen, rejected, cfg, pad_id, start, cache_dir, device, stage_dir, run.seed, run.dtype)
    summary.update({"pairs": pair_stats, "pass_at_k": passk["pass_at_k"]})
    recipe = {"key": key, "dpo": to_dict(cfg), "sampling": to_dict(sampling), "run": to_dict(run)}
    save_checkpoint(policy, final, stage="dpo", data_hash=data_hash, recipe=recipe, metrics={"train": summary})
    log(f"dpo: {summary['steps']} steps, loss {summary['loss_first']} -> {summary['loss_last']}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}


def train_dpo(
    model, prompts: list[list[int]], chosen: list[list[int]], rejected: list[list[int]], cfg: DpoConfig, pad_id: int,
    ref_dir: Path, cache_dir: Path, device: str, stage_dir: Path, seed: int = 0, dtype: str = "auto",
) -> dict[str, Any]:
    """The DPO loop over pre-tokenized pairs; the reference is `ref_dir`'s checkpoint, frozen."""
    ref = reference_model(ref_dir, cache_dir, device, dtype)
    with torch.no_grad():
        ref_c = torch.cat([_summed(ref, prompts[i : i + 8], chosen[i : i + 8], pad_id) for i in range(0, len(prompts), 8)])
        ref_r = torch.cat([_summed(ref, prompts[i : i + 8], rejected[i : i + 8], pad_id) for i in range(0, len(prompts), 8)])
    del ref
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    checkpoints = StepCheckpoints(stage_dir / "checkpoints")
    metrics_log = JsonlLog(stage_dir.parent / "logs" / "dpo.jsonl")
    step, extra = checkpoints.restore(model, optimizer)
    history: list[dict[str, float]] = extra.get("history", [])
    if step:
        log(f"dpo: resuming at step {step}")
    rng = random.Random(seed + step)
    order: list[int] = []
    model.train()
    while step < cfg.max_steps:
        if len(order) < cfg.batch_size:
            fresh = list(range(len(prompts)))
            rng.shuffle(fresh)
            order += fresh
        batch, order = order[: cfg.batch_size], order[cfg.batch_size :]
        pol_c = _summed(model, [prompts[i] for i in batch], [chosen[i] for i in batch], pad_id)
        pol_r = _summed(model, [prompts[i] for i in batch], [rejected[i] for i in batch], pad_id)
        idx = torch.tensor(batch, device=pol_c.device)
        loss, margin = dpo_loss(pol_c, pol_r, ref_c[idx], ref_r[idx], cfg.beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        step += 1
        record = {"step": step, "loss": loss.item(), "margin": margin.mean().item(), "accuracy": (margin > 0).float().mean().item()}
        history.append(record)
        if step % cfg.log_steps == 0 or step == cfg.max_steps:
            metrics_log.write(stage="dpo", **record)
            log(f"dpo: step {step} loss {record['loss']:.4f} margin {record['margin']:.4f}")
        if step % cfg.save_steps == 0 and step < cfg.max_steps:
            checkpoints.save(step, model, optimizer, {"history": history})
    with torch.no_grad():  # where the policy ended, over every pair (the start policy's margin is 0 by definition)
        pol_c = torch.cat([_summed(model, prompts[i : i + 8], chosen[i : i + 8], pad_id) for i in range(0, len(prompts), 8)])
        pol_r = torch.cat([_summed(model, prompts[i : i + 8], rejected[i : i + 8], pad_id) for i in range(0, len(prompts), 8)])
        final_loss, final_margin = dpo_loss(pol_c, pol_r, ref_c, ref_r, cfg.beta)
    return {
        "steps": step,
        "final_loss_all_pairs": final_loss.item(),
        "final_margin_all_pairs": final_margin.mean().item(),
        "final_pair_accuracy": (final_margin > 0).float().mean().item(),
        "loss_first": history[0]["loss"] if history else None,
        "loss_last": history[-1]["loss"] if history else None,
        "margin_last": history[-1]["margin"] if history else None,
        "history": history,
    }
