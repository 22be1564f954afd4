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

from relevance.metrics import classification_report

GRID = np.arange(-2.0, 3.01, 0.25)


def load(spec: str) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Gold labels, probabilities and level order of one eval set (PATH or PATH:SET)."""
    path, _, name = spec.partition(":") if spec.count(":") else (spec, "", "")
    data = json.loads(Path(path).read_text())
    sets = data.get("sets", data)
    if not name and "probs" not in sets and len(sets) != 1:
        raise KeyError(f"{path} holds the sets {sorted(sets)}: name one as {path}:SET")
    rows = sets[name] if name else (sets if "probs" in sets else next(iter(sets.values())))
    if not rows.get("probs"):
        raise KeyError(f"{spec} keeps no per-pair probs")
    return np.array(rows["gold"]), np.array(rows["probs"], dtype=float), list(rows["prob_levels"])


def fast_macro_f1(gold: np.ndarray, pred: np.ndarray, levels: list[int]) -> float:
    """Macro-F1 over `levels` (a level with no gold and no prediction scores 0, as the report's)."""
    scores = []
    for level in levels:
        tp = np.sum((pred == level) & (gold == level))
        denom = np.sum(pred == level) + np.sum(gold == level)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def decide(probs: np.ndarray, bias: np.ndarray, levels: list[int]) -> np.ndarray:
    return np.array(levels)[np.argmax(np.log(np.clip(probs, 1e-9, 1.0)) + bias, axis=1)]


def fit_bias(gold: np.ndarray, probs: np.ndarray, levels: list[int]) -> np.ndarray:
    """The bias (0 on the first level) with the best macro-F1 on the calibration set; smallest first on ties."""
    best_score, best = -1.0, np.zeros(len(levels))
    for rest in itertools.product(GRID, repeat=len(levels) - 1):
        bias = np.array([0.0, *rest])
        score = fast_macro_f1(gold, decide(probs, bias, levels), levels) - 1e-4 * float(np.abs(bias).sum())
        if score > best_score:
            best_score, best = score, bias
    return best


def report(gold: np.ndarray, pred: np.ndarray) -> float:
    return classification_report([int(g) for g in gold], [int(p) for p in pred])["macro_f1"]


def main(judge: str, calibration: str, *sets: str) -> None:
    gold, probs, levels = load(calibration)
    bias = fit_bias(gold, probs, levels)
    counts = lambda pred: {lv: int(np.sum(pred == lv)) for lv in levels}  # noqa: E731
    print(json.dumps({"judge": judge, "set": "calibration", "n": len(gold), "bias": dict(zip(levels, bias.tolist(), strict=True)),
                      "argmax": round(report(gold, decide(probs, np.zeros(len(levels)), levels)), 4),
                      "biased": round(report(gold, decide(probs, bias, levels)), 4)}))
    for spec in sets:
        name, _, where = spec.partition("=")
        g, p, lv = load(where)
        if lv != levels:
            raise ValueError(f"{where}: levels {lv} differ from the calibration set's {levels}")
        plain, biased = decide(p, np.zeros(len(lv)), lv), decide(p, bias, lv)
        print(json.dumps({"judge": judge, "set": name, "n": len(g), "argmax": round(report(g, plain), 4),
                          "biased": round(report(g, biased), 4), "pred_argmax": counts(plain), "pred_biased": counts(biased)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
