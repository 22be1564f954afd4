"""Builders for tiny random-weight checkpoints with the real SmolLM2 tokenizer (tests and benches)."""

from __future__ import annotations

import shutil
from pathlib import Path

from relevance.manifest import CheckpointManifest, write_manifest

TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    tie_word_embeddings=True,
    rms_norm_eps=1e-5,
)

# vLLM's CPU attention kernels take head sizes 32, 64, 80, … but not TINY_CONFIG's 16 (64 / 4 heads):
# the same tiny model with 32-wide heads, for the vLLM engine's tests and bench.
VLLM_TINY_CONFIG = {**TINY_CONFIG, "head_dim": 32}


def build_tiny_checkpoint(
    out: Path, tokenizer_dir: Path, seed: int = 0, version: str = "1", name: str = "tiny", shape: dict | None = None
) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
        **(TINY_CONFIG if shape is None else shape),
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # larger logits than the default init so label probabilities differ visibly
        model.model.embed_tokens.weight.normal_(0, 0.5)
    model.save_pretrained(out, safe_serialization=True)
    for f in Path(tokenizer_dir).iterdir():
        if f.is_file():
            shutil.copy(f, out / f.name)
    write_manifest(out, CheckpointManifest(name=name, version=version, base_model="tiny-random", stage="base"))
    return out


def build_tiny_adapter(out: Path, base_dir: Path, seed: int = 1, version: str = "1") -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(base, cfg)
    peft_model.save_pretrained(out)
    write_manifest(
        out,
        CheckpointManifest(name="tiny-lora", version=version, base_model=str(base_dir), kind="adapter", stage="sft"),
    )
    return out
