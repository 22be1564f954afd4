"""Weight soup of LoRA adapters trained from one parent: the exact weighted mean of their weight deltas, as one adapter.

Several RL seeds from the same SFT checkpoint land on different judges (on held-out ESCI the
2026.12.07 recipe's three GRPO seeds spread 0.030 macro-F1 apart); averaging their weights keeps
what they share and cancels what one seed's draws added. Averaging each adapter's `lora_A` and
`lora_B` separately would not average the deltas (the mean of products is not the product of
means), so the soup concatenates them instead: A = [A_1; …; A_n] and B = [w_1·s_1·B_1, …, w_n·s_n·B_n]
with s_i each adapter's LoRA scaling, giving B·A = Σ w_i·s_i·B_i·A_i exactly, as one adapter of
rank Σ r_i and scaling 1. Engines merge adapters into the base on load, so a soup costs serving
nothing. Knows nothing about training; reads and writes checkpoint folders only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relevance.atomic import atomic_folder
from relevance.checkpoint import CASES_FILE
from relevance.manifest import CheckpointManifest, read_manifest, write_manifest

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
#: manifest fields every ingredient must share: a soup is served under one contract
SHARED_FIELDS = ("base_model", "label_scheme", "prompt_version", "retrieval")
#: adapter options the soup cannot carry over (each changes what a weight means)
UNSUPPORTED_OPTIONS = ("use_dora", "modules_to_save", "rank_pattern", "alpha_pattern", "layers_to_transform", "trainable_token_indices")
LORA_PARTS = (".lora_A.weight", ".lora_B.weight")


class SoupError(ValueError):
    """The checkpoints cannot be averaged into one adapter; the message names the checkpoint and the field."""


def lora_scaling(config: dict[str, Any]) -> float:
    """PEFT's multiplier on B·A: alpha / r, or alpha / sqrt(r) with rsLoRA."""
    r, alpha = config["r"], config["lora_alpha"]
    return alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r


def _read_config(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / CONFIG_FILE
    if not path.is_file():
        raise SoupError(f"{checkpoint}: no {CONFIG_FILE}; only LoRA adapter checkpoints can be souped")
    config = json.loads(path.read_text())
    if config.get("peft_type", "LORA") != "LORA":
        raise SoupError(f"{checkpoint}: adapter_config peft_type {config.get('peft_type')!r}; only LORA adapters can be souped")
    for option in UNSUPPORTED_OPTIONS:
        if config.get(option):
            raise SoupError(f"{checkpoint}: adapter_config {option}={config[option]!r} is not supported by the soup")
    if config.get("bias", "none") != "none":
        raise SoupError(f"{checkpoint}: adapter_config bias={config['bias']!r}; the soup needs bias 'none'")
    return config


def _check_shared(checkpoints: list[Path], manifests: list[CheckpointManifest], configs: list[dict[str, Any]]) -> None:
    first, first_config = manifests[0], configs[0]
    for path, manifest, config in zip(checkpoints[1:], manifests[1:], configs[1:], strict=True):
        for name in SHARED_FIELDS:
            if getattr(manifest, name) != getattr(first, name):
                raise SoupError(
                    f"{path}: manifest field {name!r} is {getattr(manifest, name)!r}, {checkpoints[0]} has "
                    f"{getattr(first, name)!r}; soup only checkpoints trained for the same base and contract"
                )
        if sorted(config.get("target_modules") or []) != sorted(first_config.get("target_modules") or []):
            raise SoupError(
                f"{path}: adapter_config target_modules {config.get('target_modules')} differ from "
                f"{checkpoints[0]}'s {first_config.get('target_modules')}"
            )


def soup_tensors(tensors: list[dict[str, Any]], scalings: list[float], weights: list[float]) -> dict[str, Any]:
    """The concatenated LoRA tensors whose B·A (scaling 1) is Σ weight_i · scaling_i · B_i·A_i, per module."""
    import torch

    keys = set(tensors[0])
    for i, t in enumerate(tensors[1:], start=1):
        if set(t) != keys:
            raise SoupError(f"ingredient {i} has other adapter weights than ingredient 0 ({sorted(set(t) ^ keys)[:3]} …)")
    stray = sorted(k for k in keys if not k.endswith(LORA_PARTS))
    if stray:
        raise SoupError(f"adapter weights {stray[:3]} are not LoRA A/B matrices; the soup cannot average them")
    out: dict[str, Any] = {}
    for key in sorted(keys):
        parts = [t[key].to(torch.float32) for t in tensors]
        if key.endswith(".lora_A.weight"):
            out[key] = torch.cat(parts, dim=0).contiguous()
        else:
            out[key] = torch.cat([w * s * b for w, s, b in zip(weights, scalings, parts, strict=True)], dim=1).contiguous()
    return out


def truncate_rank(tensors: dict[str, Any], rank: int) -> tuple[dict[str, Any], list[float]]:
    """Each module's B·A replaced by its best rank-`rank` approximation (truncated SVD, Eckart–Young).

    B·A has rank at most R (the concatenated rank), so the SVD runs on an R×R core: B = Q_b R_b,
    Aᵀ = Q_a R_a, B·A = Q_b (R_b R_aᵀ) Q_aᵀ. The kept singular values are split evenly between the
    new A and B (√S each), which keeps both in bf16's comfortable range. Returns the new tensors
    and, per module, the share of B·A's squared Frobenius norm kept.
    """
    import torch

    out: dict[str, Any] = {}
    kept: list[float] = []
    for key in sorted(k for k in tensors if k.endswith(".lora_A.weight")):
        b_key = key.replace(".lora_A.weight", ".lora_B.weight")
        a, b = tensors[key].to(torch.float64), tensors[b_key].to(torch.float64)
        q_b, r_b = torch.linalg.qr(b)
        q_a, r_a = torch.linalg.qr(a.T)
        u, sv, vh = torch.linalg.svd(r_b @ r_a.T)
        k = min(rank, sv.numel())
        root = sv[:k].sqrt()
        out[b_key] = ((q_b @ u[:, :k]) * root).to(torch.float32).contiguous()
        out[key] = (root[:, None] * (vh[:k] @ q_a.T)).to(torch.float32).contiguous()
        total = float((sv**2).sum())
        kept.append(float((sv[:k] ** 2).sum()) / total if total > 0 else 1.0)
    return out, kept


def shared_cases(checkpoints: list[Path]) -> Path | None:
    """The training split the ingredients share (their cases corpus), or None when they do not share one."""
    from training.export import run_training_split

    splits = [run_training_split(c) for c in checkpoints]
    if any(s is None for s in splits):
        return None
    first = splits[0].read_bytes()
    return splits[0] if all(s.read_bytes() == first for s in splits[1:]) else None


def _kept_summary(kept: list[float]) -> dict[str, float]:
    """How much of the mean delta a rank truncation kept (nothing to say for an exact soup)."""
    if not kept:
        return {}
    return {"energy_kept_min": round(min(kept), 6), "energy_kept_mean": round(sum(kept) / len(kept), 6)}


def soup_data_hash(hashes: list[str]) -> str:
    """The ingredients' data hash when they share one, else a hash of their distinct hashes (order-free)."""
    distinct = sorted(set(hashes))
    if len(distinct) == 1:
        return distinct[0]
    return hashlib.sha256("+".join(distinct).encode()).hexdigest()[:16]


def soup_adapters(
    checkpoints: list[Path | str],
    out_dir: Path | str,
    *,
    weights: list[float] | None = None,
    name: str | None = None,
    stage: str | None = None,
    rank: int | None = None,
) -> Path:
    """Write the weighted mean of `checkpoints`' LoRA deltas (uniform by default) to `out_dir` as one adapter checkpoint.

    Every ingredient must be a LoRA adapter over the same base, label scheme, prompt version and
    retrieval config, with the same target modules; averaging only makes sense for adapters
    trained from one parent (e.g. RL seeds of one SFT checkpoint), which the caller vouches for.
    The manifest is the first ingredient's with `stage` (default: the ingredients' when all share it, else "custom"),
    `parent` kept when all share it (else None), the ingredients with their parents, seeds and
    weights under `recipe["soup"]`, and each one's training summary under
    `metrics["soup"]`. The ingredients' shared training split is copied as `cases.jsonl`.
    With `rank`, the soup is stored as each module's best rank-`rank` approximation of the mean
    delta (`truncate_rank`; the share of it kept is recorded) instead of exactly at rank Σ r_i:
    the size of one ingredient instead of their sum.
    """
    from safetensors.torch import load_file, save_file

    paths = [Path(c) for c in checkpoints]
    if len(paths) < 2:
        raise SoupError(f"a soup needs at least two checkpoints, got {len(paths)}")
    weights = [1.0 / len(paths)] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths):
        raise SoupError(f"{len(weights)} weights for {len(paths)} checkpoints; give one weight per checkpoint")
    if any(w < 0 for w in weights) or not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise SoupError(f"weights {weights} must be non-negative and sum to 1")
    if rank is not None and rank < 1:
        raise SoupError(f"rank {rank} must be a positive number of LoRA dimensions")
    manifests = [read_manifest(p) for p in paths]
    for path, manifest in zip(paths, manifests, strict=True):
        if manifest.kind != "adapter":
            raise SoupError(f"{path}: manifest kind {manifest.kind!r}; only adapter checkpoints can be souped")
    configs = [_read_config(p) for p in paths]
    _check_shared(paths, manifests, configs)
    tensors = [load_file(str(p / WEIGHTS_FILE)) for p in paths]
    souped = soup_tensors(tensors, [lora_scaling(c) for c in configs], weights)
    exact_rank = sum(c["r"] for c in configs)
    kept: list[float] = []
    if rank is not None and rank < exact_rank:
        souped, kept = truncate_rank(souped, rank)
    rank = min(rank or exact_rank, exact_rank)
    config = {**configs[0], "r": rank, "lora_alpha": rank, "use_rslora": False}
    first = manifests[0]
    stages = {m.stage for m in manifests}
    ingredients = [
        {"path": str(p.resolve()), "weight": w, "parent": m.parent, "version": m.version,
         "seed": (m.recipe.get("run") or {}).get("seed"), "data_hash": m.data_hash}
        for p, m, w in zip(paths, manifests, weights, strict=True)
    ]
    train_summaries = [{k: v for k, v in (m.metrics.get("train") or {}).items() if k != "history"} for m in manifests]
    manifest = replace(
        first,
        name=name or first.name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),  # a new model, not the first ingredient
        stage=stage or (first.stage if len(stages) == 1 else "custom"),
        parent=first.parent if len({m.parent for m in manifests}) == 1 else None,
        data_hash=soup_data_hash([m.data_hash for m in manifests]),
        metrics={"soup": {"ingredients": train_summaries, **_kept_summary(kept)}},
        recipe={**first.recipe, "soup": {"ingredients": ingredients, "rank": rank, "exact_rank": exact_rank}},
        notes=f"uniform-weight soup of {len(paths)} adapters" if len(set(weights)) == 1 else f"weighted soup of {len(paths)} adapters",
    )
    cases = shared_cases(paths)
    with atomic_folder(Path(out_dir)) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
        save_file(souped, str(tmp / WEIGHTS_FILE))
        if cases is not None:
            shutil.copy2(cases, tmp / CASES_FILE)
        write_manifest(tmp, manifest)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
    return Path(out_dir)
