"""SIGTERM under load on a real `taosr1 serve` process: readiness drops first, nothing accepted is lost."""

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from service.live import free_port

REPO = Path(__file__).resolve().parents[2]


def test_sigterm_drains_without_losing_accepted_requests(tiny_model_dir, index_dir, cache_dir, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "TAOSR1_PORT": str(port), "TAOSR1_MODEL_DIR": str(tiny_model_dir),
        "TAOSR1_INDEX_DIR": str(index_dir), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_DTYPE": "float32",
        "TAOSR1_DRAIN_DELAY_S": "1.5", "TAOSR1_DRAIN_TIMEOUT_S": "20",
    }
    # the server's log goes to a file: an unread pipe fills up under load and blocks the server
    log_path = tmp_path / "serve.log"
    log_file = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "taosr1.cli", "serve"], cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    outcomes: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    body = {"query": "iphone 13 case", "products": [{"id": str(i), "title": f"case for iphone model {i}"} for i in range(16)]}

    def worker():
        with httpx.Client(base_url=url, timeout=60) as c:
            for _ in range(400):  # bounded
                if stop.is_set():
                    return
                try:
                    r = c.post("/relevance", json=body)
                    kind = "ok" if r.status_code == 200 and len(r.json()["results"]) == 16 else f"http{r.status_code}"
                    if r.status_code == 503:  # a well-behaved client backs off as told
                        assert r.headers["retry-after"]
                        stop.wait(min(float(r.headers["retry-after"]), 1.0))
                except httpx.ConnectError:
                    kind = "refused"  # never accepted
                except httpx.HTTPError as exc:
                    kind = f"lost:{type(exc).__name__}"
                with lock:
                    outcomes.append(kind)
                if kind == "refused":
                    time.sleep(0.05)

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        while len([o for o in outcomes if o == "ok"]) < 6:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        ready = httpx.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        proc.wait(timeout=60)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        log_file.close()
        log = log_path.read_text()
    assert proc.returncode == 0, log
    lost = [o for o in outcomes if o.startswith("lost") or o not in ("ok", "http503", "refused")]
    assert not lost, (lost, outcomes)
    assert "http503" in outcomes, collections.Counter(outcomes)  # new requests during the drain were refused with 503, not dropped
    assert outcomes.count("ok") >= 6
