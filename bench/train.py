"""Training bench: tokens/s, MFU against this run's matmul peak, and peak RSS per training stage.

Runs, each in its own spawned process (so peak RSS is the stage's own), a fixed number of
optimiser steps of: plain SFT on label + rationale through TRL (`objective: sequence`, what
the default model was trained with before), SFT on the label objective, label DPO and label
GRPO — on the same CoT data (the default recipe's sources, a smaller synthetic split), the
same base model and LoRA settings. Prints one JSON object per stage and a last line with
`examples_per_hour_vs_sequence_sft` (label SFT ÷ sequence SFT), each stage's `mfu` and
`peak_rss_gb`. MFU counts 4 × decoder parameters per token (forward, and the backward to the
activations; the frozen base gets no weight gradients) plus attention, over the matmul peak
measured in the dtype the stages train in (`peak_dtype`: bf16 where the CPU multiplies it
natively, else fp32 — an emulated bf16 peak takes minutes to measure and is not what training
runs at). `--allocators glibc,jemalloc` runs every stage once per malloc (training.allocator)
and adds `jemalloc_vs_glibc` (examples/s ratio and both peak RSS per stage). Not part of the
test suite; run on an otherwise idle machine:

    .venv/bin/python bench/train.py [--steps 8] [--allocators auto] [--out bench/results/train.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.flops import decoder_params, matmul_peak  # noqa: E402

RECIPE = ROOT / "training" / "recipes" / "default.yaml"
STAGES = ("sequence_sft", "label_sft", "label_dpo", "label_grpo")


def _configs(run_dir: Path, steps: int, recipe_path: Path = RECIPE) -> dict:
    from training.config import load_recipe
    from training.pipeline import build_configs

    recipe = load_recipe(recipe_path)
    recipe["run"]["run_dir"] = str(run_dir)
    recipe["data"]["synthetic_queries"] = 60
    common = {"max_steps": steps, "epochs": None, "save_steps": 10_000, "log_steps": steps}
    overrides = {
        "sft": common,
        "dpo": common,
        "grpo": {"max_steps": steps, "save_steps": 10_000, "log_steps": steps},
        "sampling": {"max_prompts": 160},
    }
    return build_configs(recipe, overrides)


def _stage(name: str, run_dir: str, steps: int, results, recipe_path: str = str(RECIPE)) -> None:
    """Child process: run one stage variant; report its summary, wall time and peak RSS."""
    import resource

    from training.pipeline import run_stage

    cfgs = _configs(Path(run_dir), steps, Path(recipe_path))
    if name == "sequence_sft":
        cfgs["sft"].objective = "sequence"
        cfgs["sft"].batch_size = 8
        cfgs["run"].run_dir = str(Path(run_dir) / "sequence")
        Path(cfgs["run"].run_dir, "cot").mkdir(parents=True, exist_ok=True)
        os.link(Path(run_dir) / "cot" / "cot.jsonl", Path(cfgs["run"].run_dir) / "cot" / "cot.jsonl")
    stage = {"sequence_sft": "sft", "label_sft": "sft", "label_dpo": "dpo", "label_grpo": "grpo"}[name]
    t = time.perf_counter()
    summary = run_stage(stage, cfgs)
    seconds = time.perf_counter() - t
    if name == "sequence_sft":  # TRL reports no token counts: count what its steps consumed
        from relevance.labels import TAOSR1
        from relevance.prompt import PromptRenderer
        from training.examples import load_records
        from training.policy import _tokenizer
        from training.sft import sft_examples

        tok = _tokenizer(Path(cfgs["run"].cache_dir) / "models" / "smollm2-135m-instruct", Path(cfgs["run"].cache_dir), None)
        ex = sft_examples(PromptRenderer(tok, TAOSR1), load_records(Path(run_dir) / "cot" / "cot.jsonl"), 1024)
        mean_len = sum(len(e["input_ids"]) for e in ex) / len(ex)
        summary["examples_per_s"] = summary["steps"] * 8 / seconds
        summary["tokens_per_s"] = summary["steps"] * 8 * mean_len / seconds
    summary["seconds"] = round(seconds, 1)
    summary["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    summary.pop("history", None)
    results.put((name, summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--run-dir", default=str(ROOT / "var" / "bench" / "train"))
    parser.add_argument("--out", help="also write the report here (JSON)")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    parser.add_argument("--recipe", default=str(RECIPE), help="the recipe whose data, prompt (retrieval k's) and stage settings are benched")
    parser.add_argument("--allocators", default="auto", help="comma-separated mallocs to run each stage on: auto, glibc, jemalloc")
    args = parser.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stage(s) {unknown}; known: {list(STAGES)}")
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    from training.pipeline import run_stage

    run_dir = Path(args.run_dir)
    shutil.rmtree(run_dir, ignore_errors=True)
    cfgs = _configs(run_dir, args.steps, Path(args.recipe))
    run_stage("cot", cfgs)
    from training.policy import bf16_native

    peak_dtype = torch.bfloat16 if bf16_native("cpu") else torch.float32  # the dtype the stages train in (autocast)
    peak = matmul_peak(peak_dtype)
    base = AutoModelForCausalLM.from_pretrained(str(Path(cfgs["run"].cache_dir) / "models" / "smollm2-135m-instruct"))
    per_token = 4.0 * decoder_params(base)
    dtype_name = str(peak_dtype).replace("torch.", "")
    report = {"recipe": str(args.recipe), "peak_dtype": dtype_name, "peak_gflops": round(peak / 1e9, 1), "threads": torch.get_num_threads(), "steps": args.steps, "stages": {}}
    if peak_dtype == torch.bfloat16:
        report["peak_bf16_gflops"] = report["peak_gflops"]
    from relevance.environ import environment
    from training.allocator import choice, stage_env

    allocators = [choice(a) for a in args.allocators.split(",") if a]
    ctx = mp.get_context("spawn")
    for name in stages:
        for alloc in allocators:
            key = name if len(allocators) == 1 else f"{name}[{alloc}]"
            results = ctx.Queue()
            child = ctx.Process(target=_stage, args=(name, str(run_dir / alloc), args.steps, results, args.recipe))
            (run_dir / alloc).mkdir(parents=True, exist_ok=True)
            for shared in ("data", "indexes", "cot"):  # one data split per bench; checkpoints per malloc
                if not (run_dir / alloc / shared).exists():
                    (run_dir / alloc / shared).symlink_to((run_dir / shared).resolve())
            with environment(stage_env(alloc)):
                child.start()
            _, summary = results.get()
            child.join()
            summary["allocator"] = alloc
            summary["mfu"] = round(summary["tokens_per_s"] * per_token / peak, 3) if summary.get("tokens_per_s") else None
            summary["examples_per_hour"] = round(summary["examples_per_s"] * 3600)
            report["stages"][key] = summary
            print(json.dumps({"stage": key, **summary}), flush=True)
    st = report["stages"]
    for alloc in allocators:
        suffix = "" if len(allocators) == 1 else f"[{alloc}]"
        label, sequence = st.get(f"label_sft{suffix}"), st.get(f"sequence_sft{suffix}")
        if label and sequence:
            report[f"examples_per_hour_vs_sequence_sft{suffix}"] = round(label["examples_per_s"] / sequence["examples_per_s"], 2)
        label_stages = [f"{s}{suffix}" for s in ("label_sft", "label_dpo", "label_grpo") if f"{s}{suffix}" in st]
        if label_stages:
            report[f"peak_rss_gb_max_label_stages{suffix}"] = max(st[s]["peak_rss_gb"] for s in label_stages)
    if {"glibc", "jemalloc"} <= set(allocators):
        report["jemalloc_vs_glibc"] = {
            name: {
                "examples_per_s_ratio": round(st[f"{name}[jemalloc]"]["examples_per_s"] / st[f"{name}[glibc]"]["examples_per_s"], 2),
                "peak_rss_gb": {"glibc": st[f"{name}[glibc]"]["peak_rss_gb"], "jemalloc": st[f"{name}[jemalloc]"]["peak_rss_gb"]},
            }
            for name in stages
        }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
