"""`taosr1 eval --model fallback` and `--model fallback-lexical`: the fallback scorer and its lexical tier get their rows like any model."""

import json

from relevance.paths import REPO_ROOT
from taosr1.cli import main


def test_eval_fallback_prints_its_row(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TAOSR1_INDEX_DIR", str(tmp_path / "no-indexes"))  # no calibration file: the built-in one
    data = REPO_ROOT / "training" / "data" / "fixtures" / "esci_dev.csv"
    assert main(["eval", "--data", str(data), "--model", "fallback", "--limit", "16", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 16 and 0 <= report["macro_f1"] <= 1 and 0 <= report["accuracy"] <= 1
    assert set(report["per_class"]) == {"4", "3", "2", "1"} or set(report["per_class"]) == {4, 3, 2, 1}
    assert report["model"]["name"] == "fallback" and len(report["model"]["thresholds"]) == 3


def test_eval_fallback_lexical_prints_its_row_from_the_calibration_file(capsys, tmp_path, monkeypatch):
    from relevance.types import LabeledPair, Product
    from retrieval.fallback import ensure_lexical_calibration

    index_dir = tmp_path / "indexes"
    pairs = [LabeledPair("usb cable", Product(str(i), t), lv) for i, (t, lv) in enumerate([("usb cable 2m", 4), ("usb hub", 3), ("hdmi cable", 2), ("garden hose", 1)])]
    calibration, _ = ensure_lexical_calibration(pairs, index_dir, "toy")
    monkeypatch.setenv("TAOSR1_INDEX_DIR", str(index_dir))
    data = REPO_ROOT / "training" / "data" / "fixtures" / "esci_dev.csv"
    assert main(["eval", "--data", str(data), "--model", "fallback-lexical", "--limit", "16", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 16 and 0 <= report["macro_f1"] <= 1
    assert report["model"]["name"] == "fallback-lexical" and report["model"]["engine"] == "lexical-coverage"
    ranking = report["ranking"]  # the score's ranking quality beside the label's F1 (relevance.ranking_metrics)
    assert ranking["n"] == 16 and (ranking["auc_exact"] is None or 0 <= ranking["auc_exact"] <= 1)
    assert report["model"]["thresholds"] == list(calibration.thresholds) and report["model"]["calibrated_on"] == "toy"


def test_robustness_exit_code_counts_keyword_stuffing(capsys, tmp_path, monkeypatch):
    """The lexical tier ignores instructions but a query written once into a listing still moves it: the
    instruction families meet the bar, keyword stuffing does not, so the command exits 1."""
    monkeypatch.setenv("TAOSR1_INDEX_DIR", str(tmp_path / "no-indexes"))  # the built-in calibration
    data = REPO_ROOT / "training" / "data" / "fixtures" / "esci_dev.csv"
    rc = main(["eval", "--data", str(data), "--model", "fallback-lexical", "--robustness", "--limit", "40", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert report["overall"]["meets_bar"] and not report["keyword_stuffing"]["meets_bar"]
    assert report["stuffing_filter"] is None  # no prompt: the tier filters the listing itself (retrieval.lexical)
    assert rc == 1
