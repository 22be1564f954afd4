"""Moved to `relevance.metrics` (serving's canary uses it too); kept as an alias."""

from relevance.metrics import bootstrap_interval, classification_report  # noqa: F401
