"""A training run's shared settings, its folder layout, and the data every stage reads.

`RunConfig` (recipe section `run`) says where the run lives and which base model and
retrieval indexes it uses; `DataConfig` (section `data`) says what it trains and evaluates
on. `RunLayout` names every path inside the run folder, so stages find each other's
outputs without passing paths around. `prepare_data` writes the splits once (idempotent).
Knows nothing about models or trainers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relevance.paths import FIXTURES_DIR, REPO_ROOT
from relevance.retrieval_config import COVERAGE_OPTIONS, DEFAULT_RETRIEVAL, RetrievalConfig
from relevance.types import LabeledPair
from training.config import build_config, option


@dataclass
class RunConfig:
    run_dir: str = option("var/train/run", "folder of this run: data, checkpoints, logs, eval tables")
    cache_dir: str = option(str(REPO_ROOT / "var" / "cache"), "cache with the prepared base model (taosr1 prepare)")
    base_model: str = option("smollm2-135m-instruct", "base LLM: the embedded name or a local model folder")
    index_dir: str | None = option(None, "retrieval indexes (default: <run_dir>/indexes, built from the train split)")
    retrieval: bool = option(DEFAULT_RETRIEVAL.enabled, "put retrieved rules, cases and query knowledge into prompts (as serving does)")
    k_rules: int = option(DEFAULT_RETRIEVAL.k_rules, "retrieved rules per query (TAOSR1_K_RULES when serving)")
    k_cases: int = option(DEFAULT_RETRIEVAL.k_cases, "retrieved similar cases per query (own query's cases are dropped in CoT)")
    k_knowledge: int = option(DEFAULT_RETRIEVAL.k_knowledge, "retrieved query-knowledge lines per query")
    coverage: bool = option(
        DEFAULT_RETRIEVAL.coverage, "state under each listing which query words it names (relevance.coverage); recorded in manifests"
    )
    coverage_negation: bool = option(
        DEFAULT_RETRIEVAL.coverage_negation,
        "state the query's exclusions apart on the coverage line ('without cord': has it / free of it / silent; relevance.exclusions)",
    )
    coverage_naming_only: bool = option(
        DEFAULT_RETRIEVAL.coverage_naming_only,
        "the coverage line counts only the words title, brand, category and properties name (a description's count as not named)",
    )
    coverage_measures: bool = option(
        DEFAULT_RETRIEVAL.coverage_measures,
        "the coverage line reads decimals and dimensions whole ('usb 2.0' is not named by 'USB 3.0', '16 x 16' not by '12x16'; relevance.measures)",
    )
    seed: int = option(0, "random seed for sampling, shuffling and initialisation")
    threads: int | None = option(None, "torch intra-op threads (default: all cores)")
    dtype: str = option("auto", "weights dtype for training and sampling: auto (bf16 where supported), bfloat16, float32")


@dataclass
class DataConfig:
    train: list[str] = option(
        ["synthetic"],
        "training sources: 'synthetic', files (ESCI csv, WANDS folder, JSONL; file.csv#fold=K/N for one query fold), "
        "and 'weak:FILE' for weakly labelled pairs built from the listings of FILE (training.data.weak)",
    )
    rl_only: list[str] = option(
        [],
        "labelled files (file.csv, file.csv#fold=K/N) whose pairs only pass@N + DPO and GRPO train on: the SFT skips them, "
        "the cross-encoder and the retrieval indexes take them like data.train's (training.data.rl_only)",
    )
    weak_per_listing: int = option(1, "weak pairs of each kind (title query → 4, foreign query → 1) per listing of the weak: sources")
    synthetic_queries: int = option(240, "queries of the synthetic training split")
    synthetic_products: int = option(6, "products per synthetic query")
    synthetic_seed: int = option(0, "seed of the synthetic training split (0 = the split the cases index uses)")
    synthetic_soft_words: float = option(
        0.0,
        "share of the synthetic product queries worded with a soft word no listing needs to repeat "
        "('comfy', 'best', 'for gifting'; training.data.queries.with_soft_qualifier); products and levels unchanged",
    )
    max_train: int | None = option(None, "keep at most this many training pairs (seeded sample)")
    hard_queries: int = option(40, "queries of the held-out synthetic hard set (disjoint templates, never trained on)")
    hard_products: int = option(6, "products per hard-set query")
    hard_seed: int = option(0, "seed of the hard set")
    esci_eval: str | None = option(
        str(FIXTURES_DIR / "esci_dev.csv"), "real ESCI evaluation file (none to skip)"
    )
    eval_files: list[str] = option(
        [], "more named evaluation sets as NAME=PATH (PATH may name one query fold: file.csv#fold=K/N)"
    )

    def validate(self) -> None:
        from training.data.rl_only import check_sources

        check_sources(self.rl_only)
        if not 0.0 <= self.synthetic_soft_words <= 1.0:
            raise ValueError(
                f"data.synthetic_soft_words is a share of the synthetic queries in [0, 1], got {self.synthetic_soft_words}"
            )


class RunLayout:
    """Every path of a run folder."""

    def __init__(self, run_dir: Path | str, index_dir: Path | str | None = None):
        self.root = Path(run_dir)
        self.index_dir = Path(index_dir) if index_dir else self.root / "indexes"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def train_pairs(self) -> Path:
        return self.data / "train.jsonl"

    @property
    def hard_pairs(self) -> Path:
        return self.data / "hard.jsonl"

    @property
    def cot(self) -> Path:
        return self.root / "cot" / "cot.jsonl"

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def final(self, stage: str) -> Path:
        """The finished checkpoint of a stage (a folder with taosr1.json)."""
        return self.root / stage / "final"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def set_threads(threads: int | None) -> None:
    import torch

    torch.set_num_threads(threads or max(1, len(os.sched_getaffinity(0))))


def file_hash(*paths: Path | str) -> str:
    """sha256 (16 hex) over the contents of files (the data hash of manifests)."""
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def log(msg: str) -> None:
    print(f"[train {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class JsonlLog:
    """Append-only JSONL metrics log (loss, reward, …), one object per line, flushed each write."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record: Any) -> None:
        record.setdefault("time", round(time.time(), 3))
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def _synthetic_train(cfg: DataConfig) -> list[LabeledPair]:
    from training.data.synthetic import generate

    return generate(cfg.synthetic_queries, cfg.synthetic_products, seed=cfg.synthetic_seed, soft=cfg.synthetic_soft_words)


def load_source(source: str, format: str | None = None) -> list[LabeledPair]:
    """Labelled pairs of a file, or of one query fold of it (`path#fold=K/N`, see training.data.folds)."""
    from relevance.datasets.loaders import load_pairs
    from training.data.folds import parse_source, select_fold

    path, fold = parse_source(source)
    return select_fold(load_pairs(path, format), fold)


def load_train_pairs(cfg: DataConfig, seed: int) -> list[LabeledPair]:
    import random

    from training.data.rl_only import check_rl_only_disjoint, mark_rl_only
    from training.data.weak import weak_pairs

    pairs: list[LabeledPair] = []
    weak_pool: list[LabeledPair] = []
    for source in cfg.train:
        if source == "synthetic":
            pairs.extend(_synthetic_train(cfg))
        elif source.startswith("weak:"):
            weak_pool.extend(load_source(source.removeprefix("weak:")))
        else:
            pairs.extend(load_source(source))
    rl_only = mark_rl_only([p for source in cfg.rl_only for p in load_source(source)])
    check_rl_only_disjoint(pairs, rl_only)
    pairs.extend(rl_only)
    if weak_pool:  # pooled, so a listing's foreign queries come from every weak: source
        pairs.extend(weak_pairs(weak_pool, seed, cfg.weak_per_listing))
    if cfg.max_train is not None and len(pairs) > cfg.max_train:
        pairs = random.Random(seed).sample(pairs, cfg.max_train)
    return pairs


def check_weak_disjoint(train: list[LabeledPair], data: DataConfig) -> None:
    """Refuse weak pairs built from a listing of an evaluation set (its text would leak into training)."""
    weak_ids = {p.product.id for p in train if p.source == "weak"}
    if not weak_ids:
        return
    for item in data.eval_files:
        name, _, path = item.partition("=")
        shared = weak_ids & {p.product.id for p in load_source(path)}
        if shared:
            raise ValueError(
                f"weak training pairs use {len(shared)} listings of the evaluation set {name!r} "
                f"(e.g. {sorted(shared)[:3]}): build weak pairs from the training folds only (weak:FILE#fold=K/N)"
            )


def prepare_data(run: RunConfig, data: DataConfig) -> RunLayout:
    """Write data/train.jsonl and data/hard.jsonl (once), and build the retrieval indexes (cached)."""
    from relevance.datasets.jsonl import save_jsonl
    from training.data.synthetic import generate_hard_set

    layout = RunLayout(run.run_dir, run.index_dir)
    if not layout.train_pairs.is_file():
        train = load_train_pairs(data, run.seed)
        hard = generate_hard_set(data.hard_queries, data.hard_products, seed=data.hard_seed)
        overlap = {p.query for p in train} & {p.query for p in hard}
        if overlap:
            raise ValueError(f"hard set shares {len(overlap)} queries with the training data, e.g. {sorted(overlap)[:3]}")
        check_weak_disjoint(train, data)
        save_jsonl(hard, layout.hard_pairs)
        save_jsonl(train, layout.train_pairs)  # written last: its presence means the split is complete
        log(f"data: {len(train)} training pairs, {len(hard)} hard-set pairs in {layout.data}")
    if run.retrieval and run.index_dir is None:
        from relevance.datasets.loaders import load_pairs
        from retrieval.build import build_indexes

        build_indexes(layout.index_dir, load_pairs(layout.train_pairs, "jsonl"))
    return layout


def retrieval_config(run: RunConfig) -> RetrievalConfig:
    """The run's retrieval config: what CoT, eval and the trainers' prompts use, and manifests record."""
    coverage = {name: getattr(run, name) for name in COVERAGE_OPTIONS}
    return RetrievalConfig(run.retrieval, run.k_rules, run.k_cases, run.k_knowledge, **coverage)


def prompt_key(run: RunConfig) -> dict[str, bool]:
    """The prompt options a stage's cache key adds, only those switched on (another prompt is another
    key, and runs from before an option keep their keys)."""
    return {name: True for name in COVERAGE_OPTIONS if getattr(run, name)}


def open_retriever(run: RunConfig, layout: RunLayout, without_own_query: bool = False):
    """The run's retriever (its KnowledgeBase with the run's k's), or None when retrieval is off; with
    `without_own_query` it leaves out the cases of each pair's own query (retrieval.knowledge)."""
    from retrieval.knowledge import open_retriever as open_configured

    return open_configured(layout.index_dir, retrieval_config(run), without_own_query)


def manifest_retrieval(run: dict[str, Any]) -> dict[str, Any]:
    """The `retrieval` entry of a checkpoint manifest, from the recipe's `run` section: config + corpus hash."""
    cfg = build_config(RunConfig, run)
    record = retrieval_config(cfg).to_dict()
    layout = RunLayout(cfg.run_dir, cfg.index_dir)
    if cfg.retrieval:
        from retrieval.knowledge import index_corpus_hash

        if corpus := index_corpus_hash(layout.index_dir):
            record["corpus"] = corpus
    return record


def eval_sets(data: DataConfig, layout: RunLayout) -> dict[str, Path | str]:
    """Named held-out evaluation files: the synthetic hard set and the real ESCI fixture."""
    sets: dict[str, Path | str] = {"synthetic-hard": layout.hard_pairs}
    if data.esci_eval:
        sets["esci-dev"] = Path(data.esci_eval)
    for item in data.eval_files:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"data.eval_files expects NAME=PATH, got {item!r}")
        sets[name] = path
    return sets
