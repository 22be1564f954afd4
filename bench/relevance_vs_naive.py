"""/relevance (1 query × 32 products, one prefill, shared prefix) vs naive per-pair generation.

Starts the real service on the default model on a loopback port, sends sequential requests,
and times the same pairs scored the naive way: one `generate` per pair that reasons first
and states the label last (what the TaoSR1 post-CoT design avoids). Prints one JSON line.

    python bench/relevance_vs_naive.py [--requests 20] [--naive-pairs 4] [--naive-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from relevance.datasets.loaders import load_pairs  # noqa: E402
from relevance.engines.base import GenerationRequest  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "training" / "data" / "fixtures" / "esci_iphone_charger.csv"


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--products", type=int, default=32)
    ap.add_argument("--naive-pairs", type=int, default=4)
    ap.add_argument("--naive-tokens", type=int, default=128)
    args = ap.parse_args()

    from service.live import free_port, live_server
    from service.settings import Settings

    pairs = load_pairs(FIXTURE)[: args.products]
    query = pairs[0].query
    products = [
        {"id": p.product.id, "title": p.product.title, **({"description": p.product.description} if p.product.description else {})}
        for p in pairs
    ]
    settings = Settings(port=free_port())
    with live_server(settings) as srv, srv.client(timeout=300) as c:
        body = {"query": query, "products": products}
        c.post("/relevance", json=body).raise_for_status()  # warm
        latencies = []
        started = time.perf_counter()
        for _ in range(args.requests):
            t = time.perf_counter()
            c.post("/relevance", json=body).raise_for_status()
            latencies.append(time.perf_counter() - t)
        wall = time.perf_counter() - started
        model = srv.app.state.service.runtime.current

        # naive: same model, same pairs, one generate per pair, reasoning first (all new tokens
        # generated), timed while the server is idle (the engine closes with the server)
        engine, renderer = model.engine, model.renderer
        naive_prompts = [renderer.encode(query, p.product) for p in pairs[: args.naive_pairs]]
        engine.generate([GenerationRequest(naive_prompts[0], max_new_tokens=4)])  # warm
        t = time.perf_counter()
        engine.generate([GenerationRequest(ids, max_new_tokens=args.naive_tokens) for ids in naive_prompts])
        naive_s_per_pair = (time.perf_counter() - t) / len(naive_prompts)

    relevance_pairs_per_s = args.requests * len(products) / wall
    naive_pairs_per_s = 1.0 / naive_s_per_pair
    print(
        json.dumps(
            {
                "bench": "relevance_vs_naive",
                "model": model.ref.name,
                "products_per_request": len(products),
                "requests": args.requests,
                "relevance_pairs_per_s": round(relevance_pairs_per_s, 2),
                "relevance_p50_ms": round(statistics.median(latencies) * 1000, 1),
                "relevance_p99_ms": round(percentile(latencies, 99) * 1000, 1),
                "naive_pairs_per_s": round(naive_pairs_per_s, 3),
                "naive_new_tokens": args.naive_tokens,
                "naive_pairs_timed": len(naive_prompts),
                "speedup_vs_naive": round(relevance_pairs_per_s / naive_pairs_per_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
