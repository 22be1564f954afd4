"""Checkpoint validation (relevance.validate) and the publish gate it puts in front of `latest`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relevance.registry import PublishRefused, fallback_versions, list_versions, publish, read_latest
from relevance.validate import CheckpointInvalid, validate_checkpoint


def test_good_full_and_adapter_checkpoints_validate(tiny_model_dir, tiny_adapter_dir, cache_dir):
    assert validate_checkpoint(tiny_model_dir, cache_dir).kind == "full"
    assert validate_checkpoint(tiny_adapter_dir, cache_dir).kind == "adapter"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_broken_checkpoints_are_refused_with_one_line(tmp_path, tiny_model_dir, tiny_adapter_dir, cache_dir):
    garbage = _copy(tiny_adapter_dir, tmp_path / "garbage")
    (garbage / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 4)
    no_weights = _copy(tiny_model_dir, tmp_path / "no-weights")
    (no_weights / "model.safetensors").unlink()
    bad_manifest = _copy(tiny_model_dir, tmp_path / "bad-manifest")
    (bad_manifest / "taosr1.json").write_text("{not json")
    other_base = _copy(tiny_adapter_dir, tmp_path / "other-base")  # the adapter's A matrices no longer fit the base
    from safetensors.torch import load_file, save_file

    tensors = load_file(other_base / "adapter_model.safetensors")
    save_file({k: (v[:, :-1].contiguous() if ".lora_A." in k else v) for k, v in tensors.items()},
              other_base / "adapter_model.safetensors")
    cases = {garbage: "unreadable safetensors", no_weights: "no full weights", bad_manifest: "not valid JSON",
             other_base: "does not fit"}
    for folder, expected in cases.items():
        with pytest.raises(CheckpointInvalid) as info:
            validate_checkpoint(folder, cache_dir)
        assert expected in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_label_split_into_two_tokens_is_refused(tmp_path, tiny_model_dir, cache_dir):
    esci = _copy(tiny_model_dir, tmp_path / "esci")
    manifest = json.loads((esci / "taosr1.json").read_text())
    (esci / "taosr1.json").write_text(json.dumps({**manifest, "label_scheme": "esci"}))
    try:
        validate_checkpoint(esci, cache_dir)
    except CheckpointInvalid as exc:  # only when a label of that scheme is several SmolLM2 tokens
        assert "token" in str(exc)


def test_publish_refuses_a_broken_checkpoint_and_latest_stays(tmp_path, tiny_model_dir, cache_dir):
    registry = tmp_path / "registry"
    publish(tiny_model_dir, registry, version="v0001", cache_dir=cache_dir)
    broken = _copy(tiny_model_dir, tmp_path / "broken")
    (broken / "model.safetensors").write_bytes(b"\x00" * 1000)
    with pytest.raises(PublishRefused, match="not published: .*broken.*unreadable safetensors"):
        publish(broken, registry, cache_dir=cache_dir)
    assert list_versions(registry) == ["v0001"] and read_latest(registry) == "v0001"
    assert not [p for p in registry.iterdir() if p.name.startswith(".staging-")]


def test_fallback_versions_follow_the_parent_chain(tmp_path, tiny_model_dir):
    registry = tmp_path / "registry"
    for v in ("v0001", "v0002", "v0003"):
        publish(tiny_model_dir, registry, version=v, validate=False)
    publish(tiny_model_dir, registry, version="v0004", make_latest=False, validate=False)  # never latest
    assert fallback_versions(registry, "v0003") == ["v0002", "v0001"]
    (registry / "versions" / "v0003" / "taosr1.json").write_text("{")  # chain unreadable: all others, newest first
    assert fallback_versions(registry, "v0003") == ["v0004", "v0002", "v0001"]
