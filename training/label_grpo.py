"""GRPO with the label objective and difficulty-based dynamic sampling.

Label first makes a rollout's correctness reward depend on its first token only, so the G
rollouts of a prompt are G draws from the label distribution that one prefill gives, and the
log-probability of a rollout is one entry of that distribution: the forward that scores a
prompt *is* its rollout. Each step draws prompts (class-balanced round-robin over gold
levels — the paper's most useful trick — via `training.dynamic_sampling.PromptStream`),
runs them grouped by query (`label_logits`, prefix shared), draws G labels per prompt from
the detached distribution, rewards 1 for the gold label and 0 otherwise, and keeps only
prompts whose draws are neither all right nor all wrong (`informative_groups`); it draws
more prompts, up to `max_rounds` rounds, until `batch_size` informative prompts are kept.
Loss: −mean over kept prompts and draws of A·log π(draw), A = (r − mean_G) / (std_G + 1e-4),
plus β·KL(π‖π_ref) computed exactly over the labels; π_ref (the start checkpoint) is the
policy's own distribution before the first update, computed once over the prompts.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from relevance.labels import get_scheme
from relevance.prompt import PromptRenderer
from training.config import to_dict
from training.dynamic_sampling import PromptStream, informative_groups
from training.examples import load_records, prompt_records
from training.grpo import group_advantages
from training.label_dpo import label_distributions
from training.label_loop import LoopSpec, autocast, run_loop
from training.label_objective import LabelGroup, LabelHead, build_groups, label_logits
from training.policy import bf16_native, load_policy, pick_device, save_checkpoint
from training.run import RunConfig, RunLayout, log


def grpo_step(model, head: LabelHead, groups: list[LabelGroup], where: list[tuple[int, int]], ref: list[torch.Tensor], stream: PromptStream, cfg, pad_id: int):
    """The step function; `where[i]` = (group, row) of prompt i, `ref[g]` the reference log-probs of group g."""

    def rollouts(prompts: list[int], gen: torch.Generator) -> tuple[float, dict[str, float]]:
        """One round: score the prompts (grouped by query), draw G labels each, back-propagate the
        informative ones' share of the batch loss group by group; returns (loss share, counters)."""
        by_group: dict[int, list[int]] = {}
        for i in prompts:
            by_group.setdefault(where[i][0], []).append(i)
        total, kept, rewards, kl_sum, tokens, filtered = 0.0, 0, 0.0, 0.0, 0, 0
        for gi, items in by_group.items():
            sub = groups[gi].subset([where[i][1] for i in items])
            lp = F.log_softmax(label_logits(model, head, sub, pad_id), dim=-1)
            tokens += sub.tokens()
            draws = torch.multinomial(lp.detach().float().exp(), cfg.group_size, replacement=True, generator=gen)
            gold = head.columns(sub.golds).unsqueeze(1)
            correct = draws == gold
            keep, _ = informative_groups(correct.tolist()) if cfg.dynamic_sampling else (list(range(sub.n)), 0.0)
            filtered += sub.n - len(keep)
            if not keep:
                continue
            adv = group_advantages(correct[keep].float()).to(lp.device)
            pg = -(adv * lp[keep].gather(1, draws[keep].to(lp.device))).mean(dim=1)
            ref_lp = torch.stack([ref[gi][where[items[k]][1]] for k in keep]).to(lp.device)
            kl = (lp[keep].exp() * (lp[keep] - ref_lp)).sum(dim=1)
            part = (pg + cfg.kl_beta * kl).sum() / cfg.batch_size
            part.backward()
            total += float(part.detach())
            kept += len(keep)
            rewards += float(correct[keep].float().mean(dim=1).sum())
            kl_sum += float(kl.detach().sum())
        return total, {"kept": kept, "reward_sum": rewards, "kl_sum": kl_sum, "tokens": tokens, "filtered": filtered, "seen": len(prompts)}

    def step(_: int, rng: random.Random) -> tuple[float, dict[str, float]]:
        gen = torch.Generator().manual_seed(rng.randrange(1 << 31))
        loss, c, rounds = 0.0, {"kept": 0, "reward_sum": 0.0, "kl_sum": 0.0, "tokens": 0, "filtered": 0, "seen": 0}, 0
        while c["kept"] < cfg.batch_size and rounds < cfg.max_rounds:
            part, counts = rollouts(stream.take(cfg.batch_size), gen)
            loss, rounds = loss + part, rounds + 1
            c = {k: c[k] + counts[k] for k in c}
        kept = max(c["kept"], 1)
        return loss, {
            "examples": float(c["seen"]), "tokens": float(c["tokens"]), "rounds": float(rounds), "kept": float(c["kept"]),
            "filtered": c["filtered"] / max(c["seen"], 1), "reward": c["reward_sum"] / kept, "kl": c["kl_sum"] / kept,
        }

    return step


def run_label_grpo(run: RunConfig, cfg, layout: RunLayout, cot_path: Path, start: Path, key: dict) -> dict[str, Any]:
    """Train `<run>/grpo/final` from `start` (run_grpo resolved it and the resume key) with label
    rollouts; returns a summary."""
    cache_dir = Path(run.cache_dir)
    stage_dir, final = layout.stage_dir("grpo"), layout.final("grpo")
    data_hash = key["data"]
    device = pick_device(cfg.device)
    torch.manual_seed(run.seed)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype)
    scheme = get_scheme(policy.label_scheme)
    renderer = PromptRenderer(policy.tokenizer, scheme)
    records = prompt_records(load_records(cot_path), cfg.sources, cfg.source_share, cfg.max_prompts, run.seed)
    groups = build_groups(renderer, records)
    where = [(0, 0)] * len(records)
    for gi, g in enumerate(groups):
        for row, ri in enumerate(g.records):
            where[ri] = (gi, row)
    head = LabelHead(policy.model, policy.tokenizer, scheme)
    pad_id = policy.tokenizer.pad_token_id
    bf16 = bf16_native(device, run.dtype)
    with autocast(device, bf16):
        ref = label_distributions(policy.model, head, groups, pad_id)
    stream = PromptStream([r.pair.level for r in records], run.seed, cfg.class_balanced)
    spec = LoopSpec("grpo", cfg.max_steps, cfg.learning_rate, cfg.save_steps, cfg.log_steps, 0.05, "constant", cfg.max_grad_norm, cfg.weight_decay)
    step_fn = grpo_step(policy.model, head, groups, where, ref, stream, cfg, pad_id)
    summary = run_loop(policy.model, spec, step_fn, stage_dir, layout.logs, device=device, bf16=bf16, seed=run.seed)
    recipe = {"key": key, "grpo": to_dict(cfg), "run": to_dict(run)}
    save_checkpoint(policy, final, stage="grpo", data_hash=data_hash, recipe=recipe, metrics={"train": summary})
    log(f"grpo(label): {summary['steps']} steps, reward {summary['history'][0].get('reward')} -> {summary['history'][-1].get('reward')}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}
