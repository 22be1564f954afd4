"""HTTP `/relevance` (retrieval on) and `taosr1 eval`'s code path give the same probabilities.

Both run through the scoring core with the same retrieval config; this is the check that a
change to one caller (k's, prompt, grouping) cannot silently drift from the other.
"""

from relevance.types import Product
from service.live import live_server
from taosr1.cli import load_judge
from tests.service.test_api import PRODUCTS, settings_for

QUERIES = ["iphone 13 case", "garden hose 50ft"]


def test_http_relevance_equals_eval_probabilities_with_retrieval_on(tiny_model_dir, index_dir, cache_dir):
    settings = settings_for(tiny_model_dir, index_dir, cache_dir, k_rules=2, k_cases=1, k_knowledge=1)
    assert settings.retrieval_config.enabled
    http = {}
    with live_server(settings) as srv, srv.client() as c:
        for q in QUERIES:
            body = c.post("/relevance", json={"query": q, "products": PRODUCTS}).json()
            http.update({(q, r["id"]): r["probs"] for r in body["results"]})
    judge, _ = load_judge(settings, tiny_model_dir)
    assert judge.retriever is not None and judge.retriever.config == settings.retrieval_config
    products = [Product(id=p["id"], title=p["title"], brand=p.get("brand"), category=p.get("category"),
                        attributes=p.get("attributes", {}), description=p.get("description")) for p in PRODUCTS]
    queries = [q for q in QUERIES for _ in products]
    scored = judge.score_pairs(queries, products * len(QUERIES), beta=settings.beta)
    assert len(scored) == len(http) == 6
    for q, p, sc in zip(queries, products * len(QUERIES), scored, strict=True):
        for level, prob in sc.probs.items():
            assert abs(http[(q, p.id)][str(level)] - prob) < 1e-4, (q, p.id, level)
