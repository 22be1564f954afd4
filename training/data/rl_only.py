"""Real rows kept for the RL stages only: the SFT never trains on them, pass@N + DPO and GRPO do.

TaoSR1's RL stages pay when they see prompts the SFT did not fit: difficulty-based sampling keeps
the prompts the policy gets sometimes right, and on the SFT's own rows (memorised, or all wrong
where the gold label is noise) there are few. `data.rl_only` names labelled files (the same forms
as `data.train`, `file.csv#fold=K/N` included) whose pairs join the training split with the tag
`rl-only`: CoT builds their prompts, the cross-encoder trains on them like every training pair
(same data), the retrieval indexes hold them, and the SFT stages skip them.
"""

from __future__ import annotations

from dataclasses import replace

from relevance.types import LabeledPair

RL_ONLY_TAG = "rl-only"


def mark_rl_only(pairs: list[LabeledPair]) -> list[LabeledPair]:
    """`pairs` tagged for the RL stages only (tags kept, the mark appended once).

    >>> from relevance.types import Product
    >>> p = LabeledPair("q", Product(id="p", title="t"), 4, source="esci", tags=("E",))
    >>> [q.tags for q in mark_rl_only(mark_rl_only([p]))]
    [('E', 'rl-only')]
    """
    return [p if RL_ONLY_TAG in p.tags else replace(p, tags=(*p.tags, RL_ONLY_TAG)) for p in pairs]


def is_rl_only(pair: LabeledPair) -> bool:
    return RL_ONLY_TAG in pair.tags


def check_rl_only_disjoint(train: list[LabeledPair], rl_only: list[LabeledPair]) -> None:
    """Refuse RL-only pairs that data.train also lists (the SFT would train on them after all)."""
    from training.data.folds import pair_key

    kept = {pair_key(p) for p in rl_only}
    shared = sorted({f"{p.query!r} / {p.product.id}" for p in train if pair_key(p) in kept})
    if shared:
        raise ValueError(
            f"data.rl_only shares {len(shared)} pairs with data.train (e.g. {shared[:2]}), so the SFT would train on them: "
            "name disjoint query folds (file.csv#fold=K/N) in the two lists"
        )


def check_sources(sources: list[str]) -> None:
    """Refuse `data.rl_only` entries that are not labelled files (synthetic and weak pairs are the SFT's).

    >>> check_sources(["a.csv#fold=2/4"])
    >>> check_sources(["synthetic"])
    Traceback (most recent call last):
    ValueError: data.rl_only takes labelled files (file.csv, file.csv#fold=K/N, file.jsonl), not 'synthetic'; keep synthetic and weak: sources in data.train
    """
    for source in sources:
        if source == "synthetic" or source.startswith("weak:"):
            raise ValueError(
                f"data.rl_only takes labelled files (file.csv, file.csv#fold=K/N, file.jsonl), not {source!r}; "
                "keep synthetic and weak: sources in data.train"
            )
