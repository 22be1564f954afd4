"""Decision rules other than argmax, on pooled held-out ESCI probabilities (model card, 2026-12-03).

Reads `<run>/eval/<stage>.json` of two runs trained on complementary folds (each eval must keep
`probs`, every level's probability per pair) and prints pooled macro-F1 per stage for: argmax;
a per-level log-bias fitted for macro-F1 on one run's held-out fold and applied to the other's
(cross-fitted); the same bias fitted in sample (an upper bound, not a result); and a label-free
prior correction (divide by the judge's own mean probability on the set, to the power alpha).

    .venv/bin/python docs/default-model/studies/decision_rules.py RUN_A RUN_B
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from relevance.labels import TAOSR1
from relevance.metrics import classification_report

LEVELS = np.array(TAOSR1.level_values)  # best first, the column order of `probs`
GRID = np.arange(-2.0, 3.01, 0.25)
STAGES = ("zeroshot", "baseline", "sft", "dpo", "grpo")


def load(run: str, stage: str, eval_set: str = "esci-select") -> tuple[np.ndarray, np.ndarray]:
    rows = json.loads(Path(run, "eval", f"{stage}.json").read_text())["sets"][eval_set]
    if not rows.get("probs"):
        raise KeyError(f"{run}/eval/{stage}.json has no per-pair probs: re-run its eval")
    return np.array(rows["gold"]), np.array(rows["probs"], dtype=float)


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    return classification_report([int(g) for g in gold], [int(p) for p in pred])["macro_f1"]


def decide(probs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return LEVELS[np.argmax(np.log(np.clip(probs, 1e-9, 1.0)) + bias, axis=1)]


def fit_bias(gold: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Biases on levels 3 and 1 (level 2 halfway: a fold has 0-1 gold pairs of it), best macro-F1, small first."""
    best_score, best = -1.0, np.zeros(4)
    for b3, b1 in itertools.product(GRID, GRID):
        bias = np.array([0.0, b3, 0.5 * (b3 + b1), b1])
        score = macro_f1(gold, decide(probs, bias)) - 1e-4 * (abs(b3) + abs(b1))
        if score > best_score:
            best_score, best = score, bias
    return best


def prior_corrected(probs: np.ndarray, alpha: float) -> np.ndarray:
    return LEVELS[np.argmax(np.log(np.clip(probs, 1e-9, 1.0)) - alpha * np.log(probs.mean(axis=0)), axis=1)]


def main(run_a: str, run_b: str) -> None:
    for stage in STAGES:
        parts = [load(run_a, stage), load(run_b, stage)]
        gold = np.concatenate([g for g, _ in parts])
        probs = np.concatenate([p for _, p in parts])
        cross = np.concatenate([decide(parts[i][1], fit_bias(*parts[1 - i])) for i in range(2)])
        inside = np.concatenate([decide(p, fit_bias(g, p)) for g, p in parts])
        row = {
            "argmax": macro_f1(gold, decide(probs, np.zeros(4))),
            "bias_crossfit": macro_f1(gold, cross),
            "bias_insample": macro_f1(gold, inside),
            "prior_a0.5": macro_f1(gold, np.concatenate([prior_corrected(p, 0.5) for _, p in parts])),
            "prior_a1": macro_f1(gold, np.concatenate([prior_corrected(p, 1.0) for _, p in parts])),
        }
        print(json.dumps({"stage": stage, "n": len(gold), **{k: round(v, 3) for k, v in row.items()}}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
