"""Moved to `relevance.datasets.loaders` (serving's canary reads the same files); kept as an alias."""

from relevance.datasets.loaders import *  # noqa: F403
from relevance.datasets.loaders import __all__  # noqa: F401
