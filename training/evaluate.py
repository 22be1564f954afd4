"""Eval after a stage: per-class F1, macro-F1, accuracy, balanced accuracy and the gold level's
NLL on held-out sets, plus the discriminative-hallucination rate, written as one table per run (markdown + JSON).

Labels come from the serving path: `relevance.judge.Judge` (retrieval → `relevance.assemble`
→ `engine.label_scores` → `relevance.scoring`), so a stage is measured exactly as it would
serve; metrics from `relevance.metrics.classification_report`. On a small *explain* sample
the model writes its rationale after its own scored label (`Judge.explain`, greedy); the
rationale's verdict (`relevance.parse.verdict_level`) disagreeing with that label is a
discriminative hallucination. The rate is over explanations with a readable verdict
(None when there is none); `verdict_readable` says what share had one.
Output: `<run>/eval/<stage>.json` and `<run>/eval/confusion-<stage>.png` per stage, and
`<run>/eval/table.{md,json}` over every stage evaluated so far, with `paired.json`: each LLM
stage minus the zero-shot base and the cross-encoder on the same pairs (paired bootstrap). Each
set's report keeps every pair's key, gold level, prediction and gold-level probability, so runs
trained on other folds can be pooled (`training.pooled`). Knows nothing about training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance.labels import TAOSR1
from relevance.metrics import bootstrap_interval, classification_report, gold_nll, query_interval
from relevance.parse import verdict_level
from relevance.ranking_metrics import ranking_report
from relevance.scoring import DEFAULT_BETA
from relevance.stages import EVAL_STAGES, REFERENCE_STAGES
from relevance.types import LabeledPair
from training.config import option
from training.confusion_plot import plot_stage
from training.data.folds import pair_key, query_key
from training.run import DataConfig, RunConfig, RunLayout, eval_sets, log, open_retriever


@dataclass
class EvalConfig:
    stages: list[str] = option(
        ["baseline", "sft", "dpo", "grpo"],
        "stages whose final checkpoints are evaluated ('base' = the run's base model on the trained prompt, 'zeroshot' = "
        "the base model on a short zero-shot prompt (relevance.zero_shot), 'baseline' = the MiniLM cross-encoder)",
    )
    sets: list[str] = option(["synthetic-hard", "esci-dev"], "evaluation sets by name (see training.run.eval_sets)")
    limit: int | None = option(None, "evaluate at most this many pairs per set (the first N)")
    beta: float = option(DEFAULT_BETA, "CumPT β used for tiers (as serving)")
    explain_samples: int = option(16, "pairs per set whose rationale is generated to measure hallucination (0 = skip)")
    explain_max_new_tokens: int = option(160, "longest generated rationale")
    eval_engine: str = option("transformers", "engine that scores: auto (the service's TAOSR1_ENGINE), transformers or vllm")
    eval_device: str = option("auto", "device of the transformers engine: auto (cuda when available), cpu, cuda")
    without_own_query: bool = option(
        False,
        "leave each pair's own query out of its retrieved cases, as the training prompts do: for evaluating rows whose "
        "queries are in the run's cases index (its training rows); a held-out set has none there, so it changes nothing",
    )

    def validate(self) -> None:
        unknown = [s for s in self.stages if s not in EVAL_STAGES]
        if unknown:
            raise ValueError(f"eval.stages {unknown} are not among {list(EVAL_STAGES)}")


def hallucination(levels: list[int], rationales: list[str], scheme) -> dict[str, Any]:
    """Share of readable rationales whose verdict disagrees with the emitted label.

    >>> from relevance.labels import TAOSR1
    >>> hallucination([4, 2, 3], ["5. Verdict: 4 Excellent", "5. Verdict: 1 Irrelevant", "no verdict"], TAOSR1)
    {'explained': 3, 'verdict_readable': 0.6667, 'hallucination_rate': 0.5}
    """
    verdicts = [verdict_level(r, scheme) for r in rationales]
    readable = [(lv, v) for lv, v in zip(levels, verdicts, strict=True) if v is not None]
    return {
        "explained": len(levels),
        "verdict_readable": round(len(readable) / len(levels), 4) if levels else 0.0,
        "hallucination_rate": round(sum(1 for lv, v in readable if lv != v) / len(readable), 4) if readable else None,
    }


def per_pair_records(pairs: list[LabeledPair], scored) -> dict[str, Any]:
    """Every pair's key, gold level, prediction, ranking score and each level's probability (best level first).

    Paired comparisons between stages, pooling across folds (`training.pooled`) and decision rules
    other than argmax, studied offline, all read these.
    """
    gold = [p.level for p in pairs]
    return {
        "gold": gold,
        "pred": [s.level for s in scored],
        "scores": [round(s.score, 6) for s in scored],
        "pair_keys": [pair_key(p) for p in pairs],
        "query_keys": [query_key(p.query) for p in pairs],
        "gold_probs": [s.probs.get(g) if getattr(s, "probs", None) else None for s, g in zip(scored, gold, strict=True)],
        "prob_levels": list(TAOSR1.level_values),
        "probs": [
            [round(s.probs.get(lv, 0.0), 6) for lv in TAOSR1.level_values] if getattr(s, "probs", None) else None
            for s in scored
        ],
    }


def by_query_interval(gold: list[int], pred: list[int | None], queries: list[str]) -> dict[str, Any]:
    """The set's query count and its macro-F1 interval from resampling whole queries (None under
    `relevance.metrics.MIN_QUERIES_FOR_INTERVAL` queries): next to `macro_f1_ci90`, which resamples
    pairs and is too narrow when a query has many products.

    >>> r = by_query_interval([4, 1] * 10, [4, 1] * 10, [f"q{i // 2}" for i in range(20)])
    >>> r["queries"], r["macro_f1_ci90_by_query"]
    (10, [1.0, 1.0])
    """
    keys = [query_key(q) for q in queries]
    return {"queries": len(set(keys)), "macro_f1_ci90_by_query": query_interval(gold, pred, keys)}


def evaluate_judge(judge, pairs: list[LabeledPair], cfg: EvalConfig) -> dict[str, Any]:
    """Metrics of one engine-backed judge on labelled pairs."""
    scored = judge.score_pairs([p.query for p in pairs], [p.product for p in pairs], beta=cfg.beta)
    gold, pred = [p.level for p in pairs], [s.level for s in scored]
    report = classification_report(gold, pred)
    report["macro_f1_ci90"] = [round(v, 4) for v in bootstrap_interval(gold, pred)]
    report.update(by_query_interval(gold, pred, [p.query for p in pairs]))
    report["gold_nll"] = gold_nll(gold, [getattr(s, "probs", None) for s in scored])
    report.update(per_pair_records(pairs, scored))
    report["ranking"] = ranking_report(gold, report["scores"], [p.query for p in pairs])
    if not getattr(judge, "explains", True):  # the cross-encoder baseline has no rationale
        report["hallucination"] = {"explained": 0, "verdict_readable": 0.0, "hallucination_rate": None}
        report["explain_examples"] = []
        return report
    sample = list(range(min(cfg.explain_samples, len(pairs))))
    levels, rationales = [], []
    for i in sample:
        answer = judge.explain(pairs[i].query, pairs[i].product, scored[i].level, max_new_tokens=cfg.explain_max_new_tokens)
        levels.append(scored[i].level)
        rationales.append(answer.reasoning)
    report["hallucination"] = hallucination(levels, rationales, judge.engine.scheme)
    report["explain_examples"] = [{"label": lv, "reasoning": r[:400]} for lv, r in list(zip(levels, rationales, strict=True))[:3]]
    return report


def evaluate_checkpoint(
    model_dir: Path, sets: dict[str, list[LabeledPair]], cfg: EvalConfig, run: RunConfig, retriever, zero_shot: bool = False
) -> dict[str, Any]:
    """Every set scored by the checkpoint (with `zero_shot`: on the short zero-shot prompt, no retrieval)."""
    from relevance.cross_encoder import CrossEncoderJudge, CrossEncoderModel, is_cross_encoder
    from relevance.judge import Judge
    from relevance.zero_shot import zero_shot_judge
    from training.engines import open_engine
    from training.policy import pick_device

    if is_cross_encoder(model_dir):
        engine = CrossEncoderModel.load(model_dir, pick_device(cfg.eval_device))
    else:
        engine = open_engine(model_dir, Path(run.cache_dir), cfg.eval_engine, pick_device(cfg.eval_device), run.dtype)
    try:
        if is_cross_encoder(model_dir):
            judge = CrossEncoderJudge(engine)
        else:
            judge = zero_shot_judge(engine) if zero_shot else Judge(engine, retriever)
        m = engine.manifest
        stage = "zeroshot" if zero_shot else m.stage
        out = {"checkpoint": str(model_dir), "model": {"name": m.name, "stage": stage, "kind": m.kind}, "engine": engine.name, "sets": {}}
        out["without_own_query"] = bool(cfg.without_own_query) and getattr(judge, "retriever", None) is not None
        for name, pairs in sets.items():
            out["sets"][name] = evaluate_judge(judge, pairs, cfg)
            r = out["sets"][name]
            log(f"eval {stage} on {name}: n={r['n']} acc={r['accuracy']:.3f} macro-F1={r['macro_f1']:.3f} halluc={r['hallucination']['hallucination_rate']}")
    finally:
        engine.close()
    return out


def table_rows(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (stage, set), stages in pipeline order."""
    rows = []
    for stage in sorted(results, key=lambda s: EVAL_STAGES.index(s) if s in EVAL_STAGES else 99):
        for set_name, r in results[stage]["sets"].items():
            row = {"stage": stage, "set": set_name, "n": r["n"], "accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4)}
            row["macro_f1_ci90"] = r.get("macro_f1_ci90")
            row["macro_f1_ci90_by_query"] = r.get("macro_f1_ci90_by_query")
            row["balanced_accuracy"] = round(r["balanced_accuracy"], 4) if "balanced_accuracy" in r else None
            row["gold_nll"] = round(r["gold_nll"], 4) if r.get("gold_nll") is not None else None
            row["auc_exact"] = (r.get("ranking") or {}).get("auc_exact")  # ranking quality of the score (relevance.ranking_metrics)
            row["n_per_class"] = "/".join(str(r["per_class"][lv]["support"]) for lv in r["per_class"])
            for level, c in r["per_class"].items():
                row[f"f1_{level}"] = round(c["f1"], 4)
            row["hallucination_rate"] = r["hallucination"]["hallucination_rate"]
            rows.append(row)
    return rows


def paired_differences(results: dict[str, dict[str, Any]], against: tuple[str, ...] = REFERENCE_STAGES) -> list[dict[str, Any]]:
    """Each trained LLM stage minus `base`, `zeroshot` and the cross-encoder `baseline` on the same pairs, per set:
    the macro-F1 and balanced-accuracy differences with paired-bootstrap 90% intervals.

    >>> res = {s: {"sets": {"real": {"gold": [4, 4, 1, 1] * 5, "pred": p * 5}}} for s, p in
    ...        {"baseline": [4, 4, 4, 1], "sft": [4, 4, 1, 1]}.items()}
    >>> row = paired_differences(res)[0]
    >>> row["stage"], row["against"], row["macro_f1_diff"], row["balanced_accuracy_diff"]
    ('sft', 'baseline', 0.2667, 0.25)
    """
    rows = []
    stages = sorted(results, key=lambda s: EVAL_STAGES.index(s) if s in EVAL_STAGES else 99)
    for stage in (s for s in stages if s not in against):
        for other in (o for o in against if o in results):
            for set_name, r in results[stage]["sets"].items():
                o = results[other]["sets"].get(set_name)
                if not o or "gold" not in r or "gold" not in o or r["gold"] != o["gold"]:
                    continue
                row: dict[str, Any] = {"set": set_name, "stage": stage, "against": other, "n": len(r["gold"])}
                mine, theirs = classification_report(r["gold"], r["pred"]), classification_report(o["gold"], o["pred"])
                for metric in ("macro_f1", "balanced_accuracy"):
                    ci = bootstrap_interval(r["gold"], r["pred"], metric, other=o["pred"])
                    row[f"{metric}_diff"] = round(mine[metric] - theirs[metric], 4)
                    row[f"{metric}_diff_ci90"] = [round(v, 4) for v in ci]
                queries = r.get("query_keys")
                if queries is not None and queries == o.get("query_keys"):
                    row["macro_f1_diff_ci90_by_query"] = query_interval(r["gold"], r["pred"], queries, other=o["pred"])
                rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a markdown table (None shown as '–').

    >>> print(markdown_table([{"stage": "sft", "macro_f1": 0.5, "hallucination_rate": None}]))
    | stage | macro_f1 | hallucination_rate |
    |---|---|---|
    | sft | 0.5 | – |
    """
    if not rows:
        return "(no evaluated stage)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join("–" if r.get(c) is None else str(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _load_sets(data: DataConfig, layout: RunLayout, cfg: EvalConfig) -> dict[str, list[LabeledPair]]:
    from training.data.folds import parse_source
    from training.run import load_source

    available = eval_sets(data, layout)
    sets = {}
    for name in cfg.sets:
        if name not in available:
            raise ValueError(f"eval set {name!r} is not configured; available: {sorted(available)}")
        if not Path(parse_source(str(available[name]))[0]).exists():
            log(f"eval: skipping {name} ({available[name]} does not exist)")
            continue
        pairs = load_source(str(available[name]))
        sets[name] = pairs[: cfg.limit] if cfg.limit is not None else pairs
    return sets


def run_eval(run: RunConfig, data: DataConfig, cfg: EvalConfig, layout: RunLayout | None = None) -> dict[str, Any]:
    """Evaluate every requested stage that has a final checkpoint; rewrite the run's table."""
    from relevance.checkpoint import resolve_base_model

    layout = layout or RunLayout(run.run_dir, run.index_dir)
    sets = _load_sets(data, layout, cfg)
    retriever = open_retriever(run, layout, cfg.without_own_query)
    layout.eval_dir.mkdir(parents=True, exist_ok=True)
    for stage in cfg.stages:
        untrained = stage in ("base", "zeroshot")
        folder = resolve_base_model(run.base_model, Path(run.cache_dir)) if untrained else layout.final(stage)
        if not (folder / "taosr1.json").is_file():
            log(f"eval: no {stage} checkpoint at {folder}; skipped")
            continue
        result = evaluate_checkpoint(folder, sets, cfg, run, retriever, zero_shot=stage == "zeroshot")
        (layout.eval_dir / f"{stage}.json").write_text(json.dumps(result, indent=2))
    results = {p.stem: json.loads(p.read_text()) for p in layout.eval_dir.glob("*.json") if p.stem in EVAL_STAGES}
    rows = table_rows(results)
    for stage, result in results.items():
        plot_stage(stage, result["sets"], layout.eval_dir / f"confusion-{stage}.png")
    paired = paired_differences(results)
    (layout.eval_dir / "table.json").write_text(json.dumps(rows, indent=2))
    (layout.eval_dir / "paired.json").write_text(json.dumps(paired, indent=2))
    paired_md = f"\nPaired differences (bootstrap 90% intervals):\n\n{markdown_table(paired)}\n" if paired else ""
    (layout.eval_dir / "table.md").write_text(markdown_table(rows) + "\n" + paired_md)
    log(f"eval: table of {len(rows)} rows in {layout.eval_dir / 'table.md'}")
    return {"rows": rows, "table": str(layout.eval_dir / "table.md")}
