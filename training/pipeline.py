"""Run the TaoSR1 recipe's stages alone or chained: cot → baseline → sft → dpo (with pass@N sampling) → grpo → soup → eval.

A recipe YAML has one section per config dataclass (`run`, `data`, `cot`, `sft`,
`baseline`, `sampling`, `dpo`, `grpo`, `soup`, `eval`, `pipeline`); each is layered over the dataclass defaults
and then under command-line overrides (`training.config.build_config`). Stages find each
other's outputs through `training.run.RunLayout`, and each one is idempotent and resumable,
so re-running a pipeline skips what is done and continues what was interrupted.
Knows which function runs each stage, not how any stage works.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance.environ import environment
from relevance.stages import PIPELINE_STAGES
from training.baseline import BaselineConfig
from training.config import build_config, load_recipe, option
from training.cot.build import CotConfig
from training.dpo import DpoConfig
from training.evaluate import EvalConfig
from training.grpo import GrpoConfig
from training.run import DataConfig, RunConfig, RunLayout, log, set_threads
from training.sampling import SamplingConfig
from training.seed_soup import SoupConfig
from training.sft import SftConfig

STAGES = PIPELINE_STAGES


@dataclass
class PipelineConfig:
    stages: list[str] = option(list(STAGES), "stages to run, in order (cot, baseline, sft, dpo, grpo, soup, eval)")
    isolate: bool = option(True, "run each stage in a fresh process (returns a stage's memory before the next starts)")

    def validate(self) -> None:
        unknown = [s for s in self.stages if s not in STAGES]
        if unknown:
            raise ValueError(f"pipeline.stages {unknown} are not among {list(STAGES)}")


SECTIONS: dict[str, type] = {
    "run": RunConfig,
    "data": DataConfig,
    "cot": CotConfig,
    "baseline": BaselineConfig,
    "sft": SftConfig,
    "sampling": SamplingConfig,
    "dpo": DpoConfig,
    "grpo": GrpoConfig,
    "soup": SoupConfig,
    "eval": EvalConfig,
    "pipeline": PipelineConfig,
}

# Config sections each stage reads (the CLI exposes these sections' fields as flags).
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "cot": ("run", "data", "cot"),
    "baseline": ("run", "baseline"),
    "sft": ("run", "sft"),
    "dpo": ("run", "sampling", "dpo"),
    "grpo": ("run", "grpo"),
    "soup": ("run", "soup"),
    "eval": ("run", "data", "eval"),
}


def build_configs(recipe: dict[str, Any], overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every section's config: defaults < recipe section < overrides[section]. Unknown sections are refused."""
    unknown = [s for s in recipe if s not in SECTIONS]
    if unknown:
        raise ValueError(f"recipe has unknown sections {unknown}; known: {list(SECTIONS)}")
    overrides = overrides or {}
    return {name: build_config(cls, recipe.get(name) or {}, overrides.get(name)) for name, cls in SECTIONS.items()}


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """`section.field=value` strings as {section: {field: value}}.

    >>> parse_sets(["sft.max_steps=10", "run.seed=3"])
    {'sft': {'max_steps': '10'}, 'run': {'seed': '3'}}
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set expects section.field=value, got {item!r}")
        out.setdefault(section, {})[name] = value
    return out


def run_stage(stage: str, cfgs: dict[str, Any]) -> dict[str, Any]:
    """Run one stage with the built configs; returns its summary."""
    run: RunConfig = cfgs["run"]
    set_threads(run.threads)
    layout = RunLayout(run.run_dir, run.index_dir)
    if stage == "cot":
        from training.cot.build import run_cot

        return run_cot(run, cfgs["data"], cfgs["cot"])
    if stage == "baseline":
        from training.baseline import run_baseline

        return run_baseline(run, cfgs["baseline"], layout)
    if stage == "sft":
        from training.sft import run_sft

        return run_sft(run, cfgs["sft"], layout)
    if stage == "dpo":
        from training.dpo import run_dpo

        return run_dpo(run, cfgs["sampling"], cfgs["dpo"], layout)
    if stage == "grpo":
        from training.grpo import run_grpo

        return run_grpo(run, cfgs["grpo"], layout)
    if stage == "soup":  # its seeds' DPO and GRPO run as the pipeline runs stages (a fresh process each by default)
        from training.seed_soup import run_soup

        return run_soup(cfgs, layout, run_stage_isolated if cfgs["pipeline"].isolate else run_stage)
    if stage == "eval":
        from training.evaluate import run_eval

        return run_eval(run, cfgs["data"], cfgs["eval"], layout)
    raise ValueError(f"unknown stage {stage!r}; choose one of {list(STAGES)}")


def _stage_child(stage: str, cfgs: dict[str, Any], results, parent_pid: int) -> None:
    """Entry point of a stage's child process: run it, send back its summary (or the error's text).

    The child ends with the pipeline that started it (training.orphan)."""
    from training.allocator import in_use
    from training.orphan import die_with_parent

    die_with_parent(parent_pid)
    log(f"{stage}: process {os.getpid()} on {in_use()} malloc")
    try:
        results.put(("ok", run_stage(stage, cfgs)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        import traceback

        results.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        raise


def run_stage_isolated(stage: str, cfgs: dict[str, Any]) -> dict[str, Any]:
    """Run one stage in a fresh (spawned) process and return its summary.

    A long CPU training stage leaves its process with a heap the next stage cannot use (the
    SFT stage of the default recipe ended at ~24 GB RSS on a 24 GB machine, and pass@N
    sampling after it in the same process crawled); a child per stage gives every stage a
    clean heap and returns all of it when the stage ends. The child starts on jemalloc where it
    is installed (`TAOSR1_ALLOCATOR`, training.allocator): glibc's heap fragments in training.
    """
    import multiprocessing as mp

    from training.allocator import stage_env

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    child = ctx.Process(target=_stage_child, args=(stage, cfgs, results, os.getpid()), name=f"taosr1-train-{stage}")
    with environment(stage_env()):
        child.start()
    outcome = None
    try:
        while outcome is None:
            try:
                outcome = results.get(timeout=1.0)
            except Exception:  # queue.Empty: still running, unless it died without a word
                if not child.is_alive():
                    break
    finally:  # interrupted (Ctrl-C, an exception here): the stage must not train on alone
        if outcome is None and child.is_alive():
            child.terminate()
    child.join()
    if outcome is None:
        raise RuntimeError(f"stage {stage} ended without a result (exit code {child.exitcode}; killed for memory?)")
    status, payload = outcome
    if status != "ok":
        raise RuntimeError(f"stage {stage} failed:\n{payload}")
    return payload


def run_pipeline(recipe_path: Path | str, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the recipe's `pipeline.stages` in order, each in its own process; returns each stage's summary."""
    cfgs = build_configs(load_recipe(recipe_path), overrides)
    results = {}
    for stage in cfgs["pipeline"].stages:
        log(f"pipeline: stage {stage}")
        # the soup stage runs in this process: it starts a fresh process for each of its seeds' stages itself,
        # and its own work (averaging adapters) takes seconds
        isolated = cfgs["pipeline"].isolate and stage != "soup"
        results[stage] = run_stage_isolated(stage, cfgs) if isolated else run_stage(stage, cfgs)
    return results
