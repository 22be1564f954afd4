"""Attention for a batch of suffixes that all continue one shared prefix, without copying the prefix.

Scoring a page runs the query's prefix once (batch 1) and then every product's suffix in one
batch that continues it. The stock path expands the prefix K/V to every row and concatenates
each layer's suffix K/V onto it, so every layer copies rows × prefix keys and values and then
attends over those copies row by row. This attention splits the softmax over keys in two
instead and merges the halves exactly through their log-sum-exps:

- all rows' suffix queries against the one prefix K/V: a single flash-attention call with the
  rows folded into the query length (one large matmul per head, no copy of the prefix);
- each row's suffix queries against its own suffix K/V, causal (suffixes are right-padded, so
  a real token never sees padding; padded positions are never read).

`out = σ(lse_prefix − lse_suffix) · out_prefix + (1 − σ(…)) · out_suffix` is the softmax over
the concatenated keys. The function is registered with transformers' AttentionInterface under
`NAME`; a forward without the `shared_prefix` keyword (prefix runs, generation, unshared
scoring) goes to transformers' SDPA attention unchanged, and masks are built as for SDPA.
CPU only (the engine turns it on for CPU models): it uses the CPU flash kernel's log-sum-exp.
"""

from __future__ import annotations

import torch

NAME = "taosr1_shared_prefix"

# (keys, values) per layer, each (1, heads, prefix_len, head_dim): KV heads already repeated to the query heads
SharedPrefix = list[tuple[torch.Tensor, torch.Tensor]]


def _flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(output, log-sum-exp over keys) of softmax attention: the CPU flash kernel, which returns both."""
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, causal, scale=scale)
    return out, lse


def repeat_heads(kv: torch.Tensor, heads: int) -> torch.Tensor:
    """(b, kv_heads, n, d) -> (b, heads, n, d), each KV head repeated for its query-head group."""
    groups = heads // kv.shape[1]
    return kv if groups == 1 else kv.repeat_interleave(groups, dim=1)


def expand_prefix(layers: list[tuple[torch.Tensor, torch.Tensor]], heads: int) -> SharedPrefix:
    """A prefix's per-layer KV cache (batch 1, KV heads) in the form the attention reads: query heads."""
    return [(repeat_heads(k, heads), repeat_heads(v, heads)) for k, v in layers]


def shared_prefix_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    shared_prefix: SharedPrefix | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention of `query` (rows, heads, suffix, d) over the shared prefix then its own row's keys.

    Returns (rows, suffix, heads, d), the layout transformers' attention functions return.
    """
    if shared_prefix is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    prefix_k, prefix_v = shared_prefix[module.layer_idx]
    rows, heads, length, dim = query.shape
    folded = query.transpose(0, 1).reshape(1, heads, rows * length, dim)
    out_p, lse_p = _flash(folded, prefix_k, prefix_v, causal=False, scale=scaling)
    out_p = out_p.reshape(heads, rows, length, dim).transpose(0, 1)
    lse_p = lse_p.reshape(heads, rows, length).transpose(0, 1)
    out_s, lse_s = _flash(query, repeat_heads(key, heads), repeat_heads(value, heads), causal=True, scale=scaling)
    weight = torch.sigmoid(lse_p - lse_s).unsqueeze(-1)
    out = torch.lerp(out_s.float(), out_p.float(), weight).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register the attention (and SDPA's mask builder under its name) with transformers; returns NAME."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, shared_prefix_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
