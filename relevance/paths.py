"""Where the project lives on disk: the repository root and the shipped data fixtures.

The one definition of `REPO_ROOT` (settings defaults, recipes and the CLI resolve paths
against it). Knows nothing about what the files contain.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: real labelled ESCI pairs shipped with the training package (package-data `training/data/fixtures/*`)
FIXTURES_DIR = REPO_ROOT / "training" / "data" / "fixtures"


def fixture_path(name: str) -> Path:
    """Path of a shipped fixture file, e.g. ``fixture_path("esci_dev.csv")``."""
    path = FIXTURES_DIR / name
    if not path.is_file():
        known = sorted(p.name for p in FIXTURES_DIR.iterdir() if p.is_file())
        raise FileNotFoundError(f"no fixture {name!r} in {FIXTURES_DIR}; shipped: {', '.join(known)}")
    return path
