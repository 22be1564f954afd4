"""Paired comparison of two judges' eval reports on the pairs both scored (`taosr1 compare`).

Reads what `taosr1 eval --per-pair --out` or a run's `taosr1 train eval` wrote (every pair's key,
gold level and prediction), keeps the pairs the two reports share, and gives each judge's
macro-F1, accuracy, per-class F1 and `auc_exact` on them, and the differences with two 90 %
bootstrap intervals: over resampled pairs, and over resampled *queries* (the products of one
query are not independent draws, so on files with many products per query the by-query interval
is the one that speaks for unseen queries). Reports written before query keys were recorded get
them from `--data`, the labelled file they scored. Knows nothing about models; reads JSON only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from relevance.metrics import bootstrap_interval, classification_report, query_interval
from relevance.ranking_metrics import auc

PER_PAIR_FIELDS = ("pair_keys", "gold", "pred")


class CompareError(ValueError):
    """Two reports that cannot be compared pair by pair; the message says what to rerun."""


def load_report(path: Path, set_name: str | None = None) -> dict[str, Any]:
    """The per-pair report in `path`: a `taosr1 eval --out` file, or one set of a `taosr1 train eval` stage file."""
    report = json.loads(Path(path).read_text())
    if "sets" in report:
        sets = report["sets"]
        if set_name is None and len(sets) == 1:
            set_name = next(iter(sets))
        if set_name not in sets:
            raise CompareError(f"{path}: pick the set to compare with --set (it holds {sorted(sets)})")
        report = sets[set_name]
    if missing := [f for f in PER_PAIR_FIELDS if report.get(f) is None]:
        raise CompareError(f"{path}: no {', '.join(missing)}; write the report with `taosr1 eval --per-pair --out FILE`")
    return report


def _metrics(rep: dict[str, Any], gold: list[int], scores: list[float] | None) -> dict[str, Any]:
    """One judge's figures on the shared pairs, from its classification report and ranking scores."""
    out = {
        "macro_f1": round(rep["macro_f1"], 4),
        "accuracy": round(rep["accuracy"], 4),
        "balanced_accuracy": round(rep["balanced_accuracy"], 4),
        "f1": {str(lv): round(c["f1"], 4) for lv, c in rep["per_class"].items()},
    }
    if scores is not None:
        value = auc(np.asarray(gold) == 4, np.asarray(scores, dtype=np.float64))
        out["auc_exact"] = None if value is None else round(float(value), 4)
    return out


def compare_reports(a: dict[str, Any], b: dict[str, Any], *, queries_by_pair: dict[str, str] | None = None) -> dict[str, Any]:
    """Judge A minus judge B on the pairs both reports hold.

    >>> a = {"pair_keys": list("abcdef"), "gold": [4, 4, 3, 3, 1, 1], "pred": [4, 4, 3, 3, 1, 3], "query_keys": list("xxyyzz")}
    >>> b = {"pair_keys": list("fedcba"), "gold": [1, 1, 3, 3, 4, 4], "pred": [1, 1, 4, 4, 4, 4]}
    >>> r = compare_reports(a, b)
    >>> r["n"], r["queries"], r["a"]["accuracy"], r["b"]["accuracy"], r["accuracy_diff"]
    (6, 3, 0.8333, 0.6667, 0.1667)
    >>> r["macro_f1_diff_ci90_by_query"] is None  # three queries are too few to resample
    True
    """
    index_b = {k: i for i, k in enumerate(b["pair_keys"])}
    shared = [(i, index_b[k]) for i, k in enumerate(a["pair_keys"]) if k in index_b]
    if not shared:
        raise CompareError("the two reports share no pair: compare evals of the same labelled file (or overlapping folds)")
    disagree = [a["pair_keys"][i] for i, j in shared if a["gold"][i] != b["gold"][j]]
    if disagree:
        raise CompareError(f"{len(disagree)} shared pair(s) have different gold levels (first: {disagree[0]}): the reports scored different labels")
    gold = [a["gold"][i] for i, _ in shared]
    pred_a, pred_b = [a["pred"][i] for i, _ in shared], [b["pred"][j] for _, j in shared]
    queries = _queries(a, b, shared, queries_by_pair)
    scores_a = [a["scores"][i] for i, _ in shared] if a.get("scores") is not None else None
    scores_b = [b["scores"][j] for _, j in shared] if b.get("scores") is not None else None
    raw_a, raw_b = classification_report(gold, pred_a), classification_report(gold, pred_b)
    result: dict[str, Any] = {
        "n": len(shared),
        "only_a": len(a["pair_keys"]) - len(shared),
        "only_b": len(b["pair_keys"]) - len(shared),
        "queries": len(set(queries)) if queries is not None else None,
        "n_per_class": {str(lv): c["support"] for lv, c in raw_a["per_class"].items()},
        "a": _metrics(raw_a, gold, scores_a),
        "b": _metrics(raw_b, gold, scores_b),
    }
    for metric in ("macro_f1", "accuracy"):
        result[f"{metric}_diff"] = round(raw_a[metric] - raw_b[metric], 4)
        result[f"{metric}_diff_ci90"] = [round(v, 4) for v in bootstrap_interval(gold, pred_a, metric, other=pred_b)]
        result[f"{metric}_diff_ci90_by_query"] = query_interval(gold, pred_a, queries, metric, other=pred_b) if queries is not None else None
    return result


def _queries(a: dict[str, Any], b: dict[str, Any], shared: list[tuple[int, int]], queries_by_pair: dict[str, str] | None) -> list[str] | None:
    """Each shared pair's query key: from either report, else from `queries_by_pair`; None when no source has them all."""
    if a.get("query_keys") is not None:
        return [a["query_keys"][i] for i, _ in shared]
    if b.get("query_keys") is not None:
        return [b["query_keys"][j] for _, j in shared]
    if queries_by_pair is None:
        return None
    keys = [a["pair_keys"][i] for i, _ in shared]
    if unknown := [k for k in keys if k not in queries_by_pair]:
        raise CompareError(f"{len(unknown)} compared pair(s) are not in --data (first: {unknown[0]}): give the labelled file the reports scored")
    return [queries_by_pair[k] for k in keys]


def queries_by_pair_key(data: str, format: str | None = None) -> dict[str, str]:
    """pair key → query key for every pair of a labelled file (or one query fold of it)."""
    from training.data.folds import pair_key, query_key
    from training.run import load_source

    return {pair_key(p): query_key(p.query) for p in load_source(data, format)}
