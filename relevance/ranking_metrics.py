"""Ranking quality of a judge's score on labelled pairs: does the score put better products first?

Macro-F1 reads the label; a search backend orders by `score`. On ~100 real pairs with one
Complement and six Irrelevant pairs the two can disagree completely (model card: a judge
with macro-F1 0.50 ranked Exact against the rest at chance), so `taosr1 eval` and the
pipeline's eval report both:

* `auc_exact` — ROC AUC of the score for Exact (level 4) against every other level: the chance
  that a random Exact pair scores above a random non-Exact one (0.5: chance; ties count half),
  with a percentile bootstrap 90 % interval over resampled pairs;
* `auc_relevant` — the same for levels 4 and 3 against 2 and 1;
* `ndcg_at_10` — mean nDCG@10 over the queries with at least two products of different levels,
  with the ESCI gains (Exact 1, Substitute 0.1, Complement 0.01, Irrelevant 0); None when no
  query qualifies (files with one product per query).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

#: ESCI's gains for nDCG (Exact, Substitute, Complement, Irrelevant) by level
GAINS = {4: 1.0, 3: 0.1, 2: 0.01, 1: 0.0}


def auc(positive: Sequence[bool], scores: Sequence[float]) -> float | None:
    """ROC AUC of `scores` for the positive pairs (Mann–Whitney, ties counted half); None without both classes.

    >>> auc([True, False, True, False], [0.9, 0.1, 0.5, 0.5])
    0.875
    """
    pos = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if not n_pos or not n_neg:
        return None
    s = np.asarray(scores, dtype=np.float64)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    end = np.cumsum(counts)  # 1-based rank of each distinct score's last pair; ties share their mean rank
    ranks = ((end - counts + 1 + end) / 2)[inverse]
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ndcg(levels: Sequence[int], scores: Sequence[float], k: int = 10) -> float | None:
    """nDCG@k of one query's products ordered by `scores` (ties: the given order); None when all gains are equal.

    >>> ndcg([4, 1, 3], [0.9, 0.1, 0.5])
    1.0
    >>> round(ndcg([4, 1, 3], [0.1, 0.8, 0.9]), 3)
    0.564
    """
    gains = [GAINS.get(lv, 0.0) for lv in levels]
    if len(set(gains)) < 2:
        return None
    ranked = [g for _, g in sorted(zip(scores, gains, strict=True), key=lambda t: -t[0])]
    ideal = sorted(gains, reverse=True)

    def dcg(gs: list[float]) -> float:
        return sum(g / math.log2(i + 2) for i, g in enumerate(gs[:k]))

    return dcg(ranked) / dcg(ideal)


def _auc_interval(positive: np.ndarray, scores: np.ndarray, rounds: int, seed: int) -> list[float] | None:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, len(scores), len(scores))
        if (value := auc(positive[idx], scores[idx])) is not None:
            values.append(value)
    if not values:
        return None
    lo, hi = np.percentile(values, [5, 95])
    return [round(float(lo), 4), round(float(hi), 4)]


def ranking_report(
    gold: Sequence[int],
    scores: Sequence[float],
    queries: Sequence[str] | None = None,
    *,
    rounds: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """AUCs of the score (Exact vs the rest, with a 90 % bootstrap interval; relevant vs not) and, given the
    pairs' queries, mean nDCG@10 over the queries that have products of different levels.

    >>> r = ranking_report([4, 3, 1, 4], [0.9, 0.6, 0.2, 0.7], ["a", "a", "a", "b"], rounds=50)
    >>> r["auc_exact"], r["auc_relevant"], r["ndcg_at_10"], r["ranked_queries"]
    (1.0, 1.0, 1.0, 1)
    """
    g, s = np.asarray(gold), np.asarray(scores, dtype=np.float64)
    exact = g == 4
    report: dict[str, Any] = {
        "n": len(g),
        "auc_exact": _rounded(auc(exact, s)),
        "auc_exact_ci90": _auc_interval(exact, s, rounds, seed) if rounds else None,
        "auc_relevant": _rounded(auc(g >= 3, s)),
        "ndcg_at_10": None,
        "ranked_queries": 0,
    }
    if queries is not None:
        by_query: dict[str, list[int]] = defaultdict(list)
        for i, q in enumerate(queries):
            by_query[q].append(i)
        values = [v for idx in by_query.values() if (v := ndcg([gold[i] for i in idx], [scores[i] for i in idx])) is not None]
        report["ranked_queries"] = len(values)
        report["ndcg_at_10"] = round(sum(values) / len(values), 4) if values else None
    return report


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
