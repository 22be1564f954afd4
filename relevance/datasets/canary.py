"""The labelled pairs a new model version must pass before the service swaps it in (the canary set)."""

from __future__ import annotations

from pathlib import Path

from relevance.datasets.loaders import load_pairs
from relevance.paths import fixture_path
from relevance.types import LabeledPair


def canary_pairs(path: Path | None, size: int) -> list[LabeledPair]:
    """The first `size` labelled pairs of the canary file (default: the shipped ESCI dev fixture)."""
    return load_pairs(path or fixture_path("esci_dev.csv"))[:size]
