"""The rerank-compatible endpoints through the real app on loopback, called by real clients.

The official cohere SDK (v1 `Client`, v2 `ClientV2`) with `base_url` at the live service, raw
HTTP in the Jina and TEI shapes, one body exactly as Elasticsearch's `hugging_face` rerank
service sends it and one as OpenSearch's Cohere connector blueprint sends it. Every answer is
checked against `/relevance` for the same products: same scores, best first.
"""

import cohere
import pytest

from service.live import live_server
from tests.service.test_api import settings_for

QUERY = "iphone 13 case"
TITLES = [
    "Heavy duty garden hose 50 ft",
    "Apple iPhone 13 Silicone Case with MagSafe - Blue",
    "Clear case for iPhone 12",
    "Stainless steel water bottle",
]


@pytest.fixture(scope="module")
def server(tiny_model_dir, index_dir, cache_dir):
    with live_server(settings_for(tiny_model_dir, index_dir, cache_dir)) as srv:
        yield srv


@pytest.fixture()
def client(server):
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def expected(server) -> dict[str, float]:
    """/relevance's score per title for QUERY (the same products, in the same order)."""
    with server.client() as c:
        r = c.post("/relevance", json={"query": QUERY, "products": [{"id": str(i), "title": t} for i, t in enumerate(TITLES)]})
    assert r.status_code == 200, r.text
    return {TITLES[int(x["id"])]: x["score"] for x in r.json()["results"]}


def assert_ranked(pairs: list[tuple[int, float]], expected: dict[str, float], titles=TITLES, n=None) -> None:
    """(index, score) pairs are /relevance's scores, sorted best first, cut to n."""
    want = sorted(range(len(titles)), key=lambda i: -expected[titles[i]])[:n]
    assert [i for i, _ in pairs] == want
    for i, score in pairs:
        assert score == expected[titles[i]] and 0 <= score <= 1


def test_cohere_sdk_v1(server, expected):
    co = cohere.Client(api_key="x", base_url=server.url, max_retries=0)
    r = co.rerank(query=QUERY, documents=TITLES, top_n=3, return_documents=True)
    assert_ranked([(x.index, x.relevance_score) for x in r.results], expected, n=3)
    assert [x.document.text for x in r.results] == [TITLES[x.index] for x in r.results]
    assert r.meta.api_version.version == "1" and r.meta.billed_units.search_units == 1
    extra = r.results[0].model_dump()
    assert {"label", "level", "probs", "tier"} <= set(extra)
    plain = co.rerank(query=QUERY, documents=[{"text": t} for t in TITLES])
    assert_ranked([(x.index, x.relevance_score) for x in plain.results], expected)
    assert all(x.document is None for x in plain.results)


def test_cohere_sdk_v2(server, expected):
    co = cohere.ClientV2(api_key="x", base_url=server.url, max_retries=0)
    r = co.rerank(model="rerank-v3.5", query=QUERY, documents=TITLES, top_n=2)
    assert_ranked([(x.index, x.relevance_score) for x in r.results], expected, n=2)
    assert r.meta.api_version.version == "2"


def test_cohere_sdk_error_is_its_shape(server):
    co = cohere.Client(api_key="x", base_url=server.url, max_retries=0)
    with pytest.raises(cohere.errors.UnprocessableEntityError) as caught:
        co.rerank(query=QUERY, documents=[])
    assert "documents" in caught.value.body["message"] and "at least one document" in caught.value.body["message"]


def test_jina_shape(client, expected):
    body = {"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": TITLES, "top_n": 4, "return_documents": True}
    r = client.post("/v1/rerank", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert_ranked([(x["index"], x["relevance_score"]) for x in out["results"]], expected)
    assert [x["document"]["text"] for x in out["results"]] == [TITLES[x["index"]] for x in out["results"]]
    assert out["usage"]["total_tokens"] > 0 and out["model"] == "tiny@1"


def test_product_objects_and_rank_fields(client):
    docs = [{"title": "Silicone case", "brand": "Apple", "category": "Phone Cases", "colour": "blue"}, {"text": "Garden hose"}]
    products = [{"id": "0", "title": "Silicone case", "attributes": {"colour": "blue"}}, {"id": "1", "title": "Garden hose"}]
    want = {x["id"]: x["score"] for x in client.post("/relevance", json={"query": QUERY, "products": products}).json()["results"]}
    r = client.post("/v2/rerank", json={"query": QUERY, "documents": docs, "rank_fields": ["title", "text", "colour"]})
    assert r.status_code == 200, r.text
    assert {str(x["index"]): x["relevance_score"] for x in r.json()["results"]} == want


def test_tei_shape(client, expected):
    r = client.post("/rerank", json={"query": QUERY, "texts": TITLES, "return_text": True, "raw_scores": False, "truncate": True})
    assert r.status_code == 200, r.text
    out = r.json()
    assert isinstance(out, list) and set(out[0]) == {"index", "score", "text"}
    assert_ranked([(x["index"], x["score"]) for x in out], expected)


def test_elasticsearch_hugging_face_body(client, expected):
    # HuggingFaceRerankRequestEntity: documents, query, then return_documents / top_n when set;
    # its parser reads a bare array and refuses unknown keys (index, score/relevance_score, text)
    r = client.post("/rerank", json={"documents": TITLES, "query": QUERY, "return_documents": False, "top_n": 3})
    assert r.status_code == 200, r.text
    assert all(set(x) == {"index", "score"} for x in r.json())
    assert_ranked([(x["index"], x["score"]) for x in r.json()], expected, n=3)


def test_opensearch_cohere_connector_body(client, expected):
    # the blueprint's request_body: { "documents": ..., "query": ..., "model": ..., "top_n": ... }
    body = {"documents": TITLES, "query": QUERY, "model": "rerank-english-v2.0", "top_n": len(TITLES)}
    r = client.post("/v1/rerank", json=body)
    assert r.status_code == 200, r.text
    assert_ranked([(x["index"], x["relevance_score"]) for x in r.json()["results"]], expected)


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/rerank", {"query": QUERY, "documents": []}, "at least one document"),
        ("/v1/rerank", {"documents": TITLES}, "query"),
        ("/v2/rerank", {"query": "  ", "documents": TITLES}, "query"),
        ("/v1/rerank", {"query": QUERY, "documents": TITLES, "top_n": 0}, "top_n"),
        ("/v1/rerank", {"query": QUERY, "documents": ["t"] * 1001}, "at most 1000 documents"),
        ("/rerank", {"query": QUERY, "texts": []}, "at least one document"),
        ("/rerank", {"texts": TITLES}, "query"),
        ("/rerank", {"query": QUERY}, "texts"),
        ("/rerank", {"query": QUERY, "texts": ["t"] * 1001}, "TAOSR1_MAX_RERANK_DOCUMENTS"),
    ],
)
def test_bad_input_is_4xx_in_the_clients_shape(client, path, body, needle):
    r = client.post(path, json=body)
    assert 400 <= r.status_code < 500, r.text
    out = r.json()
    text = out["error"] if path == "/rerank" else out["message"]
    assert needle in text, text
    if path == "/rerank":
        assert out["error_type"] == "Validation"
    else:
        assert out["kind"] == "validation" and "fix" in text


def test_a_page_of_1000_documents(client):
    docs = [f"case {i}" for i in range(1000)]
    # a page this size is more than the default deadline admits on a slow, shared machine: give it time
    r = client.post("/v1/rerank", json={"query": QUERY, "documents": docs, "top_n": 5, "deadline_ms": 120_000})
    assert r.status_code == 200, r.text
    out = r.json()
    scores = [x["relevance_score"] for x in out["results"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert out["meta"]["billed_units"]["search_units"] == 10


def test_rerank_metrics_exist_and_count(client):
    text = client.get("/metrics").text
    for path in ("/v1/rerank", "/v2/rerank", "/rerank"):
        assert f'taosr1_requests_total{{endpoint="{path}",outcome="ok"}}' in text, path
        assert f'taosr1_stage_duration_seconds_count{{endpoint="{path}",stage="inference"}}' in text, path
    assert 'taosr1_requests_total{endpoint="/v1/rerank",outcome="validation"}' in text
