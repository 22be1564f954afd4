"""Shared fixtures: the real SmolLM2 tokenizer, tiny random-weight checkpoints, retrieval indexes.

Tiny models are built here (random weights, the real tokenizer) — never downloaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# apps started by tests never resume the batch jobs of a real var/jobs (tests that run jobs pass their own folder)
os.environ.setdefault("TAOSR1_JOBS_DIR", tempfile.mkdtemp(prefix="taosr1-test-jobs-"))

from tests.helpers.tiny import build_tiny_adapter, build_tiny_checkpoint  # noqa: E402


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory) -> Path:
    """The real SmolLM2 tokenizer, extracted once from the embedded GGUF and saved as plain files."""
    from relevance.base_model import load_gguf_tokenizer

    out = tmp_path_factory.mktemp("smollm2-tokenizer")
    load_gguf_tokenizer().save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def smollm2_tokenizer(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm2_tokenizer_dir))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, smollm2_tokenizer_dir) -> Path:
    """A 2-layer random-weight Llama with the real tokenizer, as a full checkpoint with manifest."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"), smollm2_tokenizer_dir, seed=0)


@pytest.fixture(scope="session")
def tiny_adapter_dir(tmp_path_factory, tiny_model_dir) -> Path:
    """A random LoRA adapter over the tiny model, as an adapter checkpoint with manifest."""
    return build_tiny_adapter(tmp_path_factory.mktemp("tiny-adapter"), tiny_model_dir, seed=1)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory) -> Path:
    """Real FAISS indexes (rules, query knowledge, a few synthetic cases) built with the real embedder."""
    from relevance.types import LabeledPair, Product
    from retrieval.build import build_indexes

    cases = [
        LabeledPair("iphone 13 case", Product("c1", "Silicone case for iPhone 13, blue"), 4),
        LabeledPair("iphone 13 case", Product("c2", "Case for iPhone 12 Pro Max"), 2),
        LabeledPair("garden hose", Product("c3", "Expandable garden hose 100ft"), 4),
        LabeledPair("garden hose", Product("c4", "Hose reel cart"), 2),
        LabeledPair("shampoo without sulfates", Product("c5", "Sulfate-free shampoo 16 oz"), 4),
        LabeledPair("shampoo without sulfates", Product("c6", "Clarifying shampoo with SLS"), 2),
    ]
    out = tmp_path_factory.mktemp("indexes")
    build_indexes(out, cases)
    return out
