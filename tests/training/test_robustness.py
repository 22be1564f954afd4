"""The robustness eval: clean / injected / neutral variants of every non-Exact pair, summarised per family and field."""

from __future__ import annotations

import pytest

from relevance.core import ScoringCore
from relevance.engines.transformers_engine import TransformersEngine
from tests.training.conftest import TOY_PAIRS
from training.data.injection import _POOLS, _STUFFING_LEADS, FAMILIES, FIELDS, STUFFING_FIELDS
from training.robustness import STUFFING, markdown, robustness_report, variants_per_pair


def test_report_covers_every_family_and_field(tiny_model_dir, cache_dir):
    engine = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32")
    report = robustness_report(ScoringCore(engine), TOY_PAIRS, families=FAMILIES, fields=FIELDS)
    non_exact = sum(1 for p in TOY_PAIRS if p.level < 4)
    per_pair = len(FAMILIES) * len(FIELDS) + len(STUFFING_FIELDS)
    assert report["pairs"] == non_exact and report["variants"] == 2 * non_exact * per_pair
    assert variants_per_pair() == 1 + 2 * per_pair
    assert set(report["by_family"]) == set(FAMILIES) and set(report["by_field"]) == set(FIELDS)
    s = report["overall"]
    assert s["n"] == non_exact * len(FAMILIES) * len(FIELDS)
    assert s["excess_raise_pp"] == pytest.approx(100 * (s["raise_rate_injected"] - s["raise_rate_neutral"]), abs=0.02)
    assert s["flagged_injected"] == 1.0 and s["flagged_neutral"] == 0.0
    stuffed = report[STUFFING]
    assert stuffed["n"] == non_exact * len(STUFFING_FIELDS) and set(stuffed["by_field"]) == set(STUFFING_FIELDS)
    # listed or doubled pastes carry the keyword_stuffing flag; "Perfect for <query>" said once does not
    assert 0.0 < stuffed["flagged_injected"] <= 1.0 and stuffed["flagged_neutral"] == 0.0
    assert f"| tiny | {STUFFING} | {stuffed['n']} |" in markdown(report, "tiny")


def test_stuffing_pastes_each_pairs_own_query_and_leaves_the_instruction_variants_as_they_were(tiny_model_dir, cache_dir):
    class Recorder:
        """A judge that records what it is asked to score, around the real scoring core."""

        def __init__(self):
            self.core = ScoringCore(TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32"))
            self.asked = []

        def score_pairs(self, queries, products, **kw):
            self.asked.append(list(zip(queries, products, strict=True)))
            return self.core.score_pairs(queries, products, **kw)

    judge = Recorder()
    robustness_report(judge, TOY_PAIRS, families=FAMILIES[:2], fields=FIELDS[:2], stuffing=False)
    robustness_report(judge, TOY_PAIRS, families=FAMILIES[:2], fields=FIELDS[:2])
    without, with_stuffing = judge.asked
    assert [pair for pair in with_stuffing if pair in without] == without  # same instruction variants, same order
    non_exact = sum(1 for p in TOY_PAIRS if p.level < 4)
    assert len(with_stuffing) - len(without) == 2 * len(STUFFING_FIELDS) * non_exact  # stuffed and neutral twins
    pasted = [(q, p) for q, p in with_stuffing if any(f"{lead} {q}" in f"{p.title} {p.description} {p.attributes}" for lead in _STUFFING_LEADS["eval"])]
    assert len(pasted) == len(STUFFING_FIELDS) * non_exact


def test_train_and_eval_wordings_share_no_sentence():
    for key in _POOLS["train"]:
        assert not set(_POOLS["train"][key]) & set(_POOLS["eval"][key]), key
    assert not set(_STUFFING_LEADS["train"]) & set(_STUFFING_LEADS["eval"])  # the stuffing leads too


def test_stuffing_alone_reports_no_instruction_summary(tiny_model_dir, cache_dir):
    engine = TransformersEngine(tiny_model_dir, cache_dir=cache_dir, dtype="float32")
    report = robustness_report(ScoringCore(engine), TOY_PAIRS, families=())
    assert report["overall"] is None and report["by_family"] == {} and report["by_field"] == {}
    assert report[STUFFING]["n"] == len(STUFFING_FIELDS) * sum(1 for p in TOY_PAIRS if p.level < 4)
    assert "| all |" not in markdown(report, "tiny")
