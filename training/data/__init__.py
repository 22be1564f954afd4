"""Training data: loaders for ESCI / WANDS / JSONL, the synthetic catalogue, real fixtures.

Loading and generating only; prompts, labels-as-tokens and models live elsewhere.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


def fixture_path(name: str) -> Path:
    """Path of a shipped fixture file, e.g. ``fixture_path("esci_dev.csv")``."""
    path = FIXTURES_DIR / name
    if not path.is_file():
        known = sorted(p.name for p in FIXTURES_DIR.iterdir() if p.is_file())
        raise FileNotFoundError(f"no fixture {name!r} in {FIXTURES_DIR}; shipped: {', '.join(known)}")
    return path
