"""Parsing the model's label-first answer: the leading label, the rationale, its verdict.

Garbage never becomes a label: an answer whose first token is not one of the scheme's label
strings parses to `level=None` with the reason in `error`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relevance.labels import LabelScheme

_VERDICT = re.compile(r"verdict\s*:\s*(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAnswer:
    level: int | None
    reasoning: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.level is not None


def parse_answer(text: str, scheme: LabelScheme) -> ParsedAnswer:
    """Split a label-first answer into its level and reasoning.

    >>> from relevance.labels import TAOSR1
    >>> parse_answer("3\\n1. Query: a red mug", TAOSR1)
    ParsedAnswer(level=3, reasoning='1. Query: a red mug', error=None)
    >>> parse_answer("Sure! It is relevant.", TAOSR1).error
    "answer does not start with a label (expected one of '4', '3', '2', '1'), got 'Sure!'"
    """
    stripped = text.strip()
    if not stripped:
        return ParsedAnswer(None, "", "empty answer")
    head, _, rest = stripped.partition("\n")
    first = head.split(maxsplit=1)[0] if head.split() else ""
    token = first.rstrip(".:,)")
    lv = scheme.by_emit(token)
    if lv is None:
        expected = ", ".join(repr(e) for e in scheme.emits)
        return ParsedAnswer(None, stripped, f"answer does not start with a label (expected one of {expected}), got {first[:20]!r}")
    same_line = head[len(first):].strip()
    reasoning = "\n".join(x for x in (same_line, rest.strip()) if x)
    return ParsedAnswer(lv.level, reasoning)


def verdict_level(reasoning: str, scheme: LabelScheme) -> int | None:
    """The level named in the rationale's 'Verdict:' step, or None when absent or unreadable.

    >>> from relevance.labels import TAOSR1
    >>> verdict_level("4. Attribute match: ok\\n5. Verdict: 2 Mismatch", TAOSR1)
    2
    """
    matches = _VERDICT.findall(reasoning)
    if not matches:
        return None
    token = matches[-1].rstrip(".:,)")
    lv = scheme.by_emit(token)
    if lv is not None:
        return lv.level
    for level in scheme.levels:
        if token.lower() == level.name.lower():
            return level.level
    return None
