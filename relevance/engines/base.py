"""The engine protocol: what the service and the trainers ask of a model backend.

An engine holds one loaded checkpoint and answers two questions:
- `label_scores(groups)`: for each (prefix, suffixes) group, one row per suffix with a
  score per label (best-first order) whose softmax is the label distribution at the first
  answer position — one prefill, no generation;
- `generate(prompts, ...)`: free text after each prompt (the reasoning behind `explain`).
`label_ids` are the label tokens (`relevance.tokens.label_token_ids`, one token per label).
Engines are synchronous and not thread-safe; the serving layer runs them on one worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from relevance.labels import LabelScheme
from relevance.manifest import CheckpointManifest


@dataclass(frozen=True)
class ScoringGroup:
    """Prompts that share a prefix: one query's instruction + context + query, many products."""

    prefix_ids: list[int]
    suffix_ids: list[list[int]]

    @property
    def n(self) -> int:
        return len(self.suffix_ids)

    @property
    def tokens(self) -> int:
        return len(self.prefix_ids) * self.n + sum(len(s) for s in self.suffix_ids)


@dataclass(frozen=True)
class GenerationRequest:
    prompt_ids: list[int]
    max_new_tokens: int = 160
    temperature: float = 0.0
    seed: int | None = None


@runtime_checkable
class Engine(Protocol):
    name: str
    manifest: CheckpointManifest
    scheme: LabelScheme
    tokenizer: object
    #: one token id per label, in the scheme's best-first order (checked one-token-per-label at load)
    label_ids: list[int]

    def label_scores(self, groups: list[ScoringGroup]) -> list[np.ndarray]: ...

    def generate(self, requests: list[GenerationRequest]) -> list[str]: ...

    def close(self) -> None: ...
