"""Each served checkpoint retrieves the similar judged cases it was trained with.

A trained checkpoint ships its training split as `cases.jsonl` (training.export), and its
prompts were built with a cases index of exactly those pairs. The service opens one index
folder at start (`make serve` builds its cases index from the default model's file). A
checkpoint hot-loaded later — a new registry version, an admin reload — ships its own
split; scoring it against the start-up cases would put another model's judged cases into its
prompts. `checkpoint_retriever` gives such a checkpoint a retriever of its own: the service's
rules and query-knowledge indexes (shared, not copied) and a cases index of its `cases.jsonl`,
built in memory with the service's embedder while the checkpoint loads. A checkpoint whose
cases are the serving index's, or that ships none, or a config that retrieves no cases,
keeps the service's retriever.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from relevance.checkpoint import CASES_FILE
from relevance.datasets.loaders import load_pairs
from relevance.retrieval_config import Retriever
from retrieval.build import case_rows
from retrieval.index import corpus_hash
from retrieval.knowledge import ConfiguredRetriever
from retrieval.layout import CASES

log = logging.getLogger("taosr1.retrieval")


def checkpoint_retriever(retriever: Retriever | None, model_dir: Path | str) -> Retriever | None:
    """The retriever a checkpoint's prompts should use: `retriever`, or one with the checkpoint's own cases."""
    path = Path(model_dir) / CASES_FILE
    if not isinstance(retriever, ConfiguredRetriever) or retriever.config.k_cases == 0 or not path.is_file():
        return retriever
    rows = case_rows(load_pairs(path, "jsonl"))
    serving = retriever.kb.indexes.get(CASES)
    if not rows or (serving is not None and serving.meta.corpus_hash == corpus_hash(rows)):
        return retriever
    started = time.perf_counter()
    own = ConfiguredRetriever(retriever.kb.with_cases(rows), retriever.config)
    log.info("%s: cases index of its own %d training cases built in %.1fs", model_dir, len(rows), time.perf_counter() - started)
    return own
