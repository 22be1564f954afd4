"""A within-query ordering term for the label objective: RankNet on the expected level.

The label CE scores each product on its own, so a model can lower it by learning each query's
level prior (most products of this query are Exact) without learning which of the query's
products is better than which. This term looks only at that: for every two products of one
query group with different gold levels, RankNet's logistic loss on the gap between their
expected levels (the ranking score serving returns, before its affine map to [0, 1]),
`softplus(-scale * (E_better - E_worse))`. Moving all of a query's expected levels together
leaves it unchanged, so a query's prior cannot lower it. Knows nothing about optimisers or
groups' forwards.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def ordered_pairs(golds: Sequence[int]) -> tuple[list[int], list[int]]:
    """(better, worse) row indices of every two rows with different gold levels.

    >>> ordered_pairs([4, 3, 4, 1])
    ([0, 0, 1, 2, 2], [1, 3, 3, 1, 3])
    """
    better, worse = [], []
    for i, gi in enumerate(golds):
        for j, gj in enumerate(golds):
            if gi > gj:
                better.append(i)
                worse.append(j)
    return better, worse


def expected_levels(logits: torch.Tensor, levels_best_first: Sequence[int]) -> torch.Tensor:
    """(n,) expected level of each row's label distribution (columns best level first, as `label_logits`)."""
    values = torch.tensor(list(levels_best_first), dtype=logits.dtype, device=logits.device)
    return logits.softmax(-1) @ values


def rank_loss_sum(logits: torch.Tensor, golds: Sequence[int], levels_best_first: Sequence[int], scale: float) -> tuple[torch.Tensor, int]:
    """(sum of the pairwise logistic losses, pairs ordered right) over the group's ordered pairs.

    The caller divides by the step's pair count (known from gold levels alone, before any forward).
    """
    better, worse = ordered_pairs(golds)
    if not better:
        return logits.sum() * 0.0, 0
    expected = expected_levels(logits, levels_best_first)
    gap = expected[better] - expected[worse]
    return F.softplus(-scale * gap).sum(), int((gap.detach() > 0).sum())
