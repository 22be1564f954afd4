"""Difficulty-based dynamic sampling for GRPO, as pure functions over indices and outcomes.

* `informative_groups`: keep a prompt's rollout group only when its rollouts are neither all
  right nor all wrong — such a group has zero advantage everywhere and teaches nothing;
* `in_pass_rate_window`: the optional pre-filter, keeping prompts whose pass rate under the
  SFT model lies in a window (too easy and hopeless prompts are left out before training);
* `prompt_order`: the order prompts are drawn in, shuffled, or class-balanced (round-robin
  over gold levels, the rarer levels' prompts repeated so every stretch of the epoch holds
  the levels equally), which the paper found helped most;
* `kept_level_weights`: balanced drawing does not balance what the filter keeps (levels the
  policy already gets right are rarely informative); these weights make every gold level
  carry the same share of the kept prompts' loss, from the running kept counts.
Knows nothing about models or rewards; the GRPO loop refills its batch from `prompt_order`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def informative_groups(correct: Sequence[Sequence[bool]]) -> tuple[list[int], float]:
    """(indices of groups with both right and wrong rollouts, fraction of groups filtered out).

    >>> informative_groups([[True, False], [True, True], [False, False], [False, True, True]])
    ([0, 3], 0.5)
    >>> informative_groups([])
    ([], 0.0)
    """
    keep = [i for i, group in enumerate(correct) if any(group) and not all(group)]
    filtered = (len(correct) - len(keep)) / len(correct) if correct else 0.0
    return keep, filtered


def in_pass_rate_window(pass_rates: Sequence[float], low: float, high: float) -> list[int]:
    """Indices of prompts whose pass rate p satisfies low <= p <= high.

    >>> in_pass_rate_window([0.0, 0.2, 0.5, 1.0], 0.1, 0.9)
    [1, 2]
    """
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low}, high={high}")
    return [i for i, p in enumerate(pass_rates) if low <= p <= high]


def prompt_order(levels: Sequence[int], seed: int, balanced: bool) -> list[int]:
    """One epoch of prompt indices: shuffled, or round-robin over levels (best level first) when balanced.

    A balanced epoch lasts until the commonest level's prompts are used once; a rarer level's
    prompts come round again (reshuffled each pass) until then, so every stretch of the epoch
    holds the levels in equal shares. Stopping when the rare levels run out instead would end
    the epoch with the common level alone: with 164/56/51/49 prompts at levels 4/3/2/1, the
    last 40 % of such an epoch was level 4 only, and GRPO's last steps trained on nothing else.

    >>> levels = [4, 4, 4, 1, 2]
    >>> [levels[i] for i in prompt_order(levels, seed=0, balanced=True)]  # the rare levels repeat
    [4, 2, 1, 4, 2, 1, 4, 2, 1]
    >>> sorted(prompt_order([4, 4, 4, 1, 2], seed=0, balanced=False))
    [0, 1, 2, 3, 4]
    """
    rng = random.Random(seed)
    if not balanced:
        order = list(range(len(levels)))
        rng.shuffle(order)
        return order
    by_level: dict[int, list[int]] = {}
    for i, level in enumerate(levels):
        by_level.setdefault(level, []).append(i)
    longest = max((len(items) for items in by_level.values()), default=0)
    queues = []
    for level in sorted(by_level, reverse=True):
        queue: list[int] = []
        while len(queue) < longest:  # each pass over a level's prompts in a fresh order
            items = list(by_level[level])
            rng.shuffle(items)
            queue.extend(items)
        queues.append(queue[:longest])
    return [q[k] for k in range(longest) for q in queues]


def kept_level_weights(kept: dict[int, float], cap: float = 4.0) -> dict[int, float]:
    """Per gold level, the loss weight that evens out the levels' shares of the kept prompts so far.

    Weight = (mean count over the levels kept so far) / count, clipped to [1/cap, cap]; a level
    never kept yet gets the cap (its first prompts count as much as the cap allows).

    >>> kept_level_weights({4: 15, 3: 3, 2: 2, 1: 0})
    {4: 0.444, 3: 2.222, 2: 3.333, 1: 4.0}
    >>> kept_level_weights({4: 0, 3: 0})
    {4: 1.0, 3: 1.0}
    """
    present = [count for count in kept.values() if count > 0]
    if not present:
        return {level: 1.0 for level in kept}
    mean = sum(present) / len(present)
    return {level: round(min(cap, max(1.0 / cap, mean / count)) if count > 0 else cap, 3) for level, count in kept.items()}


class PromptStream:
    """Endless prompt indices, epoch after epoch of `prompt_order` (a new seed per epoch)."""

    def __init__(self, levels: Sequence[int], seed: int, balanced: bool, allowed: Sequence[int] | None = None):
        self.allowed = list(range(len(levels))) if allowed is None else list(allowed)
        if not self.allowed:
            raise ValueError("no prompts to draw from (the pass-rate window left none)")
        self.levels = [levels[i] for i in self.allowed]
        self.seed = seed
        self.balanced = balanced
        self.epoch = 0
        self._queue: list[int] = []

    def take(self, n: int) -> list[int]:
        out = []
        while len(out) < n:
            if not self._queue:
                self._queue = [self.allowed[i] for i in prompt_order(self.levels, self.seed + self.epoch, self.balanced)]
                self.epoch += 1
            out.append(self._queue.pop(0))
        return out
