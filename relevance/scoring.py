"""From label-token logits to what a search backend consumes: probabilities, label, tier, score.

CumPT (cumulative probability tiering, TaoSR1 serving): walk the levels from best (4) to
worst (1), summing their probabilities; the first level at which the running sum reaches β
is the *CumPT level*, and its tier is the product's tier. β is the one knob instead of one
threshold per tier; the CumPT level is the β-quantile of the label distribution read from
the top. A high β is strict: with probabilities (0.6, 0.3, 0.05, 0.05) over (4, 3, 2, 1),
β=0.5 gives level 4 (Good) but β=0.9 gives level 3 (Mid) — Good needs β of the mass on 4.
Edge cases: β=0 always gives the best level; β=1 gives the worst level that carries any
probability (the sum reaches 1 only there). The ranking score is the expected level mapped
to [0, 1], which orders products within a tier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relevance.labels import LabelScheme

_EPS = 1e-6
#: the CumPT β serving, eval and the CLI use unless told otherwise
DEFAULT_BETA = 0.5


@dataclass(frozen=True)
class Scored:
    """The scoring of one (query, product) pair."""

    level: int  # argmax level
    label: str  # its name
    probs: dict[int, float]  # level -> probability, sums to 1
    expected_level: float
    cumpt_level: int
    tier: str
    score: float  # ranking score in [0, 1]


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits.

    >>> softmax_rows(np.array([[0.0, 0.0]])).tolist()
    [[0.5, 0.5]]
    """
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def cumpt_level(probs_best_first: np.ndarray, levels_best_first: tuple[int, ...], beta: float) -> int:
    """The level at which the cumulative probability, walked from the best level, reaches β.

    >>> cumpt_level(np.array([0.5, 0.3, 0.1, 0.1]), (4, 3, 2, 1), 0.5)
    4
    >>> cumpt_level(np.array([0.5, 0.3, 0.1, 0.1]), (4, 3, 2, 1), 0.8)
    3
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be within [0, 1], got {beta}")
    running = 0.0
    for p, level in zip(probs_best_first, levels_best_first, strict=True):
        running += float(p)
        if running + _EPS >= beta:
            return level
    return levels_best_first[-1]


def score_rows(logits: np.ndarray, scheme: LabelScheme, beta: float) -> list[Scored]:
    """Score a batch: `logits` is (n, len(scheme.levels)), columns in the scheme's best-first order."""
    probs = softmax_rows(logits)
    levels = scheme.level_values
    values = np.array(levels, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    out = []
    for row in probs:
        best = int(np.argmax(row))
        expected = float(row @ values)
        level_at_beta = cumpt_level(row, levels, beta)
        out.append(
            Scored(
                level=levels[best],
                label=scheme.levels[best].name,
                probs={lv: float(p) for lv, p in zip(levels, row, strict=True)},
                expected_level=expected,
                cumpt_level=level_at_beta,
                tier=scheme.tier_of(level_at_beta),
                score=(expected - lo) / (hi - lo),
            )
        )
    return out
