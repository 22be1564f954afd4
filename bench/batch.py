"""Batch scoring paths side by side, one run: a durable job, /relevance/batch, the CLI, Ray with 1 and 2 actors.

On the same synthetic pairs (training.data.synthetic, seeded) and the same model (default: the
embedded default; --model DIR for another checkpoint; TAOSR1_* settings apply, e.g.
TAOSR1_INDEX_DIR), it measures pairs/s of:
- a job: POST /jobs (NDJSON) on the real service until it succeeded;
- /relevance/batch on the same service, in calls of up to TAOSR1_MAX_BATCH_PAIRS;
- `taosr1 batch score` (a subprocess: model load included, like a user's run);
- `taosr1 batch score --ray --actors 1` and `--actors 2` on a local Ray instance;
and /relevance p50/p99 (1 query × 8 products, sequential) with no job running vs with one.
Prints one JSON line. `--smoke` runs everything on a handful of pairs (a check that it works,
not a measurement). Not part of the test suite.

    python bench/batch.py [--queries 32 --products 16] [--model DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from service.live import free_port, live_server  # noqa: E402
from service.settings import Settings  # noqa: E402
from training.data.synthetic import generate  # noqa: E402

ONLINE = {"query": "usb c charger", "products": [{"id": str(i), "title": f"USB-C wall charger {20 + 5 * i} W"} for i in range(8)]}


def write_pairs(path: Path, n_queries: int, per_query: int) -> list[dict]:
    rows = []
    for i, p in enumerate(generate(n_queries, per_query, seed=7)):
        product = {"id": p.product.id, "title": p.product.title}
        product.update({k: v for k, v in (("brand", p.product.brand), ("category", p.product.category)) if v})
        rows.append({"id": f"b{i}", "query": p.query, "product": product})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def percentiles(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"p50_ms": round(statistics.median(s) * 1000, 1), "p99_ms": round(s[min(len(s) - 1, round(0.99 * (len(s) - 1)))] * 1000, 1), "n": len(s)}


def online_latency(c: httpx.Client, seconds: float, until=None) -> list[float]:
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline and (until is None or not until()):
        t = time.perf_counter()
        assert c.post("/relevance", json=ONLINE).status_code == 200
        out.append(time.perf_counter() - t)
    return out


def service_paths(args, pairs_file: Path, rows: list[dict], tmp: Path) -> dict:
    over = {"model_dir": Path(args.model)} if args.model else {}
    settings = Settings(port=free_port(), jobs_dir=tmp / "jobs", **over)
    out: dict = {}
    with live_server(settings) as srv, srv.client(timeout=3600) as c:
        out["relevance_idle"] = percentiles(online_latency(c, args.latency_s))
        t = time.perf_counter()
        job = c.post("/jobs", content=pairs_file.read_bytes(), headers={"Content-Type": "application/x-ndjson"}).json()

        def finished() -> bool:
            return c.get(f"/jobs/{job['id']}").json()["status"] not in ("queued", "running")

        out["relevance_during_job"] = percentiles(online_latency(c, args.latency_s, until=finished) or [0.0])
        while not finished():
            time.sleep(0.05)
        job = c.get(f"/jobs/{job['id']}").json()
        assert job["status"] == "succeeded", job
        out["job"] = {"pairs_per_s": round(len(rows) / (time.perf_counter() - t), 2), "note": "includes the online probes above"}
        t = time.perf_counter()
        step = settings.max_batch_pairs
        for i in range(0, len(rows), step):
            pairs = [{k: v for k, v in x.items() if k != "id"} for x in rows[i : i + step]]
            # an offline-sized call: the largest deadline the service allows (jobs have none)
            r = c.post("/relevance/batch", json={"pairs": pairs, "deadline_ms": settings.max_deadline_ms}, timeout=settings.max_deadline_ms / 1000 + 30)
            assert r.status_code == 200, r.text
        out["relevance_batch"] = {"pairs_per_s": round(len(rows) / (time.perf_counter() - t), 2)}
    return out


def cli_path(args, pairs_file: Path, out: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "taosr1.cli", "batch", "score", "--quiet", "--input", str(pairs_file), "--output", str(out), *extra]
    if args.model:
        cmd += ["--model", args.model]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=24 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - t
    return {"pairs_per_s": round(summary["rows"] / wall, 2), "pairs_per_s_after_start": summary["pairs_per_s"], "seconds": round(wall, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=32)
    ap.add_argument("--products", type=int, default=16, help="products per query")
    ap.add_argument("--model", help="checkpoint folder (default: the embedded default)")
    ap.add_argument("--latency-s", type=float, default=10.0, help="seconds of /relevance probes, idle and during the job")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="4 queries × 4 products, 1 s of probes: a check, not a measurement")
    args = ap.parse_args()
    if args.smoke:
        args.queries, args.products, args.latency_s = 4, 4, 1.0
    tmp = Path(tempfile.mkdtemp(prefix="taosr1-bench-batch-"))
    pairs_file = tmp / "pairs.ndjson"
    rows = write_pairs(pairs_file, args.queries, args.products)
    result: dict = {"pairs": len(rows), "queries": args.queries, **service_paths(args, pairs_file, rows, tmp)}
    result["cli"] = cli_path(args, pairs_file, tmp / "cli.ndjson")
    if not args.no_ray:
        for n in (1, 2):
            cpus = str(max(1, (os.cpu_count() or 2) // n))  # the machine split between the actors
            result[f"ray_{n}_actors"] = cli_path(args, pairs_file, tmp / f"ray{n}.ndjson", "--ray", "--actors", str(n), "--actor-cpus", cpus)
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
