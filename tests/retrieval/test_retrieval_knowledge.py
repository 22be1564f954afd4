"""KnowledgeBase over real indexes: the right rules for known queries, batching, cache, rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from relevance.types import RetrievedContext
from retrieval.build import build_indexes
from retrieval.corpora import load_rules
from retrieval.embedder import Embedder
from retrieval.knowledge import KnowledgeBase, render_case, truncate

KIND_OF = {r["text"]: r["kind"] for r in load_rules()}


def test_negation_rule_for_a_without_query(kb: KnowledgeBase) -> None:
    ctx = kb.retrieve("shampoo without sulfates")
    assert "negation" in {KIND_OF[line] for line in ctx.rules}
    assert any("Sulfate-free" in line for line in ctx.knowledge)


def test_compatibility_rule_and_knowledge_for_a_phone_case(kb: KnowledgeBase) -> None:
    ctx = kb.retrieve("case for iphone 8")
    assert "model_compatibility" in {KIND_OF[line] for line in ctx.rules}
    assert ctx.knowledge and "iPhone SE" in ctx.knowledge[0]
    assert ctx.cases and ctx.cases[0].startswith("query: iphone 8 case | product: ")


def test_ks_and_min_score_are_respected(kb: KnowledgeBase) -> None:
    ctx = kb.retrieve("case for iphone 8", k_rules=5, k_cases=1, k_knowledge=0)
    assert len(ctx.rules) == 5 and len(ctx.cases) == 1 and ctx.knowledge == ()
    assert kb.retrieve("case for iphone 8", min_score=0.99).is_empty()


def test_unrelated_query_gets_no_misleading_knowledge(kb: KnowledgeBase) -> None:
    assert kb.retrieve("red dress").knowledge == ()


def test_retrieve_many_equals_retrieve(index_dir: Path, embedder: Embedder) -> None:
    queries = [
        "shampoo without sulfates",
        "case for iphone 8",
        "gift for a 5 year old",
        "red dress",
        "case for iphone 8",
    ]
    batched = KnowledgeBase.load(index_dir, embedder=embedder, cache_size=0).retrieve_many(queries)
    single = KnowledgeBase.load(index_dir, embedder=embedder, cache_size=0)
    assert batched == [single.retrieve(q) for q in queries]
    assert all(isinstance(c, RetrievedContext) for c in batched)


def test_cache_hits_and_lru_limit(index_dir: Path, embedder: Embedder) -> None:
    kb = KnowledgeBase.load(index_dir, embedder=embedder, cache_size=2)
    first = kb.retrieve("aa batteries")
    assert kb.retrieve("aa batteries") is first
    assert kb.cache_info()["hits"] == 1
    kb.retrieve("aa batteries", k_rules=1)  # other settings: another key
    kb.retrieve("yoga mat")
    info = kb.cache_info()
    assert info["size"] == 2 and info["misses"] == 3
    assert kb.retrieve("aa batteries") is not first  # evicted, recomputed
    assert kb.retrieve("aa batteries") == first


def test_blank_query_is_empty(kb: KnowledgeBase) -> None:
    assert kb.retrieve("   ").is_empty()


def test_cases_are_optional(tmp_path: Path, embedder: Embedder) -> None:
    build_indexes(tmp_path, embedder=embedder)
    kb = KnowledgeBase.load(tmp_path, embedder=embedder)
    assert not kb.has_cases
    ctx = kb.retrieve("case for iphone 8")
    assert ctx.cases == () and ctx.rules


def test_load_names_the_missing_index(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(FileNotFoundError, match="rules"):
        KnowledgeBase.load(tmp_path, embedder=embedder)


def test_case_rendering_truncates_long_titles(long_title: str) -> None:
    line = render_case({"query": "iphone 8 case", "title": long_title, "level": 4})
    title = line.split(" | product: ")[1].rsplit(" -> ", 1)[0]
    assert line.endswith(" -> 4") and title.endswith("…") and len(title) <= 80
    assert truncate("short  title\n") == "short title"


def test_without_own_query_gives_k_cases_of_other_queries_however_many_the_query_owns(tmp_path: Path, embedder: Embedder) -> None:
    """A query with more labelled cases than any fixed slack (20 here) still gets k cases, none its own."""
    from relevance.retrieval_config import RetrievalConfig
    from relevance.types import LabeledPair, Product
    from retrieval.knowledge import ConfiguredRetriever

    own = [LabeledPair("iphone charger", Product(f"o{i}", f"USB-C charger for iPhone, model {i}"), 4) for i in range(20)]
    others = [
        LabeledPair("iphone charging cable", Product("x1", "Lightning cable 6 ft"), 4),
        LabeledPair("fast charger iphone 13", Product("x2", "20W USB-C wall charger"), 4),
        LabeledPair("garden hose", Product("x3", "Expandable garden hose 100ft"), 4),
    ]
    build_indexes(tmp_path / "idx", cases=own + others, embedder=embedder)
    kb = KnowledgeBase.load(tmp_path / "idx", embedder=embedder)
    config = RetrievalConfig(k_cases=2)
    plain = ConfiguredRetriever(kb, config).retrieve_many(["iphone charger"])[0]
    assert len(plain.cases) == 2 and all(c.startswith("query: iphone charger | ") for c in plain.cases)

    honest = ConfiguredRetriever(kb, config, without_own_query=True)
    for query in ("iphone charger", "IPhone  Charger"):
        ctx = honest.retrieve_many([query, "garden hose"])[0]
        assert len(ctx.cases) == 2, ctx.cases
        assert not any(c.lower().startswith("query: iphone charger |") for c in ctx.cases)
        assert {c.split(" | ")[0] for c in ctx.cases} == {"query: iphone charging cable", "query: fast charger iphone 13"}
        assert ctx.rules == plain.rules and ctx.knowledge == plain.knowledge
    assert honest.own_cases("iphone charger") == 20 and honest.own_cases("red dress") == 0
    # a query with no case of its own retrieves exactly what serving retrieves
    assert honest.retrieve_many(["usb c charger"]) == ConfiguredRetriever(kb, config).retrieve_many(["usb c charger"])
