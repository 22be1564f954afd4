"""Linear probe on the frozen base LLM's last hidden state (model card, 2026-12-03).

Each pair is rendered on the zero-shot prompt (`relevance.zero_shot`: query, title, brand) and
the base model's final hidden state at the answer position — the vector the label tokens' rows
read — is the feature; a class-balanced logistic regression is fitted on a run's training split
(all of it, and its real ESCI rows only) and scored on the ESCI dev fold the run held out. If the
frozen representation carried the labels linearly, a trained label readout would be the cheap
win; `probe_minilm.py` is the same probe on the cross-encoder's encoder family.

    .venv/bin/python docs/default-model/studies/probe_llm.py RUN HELD_OUT_FOLD
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from relevance.base_model import BASE_MODEL_NAME
from relevance.checkpoint import load_causal_lm, load_tokenizer, resolve_base_model
from relevance.datasets.esci import load_esci
from relevance.labels import TAOSR1
from relevance.metrics import classification_report
from relevance.types import LabeledPair, RetrievedContext
from relevance.zero_shot import ZeroShotRenderer
from training.data.folds import select_fold
from training.examples import CotRecord, load_records
from training.label_objective import answer_hidden, build_groups

ESCI_DEV = "training/data/fixtures/esci_dev.csv"
CACHE = Path("var/cache")


def features(model, renderer: ZeroShotRenderer, pairs: list[LabeledPair]) -> np.ndarray:
    """Each pair's answer-position hidden state, query prefixes shared as in training and serving."""
    records = [CotRecord(p, RetrievedContext(), "") for p in pairs]
    out = np.zeros((len(pairs), model.config.hidden_size), dtype=np.float32)
    with torch.no_grad():
        for group in build_groups(renderer, records):
            out[group.records] = answer_hidden(model, group, renderer.tokenizer.pad_token_id or 0).float().numpy()
    return out


def main(run: str, fold: int) -> None:
    base = resolve_base_model(BASE_MODEL_NAME, CACHE)
    model, _ = load_causal_lm(base, CACHE, torch.bfloat16)
    model.eval()
    renderer = ZeroShotRenderer(load_tokenizer(base, CACHE), TAOSR1)
    records = load_records(Path(run) / "cot" / "cot.jsonl")
    train = [r.pair for r in records]
    held = select_fold(load_esci(ESCI_DEV), (fold, 2))
    x_train, x_held = features(model, renderer, train), features(model, renderer, held)
    y_train = np.array([p.level for p in train])
    real = np.array([p.source == "esci" for p in train])
    for c in (0.01, 0.1, 1.0):
        for rows, mask in (("all", np.ones(len(train), bool)), ("real", real)):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000))
            pred = clf.fit(x_train[mask], y_train[mask]).predict(x_held).tolist()
            report = classification_report([p.level for p in held], pred)
            out = {
                "run": run,
                "held_out_fold": fold,
                "C": c,
                "train_rows": rows,
                "n_train": int(mask.sum()),
                "n": len(held),
            }
            print(json.dumps({**out, "macro_f1": round(report["macro_f1"], 3)}))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(sys.argv[1], int(sys.argv[2]))
