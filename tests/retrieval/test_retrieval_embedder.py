"""The real MiniLM embedder: unit vectors, sensible similarities, truncation, batch invariance."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedder import MAX_TOKENS, Embedder, default_model_dir


def test_default_model_dir_ships_a_transformers_folder() -> None:
    path = default_model_dir()
    assert (path / "config.json").is_file()
    assert (path / "tokenizer.json").is_file() or (path / "vocab.txt").is_file()


def test_identity(embedder: Embedder) -> None:
    assert embedder.model_id == "all-MiniLM-L6-v2"
    assert embedder.dim == 384


def test_encode_returns_unit_float32_rows(embedder: Embedder) -> None:
    vecs = embedder.encode(["phone case", "garden hose", "a red cotton t-shirt for men"])
    assert vecs.shape == (3, 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_encode_empty_list(embedder: Embedder) -> None:
    assert embedder.encode([]).shape == (0, 384)


def test_encode_refuses_a_bare_string(embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        embedder.encode("phone case")  # type: ignore[arg-type]


def test_similarities_are_semantically_sensible(embedder: Embedder) -> None:
    case, cover, hose, shampoo, sls = embedder.encode(
        ["phone case", "iphone cover", "garden hose", "shampoo without sulfates", "sulfate-free shampoo"]
    )
    assert case @ cover > case @ hose + 0.2
    assert shampoo @ sls > shampoo @ hose + 0.3


def test_batch_composition_does_not_change_vectors(embedder: Embedder) -> None:
    texts = ["usb c charger", "a much longer query about a waterproof bluetooth speaker for the shower", "tv"]
    together = embedder.encode(texts, batch_size=2)
    alone = np.vstack([embedder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_input_is_truncated_at_max_tokens(embedder: Embedder) -> None:
    head = " ".join(["cotton"] * (MAX_TOKENS + 20))
    a, b = embedder.encode([head + " garden hose", head + " phone case"])
    np.testing.assert_allclose(a, b, atol=1e-6)
