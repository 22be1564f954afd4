"""A checkpoint retrieves the judged cases it ships (its training split) and the rules of its label
scheme, on the real embedder and FAISS."""

from __future__ import annotations

from pathlib import Path

from relevance.datasets.jsonl import save_jsonl
from relevance.labels import DEFAULT_SCHEME
from relevance.retrieval_config import DEFAULT_RETRIEVAL, RetrievalConfig
from relevance.types import LabeledPair, Product
from retrieval.build import case_rows
from retrieval.corpora import load_rules
from retrieval.embedder import Embedder
from retrieval.knowledge import ConfiguredRetriever, KnowledgeBase
from retrieval.layout import CASES, KNOWLEDGE, RULES
from retrieval.model_cases import checkpoint_retriever

OWN_CASES = [
    LabeledPair("waterproof bluetooth speaker", Product("s1", "JBL Flip 5 waterproof portable Bluetooth speaker"), 4),
    LabeledPair("waterproof bluetooth speaker", Product("s2", "Wired USB desktop computer speakers"), 1),
    LabeledPair("iphone 8 case", Product("s3", "Leather wallet case for iPhone 8, brown"), 4),
]


def _checkpoint(tmp_path: Path, pairs: list[LabeledPair] | None) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir(parents=True)
    if pairs is not None:
        save_jsonl(pairs, folder / "cases.jsonl")
    return folder


def test_a_checkpoint_with_other_cases_retrieves_its_own(index_dir: Path, embedder: Embedder, tmp_path: Path) -> None:
    serving = ConfiguredRetriever(KnowledgeBase.load(index_dir, embedder=embedder), DEFAULT_RETRIEVAL)
    own = checkpoint_retriever(serving, _checkpoint(tmp_path, OWN_CASES))
    assert isinstance(own, ConfiguredRetriever) and own is not serving and own.config == serving.config
    # rules and knowledge are the service's own indexes, shared; the cases are the checkpoint's
    assert own.kb.indexes[RULES] is serving.kb.indexes[RULES] and own.kb.indexes[KNOWLEDGE] is serving.kb.indexes[KNOWLEDGE]
    assert own.kb.indexes[CASES].rows == case_rows(OWN_CASES) and own.kb.embedder is embedder
    [ctx] = own.retrieve_many(["waterproof bluetooth speaker"])
    assert len(ctx.cases) == 2 and {c.rsplit(" -> ", 1)[1] for c in ctx.cases} == {"4", "1"}
    assert any("JBL Flip 5" in c for c in ctx.cases) and all("speaker" in c for c in ctx.cases)
    [theirs] = serving.retrieve_many(["iphone 8 case"])
    [mine] = own.retrieve_many(["iphone 8 case"])
    assert mine.rules == theirs.rules and mine.knowledge == theirs.knowledge
    assert mine.cases != theirs.cases and all("Leather wallet" in c or "speaker" in c.lower() for c in mine.cases)


def test_the_serving_retriever_is_kept_when_nothing_differs(
    index_dir: Path, embedder: Embedder, cases: tuple[LabeledPair, ...], tmp_path: Path
) -> None:
    serving = ConfiguredRetriever(KnowledgeBase.load(index_dir, embedder=embedder), DEFAULT_RETRIEVAL)
    # the pairs the serving index was built from
    assert checkpoint_retriever(serving, _checkpoint(tmp_path / "same", list(cases))) is serving
    assert checkpoint_retriever(serving, _checkpoint(tmp_path / "none", None)) is serving
    no_cases = ConfiguredRetriever(serving.kb, RetrievalConfig(k_cases=0))
    assert checkpoint_retriever(no_cases, _checkpoint(tmp_path / "k0", OWN_CASES)) is no_cases
    assert checkpoint_retriever(None, _checkpoint(tmp_path / "off", OWN_CASES)) is None


def test_a_checkpoint_of_another_label_scheme_retrieves_its_schemes_rules(
    index_dir: Path, embedder: Embedder, cases: tuple[LabeledPair, ...], tmp_path: Path
) -> None:
    """The serving index holds the default scheme's rules; a model trained under TaoSR1's line must
    not be prompted with ESCI's (a brand conflict is 2 there, 3 here)."""
    serving = ConfiguredRetriever(KnowledgeBase.load(index_dir, embedder=embedder), DEFAULT_RETRIEVAL)
    assert serving.kb.indexes[RULES].rows == load_rules(DEFAULT_SCHEME.name)
    folder = _checkpoint(tmp_path / "old-line", list(cases))  # the serving cases: only the rules differ
    assert checkpoint_retriever(serving, folder, DEFAULT_SCHEME.name) is serving
    own = checkpoint_retriever(serving, folder, "taosr1-4level")
    assert isinstance(own, ConfiguredRetriever) and own is not serving
    assert own.kb.indexes[RULES].rows == load_rules("taosr1-4level")
    assert own.kb.indexes[KNOWLEDGE] is serving.kb.indexes[KNOWLEDGE] and own.kb.indexes[CASES] is serving.kb.indexes[CASES]
    query = ["mens running shoes"]  # nearest: the other-gender rule, 2 on TaoSR1's line, 3 on ESCI's
    [theirs], [mine] = serving.retrieve_many(query), own.retrieve_many(query)
    assert any("is 2 Mismatch" in r for r in mine.rules) and mine.rules != theirs.rules
    assert set(mine.rules) <= {r["text"] for r in load_rules("taosr1-4level")}
    assert mine.cases == theirs.cases and mine.knowledge == theirs.knowledge
    # both at once: its scheme's rules and its own cases
    both = checkpoint_retriever(serving, _checkpoint(tmp_path / "both", OWN_CASES), "taosr1-4level")
    assert both.kb.indexes[RULES].rows == load_rules("taosr1-4level") and both.kb.indexes[CASES].rows == case_rows(OWN_CASES)
    # no rules retrieved: nothing to swap
    no_rules = ConfiguredRetriever(serving.kb, RetrievalConfig(k_rules=0))
    assert checkpoint_retriever(no_rules, folder, "taosr1-4level") is no_rules
