"""`taosr1 eval --model fallback`: the calibrated MiniLM fallback scorer gets its row like any model."""

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
