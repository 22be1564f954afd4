"""Hot-loading from the model registry under load: the real app under uvicorn, real tiny checkpoints.

A bounded load generator (loopback only, fixed request count and deadline) keeps calling
/relevance while versions are published, hot-loaded, refused and rolled back.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from relevance.checkpoint import CASES_FILE
from relevance.datasets.jsonl import save_jsonl
from relevance.registry import publish, read_latest
from relevance.types import LabeledPair, Product
from retrieval.layout import RULES
from service.live import free_port, live_server
from service.settings import Settings
from tests.helpers.tiny import build_tiny_checkpoint

TOKEN = "test-admin-token-3f9a1c7e5b2d4f60"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEED1_CASES = [
    LabeledPair("waterproof bluetooth speaker", Product("s1", "JBL Flip 5 waterproof portable Bluetooth speaker"), 4),
    LabeledPair("waterproof bluetooth speaker", Product("s2", "Wired USB desktop computer speakers"), 1),
]
BODY = {"query": "usb c charger", "products": [{"id": str(i), "title": f"USB-C wall charger {i * 5} W"} for i in range(4)]}


class LoadGenerator:
    """`threads` clients, each sending /relevance sequentially: at most `max_requests` each, until stopped or `deadline_s`."""

    def __init__(self, url: str, threads: int = 2, max_requests: int = 2000, deadline_s: float = 120):
        self.url, self.max_requests, self.deadline_s = url, max_requests, deadline_s
        self.stop_event = threading.Event()
        self.results: list[list[tuple[int, str | None]]] = [[] for _ in range(threads)]
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, i: int) -> None:
        deadline = time.monotonic() + self.deadline_s
        with httpx.Client(base_url=self.url, timeout=60) as client:
            for _ in range(self.max_requests):
                if self.stop_event.is_set() or time.monotonic() > deadline:
                    return
                try:
                    r = client.post("/relevance", json=BODY)
                    version = r.json().get("model", {}).get("version") if r.status_code == 200 else None
                    self.results[i].append((r.status_code, version))
                except httpx.HTTPError as exc:
                    self.results[i].append((-1, type(exc).__name__))

    def __enter__(self) -> LoadGenerator:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=60)

    @property
    def all(self) -> list[tuple[int, str | None]]:
        return [r for per_thread in self.results for r in per_thread]

    def versions_seen(self) -> set[str]:
        return {v for code, v in self.all if code == 200}

    def wait_for(self, predicate, timeout: float = 90, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout}s for {what}; seen so far {self.versions_seen()}")
            time.sleep(0.05)


def wait_until(predicate, timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {what}")
        time.sleep(0.05)


def metric(client: httpx.Client, line_prefix: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line starting {line_prefix!r}")


def corrupt_copy(src: Path, dst: Path) -> Path:
    """A checkpoint whose manifest is fine but whose weights are garbage."""
    shutil.copytree(src, dst)
    for weights in dst.glob("*.safetensors"):
        weights.write_bytes(b"\x00not a safetensors file" * 64)
    return dst


def registry_settings(registry: Path, index_dir: Path, cache_dir: Path, **over) -> Settings:
    values = dict(
        port=free_port(), registry_dir=registry, index_dir=index_dir, cache_dir=cache_dir, dtype="float32",
        registry_poll_s=0.2, admin_enabled=True, admin_token=TOKEN, canary_size=8,
        canary_max_drop=1.0,  # random tiny models: the default drop gate is tested in test_failsafe.py
    )
    return Settings(**{**values, **over})


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, smollm2_tokenizer_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reload-checkpoints")
    built = {
        f"seed{s}": build_tiny_checkpoint(root / f"seed{s}", smollm2_tokenizer_dir, seed=s, name="tiny-reload")
        for s in (0, 1, 2)
    }
    save_jsonl(SEED1_CASES, built["seed1"] / CASES_FILE)  # its training split, other than the serving index's cases
    return built


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory, checkpoints, index_dir, cache_dir):
    registry = tmp_path_factory.mktemp("registry")
    publish(checkpoints["seed0"], registry, version="v0001")
    with live_server(registry_settings(registry, index_dir, cache_dir)) as srv:
        yield srv, registry


def test_admin_needs_the_token_and_refuses_paths_outside_the_registry(registry_server):
    srv, _ = registry_server
    with srv.client() as c:
        r = c.post("/admin/reload")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["error"]["fix"]
        assert c.post("/admin/rollback").status_code == 401
        r = c.post("/admin/reload", headers={"Authorization": "Bearer wrong-token"})
        assert r.status_code == 403 and r.json()["error"]["kind"] == "forbidden"
        assert c.post("/admin/rollback", headers={"Authorization": "Bearer wrong-token"}).status_code == 403
        for bad in ("../../etc", "v0001/../v0001", "/tmp", "..", ".hidden", "a" * 65):
            r = c.post("/admin/reload", headers=AUTH, json={"version": bad})
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["error"]["fields"][0]["field"] == "version"
        r = c.post("/admin/reload", headers=AUTH, json={"version": "v9999"})
        assert r.status_code == 404 and "v0001" in r.json()["error"]["message"]  # names what is published
        r = c.post("/admin/reload", headers=AUTH, json={"version": "v0001"})  # already serving it
        assert r.status_code == 200 and r.json()["status"] == "unchanged"
        assert c.get("/models").json()["serving"]["version"] == "v0001"


def test_hot_load_refuse_corrupt_and_roll_back_under_load(registry_server, checkpoints, tmp_path):
    srv, registry = registry_server
    with srv.client() as c, LoadGenerator(srv.url) as load:
        load.wait_for(lambda: len(load.all) >= 10, what="steady-state requests")
        failed_before = metric(c, 'taosr1_model_reloads_total{outcome="failed"}')

        publish(checkpoints["seed1"], registry, version="v0002")  # the watcher finds it
        load.wait_for(lambda: "v0002" in load.versions_seen(), what="the new version to serve")
        svc = srv.app.state.service
        # v0002 ships its own training split: its prompts retrieve those judged cases, v0001's the service's
        own = svc.runtime.current.core.retriever
        assert own is not svc.retriever and own.kb.indexes[RULES] is svc.retriever.kb.indexes[RULES]
        [ctx] = own.retrieve_many(["waterproof bluetooth speaker"])
        assert ctx.cases and all("speaker" in line for line in ctx.cases), ctx.cases
        n_after_swap = len(load.all)

        # bypassing publish's validation (it would refuse it) to test the service's own refusal
        publish(corrupt_copy(checkpoints["seed2"], tmp_path / "corrupt"), registry, version="v0003", validate=False)
        wait_until(lambda: "v0003" in c.get("/models").json()["registry"]["failed"], what="v0003 to be refused")
        load.wait_for(lambda: len(load.all) >= n_after_swap + 10, what="requests after the refusal")
        models = c.get("/models").json()
        assert models["serving"]["version"] == "v0002", "a refused version must leave the serving one in place"
        assert models["registry"]["reloads"][-1]["outcome"] == "failed"
        assert metric(c, 'taosr1_model_reloads_total{outcome="failed"}') == failed_before + 1
        switch_point = len(load.all)

        r = c.post("/admin/rollback", headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["serving"]["version"] == "v0001"
        assert svc.runtime.current.core.retriever is svc.retriever  # v0001 ships no cases: the service's index
        assert read_latest(registry) == "v0001", "rollback moves the pointer: a restart serves the same version"
        load.wait_for(lambda: len(load.all) >= switch_point + 10, what="requests after the rollback")
        time.sleep(0.5)  # the watcher must not flip back to v0002/v0003
        assert c.get("/models").json()["serving"]["version"] == "v0001"

    results = load.all
    assert all(code == 200 for code, _ in results), [r for r in results if r[0] != 200][:5]
    assert all(v in ("v0001", "v0002") for _, v in results), {v for _, v in results}
    for per_thread in load.results:
        versions = [v for _, v in per_thread]
        switches = [(a, b) for a, b in zip(versions, versions[1:], strict=False) if a != b]
        # each client is sequential: it sees v0001, then v0002 exactly once, then v0001 after the rollback
        assert switches in ([("v0001", "v0002"), ("v0002", "v0001")], [("v0002", "v0001")], [("v0001", "v0002")], []), switches
    assert {"v0001", "v0002"} <= load.versions_seen()


def test_a_version_below_the_canary_threshold_is_refused(tmp_path, checkpoints, index_dir, cache_dir):
    registry = tmp_path / "registry"
    publish(checkpoints["seed0"], registry, version="v0001")
    settings = registry_settings(registry, index_dir, cache_dir, canary_min_macro_f1=1.0)
    with live_server(settings) as srv, srv.client() as c:
        publish(checkpoints["seed1"], registry, version="v0002")
        r = c.post("/admin/reload", headers=AUTH)  # latest = v0002
        assert r.status_code == 409, r.text
        assert "TAOSR1_CANARY_MIN_MACRO_F1" in r.json()["error"]["message"]
        assert c.get("/models").json()["serving"]["version"] == "v0001"
        assert c.post("/relevance", json=BODY).json()["model"]["version"] == "v0001"


def test_admin_off_is_404_and_admin_on_needs_a_real_token(tmp_path, tiny_model_dir, index_dir, cache_dir):
    for token in ("", "change-me", "admin"):
        with pytest.raises(ValidationError, match="TAOSR1_ADMIN_TOKEN"):
            Settings(admin_enabled=True, admin_token=token)
    settings = Settings(port=free_port(), model_dir=tiny_model_dir, index_dir=index_dir, cache_dir=cache_dir,
                        registry_dir=tmp_path / "empty-registry", dtype="float32")
    with live_server(settings) as srv, srv.client() as c:
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 404 and "TAOSR1_ADMIN_ENABLED" in r.json()["error"]["fix"]


def test_agreement_with_the_serving_model_is_measured_and_enforced(tmp_path, checkpoints, index_dir, cache_dir):
    registry = tmp_path / "registry"
    publish(checkpoints["seed0"], registry, version="v0001")
    settings = registry_settings(registry, index_dir, cache_dir, canary_min_agreement=1.0, registry_poll_s=0)
    with live_server(settings) as srv, srv.client() as c:
        publish(checkpoints["seed0"], registry, version="v0002")  # same weights: agrees on every canary pair
        r = c.post("/admin/reload", headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json()["canary"]["agreement"] == 1.0 and r.json()["serving"]["version"] == "v0002"
        publish(checkpoints["seed1"], registry, version="v0003")  # other weights
        r = c.post("/admin/reload", headers=AUTH)
        if r.status_code == 409:  # disagreed somewhere: refused, naming the threshold
            assert "TAOSR1_CANARY_MIN_AGREEMENT" in r.json()["error"]["message"]
            assert c.get("/models").json()["serving"]["version"] == "v0002"
        else:  # two random models can agree on all 8 pairs; then the swap is legitimate
            assert r.status_code == 200 and r.json()["canary"]["agreement"] == 1.0
