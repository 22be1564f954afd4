"""A checkpoint retrieves the judged cases it ships (its training split), on the real embedder and FAISS."""

from __future__ import annotations

from pathlib import Path

from relevance.datasets.jsonl import save_jsonl
from relevance.retrieval_config import DEFAULT_RETRIEVAL, RetrievalConfig
from relevance.types import LabeledPair, Product
from retrieval.build import case_rows
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
