"""SFT with the label objective: class-balanced cross-entropy on the label distribution serving reads,
plus the rationale as an auxiliary next-token term.

Plain SFT on `label + rationale` gives the label ~1/110 of the loss (the model card measured
it: rationale template learnt, label at chance). Here each step takes whole query groups
(`training.label_objective`): the label loss is the cross-entropy of the 4-way softmax over
the label tokens — exactly serving's `probs` — weighted per class (`class_balance`), and a
seeded `rationale_fraction` of the step's examples also gets the full-vocabulary answer
loss (label token + rationale + end-of-turn), weighted by `rationale_weight`, so `explain`
keeps writing the 5-step rationale. `inject_fraction` adds copies of training listings with
an injected instruction (or neutral noise) that keep their true label, and `stuffing_fraction`
copies with the pair's own query pasted in (`training.data.injection`). `rank_weight` adds a within-query ordering
term on the same logits (`training.rank_term`). Runs `epochs` over the groups with `training.label_loop`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from relevance.labels import get_scheme
from relevance.prompt import PromptRenderer
from relevance.types import LabeledPair
from training.data.injection import augment, stuff
from training.examples import CotRecord, answer_ids, load_records, prompt_ids, sft_records
from training.label_loop import LoopSpec, run_loop
from training.label_objective import LabelGroup, LabelHead, build_groups, class_weights, label_logits
from training.policy import bf16_native, load_policy, pick_device, save_checkpoint
from training.rank_term import ordered_pairs, rank_loss_sum
from training.run import RunConfig, RunLayout, log, retrieval_config


def with_injections(records: list[CotRecord], fraction: float, seed: int, below_exact_rate: float) -> list[CotRecord]:
    """`records` plus injected/neutral-noise copies of a `fraction` of them (true labels kept;
    below-Exact records copied at `below_exact_rate` times that rate)."""
    if fraction <= 0:
        return list(records)
    return list(records) + _as_records(records, augment([r.pair for r in records], fraction, seed, below_exact_rate), "injection")


def with_stuffing(records: list[CotRecord], fraction: float, seed: int, below_exact_rate: float) -> list[CotRecord]:
    """`records` plus copies of a `fraction` of them with their own query pasted into the listing,
    or neutral text of the same length (`training.data.injection.stuff`; true labels kept)."""
    if fraction <= 0:
        return list(records)
    return list(records) + _as_records(records, stuff([r.pair for r in records], fraction, seed, below_exact_rate), "stuffing")


def _as_records(records: list[CotRecord], copies: list[LabeledPair], source_name: str) -> list[CotRecord]:
    """Each copied pair as a record with its source's retrieved context and rationale."""
    source = {(r.pair.query, r.pair.product.id): r for r in records}
    return [CotRecord(c, source[(c.query, c.product.id)].context, source[(c.query, c.product.id)].rationale, source_name) for c in copies]


def steps_for(cfg, n_examples: int) -> int:
    """Optimiser steps: `max_steps`, or `epochs` over `n_examples` at `batch_size` when epochs is set."""
    if cfg.epochs:
        return max(1, math.ceil(cfg.epochs * n_examples / cfg.batch_size))
    return cfg.max_steps


class GroupStream:
    """Shuffled query groups, epoch after epoch, cut into steps of about `batch_size` examples."""

    def __init__(self, groups: list[LabelGroup], batch_size: int):
        self.groups, self.batch_size = groups, batch_size
        self.order: list[int] = []

    def take(self, rng: random.Random) -> list[LabelGroup]:
        out, n = [], 0
        while n < self.batch_size:
            if not self.order:
                self.order = list(range(len(self.groups)))
                rng.shuffle(self.order)
            g = self.groups[self.order.pop()]
            out.append(g)
            n += g.n
        return out


def rationale_backward(
    model, renderer: PromptRenderer, records: list[CotRecord], weight: float, prompt_grad: bool = False
) -> tuple[float, int]:
    """Back-propagate `weight` × the mean next-token NLL over the full label-first answers (label +
    rationale + end-of-turn) of `records`; returns that mean and the number of tokens the forwards ran.

    One record per forward/backward, each token's NLL divided by the answer tokens of them all, so
    the gradient is the batch mean's (as one padded batch, three or four long ESCI prompts made the
    SFT stage's peak RSS). Unless `prompt_grad`, the prompt (all but its last token) runs without
    gradients and hands its KV cache to the answer's forward: the term then teaches the answer
    given the prompt's representation, not a new representation of the prompt (the label
    objective trains that), so the ~90 % of its tokens that are prompt cost a forward only and
    keep no activations.
    """
    from training.sft import answer_only_loss

    device = next(model.parameters()).device
    encoded = [(prompt_ids(renderer, r), answer_ids(renderer, r.pair.level, r.rationale)) for r in records]
    answer_tokens = sum(len(answer) for _, answer in encoded)
    total, tokens = 0.0, 0
    for prompt, answer in encoded:
        if prompt_grad:
            ids = torch.tensor([prompt + answer], device=device)
            labels = torch.tensor([[-100] * len(prompt) + answer], device=device)
            loss, _, _ = answer_only_loss(model, {"input_ids": ids, "labels": labels}, num_items_in_batch=answer_tokens)
        else:
            loss = detached_prompt_nll(model, prompt, answer, device) / answer_tokens
        (weight * loss).backward()
        total, tokens = total + float(loss.detach()), tokens + len(prompt) + len(answer)
    return total, tokens


def detached_prompt_nll(model, prompt: list[int], answer: list[int], device) -> torch.Tensor:
    """Sum of the next-token NLL of `answer` after `prompt`, with gradients only through the answer's forward
    (the last prompt token, which predicts the answer's first, and the answer tokens but the last)."""
    from transformers import DynamicCache

    backbone = model.get_decoder()
    head, tail = prompt[:-1], [prompt[-1], *answer[:-1]]
    cache = DynamicCache()
    if head:
        with torch.no_grad():
            backbone(input_ids=torch.tensor([head], device=device), past_key_values=cache, use_cache=True)
    positions = torch.arange(len(head), len(head) + len(tail), device=device).unsqueeze(0)
    hidden = backbone(input_ids=torch.tensor([tail], device=device), position_ids=positions, past_key_values=cache, use_cache=True).last_hidden_state
    logits = model.get_output_embeddings()(hidden[0]).float()
    return F.cross_entropy(logits, torch.tensor(answer, device=device), reduction="sum")


def label_sft_step(model, head: LabelHead, renderer, records, stream: GroupStream, weights: torch.Tensor, cfg, pad_id: int):
    """The step function: weighted label CE over a batch of groups (+ the within-query ordering term when
    `cfg.rank_weight`, + the rationale term on a sample).

    The weighted mean is over the step's examples; each group's share is back-propagated on
    its own (the normaliser is known before any forward: the weights depend on gold levels only).
    """

    def step(_: int, rng: random.Random) -> tuple[float, dict[str, float]]:
        groups = stream.take(rng)
        cols = [head.columns(g.golds) for g in groups]
        wsum = float(sum(weights[c].sum() for c in cols))
        n_pairs = sum(len(ordered_pairs(g.golds)[0]) for g in groups) if cfg.rank_weight > 0 else 0
        label_total, rank_total, correct, rank_right, n, tokens = 0.0, 0.0, 0, 0, 0, 0
        for g, c in zip(groups, cols, strict=True):
            logits = label_logits(model, head, g, pad_id)
            c = c.to(logits.device)
            part = (F.cross_entropy(logits, c, reduction="none") * weights[c].to(logits.device)).sum() / wsum
            label_total += float(part.detach())
            if n_pairs:
                rank_sum, right = rank_loss_sum(logits, g.golds, head.levels, cfg.rank_scale)
                rank_total, rank_right = rank_total + float(rank_sum.detach()) / n_pairs, rank_right + right
                part = part + cfg.rank_weight * rank_sum / n_pairs
            part.backward()
            correct += int((logits.detach().argmax(-1) == c).sum())
            n, tokens = n + g.n, tokens + g.tokens()
        metrics = {"label_loss": label_total, "label_acc": correct / n, "examples": float(n), "tokens": float(tokens)}
        loss = label_total
        if cfg.rank_weight > 0:
            metrics.update(rank_loss=rank_total, rank_pairs=float(n_pairs), rank_acc=rank_right / n_pairs if n_pairs else 1.0)
            loss += cfg.rank_weight * rank_total
        picked = [records[i] for g in groups for i in g.records if rng.random() < cfg.rationale_fraction and records[i].rationale]
        if picked and cfg.rationale_weight > 0:
            aux, aux_tokens = rationale_backward(model, renderer, picked, cfg.rationale_weight, cfg.rationale_prompt_grad)
            metrics["rationale_loss"] = aux
            metrics["tokens"] += float(aux_tokens)
            loss += cfg.rationale_weight * metrics["rationale_loss"]
        return loss, metrics

    return step


def run_label_sft(run: RunConfig, cfg, layout: RunLayout, cot_path: Path, start: Path, key: dict) -> dict[str, Any]:
    """Train `<run>/sft/final` with the label objective from `start` (run_sft resolved it and the resume key);
    returns the summary (incl. efficiency figures)."""
    from training.config import to_dict

    final = layout.final("sft")
    cache_dir = Path(run.cache_dir)
    data_hash = key["data"]
    device = pick_device(cfg.device)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype, seed=run.seed)
    scheme = get_scheme(policy.label_scheme)
    renderer = PromptRenderer.for_retrieval(policy.tokenizer, scheme, retrieval_config(run))
    records = with_injections(sft_records(load_records(cot_path)), cfg.inject_fraction, run.seed, cfg.inject_below_exact_rate)
    records = with_stuffing(records, cfg.stuffing_fraction, run.seed, cfg.stuffing_below_exact_rate)
    if cfg.max_records is not None:
        from training.examples import spread_subset

        records = spread_subset(records, cfg.max_records, run.seed)
    groups = build_groups(renderer, records)
    head = LabelHead(policy.model, policy.tokenizer, scheme)
    weights = class_weights([r.pair.level for r in records], scheme.level_values, cfg.class_balance)
    stream = GroupStream(groups, cfg.batch_size)
    max_steps = steps_for(cfg, len(records))
    log(f"sft(label): {len(records)} examples in {len(groups)} query groups, {max_steps} steps of ~{cfg.batch_size}; class weights {weights.tolist()}")
    spec = LoopSpec("sft", max_steps, cfg.learning_rate, cfg.save_steps, cfg.log_steps, cfg.warmup_ratio, cfg.lr_scheduler, cfg.max_grad_norm, cfg.weight_decay)
    step_fn = label_sft_step(policy.model, head, renderer, records, stream, weights, cfg, policy.tokenizer.pad_token_id)
    summary = run_loop(policy.model, spec, step_fn, layout.stage_dir("sft"), layout.logs, device=device, bf16=bf16_native(device, run.dtype), seed=run.seed)
    summary["examples"] = len(records)
    recipe = {"key": key, "sft": to_dict(cfg), "run": to_dict(run)}
    save_checkpoint(policy, final, stage="sft", data_hash=data_hash, recipe=recipe, metrics={"train": summary})
    log(f"sft(label): {summary['steps']} steps, loss {summary['loss_first']} -> {summary['loss_last']}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}
