"""The transformers engine on a tiny random-weight model with the real tokenizer."""

import numpy as np
import pytest

from relevance.engines.base import Engine, GenerationRequest, ScoringGroup
from relevance.engines.transformers_engine import TransformersEngine
from relevance.labels import DEFAULT_SCHEME
from relevance.prompt import PromptRenderer
from relevance.scoring import softmax_rows
from relevance.types import Product

PRODUCTS = [
    Product(id=str(i), title=t, brand=b)
    for i, (t, b) in enumerate(
        [
            ("Apple iPhone 13 Silicone Case with MagSafe", "Apple"),
            ("Heavy duty garden hose 50 ft, kink free, brass fittings, green", None),
            ("Clear case for iPhone 12 / 12 Pro", "Spigen"),
            ("Case", None),
            ("Samsung Galaxy S21 Ultra leather wallet case with card slots and stand, black", "Samsung"),
        ]
    )
]


@pytest.fixture(scope="module")
def engine(tiny_model_dir, cache_dir):
    return TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32", threads=2)


def _group(engine, query="iphone 13 case", products=PRODUCTS):
    r = PromptRenderer(engine.tokenizer, engine.scheme)
    return ScoringGroup(r.encode_prefix(query), [r.encode_suffix(p) for p in products])


def _reference_scores(engine, group):
    """Full-vocabulary forward pass, one pair at a time: what the fast path must reproduce."""
    import torch

    rows = []
    with torch.inference_mode():
        for suffix in group.suffix_ids:
            ids = torch.tensor([group.prefix_ids + suffix])
            logits = engine.model(input_ids=ids).logits[0, -1]
            rows.append(logits[engine.label_ids].float().numpy())
    return np.stack(rows)


def test_implements_the_engine_protocol(engine):
    assert isinstance(engine, Engine)
    assert engine.name == "transformers" and engine.scheme.name == DEFAULT_SCHEME.name


@pytest.mark.parametrize("sharing", [True, False])
def test_label_scores_equal_the_full_vocab_forward(engine, sharing):
    engine.prefix_sharing = sharing
    group = _group(engine)
    [scores] = engine.label_scores([group])
    assert scores.shape == (len(PRODUCTS), 4)
    np.testing.assert_allclose(scores, _reference_scores(engine, group), atol=1e-4)


def test_prefix_sharing_gives_the_same_probabilities(engine):
    group = _group(engine)
    engine.prefix_sharing = True
    shared = softmax_rows(engine.label_scores([group])[0])
    engine.prefix_sharing = False
    plain = softmax_rows(engine.label_scores([group])[0])
    np.testing.assert_allclose(shared, plain, atol=1e-5)  # tolerance: fp32 reduction-order noise


def test_scores_do_not_depend_on_batch_companions_or_chunking(engine):
    engine.prefix_sharing = True
    group = _group(engine)
    [together] = engine.label_scores([group])
    engine.max_batch_tokens = 300  # forces one-row chunks
    try:
        [chunked] = engine.label_scores([group])
        alone = [engine.label_scores([_group(engine, products=[p])])[0][0] for p in PRODUCTS]
    finally:
        engine.max_batch_tokens = 16384
    np.testing.assert_allclose(together, chunked, atol=1e-4)
    np.testing.assert_allclose(together, np.stack(alone), atol=1e-4)


def test_many_groups_keep_their_order(engine):
    groups = [_group(engine, q, PRODUCTS[: n]) for q, n in (("mug", 1), ("hose", 3), ("iphone case", 2))]
    results = engine.label_scores(groups)
    assert [r.shape[0] for r in results] == [1, 3, 2]
    np.testing.assert_allclose(results[1], engine.label_scores([groups[1]])[0], atol=1e-4)


def test_generate_continues_the_prompt(engine):
    r = PromptRenderer(engine.tokenizer, engine.scheme)
    ids = r.encode("mug", PRODUCTS[0]) + engine.tokenizer.encode("4", add_special_tokens=False)
    [a, b] = engine.generate([GenerationRequest(ids, max_new_tokens=8), GenerationRequest(ids, max_new_tokens=8)])
    assert isinstance(a, str) and a == b  # greedy is deterministic


def test_adapter_checkpoint_is_merged_and_differs_from_base(engine, tiny_adapter_dir, cache_dir):
    adapted = TransformersEngine(tiny_adapter_dir, cache_dir=cache_dir, dtype="float32")
    assert adapted.manifest.kind == "adapter"
    group = _group(engine)
    assert not np.allclose(adapted.label_scores([group])[0], engine.label_scores([group])[0], atol=1e-4)


def test_cached_head_is_the_common_start_and_changes_no_score(tiny_model_dir, cache_dir):
    """Across queries the engine reuses the KV of the tokens every prompt starts with; scores stay exact."""
    from relevance.engines.transformers_engine import MIN_HEAD_TOKENS, common_prefix_len

    engine = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32", threads=2)
    queries = ["iphone 13 case", "garden hose 50 ft", "shampoo without sulfates"]
    groups = [_group(engine, q) for q in queries]
    singles = [ScoringGroup(g.prefix_ids, g.suffix_ids[:1]) for g in groups]  # one product each: no query sharing
    first = engine.label_scores(groups[:1])  # seeds the head with this whole prefix
    assert engine._head_ids == groups[0].prefix_ids
    cached = engine.label_scores(singles) + engine.label_scores(groups)
    common = min(common_prefix_len(groups[0].prefix_ids, g.prefix_ids) for g in groups)
    assert engine._head_ids == groups[0].prefix_ids[:common] and common >= MIN_HEAD_TOKENS  # narrowed to the shared start
    for got, group in zip(cached, singles + groups, strict=True):
        np.testing.assert_allclose(got, _reference_scores(engine, group), atol=1e-4)
    np.testing.assert_allclose(first[0], cached[len(singles)], atol=1e-4)


def test_in_memory_engine_scores_like_the_folder_engine_and_follows_weight_changes(engine):
    """`from_model` wraps a model object (a policy in training): same scores, and it sees new weights."""
    import torch

    live = TransformersEngine.from_model(engine.model, engine.tokenizer, engine.manifest)
    assert isinstance(live, Engine) and live.label_ids == engine.label_ids
    group = _group(engine)
    [a], [b] = engine.label_scores([group]), live.label_scores([group])
    np.testing.assert_allclose(a, b, atol=1e-5)
    head = live.model.get_output_embeddings().weight
    saved = head.detach().clone()
    try:
        with torch.no_grad():
            head[live.label_ids[0]] += 1.0  # a "training step" on the first label's row
        [c] = live.label_scores([group])
        assert not np.allclose(b, c, atol=1e-4)
    finally:
        with torch.no_grad():
            head.copy_(saved)


@pytest.mark.parametrize("dtype, atol", [("float32", 1e-5), ("bfloat16", 0.05)])
def test_shared_prefix_attention_gives_the_plain_forwards_probabilities(tiny_model_dir, cache_dir, dtype, atol):
    """The attention that reads one prefix K/V for every row equals the stock path (prefix K/V copied per
    row) and the plain unshared forward: exactly up to fp32 reduction order, within bf16's rounding in bf16."""
    engine = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype=dtype, threads=2)
    assert engine.shared_prefix_attention
    group = _group(engine)
    fast = softmax_rows(engine.label_scores([group])[0])
    engine.shared_prefix_attention = False
    copied = softmax_rows(engine.label_scores([group])[0])
    engine.prefix_sharing = False
    plain = softmax_rows(engine.label_scores([group])[0])
    np.testing.assert_allclose(fast, copied, atol=atol)
    np.testing.assert_allclose(fast, plain, atol=atol)


@pytest.mark.parametrize("dtype, atol", [("float32", 1e-5), ("bfloat16", 0.05)])
def test_fused_norms_give_the_unfused_probabilities(tiny_model_dir, cache_dir, dtype, atol):
    fused = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype=dtype, threads=2)
    plain = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype=dtype, threads=2, fused_norms=False)
    assert fused.fused_norms == 2 * fused.model.config.num_hidden_layers + 1 and plain.fused_norms == 0
    group = _group(fused)
    np.testing.assert_allclose(
        softmax_rows(fused.label_scores([group])[0]), softmax_rows(plain.label_scores([group])[0]), atol=atol
    )
