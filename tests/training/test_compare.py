"""`taosr1 compare`: two judges' per-pair eval reports, paired on their shared pairs, with by-pair and by-query intervals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taosr1.cli import main
from training.compare import CompareError, compare_reports, load_report, queries_by_pair_key
from training.data.folds import pair_key, query_key
from training.run import load_source

REPO = Path(__file__).resolve().parents[2]
#: real ESCI pairs: 23 queries with many products each (esci-more-held)
HELD = f"{REPO}/training/data/fixtures/esci_more.csv#fold=3/16"


def _report(pairs, pred, *, with_queries: bool = True) -> dict:
    report = {"pair_keys": [pair_key(p) for p in pairs], "gold": [p.level for p in pairs], "pred": pred, "scores": [float(x) for x in pred]}
    if with_queries:
        report["query_keys"] = [query_key(p.query) for p in pairs]
    return report


def _judges(pairs):
    """A judge right on every other query, and one that calls everything Exact."""
    queries = sorted({p.query for p in pairs})
    good = [p.level if queries.index(p.query) % 2 == 0 else 1 for p in pairs]
    return good, [4] * len(pairs)


def test_the_difference_is_on_the_shared_pairs_and_the_query_interval_is_wider():
    pairs = load_source(HELD)
    good, exact = _judges(pairs)
    a = _report(pairs, good)
    b = _report(pairs[::-1], exact[::-1], with_queries=False)  # another order, no query keys: A's are used
    b["pair_keys"].append("not-in-a")
    b["gold"].append(4)
    b["pred"].append(4)
    b["scores"].append(4.0)
    r = compare_reports(a, b)
    assert r["n"] == len(pairs) and r["only_a"] == 0 and r["only_b"] == 1 and r["queries"] == len({p.query for p in pairs}) >= 5
    assert r["n_per_class"] == {str(lv): sum(p.level == lv for p in pairs) for lv in (4, 3, 2, 1)}
    assert r["macro_f1_diff"] == pytest.approx(r["a"]["macro_f1"] - r["b"]["macro_f1"], abs=1e-4)
    lo, hi = r["macro_f1_diff_ci90"]
    qlo, qhi = r["macro_f1_diff_ci90_by_query"]
    assert lo <= r["macro_f1_diff"] <= hi and qlo <= r["macro_f1_diff"] <= qhi
    assert qhi - qlo > hi - lo  # a judge that is right or wrong a query at a time: pairs overstate the evidence
    assert r["b"]["auc_exact"] == 0.5  # a constant score orders nothing


def test_old_reports_get_their_queries_from_the_labelled_file():
    pairs = load_source(HELD)
    good, exact = _judges(pairs)
    a, b = _report(pairs, good, with_queries=False), _report(pairs, exact, with_queries=False)
    assert compare_reports(a, b)["macro_f1_diff_ci90_by_query"] is None and compare_reports(a, b)["queries"] is None
    with_data = compare_reports(a, b, queries_by_pair=queries_by_pair_key(HELD))
    assert with_data == compare_reports(_report(pairs, good), b)
    with pytest.raises(CompareError, match="not in --data"):
        compare_reports(a, b, queries_by_pair={})


def test_reports_that_cannot_be_paired_are_refused_with_the_fix(tmp_path):
    pairs = load_source(HELD)[:8]
    a = _report(pairs, [4] * 8)
    with pytest.raises(CompareError, match="share no pair"):
        compare_reports(a, {**a, "pair_keys": [k + "x" for k in a["pair_keys"]]})
    with pytest.raises(CompareError, match="different gold"):
        compare_reports(a, {**a, "gold": [1] * 8})
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"n": 8, "macro_f1": 0.1}))
    with pytest.raises(CompareError, match="--per-pair"):
        load_report(plain)
    staged = tmp_path / "sft.json"  # a run's eval/<stage>.json holds several sets
    staged.write_text(json.dumps({"sets": {"esci-dev": a, "esci-more-held": a}}))
    with pytest.raises(CompareError, match="--set"):
        load_report(staged)
    assert load_report(staged, "esci-more-held") == a


def test_the_cli_prints_and_writes_the_comparison_and_names_errors(tmp_path, capsys):
    pairs = load_source(HELD)
    good, exact = _judges(pairs)
    a_file, b_file, out = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "diff.json"
    a_file.write_text(json.dumps(_report(pairs, good, with_queries=False)))
    b_file.write_text(json.dumps({"sets": {"esci-more-held": _report(pairs, exact, with_queries=False)}}))
    assert main(["compare", str(a_file), str(b_file), "--data", HELD, "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["a_report"] == str(a_file) and printed["queries"] == len({p.query for p in pairs})
    assert printed["macro_f1_diff"] > 0 and printed["macro_f1_diff_ci90_by_query"] is not None
    (tmp_path / "plain.json").write_text("{}")
    assert main(["compare", str(a_file), str(tmp_path / "plain.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--per-pair" in err and "fix:" in err
