"""The pipeline's soup stage: more RL seeds from the run's SFT checkpoint, averaged with the run's own GRPO.

DPO and GRPO on this CPU see a few hundred prompts, so the seed (which prompts, which pairs,
which draws) moves a judge by several points of macro-F1. The stage trains `soup.seeds` more
DPO → GRPO runs from the same SFT checkpoint, each in `<run>/seeds/<seed>/` (its `cot`, `sft`,
`data` and indexes are links to the run's own, so every seed reads the same inputs), and writes
the uniform weight soup of all the GRPO checkpoints (the run's and the seeds', `training.soup`)
to `<run>/soup/final`. Each seed's stages resume and skip like the run's own; the soup itself is
rewritten from its ingredients every time (seconds).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from training.config import option
from training.run import RunConfig, RunLayout, log
from training.soup import soup_adapters

#: what a seed folder must share with its run (links) …
REQUIRED_INPUTS = ("cot", "sft")
#: … and what it shares when the run has it (the indexes live in the run unless run.index_dir says otherwise)
OPTIONAL_INPUTS = ("data", "indexes")
#: the stages each seed trains
SEED_STAGES = ("dpo", "grpo")


@dataclass
class SoupConfig:
    seeds: list[int] = option([], "more RL seeds (DPO → GRPO from the run's SFT) whose GRPO checkpoints are averaged with the run's own")
    rank: int | None = option(
        None, "store the soup as the best rank-N approximation of the mean delta (None: exact, the seeds' ranks summed)"
    )

    def validate(self) -> None:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"soup.seeds {self.seeds} repeats a seed")
        if self.rank is not None and self.rank < 1:
            raise ValueError(f"soup.rank {self.rank} must be a positive number of LoRA dimensions (or None for exact)")


def seed_dir(layout: RunLayout, seed: int) -> Path:
    return layout.root / "seeds" / str(seed)


def link_inputs(layout: RunLayout, run: RunConfig, folder: Path) -> None:
    """Make `folder` a run folder that reads the run's data, CoT, SFT checkpoint (and indexes) through relative links."""
    for name in REQUIRED_INPUTS:
        if not (layout.root / name).exists():
            raise FileNotFoundError(f"{layout.root / name}: the soup stage needs the run's {name} (run the earlier stages first)")
    folder.mkdir(parents=True, exist_ok=True)
    optional = OPTIONAL_INPUTS if run.index_dir is None else tuple(n for n in OPTIONAL_INPUTS if n != "indexes")
    for name in (*REQUIRED_INPUTS, *optional):
        target, link = layout.root / name, folder / name
        if target.exists() and not (link.is_symlink() or link.exists()):
            os.symlink(os.path.relpath(target, folder), link)


def seed_configs(cfgs: dict[str, Any], layout: RunLayout, seed: int) -> dict[str, Any]:
    """The run's configs with the seed's folder and seed (everything else, DPO and GRPO settings included, unchanged)."""
    run: RunConfig = cfgs["run"]
    return {**cfgs, "run": replace(run, run_dir=str(seed_dir(layout, seed)), seed=seed)}


def run_soup(cfgs: dict[str, Any], layout: RunLayout, run_one: Callable[[str, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Train the missing seeds with `run_one(stage, cfgs)` and write `<run>/soup/final`; returns the stage summary."""
    run: RunConfig = cfgs["run"]
    soup: SoupConfig = cfgs["soup"]
    seeds = [s for s in soup.seeds if s != run.seed]
    if not seeds:
        log("soup: soup.seeds names no seed besides run.seed; nothing to average (skipped)")
        return {"skipped": True}
    own = layout.final("grpo")
    if not own.is_dir():
        raise FileNotFoundError(f"{own}: the soup stage averages the run's GRPO checkpoint with its seeds' (run grpo first)")
    summaries: dict[str, Any] = {}
    for seed in seeds:
        folder = seed_dir(layout, seed)
        link_inputs(layout, run, folder)
        for stage in SEED_STAGES:
            log(f"soup: seed {seed}, stage {stage}")
            summaries[f"seed{seed}.{stage}"] = run_one(stage, seed_configs(cfgs, layout, seed))
    ingredients = [own, *(RunLayout(seed_dir(layout, s)).final("grpo") for s in seeds)]
    out = soup_adapters(ingredients, layout.final("soup"), name="taosr1-soup", stage="soup", rank=soup.rank)
    log(f"soup: {len(ingredients)} GRPO checkpoints (seeds {[run.seed, *seeds]}) averaged into {out}")
    return {"final": str(out), "seeds": [run.seed, *seeds], "stages": summaries}
