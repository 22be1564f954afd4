"""What each stage changes on held-out ESCI pairs: the level prior, or the order (model card, 2026-12-05).

Reads `<run>/eval/<stage>.json` of two runs trained on complementary folds (each eval must keep
`probs`) and prints, per stage, one JSON line: pooled macro-F1; the mean probability of every
level and the count of every predicted level over the pooled pairs (the prior the stage sets);
the gold label's mean NLL; and `auc_exact` of each fold's own model on the fold it held out,
with their mean (the order, free of any threshold). A score's AUC is computed within one model:
pooling two models' scores would mix their scales.

    .venv/bin/python docs/default-model/studies/stage_shifts.py RUN_FOLD0 RUN_FOLD_SWAP [EVAL_SET]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from relevance.metrics import classification_report

STAGES = ("zeroshot", "baseline", "sft", "dpo", "grpo")


def held_out(run: str, stage: str, eval_set: str) -> dict[str, Any] | None:
    path = Path(run, "eval", f"{stage}.json")
    if not path.exists():
        return None
    rows = json.loads(path.read_text())["sets"][eval_set]
    if not rows.get("probs"):
        raise KeyError(f"{path} has no per-pair probs: re-run its eval")
    return rows


def stage_row(parts: list[dict[str, Any]]) -> dict[str, Any]:
    gold = [g for p in parts for g in p["gold"]]
    pred = [y for p in parts for y in p["pred"]]
    probs = [row for p in parts for row in p["probs"]]
    n = len(gold)
    levels = parts[0]["prob_levels"]  # the column order of `probs`, as each eval records it
    if any(p["prob_levels"] != levels for p in parts):
        raise ValueError("the folds' evals order their probability columns differently")
    gold_nll = sum(p["gold_nll"] * p["n"] for p in parts) / n  # each fold's eval stores its mean
    aucs = [p["ranking"]["auc_exact"] for p in parts]
    return {
        "n": n,
        "macro_f1": round(classification_report(gold, pred)["macro_f1"], 3),
        "mean_p": {str(lv): round(sum(row[i] for row in probs) / n, 3) for i, lv in enumerate(levels)},
        "predicted": {str(lv): pred.count(lv) for lv in levels},
        "gold_nll": round(gold_nll, 3),
        "auc_exact_per_fold": [round(a, 3) for a in aucs],
        "auc_exact_mean": round(sum(aucs) / len(aucs), 3),
    }


def main(run_a: str, run_b: str, eval_set: str = "esci-select") -> None:
    for stage in STAGES:
        parts = [held_out(run, stage, eval_set) for run in (run_a, run_b)]
        if None in parts:
            continue
        print(json.dumps({"stage": stage, **stage_row(parts)}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
