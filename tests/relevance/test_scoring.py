"""Probabilities, CumPT tiers (edge cases included) and ranking scores."""

import numpy as np
import pytest

from relevance.labels import TAOSR1
from relevance.scoring import cumpt_level, score_rows, softmax_rows

LEVELS = (4, 3, 2, 1)


def test_softmax_is_stable_and_normalised():
    p = softmax_rows(np.array([[1000.0, 1000.0, 0.0, -1000.0]]))
    assert np.isclose(p.sum(), 1.0) and np.isclose(p[0, 0], 0.5) and np.isfinite(p).all()


@pytest.mark.parametrize(
    ("probs", "beta", "level"),
    [
        ([0.6, 0.3, 0.05, 0.05], 0.5, 4),
        ([0.6, 0.3, 0.05, 0.05], 0.6, 4),  # the sum reaching β exactly counts
        ([0.6, 0.3, 0.05, 0.05], 0.9, 3),
        ([0.6, 0.3, 0.05, 0.05], 0.95, 2),
        ([0.6, 0.3, 0.05, 0.05], 1.0, 1),
        ([0.0, 0.0, 0.0, 1.0], 0.0, 4),  # β=0: always the best level
        ([0.0, 0.0, 1.0, 0.0], 1.0, 2),  # β=1: the worst level that carries mass
        ([0.25, 0.25, 0.25, 0.25], 0.5, 3),
        ([0.1, 0.2, 0.3, 0.4], 0.3, 3),
    ],
)
def test_cumpt_walks_from_the_best_level(probs, beta, level):
    assert cumpt_level(np.array(probs), LEVELS, beta) == level


def test_cumpt_rejects_beta_outside_unit_interval():
    with pytest.raises(ValueError, match="beta"):
        cumpt_level(np.array([1.0, 0, 0, 0]), LEVELS, 1.5)


def test_cumpt_level_never_rises_with_beta():
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.dirichlet(np.ones(4))
        levels = [cumpt_level(p, LEVELS, b) for b in np.linspace(0, 1, 21)]
        assert levels == sorted(levels, reverse=True)


def test_score_rows_gives_label_tier_and_score():
    logits = np.log(np.array([[0.7, 0.2, 0.05, 0.05], [0.05, 0.05, 0.1, 0.8]]))
    a, b = score_rows(logits, TAOSR1, beta=0.5)
    assert (a.level, a.label, a.tier, a.cumpt_level) == (4, "Excellent", "Good", 4)
    assert (b.level, b.label, b.tier) == (1, "Irrelevant", "Bad")
    assert np.isclose(sum(a.probs.values()), 1.0)
    assert np.isclose(a.expected_level, 4 * 0.7 + 3 * 0.2 + 2 * 0.05 + 0.05)
    assert 0.0 <= b.score < a.score <= 1.0
    strict = score_rows(logits, TAOSR1, beta=0.8)[0]
    assert strict.tier == "Mid" and strict.level == 4  # the tier moves with β, the argmax label does not
