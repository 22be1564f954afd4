"""The transformers engine: label scores from one batched prefill, on CPU or GPU.

Scoring computes the decoder's hidden state at each prompt's last position and multiplies
it by the output-head rows of the label tokens only (4 rows, not the 49k-vocabulary head).
With prefix sharing on, a group's shared prefix (instruction, context, query) is run once;
only the product suffixes are computed after it, and on CPU every row's queries read that one
prefix K/V through `relevance.engines.shared_prefix_attention` (no per-row copy; elsewhere the
KV is broadcast over the rows and SDPA attends to it). RMSNorm layers run on torch's fused
kernel (`relevance.engines.fused_norms`).
Across requests, the engine keeps the KV of the *head* every prompt starts with (chat frame +
instruction, found as the common prefix of the prompts it has seen), so neither a query's prefix
nor an unshared pair recomputes it. Rows are sorted by length and packed under a token budget to
keep padding small.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from relevance.checkpoint import load_causal_lm, load_tokenizer
from relevance.engines import shared_prefix_attention as shared_attention
from relevance.engines.base import GenerationRequest, ScoringGroup
from relevance.engines.fused_norms import fuse_rms_norms
from relevance.labels import get_scheme
from relevance.manifest import CheckpointManifest
from relevance.tokens import label_token_ids

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (batch, heads, positions, dim)
#: the cached head is used only when a prompt shares at least this many leading tokens with it
MIN_HEAD_TOKENS = 16


def common_prefix_len(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of two id lists.

    >>> common_prefix_len([1, 2, 3], [1, 2, 4, 5]), common_prefix_len([], [1])
    (2, 0)
    """
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matmul (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16
        return torch.bfloat16 if cpu_supports_bf16() else torch.float32
    return {"bfloat16": torch.bfloat16, "float32": torch.float32, "float16": torch.float16}[name]


class TransformersEngine:
    """Engine protocol implementation on Hugging Face transformers."""

    name = "transformers"

    def __init__(
        self,
        model_dir: Path | str,
        *,
        cache_dir: Path | str,
        dtype: str = "auto",
        device: str = "cpu",
        threads: int | None = None,
        prefix_sharing: bool = True,
        max_batch_tokens: int = 16384,
        shared_prefix_attention: bool = True,
        fused_norms: bool = True,
    ):
        if threads:
            torch.set_num_threads(threads)
        self.model_dir = Path(model_dir)
        model, manifest = load_causal_lm(self.model_dir, Path(cache_dir), pick_dtype(dtype, device))
        tokenizer = load_tokenizer(self.model_dir, Path(cache_dir))
        self.fused_norms = fuse_rms_norms(model) if fused_norms else 0  # RMSNorm layers on torch's fused kernel
        self._wrap(model.to(device), tokenizer, manifest, prefix_sharing, max_batch_tokens)
        if shared_prefix_attention and self.device == "cpu":  # its kernels are the CPU flash ones; GPUs keep SDPA
            self.model.set_attn_implementation(shared_attention.register())
            self.shared_prefix_attention = True

    @classmethod
    def from_model(
        cls, model, tokenizer, manifest: CheckpointManifest, *, prefix_sharing: bool = True, max_batch_tokens: int = 16384
    ) -> TransformersEngine:
        """An engine on a model already in memory (a policy being trained): no folder, no copy.

        The engine re-reads the model's label-head rows and drops its cached instruction KV at every
        scoring call, so it always scores the current weights; it neither trains nor moves the model
        (put it in eval mode first: dropout would make scores noisy).
        """
        engine = cls.__new__(cls)
        engine.model_dir = None
        engine.fused_norms = 0  # a model in training keeps its own norm layers
        engine._wrap(model, tokenizer, manifest, prefix_sharing, max_batch_tokens)
        engine._live = True
        return engine

    def _wrap(self, model, tokenizer, manifest: CheckpointManifest, prefix_sharing: bool, max_batch_tokens: int) -> None:
        self.model = model
        self._live = False  # True for from_model: weights may change between calls
        self.device = str(next(model.parameters()).device)
        self.dtype = next(model.parameters()).dtype
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.scheme = get_scheme(self.manifest.label_scheme)
        self.label_ids = label_token_ids(self.tokenizer, self.scheme)
        self._head_ids: list[int] | None = None  # see _reusable_head
        self._head_kv: KV = []
        self._refresh()
        self._backbone = self.model.get_decoder()
        self.prefix_sharing = prefix_sharing
        self.max_batch_tokens = max_batch_tokens
        self.pad_id = self.tokenizer.pad_token_id
        self.shared_prefix_attention = False  # see relevance.engines.shared_prefix_attention; set by __init__
        self._heads = int(self.model.config.num_attention_heads)

    def _refresh(self) -> None:
        head = self.model.get_output_embeddings().weight
        self._label_head = head[self.label_ids].detach().float().clone()  # (L, H), fp32: 4 rows cost nothing
        self._head_ids, self._head_kv = None, []

    # -- scoring ----------------------------------------------------------------------
    @torch.inference_mode()
    def label_scores(self, groups: list[ScoringGroup]) -> list[np.ndarray]:
        if self._live:
            self._refresh()
        results: list[np.ndarray | None] = [None] * len(groups)
        singles: list[tuple[int, list[int], list[int]]] = []  # group, prefix, suffix
        for gi, group in enumerate(groups):
            if self.prefix_sharing and group.n > 1:
                results[gi] = self._score_shared(group)
            else:
                singles.extend((gi, group.prefix_ids, s) for s in group.suffix_ids)
        if singles:
            rows = self._score_singles([(p, s) for _, p, s in singles])
            per_group: dict[int, list[np.ndarray]] = {}
            for (gi, _, _), row in zip(singles, rows, strict=True):
                per_group.setdefault(gi, []).append(row)
            for gi, parts in per_group.items():
                results[gi] = np.stack(parts)
        return [r if r is not None else np.zeros((0, len(self.label_ids)), np.float32) for r in results]

    def _head(self, hidden: torch.Tensor) -> np.ndarray:
        return (hidden.float() @ self._label_head.T).cpu().numpy()

    def _chunks(self, lengths: list[int], extra_per_row: int = 0) -> list[list[int]]:
        """Indices sorted by length, cut into chunks whose padded token count fits the budget."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        chunks, current, longest = [], [], 0
        for i in order:
            longest_if = max(longest, lengths[i])
            if current and (len(current) + 1) * (longest_if + extra_per_row) > self.max_batch_tokens:
                chunks.append(current)
                current, longest_if = [], lengths[i]
            current.append(i)
            longest = longest_if
        if current:
            chunks.append(current)
        return chunks

    def _padded(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
            mask[r, : len(s)] = 1
        last = torch.tensor([len(s) - 1 for s in seqs])
        return ids.to(self.device), mask.to(self.device), last.to(self.device)

    # -- the cached head: the tokens every prompt starts with ------------------------------
    def _run_prefix(self, ids: list[int], past: KV | None = None, start: int = 0) -> KV:
        """KV cache (batch 1) of `ids` at positions start…, continuing `past` (the KV of positions < start)."""
        from transformers import DynamicCache

        tokens = torch.tensor([ids], device=self.device)
        positions = torch.arange(start, start + len(ids), device=self.device).unsqueeze(0)
        cache = DynamicCache(ddp_cache_data=past) if past else None
        out = self._backbone(input_ids=tokens, position_ids=positions, past_key_values=cache, use_cache=True)
        return [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def _reusable_head(self, prefixes: list[list[int]]) -> int:
        """How many leading tokens of every prefix in `prefixes` the cached head covers (0: don't use it).

        The head is seeded with the first prefix ever scored and narrowed to what later prefixes
        share with it, so it converges on the chat frame + instruction that starts every prompt.
        A prefix sharing fewer than MIN_HEAD_TOKENS with it leaves it alone (and does not use it).
        """
        if not self.prefix_sharing:  # the unshared path (and the benchmarks' baselines) recompute everything
            return 0
        if self._head_ids is None:
            self._head_ids, self._head_kv = list(prefixes[0]), self._run_prefix(prefixes[0])
        for p in prefixes:
            common = common_prefix_len(self._head_ids, p)
            if MIN_HEAD_TOKENS <= common < len(self._head_ids):
                self._head_ids = self._head_ids[:common]
                self._head_kv = [(k[:, :, :common].clone(), v[:, :, :common].clone()) for k, v in self._head_kv]
        reuse = min(common_prefix_len(self._head_ids, p) for p in prefixes)
        return reuse if reuse >= MIN_HEAD_TOKENS else 0

    def _head_kv_upto(self, n: int) -> KV:
        return [(k[:, :, :n], v[:, :, :n]) for k, v in self._head_kv]

    # -- the two scoring paths ----------------------------------------------------------------
    def _score_shared(self, group: ScoringGroup) -> np.ndarray:
        """One query, many products: the prefix KV once (from the head on), then the suffixes batched."""
        reuse = self._reusable_head([group.prefix_ids])
        prefix = group.prefix_ids
        if reuse == len(prefix):
            layers = self._head_kv_upto(reuse)
        elif reuse:
            layers = self._run_prefix(prefix[reuse:], self._head_kv_upto(reuse), start=reuse)
        else:
            layers = self._run_prefix(prefix)
        return self._score_after(layers, len(prefix), group.suffix_ids)

    def _score_singles(self, pairs: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        """Pairs scored one row each (no sharing between them), after the head they all start with."""
        reuse = self._reusable_head([p for p, _ in pairs])
        rows = [(p + s)[reuse:] for p, s in pairs]
        if reuse:
            return list(self._score_after(self._head_kv_upto(reuse), reuse, rows))
        return list(self._score_after(None, 0, rows))

    def _score_after(self, layers: KV | None, p_len: int, suffixes: list[list[int]]) -> np.ndarray:
        """Label scores at the last token of each suffix, every suffix continuing the same KV `layers`
        (of `p_len` positions; None and 0 for none). Suffixes are right-padded within length-sorted chunks."""
        from transformers import DynamicCache

        out = np.zeros((len(suffixes), len(self.label_ids)), dtype=np.float32)
        shared = shared_attention.expand_prefix(layers, self._heads) if layers and self.shared_prefix_attention else None
        for chunk in self._chunks([len(s) for s in suffixes], extra_per_row=p_len):
            ids, mask, last = self._padded([suffixes[i] for i in chunk])
            rows = len(chunk)
            positions = (torch.arange(ids.shape[1], device=ids.device) + p_len).unsqueeze(0).expand(rows, -1)
            if shared is not None:  # the prefix K/V read once by every row, not copied per row
                hidden = self._backbone(input_ids=ids, position_ids=positions, use_cache=False, shared_prefix=shared).last_hidden_state
                out[chunk] = self._head(hidden[torch.arange(rows, device=hidden.device), last])
                continue
            if layers:
                cache = DynamicCache(ddp_cache_data=[(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in layers])
                mask = torch.cat([torch.ones((rows, p_len), dtype=mask.dtype, device=mask.device), mask], dim=1)
            else:
                cache = None
            hidden = self._backbone(
                input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=cache is not None
            ).last_hidden_state
            picked = hidden[torch.arange(rows, device=hidden.device), last]
            out[chunk] = self._head(picked)
        return out

    # -- generation -------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, requests: list[GenerationRequest]) -> list[str]:
        texts = []
        for req in requests:  # one at a time: explain is the slow path, and left padding would change logits
            ids = torch.tensor([req.prompt_ids], device=self.device)
            sampling = req.temperature > 0
            if req.seed is not None:
                torch.manual_seed(req.seed)
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=req.max_new_tokens,
                do_sample=sampling,
                temperature=req.temperature if sampling else None,
                top_p=None,
                top_k=None,
                pad_token_id=self.pad_id,
            )
            texts.append(self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
        return texts

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))
