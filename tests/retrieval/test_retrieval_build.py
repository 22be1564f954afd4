"""build_indexes: builds every corpus, is idempotent, rebuilds exactly when its inputs change."""

from __future__ import annotations

from pathlib import Path

from relevance.types import LabeledPair
from retrieval.build import build_indexes, case_rows
from retrieval.embedder import Embedder
from retrieval.index import VectorIndex, read_meta


def _stamp(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/index.faiss")}


def test_build_is_idempotent(tmp_path: Path, embedder: Embedder, cases: tuple[LabeledPair, ...]) -> None:
    out = tmp_path / "idx"
    first = build_indexes(out, cases=cases, embedder=embedder)
    assert first["cached"] is False
    assert {first[c]["cached"] for c in ("rules", "knowledge", "cases")} == {False}
    assert first["cases"]["count"] == len(cases)
    assert first["rules"]["count"] >= 50 and first["knowledge"]["count"] >= 40
    stamps = _stamp(out)

    second = build_indexes(out, cases=cases, embedder=embedder)
    assert second["cached"] is True
    assert all(second[c]["cached"] for c in ("rules", "knowledge", "cases"))
    assert _stamp(out) == stamps  # nothing rewritten

    # A changed case set rebuilds only the cases index.
    third = build_indexes(out, cases=cases[:3], embedder=embedder)
    assert (third["rules"]["cached"], third["knowledge"]["cached"], third["cases"]["cached"]) == (
        True,
        True,
        False,
    )
    assert read_meta(out / "cases").count == 3

    # No cases: the stale cases index is removed, the rest stays cached.
    fourth = build_indexes(out, embedder=embedder)
    assert fourth["cases"]["removed"] is True and not (out / "cases").exists()
    assert fourth["rules"]["cached"] and fourth["knowledge"]["cached"]


def test_build_rebuilds_for_another_kind_or_tampered_rows(tmp_path: Path, embedder: Embedder) -> None:
    out = tmp_path / "idx"
    build_indexes(out, embedder=embedder)
    hnsw = build_indexes(out, kind="hnsw", embedder=embedder)
    assert not hnsw["rules"]["cached"] and read_meta(out / "rules").kind == "hnsw"
    rows_file = out / "knowledge" / "rows.jsonl"
    rows_file.write_text(rows_file.read_text().replace("iPhone", "uPhone"))
    again = build_indexes(out, kind="hnsw", embedder=embedder)
    assert again["rules"]["cached"] and not again["knowledge"]["cached"]
    assert (
        len(VectorIndex.load(out / "knowledge", embedder.model_id, embedder.dim))
        == again["knowledge"]["count"]
    )


def test_case_rows_are_distinct_query_title_level(cases: tuple[LabeledPair, ...]) -> None:
    rows = case_rows([*cases, cases[0]])
    assert len(rows) == len(cases)
    assert rows[0] == {"query": cases[0].query, "title": cases[0].product.title, "level": 4}
