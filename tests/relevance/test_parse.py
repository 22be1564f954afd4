"""Parsing label-first answers: labels, reasoning, verdicts, and explicit failures on garbage."""

import pytest

from relevance.labels import ESCI, TAOSR1
from relevance.parse import parse_answer, verdict_level


@pytest.mark.parametrize(
    ("text", "level", "reasoning"),
    [
        ("4", 4, ""),
        ("  3\n1. Query: mug\n5. Verdict: 3", 3, "1. Query: mug\n5. Verdict: 3"),
        ("2. The brand conflicts", 2, "The brand conflicts"),
        ("1 irrelevant", 1, "irrelevant"),
    ],
)
def test_labels_are_read_from_the_first_token(text, level, reasoning):
    parsed = parse_answer(text, TAOSR1)
    assert parsed.ok and parsed.level == level and parsed.reasoning == reasoning


@pytest.mark.parametrize("text", ["", "   ", "Sure, here is my answer: 4", "5\nreasoning", "Excellent", "44"])
def test_garbage_is_a_parse_failure_never_a_label(text):
    parsed = parse_answer(text, TAOSR1)
    assert parsed.level is None and not parsed.ok
    assert parsed.error


def test_scheme_specific_labels():
    assert parse_answer("S\nclose substitute", ESCI).level == 3
    assert parse_answer("3", ESCI).level is None


def test_verdict_level():
    assert verdict_level("5. Verdict: 2 Mismatch", TAOSR1) == 2
    assert verdict_level("5. Verdict: Excellent.", TAOSR1) == 4
    assert verdict_level("no verdict here", TAOSR1) is None
    assert verdict_level("Verdict: maybe", TAOSR1) is None
