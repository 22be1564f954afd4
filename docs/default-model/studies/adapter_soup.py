"""The uniform soup of k LoRA adapters, as one exact adapter of rank k·r (model card, 2026-12-05).

The mean of the k weight deltas (α/r)·B_i·A_i equals (k·α)/(k·r)·[B_1/k … B_k/k]·[A_1; …; A_k], so
stacking the A matrices, stacking the B matrices divided by k and scaling rank and alpha by k
gives an adapter the engines load as any other. Every source must share rank, alpha and target
modules. The folder is a copy of the last source with the stacked weights and config, written
atomically (`relevance.atomic.atomic_folder`).

    .venv/bin/python docs/default-model/studies/adapter_soup.py OUT ADAPTER [ADAPTER ...]
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from relevance.atomic import atomic_folder

CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"


def stacked(weights: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    k = len(weights)
    soup = {}
    for key in weights[0]:
        if key.endswith("lora_A.weight"):
            soup[key] = torch.cat([w[key].float() for w in weights], dim=0).contiguous()
        elif key.endswith("lora_B.weight"):
            soup[key] = torch.cat([w[key].float() / k for w in weights], dim=1).contiguous()
        else:
            raise ValueError(f"{key}: only lora_A / lora_B weights can be stacked")
    return soup


def write_soup(out: Path, sources: list[Path]) -> dict:
    configs = [json.loads((s / CONFIG).read_text()) for s in sources]
    first = configs[0]
    for source, config in zip(sources, configs, strict=True):
        same = (config["r"], config["lora_alpha"], sorted(config["target_modules"]))
        if same != (first["r"], first["lora_alpha"], sorted(first["target_modules"])):
            raise ValueError(f"{source}: rank, alpha or target modules differ from {sources[0]}")
    k = len(sources)
    config = {**first, "r": first["r"] * k, "lora_alpha": first["lora_alpha"] * k}
    with atomic_folder(out) as tmp:
        shutil.copytree(sources[-1], tmp, dirs_exist_ok=True)
        (tmp / CONFIG).write_text(json.dumps(config, indent=2))
        save_file(stacked([load_file(s / WEIGHTS) for s in sources]), tmp / WEIGHTS)
    return config


if __name__ == "__main__":
    written = write_soup(Path(sys.argv[1]), [Path(a) for a in sys.argv[2:]])
    print(json.dumps({"out": sys.argv[1], "sources": sys.argv[2:], "r": written["r"], "lora_alpha": written["lora_alpha"]}))
