"""Build the index folder a :class:`~retrieval.knowledge.KnowledgeBase` reads, idempotently.

Embeds the shipped rules (of one label scheme: each scheme states its own line between levels)
and query knowledge (and labelled cases when given: one row
``{"query", "title", "level"}`` per distinct pair) and saves one index per corpus under
``out_dir`` (layout in :mod:`retrieval.layout`). A corpus whose saved index already has the
same rows (corpus hash), embedder id, kind and embedded field is left alone and reported
``cached``; the embedder is only loaded when something must be embedded. It does not know
where cases come from (training's loaders produce the ``LabeledPair`` values).

The command line is `taosr1 index build [--out DIR] [--kind flat|ivf|hnsw] [--cases FILE | --no-cases]`
(one command, which also builds the default cases index); this module has no second one.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from relevance.types import LabeledPair
from retrieval.corpora import load_query_knowledge, load_rules
from retrieval.embedder import DEFAULT_DIM, DEFAULT_MODEL_ID, Embedder
from retrieval.index import KINDS, VectorIndex, corpus_hash
from retrieval.layout import CASES, EMBEDDED_FIELD, KNOWLEDGE, RULES, embed_text


def case_rows(pairs: Iterable[LabeledPair]) -> list[dict[str, Any]]:
    """One ``{"query", "title", "level"}`` row per distinct labelled pair, in first-seen order."""
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for pair in pairs:
        key = (pair.query, pair.product.title, int(pair.level))
        rows.setdefault(key, {"query": key[0], "title": key[1], "level": key[2]})
    return list(rows.values())


def _is_current(
    directory: Path, rows: list[dict[str, Any]], embedder_id: str, dim: int, kind: str, info: dict[str, Any]
) -> bool:
    """True if ``directory`` holds a loadable index of exactly these rows, embedder, kind and field."""
    try:
        saved = VectorIndex.load(directory, expected_embedder_id=embedder_id, expected_dim=dim)
    except (OSError, ValueError):  # missing files, or IndexMismatchError (a ValueError)
        return False
    return saved.meta.corpus_hash == corpus_hash(rows) and saved.kind == kind and saved.meta.info == info


def build_indexes(
    out_dir: str | Path,
    cases: Iterable[LabeledPair] = (),
    kind: str = "flat",
    embedder: Embedder | None = None,
    scheme: str | None = None,
) -> dict[str, Any]:
    """Build (or confirm up to date) the rules, knowledge and optional cases indexes in ``out_dir``.

    The rules are those of label scheme ``scheme`` (default: the default scheme's; a model
    retrieves the rules of the scheme it was trained under, see retrieval.model_cases).

    Without cases, a cases index left over from an earlier build is removed, so the folder
    always reflects the inputs. Returns ``{"out_dir", "kind", "embedder_id", "seconds",
    "cached", <corpus>: {"count", "cached", "seconds"}}``; top-level ``cached`` is true when no
    corpus needed rebuilding.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    started = time.perf_counter()
    out = Path(out_dir)
    corpora: dict[str, list[dict[str, Any]]] = {RULES: load_rules(scheme), KNOWLEDGE: load_query_knowledge()}
    rows_of_cases = case_rows(cases)
    if rows_of_cases:
        corpora[CASES] = rows_of_cases
    embedder_id = embedder.model_id if embedder is not None else DEFAULT_MODEL_ID
    dim = embedder.dim if embedder is not None else DEFAULT_DIM
    summary: dict[str, Any] = {"out_dir": str(out), "kind": kind, "embedder_id": embedder_id}
    for name, rows in corpora.items():
        t0 = time.perf_counter()
        info = {"corpus": name, "embedded_field": EMBEDDED_FIELD[name]}
        cached = _is_current(out / name, rows, embedder_id, dim, kind, info)
        if not cached:
            if embedder is None:
                embedder = Embedder.load()
            vectors = embedder.encode([embed_text(name, row) for row in rows])
            VectorIndex.build(vectors, rows, kind=kind, embedder_id=embedder.model_id, info=info).save(
                out / name
            )
        summary[name] = {"count": len(rows), "cached": cached, "seconds": round(time.perf_counter() - t0, 3)}
    if not rows_of_cases:
        removed = (out / CASES).exists()
        if removed:
            shutil.rmtree(out / CASES)
        summary[CASES] = {"count": 0, "cached": not removed, "seconds": 0.0, "removed": removed}
    summary["cached"] = all(summary[name]["cached"] for name in (RULES, KNOWLEDGE, CASES))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary
