"""The cross-encoder baseline (the paper's "BERT" incumbent): MiniLM with a 4-way head.

A cross-encoder reads "query [SEP] product text" and outputs one logit per level of the
label scheme (best-first order, as every engine does), so the same `relevance.scoring`
turns its logits into probabilities, a CumPT tier and a ranking score. No prompt, no
retrieval, no reasoning. `product_text` is the one rendering shared by training
(`training.baseline`) and scoring. `CrossEncoderJudge` answers the calls evaluation makes
on `relevance.judge.Judge` (`label_scores`, `score_pairs`); it cannot `explain`.
Checkpoints are transformers sequence-classification folders with a `taosr1.json` whose
kind is "cross-encoder"; the LLM engines refuse them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relevance.labels import LabelScheme, get_scheme
from relevance.manifest import CheckpointManifest, read_manifest
from relevance.scoring import Scored, score_rows
from relevance.types import Product

KIND = "cross-encoder"


#: description characters a product text reads
DESCRIPTION_CHARS = 600


def product_text(product: Product, description_chars: int = DESCRIPTION_CHARS) -> str:
    """The product side of a cross-encoder input: title, brand, category, attributes, description.

    >>> product_text(Product(id="1", title="Mug", brand="Acme", attributes={"color": "red"}))
    'Mug | brand: Acme | color: red'
    """
    parts = [" ".join(product.title.split())]
    if product.brand:
        parts.append(f"brand: {product.brand}")
    if product.category:
        parts.append(f"category: {product.category}")
    parts += [f"{k}: {v}" for k, v in product.attributes.items()]
    if product.description:
        parts.append(" ".join(product.description.split())[:description_chars])
    return " | ".join(parts)


def is_cross_encoder(model_dir: Path | str) -> bool:
    """True when `model_dir`'s manifest says it holds a cross-encoder."""
    return read_manifest(model_dir).kind == KIND


class CrossEncoderModel:
    """A loaded cross-encoder checkpoint: model, tokenizer, manifest, label scheme."""

    name = "cross-encoder"

    def __init__(self, model, tokenizer, manifest: CheckpointManifest, max_length: int, device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.scheme: LabelScheme = get_scheme(manifest.label_scheme)
        self.max_length = max_length
        self.device = device

    @classmethod
    def load(cls, model_dir: Path | str, device: str = "cpu") -> CrossEncoderModel:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        manifest = read_manifest(model_dir)
        if manifest.kind != KIND:
            raise ValueError(f"{model_dir} holds a {manifest.kind!r} checkpoint, not a {KIND}")
        model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).to(device).eval()
        scheme = get_scheme(manifest.label_scheme)
        if model.config.num_labels != len(scheme.levels):
            raise ValueError(f"{model_dir}: {model.config.num_labels} outputs for {len(scheme.levels)} levels of {scheme.name}")
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        max_length = int(manifest.recipe.get("baseline", {}).get("max_length", 256))
        return cls(model, tokenizer, manifest, max_length, device)

    def logits(self, queries: Sequence[str], products: Sequence[Product], batch_size: int = 64, progress=None) -> np.ndarray:
        """(n, L) logits, levels best-first."""
        import torch

        out = np.zeros((len(queries), len(self.scheme.levels)), dtype=np.float32)
        for start in range(0, len(queries), batch_size):
            stop = start + batch_size
            enc = self.tokenizer(
                list(queries[start:stop]),
                [product_text(p) for p in products[start:stop]],
                truncation="only_second",
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                out[start:stop] = self.model(**enc).logits.float().cpu().numpy()
            if progress is not None:
                progress.update(min(stop, len(queries)) - start)
        return out

    def close(self) -> None:
        self.model = None


class CrossEncoderJudge:
    """`relevance.judge.Judge`'s scoring calls on a cross-encoder (same scheme, same CumPT)."""

    explains = False

    def __init__(self, engine: CrossEncoderModel):
        self.engine = engine

    def label_scores(self, queries: Sequence[str], products: Sequence[Product], progress=None) -> np.ndarray:
        return self.engine.logits(queries, products, progress=progress)

    def score_pairs(self, queries: Sequence[str], products: Sequence[Product], beta: float = 0.5, progress=None) -> list[Scored]:
        return score_rows(self.label_scores(queries, products, progress=progress), self.engine.scheme, beta)

    def explain(self, *args, **kwargs):
        raise NotImplementedError("a cross-encoder has no reasoning to explain; use an LLM checkpoint for explain=true")
