"""The service on the vLLM engine answers /relevance over HTTP (real app under uvicorn on loopback).

In-process mode reuses the session's in-process vLLM (same options → shared engine); sidecar mode
points the service at the session's running sidecar server, the way deploy/ runs one beside it.
"""

from __future__ import annotations

import pytest

from service.live import free_port, live_server
from service.settings import Settings
from tests.relevance.engines.conftest import VLLM_TEST_OPTIONS

PRODUCTS = [
    {"id": "a", "title": "Apple iPhone 13 Silicone Case with MagSafe - Blue", "brand": "Apple"},
    {"id": "b", "title": "Heavy duty garden hose 50 ft", "attributes": {"length": "50 ft"}},
    {"id": "c", "title": "Clear case for iPhone 12", "description": "Slim, shock absorbing."},
]


def _settings(model_dir, cache_dir, **over) -> Settings:
    o = VLLM_TEST_OPTIONS
    return Settings(
        engine="vllm", model_dir=model_dir, cache_dir=cache_dir, port=free_port(), retrieval=False, dtype=o["dtype"],
        vllm_max_model_len=o["max_model_len"], vllm_kv_cache_gb=o["kv_cache_gb"], vllm_enforce_eager=o["enforce_eager"],
        vllm_enable_lora=o["enable_lora"], vllm_startup_timeout_s=o["startup_timeout_s"], explain_max_new_tokens=8,
        **over,
    )


@pytest.mark.parametrize("mode", ["inprocess", "sidecar"])
def test_vllm_service_answers_relevance_over_http(mode, request, vllm_tiny_model_dir, cache_dir):
    engine = request.getfixturevalue(f"vllm_{mode}")
    over = {"vllm_mode": mode}
    if mode == "sidecar":
        over.update(vllm_url=engine.url, vllm_start_sidecar=False)
    with live_server(_settings(vllm_tiny_model_dir, cache_dir, **over)) as srv, srv.client() as client:
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and ready["model"]["engine"] == "vllm"
        r = client.post("/relevance", json={"query": "iphone 13 case", "products": PRODUCTS, "explain": True})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [x["id"] for x in body["results"]] == ["a", "b", "c"]
        for x in body["results"]:
            assert abs(sum(x["probs"].values()) - 1) < 1e-4 and x["label"] and x["tier"]
            assert x["reasoning"] is not None or x["reasoning_error"] is not None
        assert body["model"]["engine"] == "vllm"
        exported = client.get("/metrics").text
        assert "taosr1_pairs_total" in exported
        if mode == "inprocess":  # vLLM's own series, passed through beside ours (a sidecar serves its own)
            names = {line.split("{")[0].split(" ")[0] for line in exported.splitlines() if line.startswith("vllm:")}
            assert any(n.startswith("vllm:prefix_cache_queries") for n in names), sorted(names)[:20]
        # the service's answer is the engine's: same probabilities as scoring through the fixture's engine
        from relevance.assemble import render_group
        from relevance.prompt import PromptRenderer
        from relevance.scoring import softmax_rows
        from relevance.types import Product, RetrievedContext

        renderer = PromptRenderer(engine.tokenizer, engine.scheme)
        products = [Product(id=p["id"], title=p["title"], brand=p.get("brand"), attributes=p.get("attributes", {}),
                            description=p.get("description")) for p in PRODUCTS]
        [rows] = engine.label_scores([render_group(renderer, "iphone 13 case", products, RetrievedContext())])
        for x, probs in zip(body["results"], softmax_rows(rows), strict=True):
            levels = engine.scheme.level_values
            assert max(abs(x["probs"][str(lv)] - p) for lv, p in zip(levels, probs, strict=True)) < 1e-5
