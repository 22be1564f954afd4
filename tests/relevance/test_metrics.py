"""classification_report on hand-computed examples, and the bootstrap intervals (over pairs and over whole queries)."""

from __future__ import annotations

import math

import pytest

from relevance.metrics import (
    MIN_QUERIES_FOR_INTERVAL,
    bootstrap_interval,
    classification_report,
    gold_nll,
    query_interval,
)


def test_hand_computed_example() -> None:
    gold = [4, 4, 4, 3, 3, 2, 1, 1]
    pred = [4, 4, 3, 3, 2, 2, 1, 4]
    r = classification_report(gold, pred)
    # level 4: tp 2, predicted 3 (two 4s + the 1 read as 4), support 3
    assert r["per_class"][4] == {"precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3), "support": 3}
    # level 3: tp 1, predicted 2, support 2
    assert r["per_class"][3] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    # level 2: tp 1, predicted 2, support 1 -> P 0.5, R 1, F1 2/3
    assert r["per_class"][2]["precision"] == 0.5 and r["per_class"][2]["recall"] == 1.0
    assert r["per_class"][2]["f1"] == pytest.approx(2 / 3)
    # level 1: tp 1, predicted 1, support 2 -> P 1, R 0.5, F1 2/3
    assert r["per_class"][1]["f1"] == pytest.approx(2 / 3)
    assert r["accuracy"] == 5 / 8
    assert r["n"] == 8 and r["unparsed"] == 0
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 2 / 3 + 2 / 3) / 4)
    assert r["macro_levels"] == [4, 3, 2, 1]
    assert r["labels"] == [4, 3, 2, 1, "unparsed"]
    assert r["confusion"] == {
        4: {4: 2, 3: 1, 2: 0, 1: 0, "unparsed": 0},
        3: {4: 0, 3: 1, 2: 1, 1: 0, "unparsed": 0},
        2: {4: 0, 3: 0, 2: 1, 1: 0, "unparsed": 0},
        1: {4: 1, 3: 0, 2: 0, 1: 1, "unparsed": 0},
    }


def test_none_predictions_are_wrong_and_get_their_own_column() -> None:
    r = classification_report([4, 3, 3, 2], [None, 3, None, 2])
    assert r["unparsed"] == 2
    assert r["accuracy"] == 0.5
    assert r["confusion"][4] == {4: 0, 3: 0, 2: 0, 1: 0, "unparsed": 1}
    assert r["confusion"][3]["unparsed"] == 1
    # a None lowers recall of its gold class but nobody's precision
    assert r["per_class"][4] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["per_class"][3] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert r["per_class"][2]["f1"] == 1.0


def test_macro_over_classes_present_in_gold_only() -> None:
    # no gold 2 or 1; a wrong prediction of 1 costs precision elsewhere but 1 is not averaged
    r = classification_report([4, 4, 3], [4, 1, 3])
    assert r["macro_levels"] == [4, 3]
    f1_4 = 2 * 1.0 * 0.5 / 1.5
    assert r["per_class"][4]["f1"] == pytest.approx(f1_4)
    assert r["per_class"][1] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["macro_f1"] == pytest.approx((f1_4 + 1.0) / 2)


def test_perfect_and_empty() -> None:
    r = classification_report([1, 2, 3, 4], [1, 2, 3, 4])
    assert r["accuracy"] == 1.0 and r["macro_f1"] == 1.0
    empty = classification_report([], [])
    assert empty["n"] == 0 and empty["accuracy"] == 0.0 and empty["macro_f1"] == 0.0 and empty["macro_levels"] == []


def test_custom_levels_and_bad_input() -> None:
    r = classification_report([1, 0, 1], [1, 1, 1], levels=(1, 0))
    assert r["labels"] == [1, 0, "unparsed"]
    assert r["per_class"][1]["precision"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="length"):
        classification_report([4], [4, 3])
    with pytest.raises(ValueError, match=r"gold\[1\] = 5"):
        classification_report([4, 5], [4, 4])
    with pytest.raises(ValueError, match=r"pred\[0\] = 0.*None"):
        classification_report([4], [0])


def test_balanced_accuracy_is_mean_recall_over_levels_present() -> None:
    r = classification_report([4, 4, 4, 4, 1], [4, 4, 4, 4, 4])  # all "4": accuracy 0.8, balanced 0.5
    assert r["accuracy"] == 0.8 and r["balanced_accuracy"] == 0.5
    assert classification_report([4, 3, 1], [4, 3, 1])["balanced_accuracy"] == 1.0
    assert classification_report([], [])["balanced_accuracy"] == 0.0


def test_gold_nll_reads_the_gold_levels_probability() -> None:
    probs = [{4: 0.7, 3: 0.2, 2: 0.05, 1: 0.05}, {4: 0.25, 3: 0.25, 2: 0.25, 1: 0.25}]
    assert gold_nll([4, 1], probs) == pytest.approx((-math.log(0.7) - math.log(0.25)) / 2)
    assert gold_nll([2], [{4: 1.0}]) == pytest.approx(-math.log(1e-6))  # floored, not infinite
    assert gold_nll([4], [None]) is None and gold_nll([], []) is None


def _clustered_example() -> tuple[list[int], list[int], list[int]]:
    """Twenty queries of ten pairs; the judge gets a whole query right or a whole query wrong."""
    gold, pred, queries = [], [], []
    for q in range(20):
        right = q % 2 == 0
        for i in range(10):
            level = 4 if i % 2 else 1
            gold.append(level)
            pred.append(level if right else 5 - level)
            queries.append(q)
    return gold, pred, queries


def test_a_query_bootstrap_is_wider_than_a_pair_bootstrap_when_a_query_decides_its_pairs() -> None:
    gold, pred, queries = _clustered_example()
    lo_pairs, hi_pairs = bootstrap_interval(gold, pred, "accuracy", rounds=400)
    lo_queries, hi_queries = bootstrap_interval(gold, pred, "accuracy", rounds=400, groups=queries)
    assert lo_queries <= 0.5 <= hi_queries and lo_pairs <= 0.5 <= hi_pairs
    # 200 pairs but 20 independent outcomes: the honest interval is about sqrt(10) times wider
    assert (hi_queries - lo_queries) > 2 * (hi_pairs - lo_pairs)


def test_a_query_bootstrap_of_one_pair_per_query_is_the_pair_bootstrap() -> None:
    gold, pred, _ = _clustered_example()
    singletons = list(range(len(gold)))
    assert bootstrap_interval(gold, pred, "accuracy", rounds=300, groups=singletons) == bootstrap_interval(gold, pred, "accuracy", rounds=300)


def test_query_interval_needs_five_queries_and_one_group_per_pair() -> None:
    gold, pred, queries = _clustered_example()
    four_queries = [q % (MIN_QUERIES_FOR_INTERVAL - 1) for q in queries]
    assert query_interval(gold, pred, four_queries) is None
    interval = query_interval(gold, pred, queries, "accuracy", other=[1] * len(gold))
    assert interval is not None and interval[0] < interval[1]
    with pytest.raises(ValueError, match="groups"):
        bootstrap_interval(gold, pred, groups=queries[:-1])
