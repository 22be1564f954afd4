"""`taosr1 soup`: LoRA adapters from one parent averaged into one adapter whose merged weights are the mean of theirs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from relevance.checkpoint import CASES_FILE
from relevance.manifest import read_manifest, write_manifest
from taosr1.cli import main
from tests.helpers.tiny import build_tiny_adapter
from training.soup import SoupError, soup_adapters


def merged_weights(adapter_dir: Path, base_dir: Path) -> dict:
    """The base with the adapter merged in, as PEFT merges it for serving (fp32 state dict)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    return {k: v.clone() for k, v in PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().state_dict().items()}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, tiny_model_dir) -> list[Path]:
    """Three random adapters on the tiny model, as three RL seeds of one run would be."""
    return [build_tiny_adapter(tmp_path_factory.mktemp(f"seed{i}"), tiny_model_dir, seed=10 + i) for i in range(3)]


def with_config(src: Path, dest: Path, **changes) -> Path:
    shutil.copytree(src, dest)
    config = json.loads((dest / "adapter_config.json").read_text())
    config.update(changes)
    (dest / "adapter_config.json").write_text(json.dumps(config))
    return dest


def test_merged_soup_is_the_weighted_mean_of_the_merged_ingredients(tmp_path, seeds, tiny_model_dir):
    """Exact: every merged weight of the soup is the weighted mean of the ingredients' merged weights."""
    singles = [merged_weights(s, tiny_model_dir) for s in seeds]
    for weights in (None, [0.5, 0.3, 0.2]):
        out = soup_adapters(seeds, tmp_path / f"soup-{weights}", weights=weights)
        souped = merged_weights(out, tiny_model_dir)
        w = weights or [1 / 3] * 3
        changed = 0
        for key, value in souped.items():
            expected = sum(wi * s[key] for wi, s in zip(w, singles, strict=True))
            assert (value - expected).abs().max().item() < 1e-5, key
            changed += int(not all(value.equal(s[key]) for s in singles))
        assert changed > 0  # the adapters touch q/v projections: the soup differs from each ingredient there


def test_a_rank_capped_soup_is_the_best_low_rank_approximation_of_the_mean_delta(tmp_path, seeds, tiny_model_dir):
    """With --rank k each module's merged delta is the truncated SVD of the exact soup's delta (Eckart–Young), and
    the manifest says how much of it was kept; k at or above the exact rank changes nothing."""
    import torch

    base = merged_weights_of_base(tiny_model_dir)
    exact = merged_weights(soup_adapters(seeds, tmp_path / "exact"), tiny_model_dir)
    out = soup_adapters(seeds, tmp_path / "rank4", rank=4)
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 4
    capped = merged_weights(out, tiny_model_dir)
    touched = [k for k in base if not exact[k].equal(base[k])]
    assert touched and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in touched)
    for key in touched:
        u, sv, vh = torch.linalg.svd((exact[key] - base[key]).double())
        best = (u[:, :4] * sv[:4]) @ vh[:4]
        assert ((capped[key] - base[key]).double() - best).abs().max().item() < 1e-5, key
        assert sv[4:].sum() > 0  # the exact delta has rank > 4: the cap really truncated
    kept = read_manifest(out).metrics["soup"]
    assert 0 < kept["energy_kept_min"] <= kept["energy_kept_mean"] < 1
    same = merged_weights(soup_adapters(seeds, tmp_path / "rank99", rank=99), tiny_model_dir)
    assert all((same[k] - exact[k]).abs().max().item() < 1e-6 for k in touched)


def merged_weights_of_base(base_dir: Path) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    return {k: v.clone() for k, v in AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32).state_dict().items()}


def test_soup_rank_scaling_and_manifest(tmp_path, seeds):
    """Rank is the sum of the ingredients', scaling 1; the manifest keeps the contract and lists the ingredients."""
    out = soup_adapters(seeds, tmp_path / "soup", name="souped")
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["use_rslora"]) == (12, 12, False)
    manifest, first = read_manifest(out), read_manifest(seeds[0])
    assert (manifest.kind, manifest.stage, manifest.base_model, manifest.name) == ("adapter", first.stage, first.base_model, "souped")
    soup = manifest.recipe["soup"]
    assert [i["path"] for i in soup["ingredients"]] == [str(s.resolve()) for s in seeds]
    assert [round(i["weight"], 6) for i in soup["ingredients"]] == [round(1 / 3, 6)] * 3


def test_the_soup_names_its_training_data_even_when_ingredients_differ(tmp_path, seeds):
    """Shared data keeps its hash; ingredients trained on different data give a hash of theirs (order-free), never none."""
    copies = []
    for i, (src, data_hash) in enumerate(zip(seeds, ["aaaa", "bbbb", "aaaa"], strict=True)):
        dest = shutil.copytree(src, tmp_path / f"in{i}")
        write_manifest(dest, replace(read_manifest(dest), data_hash=data_hash))
        copies.append(dest)
    mixed = read_manifest(soup_adapters(copies, tmp_path / "mixed"))
    reordered = read_manifest(soup_adapters(copies[::-1], tmp_path / "reordered"))
    assert mixed.data_hash and mixed.data_hash not in ("aaaa", "bbbb") and mixed.data_hash == reordered.data_hash
    assert [i["data_hash"] for i in mixed.recipe["soup"]["ingredients"]] == ["aaaa", "bbbb", "aaaa"]
    assert read_manifest(soup_adapters([copies[0], copies[2]], tmp_path / "shared")).data_hash == "aaaa"


def test_rslora_and_mixed_scalings_are_folded_into_b(tmp_path, seeds, tiny_model_dir):
    """Ingredients with other alphas or rsLoRA still soup to the mean of what each one merges to."""
    other = with_config(seeds[1], tmp_path / "rs", use_rslora=True, lora_alpha=3)
    singles = [merged_weights(s, tiny_model_dir) for s in (seeds[0], other)]
    souped = merged_weights(soup_adapters([seeds[0], other], tmp_path / "soup"), tiny_model_dir)
    for key, value in souped.items():
        assert (value - (singles[0][key] + singles[1][key]) / 2).abs().max().item() < 1e-5, key


def test_soup_ships_the_shared_training_split_and_export_keeps_it(tmp_path, tiny_model_dir):
    """Seeds of one run share data/train.jsonl: the soup carries it as cases.jsonl, and `taosr1 export` ships it."""
    split = '{"query": "q", "product": {"product_id": "p", "title": "t"}, "label": 4}\n'
    runs = []
    for i in range(2):
        run = tmp_path / f"run{i}"
        (run / "data").mkdir(parents=True)
        (run / "data" / "train.jsonl").write_text(split)
        runs.append(build_tiny_adapter(run / "grpo" / "final", tiny_model_dir, seed=20 + i))
    assert main(["soup", "--checkpoint", str(runs[0]), "--checkpoint", str(runs[1]), "--out", str(tmp_path / "soup")]) == 0
    assert (tmp_path / "soup" / CASES_FILE).read_text() == split
    assert main(["export", "--checkpoint", str(tmp_path / "soup"), "--out", str(tmp_path / "served"), "--version", "v1"]) == 0
    assert (tmp_path / "served" / CASES_FILE).read_text() == split
    (runs[1].parent.parent / "data" / "train.jsonl").write_text(split + split)  # the seeds no longer share a split
    soup_adapters(runs, tmp_path / "soup2")
    assert not (tmp_path / "soup2" / CASES_FILE).exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"target_modules": ["q_proj"]}, "target_modules"),
        ({"use_dora": True}, "use_dora"),
        ({"bias": "all"}, "bias"),
    ],
)
def test_incompatible_adapters_are_refused_naming_the_field(tmp_path, seeds, change, field):
    other = with_config(seeds[1], tmp_path / "other", **change)
    with pytest.raises(SoupError, match=field):
        soup_adapters([seeds[0], other], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_bad_requests_exit_2_with_the_fix(tmp_path, seeds, tiny_model_dir, capsys):
    """One checkpoint, a full checkpoint, weights that do not sum to 1: exit 2 naming the problem, nothing written."""
    out = str(tmp_path / "soup")
    cases = [
        (["--checkpoint", str(seeds[0])], "at least two"),
        (["--checkpoint", str(seeds[0]), "--checkpoint", str(tiny_model_dir)], "kind 'full'"),
        (["--checkpoint", str(seeds[0]), "--checkpoint", str(seeds[1]), "--weight", "0.5", "--weight", "0.6"], "sum to 1"),
        (["--checkpoint", str(seeds[0]), "--checkpoint", str(seeds[1]), "--weight", "1"], "one weight per checkpoint"),
        (["--checkpoint", str(seeds[0]), "--checkpoint", str(seeds[1]), "--rank", "0"], "positive number"),
    ]
    for argv, problem in cases:
        assert main(["soup", *argv, "--out", out]) == 2
        err = capsys.readouterr().err
        assert problem in err and "fix:" in err
        assert not Path(out).exists()
