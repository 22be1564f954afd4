"""SFT: examples are the serving prompt plus a label-first answer; training moves the weights and the loss falls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from relevance.engines.base import ScoringGroup
from relevance.engines.transformers_engine import TransformersEngine
from relevance.labels import TAOSR1
from relevance.manifest import read_manifest
from relevance.prompt import PromptRenderer
from tests.training.conftest import make_run, toy_records
from training.config import build_config
from training.resume import StaleCheckpointError
from training.run import RunLayout, file_hash
from training.sft import SftConfig, run_sft, sft_example


def _scores(model_dir: Path, cache_dir: Path) -> np.ndarray:
    engine = TransformersEngine(model_dir, cache_dir=cache_dir, dtype="float32")
    renderer = PromptRenderer(engine.tokenizer, engine.scheme)
    groups = [ScoringGroup(renderer.encode_prefix(r.pair.query), [renderer.encode_suffix(r.pair.product)]) for r in toy_records()]
    return np.concatenate(engine.label_scores(groups))


def test_example_is_serving_prompt_then_label_first_answer(smollm2_tokenizer):
    renderer = PromptRenderer(smollm2_tokenizer, TAOSR1)
    record = toy_records()[1]
    ex = sft_example(renderer, record)
    prompt = renderer.encode(record.pair.query, record.pair.product, record.context)
    n = len(prompt)
    assert ex["input_ids"][:n] == prompt
    assert ex["completion_mask"] == [0] * n + [1] * (len(ex["input_ids"]) - n)
    answer = ex["input_ids"][n:]
    assert answer[0] == smollm2_tokenizer.encode("2", add_special_tokens=False)[0]  # gold level 2's label token first
    assert answer[-1] == smollm2_tokenizer.eos_token_id
    assert smollm2_tokenizer.decode(answer[1:-1]).strip() == record.rationale.strip()


def test_full_sft_loss_falls_and_weights_change(label_sft_dir, tiny_model_dir, cache_dir):
    manifest = read_manifest(label_sft_dir)
    train = manifest.metrics["train"]
    assert train["steps"] == 8
    assert train["loss_last"] < 0.8 * train["loss_first"], train
    assert manifest.kind == "full" and manifest.stage == "sft"
    before, after = _scores(tiny_model_dir, cache_dir), _scores(label_sft_dir, cache_dir)
    assert np.abs(after - before).max() > 1e-2


def test_lora_sft_writes_a_loadable_adapter_with_manifest_and_resumes(tmp_path, tiny_model_dir, cache_dir):
    run = make_run(tmp_path / "run", tiny_model_dir, cache_dir)
    cfg = build_config(
        SftConfig,
        {"lora": True, "lora_r": 4, "max_steps": 4, "batch_size": 4, "learning_rate": 1e-2, "lr_scheduler": "constant",
         "warmup_ratio": 0.0, "log_steps": 1, "save_steps": 2, "device": "cpu"},
    )
    result = run_sft(run, cfg)
    final = Path(result["checkpoint"])
    assert result["loss_last"] < result["loss_first"], result
    manifest = read_manifest(final)
    layout = RunLayout(run.run_dir)
    assert manifest.kind == "adapter" and manifest.stage == "sft"
    assert manifest.parent == str(tiny_model_dir.resolve()) and manifest.base_model == str(tiny_model_dir.resolve())
    assert manifest.data_hash == file_hash(layout.cot)
    assert manifest.recipe["sft"]["lora_r"] == 4 and manifest.recipe["key"]["start"] == str(tiny_model_dir.resolve())
    assert (final / "adapter_model.safetensors").is_file()
    # the serving engine loads it, and the adapter changed what it scores
    assert np.abs(_scores(final, cache_dir) - _scores(tiny_model_dir, cache_dir)).max() > 1e-3
    # losses were logged per step; the Trainer left a resumable checkpoint
    logged = [json.loads(line) for line in (layout.logs / "sft.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    assert list((layout.stage_dir("sft") / "trainer").glob("checkpoint-*"))
    # same inputs: a no-op; other inputs: refused with both keys named
    assert run_sft(run, cfg)["skipped"] is True
    changed = build_config(SftConfig, {**{k: getattr(cfg, k) for k in ("lora", "lora_r", "batch_size", "device")}, "max_steps": 5})
    with pytest.raises(StaleCheckpointError, match="other inputs"):
        run_sft(run, changed)


def test_answer_only_loss_equals_the_full_vocabulary_completion_loss(tiny_model_dir, smollm2_tokenizer):
    """The trainer's loss projects only answer positions; it must equal the usual loss over all positions."""
    import torch
    from transformers import AutoModelForCausalLM

    from training.logprobs import pad_batch
    from training.sft import answer_only_loss

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.float32)
    renderer = PromptRenderer(smollm2_tokenizer, TAOSR1)
    examples = [sft_example(renderer, r) for r in toy_records()[:3]]
    prompts = [[t for t, m in zip(e["input_ids"], e["completion_mask"], strict=True) if not m] for e in examples]
    answers = [[t for t, m in zip(e["input_ids"], e["completion_mask"], strict=True) if m] for e in examples]
    ids, attn, comp = pad_batch(prompts, answers, smollm2_tokenizer.pad_token_id or 0)
    labels = ids.masked_fill(comp == 0, -100)
    inputs = {"input_ids": ids, "attention_mask": attn, "labels": labels}
    loss, tokens, correct = answer_only_loss(model, inputs)
    reference = model(input_ids=ids, attention_mask=attn, labels=labels).loss
    assert tokens == int(comp.sum()) and 0 <= correct <= tokens
    assert torch.allclose(loss, reference, atol=1e-5), (float(loss), float(reference))
    # with num_items_in_batch (gradient accumulation) the sum is divided by the given count
    half, _, _ = answer_only_loss(model, inputs, num_items_in_batch=2 * tokens)
    assert torch.allclose(half, reference / 2, atol=1e-5)
    # label_weight scales exactly the first answer token's term (the label serving reads)
    per_token = torch.nn.functional.cross_entropy(
        model(input_ids=ids, attention_mask=attn).logits[:, :-1].reshape(-1, model.config.vocab_size),
        labels[:, 1:].reshape(-1), reduction="none", ignore_index=-100,
    ).reshape(len(examples), -1)
    first = (labels[:, 1:] != -100).float().argmax(dim=1)
    label_nll = per_token[torch.arange(len(examples)), first].sum()
    weighted, _, _ = answer_only_loss(model, inputs, label_weight=5.0)
    assert torch.allclose(weighted, reference + 4.0 * label_nll / tokens, atol=1e-5)
