"""The HTTP API through the real app under uvicorn on loopback, with a tiny model and real FAISS."""

import asyncio

import httpx
import pytest

from relevance.labels import DEFAULT_SCHEME
from service.live import free_port, live_server
from service.settings import Settings

PRODUCTS = [
    {"id": "a", "title": "Apple iPhone 13 Silicone Case with MagSafe - Blue", "brand": "Apple", "category": "Phone Cases"},
    {"id": "b", "title": "Heavy duty garden hose 50 ft", "attributes": {"length": "50 ft"}},
    {"id": "c", "title": "Clear case for iPhone 12", "description": "Slim, shock absorbing."},
]


def settings_for(tiny_model_dir, index_dir, cache_dir, **over) -> Settings:
    base = dict(
        model_dir=tiny_model_dir, index_dir=index_dir, cache_dir=cache_dir, dtype="float32", port=free_port(),
        threads=2, max_products=8, max_batch_pairs=50, max_title_chars=200, max_query_chars=64, max_explain_products=2,
        explain_max_new_tokens=8,
    )
    base.update(over)
    return Settings(**base)


@pytest.fixture(scope="module")
def server(tiny_model_dir, index_dir, cache_dir):
    with live_server(settings_for(tiny_model_dir, index_dir, cache_dir)) as srv:
        yield srv


@pytest.fixture()
def client(server):
    with server.client() as c:
        yield c


def test_relevance_scores_every_product(client):
    r = client.post("/relevance", json={"query": "iphone 13 case", "products": PRODUCTS})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["id"] for x in body["results"]] == ["a", "b", "c"]
    for x in body["results"]:
        assert set(x["probs"]) == {"4", "3", "2", "1"}
        assert abs(sum(x["probs"].values()) - 1) < 1e-4
        assert x["level"] == int(max(x["probs"], key=x["probs"].get))
        assert x["label"] in {"Excellent", "Related", "Mismatch", "Irrelevant"}
        assert x["tier"] in {"Good", "Mid", "Bad"} and 0 <= x["score"] <= 1
        assert "reasoning" not in x
    assert body["model"]["name"] == "tiny" and body["model"]["version"] == "1"
    assert body["model"]["engine"] == "transformers"
    assert {"retrieval", "queue", "inference", "total"} <= set(body["timings_ms"])
    assert body["beta"] == 0.5


def test_beta_moves_tiers_not_labels(client):
    lenient = client.post("/relevance", json={"query": "iphone 13 case", "products": PRODUCTS, "beta": 0.0}).json()
    strict = client.post("/relevance", json={"query": "iphone 13 case", "products": PRODUCTS, "beta": 1.0}).json()
    assert all(x["cumpt_level"] == 4 for x in lenient["results"])
    assert all(x["cumpt_level"] <= 2 for x in strict["results"])
    assert [x["level"] for x in lenient["results"]] == [x["level"] for x in strict["results"]]


def test_explain_returns_reasoning(client):
    r = client.post("/relevance", json={"query": "mug", "products": PRODUCTS[:1], "explain": True})
    assert r.status_code == 200, r.text
    x = r.json()["results"][0]
    assert "reasoning" in x or "reasoning_error" in x
    assert "explain" in r.json()["timings_ms"]


def test_batch_equals_relevance_in_input_order(client):
    pairs = [{"query": q, "product": p} for q in ("iphone 13 case", "garden hose") for p in PRODUCTS]
    pairs = pairs[::-1]  # queries interleaved differently from grouping order
    r = client.post("/relevance/batch", json={"pairs": pairs})
    assert r.status_code == 200, r.text
    batch = r.json()
    assert batch["n"] == 6
    assert [(x["query"], x["id"]) for x in batch["results"]] == [(p["query"], p["product"]["id"]) for p in pairs]
    for q in ("iphone 13 case", "garden hose"):
        single = {x["id"]: x for x in client.post("/relevance", json={"query": q, "products": PRODUCTS}).json()["results"]}
        for x in batch["results"]:
            if x["query"] == q:
                assert x["level"] == single[x["id"]]["level"] and x["tier"] == single[x["id"]]["tier"]
                for k, v in x["probs"].items():
                    assert abs(v - single[x["id"]]["probs"][k]) < 1e-4


def test_health_ready_models_metrics(client):
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model"]["version"] == "1"
    models = client.get("/models").json()
    assert models["serving"]["manifest"]["label_scheme"] == DEFAULT_SCHEME.name
    client.post("/relevance", json={"query": "iphone 13 case", "products": PRODUCTS})
    text = client.get("/metrics").text
    for name in (
        'taosr1_request_duration_seconds_bucket{endpoint="/relevance"',
        'taosr1_stage_duration_seconds_bucket{endpoint="/relevance",le="0.001",stage="retrieval"}',
        'taosr1_stage_duration_seconds_count{endpoint="/relevance",stage="inference"}',
        "taosr1_pairs_scored_by_label_total{",
        "taosr1_batch_pairs_bucket",
        'taosr1_model_info{engine="transformers",name="tiny",stage="base",version="1"} 1.0',
        'taosr1_requests_total{endpoint="/relevance",outcome="ok"}',
    ):
        assert name in text, name


def _problem_fields(r: httpx.Response) -> list[str]:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["kind"] == "validation" and err["message"] and err["fix"]
    assert all(f["problem"] and f["fix"] for f in err["fields"]), err
    return [f["field"] for f in err["fields"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": "", "products": PRODUCTS}, "query"),
        ({"query": "   ", "products": PRODUCTS}, "query"),
        ({"query": "x" * 65, "products": PRODUCTS}, "query"),
        ({"query": "mug", "products": []}, "products"),
        ({"query": "mug", "products": [{"id": str(i), "title": "t"} for i in range(9)]}, "products"),
        ({"query": "mug", "products": [{"id": "1", "title": "t" * 201}]}, "products[0].title"),
        ({"query": "mug", "products": [{"id": "1", "title": ""}]}, "products[0].title"),
        ({"query": "mug", "products": [{"id": "1", "title": "t", "attributes": {"c": "x" * 3000}}]}, "products[0].attributes.c"),
        ({"query": "mug", "products": [{"id": "1"}]}, "products[0].title"),
        ({"query": "mug", "products": [{"id": "1", "title": 5}]}, "products[0].title"),
        ({"query": 3, "products": PRODUCTS}, "query"),
        ({"query": "mug", "products": "a,b"}, "products"),
        ({"query": "mug", "products": PRODUCTS, "beta": 2}, "beta"),
        ({"query": "mug", "products": PRODUCTS, "colour": "red"}, "colour"),
        ({"query": "mug", "products": PRODUCTS, "explain": True}, "explain"),
        ({"products": PRODUCTS}, "query"),
    ],
)
def test_bad_input_is_422_naming_the_field(client, body, field):
    assert field in _problem_fields(client.post("/relevance", json=body))


def test_malformed_json_and_oversize_batch_are_422(client):
    r = client.post("/relevance", content=b'{"query": "mug", "products": [', headers={"content-type": "application/json"})
    assert _problem_fields(r) == ["body"]
    pair = {"query": "mug", "product": {"id": "1", "title": "t"}}
    assert "pairs" in _problem_fields(client.post("/relevance/batch", json={"pairs": [pair] * 51}))
    assert "pairs" in _problem_fields(client.post("/relevance/batch", json={"pairs": []}))
    bad = {"query": "", "product": {"id": "1", "title": "t"}}
    assert "pairs[1].query" in _problem_fields(client.post("/relevance/batch", json={"pairs": [pair, bad]}))


def test_missing_model_is_503_with_retry_after(tmp_path, index_dir, cache_dir, tiny_model_dir):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    settings = settings_for(broken, index_dir, cache_dir)
    with live_server(settings, ready=False) as srv, srv.client() as c:
        for _ in range(200):
            if c.get("/models").json()["last_error"]:
                break
            asyncio.run(asyncio.sleep(0.05))
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.headers["retry-after"]
        assert "load failed" in ready.json()["error"]["message"]
        r = c.post("/relevance", json={"query": "mug", "products": PRODUCTS})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["error"]["kind"] == "not_ready"


def test_overload_is_429_with_retry_after_and_accepted_requests_complete(tiny_model_dir, index_dir, cache_dir):
    settings = settings_for(tiny_model_dir, index_dir, cache_dir, queue_max_pairs=8, batch_max_wait_ms=50)

    async def burst(url):
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            body = {"query": "iphone 13 case", "products": [{"id": str(i), "title": f"case model {i}"} for i in range(8)]}
            return await asyncio.gather(*[c.post("/relevance", json=body) for _ in range(12)])

    with live_server(settings) as srv:
        responses = asyncio.run(burst(srv.url))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429} and 429 in codes and 200 in codes
    for r in responses:
        if r.status_code == 429:
            assert r.headers["retry-after"] == "1" and r.json()["error"]["kind"] == "overloaded"
        else:
            assert len(r.json()["results"]) == 8
