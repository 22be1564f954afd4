"""CLI user errors: one line naming the problem and the fix, a non-zero exit, no traceback unless --debug.

In-process (`taosr1.cli.main`): no subprocess start-up per case.
"""

from __future__ import annotations

import shutil

import pytest

from taosr1.cli import main


def _one_line_error(capsys, argv: list[str], *expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, (code, err)
    assert "\n" not in err and "Traceback" not in err and err.startswith("taosr1: error: "), err
    assert "fix:" in err
    for text in expected:
        assert text in err, (text, err)
    return err


def test_data_errors(tmp_path, capsys):
    _one_line_error(capsys, ["eval", "--data", str(tmp_path / "nope.csv")], "nope.csv", "no such file")
    csv = tmp_path / "no-title.csv"
    csv.write_text("query,product_id,esci_label\nmug,1,E\n")
    err = _one_line_error(capsys, ["eval", "--data", str(csv)], "product_title")
    assert "pass format=" not in err
    _one_line_error(capsys, ["eval", "--data", str(csv), "--format", "esci"], "product_title")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    _one_line_error(capsys, ["eval", "--data", str(other)], "--format")


def test_recipe_and_publish_errors(tmp_path, capsys, tiny_model_dir, cache_dir, monkeypatch):
    _one_line_error(capsys, ["train", "sft", "--recipe", str(tmp_path / "nope.yaml")], "nope.yaml")
    registry = str(tmp_path / "registry")
    _one_line_error(capsys, ["publish", "--checkpoint", str(tmp_path / "nope"), "--registry", registry], "nope", "not a folder")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 100)
    monkeypatch.setenv("TAOSR1_CACHE_DIR", str(cache_dir))
    _one_line_error(capsys, ["publish", "--checkpoint", str(broken), "--registry", registry], "not published", "latest")
    assert not (tmp_path / "registry" / "latest").exists()


def test_a_weak_admin_token_is_one_line_and_never_echoed(capsys, monkeypatch):
    monkeypatch.setenv("TAOSR1_ADMIN_ENABLED", "true")
    monkeypatch.setenv("TAOSR1_ADMIN_TOKEN", "changeme")
    err = _one_line_error(capsys, ["serve"], "TAOSR1_ADMIN_TOKEN")
    assert "changeme" not in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "eval", "--data", str(tmp_path / "nope.csv")])
