"""How a stage picks up where it stopped: a finished final checkpoint, or the last step checkpoint.

`finished(final_dir, key)` says whether a stage's `final` folder already holds a checkpoint
made from the same inputs (its manifest's recipe key); a final made from other inputs is an
error that names both, rather than being silently overwritten or reused.
`StepCheckpoints` saves and restores the trainable parameters, the optimiser and the loop
state of the own-loop trainers (DPO, GRPO) under `<stage>/checkpoints/step-N/state.pt`,
keeping the last `keep`. (SFT resumes through the HF Trainer's own checkpoints.)
Knows nothing about what is being trained.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from relevance.manifest import MANIFEST_FILE, read_manifest

_STEP = re.compile(r"^step-(\d+)$")


class StaleCheckpointError(RuntimeError):
    """A stage's final checkpoint exists but was made from different inputs."""


def finished(final_dir: Path, key: dict[str, Any]) -> bool:
    """True when `final_dir` has a checkpoint whose recipe key equals `key`."""
    if not (Path(final_dir) / MANIFEST_FILE).is_file():
        return False
    old = read_manifest(final_dir).recipe.get("key")
    if old == key:
        return True
    raise StaleCheckpointError(
        f"{final_dir} was trained from other inputs (its key {old!r}, now {key!r}); "
        "delete that folder to retrain, or use another run_dir"
    )


class StepCheckpoints:
    """Resumable state of an own training loop, one folder per saved step."""

    def __init__(self, folder: Path, keep: int = 1):
        self.folder = Path(folder)
        self.keep = keep

    def steps(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(
            int(m.group(1)) for p in self.folder.iterdir() if (m := _STEP.match(p.name)) and (p / "state.pt").is_file()
        )

    def save(self, step: int, model, optimizer, extra: dict[str, Any]) -> Path:
        target = self.folder / f"step-{step}"
        target.mkdir(parents=True, exist_ok=True)
        state = {
            "step": step,
            "params": {n: p.detach().cpu() for n, p in model.named_parameters() if p.requires_grad},
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "extra": extra,
        }
        tmp = target / "state.pt.tmp"
        torch.save(state, tmp)
        os.replace(tmp, target / "state.pt")
        for old in self.steps()[: -self.keep]:
            shutil.rmtree(self.folder / f"step-{old}", ignore_errors=True)
        return target

    def restore(self, model, optimizer) -> tuple[int, dict[str, Any]]:
        """Load the last saved step into `model` and `optimizer`; (0, {}) when there is none."""
        steps = self.steps()
        if not steps:
            return 0, {}
        state = torch.load(self.folder / f"step-{steps[-1]}" / "state.pt", map_location="cpu", weights_only=False)
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, value in state["params"].items():
                params[name].copy_(value.to(params[name].device, params[name].dtype))
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        return int(state["step"]), state["extra"]
