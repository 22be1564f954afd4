"""Linear probe on frozen MiniLM bi-encoder features (model card, 2026-12-03).

Features of a pair: the query and listing (`product_text`, as the fallback scorer embeds it) embeddings u, v of the embedder the
retrieval step uses, with u*v, |u-v| and the cosine; a class-balanced logistic regression is
fitted on a run's training split (`<run>/cot/cot.jsonl`) and scored on the ESCI dev fold the run
held out. The counterpart of `probe_llm.py`: how much label signal the frozen representation
carries, read linearly, before any fine-tuning.

    .venv/bin/python docs/default-model/studies/probe_minilm.py RUN HELD_OUT_FOLD
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from relevance.cross_encoder import product_text
from relevance.datasets.esci import load_esci
from relevance.metrics import classification_report
from relevance.types import LabeledPair
from retrieval.embedder import Embedder
from training.data.folds import select_fold
from training.examples import load_records

ESCI_DEV = "training/data/fixtures/esci_dev.csv"


def features(embedder: Embedder, pairs: list[LabeledPair]) -> np.ndarray:
    u = np.asarray(embedder.encode([p.query for p in pairs]))
    v = np.asarray(embedder.encode([product_text(p.product) for p in pairs]))  # the fallback scorer's listing text
    return np.hstack([u, v, u * v, np.abs(u - v), (u * v).sum(axis=1, keepdims=True)])


def main(run: str, fold: int) -> None:
    embedder = Embedder.load()
    train = [r.pair for r in load_records(Path(run) / "cot" / "cot.jsonl")]
    held = select_fold(load_esci(ESCI_DEV), (fold, 2))
    x_train, y_train, x_held = features(embedder, train), [p.level for p in train], features(embedder, held)
    for c in (0.01, 0.1, 1.0):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000))
        pred = clf.fit(x_train, y_train).predict(x_held).tolist()
        report = classification_report([p.level for p in held], pred)
        print(
            json.dumps(
                {"run": run, "held_out_fold": fold, "C": c, "n": len(held), "macro_f1": round(report["macro_f1"], 3)}
            )
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
