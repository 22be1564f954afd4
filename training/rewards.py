"""GRPO rewards as plain functions of (answer text, gold level): the correct label, plus a format term.

The label is read with `relevance.parse.parse_answer` (the serving parser), the rationale's
verdict with `relevance.parse.verdict_level`. The format term rewards the label-first shape
and a rationale whose verdict agrees with the emitted label; a verdict that contradicts the
label (the paper's *discriminative hallucination*) earns nothing. Knows nothing about models.
"""

from __future__ import annotations

from relevance.labels import LabelScheme
from relevance.parse import parse_answer, verdict_level


def label_reward(text: str, gold: int, scheme: LabelScheme) -> float:
    """1.0 when the answer's leading label is the gold level, else 0.0.

    >>> from relevance.labels import TAOSR1
    >>> label_reward("3\\n1. Query: mug", 3, TAOSR1), label_reward("2", 3, TAOSR1), label_reward("mug", 3, TAOSR1)
    (1.0, 0.0, 0.0)
    """
    return 1.0 if parse_answer(text, scheme).level == gold else 0.0


def format_reward(text: str, scheme: LabelScheme) -> float:
    """0 without a leading label; 0.5 with one but no readable verdict; 1.0 when the verdict agrees; 0 when it contradicts.

    >>> from relevance.labels import TAOSR1
    >>> format_reward("Sure, relevant", TAOSR1), format_reward("4", TAOSR1)
    (0.0, 0.5)
    >>> format_reward("4\\n5. Verdict: 4 Excellent", TAOSR1), format_reward("4\\n5. Verdict: 1 Irrelevant", TAOSR1)
    (1.0, 0.0)
    """
    parsed = parse_answer(text, scheme)
    if parsed.level is None:
        return 0.0
    verdict = verdict_level(parsed.reasoning, scheme)
    if verdict is None:
        return 0.5
    return 1.0 if verdict == parsed.level else 0.0


def total_reward(text: str, gold: int, scheme: LabelScheme, format_weight: float = 0.1) -> float:
    """label_reward + format_weight * format_reward.

    >>> from relevance.labels import TAOSR1
    >>> total_reward("2\\n5. Verdict: 2 Mismatch", 2, TAOSR1, 0.1), total_reward("4", 2, TAOSR1, 0.1)
    (1.1, 0.05)
    """
    return label_reward(text, gold, scheme) + format_weight * format_reward(text, scheme)
