"""Where the scoring forward's time goes: torch.profiler on the serving engine's shared-prefix path.

Scores `make bench`'s workload (the default model, real ESCI product text, one query × N
products, the prefix once and the suffixes as one padded batch reading its one K/V) under
torch.profiler and groups the CPU self time of every op into what it is: dense matmuls (the
FLOPs the model must do), attention (SDPA and its mask), copies and layout (expand/cat/
contiguous/to: layout changes, padding; with the copied-KV path, the prefix KV per row), norms and activations,
and everything else (Python between layers, small ops). Also reports the request's FLOP floor
(model FLOPs ÷ this run's bf16 matmul peak) against its measured time, and the dense matmuls'
own efficiency. Prints the top ops, then one JSON line. Not part of the test suite; run on an
otherwise idle machine:

    .venv/bin/python bench/profile_scoring.py [--products 32] [--model DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bench.flops import matmul_peak, scoring_flops  # noqa: E402

#: op-name fragments → category, first match wins
CATEGORIES = (
    ("attention", ("scaled_dot_product", "_flash_attention", "attention", "softmax", "baddbmm", "bmm", "lerp", "sigmoid")),
    ("dense matmul", ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul", "mkldnn", "onednn")),
    ("copies and layout", ("copy_", "aten::cat", "contiguous", "aten::to", "_to_copy", "clone", "index", "expand", "empty", "zeros", "ones", "fill_", "slice", "select", "view", "reshape", "transpose", "permute", "unsqueeze", "narrow")),
    ("norms and activations", ("silu", "pow", "mean", "rsqrt", "aten::mul", "aten::add", "neg", "aten::div", "sigmoid", "gelu", "rms")),
)


def category(op: str) -> str:
    for name, fragments in CATEGORIES:
        if any(f in op for f in fragments):
            return name
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=32)
    ap.add_argument("--model", type=Path, default=None, help="checkpoint dir (default: the embedded default model)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()

    from bench.suite import QUERIES, Workload
    from relevance.engines.factory import create_engine
    from relevance.engines.options import engine_options
    from retrieval.knowledge import KnowledgeBase
    from service.runtime import default_model_dir
    from service.settings import Settings

    settings = Settings()
    torch.set_num_threads(settings.threads or len(os.sched_getaffinity(0)))
    model_dir = args.model or default_model_dir(settings)
    engine = create_engine("transformers", model_dir, cache_dir=settings.cache_dir, **engine_options(settings))
    knowledge = KnowledgeBase.load(settings.resolved_index_dir) if settings.retrieval else None
    group = Workload(engine, knowledge).group(QUERIES[0], args.products)
    peak = matmul_peak(engine.dtype if engine.dtype in (torch.bfloat16, torch.float32) else torch.bfloat16)
    for _ in range(2):
        engine.label_scores([group])

    t = time.perf_counter()
    for _ in range(args.repeat):
        engine.label_scores([group])
    seconds = (time.perf_counter() - t) / args.repeat
    flops = scoring_flops(engine.model, len(group.prefix_ids), [len(s) for s in group.suffix_ids], shared=True)

    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        for _ in range(args.repeat):
            engine.label_scores([group])
    averages = prof.key_averages()
    total_self = sum(e.self_cpu_time_total for e in averages) or 1.0
    by_category: dict[str, float] = {}
    for e in averages:
        by_category[category(e.key)] = by_category.get(category(e.key), 0.0) + e.self_cpu_time_total
    top = sorted(averages, key=lambda e: e.self_cpu_time_total, reverse=True)[: args.top]
    print(f"{'op':48s} {'self ms/call':>12s} {'share':>6s}")
    for e in top:
        print(f"{e.key[:48]:48s} {e.self_cpu_time_total / 1000 / args.repeat:12.1f} {e.self_cpu_time_total / total_self:6.1%}")
    matmul_s = by_category.get("dense matmul", 0.0) / 1e6 / args.repeat
    dense_flops = 2.0 * sum(p.numel() for p in engine.model.get_decoder().layers.parameters()) * (
        len(group.prefix_ids) + sum(len(s) for s in group.suffix_ids)
    )
    print(json.dumps({
        "products": args.products,
        "prefix_tokens": len(group.prefix_ids),
        "mean_suffix_tokens": round(sum(len(s) for s in group.suffix_ids) / group.n, 1),
        "dtype": str(engine.model.dtype),
        "threads": torch.get_num_threads(),
        "seconds": round(seconds, 4),
        "flop_floor_s": round(flops / peak, 4),
        "time_over_floor": round(seconds / (flops / peak), 2),
        "mfu": round(flops / seconds / peak, 3),
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "share": {k: round(v / total_self, 3) for k, v in sorted(by_category.items(), key=lambda kv: -kv[1])},
        "dense_matmul_efficiency": round(dense_flops / max(matmul_s, 1e-9) / peak, 3),
    }))


if __name__ == "__main__":
    main()
