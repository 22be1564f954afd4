"""pass@N sampling for DPO through the vLLM engine (what `sampling.engine: vllm` runs): seeded, parsed, counted."""

from __future__ import annotations

from relevance.prompt import PromptRenderer
from tests.training.conftest import toy_records
from training.sampling import SamplingConfig, pass_at_k_curve, sample_prompts


def test_vllm_sampling_is_seeded_and_parsed_like_transformers(vllm_inprocess):
    renderer = PromptRenderer(vllm_inprocess.tokenizer, vllm_inprocess.scheme)
    cfg = SamplingConfig(n=3, temperature=1.0, max_new_tokens=6)
    first = sample_prompts(vllm_inprocess, renderer, toy_records(), cfg, seed=1)
    again = sample_prompts(vllm_inprocess, renderer, toy_records(), cfg, seed=1)
    texts = [[a.text for a in p.samples] for p in first]
    assert texts == [[a.text for a in p.samples] for p in again]  # per-request seeds: a re-run draws the same
    assert [p.gold for p in first] == [4, 2, 3, 1]
    for p in first:
        assert len(p.samples) == 3 and p.teacher.level == p.gold
        assert p.correct == sum(a.level == p.gold for a in p.samples)
    curve = pass_at_k_curve([p.correct for p in first], cfg.n)
    assert list(curve) == [1, 2, 3] and curve[1] <= curve[2] <= curve[3]
