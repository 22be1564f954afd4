"""Eval after a stage: serving-path metrics per set, hallucination rate, and the per-stage table."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relevance.datasets.jsonl import save_jsonl
from relevance.datasets.loaders import load_pairs
from relevance.engines.transformers_engine import TransformersEngine
from relevance.judge import Judge
from relevance.labels import TAOSR1
from relevance.metrics import classification_report
from training.config import build_config
from training.data.folds import pair_key, query_key
from training.data.synthetic import generate_hard_set
from training.evaluate import EvalConfig, hallucination, markdown_table, paired_differences, run_eval
from training.run import DataConfig, RunConfig, RunLayout

ESCI = Path(__file__).resolve().parents[2] / "training" / "data" / "fixtures" / "esci_dev.csv"


def test_hallucination_counts_only_readable_verdicts():
    rationales = ["5. Verdict: 3 Related", "5. Verdict: 2 Mismatch", "5. Verdict: Irrelevant", "Verdict: ???", ""]
    assert hallucination([3, 3, 1, 4, 2], rationales, TAOSR1) == {
        "explained": 5, "verdict_readable": 0.6, "hallucination_rate": round(1 / 3, 4)
    }
    assert hallucination([4], ["no verdict at all"], TAOSR1)["hallucination_rate"] is None


def test_markdown_table_has_one_row_per_stage_and_set():
    rows = [{"stage": "sft", "set": "a", "macro_f1": 0.5}, {"stage": "dpo", "set": "a", "macro_f1": 0.6}]
    lines = markdown_table(rows).splitlines()
    assert lines[0] == "| stage | set | macro_f1 |" and lines[2] == "| sft | a | 0.5 |" and len(lines) == 4


def test_run_eval_writes_a_per_stage_table_from_the_serving_path(tmp_path, label_sft_dir, cache_dir):
    run = build_config(RunConfig, {"run_dir": str(tmp_path / "run"), "cache_dir": str(cache_dir), "retrieval": False, "dtype": "float32"})
    layout = RunLayout(run.run_dir)
    shutil.copytree(label_sft_dir, layout.final("sft"))
    shutil.copytree(label_sft_dir, layout.final("dpo"))  # any checkpoint stands in for a stage here
    save_jsonl(generate_hard_set(2, 3, seed=0), layout.hard_pairs)
    data = build_config(DataConfig, {"esci_eval": str(ESCI)})
    cfg = build_config(
        EvalConfig,
        {"stages": ["sft", "dpo", "grpo"], "limit": 6, "explain_samples": 2, "explain_max_new_tokens": 8, "eval_device": "cpu"},
    )
    result = run_eval(run, data, cfg)
    rows = json.loads((layout.eval_dir / "table.json").read_text())
    assert rows == result["rows"]
    assert [(r["stage"], r["set"], r["n"]) for r in rows] == [
        ("sft", "synthetic-hard", 6), ("sft", "esci-dev", 6), ("dpo", "synthetic-hard", 6), ("dpo", "esci-dev", 6)
    ]  # no grpo checkpoint: skipped
    assert {"accuracy", "macro_f1", "balanced_accuracy", "gold_nll", "f1_4", "f1_3", "f1_2", "f1_1", "hallucination_rate"} <= set(rows[0])
    table = (layout.eval_dir / "table.md").read_text()
    assert table.count("| sft |") == 2 and table.count("| dpo |") == 2
    assert json.loads((layout.eval_dir / "paired.json").read_text()) == []  # no base or baseline evaluated here
    assert (layout.eval_dir / "confusion-sft.png").stat().st_size > 1000  # one confusion-matrix PNG per stage
    # the numbers are what serving's judge gives for the same pairs
    pairs = load_pairs(ESCI)[:6]
    judge = Judge(TransformersEngine(layout.final("sft"), cache_dir=cache_dir, dtype="float32"))
    scored = judge.score_pairs([p.query for p in pairs], [p.product for p in pairs])
    expected = classification_report([p.level for p in pairs], [s.level for s in scored])
    report = json.loads((layout.eval_dir / "sft.json").read_text())["sets"]["esci-dev"]
    assert report["accuracy"] == expected["accuracy"] and report["macro_f1"] == expected["macro_f1"]
    assert report["hallucination"]["explained"] == 2
    assert report["balanced_accuracy"] == expected["balanced_accuracy"] and report["gold_nll"] > 0
    # each pair is identified and carries its gold level's probability, so folds can be pooled
    assert report["pair_keys"] == [pair_key(p) for p in pairs]
    assert report["query_keys"] == [query_key(p.query) for p in pairs] and report["queries"] == len({p.query for p in pairs})
    assert "macro_f1_ci90_by_query" in rows[0]
    assert report["gold_probs"] == [pytest.approx(s.probs[p.level], abs=1e-6) for s, p in zip(scored, pairs, strict=True)]
    # and every level's probability, in the order prob_levels names
    assert report["prob_levels"] == [4, 3, 2, 1]
    assert report["probs"] == [pytest.approx([s.probs[lv] for lv in (4, 3, 2, 1)], abs=1e-5) for s in scored]


def _one_set(gold: list[int], pred: list[int], queries: list[str] | None) -> dict:
    report = {"gold": gold, "pred": pred}
    if queries is not None:
        report["query_keys"] = queries
    return {"sets": {"real": report}}


def test_paired_differences_resample_whole_queries_when_both_reports_name_them():
    gold = [4, 1] * 20
    queries = [f"q{i // 4}" for i in range(40)]  # ten queries of four pairs
    right_on_even_queries = [g if (i // 4) % 2 == 0 else 5 - g for i, g in enumerate(gold)]
    row = paired_differences({"baseline": _one_set(gold, [4] * 40, queries), "sft": _one_set(gold, right_on_even_queries, queries)})[0]
    qlo, qhi = row["macro_f1_diff_ci90_by_query"]
    lo, hi = row["macro_f1_diff_ci90"]
    assert qlo <= row["macro_f1_diff"] <= qhi and qhi - qlo > hi - lo
    without = paired_differences({"baseline": _one_set(gold, [4] * 40, None), "sft": _one_set(gold, right_on_even_queries, queries)})
    assert "macro_f1_diff_ci90_by_query" not in without[0]  # only when both reports name the queries
