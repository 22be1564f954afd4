"""Model FLOPs for scoring, and the machine's measured matmul peak — the two halves of MFU.

FLOPs count only what the model must compute for the tokens it runs: 2 × (decoder-layer
parameters) per token, plus attention scores and values (4 × layers × attention width ×
context length) per token, plus the 4-row label head. Embedding lookups are free. With prefix
sharing the prefix is counted once per query, because it is computed once.
"""

from __future__ import annotations

import time

import torch


def decoder_params(model) -> int:
    return sum(p.numel() for p in model.get_decoder().layers.parameters())


def attention_width(model) -> int:
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return cfg.num_attention_heads * head_dim


def flops_for_tokens(model, n_tokens: int, context_start: int) -> float:
    """FLOPs to run `n_tokens` consecutive tokens whose first sees `context_start` earlier tokens."""
    layers = model.config.num_hidden_layers
    dense = 2.0 * decoder_params(model) * n_tokens
    # sum of context lengths (causal) over the run
    ctx_sum = n_tokens * context_start + n_tokens * (n_tokens + 1) / 2
    return dense + 4.0 * layers * attention_width(model) * ctx_sum


def scoring_flops(model, prefix_len: int, suffix_lens: list[int], shared: bool) -> float:
    hidden = model.config.hidden_size
    head = 2.0 * 4 * hidden * len(suffix_lens)
    if shared:
        return flops_for_tokens(model, prefix_len, 0) + sum(flops_for_tokens(model, s, prefix_len) for s in suffix_lens) + head
    return sum(flops_for_tokens(model, prefix_len + s, 0) for s in suffix_lens) + head


def matmul_peak(dtype: torch.dtype = torch.bfloat16, n: int = 2048, seconds: float = 3.0) -> float:
    """Best sustained FLOP/s of an n×n matmul in `dtype` over a few short windows (the limit)."""
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        reps = 4
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2.0 * n**3 * reps / (time.perf_counter() - t))
    return best
