"""Each served checkpoint retrieves the rules and the similar judged cases it was trained with.

A trained checkpoint ships its training split as `cases.jsonl` (training.export), and its
prompts were built with a cases index of exactly those pairs. The service opens one index
folder at start (`make serve` builds its cases index from the default model's file). A
checkpoint hot-loaded later — a new registry version, an admin reload — ships its own
split; scoring it against the start-up cases would put another model's judged cases into its
prompts. `checkpoint_retriever` gives such a checkpoint a retriever of its own: the service's
rules and query-knowledge indexes (shared, not copied) and a cases index of its `cases.jsonl`,
built in memory with the service's embedder while the checkpoint loads. A checkpoint whose
cases are the serving index's, or that ships none, or a config that retrieves no cases,
keeps the service's cases.

The rules state a label scheme's line between levels (retrieval.corpora), so a checkpoint
trained under another scheme than the serving index's rules were built for gets its scheme's
rules the same way (about 50 sentences, embedded in well under a second).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from relevance.checkpoint import CASES_FILE
from relevance.datasets.loaders import load_pairs
from relevance.retrieval_config import Retriever
from retrieval.build import case_rows
from retrieval.corpora import load_rules
from retrieval.index import corpus_hash
from retrieval.knowledge import ConfiguredRetriever
from retrieval.layout import CASES, RULES

log = logging.getLogger("taosr1.retrieval")


def checkpoint_retriever(
    retriever: Retriever | None, model_dir: Path | str, label_scheme: str | None = None
) -> Retriever | None:
    """The retriever a checkpoint's prompts should use: `retriever`, or one with the checkpoint's own
    cases (its `cases.jsonl`) and the rules of its `label_scheme` (None: the serving rules)."""
    if not isinstance(retriever, ConfiguredRetriever):
        return retriever
    kb, started, changed = retriever.kb, time.perf_counter(), []
    if label_scheme is not None and retriever.config.k_rules > 0:
        rules = load_rules(label_scheme)
        if kb.indexes[RULES].meta.corpus_hash != corpus_hash(rules):
            kb = kb.with_rules(rules)
            changed.append(f"the {len(rules)} rules of label scheme {label_scheme}")
    path = Path(model_dir) / CASES_FILE
    if retriever.config.k_cases > 0 and path.is_file():
        rows = case_rows(load_pairs(path, "jsonl"))
        serving = kb.indexes.get(CASES)
        if rows and (serving is None or serving.meta.corpus_hash != corpus_hash(rows)):
            kb = kb.with_cases(rows)
            changed.append(f"its own {len(rows)} training cases")
    if not changed:
        return retriever
    log.info("%s: retrieves %s (indexed in %.1fs)", model_dir, " and ".join(changed), time.perf_counter() - started)
    return ConfiguredRetriever(kb, retriever.config, retriever.without_own_query)
