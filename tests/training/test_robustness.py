"""The robustness eval: clean / injected / neutral variants of every non-Exact pair, summarised per family and field."""

from __future__ import annotations

import pytest

from relevance.core import ScoringCore
from relevance.engines.transformers_engine import TransformersEngine
from tests.training.conftest import TOY_PAIRS
from training.data.injection import _POOLS, FAMILIES, FIELDS
from training.robustness import robustness_report


def test_report_covers_every_family_and_field(tiny_model_dir, cache_dir):
    engine = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32")
    report = robustness_report(ScoringCore(engine), TOY_PAIRS, families=FAMILIES, fields=FIELDS)
    non_exact = sum(1 for p in TOY_PAIRS if p.level < 4)
    assert report["pairs"] == non_exact and report["variants"] == 2 * non_exact * len(FAMILIES) * len(FIELDS)
    assert set(report["by_family"]) == set(FAMILIES) and set(report["by_field"]) == set(FIELDS)
    s = report["overall"]
    assert s["n"] == non_exact * len(FAMILIES) * len(FIELDS)
    assert s["excess_raise_pp"] == pytest.approx(100 * (s["raise_rate_injected"] - s["raise_rate_neutral"]), abs=0.02)
    assert s["flagged_injected"] == 1.0 and s["flagged_neutral"] == 0.0


def test_train_and_eval_wordings_share_no_sentence():
    for key in _POOLS["train"]:
        assert not set(_POOLS["train"][key]) & set(_POOLS["eval"][key]), key
