"""The doctests of the training modules (pass@k, pair construction, rewards, dynamic sampling, …) run here too."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "training.sampling", "training.dpo", "training.rewards", "training.dynamic_sampling", "training.grpo",
    "training.logprobs", "training.evaluate", "training.pipeline", "training.baseline", "training.examples",
    "training.confusion_plot", "relevance.cross_encoder", "training.label_dpo",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in ("training.sampling", "training.dpo", "training.rewards", "training.dynamic_sampling", "training.baseline",
                "training.label_dpo"):
        assert result.attempted > 0
