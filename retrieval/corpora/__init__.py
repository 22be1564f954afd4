"""The hand-written knowledge corpora shipped inside the package, loaded and validated.

Rule files: atomic relevance rules ``{"id", "kind", "text", "level"}``; each text is one
sentence stating the level (1-4) it implies. The rules state a label scheme's line between
levels, so there is one file per line: ``rules.jsonl`` for TaoSR1's (``taosr1-4level``: a
broken stated attribute is 2 Mismatch) and ``rules-esci-line.jsonl`` for ESCI's
(``taosr1-4level-esci`` and ``esci``: the right kind of product that breaks a stated detail is
a 3 substitute). A model retrieves the rules of the scheme it was trained under. ``query_knowledge.jsonl``: what a query means,
``{"id", "pattern", "text"}``; ``pattern`` is a representative query, the text that gets
embedded. This module only reads and checks the files; it does not embed or index them.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from relevance.labels import DEFAULT_SCHEME, SCHEMES

RULE_KINDS = (
    "brand",
    "model_compatibility",
    "key_attribute",
    "category",
    "negation",
    "alternative_to",
    "accessory_vs_main",
    "quantity_size",
    "gender_age",
    "material_color",
    "price",
    "general",
)
LEVEL_NAMES = {4: "Excellent", 3: "Related", 2: "Mismatch", 1: "Irrelevant"}
RULES_FILE = "rules.jsonl"
#: the rules file of each line a label scheme can draw (relevance.labels.LINES)
RULES_FILES = {"taosr1": RULES_FILE, "esci": "rules-esci-line.jsonl"}
KNOWLEDGE_FILE = "query_knowledge.jsonl"


def _read_jsonl(name: str) -> list[dict[str, Any]]:
    text = files(__name__).joinpath(name).read_text(encoding="utf-8")
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{name}:{lineno}: not valid JSON: {exc}") from exc
    return rows


def _check(name: str, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    seen: set[str] = set()
    for i, row in enumerate(rows, 1):
        missing = [k for k in keys if not row.get(k) and row.get(k) != 0]
        if missing or set(row) - set(keys):
            raise ValueError(f"{name} row {i}: needs exactly the keys {keys}, got {sorted(row)}")
        if row["id"] in seen:
            raise ValueError(f"{name} row {i}: duplicate id {row['id']!r}")
        seen.add(row["id"])


def rules_file(scheme: str | None = None) -> str:
    """The rules file of label scheme ``scheme`` (default: the default scheme's)."""
    name = scheme or DEFAULT_SCHEME.name
    if name not in SCHEMES:
        raise ValueError(f"no rules for label scheme {name!r}; known schemes: {sorted(SCHEMES)}")
    return RULES_FILES[SCHEMES[name].line]


def load_rules(scheme: str | None = None) -> list[dict[str, Any]]:
    """The relevance rules of label scheme ``scheme`` (default: the default scheme's), checked:
    known kind, level 1-4 named in the text."""
    name = rules_file(scheme)
    rows = _read_jsonl(name)
    _check(name, rows, ("id", "kind", "text", "level"))
    for row in rows:
        if row["kind"] not in RULE_KINDS:
            raise ValueError(f"{name} {row['id']}: kind {row['kind']!r} not in {RULE_KINDS}")
        level = row["level"]
        if level not in LEVEL_NAMES or f"{level} {LEVEL_NAMES[level]}" not in row["text"]:
            raise ValueError(f"{name} {row['id']}: level {level!r} must be 1-4 and be stated in the text")
    return rows


def load_query_knowledge() -> list[dict[str, Any]]:
    """The shipped query-knowledge entries, checked for keys and unique ids."""
    rows = _read_jsonl(KNOWLEDGE_FILE)
    _check(KNOWLEDGE_FILE, rows, ("id", "pattern", "text"))
    return rows
