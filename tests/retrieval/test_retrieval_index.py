"""VectorIndex on real FAISS: every kind builds, searches, saves and loads; mismatches are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.embedder import Embedder
from retrieval.index import KINDS, IndexMismatchError, VectorIndex, corpus_hash

TITLES = [
    "phone case",
    "garden hose",
    "sulfate-free shampoo",
    "stainless steel water bottle",
    "wireless earbuds",
    "king size bed sheets",
    "puppy dog food",
    "cordless drill",
    "yoga mat",
    "espresso machine",
    "hdmi cable",
    "aa batteries",
]


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def title_vectors(embedder: Embedder) -> np.ndarray:
    return embedder.encode(TITLES)


def _rows() -> list[dict]:
    return [{"id": i, "title": t} for i, t in enumerate(TITLES)]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_finds_the_semantic_neighbour(kind: str, embedder: Embedder, title_vectors) -> None:
    index = VectorIndex.build(title_vectors, _rows(), kind=kind, embedder_id=embedder.model_id)
    queries = embedder.encode(["iphone cover", "hose for watering the garden", "bluetooth headphones"])
    hits = index.search(queries, k=3)
    assert [h[0][1]["title"] for h in hits] == ["phone case", "garden hose", "wireless earbuds"]
    for per_query in hits:
        scores = [s for s, _ in per_query]
        assert scores == sorted(scores, reverse=True) and len(per_query) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_round_trips_through_disk(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 2000, 64)
    rows = [{"i": i} for i in range(len(vecs))]
    index = VectorIndex.build(vecs, rows, kind=kind, embedder_id="test-model")
    if kind == "ivf":
        assert index.meta.params["nlist"] > 1
    noisy = vecs[:50] + 0.05 * _unit(rng, 50, 64)
    queries = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    before = index.search(queries, k=5)
    assert [h[0][1]["i"] for h in before] == list(range(50))

    saved = index.save(tmp_path / "idx")
    assert sorted(p.name for p in saved.iterdir()) == ["index.faiss", "meta.json", "rows.jsonl"]
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temp folders left behind
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["embedder_id"] == "test-model" and meta["dim"] == 64 and meta["normalized"] is True
    assert meta["kind"] == kind and meta["count"] == 2000 and meta["corpus_hash"] == corpus_hash(rows)
    assert meta["created"]

    loaded = VectorIndex.load(saved, expected_embedder_id="test-model", expected_dim=64)
    assert loaded.meta == index.meta
    after = loaded.search(queries, k=5)
    assert [[r["i"] for _, r in h] for h in after] == [[r["i"] for _, r in h] for h in before]


def test_ivf_nprobe_is_settable_and_persisted(tmp_path: Path) -> None:
    vecs = _unit(np.random.default_rng(1), 2000, 32)
    index = VectorIndex.build(vecs, [{"i": i} for i in range(2000)], kind="ivf", embedder_id="m", nprobe=2)
    assert index.nprobe == 2
    index.nprobe = 10_000
    assert index.nprobe == index.meta.params["nlist"]  # clamped: all lists, i.e. exact search
    assert index.search(vecs[:20], k=1) and all(
        h[0][1]["i"] == i for i, h in enumerate(index.search(vecs[:20], 1))
    )
    loaded = VectorIndex.load(index.save(tmp_path / "ivf"), "m", 32)
    assert loaded.nprobe == index.nprobe


def test_search_clamps_k_and_accepts_one_vector(title_vectors) -> None:
    index = VectorIndex.build(title_vectors, _rows(), embedder_id="m")
    assert len(index.search(title_vectors[0], k=100)[0]) == len(TITLES)
    assert index.search(title_vectors[:2], k=0) == [[], []]


def test_save_replaces_an_existing_index(tmp_path: Path, title_vectors) -> None:
    VectorIndex.build(title_vectors, _rows(), embedder_id="m").save(tmp_path / "x")
    VectorIndex.build(title_vectors[:3], _rows()[:3], embedder_id="m").save(tmp_path / "x")
    assert len(VectorIndex.load(tmp_path / "x", "m", 384)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_build_validates_its_inputs(title_vectors) -> None:
    with pytest.raises(ValueError, match="kind"):
        VectorIndex.build(title_vectors, _rows(), kind="annoy", embedder_id="m")
    with pytest.raises(ValueError, match="rows"):
        VectorIndex.build(title_vectors, _rows()[:-1], embedder_id="m")
    with pytest.raises(ValueError, match="normali"):
        VectorIndex.build(title_vectors * 3, _rows(), embedder_id="m")
    assert (
        VectorIndex.build(title_vectors * 3, _rows(), embedder_id="m", normalized=False).meta.normalized
        is False
    )
    with pytest.raises(ValueError, match="embedder_id"):
        VectorIndex.build(title_vectors, _rows())


@pytest.fixture()
def saved_dir(tmp_path: Path, title_vectors) -> Path:
    return VectorIndex.build(title_vectors, _rows(), embedder_id="all-MiniLM-L6-v2").save(tmp_path / "saved")


def test_load_refuses_another_embedder(saved_dir: Path) -> None:
    with pytest.raises(IndexMismatchError, match="embedder_id") as err:
        VectorIndex.load(saved_dir, expected_embedder_id="bge-small-en", expected_dim=384)
    assert err.value.field == "embedder_id"
    assert err.value.found == "all-MiniLM-L6-v2" and err.value.expected == "bge-small-en"


def test_load_refuses_another_dim(saved_dir: Path) -> None:
    with pytest.raises(IndexMismatchError, match="dim") as err:
        VectorIndex.load(saved_dir, expected_embedder_id="all-MiniLM-L6-v2", expected_dim=768)
    assert err.value.field == "dim"


def test_load_refuses_another_normalisation(saved_dir: Path) -> None:
    with pytest.raises(IndexMismatchError, match="normalized") as err:
        VectorIndex.load(saved_dir, "all-MiniLM-L6-v2", 384, expected_normalized=False)
    assert err.value.field == "normalized"


def test_load_refuses_tampered_rows(saved_dir: Path) -> None:
    rows_file = saved_dir / "rows.jsonl"
    rows_file.write_text(rows_file.read_text().replace("garden hose", "garden gnome"))
    with pytest.raises(IndexMismatchError, match="corpus_hash") as err:
        VectorIndex.load(saved_dir, "all-MiniLM-L6-v2", 384)
    assert err.value.field.startswith("corpus_hash")


def test_load_refuses_missing_files(saved_dir: Path) -> None:
    (saved_dir / "index.faiss").unlink()
    with pytest.raises(FileNotFoundError, match="index.faiss"):
        VectorIndex.load(saved_dir, "all-MiniLM-L6-v2", 384)
