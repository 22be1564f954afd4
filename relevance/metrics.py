"""Classification metrics for the 4-level relevance scale: per-class P/R/F1, macro-F1, confusion,
balanced accuracy, and the gold level's negative log-likelihood under the model's probabilities.

Predictions may be None (the model's output could not be parsed); such a prediction is
counted wrong and gets its own confusion column. Pure Python over lists of ints; it does
not parse model outputs or know what the levels mean.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

UNPARSED = "unparsed"


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def classification_report(
    gold: Sequence[int],
    pred: Sequence[int | None],
    levels: Sequence[int] = (4, 3, 2, 1),
) -> dict[str, Any]:
    """Per-class precision/recall/F1/support, macro-F1, accuracy and a confusion matrix.

    * ``per_class[level]`` = ``{"precision", "recall", "f1", "support"}`` for every level in
      ``levels``; precision of a level never predicted is 0.0, as is recall of a level
      absent from gold.
    * ``macro_f1`` averages F1 over the levels present in ``gold`` only (a class with no
      gold example says nothing about the model); ``macro_levels`` lists them.
    * ``balanced_accuracy`` averages recall over the same levels: far steadier than macro-F1
      on small, skewed real sets (a class of 2 rows moves it less).
    * ``accuracy`` counts None predictions as wrong; ``n`` is the number of pairs,
      ``unparsed`` the number of None predictions.
    * ``confusion[g][p]``: rows are gold levels, columns predicted levels plus
      ``"unparsed"`` for None; ``labels`` gives the column order.

    A gold value or a prediction outside ``levels`` raises ValueError.

    >>> r = classification_report([4, 4, 3, 1], [4, 3, 3, None])
    >>> r["accuracy"], r["n"], r["unparsed"]
    (0.5, 4, 1)
    >>> r["per_class"][3]
    {'precision': 0.5, 'recall': 1.0, 'f1': 0.6666666666666666, 'support': 1}
    >>> r["macro_levels"], round(r["macro_f1"], 4), r["balanced_accuracy"]
    ([4, 3, 1], 0.4444, 0.5)
    >>> r["confusion"][4]
    {4: 1, 3: 1, 2: 0, 1: 0, 'unparsed': 0}
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length: {len(gold)} vs {len(pred)}")
    levels = list(levels)
    known = set(levels)
    for i, g in enumerate(gold):
        if g not in known:
            raise ValueError(f"gold[{i}] = {g!r} is not one of the levels {levels}")
    for i, p in enumerate(pred):
        if p is not None and p not in known:
            raise ValueError(f"pred[{i}] = {p!r} is not one of the levels {levels} (use None for unparsed)")

    columns: list[int | str] = [*levels, UNPARSED]
    confusion: dict[int, dict[int | str, int]] = {g: {c: 0 for c in columns} for g in levels}
    for g, p in zip(gold, pred, strict=True):
        confusion[g][UNPARSED if p is None else p] += 1

    per_class: dict[int, dict[str, float | int]] = {}
    for level in levels:
        tp = confusion[level][level]
        support = sum(confusion[level].values())
        predicted = sum(confusion[g][level] for g in levels)
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        per_class[level] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": support,
        }

    present = [level for level in levels if per_class[level]["support"]]
    correct = sum(confusion[level][level] for level in levels)
    return {
        "n": len(gold),
        "accuracy": _ratio(correct, len(gold)),
        "macro_f1": sum(per_class[lv]["f1"] for lv in present) / len(present) if present else 0.0,
        "macro_levels": present,
        "balanced_accuracy": sum(per_class[lv]["recall"] for lv in present) / len(present) if present else 0.0,
        "per_class": per_class,
        "confusion": confusion,
        "labels": columns,
        "unparsed": sum(1 for p in pred if p is None),
    }


def gold_nll(gold: Sequence[int], probs: Sequence[dict[int, float] | None], floor: float = 1e-6) -> float | None:
    """Mean −ln p(gold level) over pairs: how much probability the model puts on the right level.

    Lower is better; unlike F1 it sees confidence, so it moves with real changes at small n.
    Probabilities are floored at `floor`; None when any pair has no probabilities.

    >>> round(gold_nll([4, 1], [{4: 0.5, 1: 0.5}, {4: 0.9, 1: 0.1}]), 4)
    1.4979
    >>> gold_nll([4], [None]) is None
    True
    """
    if not gold or any(p is None for p in probs):
        return None
    return sum(-math.log(max(p.get(g, 0.0), floor)) for g, p in zip(gold, probs, strict=True)) / len(gold)


def bootstrap_interval(
    gold: Sequence[int],
    pred: Sequence[int | None],
    metric: str = "macro_f1",
    *,
    rounds: int = 1000,
    level: float = 0.9,
    seed: int = 0,
    other: Sequence[int | None] | None = None,
    groups: Sequence[Hashable] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric` (macro_f1 or accuracy) over resampled pairs.

    With `other` (a second model's predictions on the same pairs) it is the interval of the
    *difference* metric(pred) − metric(other), resampling pairs jointly — the honest way to
    say whether one model beats another on ~100 pairs.

    With `groups` (each pair's query) it resamples whole queries instead of pairs (a cluster
    bootstrap): the products of one query share its wording and its page, so
    they are not independent draws, and a set of 1,000 pairs over 50 queries says about as much
    about unseen queries as its 50 queries do. Use it for files with many products per query.

    >>> lo, hi = bootstrap_interval([4, 3, 1, 4] * 10, [4, 3, 1, 3] * 10, "accuracy", rounds=200)
    >>> lo <= 0.75 <= hi
    True
    """
    import random

    rng = random.Random(seed)
    n = len(gold)
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} pairs")
    clusters = list(_clusters(groups).values()) if groups is not None else None
    values = []
    for _ in range(rounds):
        if clusters is None:
            idx = [rng.randrange(n) for _ in range(n)]
        else:
            idx = [i for _ in clusters for i in clusters[rng.randrange(len(clusters))]]
        g = [gold[i] for i in idx]
        value = classification_report(g, [pred[i] for i in idx])[metric]
        if other is not None:
            value -= classification_report(g, [other[i] for i in idx])[metric]
        values.append(value)
    return percentile_interval(values, level)


def _clusters(groups: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """Pair indices per group, groups in first-seen order."""
    out: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        out.setdefault(g, []).append(i)
    return out


#: fewer queries than this and a by-query interval is not reported: a percentile bootstrap over
#: two to four clusters draws the same few pages again and again and says nothing
MIN_QUERIES_FOR_INTERVAL = 5


def query_interval(
    gold: Sequence[int],
    pred: Sequence[int | None],
    queries: Sequence[Hashable],
    metric: str = "macro_f1",
    *,
    other: Sequence[int | None] | None = None,
    rounds: int = 1000,
) -> list[float] | None:
    """The by-query (cluster) bootstrap 90 % interval, rounded, or None below `MIN_QUERIES_FOR_INTERVAL` queries.

    >>> query_interval([4, 1] * 6, [4, 1] * 6, ["a", "a", "b", "b", "c", "c"] * 2) is None
    True
    >>> query_interval([4, 1] * 10, [4, 1] * 10, [i // 2 for i in range(20)])
    [1.0, 1.0]
    """
    if len(set(queries)) < MIN_QUERIES_FOR_INTERVAL:
        return None
    return [round(v, 4) for v in bootstrap_interval(gold, pred, metric, rounds=rounds, other=other, groups=queries)]


def percentile_interval(values: Sequence[float], level: float = 0.9) -> tuple[float, float]:
    """The central `level` interval of bootstrap draws (the order statistics at its two tails).

    >>> percentile_interval([3.0, 0.0, 4.0, 1.0, 2.0], level=0.5)
    (1.0, 3.0)
    """
    ordered = sorted(values)
    tail = (1.0 - level) / 2
    return ordered[int(tail * (len(ordered) - 1))], ordered[int((1 - tail) * (len(ordered) - 1))]
