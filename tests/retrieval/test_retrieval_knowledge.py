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
