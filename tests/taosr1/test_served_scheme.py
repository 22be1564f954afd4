"""The serving index holds the rules of the served model's label scheme (`taosr1 prepare` / `index build`)."""

from __future__ import annotations

import json
from pathlib import Path

from relevance.labels import DEFAULT_SCHEME
from relevance.paths import REPO_ROOT
from service.settings import Settings
from taosr1.cli import served_scheme


def test_the_shipped_default_names_its_scheme() -> None:
    manifest = json.loads((REPO_ROOT / "models" / "default" / "taosr1.json").read_text())
    assert served_scheme(Settings(model_dir=REPO_ROOT / "models" / "default")) == manifest["label_scheme"]


def test_a_served_folder_of_another_scheme_and_an_unreadable_manifest(tmp_path: Path) -> None:
    raw = json.loads((REPO_ROOT / "models" / "default" / "taosr1.json").read_text())
    other = "taosr1-4level" if DEFAULT_SCHEME.name != "taosr1-4level" else "taosr1-4level-esci"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "taosr1.json").write_text(json.dumps({**raw, "label_scheme": other}))
    assert served_scheme(Settings(model_dir=tmp_path / "other")) == other
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "taosr1.json").write_text("{not json")
    assert served_scheme(Settings(model_dir=tmp_path / "broken")) == DEFAULT_SCHEME.name
