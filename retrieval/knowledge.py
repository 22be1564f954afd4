"""The knowledge base a prompt draws on: for a query, the nearest rules, labelled cases and query facts.

Holds one :class:`~retrieval.embedder.Embedder` and the saved indexes of an index folder
(``rules/`` and ``knowledge/`` required, ``cases/`` optional) and returns a
:class:`~relevance.types.RetrievedContext` of rendered lines. Results are cached (LRU, keyed by
the query and the retrieval settings). It does not build index folders (see :mod:`retrieval.build`;
`with_cases` / `with_rules` build one index in memory, for a checkpoint's own training split or
label scheme) and does not know how the lines are placed into a prompt.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from relevance.retrieval_config import DEFAULT_RETRIEVAL, RetrievalConfig
from relevance.types import RetrievedContext, normal_query
from retrieval.embedder import Embedder
from retrieval.index import META_FILE, VectorIndex, read_meta
from retrieval.layout import CASES, EMBEDDED_FIELD, KNOWLEDGE, RULES, embed_text

CASE_TITLE_CHARS = 80

_CacheKey = tuple[str, int, int, int, float]


def truncate(text: str, limit: int = CASE_TITLE_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters (with '…')."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "…"


def render_case(row: dict[str, Any]) -> str:
    """``query: <q> | product: <title, ~80 chars> -> <level>``."""
    return f"query: {row['query']} | product: {truncate(str(row['title']))} -> {row['level']}"


def _render(corpus: str, row: dict[str, Any]) -> str:
    return render_case(row) if corpus == CASES else str(row["text"])


class KnowledgeBase:
    """Rules + cases + query knowledge behind one embedder, with an LRU cache of results.

    ``knowledge_min_score`` / ``case_min_score`` are extra floors for the two corpora matched
    query-to-query (a query vs a stored query), where a true match scores ~0.8+ and an unrelated
    one still scores 0.3-0.6; the per-call ``min_score`` applies to every corpus.
    """

    def __init__(
        self,
        embedder: Embedder,
        rules: VectorIndex,
        knowledge: VectorIndex,
        cases: VectorIndex | None = None,
        *,
        cache_size: int = 4096,
        knowledge_min_score: float = 0.7,
        case_min_score: float = 0.5,
    ) -> None:
        for name, index in ((RULES, rules), (KNOWLEDGE, knowledge), (CASES, cases)):
            if index is not None and index.embedder_id != embedder.model_id:
                raise ValueError(
                    f"{name} index was built with {index.embedder_id!r}, embedder is {embedder.model_id!r}"
                )
        self.embedder = embedder
        self.indexes: dict[str, VectorIndex] = {RULES: rules, KNOWLEDGE: knowledge}
        if cases is not None:
            self.indexes[CASES] = cases
        self.floors = {RULES: 0.0, KNOWLEDGE: knowledge_min_score, CASES: case_min_score}
        self.cache_size = max(0, int(cache_size))
        self._cache: OrderedDict[_CacheKey, RetrievedContext] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @classmethod
    def load(cls, index_dir: str | Path, embedder: Embedder | None = None, **options: Any) -> KnowledgeBase:
        """Open the indexes in ``index_dir`` (checked against the embedder; default embedder loaded).

        ``options`` go to the constructor (cache_size, knowledge_min_score, case_min_score).
        """
        root = Path(index_dir)
        for name in (RULES, KNOWLEDGE):
            if not (root / name / META_FILE).is_file():
                raise FileNotFoundError(
                    f"no {name} index in {root}; build one with retrieval.build.build_indexes({str(root)!r})"
                )
        emb = embedder if embedder is not None else Embedder.load()

        def _open(name: str) -> VectorIndex:
            return VectorIndex.load(root / name, expected_embedder_id=emb.model_id, expected_dim=emb.dim)

        cases = _open(CASES) if (root / CASES / META_FILE).is_file() else None
        return cls(emb, _open(RULES), _open(KNOWLEDGE), cases, **options)

    @property
    def has_cases(self) -> bool:
        return CASES in self.indexes

    @property
    def corpus_hash(self) -> str:
        """One hash of every loaded corpus (rules, knowledge, cases): what a checkpoint's manifest records."""
        return combined_corpus_hash({name: index.meta.corpus_hash for name, index in self.indexes.items()})

    def _replacing(self, corpus: str, rows: list[dict[str, Any]]) -> KnowledgeBase:
        """A knowledge base with ``corpus`` replaced by an index of ``rows`` (built in memory with this
        embedder, the same index kind) and the other indexes shared."""
        old = self.indexes.get(corpus)
        kind = old.kind if old is not None else "flat"
        vectors = self.embedder.encode([embed_text(corpus, row) for row in rows])
        info = {"corpus": corpus, "embedded_field": EMBEDDED_FIELD[corpus]}
        built = VectorIndex.build(vectors, rows, kind=kind, embedder_id=self.embedder.model_id, info=info)
        indexes = {**self.indexes, corpus: built}
        return KnowledgeBase(
            self.embedder, indexes[RULES], indexes[KNOWLEDGE], indexes.get(CASES), cache_size=self.cache_size,
            knowledge_min_score=self.floors[KNOWLEDGE], case_min_score=self.floors[CASES],
        )

    def with_cases(self, rows: list[dict[str, Any]]) -> KnowledgeBase:
        """A knowledge base with these rules and knowledge indexes and a cases index of `rows`
        (`retrieval.build.case_rows` gives the rows)."""
        return self._replacing(CASES, rows)

    def with_rules(self, rows: list[dict[str, Any]]) -> KnowledgeBase:
        """A knowledge base with a rules index of `rows` (another label scheme's rules,
        `retrieval.corpora.load_rules`) and these knowledge and cases indexes."""
        return self._replacing(RULES, rows)

    def bound(self, config: RetrievalConfig) -> ConfiguredRetriever | None:
        """This knowledge base as the scoring core's `Retriever` with `config`'s k's (None when it is off)."""
        return ConfiguredRetriever(self, config) if config.enabled else None

    def retrieve(
        self,
        query: str,
        k_rules: int = DEFAULT_RETRIEVAL.k_rules,
        k_cases: int = DEFAULT_RETRIEVAL.k_cases,
        k_knowledge: int = DEFAULT_RETRIEVAL.k_knowledge,
        min_score: float = 0.2,
    ) -> RetrievedContext:
        """Up to ``k_*`` lines per corpus for ``query``, best first, each scoring >= ``min_score``."""
        return self.retrieve_many([query], k_rules, k_cases, k_knowledge, min_score)[0]

    def retrieve_many(
        self,
        queries: Sequence[str],
        k_rules: int = DEFAULT_RETRIEVAL.k_rules,
        k_cases: int = DEFAULT_RETRIEVAL.k_cases,
        k_knowledge: int = DEFAULT_RETRIEVAL.k_knowledge,
        min_score: float = 0.2,
    ) -> list[RetrievedContext]:
        """:meth:`retrieve` for each query; the uncached ones are embedded in one batch."""
        ks = {RULES: int(k_rules), CASES: int(k_cases), KNOWLEDGE: int(k_knowledge)}
        tail = (ks[RULES], ks[CASES], ks[KNOWLEDGE], float(min_score))
        found: dict[str, RetrievedContext] = {}
        todo: list[str] = []
        with self._lock:
            for q in dict.fromkeys(queries):
                hit = self._cache.get((q, *tail)) if self.cache_size else None
                if hit is not None:
                    self._cache.move_to_end((q, *tail))
                    found[q] = hit
                    self.hits += 1
                elif not q.strip():
                    found[q] = RetrievedContext()
                else:
                    todo.append(q)
                    self.misses += 1
        if todo:
            vectors = self.embedder.encode(todo)
            lines: dict[str, list[tuple[str, ...]]] = {}
            for name, index in self.indexes.items():
                floor = max(float(min_score), self.floors[name])
                hits = index.search(vectors, ks[name]) if ks[name] > 0 else [[] for _ in todo]
                lines[name] = [
                    tuple(_render(name, row) for score, row in hs if score >= floor) for hs in hits
                ]
            empty = [()] * len(todo)
            fresh = {
                q: RetrievedContext(
                    rules=lines[RULES][i],
                    cases=lines.get(CASES, empty)[i],
                    knowledge=lines[KNOWLEDGE][i],
                )
                for i, q in enumerate(todo)
            }
            found.update(fresh)
            if self.cache_size:
                with self._lock:
                    for q, ctx in fresh.items():
                        self._cache[(q, *tail)] = ctx
                        self._cache.move_to_end((q, *tail))
                    while len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return [found[q] for q in queries]

    def cache_info(self) -> dict[str, int]:
        """Cache hits, misses, current size and limit."""
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "size": len(self._cache),
                "limit": self.cache_size,
            }

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(index)}" for name, index in self.indexes.items())
        return f"KnowledgeBase({sizes}, embedder={self.embedder.model_id!r})"


def combined_corpus_hash(hashes: dict[str, str]) -> str:
    """One hash over the corpus hashes of an index folder's indexes (by corpus name)."""
    return hashlib.sha256("\n".join(sorted(f"{k}:{v}" for k, v in hashes.items())).encode()).hexdigest()


def index_corpus_hash(index_dir: str | Path) -> str | None:
    """`KnowledgeBase.corpus_hash` of the folder, read from the index metadata alone (None: no indexes)."""
    metas = {name: read_meta(Path(index_dir) / name) for name in (RULES, KNOWLEDGE, CASES)}
    found = {name: m.corpus_hash for name, m in metas.items() if m is not None}
    return combined_corpus_hash(found) if found else None


def case_query(line: str) -> str:
    """The query of a rendered case line (`render_case`).

    >>> case_query("query: red mug | product: Mug -> 4")
    'red mug'
    """
    return line.removeprefix("query: ").rsplit(" | product: ", 1)[0]


def without_own_query(context: RetrievedContext, query: str) -> RetrievedContext:
    """`context` without the retrieved cases of `query` itself (they would put its label into the prompt).

    >>> ctx = RetrievedContext(cases=("query: red mug | product: Mug -> 4", "query: mug | product: Cup -> 3"))
    >>> without_own_query(ctx, "Red  Mug").cases
    ('query: mug | product: Cup -> 3',)
    """
    own = normal_query(query)
    return replace(context, cases=tuple(c for c in context.cases if normal_query(case_query(c)) != own))


class ConfiguredRetriever:
    """A `KnowledgeBase` with fixed k's: the `relevance.retrieval_config.Retriever` the scoring core calls.

    With `without_own_query` a pair never sees the labelled cases of its own query: the k cases are the
    best of the other queries' (as CoT builds its training prompts). Serving never sets it; an
    evaluation of pairs whose queries are in the cases index (a run's own training rows) does, so it
    measures the judge and not the lookup of its own label.
    """

    def __init__(self, kb: KnowledgeBase, config: RetrievalConfig, without_own_query: bool = False):
        self.kb = kb
        self.config = config
        self.without_own_query = without_own_query
        self._own_counts: dict[str, int] | None = None

    @property
    def corpus_hash(self) -> str:
        return self.kb.corpus_hash

    def own_cases(self, query: str) -> int:
        """How many cases of the index are labelled under `query` (case and spacing aside)."""
        if self._own_counts is None:
            index = self.kb.indexes.get(CASES)
            counts: dict[str, int] = {}
            for row in index.rows if index is not None else ():
                key = normal_query(str(row["query"]))
                counts[key] = counts.get(key, 0) + 1
            self._own_counts = counts
        return self._own_counts.get(normal_query(query), 0)

    def retrieve_many(self, queries: list[str]) -> list[RetrievedContext]:
        c = self.config
        if not self.without_own_query or c.k_cases <= 0:
            return self.kb.retrieve_many(queries, c.k_rules, c.k_cases, c.k_knowledge)
        # fetch as many more cases as the most numerous own query holds, so k others remain
        extra = max((self.own_cases(q) for q in queries), default=0)
        found = self.kb.retrieve_many(queries, c.k_rules, c.k_cases + extra, c.k_knowledge)
        kept = (without_own_query(ctx, q) for ctx, q in zip(found, queries, strict=True))
        return [replace(ctx, cases=ctx.cases[: c.k_cases]) for ctx in kept]


def open_retriever(
    index_dir: str | Path, config: RetrievalConfig = DEFAULT_RETRIEVAL, without_own_query: bool = False
) -> ConfiguredRetriever | None:
    """The retriever `config` asks for on the indexes in `index_dir` (None, and nothing loaded, when off;
    `without_own_query`: see `ConfiguredRetriever`)."""
    if not config.enabled:
        return None
    return ConfiguredRetriever(KnowledgeBase.load(index_dir), config, without_own_query)
