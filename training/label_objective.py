"""The label-first training signal: the 4-way label distribution serving reads, with gradients.

Label first means the decision is one token: serving reads the softmax over the label
tokens' logits at the first answer position. Training reads exactly the same numbers,
computed the way serving computes them — a query's prefix (instruction, retrieved context,
query) runs once and its KV is broadcast over the query's products, whose suffixes run as
one right-padded batch against it — except that gradients flow through both (LoRA weights
see the prefix once per query, not once per product). Suffix lengths are padded up to a
multiple of `PAD_MULTIPLE` so the kernels see few distinct shapes.

`LabelGroup` is one query's products; `build_groups` tokenizes CoT records into groups with
the serving renderer; `label_logits` is the forward (`answer_hidden`, then the label rows). Knows nothing about optimisers or
which loss a stage puts on the logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from relevance.prompt import PromptRenderer
from relevance.tokens import label_token_ids
from training.examples import CotRecord

#: suffix batches are padded to a multiple of this many tokens (fewer distinct shapes)
PAD_MULTIPLE = 16


@dataclass
class LabelGroup:
    """One query's products: the shared prefix ids, each product's suffix ids and gold level."""

    prefix: list[int]
    suffixes: list[list[int]]
    golds: list[int]  # gold levels (4 best … 1)
    records: list[int]  # indices into the record list the group was built from

    @property
    def n(self) -> int:
        return len(self.suffixes)

    def tokens(self) -> int:
        """Tokens one forward over this group computes (prefix once, suffixes unpadded)."""
        return len(self.prefix) + sum(len(s) for s in self.suffixes)

    def subset(self, keep: Sequence[int]) -> LabelGroup:
        return LabelGroup(self.prefix, [self.suffixes[i] for i in keep], [self.golds[i] for i in keep], [self.records[i] for i in keep])


def build_groups(renderer: PromptRenderer, records: Sequence[CotRecord], max_group: int = 8) -> list[LabelGroup]:
    """Records grouped by (query, retrieved context) in file order, at most `max_group` products a group."""
    keyed: dict[tuple, list[int]] = {}
    for i, r in enumerate(records):
        keyed.setdefault((r.pair.query, r.context), []).append(i)
    groups = []
    for (query, context), idx in keyed.items():
        prefix = renderer.encode_prefix(query, context)
        for start in range(0, len(idx), max_group):
            part = idx[start : start + max_group]
            suffixes = [renderer.encode_suffix(records[i].pair.product, records[i].pair.query) for i in part]
            groups.append(LabelGroup(prefix, suffixes, [records[i].pair.level for i in part], part))
    return groups


def record_positions(groups: Sequence[LabelGroup], n_records: int) -> list[tuple[int, int]]:
    """For each record index, (group, row) where `build_groups` put it.

    >>> record_positions([LabelGroup([], [[1], [2]], [4, 3], [2, 0]), LabelGroup([], [[3]], [1], [1])], 3)
    [(0, 1), (1, 0), (0, 0)]
    """
    where = [(-1, -1)] * n_records
    for gi, group in enumerate(groups):
        for row, ri in enumerate(group.records):
            where[ri] = (gi, row)
    return where


class LabelHead:
    """The label tokens' rows of a model's output head and the levels they stand for."""

    def __init__(self, model, tokenizer, scheme):
        self.ids = label_token_ids(tokenizer, scheme)
        self.levels = scheme.level_values  # best first, the column order of label_logits
        self.model = model

    def column(self, level: int) -> int:
        return self.levels.index(level)

    def columns(self, levels: Sequence[int]) -> torch.Tensor:
        return torch.tensor([self.levels.index(lv) for lv in levels], dtype=torch.long)

    def weight(self) -> torch.Tensor:
        return self.model.get_output_embeddings().weight[self.ids]


def _padded(seqs: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = math.ceil(max(len(s) for s in seqs) / PAD_MULTIPLE) * PAD_MULTIPLE
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, : len(s)] = torch.tensor(s)
        mask[r, : len(s)] = 1
    last = torch.tensor([len(s) - 1 for s in seqs])
    return ids.to(device), mask.to(device), last.to(device)


def label_logits(model, head: LabelHead, group: LabelGroup, pad_id: int) -> torch.Tensor:
    """(n, L) label logits of the group's products, best level first, with gradients.

    Equal to scoring each prompt alone (tested), like the serving engine's shared path.
    """
    return answer_hidden(model, group, pad_id).float() @ head.weight().float().T


def answer_hidden(model, group: LabelGroup, pad_id: int) -> torch.Tensor:
    """(n, hidden) final hidden states at each product's answer position, the vectors the label rows read.

    The prefix runs once (batch 1, use_cache); its per-layer KV is expanded over the n
    suffixes, which run as one padded batch at positions after the prefix.
    """
    from transformers import DynamicCache

    device = next(model.parameters()).device
    backbone = model.get_decoder()
    prefix = torch.tensor([group.prefix], device=device)
    out = backbone(input_ids=prefix, use_cache=True)
    layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
    n, p_len = group.n, len(group.prefix)
    ids, mask, last = _padded(group.suffixes, pad_id, device)
    cache = DynamicCache(ddp_cache_data=[(k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in layers])
    mask = torch.cat([torch.ones((n, p_len), dtype=mask.dtype, device=device), mask], dim=1)
    positions = (torch.arange(ids.shape[1], device=device) + p_len).unsqueeze(0).expand(n, -1)
    hidden = backbone(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True).last_hidden_state
    return hidden[torch.arange(n, device=device), last]


def class_weights(golds: Sequence[int], levels: Sequence[int], power: float = 1.0) -> torch.Tensor:
    """Per-level loss weights ∝ (1 / frequency)^power, mean 1 over the examples (power 0 = unweighted).

    >>> [round(x, 3) for x in class_weights([4, 4, 4, 1], (4, 3, 2, 1)).tolist()]
    [0.667, 2.0, 2.0, 2.0]
    """
    counts = torch.tensor([max(1, sum(1 for g in golds if g == lv)) for lv in levels], dtype=torch.float32)
    w = counts.pow(-power)
    per_example = torch.tensor([w[list(levels).index(g)] for g in golds])
    return w / per_example.mean()
