"""Shared fixtures for the retrieval tests: one real MiniLM embedder and one built index folder per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from relevance.types import LabeledPair, Product
from retrieval.build import build_indexes
from retrieval.embedder import Embedder
from retrieval.knowledge import KnowledgeBase

LONG_TITLE = (
    "Spigen Tough Armor Designed for iPhone 8 Case / iPhone 7 Case / iPhone SE 2020 Case, "
    "dual-layer protective cover with kickstand, black"
)


def _pair(query: str, title: str, level: int) -> LabeledPair:
    return LabeledPair(query=query, product=Product(id=title[:12], title=title), level=level)


CASES = (
    _pair("iphone 8 case", LONG_TITLE, 4),
    _pair("iphone 8 case", "OtterBox Defender case for iPhone 8 Plus / 7 Plus", 2),
    _pair("sulfate free shampoo", "L'Oreal EverPure sulfate-free moisture shampoo, 8.5 fl oz", 4),
    _pair("sulfate free shampoo", "Head & Shoulders classic clean shampoo (contains SLS)", 2),
    _pair("garden hose 50 ft", "Flexzilla garden hose 5/8 in. x 50 ft, heavy duty", 4),
    _pair("garden hose 50 ft", "Melnor hose nozzle, 8 spray patterns", 2),
)


@pytest.fixture(scope="session")
def cases() -> tuple[LabeledPair, ...]:
    """A few labelled pairs, the first with a title longer than the rendered 80 characters."""
    return CASES


@pytest.fixture(scope="session")
def long_title() -> str:
    return LONG_TITLE


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.load()


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    out = tmp_path_factory.mktemp("kb") / "indexes"
    build_indexes(out, cases=CASES, embedder=embedder)
    return out


@pytest.fixture(scope="session")
def kb(index_dir: Path, embedder: Embedder) -> KnowledgeBase:
    return KnowledgeBase.load(index_dir, embedder=embedder)
