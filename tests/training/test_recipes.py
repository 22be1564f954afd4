"""Every recipe the repository ships builds valid stage configs, names training files that exist
(real folds included), and asks only for evaluation sets its data section defines."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_recipe
from training.pipeline import build_configs
from training.run import RunLayout, eval_sets, load_source

REPO = Path(__file__).resolve().parents[2]
RECIPES = sorted((REPO / "training" / "recipes").glob("*.yaml"))


def test_the_recipes_folder_is_found():
    assert len(RECIPES) >= 5 and any(r.name == "coverage-pipeline-fold-swap.yaml" for r in RECIPES)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_builds_and_names_what_exists(recipe, monkeypatch):
    monkeypatch.chdir(REPO)  # recipes name files relative to the repository root
    cfgs = build_configs(load_recipe(recipe))
    for source in cfgs["data"].train:
        if source == "synthetic":
            continue
        assert load_source(source.removeprefix("weak:")), f"{recipe.name}: training source {source!r} has no pairs"
    sets = eval_sets(cfgs["data"], RunLayout(cfgs["run"].run_dir, cfgs["run"].index_dir))
    missing = [s for s in cfgs["eval"].sets if s not in sets]
    assert not missing, f"{recipe.name}: eval.sets names {missing}, defined: {sorted(sets)}"
    for name, path in sets.items():
        if name != "synthetic-hard":
            assert load_source(str(path)), f"{recipe.name}: evaluation set {name!r} has no pairs"
