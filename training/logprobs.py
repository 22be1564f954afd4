"""Per-token log-probabilities of completions after prompts, for the own-loop trainers (DPO, GRPO).

Sequences are `prompt ids + completion ids`, right-padded into one batch. Only completion
positions are pushed through the output head (a 49k-row matrix; projecting every prompt
position would cost most of the step on CPU). Knows nothing about losses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def pad_batch(
    prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, completion_mask), right-padded; completion_mask marks completion tokens.

    >>> ids, attn, comp = pad_batch([[1, 2], [3]], [[4], [5, 6]], pad_id=0)
    >>> ids.tolist(), attn.tolist(), comp.tolist()
    ([[1, 2, 4], [3, 5, 6]], [[1, 1, 1], [1, 1, 1]], [[0, 0, 1], [0, 1, 1]])
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    width = max(len(p) + len(c) for p, c in zip(prompts, completions, strict=True))
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(prompts), width), dtype=torch.long)
    comp = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        n = len(p) + len(c)
        ids[r, :n] = torch.tensor(list(p) + list(c), dtype=torch.long)
        attn[r, :n] = 1
        comp[r, len(p) : n] = 1
    return ids, attn, comp


def completion_logprobs(
    model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(token_logps, mask), both (batch, max completion length): log p(token | everything before it).

    Differentiable when `model` has trainable parameters and grad is enabled.
    """
    device = next(model.parameters()).device
    ids, attn, comp = pad_batch(prompts, completions, pad_id)
    ids, attn, comp = ids.to(device), attn.to(device), comp.to(device)
    body = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    hidden = body(input_ids=ids, attention_mask=attn, use_cache=False).last_hidden_state
    # a completion token at position t is predicted from the hidden state at t-1
    predict = comp[:, 1:].bool()
    rows, cols = predict.nonzero(as_tuple=True)
    picked = hidden[:, :-1][rows, cols]
    logits = model.get_output_embeddings()(picked).float()
    targets = ids[:, 1:][rows, cols]
    token_logps = torch.log_softmax(logits, dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
    longest = max(len(c) for c in completions)
    out = torch.zeros((len(completions), longest), dtype=token_logps.dtype, device=device)
    mask = torch.zeros((len(completions), longest), dtype=torch.bool, device=device)
    starts = comp.argmax(dim=1)  # first completion position per row
    offsets = cols + 1 - starts[rows]
    out[rows, offsets] = token_logps
    mask[rows, offsets] = True
    return out, mask
