"""Durable batch jobs over HTTP: the real app (under uvicorn, and as a `taosr1 serve` process killed with SIGKILL).

Tiny random-weight models, real FAISS retrieval, loopback only, bounded sizes and deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from relevance.registry import publish
from service.live import free_port, live_server
from tests.helpers.tiny import build_tiny_checkpoint
from tests.service.test_api import settings_for

REPO = Path(__file__).resolve().parents[2]
NDJSON = {"Content-Type": "application/x-ndjson"}
TITLES = ["Silicone case for iPhone 13", "Garden hose 50 ft", "USB-C cable 2m", "Water bottle 750 ml", "Wireless earbuds"]
QUERIES = ["iphone 13 case", "garden hose", "usb c cable", "water bottle"]


def pair_lines(n: int, id_prefix: str = "r") -> list[str]:
    """n NDJSON pairs over a few queries (interleaved, so grouping by query matters)."""
    return [
        json.dumps({"id": f"{id_prefix}{i}", "query": QUERIES[i % len(QUERIES)],
                    "product": {"id": f"p{i}", "title": f"{TITLES[i % len(TITLES)]} #{i}"}})
        for i in range(n)
    ]


def wait_job(client: httpx.Client, job_id: str, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/jobs/{job_id}").json()
        if until(job):
            return job
        assert time.monotonic() < deadline, f"job never got there: {job}"
        time.sleep(0.05)


def results(client: httpx.Client, job_id: str) -> list[dict]:
    r = client.get(f"/jobs/{job_id}/results")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


@pytest.fixture(scope="module")
def server(tiny_model_dir, index_dir, cache_dir, tmp_path_factory):
    settings = settings_for(tiny_model_dir, index_dir, cache_dir, jobs_dir=tmp_path_factory.mktemp("jobs"), job_chunk_pairs=8)
    with live_server(settings) as srv:
        yield srv


def test_job_scores_every_line_in_order_like_relevance_and_reports_bad_lines(server):
    good = pair_lines(20)
    no_id = json.dumps({"query": "garden hose", "product": {"id": "x", "title": "Hose reel"}})
    bad = ["{not json", json.dumps({"id": "nop", "query": "q"}), json.dumps({"id": "empty", "query": " ", "product": {"id": "e", "title": "t"}})]
    body = "\n".join(good[:5] + [bad[0]] + good[5:12] + [bad[1], no_id, ""] + good[12:] + [bad[2]]) + "\n"
    with server.client() as c:
        r = c.post("/jobs", content=body.encode(), headers=NDJSON)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "queued" and job["total"] == 24  # the blank line is not a row
        job = wait_job(c, job["id"], lambda j: j["status"] == "succeeded")
        assert job["done"] == 24 and job["failed"] == 3 and job["started"] and job["finished"] >= job["started"]
        assert job["model"]["name"] == "tiny" and job["model"]["version"] == "1"
        lines = results(c, job["id"])
        assert [x["line"] for x in lines] == list(range(1, 25))
        by_id = {x["id"]: x for x in lines}
        assert len(by_id) == 24 and "line-15" in by_id and by_id["line-15"]["product_id"] == "x"
        for rid in ("line-6", "nop", "empty"):
            assert by_id[rid]["error"]["kind"] == "validation" and by_id[rid]["error"]["fix"], by_id[rid]
        assert "product" in by_id["nop"]["error"]["message"] and "query" in by_id["empty"]["error"]["message"]
        ok = [x for x in lines if "error" not in x]
        assert all(x["model"] == "tiny" and x["model_version"] == "1" for x in ok)
        # the same pair through /relevance: the same result fields
        x = by_id["r3"]
        online = c.post("/relevance", json={"query": x["query"], "products": [{"id": "p3", "title": f"{TITLES[3]} #3"}]}).json()
        [res] = online["results"]
        for level, p in res["probs"].items():
            assert abs(x["probs"][level] - p) < 1e-5
        assert (x["label"], x["level"], x["tier"]) == (res["label"], res["level"], res["tier"])
        assert c.get("/jobs").json()["jobs"][0]["id"] == job["id"]
        metrics = c.get("/metrics").text
        assert 'taosr1_job_pairs_total{outcome="ok"} 21.0' in metrics
        assert 'taosr1_job_pairs_total{outcome="invalid"} 3.0' in metrics
        assert 'taosr1_jobs{status="succeeded"}' in metrics
        engine_job = [ln for ln in metrics.splitlines() if ln.startswith('taosr1_engine_seconds_total{source="job"}')]
        assert engine_job and float(engine_job[0].split()[-1]) > 0


def test_large_streamed_upload_then_cancel(server):
    lines = pair_lines(5000, "big")

    def stream():  # a generator body: sent chunked, never one buffer
        for i in range(0, len(lines), 500):
            yield ("\n".join(lines[i : i + 500]) + "\n").encode()

    with server.client() as c:
        r = c.post("/jobs", content=stream(), headers=NDJSON)
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["total"] == 5000
        r = c.delete(f"/jobs/{job['id']}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        time.sleep(0.5)
        job = c.get(f"/jobs/{job['id']}").json()
        assert job["status"] == "cancelled" and job["done"] < 5000 and job["finished"]
        assert c.delete(f"/jobs/{job['id']}").status_code == 409
        assert len(results(c, job["id"])) == job["done"]


def test_job_errors_are_in_the_envelope(server):
    with server.client() as c:
        r = c.post("/jobs", content=b"x", headers={"Content-Type": "text/plain"})
        assert r.status_code == 422 and "Content-Type" in r.json()["error"]["fix"]
        r = c.post("/jobs", content=b"\n\n", headers=NDJSON)
        assert r.status_code == 422 and "no rows" in r.json()["error"]["message"]
        r = c.post("/jobs?format=parquet", content=b"not parquet", headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 422 and r.json()["error"]["kind"] == "validation"
        assert c.get("/jobs/nope").status_code == 404 and c.get("/jobs/nope/results").status_code == 404


def test_csv_and_parquet_uploads(server, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_body = "id,query,product_id,title,brand\nc1,iphone 13 case,p1,Case for iPhone 13,Apple\nc2,garden hose,p2,Hose 50 ft,\n"
    table = pa.table({"id": ["q1", "q2"], "query": ["usb c cable", "usb c cable"],
                      "product": [json.dumps({"id": "p1", "title": "USB-C cable"}), json.dumps({"id": "p2", "title": "Lamp"})]})
    pq.write_table(table, tmp_path / "in.parquet")
    with server.client() as c:
        jobs = [c.post("/jobs", content=csv_body.encode(), headers={"Content-Type": "text/csv"}).json(),
                c.post("/jobs", content=(tmp_path / "in.parquet").read_bytes(),
                       headers={"Content-Type": "application/vnd.apache.parquet"}).json()]
        for job, ids in zip(jobs, (["c1", "c2"], ["q1", "q2"]), strict=True):
            wait_job(c, job["id"], lambda j: j["status"] == "succeeded")
            lines = results(c, job["id"])
            assert [x["id"] for x in lines] == ids and all("probs" in x for x in lines), lines


def test_a_job_keeps_its_model_through_a_hot_reload(tmp_path, smollm2_tokenizer_dir, index_dir, cache_dir):
    registry = tmp_path / "registry"
    v1 = build_tiny_checkpoint(tmp_path / "v1", smollm2_tokenizer_dir, seed=0, name="tiny-jobs")
    v2 = build_tiny_checkpoint(tmp_path / "v2", smollm2_tokenizer_dir, seed=1, name="tiny-jobs")
    publish(v1, registry, version="v0001")
    token = "test-admin-token-9b1e4c7a2d5f3e80"
    settings = settings_for(None, index_dir, cache_dir, registry_dir=registry, registry_poll_s=0, admin_enabled=True,
                            admin_token=token, canary_size=4, canary_max_drop=1.0, jobs_dir=tmp_path / "jobs",
                            job_chunk_pairs=4, threads=1)
    with live_server(settings) as srv, srv.client() as c:
        job = c.post("/jobs", content="\n".join(pair_lines(1200)).encode(), headers=NDJSON).json()
        wait_job(c, job["id"], lambda j: j["done"] > 0)
        publish(v2, registry, version="v0002")
        r = c.post("/admin/reload", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["serving"]["version"] == "v0002", r.text
        online = c.post("/relevance", json={"query": "q", "products": [{"id": "a", "title": "t"}]}).json()
        assert online["model"]["version"] == "v0002"
        assert c.get(f"/jobs/{job['id']}").json()["status"] == "running", "the job ended before the reload: make it longer"
        job = wait_job(c, job["id"], lambda j: j["status"] != "running" and j["status"] != "queued")
        assert job["status"] == "succeeded" and job["done"] > 0 and job["model"]["version"] == "v0001"
        lines = results(c, job["id"])
        assert len(lines) == 1200 and {x["model_version"] for x in lines} == {"v0001"}
        assert job["finished"] > 0


def test_sigkill_mid_job_then_restart_resumes_exactly_once(tiny_model_dir, index_dir, cache_dir, tmp_path):
    n = 600
    jobs_dir = tmp_path / "jobs"

    def serve(port: int, log: Path) -> subprocess.Popen:
        env = {
            **os.environ, "HF_HUB_OFFLINE": "1", "TAOSR1_PORT": str(port), "TAOSR1_MODEL_DIR": str(tiny_model_dir),
            "TAOSR1_INDEX_DIR": str(index_dir), "TAOSR1_CACHE_DIR": str(cache_dir), "TAOSR1_DTYPE": "float32",
            "TAOSR1_THREADS": "1", "TAOSR1_JOBS_DIR": str(jobs_dir), "TAOSR1_JOB_CHUNK_PAIRS": "4",
            "TAOSR1_DRAIN_DELAY_S": "0",
        }
        return subprocess.Popen([sys.executable, "-m", "taosr1.cli", "serve"], cwd=REPO, env=env,
                                stdout=log.open("w"), stderr=subprocess.STDOUT)

    def ready(url: str, proc) -> None:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, "server exited"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.1)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(port, tmp_path / "serve1.log")
    try:
        ready(url, proc)
        with httpx.Client(base_url=url, timeout=60) as c:
            job = c.post("/jobs", content="\n".join(pair_lines(n)).encode(), headers=NDJSON).json()
            killed_at = wait_job(c, job["id"], lambda j: j["done"] >= 40, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert killed_at["done"] < n, "the job finished before the kill: make it longer"
    finally:
        if proc.poll() is None:
            proc.kill()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve(port, tmp_path / "serve2.log")
    try:
        ready(url, proc)
        with httpx.Client(base_url=url, timeout=60) as c:
            job = wait_job(c, job["id"], lambda j: j["status"] == "succeeded", timeout=180)
            lines = results(c, job["id"])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert job["done"] == n and job["failed"] == 0
    assert [x["line"] for x in lines] == list(range(1, n + 1))
    assert [x["id"] for x in lines] == [f"r{i}" for i in range(n)]
    assert all("probs" in x and x["model_version"] == "1" for x in lines)
