"""What retrieval puts into a prompt: whether it is on and how many lines of each corpus.

The one definition of the retrieval knobs (k rules, k cases, k query-knowledge lines). The
service settings, eval, CoT construction, the knowledge base's defaults and the training
recipe all start from `DEFAULT_RETRIEVAL`; a checkpoint's manifest records the config it was
trained with (and the index corpus hash), and loading checks it like the prompt version.
Also the `Retriever` protocol through which retrieval enters the scoring core, so this
package never imports `retrieval`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from relevance.types import RetrievedContext


@dataclass(frozen=True)
class RetrievalConfig:
    """Retrieval on/off, the number of lines per corpus (rules, similar cases, query knowledge), and
    whether each product's suffix states the query's coverage (relevance.coverage; computed from the
    pair, no index) and, within it, the query's exclusions apart. Coverage is the model's: serving
    follows the manifest, not a setting."""

    enabled: bool = True
    k_rules: int = 3
    k_cases: int = 2
    k_knowledge: int = 1
    coverage: bool = False
    #: the coverage line states the query's exclusions apart (relevance.exclusions)
    coverage_negation: bool = False
    #: the coverage line counts only the words the listing's fields name (a description's or a claim's
    #: words count as not named; relevance.coverage)
    coverage_naming_only: bool = False
    #: the coverage line reads decimals and dimensions whole ("usb 2.0", "16 x 16"; relevance.measures)
    coverage_measures: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RetrievalConfig:
        """From a manifest or recipe dict; unknown keys are refused, missing ones take the default.

        >>> RetrievalConfig.from_dict({"k_rules": 5})
        RetrievalConfig(enabled=True, k_rules=5, k_cases=2, k_knowledge=1, coverage=False, coverage_negation=False, coverage_naming_only=False, coverage_measures=False)
        """
        unknown = set(raw) - set(asdict(DEFAULT_RETRIEVAL))
        if unknown:
            raise ValueError(f"unknown retrieval keys {sorted(unknown)}; known: {sorted(asdict(DEFAULT_RETRIEVAL))}")
        return cls(**raw)


DEFAULT_RETRIEVAL = RetrievalConfig()

#: the fields of `RetrievalConfig` that shape the coverage line: the model's own prompt, which the
#: renderer takes under the same names and serving follows from the manifest, not from a setting
COVERAGE_OPTIONS = ("coverage", "coverage_negation", "coverage_naming_only", "coverage_measures")


def coverage_options(config: RetrievalConfig) -> dict[str, bool]:
    """The coverage-line options of `config`, by name.

    >>> coverage_options(RetrievalConfig(coverage=True))
    {'coverage': True, 'coverage_negation': False, 'coverage_naming_only': False, 'coverage_measures': False}
    """
    return {name: getattr(config, name) for name in COVERAGE_OPTIONS}


class Retriever(Protocol):
    """Contexts for queries, one per query, in order (retrieval.knowledge implements it)."""

    def retrieve_many(self, queries: list[str]) -> list[RetrievedContext]: ...


def contexts_for(retriever: Retriever | None, queries: list[str]) -> list[RetrievedContext]:
    """Each query's context; empty contexts when retrieval is off (`retriever` None)."""
    if retriever is None or not queries:
        return [RetrievedContext() for _ in queries]
    return retriever.retrieve_many(queries)
