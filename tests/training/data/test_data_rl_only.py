"""data.rl_only: real rows that pass@N + DPO and GRPO train on and the SFT never does.

The split is read from the real ESCI fixture the repo ships; the SFT runs on the session's tiny
random-weight model, and the RL stages' prompt draw is the one `training.examples` gives them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from relevance.datasets.jsonl import load_jsonl, save_jsonl
from tests.training.conftest import make_run, toy_records
from training.config import build_config
from training.data.folds import pair_key
from training.data.rl_only import RL_ONLY_TAG, is_rl_only
from training.examples import prompt_records
from training.run import DataConfig, load_source, load_train_pairs

REPO = Path(__file__).resolve().parents[3]
DEV = str(REPO / "training" / "data" / "fixtures" / "esci_dev.csv")


def test_rl_only_rows_join_the_split_tagged_and_nothing_else_is() -> None:
    cfg = DataConfig(train=[f"{DEV}#fold=0/4"], rl_only=[f"{DEV}#fold=2/4"])
    pairs = load_train_pairs(cfg, seed=0)
    kept = [p for p in pairs if is_rl_only(p)]
    assert {pair_key(p) for p in kept} == {pair_key(p) for p in load_source(f"{DEV}#fold=2/4")}
    assert {pair_key(p) for p in pairs if not is_rl_only(p)} == {pair_key(p) for p in load_source(f"{DEV}#fold=0/4")}
    # the ESCI label tag stays first, the mark comes last; the SFT's own rows carry no mark
    assert all(p.tags[0].startswith("esci:") and p.tags[-1] == RL_ONLY_TAG for p in kept)
    assert len(kept) == len(load_source(f"{DEV}#fold=2/4")) and len(pairs) - len(kept) == len(load_source(f"{DEV}#fold=0/4"))


def test_the_mark_round_trips_through_the_training_jsonl(tmp_path: Path) -> None:
    pairs = load_train_pairs(DataConfig(train=[], rl_only=[f"{DEV}#fold=1/4"]), seed=0)
    save_jsonl(pairs, tmp_path / "train.jsonl")
    assert load_jsonl(tmp_path / "train.jsonl") == pairs and all(is_rl_only(p) for p in pairs)


def test_rows_in_both_lists_and_generated_sources_are_refused_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"data\.rl_only shares \d+ pairs with data\.train"):
        load_train_pairs(DataConfig(train=[DEV], rl_only=[f"{DEV}#fold=2/4"]), seed=0)
    for source in ("synthetic", f"weak:{DEV}"):
        with pytest.raises(ValueError, match=r"data\.rl_only takes labelled files"):
            build_config(DataConfig, {"rl_only": [source]})


def test_the_sft_skips_rl_only_records(tmp_path: Path, tiny_model_dir: Path, cache_dir: Path) -> None:
    from training.sft import SftConfig, run_sft

    records = toy_records(rationale=False)
    records = [replace(r, pair=replace(r.pair, tags=(RL_ONLY_TAG,))) if i % 2 else r for i, r in enumerate(records)]
    run = make_run(tmp_path / "run", tiny_model_dir, cache_dir, records)
    cfg = build_config(
        SftConfig,
        {"objective": "label", "lora": True, "lora_r": 4, "epochs": 1.0, "batch_size": 2, "learning_rate": 1e-2,
         "lr_scheduler": "constant", "warmup_ratio": 0.0, "log_steps": 1, "save_steps": 100, "device": "cpu"},
    )
    result = run_sft(run, cfg)
    assert result["examples"] == 2 == sum(not is_rl_only(r.pair) for r in records)


def test_the_rl_prompt_draw_keeps_every_rl_only_record() -> None:
    records = toy_records(rationale=False) * 30  # 120 records, 4 queries
    records = [
        replace(r, pair=replace(r.pair, query=f"{r.pair.query} {i}", source="esci" if i % 4 == 0 else "synthetic",
                                tags=(RL_ONLY_TAG,) if i % 20 == 0 else ()))
        for i, r in enumerate(records)
    ]
    reserved = [r for r in records if is_rl_only(r.pair)]
    for sources, share, n in ((["esci"], 0.5, 16), (["esci"], None, 10), ([], None, 8)):
        drawn = prompt_records(records, sources, share, n, seed=3)
        assert all(r in drawn for r in reserved), (sources, share, n)
        assert len(drawn) == n and drawn == sorted(drawn, key=records.index)
    # fewer places than reserved records: a seeded spread of them, nothing else
    few = prompt_records(records, ["esci"], None, 3, seed=0)
    assert len(few) == 3 and all(is_rl_only(r.pair) for r in few)
