"""Pooled cross-fit evaluation: concatenation per stage, and refusals when pooling would be dishonest."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from relevance.datasets.jsonl import save_jsonl
from relevance.metrics import classification_report
from relevance.types import LabeledPair, Product
from training.data.folds import pair_key, query_key
from training.pooled import PoolError, pool_runs, pooled_markdown
from training.run import RunLayout


def _pairs(prefix: str, levels: list[int]) -> list[LabeledPair]:
    return [LabeledPair(f"{prefix} query {i}", Product(f"{prefix}{i}", f"title {i}"), lv) for i, lv in enumerate(levels)]


def _run(root: Path, name: str, held_out: list[LabeledPair], trained: list[LabeledPair], preds: dict[str, list[int]]) -> Path:
    layout = RunLayout(root / name)
    save_jsonl(trained, layout.train_pairs)
    layout.eval_dir.mkdir(parents=True)
    for stage, pred in preds.items():
        report = {
            "gold": [p.level for p in held_out], "pred": pred, "pair_keys": [pair_key(p) for p in held_out],
            "query_keys": [query_key(p.query) for p in held_out], "gold_probs": [0.5] * len(held_out),
        }
        (layout.eval_dir / f"{stage}.json").write_text(json.dumps({"sets": {"esci-select": report}}))
    return layout.root


def test_pooled_metrics_are_those_of_the_concatenated_folds(tmp_path):
    fold_a, fold_b = _pairs("a", [4, 4, 3, 1, 4]), _pairs("b", [4, 3, 3, 1])
    a = _run(tmp_path, "a", fold_a, fold_b, {"baseline": [4, 4, 4, 4, 4], "sft": [4, 3, 3, 1, 4], "zeroshot": [4] * 5})
    b = _run(tmp_path, "b", fold_b, fold_a, {"baseline": [4, 4, 3, 1], "sft": [4, 3, 4, 1], "grpo": [1, 1, 1, 1]})
    result = pool_runs([a, b], "esci-select")
    assert result["n"] == 9 and [r["stage"] for r in result["rows"]] == ["baseline", "sft"]  # only stages in both runs
    gold = [4, 4, 3, 1, 4, 4, 3, 3, 1]
    sft = classification_report(gold, [4, 3, 3, 1, 4, 4, 3, 4, 1])
    row = next(r for r in result["rows"] if r["stage"] == "sft")
    assert row["macro_f1"] == round(sft["macro_f1"], 4) and row["n_per_class"] == "4/3/0/2"
    assert row["gold_nll"] == round(-math.log(0.5), 4)
    assert [(p["stage"], p["against"], p["n"]) for p in result["paired"]] == [("sft", "baseline", 9)]
    # the folds' query keys travel with the pooled pairs: intervals over whole queries too
    assert result["stages"]["sft"]["queries"] == 9 and len(row["macro_f1_ci90_by_query"]) == 2
    assert len(result["paired"][0]["macro_f1_diff_ci90_by_query"]) == 2
    assert "n = 9" in pooled_markdown(result)


def test_pooling_refuses_overlapping_folds_and_trained_on_pairs(tmp_path):
    fold_a, fold_b = _pairs("a", [4, 3, 1]), _pairs("b", [4, 1])
    a = _run(tmp_path, "a", fold_a, fold_b, {"sft": [4, 3, 1]})
    twice = _run(tmp_path, "twice", fold_a, fold_b, {"sft": [4, 3, 1]})
    with pytest.raises(PoolError, match="both"):
        pool_runs([a, twice], "esci-select")
    leaky = _run(tmp_path, "leaky", fold_b, fold_b, {"sft": [4, 1]})  # scored its own training pairs
    with pytest.raises(PoolError, match="training data"):
        pool_runs([a, leaky], "esci-select")
    old = _run(tmp_path, "old", fold_b, fold_a, {"sft": [4, 1]})
    report = json.loads((old / "eval" / "sft.json").read_text())
    del report["sets"]["esci-select"]["pair_keys"]
    (old / "eval" / "sft.json").write_text(json.dumps(report))
    with pytest.raises(PoolError, match="pair_keys"):
        pool_runs([a, old], "esci-select")


def test_cli_pools_runs_and_refuses_overlap_with_exit_code_2(tmp_path):
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    fold_a, fold_b = _pairs("a", [4, 3, 1]), _pairs("b", [4, 1])
    a = _run(tmp_path, "a", fold_a, fold_b, {"baseline": [4, 4, 1], "sft": [4, 3, 1]})
    b = _run(tmp_path, "b", fold_b, fold_a, {"baseline": [4, 4], "sft": [4, 1]})
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    def pool(*runs: Path) -> subprocess.CompletedProcess:
        args = [a for r in runs for a in ("--run", str(r))]
        cmd = [sys.executable, "-m", "taosr1.cli", "train", "pool", *args, "--out", str(tmp_path / "pooled.json")]
        return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=120)

    done = pool(a, b)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    assert printed["n"] == 5 and [r["stage"] for r in printed["rows"]] == ["baseline", "sft"]
    assert json.loads((tmp_path / "pooled.json").read_text())["stages"]["sft"]["accuracy"] == 1.0
    assert "| sft | esci-select | 5 |" in done.stderr  # the markdown table
    again = _run(tmp_path, "again", fold_a, fold_b, {"baseline": [4, 4, 1], "sft": [4, 3, 1]})
    refused = pool(a, again)
    assert refused.returncode == 2 and "overlap" in refused.stderr and "Traceback" not in refused.stderr
    assert pool(a, a).returncode == 2
    a2 = _run(tmp_path, "a2", fold_a, fold_b, {"baseline": [4, 4, 1], "sft": [4, 4, 1]})
    b2 = _run(tmp_path, "b2", fold_b, fold_a, {"baseline": [4, 4], "sft": [4, 1]})
    cmd = [sys.executable, "-m", "taosr1.cli", "train", "pool", "--run", str(a), "--run", str(b), "--replicate", f"{b2},{a2}"]
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    sft = next(r for r in json.loads(done.stdout)["replicates"]["rows"] if r["stage"] == "sft")
    assert sft["macro_f1_per_replicate"][0] == 1.0 > sft["macro_f1_per_replicate"][1]
    assert "Mean over 2 replicates" in done.stderr


def test_replicates_average_each_seeds_pooled_metrics_on_aligned_pairs(tmp_path):
    from training.replicates import pool_replicates

    fold_a, fold_b = _pairs("a", [4, 4, 3, 1, 4]), _pairs("b", [4, 3, 3, 1])
    refs = {"baseline": [4, 4, 4, 4, 4]}, {"baseline": [4, 4, 3, 1]}
    seed1 = [_run(tmp_path, "a1", fold_a, fold_b, {**refs[0], "dpo": [4, 3, 3, 1, 4], "grpo": [4, 3, 3, 1, 4]}),
             _run(tmp_path, "b1", fold_b, fold_a, {**refs[1], "dpo": [4, 3, 4, 1], "grpo": [4, 3, 3, 1]})]
    seed2 = [_run(tmp_path, "b2", fold_b, fold_a, {**refs[1], "dpo": [4, 3, 4, 1], "grpo": [4, 4, 4, 4]}),  # other fold order
             _run(tmp_path, "a2", fold_a, fold_b, {**refs[0], "dpo": [4, 3, 3, 1, 4], "grpo": [4, 4, 4, 1, 4]})]
    result = pool_replicates([seed1, seed2], "esci-select", rounds=200)
    assert result["replicates"] == 2 and result["n"] == 9
    single = [{r["stage"]: r for r in pool_runs(runs, "esci-select")["rows"]} for runs in (seed1, seed2)]
    grpo = next(r for r in result["rows"] if r["stage"] == "grpo")
    assert grpo["macro_f1_per_replicate"] == [single[0]["grpo"]["macro_f1"], single[1]["grpo"]["macro_f1"]]
    assert grpo["macro_f1_per_replicate"][0] > grpo["macro_f1_per_replicate"][1]  # the seeds differ
    assert grpo["macro_f1_mean"] == round(sum(grpo["macro_f1_per_replicate"]) / 2, 4)
    lo, hi = grpo["macro_f1_mean_ci90"]
    assert lo <= grpo["macro_f1_mean"] <= hi
    dpo = next(r for r in result["rows"] if r["stage"] == "dpo")
    assert dpo["macro_f1_per_replicate"][0] == dpo["macro_f1_per_replicate"][1]  # same predictions, other order
    assert [(p["stage"], p["against"]) for p in result["paired"]] == [("dpo", "baseline"), ("grpo", "baseline"), ("grpo", "dpo")]
    step = result["paired"][-1]
    expected = [single[r]["grpo"]["macro_f1"] - single[r]["dpo"]["macro_f1"] for r in (0, 1)]
    assert step["macro_f1_diff_per_replicate"] == pytest.approx(expected, abs=2e-4)


def test_replicates_refuse_other_folds_and_a_lone_cross_fit(tmp_path):
    from training.replicates import pool_replicates

    fold_a, fold_b, fold_c = _pairs("a", [4, 3, 1]), _pairs("b", [4, 1]), _pairs("c", [4, 1])
    first = [_run(tmp_path, "a", fold_a, fold_b, {"sft": [4, 3, 1]}), _run(tmp_path, "b", fold_b, fold_a, {"sft": [4, 1]})]
    other = [_run(tmp_path, "a2", fold_a, fold_c, {"sft": [4, 3, 1]}), _run(tmp_path, "c2", fold_c, fold_a, {"sft": [4, 1]})]
    with pytest.raises(PoolError, match="other pairs"):
        pool_replicates([first, other], "esci-select")
    with pytest.raises(PoolError, match="at least two"):
        pool_replicates([first], "esci-select")
    with pytest.raises(PoolError, match="two replicates"):  # the same training counted twice
        pool_replicates([first, list(reversed(first))], "esci-select")
    again = [_run(tmp_path, "a3", fold_a, fold_b, {"dpo": [4, 3, 1]}), _run(tmp_path, "b3", fold_b, fold_a, {"dpo": [4, 1]})]
    with pytest.raises(PoolError, match="no stage"):
        pool_replicates([first, again], "esci-select")
