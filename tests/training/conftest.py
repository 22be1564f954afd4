"""Trainer fixtures: a toy CoT set (four pairs, one per level) and tiny SFT checkpoints trained on it.

Everything trains the session's tiny random-weight Llama (real SmolLM2 tokenizer) on CPU in
float32; nothing is downloaded. The SFT checkpoints are built once per session and shared by
the DPO, GRPO, eval and sampling tests, which never write into their folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relevance.labels import TAOSR1
from relevance.types import LabeledPair, Product, RetrievedContext
from training.config import build_config
from training.cot.rule_writer import RuleWriter
from training.examples import CotRecord, save_records
from training.run import RunConfig

TOY_PAIRS = [
    LabeledPair("red ceramic mug", Product("p1", "Red ceramic coffee mug 12 oz", brand="Acme", category="Kitchen > Mugs"), 4),
    LabeledPair("iphone 13 case", Product("p2", "Case for iPhone 12 Pro Max", category="Phones > Cases"), 2),
    LabeledPair("garden hose", Product("p3", "Expandable garden hose 50ft", category="Garden > Hoses"), 3),
    LabeledPair("sulfate free shampoo", Product("p4", "Cordless vacuum cleaner", category="Home > Vacuums"), 1),
]


def toy_records(rationale: bool = True) -> list[CotRecord]:
    """One record per level; with the rule teacher's 5-step rationale, or label-only answers."""
    writer = RuleWriter(TAOSR1)
    texts = writer.write_many([(p, RetrievedContext()) for p in TOY_PAIRS])
    return [CotRecord(p, RetrievedContext(), t if rationale else "", "rules") for p, t in zip(TOY_PAIRS, texts, strict=True)]


def query_group_records() -> list[CotRecord]:
    """The toy set plus two more products for each of two of its queries: two query groups with
    three products of three different levels each (shared prefixes, within-query orderings)."""
    extra = [
        LabeledPair("red ceramic mug", Product("m2", "Blue glass mug"), 3),
        LabeledPair("red ceramic mug", Product("m3", "Steel water bottle, a longer title than the others"), 1),
        LabeledPair("garden hose", Product("h2", "Hose reel cart"), 2),
        LabeledPair("garden hose", Product("h3", "Garden hose 100 ft"), 4),
    ]
    return toy_records() + [CotRecord(p, RetrievedContext(), "", "rules") for p in extra]


def make_run(root: Path, base_model: Path, cache_dir: Path, records: list[CotRecord] | None = None) -> RunConfig:
    """A run folder holding a CoT file (the toy records by default); retrieval off, float32."""
    save_records(records if records is not None else toy_records(), root / "cot" / "cot.jsonl")
    return build_config(
        RunConfig,
        {"run_dir": str(root), "cache_dir": str(cache_dir), "base_model": str(base_model), "retrieval": False, "dtype": "float32"},
    )


@pytest.fixture(scope="session")
def label_sft_dir(tmp_path_factory, tiny_model_dir, cache_dir) -> Path:
    """Tiny model after full-weight SFT on label-only toy answers: it emits label tokens first."""
    from training.sft import SftConfig, run_sft

    run = make_run(tmp_path_factory.mktemp("label-sft"), tiny_model_dir, cache_dir, toy_records(rationale=False))
    cfg = build_config(
        SftConfig,
        {"lora": False, "max_steps": 8, "batch_size": 4, "learning_rate": 1e-2, "lr_scheduler": "constant", "warmup_ratio": 0.0,
         "log_steps": 1, "save_steps": 100, "device": "cpu"},
    )
    return Path(run_sft(run, cfg)["checkpoint"])
