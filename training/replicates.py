"""Seed replicates of a cross-fit: each stage's pooled metric averaged over training seeds, with intervals over pairs.

One cross-fit (`training.pooled`) is one draw of the training seed: on the 100 ESCI dev pairs two seeds of
the same GRPO recipe, from the same DPO checkpoint, pooled 0.382 and 0.288 macro-F1. A single cross-fit
therefore cannot tell two recipes apart by less than the seed moves them. Given the same recipe cross-fitted
R times with other seeds (the same folds), this module reports per stage the mean over the R pooled
metrics, each replicate's value (their spread is the seed's noise), and a bootstrap interval of the mean
that resamples the pairs jointly for every replicate; likewise the paired differences of each trained
stage against the reference judges and against the stage it was trained from. Every replicate passes
`training.pooled`'s honesty checks, and all of them must hold out exactly the same pairs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from relevance.metrics import classification_report, percentile_interval
from relevance.stages import REFERENCE_STAGES
from training.evaluate import markdown_table
from training.pooled import PoolError, pooled_reports

TRAINED_STAGES = ("sft", "dpo", "grpo")
METRICS = ("macro_f1", "balanced_accuracy")


def _aligned(cross_fits: list[list[Path]], set_name: str) -> tuple[list[str], list[dict[str, dict[str, Any]]]]:
    """Each replicate's pooled reports with gold and pred reordered to the first replicate's pair order."""
    keys, first = pooled_reports(cross_fits[0], set_name)
    replicates = [first]
    for runs in cross_fits[1:]:
        other_keys, reports = pooled_reports(runs, set_name)
        if set(other_keys) != set(keys):
            raise PoolError(
                f"the replicate {', '.join(map(str, runs))} holds out other pairs than {', '.join(map(str, cross_fits[0]))}: "
                "replicates must be the same folds trained with other seeds"
            )
        where = {k: i for i, k in enumerate(other_keys)}
        order = [where[k] for k in keys]
        replicates.append({s: {**r, "gold": [r["gold"][i] for i in order], "pred": [r["pred"][i] for i in order]} for s, r in reports.items()})
    return keys, replicates


def _comparisons(stages: list[str]) -> list[tuple[str, str]]:
    """(stage, against): each trained stage against every reference judge and the trained stage before it."""
    pairs = []
    trained = [s for s in stages if s in TRAINED_STAGES]
    for i, stage in enumerate(trained):
        pairs += [(stage, ref) for ref in REFERENCE_STAGES if ref in stages]
        if i:
            pairs.append((stage, trained[i - 1]))
    return pairs


def _interval(values: list[float], level: float = 0.9) -> list[float]:
    return [round(v, 4) for v in percentile_interval(values, level)]


def pool_replicates(cross_fits: list[list[Path]], set_name: str, *, rounds: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Mean over replicates (cross-fits of one recipe with other seeds) of each stage's pooled metrics.

    Returns {"cross_fits", "set", "n", "replicates", "rows": per stage, "paired": per comparison}; every
    value comes with its per-replicate list and a 90% bootstrap interval of the mean over resampled pairs.
    """
    if len(cross_fits) < 2:
        raise PoolError("give at least two replicates (the same folds trained with other seeds)")
    every_run = [Path(r).resolve() for runs in cross_fits for r in runs]
    if len(set(every_run)) < len(every_run):
        raise PoolError("a run is in two replicates: each replicate is its own training of the folds")
    keys, replicates = _aligned(cross_fits, set_name)
    stages = [s for s in replicates[0] if all(s in r for r in replicates)]
    if not stages:
        raise PoolError("no stage was evaluated in every replicate: run the same eval stages in each")
    gold, n = replicates[0][stages[0]]["gold"], len(keys)

    def metrics(idx: list[int] | None) -> dict[tuple[int, str], dict[str, float]]:
        g = gold if idx is None else [gold[i] for i in idx]
        out = {}
        for r, reports in enumerate(replicates):
            for s in stages:
                pred = reports[s]["pred"] if idx is None else [reports[s]["pred"][i] for i in idx]
                report = classification_report(g, pred)
                out[r, s] = {m: report[m] for m in METRICS}
        return out

    rng = random.Random(seed)
    point = metrics(None)
    draws = [metrics([rng.randrange(n) for _ in range(n)]) for _ in range(rounds)]
    count = len(replicates)

    def mean(values: dict[tuple[int, str], dict[str, float]], metric: str, stage: str, against: str | None = None) -> float:
        return sum(values[r, stage][metric] - (values[r, against][metric] if against else 0.0) for r in range(count)) / count

    rows = []
    for s in stages:
        row: dict[str, Any] = {"stage": s, "set": set_name, "n": n}
        for m in METRICS:
            row[f"{m}_mean"] = round(mean(point, m, s), 4)
            row[f"{m}_mean_ci90"] = _interval([mean(d, m, s) for d in draws])
            row[f"{m}_per_replicate"] = [round(point[r, s][m], 4) for r in range(count)]
        nll = [rep[s].get("gold_nll") for rep in replicates]
        row["gold_nll_mean"] = None if None in nll else round(sum(nll) / count, 4)
        rows.append(row)
    paired = []
    for stage, against in _comparisons(stages):
        row = {"set": set_name, "stage": stage, "against": against, "n": n}
        for m in METRICS:
            row[f"{m}_diff_mean"] = round(mean(point, m, stage, against), 4)
            row[f"{m}_diff_mean_ci90"] = _interval([mean(d, m, stage, against) for d in draws])
            row[f"{m}_diff_per_replicate"] = [round(point[r, stage][m] - point[r, against][m], 4) for r in range(count)]
        paired.append(row)
    return {
        "cross_fits": [[str(r) for r in runs] for runs in cross_fits],
        "set": set_name,
        "n": n,
        "replicates": count,
        "rows": rows,
        "paired": paired,
    }


def replicates_markdown(result: dict[str, Any]) -> str:
    """The replicate means and their paired differences, as markdown."""
    text = f"Mean over {result['replicates']} replicates of the cross-fit, {result['set']!r}, n = {result['n']}:\n\n"
    text += markdown_table(result["rows"]) + "\n"
    if result["paired"]:
        text += f"\nPaired differences, mean over replicates (bootstrap 90% intervals):\n\n{markdown_table(result['paired'])}\n"
    return text
