"""Hot reload of the default model under load: reload time, and request latency during a swap vs steady.

Publishes the default model into a fresh registry as v0001, starts the real service on it, keeps
a steady sequential /relevance load (1 query × 8 products) running, and then publishes the same
weights as v0002, which the service's registry watcher hot-loads. Latencies are split into the
requests that overlapped the reload window (from publish to the first v0002 answer) and those
before it. Prints one JSON line: reload seconds, p50/p99 steady and during the swap, their
ratio, and the failed request count (must be 0).

    python bench/reload_under_load.py [--steady-s 20] [--after-s 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from relevance.registry import publish  # noqa: E402
from service.live import free_port, live_server  # noqa: E402
from service.runtime import default_model_dir  # noqa: E402
from service.settings import Settings  # noqa: E402

BODY = {
    "query": "usb c charger for iphone 15",
    "products": [{"id": str(i), "title": f"USB-C {20 + 5 * i}W fast wall charger, PD 3.0, for iPhone 15/14/13"} for i in range(8)],
}


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady-s", type=float, default=20.0, help="seconds of load before publishing v0002")
    ap.add_argument("--after-s", type=float, default=10.0, help="seconds of load after the swap")
    args = ap.parse_args()

    base = Settings()
    registry = Path(tempfile.mkdtemp(prefix="taosr1-bench-registry-"))
    publish(default_model_dir(base), registry, version="v0001", cache_dir=base.cache_dir)
    settings = Settings(port=free_port(), registry_dir=registry, registry_poll_s=0.5)
    samples: list[tuple[float, float, int, str | None]] = []  # start, seconds, status, version
    stop = threading.Event()

    def client_loop(url: str) -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            for _ in range(100_000):  # bounded; stopped by the event long before
                if stop.is_set():
                    return
                t = time.perf_counter()
                r = c.post("/relevance", json=BODY)
                version = r.json()["model"]["version"] if r.status_code == 200 else None
                samples.append((t, time.perf_counter() - t, r.status_code, version))

    with live_server(settings) as srv, srv.client() as c:
        thread = threading.Thread(target=client_loop, args=(srv.url,), daemon=True)
        thread.start()
        time.sleep(args.steady_s)
        published_at = time.perf_counter()
        publish(default_model_dir(base), registry, version="v0002", cache_dir=base.cache_dir)
        deadline = time.monotonic() + 600
        while not any(v == "v0002" for *_, v in samples) and time.monotonic() < deadline:
            time.sleep(0.05)
        swapped_at = next(t + s for t, s, _, v in samples if v == "v0002")
        time.sleep(args.after_s)
        stop.set()
        thread.join(timeout=120)
        reloads = c.get("/models").json()["registry"]["reloads"]

    loaded = [r for r in reloads if r["outcome"] == "loaded" and r["version"] == "v0002"]
    steady = [s for t, s, code, _ in samples if t + s < published_at and code == 200]
    during = [s for t, s, code, _ in samples if t + s >= published_at and t <= swapped_at and code == 200]
    failed = sum(1 for *_, code, _ in samples if code != 200)
    line = {
        "bench": "reload_under_load",
        "model": str(default_model_dir(base)),
        "requests": len(samples),
        "failed_requests": failed,
        "reload_s": round(loaded[0]["seconds"], 2) if loaded else None,
        "swap_window_s": round(swapped_at - published_at, 2),
        "steady_p50_ms": round(statistics.median(steady) * 1000, 1),
        "steady_p99_ms": round(percentile(steady, 99) * 1000, 1),
        "during_swap_n": len(during),
        "during_swap_p50_ms": round(statistics.median(during) * 1000, 1) if during else None,
        "during_swap_p99_ms": round(percentile(during, 99) * 1000, 1) if during else None,
    }
    if during:
        line["p99_during_over_steady"] = round(line["during_swap_p99_ms"] / line["steady_p99_ms"], 2)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
