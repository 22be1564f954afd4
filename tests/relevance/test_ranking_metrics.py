"""Ranking metrics of a judge's score: AUC equals the pairwise count it stands for, nDCG is 1 for the
ideal order, and pooled cross-fits rank by the same order the score gives."""

from __future__ import annotations

import random

from relevance.ranking_metrics import auc, ndcg, ranking_report
from training.pooled import _scores


def test_auc_is_the_share_of_correctly_ordered_pairs_ties_half():
    rng = random.Random(3)
    for _ in range(20):
        pos = [rng.random() < 0.4 for _ in range(30)]
        if all(pos) or not any(pos):
            continue
        scores = [rng.choice([0.1, 0.2, 0.3, 0.5, 0.9]) for _ in range(30)]
        pairs = [(a, b) for a, pa in zip(scores, pos, strict=True) if pa for b, pb in zip(scores, pos, strict=True) if not pb]
        expected = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
        assert abs(auc(pos, scores) - expected) < 1e-12
    assert auc([True, True], [0.1, 0.2]) is None


def test_ndcg_is_one_for_the_ideal_order_and_lower_otherwise():
    levels = [4, 3, 2, 1, 3]
    assert ndcg(levels, [5, 4, 2, 1, 3]) == 1.0
    assert ndcg(levels, [1, 2, 3, 4, 5]) < 1.0
    assert ndcg([4, 4], [0.1, 0.9]) is None  # nothing to order


def test_report_counts_only_queries_with_something_to_order():
    gold = [4, 3, 1, 4, 4, 1]
    scores = [0.9, 0.5, 0.1, 0.2, 0.8, 0.3]
    report = ranking_report(gold, scores, ["a", "a", "a", "b", "c", "c"], rounds=100)
    assert report["ranked_queries"] == 2 and report["ndcg_at_10"] == 1.0
    assert report["auc_exact_ci90"][0] <= report["auc_exact"] <= report["auc_exact_ci90"][1]
    assert ranking_report(gold, scores)["ndcg_at_10"] is None


def test_pooled_scores_fall_back_to_the_expected_level_in_the_same_order():
    part = {"prob_levels": [4, 3, 2, 1], "probs": [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7], [0.4, 0.4, 0.1, 0.1]]}
    expected = _scores(part)
    assert sorted(range(3), key=expected.__getitem__) == [1, 2, 0]
    assert _scores({"scores": [0.2, 0.1]}) == [0.2, 0.1]
    assert _scores({"probs": None}) is None
