"""Every recipe the repository ships builds valid stage configs, names training files that exist
(real folds included; RL-only rows outside every selection set), and asks only for evaluation sets its data section defines."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_recipe
from training.data.folds import pair_key
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
    rl_only = [p for source in cfgs["data"].rl_only for p in load_source(source)]
    assert all(load_source(source) for source in cfgs["data"].rl_only), f"{recipe.name}: a data.rl_only source has no pairs"
    selection = {item.partition("=")[0] for item in cfgs["data"].eval_files}
    sets = eval_sets(cfgs["data"], RunLayout(cfgs["run"].run_dir, cfgs["run"].index_dir))
    missing = [s for s in cfgs["eval"].sets if s not in sets]
    assert not missing, f"{recipe.name}: eval.sets names {missing}, defined: {sorted(sets)}"
    for name, path in sets.items():
        if name != "synthetic-hard":
            assert load_source(str(path)), f"{recipe.name}: evaluation set {name!r} has no pairs"
            if name in selection:  # esci-dev is the whole file, selection sets are the folds never trained on
                held_out = {pair_key(p) for p in load_source(str(path))}
                assert not held_out & {pair_key(p) for p in rl_only}, f"{recipe.name}: data.rl_only trains on {name!r}"
