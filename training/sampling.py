"""pass@N sampling: N free answers per prompt at temperature T, parsed and checked against gold.

Answers come from the engine protocol's `generate` (the transformers engine, or vLLM when
the service's engine setting or the stage's `engine` says so), on prompts rendered exactly
as serving renders them. Each answer is parsed with `relevance.parse.parse_answer`; it is
correct when its leading label is the gold level. The pass@k curve (k = 1..N) uses the
unbiased estimator of Chen et al. (2021), averaged over prompts. Output, under the stage
folder: `samples.jsonl` (one line per prompt) and `passk.json`; a re-run with the same
inputs reads them back. Knows nothing about how the samples are used (see training.dpo).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from math import comb
from pathlib import Path
from typing import Any

from relevance.engines.base import Engine, GenerationRequest
from relevance.manifest import trained_retrieval
from relevance.parse import parse_answer
from relevance.prompt import PromptRenderer
from training.config import option, to_dict
from training.examples import CotRecord, prompt_ids, prompt_records
from training.run import log


@dataclass
class SamplingConfig:
    n: int = option(5, "answers sampled per prompt (the N of pass@N)")
    temperature: float = option(1.0, "sampling temperature")
    max_new_tokens: int = option(160, "longest sampled answer in tokens (label + rationale)")
    max_prompts: int | None = option(None, "sample at most this many prompts (a seeded sample spread over the CoT records)")
    sources: list[str] = option([], "sample prompts only from CoT records of these data sources (e.g. [esci]); empty = all")
    source_share: float | None = option(
        None, "with sources: this share of the prompts comes from them and the rest from every other record (none = only them)"
    )
    engine: str = option("auto", "engine that samples: auto (the service's TAOSR1_ENGINE), transformers or vllm")
    engine_device: str = option("auto", "device of the transformers engine: auto (cuda when available), cpu, cuda")
    chunk: int = option(64, "generation requests handed to the engine per call")

    def validate(self) -> None:
        if self.n < 1:
            raise ValueError(f"sampling.n must be >= 1, got {self.n}")
        if self.temperature <= 0:
            raise ValueError(f"sampling.temperature must be > 0 for pass@N sampling, got {self.temperature}")
        if self.engine not in ("auto", "transformers", "vllm"):
            raise ValueError(f"sampling.engine must be auto, transformers or vllm, got {self.engine!r}")


@dataclass(frozen=True)
class Answer:
    """One answer to a prompt: its text (label first), parsed level, and whether it ended on its own."""

    text: str
    level: int | None
    finished: bool = True
    source: str = "sample"  # "sample" or "teacher"


@dataclass(frozen=True)
class SampledPrompt:
    """A prompt's N sampled answers plus the teacher's (gold CoT) answer."""

    index: int  # position in the CoT records
    gold: int
    samples: tuple[Answer, ...]
    teacher: Answer

    @property
    def correct(self) -> int:
        return sum(1 for a in self.samples if a.level == self.gold)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> SampledPrompt:
        return cls(obj["index"], obj["gold"], tuple(Answer(**a) for a in obj["samples"]), Answer(**obj["teacher"]))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k).

    >>> pass_at_k(5, 0, 1), pass_at_k(5, 5, 1), round(pass_at_k(5, 1, 1), 4)
    (0.0, 1.0, 0.2)
    >>> round(pass_at_k(5, 1, 2), 4), pass_at_k(5, 1, 5), pass_at_k(5, 4, 2)
    (0.4, 1.0, 1.0)
    >>> pass_at_k(4, 1, 5)
    Traceback (most recent call last):
    ...
    ValueError: need 1 <= k <= n and 0 <= c <= n, got n=4, c=1, k=5
    """
    if not (1 <= k <= n and 0 <= c <= n):
        raise ValueError(f"need 1 <= k <= n and 0 <= c <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def pass_at_k_curve(correct_counts: Sequence[int], n: int) -> dict[int, float]:
    """Mean pass@k over prompts for k = 1..n, from each prompt's number of correct samples.

    >>> pass_at_k_curve([0, 1, 5], 5)
    {1: 0.4, 2: 0.4667, 3: 0.5333, 4: 0.6, 5: 0.6667}
    """
    if not correct_counts:
        return {}
    return {k: round(sum(pass_at_k(n, c, k) for c in correct_counts) / len(correct_counts), 4) for k in range(1, n + 1)}


def teacher_answer(renderer: PromptRenderer, record: CotRecord) -> Answer:
    text = renderer.target_text(record.pair.level, record.rationale)
    return Answer(text, record.pair.level, True, "teacher")


def sample_prompts(
    engine: Engine, renderer: PromptRenderer, records: Sequence[CotRecord], cfg: SamplingConfig, seed: int = 0
) -> list[SampledPrompt]:
    """N answers per record from `engine` (seeded per request, so a re-run draws the same answers)."""
    tokenizer = renderer.tokenizer
    prompts = [prompt_ids(renderer, r) for r in records]
    requests = [
        GenerationRequest(p, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=seed * 1_000_003 + i * cfg.n + j)
        for i, p in enumerate(prompts)
        for j in range(cfg.n)
    ]
    texts: list[str] = []
    for start in range(0, len(requests), cfg.chunk):
        texts.extend(engine.generate(requests[start : start + cfg.chunk]))
    out = []
    for i, record in enumerate(records):
        answers = []
        for text in texts[i * cfg.n : (i + 1) * cfg.n]:
            # an answer that used its whole token budget was cut off: it gets no end-of-turn in DPO
            finished = len(tokenizer.encode(text, add_special_tokens=False)) < cfg.max_new_tokens
            answers.append(Answer(text, parse_answer(text, renderer.scheme).level, finished))
        out.append(SampledPrompt(i, record.pair.level, tuple(answers), teacher_answer(renderer, record)))
    return out


def run_sampling(
    model_dir: Path, cache_dir: Path, records: Sequence[CotRecord], cfg: SamplingConfig, out_dir: Path, seed: int = 0,
    dtype: str = "auto", key_extra: dict[str, Any] | None = None,
) -> tuple[list[SampledPrompt], dict[str, Any]]:
    """Sample (or read back) `out_dir/samples.jsonl`; returns the prompts and the pass@k report."""
    from relevance.labels import get_scheme
    from training.engines import open_engine
    from training.policy import pick_device

    out_dir = Path(out_dir)
    samples_path, report_path = out_dir / "samples.jsonl", out_dir / "passk.json"
    key = {"sampling": to_dict(cfg), "model": str(Path(model_dir).resolve()), "seed": seed, **(key_extra or {})}
    if samples_path.is_file() and report_path.is_file() and json.loads(report_path.read_text()).get("key") == key:
        log(f"sampling: {samples_path} is up to date")
        lines = samples_path.read_text().splitlines()
        return [SampledPrompt.from_dict(json.loads(x)) for x in lines if x.strip()], json.loads(report_path.read_text())
    records = prompt_records(list(records), cfg.sources, cfg.source_share, cfg.max_prompts, seed)
    engine = open_engine(model_dir, cache_dir, cfg.engine, pick_device(cfg.engine_device), dtype)
    try:
        # the prompt the checkpoint was trained on
        renderer = PromptRenderer.for_retrieval(engine.tokenizer, get_scheme(engine.manifest.label_scheme), trained_retrieval(engine.manifest))
        sampled = sample_prompts(engine, renderer, records, cfg, seed)
        engine_name = engine.name
    finally:
        engine.close()
    counts = [s.correct for s in sampled]
    report = {
        "key": key,
        "engine": engine_name,
        "prompts": len(sampled),
        "n": cfg.n,
        "temperature": cfg.temperature,
        "pass_at_k": pass_at_k_curve(counts, cfg.n),
        "all_correct": sum(1 for c in counts if c == cfg.n),
        "all_wrong": sum(1 for c in counts if c == 0),
        "unparsed": sum(1 for s in sampled for a in s.samples if a.level is None),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = samples_path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in sampled))
    tmp.replace(samples_path)
    report_path.write_text(json.dumps(report, indent=2))
    log(f"sampling: {len(sampled)} prompts x {cfg.n} on {engine_name}; pass@k {report['pass_at_k']}")
    return sampled, report
