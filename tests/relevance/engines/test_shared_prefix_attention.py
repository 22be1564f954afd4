"""The shared-prefix attention against SDPA over the prefix K/V copied to every row."""

import pytest
import torch

from relevance.engines.shared_prefix_attention import expand_prefix, register, shared_prefix_attention


class _Layer(torch.nn.Module):
    layer_idx = 0


def _reference(q, suffix_k, suffix_v, prefix_k, prefix_v, scale):
    """SDPA over cat(prefix copied per row, own suffix) with the causal mask offset by the prefix."""
    rows, heads, length, _ = q.shape
    groups = heads // suffix_k.shape[1]
    k = torch.cat([prefix_k.expand(rows, -1, -1, -1), suffix_k], dim=2).repeat_interleave(groups, dim=1)
    v = torch.cat([prefix_v.expand(rows, -1, -1, -1), suffix_v], dim=2).repeat_interleave(groups, dim=1)
    p = prefix_k.shape[2]
    mask = torch.ones(length, p + length, dtype=torch.bool).tril(p)
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale).transpose(1, 2)


@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (6, 2)])
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_equals_attention_over_the_copied_prefix(heads, kv_heads, dtype, atol):
    g = torch.Generator().manual_seed(0)
    rows, length, prefix, dim, scale = 5, 7, 11, 16, 0.25

    def rand(*shape):
        return torch.randn(*shape, generator=g)

    q, sk, sv = rand(rows, heads, length, dim), rand(rows, kv_heads, length, dim), rand(rows, kv_heads, length, dim)
    pk, pv = rand(1, kv_heads, prefix, dim), rand(1, kv_heads, prefix, dim)
    expected = _reference(q, sk, sv, pk, pv, scale)
    shared = expand_prefix([(pk.to(dtype), pv.to(dtype))], heads)
    out, weights = shared_prefix_attention(_Layer(), q.to(dtype), sk.to(dtype), sv.to(dtype), None, scale, shared_prefix=shared)
    assert weights is None and out.shape == (rows, length, heads, dim) and out.dtype == dtype
    torch.testing.assert_close(out.float(), expected, atol=atol, rtol=0)


def test_without_a_shared_prefix_it_is_sdpa():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 4, 6, 8, generator=g) for _ in range(3))
    mask = torch.ones(6, 6, dtype=torch.bool).tril()[None, None].expand(2, 1, -1, -1)
    out, _ = shared_prefix_attention(_Layer(), q, k, v, mask, 0.3)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3).transpose(1, 2)
    torch.testing.assert_close(out, expected)


def test_register_names_it_for_transformers():
    from transformers import AttentionInterface

    name = register()
    assert AttentionInterface()[name] is shared_prefix_attention
