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
policy's own distribution before the first update, computed once over the prompts. The KL
term covers the kept prompts (`kl_scope: kept`, as GRPO) or every prompt scored in the step
(`kl_scope: seen`): the prompts dynamic sampling drops — mostly ones the policy already gets
right — are then held where they were instead of drifting with the updates on the others.
Class-balanced drawing does not balance what the filter keeps: with `kept_balance` each kept
prompt's policy-gradient term is weighted so every gold level carries the same share of it,
from the running kept counts (`kept_level_weights`). With `nll_weight` > 0 the anchored prompts
(those under the KL term) also pay `nll_weight` × their gold label's NLL, as DPO's anchor does:
where the KL holds a prompt's distribution where it was, the NLL pulls it towards its gold
label, and with `kl_scope: seen` that covers every level the class-balanced stream draws,
whatever dynamic sampling keeps.
With `reward_estimate: exact` there are no draws: a prompt's expected reward is its gold
label's probability, the loss is −π(gold) (`exact_terms`). Each step logs how many kept
prompts each gold level had (`kept_4` … `kept_1`).
With `stuffing_fraction` > 0 the prompts also include copies of listings with their own query
pasted in, or neutral text of the same length (`training.label_sft.with_stuffing`), at their true
level: a pasted query that moves a below-Exact listing towards level 4 then costs reward.
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
from training.dynamic_sampling import PromptStream, informative_groups, kept_level_weights
from training.examples import load_records, prompt_records
from training.grpo import group_advantages
from training.label_dpo import label_distributions
from training.label_loop import LoopSpec, autocast, run_loop
from training.label_objective import LabelGroup, LabelHead, build_groups, label_logits, record_positions
from training.label_sft import with_stuffing
from training.policy import bf16_native, load_policy, pick_device, save_checkpoint
from training.run import RunConfig, RunLayout, log, retrieval_config


def grpo_step(model, head: LabelHead, groups: list[LabelGroup], where: list[tuple[int, int]], ref: list[torch.Tensor], stream: PromptStream, cfg, pad_id: int):
    """The step function; `where[i]` = (group, row) of prompt i, `ref[g]` the reference log-probs of group g."""

    kept_so_far = {level: 0.0 for level in head.levels}  # for `kept_balance`: kept prompts per gold level, all steps

    def rollouts(prompts: list[int], gen: torch.Generator) -> tuple[float, dict[str, float]]:
        """One round: score the prompts (grouped by query), draw G labels each, back-propagate the
        informative ones' share of the batch loss group by group; returns (loss share, counters)."""
        by_group: dict[int, list[int]] = {}
        for i in prompts:
            by_group.setdefault(where[i][0], []).append(i)
        total, kept, rewards, kl_sum, nll_sum, tokens, filtered, n_anchored = 0.0, 0, 0.0, 0.0, 0.0, 0, 0, 0
        by_level: dict[int, int] = {}
        for gi, items in by_group.items():
            sub = groups[gi].subset([where[i][1] for i in items])
            lp = F.log_softmax(label_logits(model, head, sub, pad_id), dim=-1)
            tokens += sub.tokens()
            gold = head.columns(sub.golds).unsqueeze(1)
            if cfg.reward_estimate == "exact":
                keep, pg, reward = exact_terms(lp, gold.to(lp.device), cfg)
            else:
                keep, pg, reward = drawn_terms(lp, gold, cfg, gen)
            filtered += sub.n - len(keep)
            if keep and cfg.kept_balance:
                weight = kept_level_weights(kept_so_far)
                pg = pg * torch.tensor([weight[sub.golds[k]] for k in keep], dtype=pg.dtype, device=pg.device)
            for k in keep:
                by_level[sub.golds[k]] = by_level.get(sub.golds[k], 0) + 1
                kept_so_far[sub.golds[k]] += 1
            anchored = keep if cfg.kl_scope == "kept" else list(range(sub.n))
            if not anchored:
                continue
            ref_lp = torch.stack([ref[gi][where[items[k]][1]] for k in anchored]).to(lp.device)
            kl = (lp[anchored].exp() * (lp[anchored] - ref_lp)).sum(dim=1)
            nll = -lp[anchored].gather(1, gold[anchored].to(lp.device)).squeeze(1)
            part = (pg.sum() + cfg.kl_beta * kl.sum() + cfg.nll_weight * nll.sum()) / cfg.batch_size
            part.backward()
            total += float(part.detach())
            kept += len(keep)
            rewards += float(reward.sum())
            kl_sum += float(kl.detach().sum())
            nll_sum += float(nll.detach().sum())
            n_anchored += len(anchored)
        counts = {"kept": kept, "reward_sum": rewards, "kl_sum": kl_sum, "nll_sum": nll_sum, "anchored": n_anchored, "tokens": tokens, "filtered": filtered, "seen": len(prompts)}
        return total, {**counts, **{f"kept_{lv}": float(by_level.get(lv, 0)) for lv in head.levels}}

    def step(_: int, rng: random.Random) -> tuple[float, dict[str, float]]:
        gen = torch.Generator().manual_seed(rng.randrange(1 << 31))
        c = {"kept": 0, "reward_sum": 0.0, "kl_sum": 0.0, "nll_sum": 0.0, "anchored": 0, "tokens": 0, "filtered": 0, "seen": 0, **{f"kept_{lv}": 0.0 for lv in head.levels}}
        loss, rounds = 0.0, 0
        while c["kept"] < cfg.batch_size and rounds < cfg.max_rounds:
            part, counts = rollouts(stream.take(cfg.batch_size), gen)
            loss, rounds = loss + part, rounds + 1
            c = {k: c[k] + counts[k] for k in c}
        kept = max(c["kept"], 1)
        return loss, {
            "examples": float(c["seen"]), "tokens": float(c["tokens"]), "rounds": float(rounds), "kept": float(c["kept"]),
            "filtered": c["filtered"] / max(c["seen"], 1), "reward": c["reward_sum"] / kept, "kl": c["kl_sum"] / max(c["anchored"], 1),
            "gold_nll": c["nll_sum"] / max(c["anchored"], 1),
            **{f"kept_{lv}": c[f"kept_{lv}"] for lv in head.levels},  # kept prompts per gold level
        }

    return step


def drawn_terms(lp: torch.Tensor, gold: torch.Tensor, cfg, gen: torch.Generator) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """GRPO on label draws: (kept rows, policy-gradient loss per kept row, mean reward per kept row).

    G labels per prompt from the detached distribution, reward 1 for the gold label; dynamic
    sampling keeps the prompts whose draws are neither all right nor all wrong.
    """
    draws = torch.multinomial(lp.detach().float().exp(), cfg.group_size, replacement=True, generator=gen)
    correct = draws == gold
    keep, _ = informative_groups(correct.tolist()) if cfg.dynamic_sampling else (list(range(len(correct))), 0.0)
    if not keep:
        return keep, lp.new_zeros(0), lp.new_zeros(0)
    adv = group_advantages(correct[keep].float()).to(lp.device)
    pg = -(adv * lp[keep].gather(1, draws[keep].to(lp.device))).mean(dim=1)
    return keep, pg, correct[keep].float().mean(dim=1)


def exact_terms(lp: torch.Tensor, gold: torch.Tensor, cfg) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """The expected reward, exactly: (kept rows, loss −π(gold) per kept row, π(gold) per kept row).

    A label rollout's reward is 1 with probability π(gold), so its expectation needs no draws;
    its gradient p·(e_gold − π) on the label logits is the mean of GRPO's over infinitely many
    draws without the per-group std scaling, which multiplies a prompt's expected gradient by
    1/sqrt(p(1 − p)): more weight on prompts the policy almost always gets right or wrong.
    Dynamic sampling keeps the prompts of moderate difficulty: gold probability p within
    [pass_rate_low, pass_rate_high].

    >>> lp = torch.log(torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.05, 0.05, 0.05, 0.85]]))
    >>> from types import SimpleNamespace
    >>> cfg = SimpleNamespace(dynamic_sampling=True, pass_rate_low=0.1, pass_rate_high=0.9)
    >>> keep, loss, reward = exact_terms(lp, torch.tensor([[0], [0]]), cfg)
    >>> keep, [round(x, 2) for x in reward.tolist()]
    ([0], [0.7])
    """
    p_gold = lp.exp().gather(1, gold).squeeze(1)
    if cfg.dynamic_sampling:
        keep = [i for i, p in enumerate(p_gold.tolist()) if cfg.pass_rate_low <= p <= cfg.pass_rate_high]
    else:
        keep = list(range(len(p_gold)))
    return keep, -p_gold[keep], p_gold[keep].detach()


def run_label_grpo(run: RunConfig, cfg, layout: RunLayout, cot_path: Path, start: Path, key: dict) -> dict[str, Any]:
    """Train `<run>/grpo/final` from `start` (run_grpo resolved it and the resume key) with label
    rollouts; returns a summary."""
    cache_dir = Path(run.cache_dir)
    stage_dir, final = layout.stage_dir("grpo"), layout.final("grpo")
    data_hash = key["data"]
    device = pick_device(cfg.device)
    torch.manual_seed(run.seed)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype, seed=run.seed)
    scheme = get_scheme(policy.label_scheme)
    renderer = PromptRenderer.for_retrieval(policy.tokenizer, scheme, retrieval_config(run))
    records = prompt_records(load_records(cot_path), cfg.sources, cfg.source_share, cfg.max_prompts, run.seed)
    records = with_stuffing(records, cfg.stuffing_fraction, run.seed, cfg.stuffing_below_exact_rate)
    groups = build_groups(renderer, records)
    where = record_positions(groups, len(records))
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
