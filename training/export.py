"""Export a trained adapter checkpoint as a small, self-contained folder (the embedded default model).

Keeps only what serving needs: `adapter_config.json`, the adapter weights, `taosr1.json` and
the run's training split as `cases.jsonl` (serving's cases index)
(the tokenizer comes from the base model, `relevance.checkpoint.load_tokenizer`). Weights can
be stored in bf16, which halves the folder (a rank-16 adapter on every projection of
SmolLM2-135M: 19.6 → 9.8 MB); engines upcast or merge them as usual. The manifest records
the stage, parent, data hash, recipe and metrics of the source, plus the export dtype in
`notes`. Written to a temp folder and renamed into place. Knows nothing about training.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from relevance.atomic import atomic_folder
from relevance.checkpoint import CASES_FILE
from relevance.manifest import read_manifest, write_manifest

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def run_training_split(checkpoint: Path | str) -> Path | None:
    """The checkpoint's own cases corpus (an exported folder, a soup), else the training split of the run it
    belongs to (`<run>/<stage>/final` → `<run>/data/train.jsonl`)."""
    own = Path(checkpoint) / CASES_FILE
    if own.is_file():
        return own
    split = Path(checkpoint).resolve().parent.parent / "data" / "train.jsonl"
    return split if split.is_file() else None


def export_adapter(
    checkpoint: Path | str,
    out_dir: Path | str,
    *,
    version: str,
    name: str | None = None,
    dtype: str = "bfloat16",
    cases: Path | str | None = None,
) -> Path:
    """Copy `checkpoint` (an adapter with its manifest) to `out_dir` with weights in `dtype`.

    The manifest keeps everything but `name` (default: unchanged), `version` and a `parent`
    made relative to the working directory when it lies inside it (machine paths do not travel).
    `cases` (the run's training split, JSONL) is copied as `cases.jsonl`: serving builds its
    cases index from it, so retrieved cases come from the corpus the model was trained with.
    """
    import torch
    from safetensors.torch import load_file, save_file

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    manifest = read_manifest(checkpoint)
    if manifest.kind != "adapter":
        raise ValueError(f"{checkpoint} is a {manifest.kind!r} checkpoint; only adapters are exported this way")
    missing = [f for f in ADAPTER_FILES if not (checkpoint / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{checkpoint} lacks {missing}")
    target = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    with atomic_folder(out_dir) as tmp:
        shutil.copy2(checkpoint / "adapter_config.json", tmp / "adapter_config.json")
        if cases is not None:
            shutil.copy2(cases, tmp / CASES_FILE)
        tensors = load_file(str(checkpoint / "adapter_model.safetensors"))
        save_file({k: v.to(target).contiguous() for k, v in tensors.items()}, str(tmp / "adapter_model.safetensors"))
        notes = f"exported from {manifest.name} ({manifest.stage}) with adapter weights in {dtype}"
        parent = manifest.parent
        if parent and Path(parent).is_absolute() and Path(parent).is_relative_to(Path.cwd()):
            parent = str(Path(parent).relative_to(Path.cwd()))
        write_manifest(tmp, replace(manifest, name=name or manifest.name, version=version, parent=parent, notes=notes))
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
    return out_dir
