"""Cheap checks that a checkpoint folder can be served, before it is published or loaded.

`validate_checkpoint` reads the manifest, opens every safetensors file (header and tensors),
checks an adapter's LoRA shapes against its base model's weights (headers only), finds a
tokenizer (the checkpoint's or its base's) and checks that every label of the manifest's
scheme is one token of it. No model is built and nothing runs a forward pass: a few seconds at
most for the embedded model's size. Both `taosr1 publish` (relevance.registry) and the service
(start-up fallback, hot reload) call it; a refusal is a `CheckpointInvalid` whose message is
one line naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

from relevance.checkpoint import has_tokenizer, resolve_base_model
from relevance.labels import get_scheme
from relevance.manifest import CheckpointManifest, ManifestError, read_manifest, require_llm
from relevance.tokens import LabelTokenError, label_token_ids

FULL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class CheckpointInvalid(ValueError):
    """A checkpoint that must not be published or served; the message is one line with the reason."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_safetensors(path: Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of every tensor in `path`, after reading each one (a truncated or garbage file fails)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with safe_open(str(path), framework="pt") as fh:
            for name in fh.keys():
                tensor = fh.get_tensor(name)
                if tensor.is_floating_point() and tensor.numel() and not bool(tensor.float().isfinite().all()):
                    raise CheckpointInvalid(f"{path}: tensor {name!r} holds NaN or infinite values")
                shapes[name] = tuple(tensor.shape)
    except CheckpointInvalid:
        raise
    except Exception as exc:  # safetensors raises its own SafetensorError, OSError, ValueError…
        raise CheckpointInvalid(f"{path}: unreadable safetensors weights ({_one_line(exc)})") from exc
    if not shapes:
        raise CheckpointInvalid(f"{path}: holds no tensors")
    return shapes


def _header_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Name → shape of a full model's weights, from the safetensors headers only (no tensor is read)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    for path in sorted(folder.glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as fh:
            for name in fh.keys():
                shapes[name] = tuple(fh.get_slice(name).get_shape())
    return shapes


def _check_weights(folder: Path, manifest: CheckpointManifest) -> dict[str, tuple[int, ...]]:
    names = ADAPTER_WEIGHTS if manifest.kind == "adapter" else FULL_WEIGHTS
    if not any((folder / n).is_file() for n in names):
        raise CheckpointInvalid(f"{folder}: no {manifest.kind} weights (expected one of {', '.join(names)})")
    shapes: dict[str, tuple[int, ...]] = {}
    files = sorted(folder.glob("adapter_model.safetensors" if manifest.kind == "adapter" else "*.safetensors"))
    for path in files:
        shapes.update(_read_safetensors(path))
    index = folder / "model.safetensors.index.json"
    if manifest.kind != "adapter" and index.is_file():
        try:
            wanted = set(json.loads(index.read_text())["weight_map"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointInvalid(f"{index}: not a valid shard index ({_one_line(exc)})") from exc
        if missing := sorted(wanted - set(shapes)):
            raise CheckpointInvalid(f"{folder}: {len(missing)} tensors of the shard index are missing, e.g. {missing[0]!r}")
    return shapes


def _base_key(lora_key: str) -> tuple[str, str] | None:
    """('model.layers.0.self_attn.q_proj.weight', 'A') for a PEFT LoRA tensor name, else None."""
    for part in ("A", "B"):
        marker = f".lora_{part}."
        if marker in lora_key:
            module = lora_key.split(marker)[0]
            module = module.removeprefix("base_model.model.")
            return f"{module}.weight", part
    return None


def _check_adapter_shapes(folder: Path, shapes: dict[str, tuple[int, ...]], base_dir: Path) -> None:
    base = _header_shapes(base_dir)
    if not base:
        return  # a base without safetensors (e.g. .bin): its shapes are checked when it loads
    for key, shape in shapes.items():
        parsed = _base_key(key)
        if parsed is None or len(shape) != 2:
            continue
        base_name, part = parsed
        if base_name not in base:
            raise CheckpointInvalid(f"{folder}: adapter tensor {key!r} targets {base_name!r}, which base {base_dir} lacks")
        out_features, in_features = base[base_name][:2]
        ok = shape[1] == in_features if part == "A" else shape[0] == out_features
        if not ok:
            raise CheckpointInvalid(
                f"{folder}: adapter tensor {key!r} has shape {list(shape)}, which does not fit "
                f"{base_name!r} {list(base[base_name])} of base {base_dir}: trained on another base?"
            )


def _check_tokenizer(folder: Path, manifest: CheckpointManifest, base_dir: Path | None) -> None:
    from transformers import AutoTokenizer

    source = folder if has_tokenizer(folder) else base_dir
    if source is None or not has_tokenizer(source):
        raise CheckpointInvalid(f"{folder}: no tokenizer (tokenizer.json) in the checkpoint or its base model")
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    except Exception as exc:
        raise CheckpointInvalid(f"{source}: unreadable tokenizer ({_one_line(exc)})") from exc
    try:
        label_token_ids(tokenizer, get_scheme(manifest.label_scheme))
    except LabelTokenError as exc:
        raise CheckpointInvalid(f"{folder}: {_one_line(exc)}") from exc


def validate_checkpoint(folder: Path | str, cache_dir: Path | str) -> CheckpointManifest:
    """The checkpoint's manifest when `folder` can be served; raises CheckpointInvalid (one line) otherwise.

    `cache_dir` is where the embedded base model is prepared, for adapters over it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointInvalid(f"{folder} is not a folder")
    try:
        manifest = require_llm(read_manifest(folder), folder)
        base_dir = None
        if manifest.kind == "adapter":
            if not (folder / "adapter_config.json").is_file():
                raise CheckpointInvalid(f"{folder}: adapter without adapter_config.json")
            base_dir = resolve_base_model(manifest.base_model, Path(cache_dir), folder)
        elif not (folder / "config.json").is_file():
            raise CheckpointInvalid(f"{folder}: full model without config.json")
    except ManifestError as exc:
        raise CheckpointInvalid(_one_line(exc)) from exc
    shapes = _check_weights(folder, manifest)
    if base_dir is not None:
        _check_adapter_shapes(folder, shapes, base_dir)
    _check_tokenizer(folder, manifest, base_dir)
    return manifest
