"""SFT: next-token loss on the label-first answer (label token + rationale + end-of-turn) only.

Each CoT record becomes one pre-tokenized example: `input_ids` = prompt ids (rendered by
`relevance.prompt.PromptRenderer`, prefix and suffix tokenized apart exactly as serving
does, via `training.examples.prompt_ids`) + answer ids (`training.examples.answer_ids`),
and `completion_mask` = 0 over the prompt, 1 over the answer. TRL's `SFTTrainer` takes such
a dataset as is (it detects `input_ids` and skips its own tokenization, so it never
re-tokenizes the prompt as one string) and, with `completion_only_loss`, turns the mask
into labels of -100 over the prompt. LoRA (PEFT) or full fine-tuning comes from
`training.policy`. Cost: `_trainer_class()` (TRL's SFTTrainer with `answer_only_loss`) keeps TRL's loop (schedules, resume,
logging) but pushes only answer positions through the 49k-row output head (a prompt is
~400 of ~510 tokens), and the frozen base runs in bf16 where the hardware has it: together
a step on the 2-core CPU costs ~3x less than stock SFTTrainer in fp32 (45 → ~14 s for 8
examples of ~510 tokens on SmolLM2-135M).
Output: `<run>/sft/final` with a `taosr1.json` (stage "sft"); a re-run
with the same inputs is a no-op, an interrupted one resumes from the Trainer's last
checkpoint in `<run>/sft/trainer/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance.labels import get_scheme
from relevance.prompt import PromptRenderer
from training.config import option, to_dict
from training.examples import CotRecord, answer_ids, load_records, prompt_ids, sft_records, spread_subset
from training.policy import TuneConfig, bf16_native, load_policy, pick_device, save_checkpoint, start_dir_for
from training.resume import finished
from training.run import JsonlLog, RunConfig, RunLayout, file_hash, log, prompt_key, retrieval_config


@dataclass
class SftConfig(TuneConfig):
    learning_rate: float = option(2e-4, "peak learning rate (AdamW)")
    grad_accum: int = option(1, "gradient accumulation steps per optimiser step")
    lr_scheduler: str = option("cosine", "learning-rate schedule (transformers names: constant, linear, cosine, …)")
    warmup_ratio: float = option(0.03, "fraction of steps spent warming the learning rate up")
    max_length: int = option(1024, "longest example in tokens (prompt + answer); longer ones are dropped")
    max_records: int | None = option(None, "train on at most N CoT records (a seeded sample spread over the file; smoke runs)")
    gradient_checkpointing: bool = option(False, "recompute activations in the backward pass (saves memory, costs time)")
    label_weight: float = option(
        1.0,
        "loss weight of each answer's first token, the label serving reads (the ~110 rationale tokens weigh 1 each); "
        "1 = plain SFT",
    )
    objective: str = option(
        "sequence",
        "label: class-balanced CE on the label distribution serving reads + rationale as an auxiliary term "
        "(training/label_sft.py); sequence: next-token loss on label + rationale through TRL",
    )
    epochs: float | None = option(None, "objective label: passes over the data (overrides max_steps when set)")
    class_balance: float = option(1.0, "objective label: class weights ∝ (1/frequency)^this (0 = unweighted)")
    rationale_fraction: float = option(0.1, "objective label: share of each step's examples that also get the rationale loss")
    rationale_weight: float = option(0.5, "objective label: weight of the rationale term")
    rationale_prompt_grad: bool = option(
        False, "objective label: back-propagate the rationale term through the prompt too (exact, ~2x its cost); "
        "false: the prompt runs without gradients and hands its KV to the answer"
    )
    inject_fraction: float = option(0.0, "objective label: add injected/neutral-noise copies of this share of the records")
    inject_below_exact_rate: float = option(
        1.0, "objective label: below-Exact records are copied at this multiple of inject_fraction (1: every level alike; 2 cost 0.13 macro-F1 on the synthetic hard set, model card)"
    )
    stuffing_fraction: float = option(
        0.0, "objective label: add copies of this share of the records with their own query pasted into the listing "
        "(or neutral text of the same length), true labels kept"
    )
    stuffing_below_exact_rate: float = option(1.0, "objective label: below-Exact records are copied at this multiple of stuffing_fraction")
    rank_weight: float = option(
        0.0, "objective label: weight of the within-query ordering term (RankNet on the expected level over every two "
        "products of one query group with different gold levels; training/rank_term.py); 0 = off"
    )
    rank_scale: float = option(2.0, "objective label: the ordering term's logistic scale per level of expected-level gap")

    def validate(self) -> None:
        super().validate()
        if self.objective not in ("label", "sequence"):
            raise ValueError(f"sft.objective must be 'label' or 'sequence', got {self.objective!r}")
        if not 0.0 <= self.rationale_fraction <= 1.0:
            raise ValueError(f"sft.rationale_fraction must be within [0, 1], got {self.rationale_fraction}")
        if self.inject_below_exact_rate < 0:
            raise ValueError(f"sft.inject_below_exact_rate must be >= 0 (1: every level alike), got {self.inject_below_exact_rate}")
        if self.rank_weight < 0 or self.rank_scale <= 0:
            raise ValueError(f"sft.rank_weight must be >= 0 (0: off) and sft.rank_scale > 0, got {self.rank_weight}, {self.rank_scale}")
        if self.stuffing_fraction < 0 or self.stuffing_below_exact_rate < 0:
            raise ValueError(
                f"sft.stuffing_fraction and sft.stuffing_below_exact_rate must be >= 0, got {self.stuffing_fraction}, {self.stuffing_below_exact_rate}"
            )


def answer_only_loss(model, inputs: dict[str, Any], num_items_in_batch: Any = None, label_weight: float = 1.0):
    """(loss, tokens, correct): mean next-token NLL over answer tokens (labels != -100) only.

    Only the hidden states that predict an answer token go through the output head. The
    sum is divided by `num_items_in_batch` when the trainer gives it (answer tokens over all
    accumulated micro-batches, as TRL's own loss does), else by this batch's answer tokens.
    `label_weight` multiplies the NLL of each answer's first token (the label; serving reads
    only its distribution) — with a 110-token rationale after it, plain SFT gives the
    decision under 1% of the loss.
    """
    import torch

    labels = inputs["labels"]
    body = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    hidden = body(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"), use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    answer = targets != -100
    rows, cols = answer.nonzero(as_tuple=True)
    logits = model.get_output_embeddings()(hidden[:, :-1][rows, cols]).float()
    wanted = targets[rows, cols]
    nll = torch.nn.functional.cross_entropy(logits, wanted, reduction="none")
    if label_weight != 1.0:
        first = answer.float().argmax(dim=1)  # first answer position per row
        is_label = cols == first[rows]
        nll = torch.where(is_label, nll * label_weight, nll)
    tokens = wanted.numel()
    denominator = num_items_in_batch if num_items_in_batch is not None else tokens
    loss = nll.sum() / torch.as_tensor(denominator, device=nll.device).clamp(min=1)
    correct = int((logits.argmax(dim=-1) == wanted).sum())
    return loss, tokens, correct


def _trainer_class(label_weight: float = 1.0):
    """trl.SFTTrainer with `answer_only_loss` as its loss (and its token accuracy as a metric)."""
    from trl import SFTTrainer

    class AnswerOnly(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            mode = "train" if self.model.training else "eval"
            loss, tokens, correct = answer_only_loss(model, inputs, num_items_in_batch, label_weight)
            self._metrics[mode]["mean_token_accuracy"].append(correct / tokens if tokens else 0.0)
            return loss

    AnswerOnly.__name__ = AnswerOnly.__qualname__ = "AnswerOnlySFTTrainer"
    return AnswerOnly


def sft_example(renderer: PromptRenderer, record: CotRecord) -> dict[str, list[int]]:
    """One pre-tokenized example: the serving prompt, then the answer; loss only on the answer.

    The answer starts with the label token of the record's gold level and ends with end-of-turn.
    """
    prompt = prompt_ids(renderer, record)
    answer = answer_ids(renderer, record.pair.level, record.rationale)
    return {"input_ids": prompt + answer, "completion_mask": [0] * len(prompt) + [1] * len(answer)}


def sft_examples(renderer: PromptRenderer, records: list[CotRecord], max_length: int) -> list[dict[str, list[int]]]:
    examples = [sft_example(renderer, r) for r in records]
    kept = [e for e in examples if len(e["input_ids"]) <= max_length]
    if len(kept) < len(examples):
        log(f"sft: dropped {len(examples) - len(kept)} examples longer than max_length={max_length}")
    if not kept:
        raise ValueError(f"no SFT example fits max_length={max_length}")
    return kept


def _last_trainer_checkpoint(folder: Path) -> str | None:
    points = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) if folder.is_dir() else []
    return str(points[-1]) if points else None


def run_sft(run: RunConfig, cfg: SftConfig, layout: RunLayout | None = None, cot_path: Path | None = None) -> dict[str, Any]:
    """Train `<run>/sft/final` from the run's CoT records; returns a summary (losses, steps, checkpoint)."""
    from datasets import Dataset
    from trl import SFTConfig

    layout = layout or RunLayout(run.run_dir, run.index_dir)
    cot_path = Path(cot_path or layout.cot)
    if not cot_path.is_file():
        raise FileNotFoundError(f"{cot_path} is missing: run `taosr1 train cot` first (or pass a CoT file)")
    final = layout.final("sft")
    cache_dir = Path(run.cache_dir)
    start = start_dir_for(cfg.init, [], run.base_model, cache_dir)
    data_hash = file_hash(cot_path)
    key = {"data": data_hash, "start": str(Path(start).resolve()), "sft": to_dict(cfg), "seed": run.seed}
    key.update(prompt_key(run))
    if finished(final, key):
        log(f"sft: {final} is up to date")
        return {"checkpoint": str(final), "skipped": True}
    if cfg.objective == "label":
        from training.label_sft import run_label_sft

        return run_label_sft(run, cfg, layout, cot_path, start, key)

    device = pick_device(cfg.device)
    policy = load_policy(start, cache_dir, cfg, device, run.dtype, seed=run.seed)
    renderer = PromptRenderer.for_retrieval(policy.tokenizer, get_scheme(policy.label_scheme), retrieval_config(run))
    records = spread_subset(sft_records(load_records(cot_path)), cfg.max_records, run.seed)
    dataset = Dataset.from_list(sft_examples(renderer, records, cfg.max_length))
    trainer_dir = layout.stage_dir("sft") / "trainer"
    args = SFTConfig(
        output_dir=str(trainer_dir),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=round(cfg.warmup_ratio * cfg.max_steps),
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=min(cfg.log_steps, cfg.max_steps),
        save_steps=cfg.save_steps,
        save_total_limit=1,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=bf16_native(device, run.dtype),  # autocast; the frozen base is already bf16 there
        seed=run.seed,
        data_seed=run.seed,
        max_length=cfg.max_length,
        completion_only_loss=True,
        packing=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
        gradient_checkpointing=cfg.gradient_checkpointing,
    )
    trainer = _trainer_class(cfg.label_weight)(model=policy.model, args=args, train_dataset=dataset, processing_class=policy.tokenizer)
    resume = _last_trainer_checkpoint(trainer_dir)
    if resume:
        log(f"sft: resuming from {resume}")
    output = trainer.train(resume_from_checkpoint=resume)
    losses = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
    metrics_log = JsonlLog(layout.logs / "sft.jsonl")
    for step, loss in losses:
        metrics_log.write(stage="sft", step=step, loss=loss)
    summary = {
        "examples": len(dataset),
        "steps": trainer.state.global_step,
        "loss_first": losses[0][1] if losses else None,
        "loss_last": losses[-1][1] if losses else None,
        "loss_mean": output.training_loss,
    }
    policy.model = trainer.model
    recipe = {"key": key, "sft": to_dict(cfg), "run": to_dict(run)}
    save_checkpoint(policy, final, stage="sft", data_hash=data_hash, recipe=recipe, metrics={"train": summary})
    log(f"sft: {summary['steps']} steps, loss {summary['loss_first']} -> {summary['loss_last']}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}
