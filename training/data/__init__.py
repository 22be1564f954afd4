"""Training data: the synthetic catalogue, rules, queries and their rendering into pairs.

Generating only; the readers of labelled files (ESCI / WANDS / JSONL) live in
`relevance.datasets` (serving's canary reads them too), prompts and models elsewhere.
"""

from __future__ import annotations

from relevance.paths import FIXTURES_DIR, fixture_path

__all__ = ["FIXTURES_DIR", "fixture_path"]
