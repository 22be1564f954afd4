"""Where each corpus lives inside an index folder, and which row field is embedded for it.

An index folder holds one saved :class:`~retrieval.index.VectorIndex` per corpus:
``rules/`` (rule text embedded), ``knowledge/`` (the representative query ``pattern``
embedded) and, optionally, ``cases/`` (the labelled pair's ``query`` embedded; a case row is
``{"query", "title", "level"}``). Shared by the builder and the reader; knows nothing else.
"""

from __future__ import annotations

from typing import Any

RULES = "rules"
KNOWLEDGE = "knowledge"
CASES = "cases"
CORPORA = (RULES, KNOWLEDGE, CASES)
REQUIRED = (RULES, KNOWLEDGE)

EMBEDDED_FIELD = {RULES: "text", KNOWLEDGE: "pattern", CASES: "query"}


def embed_text(corpus: str, row: dict[str, Any]) -> str:
    """The text embedded for ``row`` of ``corpus`` (what a query is compared against)."""
    return str(row[EMBEDDED_FIELD[corpus]])
