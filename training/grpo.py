"""GRPO with difficulty-based dynamic sampling: G rollouts per prompt, group-relative advantages.

Each step draws prompts (shuffled or class-balanced, optionally pre-filtered to a pass-rate
window of the start model's pass@N samples), samples G answers per prompt from the current
policy at temperature T, scores them with `training.rewards.total_reward`, and — with
dynamic sampling on — drops groups whose rollouts are all right or all wrong
(`training.dynamic_sampling.informative_groups`) and draws more prompts until the batch
is full or `max_rounds` generation rounds are spent. The filtered fraction is logged per step.
Loss per answer token: −[min(ρ·A, clip(ρ, 1−ε, 1+ε)·A) − β·KL], with ρ the ratio to the
rollout policy, A = (r − mean_G r) / (std_G r + 1e-4) and KL the k3 estimator against the
frozen start checkpoint; averaged over each answer's tokens, then over answers.

Why an own loop rather than TRL's GRPOTrainer: TRL 1.16 takes prompts as text and
re-tokenizes them as one string (not serving's separately tokenized prefix + suffix), and
its batch is fixed before generation — it cannot drop uninformative groups and refill the
batch, which is the point of dynamic sampling. Rollouts come from the training policy
itself (`model.generate`), not from an engine, since the weights change every step.
The model stays in eval mode (no dropout), so the ratio is exactly 1 on the first update.
Resumes from `<run>/grpo/checkpoints/`; output `<run>/grpo/final`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from relevance.labels import LabelScheme, get_scheme
from relevance.prompt import PromptRenderer
from training.config import option, to_dict
from training.dynamic_sampling import PromptStream, in_pass_rate_window, informative_groups
from training.examples import end_of_turn_id, load_records, prompt_ids, prompt_records
from training.logprobs import completion_logprobs
from training.policy import TuneConfig, load_policy, pick_device, reference_model, save_checkpoint, start_dir_for
from training.resume import StepCheckpoints, finished
from training.rewards import label_reward, total_reward
from training.run import JsonlLog, RunConfig, RunLayout, file_hash, log, prompt_key, retrieval_config
from training.sampling import SamplingConfig, run_sampling


@dataclass
class GrpoConfig(TuneConfig):
    learning_rate: float = option(1e-5, "peak learning rate (AdamW)")
    batch_size: int = option(8, "prompt groups per optimiser step (after dynamic-sampling filtering)")
    max_steps: int = option(100, "optimiser steps of this stage")
    group_size: int = option(8, "rollouts per prompt (G)")
    kl_beta: float = option(0.04, "weight of the KL penalty to the start checkpoint (β)")
    clip_eps: float = option(0.2, "PPO clip range of the probability ratio (ε)")
    temperature: float = option(1.0, "rollout sampling temperature")
    max_new_tokens: int = option(160, "longest rollout in tokens")
    format_weight: float = option(0.1, "weight of the format term in the reward")
    updates_per_batch: int = option(1, "optimiser passes over each batch of rollouts (ratio/clip matter when > 1)")
    dynamic_sampling: bool = option(True, "drop groups whose rollouts are all right or all wrong and refill the batch")
    max_rounds: int = option(4, "generation rounds per step to fill the batch (dynamic sampling)")
    class_balanced: bool = option(False, "draw prompts round-robin over gold levels")
    prefilter: bool = option(False, "keep only prompts whose pass rate under the start model lies in the window")
    pass_rate_low: float = option(0.1, "lower end of the pass-rate window: the pre-filter's, and the exact reward's dynamic sampling")
    pass_rate_high: float = option(0.9, "upper end of the pass-rate window: the pre-filter's, and the exact reward's dynamic sampling")
    prefilter_samples: int = option(8, "samples per prompt to estimate the pre-filter's pass rate")
    max_prompts: int | None = option(None, "train on at most N CoT records (a seeded sample spread over the file)")
    sources: list[str] = option([], "draw prompts only from CoT records of these data sources (e.g. [esci]); empty = all")
    source_share: float | None = option(
        None, "with sources: this share of the prompts comes from them and the rest from every other record (none = only them)"
    )
    reward_estimate: str = option(
        "draws",
        "label objective only. draws: G sampled labels per prompt, advantages (r - mean) / std within the group "
        "(GRPO); exact: each prompt's expected reward, the gold label's probability from its one prefill, with no "
        "draws and no std scaling; dynamic sampling then keeps prompts whose gold probability lies within "
        "[pass_rate_low, pass_rate_high]",
    )
    kept_balance: bool = option(
        False,
        "label objective only: weight each kept prompt's policy-gradient term so every gold level carries the same "
        "share of the kept prompts' loss (running kept counts; weights within [1/4, 4])",
    )
    kl_scope: str = option(
        "kept",
        "label objective only. kept: the KL penalty covers the prompts dynamic sampling kept (GRPO); seen: every "
        "prompt scored in the step, so the dropped ones (mostly already right) stay where the start checkpoint had them",
    )
    nll_weight: float = option(
        0.0,
        "label objective only: weight of the gold label's NLL on the prompts under the KL term (see kl_scope), "
        "an anchor as DPO's nll_weight; 0 = pure GRPO",
    )
    objective: str = option(
        "sequence",
        "label: rollouts are G draws from the label distribution of one prefill (training/label_grpo.py); "
        "sequence: generated answers",
    )
    stuffing_fraction: float = option(
        0.0,
        "label objective only: add copies of this share of the prompts with their own query pasted into the listing "
        "(or neutral text of the same length), true labels kept, so the reward teaches that pasted search terms are no evidence",
    )
    stuffing_below_exact_rate: float = option(1.0, "label objective only: below-Exact prompts are copied at this multiple of stuffing_fraction")

    def validate(self) -> None:
        super().validate()
        if self.group_size < 2:
            raise ValueError(f"grpo.group_size must be >= 2 (advantages are relative within a group), got {self.group_size}")
        for name in ("updates_per_batch", "max_rounds", "max_new_tokens", "prefilter_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"grpo.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.clip_eps < 1:
            raise ValueError(f"grpo.clip_eps must be within (0, 1), got {self.clip_eps}")
        if self.objective not in ("label", "sequence"):
            raise ValueError(f"grpo.objective must be 'label' or 'sequence', got {self.objective!r}")
        if self.reward_estimate not in ("draws", "exact"):
            raise ValueError(f"grpo.reward_estimate must be 'draws' or 'exact', got {self.reward_estimate!r}")
        if self.reward_estimate == "exact" and self.objective != "label":
            raise ValueError("grpo.reward_estimate 'exact' needs grpo.objective 'label' (a generated answer has no exact expectation)")
        if self.kl_scope not in ("kept", "seen"):
            raise ValueError(f"grpo.kl_scope must be 'kept' or 'seen', got {self.kl_scope!r}")
        if self.objective != "label" and (self.kept_balance or self.kl_scope != "kept" or self.nll_weight):
            raise ValueError(
                "grpo.kept_balance, grpo.kl_scope 'seen' and grpo.nll_weight need grpo.objective 'label' (the sequence objective has none of them)"
            )
        if self.nll_weight < 0:
            raise ValueError(f"grpo.nll_weight must be >= 0, got {self.nll_weight}")
        if self.stuffing_fraction < 0 or self.stuffing_below_exact_rate < 0:
            raise ValueError(
                f"grpo.stuffing_fraction and grpo.stuffing_below_exact_rate must be >= 0, got {self.stuffing_fraction}, {self.stuffing_below_exact_rate}"
            )
        if self.stuffing_fraction and self.objective != "label":
            raise ValueError("grpo.stuffing_fraction needs grpo.objective 'label'")
        if self.kl_beta < 0:
            raise ValueError(f"grpo.kl_beta must be >= 0, got {self.kl_beta}")
        if not 0 <= self.pass_rate_low <= self.pass_rate_high <= 1:
            raise ValueError(
                f"grpo.pass_rate_low ({self.pass_rate_low}) must be <= grpo.pass_rate_high ({self.pass_rate_high}), both in [0, 1]"
            )


def group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """(r − group mean) / (group std + 1e-4) over the last dimension (groups × G).

    >>> group_advantages(torch.tensor([[1.0, 0.0], [0.5, 0.5]])).round(decimals=4).tolist()
    [[0.7070000171661377, -0.7070000171661377], [0.0, 0.0]]
    """
    mean = rewards.mean(dim=-1, keepdim=True)
    std = rewards.std(dim=-1, keepdim=True, unbiased=True)
    return (rewards - mean) / (std + 1e-4)


def grpo_loss(
    new_logps: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor,
    advantages: torch.Tensor, clip_eps: float, kl_beta: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Clipped surrogate with a k3 KL penalty; per-token tensors are (answers, tokens), advantages (answers,)."""
    ratio = torch.exp(new_logps - old_logps)
    adv = advantages.unsqueeze(1)
    surrogate = torch.minimum(ratio * adv, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv)
    log_ref_ratio = ref_logps - new_logps
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1
    per_token = -(surrogate - kl_beta * kl)
    m = mask.float()
    per_answer = (per_token * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)
    mean_kl = ((kl * m).sum() / m.sum().clamp(min=1)).item()
    return per_answer.mean(), {"kl": mean_kl}


@dataclass
class Rollouts:
    prompt_index: list[int]  # per answer
    prompts: list[list[int]]  # per answer
    answers: list[list[int]]
    rewards: torch.Tensor  # (groups, G)
    correct: list[list[bool]]


@torch.no_grad()
def rollout(model, prompts: list[list[int]], group_size: int, temperature: float, max_new_tokens: int, eos_id: int, pad_id: int) -> list[list[list[int]]]:
    """G sampled answers per prompt from `model` (ids up to and including the first end-of-turn)."""
    device = next(model.parameters()).device
    out = []
    for prompt in prompts:
        ids = torch.tensor([prompt], device=device)
        gen = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=temperature, top_k=None, top_p=None,
            max_new_tokens=max_new_tokens, num_return_sequences=group_size, pad_token_id=pad_id, eos_token_id=eos_id,
        )
        group = []
        for row in gen[:, ids.shape[1] :].tolist():
            answer = row[: row.index(eos_id) + 1] if eos_id in row else row
            group.append(answer or [eos_id])
        out.append(group)
    return out


def score_groups(texts: list[list[str]], golds: list[int], scheme: LabelScheme, format_weight: float) -> tuple[list[list[float]], list[list[bool]]]:
    """Rewards and correctness of each group's answers."""
    rewards = [[total_reward(t, g, scheme, format_weight) for t in group] for group, g in zip(texts, golds, strict=True)]
    correct = [[label_reward(t, g, scheme) == 1.0 for t in group] for group, g in zip(texts, golds, strict=True)]
    return rewards, correct


def collect_batch(model, tokenizer, scheme: LabelScheme, prompts: list[list[int]], golds: list[int], stream: PromptStream, cfg: GrpoConfig) -> tuple[Rollouts | None, dict[str, float]]:
    """Generate groups until `batch_size` informative ones are kept (or `max_rounds` rounds are spent)."""
    eos, pad = end_of_turn_id(tokenizer), tokenizer.pad_token_id
    kept_idx: list[int] = []
    kept_answers: list[list[list[int]]] = []
    kept_rewards: list[list[float]] = []
    kept_correct: list[list[bool]] = []
    generated = dropped = 0
    drawn: list[int] = []
    all_rewards: list[float] = []
    for _ in range(cfg.max_rounds if cfg.dynamic_sampling else 1):
        need = cfg.batch_size - len(kept_idx)
        if need <= 0:
            break
        idx = stream.take(need)
        drawn += idx
        groups = rollout(model, [prompts[i] for i in idx], cfg.group_size, cfg.temperature, cfg.max_new_tokens, eos, pad)
        texts = [[tokenizer.decode(a, skip_special_tokens=True) for a in g] for g in groups]
        rewards, correct = score_groups(texts, [golds[i] for i in idx], scheme, cfg.format_weight)
        all_rewards += [r for g in rewards for r in g]
        keep = informative_groups(correct)[0] if cfg.dynamic_sampling else list(range(len(idx)))
        generated += len(idx)
        dropped += len(idx) - len(keep)
        for k in keep:
            kept_idx.append(idx[k])
            kept_answers.append(groups[k])
            kept_rewards.append(rewards[k])
            kept_correct.append(correct[k])
    stats = {
        "groups_generated": generated,
        "groups_kept": len(kept_idx),
        "filtered_fraction": dropped / generated if generated else 0.0,
        "reward_mean": sum(all_rewards) / len(all_rewards) if all_rewards else 0.0,
        "accuracy": sum(c for g in kept_correct for c in g) / max(1, sum(len(g) for g in kept_correct)),
        "prompts": drawn,
    }
    if not kept_idx:
        return None, stats
    flat_index = [i for i, g in zip(kept_idx, kept_answers, strict=True) for _ in g]
    return Rollouts(
        prompt_index=flat_index,
        prompts=[prompts[i] for i in flat_index],
        answers=[a for g in kept_answers for a in g],
        rewards=torch.tensor(kept_rewards, dtype=torch.float32),
        correct=kept_correct,
    ), stats


def _prefilter(run: RunConfig, cfg: GrpoConfig, start: Path, records, layout: RunLayout, data_hash: str) -> list[int]:
    sampling = SamplingConfig(n=cfg.prefilter_samples, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, engine="transformers", engine_device=cfg.device)
    sampled, _ = run_sampling(start, Path(run.cache_dir), records, sampling, layout.stage_dir("grpo") / "prefilter", run.seed, run.dtype, {"data": data_hash})
    rates = [s.correct / len(s.samples) for s in sampled]
    allowed = in_pass_rate_window(rates, cfg.pass_rate_low, cfg.pass_rate_high)
    log(f"grpo: pre-filter kept {len(allowed)}/{len(rates)} prompts with pass rate in [{cfg.pass_rate_low}, {cfg.pass_rate_high}]")
    return allowed


def run_grpo(run: RunConfig, cfg: GrpoConfig, layout: RunLayout | None = None, cot_path: Path | None = None) -> dict[str, Any]:
    """Train `<run>/grpo/final` from the DPO (else SFT) final; returns a summary with the per-step log."""
    layout = layout or RunLayout(run.run_dir, run.index_dir)
    cot_path = Path(cot_path or layout.cot)
    if not cot_path.is_file():
        raise FileNotFoundError(f"{cot_path} is missing: run `taosr1 train cot` first (or pass a CoT file)")
    cache_dir = Path(run.cache_dir)
    stage_dir, final = layout.stage_dir("grpo"), layout.final("grpo")
    start = start_dir_for(cfg.init, [layout.final("dpo"), layout.final("sft")], run.base_model, cache_dir)
    data_hash = file_hash(cot_path)
    key = {"data": data_hash, "start": str(Path(start).resolve()), "grpo": to_dict(cfg), "seed": run.seed}
    key.update(prompt_key(run))
    if finished(final, key):
        log(f"grpo: {final} is up to date")
        return {"checkpoint": str(final), "skipped": True}
    if cfg.objective == "label":
        from training.label_grpo import run_label_grpo

        return run_label_grpo(run, cfg, layout, cot_path, start, key)

    records = prompt_records(load_records(cot_path), cfg.sources, cfg.source_share, cfg.max_prompts, run.seed)
    allowed = _prefilter(run, cfg, start, records, layout, data_hash) if cfg.prefilter else None
    device = pick_device(cfg.device)
    torch.manual_seed(run.seed)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype, seed=run.seed)
    model, tokenizer = policy.model, policy.tokenizer
    scheme = get_scheme(policy.label_scheme)
    renderer = PromptRenderer.for_retrieval(tokenizer, scheme, retrieval_config(run))
    prompts = [prompt_ids(renderer, r) for r in records]
    golds = [r.pair.level for r in records]
    stream = PromptStream(golds, run.seed, cfg.class_balanced, allowed)
    ref = reference_model(start, cache_dir, device, run.dtype) if cfg.kl_beta > 0 else None
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    checkpoints = StepCheckpoints(stage_dir / "checkpoints")
    metrics_log = JsonlLog(layout.logs / "grpo.jsonl")
    step, extra = checkpoints.restore(model, optimizer)
    history: list[dict[str, float]] = extra.get("history", [])
    if step:
        stream.epoch = int(extra.get("epoch", 0))
        log(f"grpo: resuming at step {step}")
    model.eval()  # no dropout: rollouts and updates see the same function
    pad = tokenizer.pad_token_id
    while step < cfg.max_steps:
        batch, stats = collect_batch(model, tokenizer, scheme, prompts, golds, stream, cfg)
        record: dict[str, float] = {"step": step + 1, **stats}
        if batch is not None:
            advantages = group_advantages(batch.rewards).flatten().to(device)
            with torch.no_grad():
                old, mask = completion_logprobs(model, batch.prompts, batch.answers, pad)
                ref_logps = completion_logprobs(ref, batch.prompts, batch.answers, pad)[0] if ref is not None else old
            for _ in range(cfg.updates_per_batch):
                new, _ = completion_logprobs(model, batch.prompts, batch.answers, pad)
                loss, info = grpo_loss(new, old, ref_logps, mask, advantages, cfg.clip_eps, cfg.kl_beta)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
            record.update({"loss": loss.item(), **info})
        step += 1
        history.append(record)
        if step % cfg.log_steps == 0 or step == cfg.max_steps:
            metrics_log.write(stage="grpo", **record)
            log(
                f"grpo: step {step} reward {record['reward_mean']:.3f} kept {record['groups_kept']}/{record['groups_generated']} "
                f"(filtered {record['filtered_fraction']:.2f})"
            )
        if step % cfg.save_steps == 0 and step < cfg.max_steps:
            checkpoints.save(step, model, optimizer, {"history": history, "epoch": stream.epoch})
    updated = [h for h in history if "loss" in h]
    summary = {
        "steps": step,
        "updates": len(updated),
        "reward_first": history[0]["reward_mean"] if history else None,
        "reward_last": history[-1]["reward_mean"] if history else None,
        "filtered_fraction_mean": sum(h["filtered_fraction"] for h in history) / len(history) if history else None,
        "history": history,
    }
    recipe = {"key": key, "grpo": to_dict(cfg), "run": to_dict(run)}
    metrics = {"train": {k: v for k, v in summary.items() if k != "history"}}
    save_checkpoint(policy, final, stage="grpo", data_hash=data_hash, recipe=recipe, metrics=metrics)
    log(f"grpo: {step} steps ({len(updated)} with updates), reward {summary['reward_first']} -> {summary['reward_last']}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}
