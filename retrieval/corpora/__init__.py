"""The hand-written knowledge corpora shipped inside the package, loaded and validated.

``rules.jsonl``: atomic relevance rules ``{"id", "kind", "text", "level"}``; each text is one
sentence stating the level (1-4) it implies. ``query_knowledge.jsonl``: what a query means,
``{"id", "pattern", "text"}``; ``pattern`` is a representative query, the text that gets
embedded. This module only reads and checks the files; it does not embed or index them.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

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


def load_rules() -> list[dict[str, Any]]:
    """The shipped relevance rules, checked: known kind, level 1-4 named in the text."""
    rows = _read_jsonl(RULES_FILE)
    _check(RULES_FILE, rows, ("id", "kind", "text", "level"))
    for row in rows:
        if row["kind"] not in RULE_KINDS:
            raise ValueError(f"{RULES_FILE} {row['id']}: kind {row['kind']!r} not in {RULE_KINDS}")
        level = row["level"]
        if level not in LEVEL_NAMES or f"{level} {LEVEL_NAMES[level]}" not in row["text"]:
            raise ValueError(
                f"{RULES_FILE} {row['id']}: level {level!r} must be 1-4 and be stated in the text"
            )
    return rows


def load_query_knowledge() -> list[dict[str, Any]]:
    """The shipped query-knowledge entries, checked for keys and unique ids."""
    rows = _read_jsonl(KNOWLEDGE_FILE)
    _check(KNOWLEDGE_FILE, rows, ("id", "pattern", "text"))
    return rows
