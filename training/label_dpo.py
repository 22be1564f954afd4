"""pass@N + DPO with the label objective: sample labels from the SFT model, prefer the gold label.

Label first makes a sample's correctness depend on its first token only, so N samples of a
prompt are N draws from the 4-way label distribution one prefill gives (`label_logits`).
pass@k is reported both from the draws and exactly (1 − (1 − p_gold)^k, averaged). Pairs
follow the paper: a prompt whose N draws are all correct is skipped; otherwise chosen = the
gold label, rejected = the most frequent wrong draw (when all N are wrong the gold label is
still the chosen one — the teacher's answer). The loss is sigmoid DPO on the label tokens'
log-probabilities against the start checkpoint's, which are computed once before training
(the policy starts as the reference), plus `nll_weight` times the chosen label's negative
log-likelihood (DPO + NLL, as in iterative RPO, Pang et al. 2024). The anchor matters with four
labels: DPO only sees the chosen−rejected difference, so lowering both and moving the mass to a
third level costs it nothing — run 4b's class-balanced DPO, unanchored, sent every real pair to
level 1. Each step logs its margin per chosen level (`margins_by_chosen_level`), so a margin near
zero can be told apart as no learning or as one level gaining what another loses. Runs on
`training.label_loop`.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from relevance.labels import get_scheme
from relevance.prompt import PromptRenderer
from training.config import to_dict
from training.examples import load_records, prompt_records
from training.label_loop import LoopSpec, run_loop
from training.label_objective import LabelGroup, LabelHead, build_groups, class_weights, label_logits
from training.policy import bf16_native, load_policy, pick_device, save_checkpoint
from training.run import JsonlLog, RunConfig, RunLayout, log, retrieval_config
from training.sampling import pass_at_k_curve


@torch.no_grad()
def label_distributions(model, head: LabelHead, groups: list[LabelGroup], pad_id: int) -> list[torch.Tensor]:
    """Per group, the (n, L) label log-probabilities of the current model (no gradients)."""
    model.eval()
    out = [F.log_softmax(label_logits(model, head, g, pad_id), dim=-1).float().cpu() for g in groups]
    model.train()
    return out


def exact_pass_at_k(p_gold: list[float], n: int) -> dict[int, float]:
    """Mean over prompts of 1 − (1 − p_gold)^k for k = 1…n.

    >>> exact_pass_at_k([0.5, 1.0], 2)
    {1: 0.75, 2: 0.875}
    """
    return {k: round(sum(1 - (1 - p) ** k for p in p_gold) / len(p_gold), 4) for k in range(1, n + 1)}


def sample_pairs(groups: list[LabelGroup], logps: list[torch.Tensor], head: LabelHead, n: int, seed: int) -> tuple[list[tuple[int, int, int, int]], dict[str, Any]]:
    """(group, row, chosen column, rejected column) per prompt with a wrong draw among `n`; and stats."""
    gen = torch.Generator().manual_seed(seed)
    pairs, correct_counts, p_gold = [], [], []
    for gi, (g, lp) in enumerate(zip(groups, logps, strict=True)):
        draws = torch.multinomial(lp.exp(), n, replacement=True, generator=gen)  # (rows, n)
        for row, gold in enumerate(g.golds):
            col = head.column(gold)
            hits = int((draws[row] == col).sum())
            correct_counts.append(hits)
            p_gold.append(float(lp[row, col].exp()))
            if hits == n:
                continue
            wrong = Counter(int(d) for d in draws[row] if int(d) != col).most_common(1)[0][0]
            pairs.append((gi, row, col, wrong))
    sampled = pass_at_k_curve(correct_counts, n)
    levels = head.levels
    stats = {
        "chosen_levels": dict(sorted(Counter(levels[c] for _, _, c, _ in pairs).items(), reverse=True)),
        "rejected_levels": dict(sorted(Counter(levels[w] for _, _, _, w in pairs).items(), reverse=True)),
        "prompts": len(correct_counts),
        "pairs": len(pairs),
        "all_correct_skipped": sum(1 for c in correct_counts if c == n),
        "all_wrong": sum(1 for c in correct_counts if c == 0),
        "pass_at_k_exact": exact_pass_at_k(p_gold, n),
        "pass_at_k_sampled": {k: round(v, 4) for k, v in sampled.items()},
    }
    return pairs, stats


def pair_weights(pairs: list[tuple[int, int, int, int]], levels: tuple[int, ...], power: float, direction_balance: bool = False) -> torch.Tensor:
    """Per-pair loss weights ∝ (1 / frequency of the pair's chosen level)^power, mean 1.

    Without them DPO lowers whichever wrong level the model draws most, on every prompt. With
    `direction_balance`, the pairs (chosen a, rejected b) and (chosen b, rejected a) are then
    rescaled to the same total weight for every two levels a, b that have pairs both ways: a
    shift of mass from b to a gains on the first as much as it loses on the second, so the DPO
    term falls only by telling the prompts apart. Directions without a reverse keep their
    weight. (Measured: it did not remove the level shift the per-level margin log shows, and
    neither did cutting the gold-label anchor to 0.1 — model card, tenth and eleventh sections;
    the class weights themselves move it: at `power` 0 level 4 stays where SFT had it — twelfth.)

    >>> [round(x, 2) for x in pair_weights([(0, 0, 0, 1), (0, 1, 0, 2), (0, 2, 1, 0)], (4, 3, 2, 1), 1.0).tolist()]
    [0.75, 0.75, 1.5]
    >>> [round(x, 2) for x in pair_weights([(0, 0, 0, 1), (0, 1, 0, 1), (0, 2, 1, 0)], (4, 3, 2, 1), 0.0, True).tolist()]
    [0.75, 0.75, 1.5]
    """
    weights = class_weights([levels[c] for _, _, c, _ in pairs], levels, power)
    out = torch.tensor([float(weights[c]) for _, _, c, _ in pairs])
    if not direction_balance:
        return out
    totals: dict[tuple[int, int], float] = {}
    for (_, _, c, w), x in zip(pairs, out.tolist(), strict=True):
        totals[(c, w)] = totals.get((c, w), 0.0) + x
    scale = [
        (totals[(c, w)] + totals[(w, c)]) / (2 * totals[(c, w)]) if (w, c) in totals else 1.0
        for _, _, c, w in pairs
    ]
    out = out * torch.tensor(scale)
    return out / out.mean()


def margins_by_chosen_level(margins: torch.Tensor, chosen: list[int], levels: tuple[int, ...]) -> dict[str, float]:
    """Per chosen level: how many of the step's pairs chose it (`pairs_<level>`) and the sum of their
    margins (`margin_sum_<level>`). Summed, not averaged, so a log window's mean margin of a level is
    margin_sum / pairs over the window (a step without such pairs adds 0 to both).

    >>> margins_by_chosen_level(torch.tensor([0.2, -0.1, 0.4]), [4, 3, 4], (4, 3, 2, 1))
    {'pairs_4': 2.0, 'margin_sum_4': 0.6, 'pairs_3': 1.0, 'margin_sum_3': -0.1, 'pairs_2': 0.0, 'margin_sum_2': 0.0, 'pairs_1': 0.0, 'margin_sum_1': 0.0}
    """
    values = margins.tolist()
    out: dict[str, float] = {}
    for level in levels:
        picked = [v for v, c in zip(values, chosen, strict=True) if c == level]
        out[f"pairs_{level}"] = float(len(picked))
        out[f"margin_sum_{level}"] = round(float(sum(picked)), 6)
    return out


def dpo_step(model, head, groups, pairs, ref: dict[tuple[int, int], tuple[float, float]], cfg, pad_id: int):
    """The step function: sigmoid DPO on (gold, wrong) label log-probabilities of a batch of pairs,
    plus cfg.nll_weight × the gold label's NLL, each pair weighted by `pair_weights` (cfg.class_balance, 0 = all 1;
    cfg.direction_balance)."""
    order: list[int] = []
    weight = pair_weights(pairs, head.levels, cfg.class_balance, cfg.direction_balance)

    def step(_: int, rng: random.Random) -> tuple[float, dict[str, float]]:
        nonlocal order
        if len(order) < cfg.batch_size:
            fresh = list(range(len(pairs)))
            rng.shuffle(fresh)
            order += fresh
        batch, order = order[: cfg.batch_size], order[cfg.batch_size :]
        by_group: dict[int, list[int]] = {}
        for i in batch:
            by_group.setdefault(pairs[i][0], []).append(i)
        margins, nlls, tokens, total = [], [], 0, 0.0
        for gi, items in by_group.items():
            sub = groups[gi].subset([pairs[i][1] for i in items])
            lp = F.log_softmax(label_logits(model, head, sub, pad_id), dim=-1)
            tokens += sub.tokens()
            mine = [pairs[i] for i in items]
            m = torch.stack([
                cfg.beta * ((lp[r, c] - ref[(gi, row)][0]) - (lp[r, w] - ref[(gi, row)][1]))
                for r, (_, row, c, w) in enumerate(mine)
            ])
            nll = -lp[torch.arange(len(mine), device=lp.device), torch.tensor([c for _, _, c, _ in mine], device=lp.device)]
            weights = weight[items].to(m.device)
            part = ((-F.logsigmoid(m) + cfg.nll_weight * nll) * weights).sum() / len(batch)
            part.backward()
            total += float(part.detach())
            margins.append(m.detach())
            nlls.append(nll.detach())
        m = torch.cat(margins)
        chosen = [head.levels[pairs[i][2]] for items in by_group.values() for i in items]
        return total, {
            "margin": float(m.mean()), "pref_acc": float((m > 0).float().mean()), "chosen_nll": float(torch.cat(nlls).mean()),
            "examples": float(len(batch)), "tokens": float(tokens), **margins_by_chosen_level(m, chosen, head.levels),
        }

    return step


def run_label_dpo(run: RunConfig, sampling, cfg, layout: RunLayout, cot_path: Path, start: Path, key: dict) -> dict[str, Any]:
    """Sample labels from `start` (run_dpo resolved it and the resume key), build pairs, train
    `<run>/dpo/final`; returns a summary."""
    cache_dir = Path(run.cache_dir)
    stage_dir, final = layout.stage_dir("dpo"), layout.final("dpo")
    data_hash = key["data"]
    device = pick_device(cfg.device)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype, seed=run.seed)
    scheme = get_scheme(policy.label_scheme)
    renderer = PromptRenderer.for_retrieval(policy.tokenizer, scheme, retrieval_config(run))
    records = prompt_records(load_records(cot_path), sampling.sources, sampling.source_share, sampling.max_prompts, run.seed)
    groups = build_groups(renderer, records)
    head = LabelHead(policy.model, policy.tokenizer, scheme)
    pad_id = policy.tokenizer.pad_token_id
    from training.label_loop import autocast

    with autocast(device, bf16_native(device, run.dtype)):
        logps = label_distributions(policy.model, head, groups, pad_id)
    pairs, stats = sample_pairs(groups, logps, head, sampling.n, run.seed)
    JsonlLog(layout.logs / "dpo-sampling.jsonl").write(**stats)
    log(f"dpo(label): pass@N {stats}")
    if not pairs:
        raise ValueError(f"dpo: no preference pairs from {stats['prompts']} prompts (all draws correct)")
    ref = {(gi, row): (float(logps[gi][row, c]), float(logps[gi][row, w])) for gi, row, c, w in pairs}
    steps = max(1, round(cfg.epochs * len(pairs) / cfg.batch_size)) if getattr(cfg, "epochs", None) else cfg.max_steps
    spec = LoopSpec("dpo", steps, cfg.learning_rate, cfg.save_steps, cfg.log_steps, 0.05, "cosine", cfg.max_grad_norm, cfg.weight_decay)
    step_fn = dpo_step(policy.model, head, groups, pairs, ref, cfg, pad_id)
    summary = run_loop(policy.model, spec, step_fn, stage_dir, layout.logs, device=device, bf16=bf16_native(device, run.dtype), seed=run.seed)
    summary.update({"pairs": stats})
    recipe = {"key": key, "dpo": to_dict(cfg), "sampling": to_dict(sampling), "run": to_dict(run)}
    save_checkpoint(policy, final, stage="dpo", data_hash=data_hash, recipe=recipe, metrics={"train": summary})
    log(f"dpo(label): {summary['steps']} steps, loss {summary['loss_first']} -> {summary['loss_last']}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}
