"""RMSNorm layers on torch's fused kernel: same outputs, and only norms with the Llama formula are switched."""

import torch
from transformers.models.llama.modeling_llama import LlamaRMSNorm

from relevance.engines.fused_norms import fuse_rms_norms


class OffsetRMSNorm(torch.nn.Module):
    """A Gemma-style norm (scale by 1 + weight) with Llama's attribute names: must keep its own forward."""

    def __init__(self, width: int):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(width))
        self.variance_epsilon = 1e-6

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return ((1 + self.weight) * h).to(x.dtype)


def test_llama_norms_are_switched_and_give_the_same_output():
    torch.manual_seed(0)
    model = torch.nn.Sequential(LlamaRMSNorm(16, eps=1e-6), OffsetRMSNorm(16))
    with torch.no_grad():
        model[0].weight.normal_()
    x = torch.randn(3, 5, 16)
    before = [model[0](x), model[1](x)]
    assert fuse_rms_norms(model) == 1
    assert "forward" in vars(model[0]) and "forward" not in vars(model[1])
    torch.testing.assert_close(model[0](x), before[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model[1](x), before[1])


def test_bf16_norm_stays_bf16_and_close():
    norm = LlamaRMSNorm(32, eps=1e-5).to(torch.bfloat16)
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(4, 32).to(torch.bfloat16)
    own = norm(x)
    assert fuse_rms_norms(norm) == 1
    fused = norm(x)
    assert fused.dtype == torch.bfloat16 and norm.weight.dtype == torch.bfloat16
    torch.testing.assert_close(fused.float(), own.float(), atol=0.07, rtol=0.02)  # one rounding instead of two
