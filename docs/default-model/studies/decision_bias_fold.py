"""A per-level decision bias fitted on a large real calibration fold (model card, twenty-ninth section).

The 2026-12-03 study (`decision_rules.py`) fitted a per-level log-bias on 50 held-out pairs with
2-4 Irrelevant ones, and the bias was that fold's noise. This one fits it on a whole fold of
`esci_more.csv` that no stage trained on (fold 2/4: ~1,900 pairs, 87 queries, every level
represented), then applies it unchanged to the real evaluation sets. Each judge gets its own fit.

Inputs are `taosr1 eval --out` or `taosr1 train eval` JSON files, which keep every level's
probability per pair (`probs`, columns in `prob_levels` order):

    .venv/bin/python docs/default-model/studies/decision_bias_fold.py JUDGE CAL.json \
        esci-dev=RUN/eval/grpo.json:esci-dev esci-more-held=HELD.json ...

A set argument is NAME=PATH[:SET]; SET picks one set from a file holding several. Prints one JSON
line per set: argmax macro-F1, the biased rule's, and the label counts of both.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
from decision_rules import GRID, LEVELS, decide, macro_f1  # this folder's 2026-12-03 study: same rule, same grid


def load(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Gold labels and probabilities (columns in LEVELS order) of one eval set (PATH or PATH:SET)."""
    path, _, name = spec.partition(":")
    data = json.loads(Path(path).read_text())
    sets = data.get("sets", data)
    if not name and "probs" not in sets and len(sets) != 1:
        raise KeyError(f"{path} holds the sets {sorted(sets)}: name one as {path}:SET")
    rows = sets[name] if name else (sets if "probs" in sets else next(iter(sets.values())))
    if not rows.get("probs"):
        raise KeyError(f"{spec} keeps no per-pair probs")
    if list(rows["prob_levels"]) != LEVELS.tolist():
        raise ValueError(f"{spec}: probability columns {rows['prob_levels']}, expected {LEVELS.tolist()}")
    return np.array(rows["gold"]), np.array(rows["probs"], dtype=float)


def fast_macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over LEVELS as `relevance.metrics` computes it, in numpy: the grid search scores 9,261 biases."""
    scores = []
    for level in LEVELS:
        tp = np.sum((pred == level) & (gold == level))
        denom = np.sum(pred == level) + np.sum(gold == level)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def fit_bias(gold: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """The bias (0 on level 4, all three others free) with the best macro-F1 on the calibration set; smallest first on ties."""
    best_score, best = -1.0, np.zeros(len(LEVELS))
    for rest in itertools.product(GRID, repeat=len(LEVELS) - 1):
        bias = np.array([0.0, *rest])
        score = fast_macro_f1(gold, decide(probs, bias)) - 1e-4 * float(np.abs(bias).sum())
        if score > best_score:
            best_score, best = score, bias
    return best


def main(judge: str, calibration: str, *sets: str) -> None:
    gold, probs = load(calibration)
    bias, plain = fit_bias(gold, probs), np.zeros(len(LEVELS))
    counts = lambda pred: {int(lv): int(np.sum(pred == lv)) for lv in LEVELS}  # noqa: E731
    print(
        json.dumps(
            {
                "judge": judge,
                "set": "calibration",
                "n": len(gold),
                "bias": dict(zip(LEVELS.tolist(), bias.tolist(), strict=True)),
                "argmax": round(macro_f1(gold, decide(probs, plain)), 4),
                "biased": round(macro_f1(gold, decide(probs, bias)), 4),
            }
        )
    )
    for spec in sets:
        name, _, where = spec.partition("=")
        g, p = load(where)
        argmax, biased = decide(p, plain), decide(p, bias)
        print(
            json.dumps(
                {
                    "judge": judge,
                    "set": name,
                    "n": len(g),
                    "argmax": round(macro_f1(g, argmax), 4),
                    "biased": round(macro_f1(g, biased), 4),
                    "pred_argmax": counts(argmax),
                    "pred_biased": counts(biased),
                }
            )
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
