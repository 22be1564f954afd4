"""Every HTTP error in the one envelope with a fix, the OpenAPI lists each route's statuses, /docs is offline.

The app is created without running its lifespan (no model is loaded): cheap, and enough for
errors raised before a route runs.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def client(tiny_model_dir, index_dir, cache_dir, tmp_path_factory):
    settings = Settings(model_dir=tiny_model_dir, index_dir=index_dir, cache_dir=cache_dir,
                        registry_dir=tmp_path_factory.mktemp("registry"), admin_enabled=True,
                        admin_token="test-admin-token-3f9a1c7e5b2d4f60")
    return TestClient(create_app(settings))  # no `with`: the lifespan (model load) does not run


def _envelope(r, status: int) -> dict:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["kind"] and error["message"] and error["fix"], error
    return error


def test_framework_errors_use_the_envelope_with_a_fix(client):
    error = _envelope(client.post("/relevance", content=b'{"query": "\xff\xfe"}', headers={"content-type": "application/json"}), 400)
    assert error["kind"] == "bad_request" and "UTF-8" in error["fix"]
    error = _envelope(client.post("/relevance", content=b'{"query": "mug"}', headers={"content-type": "text/plain"}), 422)
    assert "Content-Type: application/json" in error["fix"] and "text/plain" in error["fix"]
    error = _envelope(client.post("/relevance"), 422)
    assert "Content-Type" in error["fix"]
    _envelope(client.post("/relevance", content=b"{not json", headers={"content-type": "application/json"}), 422)
    assert _envelope(client.get("/no-such-route"), 404)["kind"] == "not_found"
    assert _envelope(client.get("/relevance"), 405)["kind"] == "method_not_allowed"
    assert client.get("/relevance").headers["allow"] == "POST"
    assert client.request("TRACE", "/jobs").headers["allow"] == "GET, POST"  # two routes share the path (RFC 9110)
    for body, status in ((b'{"query": "\xff\xfe"}', 400), (b"{not json", 422)):  # bytes that are not UTF-8; not JSON
        r = client.post("/v1/rerank", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status and "message" in r.json() and "error" not in r.json()  # the Cohere shape
    r = client.post("/relevance", json={"query": "mug", "products": [{"id": "1", "title": "Ceramic mug"}]})
    assert _envelope(r, 503)["kind"] == "not_ready"
    for e in client.post("/relevance", json={"query": "", "products": []}).json()["error"]["fields"]:
        assert e["fix"], e


def test_openapi_lists_every_status_a_route_can_return(client):
    paths = client.get("/openapi.json").json()["paths"]

    def statuses(path, method):
        return set(paths[path][method]["responses"])

    assert {"200", "400", "422", "429", "503"} <= statuses("/relevance", "post")
    assert {"200", "400", "422", "429", "503"} <= statuses("/relevance/batch", "post")
    assert {"200", "503"} <= statuses("/readyz", "get")
    assert {"200", "401", "403", "404", "409", "422"} <= statuses("/admin/reload", "post")
    assert {"200", "401", "403", "404", "409"} <= statuses("/admin/rollback", "post")
    assert set(paths["/jobs"]["post"]["requestBody"]["content"]) == {"application/x-ndjson", "text/csv", "application/vnd.apache.parquet"}
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert {"400", "422"} <= statuses("/v1/rerank", "post") and {"400", "422"} <= statuses("/rerank", "post")
    schema = paths["/relevance"]["post"]["responses"]["429"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/ErrorEnvelope")


def test_docs_are_served_from_local_assets(client):
    r = client.get("/docs")
    assert r.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|(?:url|openapi_url)\s*:\s*["']([^"']+)["']""", r.text)
    urls = [u for pair in urls for u in pair if u]
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "http://" not in r.text and "https://" not in r.text.replace("https://swagger.io", "")
    for u in urls:
        assert client.get(u).status_code == 200, u
