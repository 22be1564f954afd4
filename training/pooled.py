"""Pooled cross-fit evaluation: one recipe trained K times on K folds, each fold scored only by the run that never trained on it.

A recipe that holds out a 51-pair real fold is measured on 51 pairs; the intervals are too wide to
rank anything. Train the same recipe again with the folds swapped (e.g. `default.yaml` and
`default-fold-swap.yaml`), and every real pair is scored by a model that did not see it. This
module concatenates, per stage, the gold levels, predictions and gold-level probabilities each run's
eval wrote for its held-out set, and reports the pooled metrics with bootstrap intervals and the
paired differences against the cross-encoder and the zero-shot model on the same pooled pairs.

It refuses to pool dishonestly: every pair must be identified (`pair_keys`, written by
`training.evaluate` since 2026-12-02), no pair may appear in two runs' sets, and no pair may be in
the training data of the run that scored it (`<run>/data/train.jsonl`). It reads eval files only:
no model is loaded. Knows nothing about how the runs were trained.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from relevance.datasets.jsonl import load_jsonl
from relevance.metrics import bootstrap_interval, classification_report, query_interval
from relevance.ranking_metrics import ranking_report
from relevance.stages import EVAL_STAGES
from training.data.folds import pair_key
from training.evaluate import markdown_table, paired_differences, table_rows
from training.run import RunLayout


class PoolError(ValueError):
    """The runs cannot be pooled honestly (a pair scored twice, trained on, or unidentified)."""


def _stage_results(run_dir: Path) -> dict[str, dict[str, Any]]:
    eval_dir = RunLayout(run_dir).eval_dir
    return {p.stem: json.loads(p.read_text()) for p in sorted(eval_dir.glob("*.json")) if p.stem in EVAL_STAGES}


def _trained_keys(run_dir: Path) -> set[str]:
    train = RunLayout(run_dir).train_pairs
    if not train.is_file():
        raise PoolError(f"{run_dir}: no training data at {train}; pooling needs it to prove the held-out set was not trained on")
    return {pair_key(p) for p in load_jsonl(train)}


def _pooled_report(parts: list[dict[str, Any]]) -> dict[str, Any]:
    gold = [g for p in parts for g in p["gold"]]
    pred = [x for p in parts for x in p["pred"]]
    report = classification_report(gold, pred)
    report["macro_f1_ci90"] = [round(v, 4) for v in bootstrap_interval(gold, pred)]
    if all(p.get("query_keys") is not None for p in parts):
        report["query_keys"] = [q for p in parts for q in p["query_keys"]]
        report["queries"] = len(set(report["query_keys"]))
        report["macro_f1_ci90_by_query"] = query_interval(gold, pred, report["query_keys"])
    probs = [x for p in parts for x in p.get("gold_probs") or [None] * len(p["gold"])]
    report["gold_nll"] = None if any(x is None for x in probs) else sum(-math.log(max(x, 1e-6)) for x in probs) / len(probs)
    report["gold"], report["pred"] = gold, pred
    scores = [_scores(p) for p in parts]
    if all(s is not None for s in scores):
        report["ranking"] = ranking_report(gold, [x for s in scores for x in s])
    report["hallucination"] = {"hallucination_rate": None}
    return report


def _scores(part: dict[str, Any]) -> list[float] | None:
    """A stage's ranking scores on its pairs: as recorded, else the expected level from its probabilities
    (the score is that level rescaled, so the order is the same); None when neither was kept."""
    if part.get("scores") is not None:
        return list(part["scores"])
    probs, levels = part.get("probs"), part.get("prob_levels")
    if not probs or not levels or any(p is None for p in probs):
        return None
    return [sum(lv * x for lv, x in zip(levels, p, strict=True)) for p in probs]


def pooled_reports(run_dirs: list[Path], set_name: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The pooled pairs' keys, and per stage evaluated in every run its report on them (with `gold` and `pred`,
    in the keys' order): `set_name` of each run, concatenated, after every honesty check of this module."""
    if len(run_dirs) < 2:
        raise PoolError("pool at least two runs (one per fold)")
    if len({Path(r).resolve() for r in run_dirs}) < len(run_dirs):
        raise PoolError(f"a run is given twice ({', '.join(map(str, run_dirs))}): give one run per fold")
    per_run = {Path(r): _stage_results(Path(r)) for r in run_dirs}
    stages = [s for s in EVAL_STAGES if all(s in results for results in per_run.values())]
    if not stages:
        raise PoolError(f"no stage has an eval file in every run ({', '.join(map(str, per_run))}): run their eval stage")
    seen: dict[str, Path] = {}
    for run_dir, results in per_run.items():
        trained = _trained_keys(run_dir)
        keys = None
        for stage in stages:
            r = results[stage]["sets"].get(set_name)
            if r is None:
                raise PoolError(f"{run_dir}: stage {stage} has no eval of set {set_name!r}")
            if "pair_keys" not in r:
                raise PoolError(f"{run_dir}: the {stage} eval of {set_name!r} has no pair_keys (written before 2026-12-02): re-run its eval stage")
            if keys is not None and r["pair_keys"] != keys:
                raise PoolError(f"{run_dir}: stages scored different pairs of {set_name!r}")
            keys = r["pair_keys"]
        if leaked := trained.intersection(keys or ()):
            raise PoolError(f"{run_dir}: {len(leaked)} pair(s) of {set_name!r} are in that run's training data; pool only held-out sets")
        for k in keys or ():
            if k in seen:
                raise PoolError(f"pair {k} is in {set_name!r} of both {seen[k]} and {run_dir}: the folds overlap")
            seen[k] = run_dir
    pooled = {s: _pooled_report([per_run[r][s]["sets"][set_name] for r in per_run]) for s in stages}
    return list(seen), pooled


def pool_runs(run_dirs: list[Path], set_name: str) -> dict[str, Any]:
    """Per stage evaluated in every run: `set_name` of each run, concatenated, as one report.

    Returns {"runs", "set", "n", "stages": {stage: report}, "rows": table rows, "paired": paired differences}.
    """
    keys, reports = pooled_reports(run_dirs, set_name)
    pooled = {s: {"sets": {set_name: r}} for s, r in reports.items()}
    stages = list(reports)
    rows = table_rows(pooled)
    return {
        "runs": [str(r) for r in run_dirs],
        "set": set_name,
        "n": len(keys),
        "stages": {s: {k: v for k, v in pooled[s]["sets"][set_name].items() if k not in ("gold", "pred", "query_keys")} for s in stages},
        "rows": rows,
        "paired": paired_differences(pooled),
    }


def pooled_markdown(result: dict[str, Any]) -> str:
    """The pooled table and its paired differences, as markdown."""
    rows = [{k: v for k, v in r.items() if k != "hallucination_rate"} for r in result["rows"]]
    text = f"Pooled {result['set']!r} over {len(result['runs'])} runs, n = {result['n']}:\n\n{markdown_table(rows)}\n"
    if result["paired"]:
        text += f"\nPaired differences (bootstrap 90% intervals):\n\n{markdown_table(result['paired'])}\n"
    return text
