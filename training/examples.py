"""CoT records (a labelled pair, its retrieved context, a rationale) and their token ids.

A record is what CoT construction writes and every later stage reads: the prompt is always
rendered by `relevance.prompt.PromptRenderer` (prefix and suffix tokenized apart, exactly as
serving does) and the answer is `renderer.target_text(level, rationale)` — the label token
first — followed by the end-of-turn token. Knows nothing about trainers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from relevance.datasets.jsonl import pair_from_dict, pair_to_dict
from relevance.prompt import PromptRenderer
from relevance.types import LabeledPair, RetrievedContext


@dataclass(frozen=True)
class CotRecord:
    pair: LabeledPair
    context: RetrievedContext
    rationale: str
    teacher: str = ""

    def to_dict(self) -> dict:
        ctx = {"rules": list(self.context.rules), "cases": list(self.context.cases), "knowledge": list(self.context.knowledge)}
        return {**pair_to_dict(self.pair), "context": ctx, "rationale": self.rationale, "teacher": self.teacher}

    @classmethod
    def from_dict(cls, obj: dict) -> CotRecord:
        ctx = obj.get("context") or {}
        context = RetrievedContext(
            rules=tuple(ctx.get("rules", ())), cases=tuple(ctx.get("cases", ())), knowledge=tuple(ctx.get("knowledge", ()))
        )
        pair_obj = {k: v for k, v in obj.items() if k not in ("context", "rationale", "teacher")}
        return cls(pair_from_dict(pair_obj), context, obj.get("rationale", ""), obj.get("teacher", ""))


def save_records(records: list[CotRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_records(path: Path) -> list[CotRecord]:
    with open(path, encoding="utf-8") as fh:
        return [CotRecord.from_dict(json.loads(line)) for line in fh if line.strip()]


def sft_records(records: list[CotRecord]) -> list[CotRecord]:
    """The records the SFT trains on: every record but those `data.rl_only` keeps for the RL stages.

    >>> from relevance.types import LabeledPair, Product
    >>> rec = lambda tags: CotRecord(LabeledPair("q", Product(id="p", title="t"), 4, tags=tags), RetrievedContext(), "")
    >>> [r.pair.tags for r in sft_records([rec(("E",)), rec(("E", "rl-only"))])]
    [('E',)]
    """
    from training.data.rl_only import is_rl_only

    return [r for r in records if not is_rl_only(r.pair)]


def spread_subset(records: list, n: int | None, seed: int) -> list:
    """At most `n` records, a seeded sample across the whole file in file order (None = all).

    CoT files are grouped by query, so "the first N" would be the first few queries only.

    >>> spread_subset(list(range(10)), 3, seed=0) == sorted(spread_subset(list(range(10)), 3, seed=0))
    True
    >>> len(spread_subset(list(range(10)), 3, seed=0)), spread_subset([1, 2], 5, seed=0)
    (3, [1, 2])
    """
    import random

    if n is None or n >= len(records):
        return list(records)
    keep = sorted(random.Random(seed).sample(range(len(records)), n))
    return [records[i] for i in keep]


def prompt_records(records: list[CotRecord], sources: list[str] | None, share: float | None, n: int | None, seed: int) -> list[CotRecord]:
    """The prompts an RL stage draws from: at most `n` records (a seeded spread, in file order) of `sources`
    only (`share` None), or with `share` of them from `sources` and the rest from every other record.

    The real labelled rows are ~12 % of a training split; a share puts them in proportion in
    pass@N + DPO and GRPO without dropping the synthetic prompts (`sources: [esci]` alone does).
    Applying it twice gives the same records.

    >>> from relevance.types import LabeledPair, Product
    >>> rec = lambda i, src: CotRecord(LabeledPair(f"q{i}", Product(id="p", title="t"), 4, source=src), RetrievedContext(), "")
    >>> recs = [rec(i, "esci" if i % 10 == 0 else "synthetic") for i in range(100)]
    >>> mixed = prompt_records(recs, ["esci"], 0.5, 20, seed=0)
    >>> sum(r.pair.source == "esci" for r in mixed), len(mixed)
    (10, 20)
    >>> prompt_records(mixed, ["esci"], 0.5, 20, seed=0) == mixed
    True
    >>> len(prompt_records(recs, ["esci"], None, 20, seed=0))
    10
    """
    if share is None or not sources:
        pool = from_sources(records, sources)
        return [pool[i] for i in sorted(_rl_only_first(pool, list(range(len(pool))), n, seed))]
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a source share must be between 0 and 1, got {share}")
    mine = [i for i, r in enumerate(records) if r.pair.source in sources]
    if not mine:
        from_sources(records, sources)  # raises, naming the sources found
    rest = [i for i, r in enumerate(records) if r.pair.source not in sources]
    total = len(records) if n is None else min(n, len(records))
    k = min(len(mine), round(share * total))
    keep = sorted(_rl_only_first(records, mine, k, seed) + _rl_only_first(records, rest, total - k, seed))
    return [records[i] for i in keep]


def _rl_only_first(records: list[CotRecord], indices: list[int], n: int | None, seed: int) -> list[int]:
    """At most `n` of `indices`: every record kept for the RL stages (`data.rl_only`) first, then a seeded
    spread of the others (the RL stages exist for those rows, so no draw drops one)."""
    from training.data.rl_only import is_rl_only

    reserved = [i for i in indices if is_rl_only(records[i].pair)]
    if n is not None and len(reserved) >= n:
        return spread_subset(reserved, n, seed)
    others = [i for i in indices if not is_rl_only(records[i].pair)]
    return reserved + spread_subset(others, None if n is None else n - len(reserved), seed)


def from_sources(records: list[CotRecord], sources: list[str] | None) -> list[CotRecord]:
    """The records whose pair came from one of `sources` (e.g. ["esci"]); all records when `sources` is empty.

    >>> from relevance.types import LabeledPair, Product
    >>> rec = lambda src: CotRecord(LabeledPair("q", Product(id="p", title="t"), 4, source=src), RetrievedContext(), "")
    >>> [r.pair.source for r in from_sources([rec("synthetic"), rec("esci")], ["esci"])]
    ['esci']
    >>> from_sources([rec("synthetic")], ["wands"])
    Traceback (most recent call last):
    ValueError: no CoT record comes from the sources ['wands']; the records' sources are ['synthetic']
    """
    if not sources:
        return list(records)
    keep = [r for r in records if r.pair.source in sources]
    if not keep:
        found = sorted({r.pair.source for r in records})
        raise ValueError(f"no CoT record comes from the sources {sources}; the records' sources are {found}")
    return keep


def end_of_turn_id(tokenizer) -> int:
    """The token that ends an assistant turn (the chat template's eos, e.g. <|im_end|>)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos token; an answer needs an end-of-turn token")
    return int(tokenizer.eos_token_id)


def prompt_ids(renderer: PromptRenderer, record: CotRecord) -> list[int]:
    return renderer.encode(record.pair.query, record.pair.product, record.context)


def answer_ids(renderer: PromptRenderer, level: int, rationale: str | None, max_tokens: int | None = None) -> list[int]:
    """Ids of the label-first answer plus end-of-turn; checks the label is the first token.

    `max_tokens` cuts the answer (no end-of-turn then), to compare it with short samples.
    """
    tok = renderer.tokenizer
    ids = tok.encode(renderer.target_text(level, rationale), add_special_tokens=False)
    label = tok.encode(renderer.scheme.by_level(level).emit, add_special_tokens=False)
    if ids[:1] != label:
        raise ValueError(f"the answer's first token {ids[:1]} is not the label token {label} of level {level}")
    ids = ids + [end_of_turn_id(tok)]
    if max_tokens is not None and len(ids) > max_tokens:
        ids = ids[:max_tokens]
    return ids
