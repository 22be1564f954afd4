"""The own optimisation loop of the label-objective stages (SFT, DPO, GRPO in `objective: label`).

A stage hands it a `step_fn(step, rng) -> (loss, metrics)` that runs its own backward passes —
one per query group, so only one group's graph is alive at a time (accumulating every group's
graph before one backward held ~3 GB of activations per 16 examples and grew the heap to
16 GB) — and returns the step's loss as a float; the loop owns everything else:
AdamW over the trainable parameters, warm-up + cosine (or constant) schedule, gradient
clipping, bf16 autocast where the hardware multiplies bf16 natively, resumable step
checkpoints (`training.resume.StepCheckpoints`), a JSONL metrics log, and the efficiency
figures the training bench reports: examples/s, tokens/s, peak and current RSS (with glibc's
malloc thresholds pinned, `training.heap`). Knows nothing about what the loss is.
"""

from __future__ import annotations

import contextlib
import math
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.heap import pin_malloc_thresholds, release_free_memory, rss_now_gb
from training.resume import StepCheckpoints
from training.run import JsonlLog, log

StepFn = Callable[[int, random.Random], tuple[float, dict[str, float]]]


@dataclass
class LoopSpec:
    """What the loop needs from a stage's config."""

    name: str
    max_steps: int
    learning_rate: float
    save_steps: int
    log_steps: int
    warmup_ratio: float = 0.05
    schedule: str = "cosine"
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0


def lr_factor(step: int, spec: LoopSpec) -> float:
    """Multiplier of the peak learning rate at `step` (0-based).

    >>> spec = LoopSpec("x", max_steps=10, learning_rate=1.0, save_steps=5, log_steps=1, warmup_ratio=0.2)
    >>> [round(lr_factor(s, spec), 2) for s in (0, 1, 2, 9)]
    [0.5, 1.0, 0.96, 0.0]
    """
    warmup = max(1, round(spec.warmup_ratio * spec.max_steps))
    if step < warmup:
        return (step + 1) / warmup
    if spec.schedule == "constant":
        return 1.0
    progress = (step - warmup + 1) / max(1, spec.max_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def peak_rss_gb() -> float:
    """This process's peak resident set size so far, in GB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def autocast(device: str, bf16: bool):
    """bf16 autocast on `device` when `bf16`, else a no-op context."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=torch.bfloat16)


def run_loop(model, spec: LoopSpec, step_fn: StepFn, stage_dir: Path, logs_dir: Path, *, device: str, bf16: bool, seed: int) -> dict[str, Any]:
    """Optimise `model` for `spec.max_steps` steps of `step_fn`, resuming from the last step checkpoint.

    Returns a summary: steps, first/last loss, the per-log-window history, examples/s,
    tokens/s (from the metrics' `examples` and `tokens`) and peak RSS in GB.
    """
    pin_malloc_thresholds()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    checkpoints = StepCheckpoints(stage_dir / "checkpoints")
    metrics_log = JsonlLog(logs_dir / f"{spec.name}.jsonl")
    step, extra = checkpoints.restore(model, optimizer)
    history: list[dict[str, float]] = extra.get("history", [])
    if step:
        log(f"{spec.name}: resuming at step {step}")
    rng = random.Random(seed * 1_000_003 + step)
    window: dict[str, float] = {}
    started, examples, tokens = time.perf_counter(), 0.0, 0.0
    model.train()
    while step < spec.max_steps:
        for group in optimizer.param_groups:
            group["lr"] = spec.learning_rate * lr_factor(step, spec)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device, bf16):
            loss, metrics = step_fn(step, rng)
        torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
        optimizer.step()
        release_free_memory()
        step += 1
        examples += metrics.get("examples", 0.0)
        tokens += metrics.get("tokens", 0.0)
        for k, v in {"loss": loss, **metrics}.items():
            window[k] = window.get(k, 0.0) + v
        window["n"] = window.get("n", 0.0) + 1
        if step % spec.log_steps == 0 or step == spec.max_steps:
            n = window.pop("n")
            entry = {"step": step, **{k: round(v / n, 5) for k, v in window.items()}, "rss_gb": round(peak_rss_gb(), 2), "rss_now_gb": round(rss_now_gb(), 2)}
            history.append(entry)
            metrics_log.write(stage=spec.name, **entry)
            log(f"{spec.name}: " + " ".join(f"{k}={v}" for k, v in entry.items()))
            window = {}
        if step % spec.save_steps == 0 and step < spec.max_steps:
            checkpoints.save(step, model, optimizer, {"history": history})
    seconds = time.perf_counter() - started
    return {
        "steps": step,
        "loss_first": history[0]["loss"] if history else None,
        "loss_last": history[-1]["loss"] if history else None,
        "history": history,
        "seconds": round(seconds, 1),
        "examples_per_s": round(examples / seconds, 3) if seconds else None,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "rss_now_gb": round(rss_now_gb(), 2),
        **host_numerics(device, bf16),
    }


def host_numerics(device: str, bf16: bool) -> dict[str, Any]:
    """What decides a run's arithmetic beside its seed: bf16 autocast or float32, the thread count and
    the CPU model (`run.dtype: auto` trains in bf16 only where the CPU has native bf16, so one recipe
    and seed give different models on different hosts; the manifest records which)."""
    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "")
    except OSError:
        pass
    return {"precision": "bf16-autocast" if bf16 else "float32", "threads": torch.get_num_threads(), "device": device, "host_cpu": cpu}
