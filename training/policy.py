"""The trainable policy: where a stage starts, how its weights are loaded for training, how they are saved.

A stage starts from a checkpoint folder (the previous stage's `final`, or the run's base
model) and trains it either as a PEFT LoRA adapter or in full (`TuneConfig.lora`):

* full start, LoRA on  -> a fresh adapter over the start folder (manifest kind `adapter`);
* adapter start, LoRA on -> the same adapter keeps training over its own base;
* any start, LoRA off  -> full weights (an adapter start is merged first), kind `full`.

`save_checkpoint` writes weights, tokenizer and a `taosr1.json` manifest (stage, parent,
data hash, recipe) into a temp folder and renames it into place, so a folder with a
manifest is always complete. `reference_model` loads the start checkpoint frozen, the
reference policy of DPO's and GRPO's KL terms. Knows nothing about losses or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from relevance.atomic import atomic_folder
from relevance.base_model import BASE_MODEL_NAME
from relevance.checkpoint import load_causal_lm, load_tokenizer, resolve_base_model
from relevance.labels import DEFAULT_SCHEME
from relevance.manifest import MANIFEST_FILE, CheckpointManifest, read_manifest, write_manifest
from training.config import option
from training.run import manifest_retrieval


@dataclass
class TuneConfig:
    """What every trainer shares: LoRA or full fine-tuning, optimiser basics, device."""

    init: str | None = option(None, "checkpoint folder to start from (default: the previous stage's final, or the base model)")
    lora: bool = option(True, "train a LoRA adapter (PEFT); false = full fine-tuning")
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA scaling alpha")
    lora_dropout: float = option(0.05, "LoRA dropout")
    lora_targets: list[str] = option(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], "module names LoRA wraps"
    )
    learning_rate: float = option(1e-4, "peak learning rate (AdamW)")
    weight_decay: float = option(0.0, "AdamW weight decay")
    batch_size: int = option(8, "examples (prompts) per optimiser step")
    max_steps: int = option(200, "optimiser steps of this stage")
    save_steps: int = option(50, "write a resumable checkpoint every this many steps")
    log_steps: int = option(10, "log metrics every this many steps")
    max_grad_norm: float = option(1.0, "gradient clipping norm")
    device: str = option("auto", "torch device for training: auto (cuda when available), cpu, cuda, cuda:1")

    def validate(self) -> None:
        for name in ("batch_size", "max_steps", "save_steps", "log_steps", "lora_r"):
            if getattr(self, name) < 1:
                raise ValueError(f"{type(self).__name__}.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"{type(self).__name__}.learning_rate must be > 0, got {self.learning_rate}")


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def train_dtype(device: str, frozen: bool = True, preference: str = "auto") -> torch.dtype:
    """Weights dtype: bf16 for frozen weights (a LoRA base, a reference model) where the hardware
    multiplies bf16 natively (CUDA, or a CPU with AVX512-BF16/AMX), fp32 otherwise.

    Trained weights stay fp32 (AdamW updates on bf16 weights lose most small steps); PEFT keeps
    adapter weights in fp32. On this 2-core CPU a LoRA step on SmolLM2-135M runs ~2x faster
    with a bf16 base than with an fp32 one. `preference` is the run's `dtype` setting:
    "float32" keeps everything fp32 (tests, exact comparisons), "bfloat16" forces bf16.
    """
    if preference == "bfloat16":
        return torch.bfloat16 if frozen else torch.float32
    return torch.bfloat16 if frozen and bf16_native(device, preference) else torch.float32


def bf16_native(device: str, preference: str = "auto") -> bool:
    """True when `device` multiplies bf16 natively and the run allows it (trainers then autocast to bf16)."""
    from relevance.engines.transformers_engine import cpu_supports_bf16

    if preference == "float32":
        return False
    return device.startswith("cuda") or (device == "cpu" and cpu_supports_bf16())


@dataclass
class Policy:
    model: Any  # a transformers model or a PeftModel around one
    tokenizer: Any
    start_dir: Path
    base_model: str  # what the saved checkpoint's manifest names as its base
    kind: str  # "adapter" or "full"
    label_scheme: str


def start_dir_for(stage_init: str | None, previous: list[Path], base_model: str, cache_dir: Path) -> Path:
    """The folder a stage starts from: its `init`, else the first previous stage final that exists, else the base."""
    if stage_init:
        return Path(stage_init)
    for candidate in previous:
        if (candidate / MANIFEST_FILE).is_file():
            return candidate
    return resolve_base_model(base_model, cache_dir)


def _base_name(folder: Path) -> str:
    """How a manifest names `folder` as a base: the embedded name for the prepared base, else an absolute path."""
    if (folder / MANIFEST_FILE).is_file():
        manifest = read_manifest(folder)
        if manifest.name == BASE_MODEL_NAME and manifest.stage == "base":
            return BASE_MODEL_NAME
    return str(folder.resolve())


def load_policy(start_dir: Path, cache_dir: Path, cfg: TuneConfig, device: str, dtype: str = "auto", seed: int = 0) -> Policy:
    """The start checkpoint as a trainable model (see the module doc for the LoRA/full cases).

    A fresh adapter's initial matrices are drawn from `seed` (the run's), in a forked RNG: this
    PyTorch seeds every new process at random, so an unseeded init differs from run to run, and
    the process's own RNG state is left as it was."""
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    start_dir = Path(start_dir)
    weights_dtype = train_dtype(device, frozen=cfg.lora, preference=dtype)
    manifest = read_manifest(start_dir) if (start_dir / MANIFEST_FILE).is_file() else None
    scheme = manifest.label_scheme if manifest else DEFAULT_SCHEME.name
    if manifest is not None and manifest.kind == "adapter":
        base_dir = resolve_base_model(manifest.base_model, cache_dir, start_dir)
        base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=weights_dtype)
        if cfg.lora:
            model = PeftModel.from_pretrained(base, str(start_dir), is_trainable=True)
            base_name = manifest.base_model if manifest.base_model == BASE_MODEL_NAME else str(base_dir.resolve())
            kind = "adapter"
        else:
            model = PeftModel.from_pretrained(base, str(start_dir)).merge_and_unload()
            for p in model.parameters():  # PEFT froze the base; full fine-tuning trains all of it
                p.requires_grad_(True)
            base_name, kind = _base_name(base_dir), "full"
    else:
        model = AutoModelForCausalLM.from_pretrained(str(start_dir), dtype=weights_dtype)
        base_name = _base_name(start_dir)
        if cfg.lora:
            lora = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=list(cfg.lora_targets),
                task_type="CAUSAL_LM",
            )
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = get_peft_model(model, lora)
            kind = "adapter"
        else:
            kind = "full"
            base_name = manifest.base_model if manifest is not None and manifest.kind == "full" else base_name
    tokenizer = _tokenizer(start_dir, cache_dir, manifest)
    model.to(device)
    model.train()
    return Policy(model, tokenizer, start_dir, base_name, kind, scheme)


def _tokenizer(start_dir: Path, cache_dir: Path, manifest: CheckpointManifest | None):
    if manifest is not None:
        return load_tokenizer(start_dir, cache_dir)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(start_dir))
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def reference_model(start_dir: Path, cache_dir: Path, device: str, dtype: str = "auto"):
    """The start checkpoint, frozen (adapters merged): the reference of the KL terms."""
    model, _ = load_causal_lm(Path(start_dir), cache_dir, train_dtype(device, preference=dtype))
    model.to(device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def trainable_parameters(model) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable parameters (tests compare them before and after)."""
    return {n: p.detach().float().clone().cpu() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(
    policy: Policy,
    out_dir: Path,
    *,
    stage: str,
    data_hash: str,
    recipe: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    name: str = "taosr1",
) -> Path:
    """Write weights + tokenizer + manifest to `out_dir` atomically (temp folder, then rename)."""
    out_dir = Path(out_dir)
    with atomic_folder(out_dir) as tmp:
        model = policy.model
        model.save_pretrained(str(tmp), safe_serialization=True)
        policy.tokenizer.save_pretrained(str(tmp))
        parent_manifest = policy.start_dir / MANIFEST_FILE
        parent = str(policy.start_dir.resolve()) if parent_manifest.is_file() else None
        write_manifest(
            tmp,
            CheckpointManifest(
                name=f"{name}-{stage}",
                version="0",
                base_model=policy.base_model,
                kind=policy.kind,
                label_scheme=policy.label_scheme,
                stage=stage,
                parent=parent,
                data_hash=data_hash,
                metrics=metrics or {},
                recipe=recipe,
                retrieval=manifest_retrieval(recipe.get("run", {})),
            ),
        )
    return out_dir
