"""A FAISS inner-product index over rows of JSON, saved with the metadata that makes it safe to reuse.

Kinds: ``flat`` (exact; the default, right for corpora up to ~100k rows), ``ivf``
(``IndexIVFFlat``, nlist from the corpus size, ``nprobe`` tunable) and ``hnsw``
(``IndexHNSWFlat`` with inner product). On disk a saved index is a folder holding
``index.faiss``, ``rows.jsonl`` and ``meta.json`` (embedding model id, dim, normalisation flag,
kind, sha256 of the canonical rows, count, creation time); :meth:`VectorIndex.load` refuses a
folder whose metadata disagrees with the embedder in hand or with its own rows, naming the field.
It knows nothing about how vectors are made or what the rows mean.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

KINDS = ("flat", "ivf", "hnsw")
FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
META_FILE = "meta.json"
ROWS_FILE = "rows.jsonl"


class IndexMismatchError(ValueError):
    """A saved index does not fit what the caller expects; ``field`` names what differs."""

    def __init__(self, path: Path | str, field: str, found: object, expected: object) -> None:
        self.path = str(path)
        self.field = field
        self.found = found
        self.expected = expected
        super().__init__(
            f"index at {path}: {field} mismatch: found {found!r}, expected {expected!r}; "
            "rebuild it (retrieval.build.build_indexes) with the embedder you serve with"
        )


def canonical_json(obj: object) -> str:
    """The one JSON spelling used for hashing and for ``rows.jsonl`` lines."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def corpus_hash(rows: list[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON of ``rows`` (order matters: row i is vector i)."""
    return hashlib.sha256(canonical_json(list(rows)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IndexMeta:
    """What ``meta.json`` records about a saved index."""

    embedder_id: str
    dim: int
    normalized: bool
    kind: str
    corpus_hash: str
    count: int
    created: str
    metric: str = "inner_product"
    params: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexMeta:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def read_meta(directory: str | Path) -> IndexMeta | None:
    """The metadata of a saved index, or None if ``directory`` holds no readable index."""
    path = Path(directory) / META_FILE
    try:
        return IndexMeta.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _ivf_nlist(count: int) -> int:
    # ~4*sqrt(n) lists, but keep >= 39 training points per list (FAISS's own floor).
    return max(1, min(int(4 * math.sqrt(count)), count // 39))


def _apply_search_params(index: faiss.Index, kind: str, params: dict[str, int]) -> None:
    if kind == "ivf":
        index.nprobe = int(params["nprobe"])
    elif kind == "hnsw":
        index.hnsw.efSearch = int(params["ef_search"])


class VectorIndex:
    """Vectors (FAISS) + the rows they stand for + metadata. Build, search, save, load."""

    def __init__(self, index: faiss.Index, rows: list[dict[str, Any]], meta: IndexMeta) -> None:
        if index.ntotal != len(rows):
            raise ValueError(f"index holds {index.ntotal} vectors but {len(rows)} rows were given")
        self._index = index
        self.rows = rows
        self.meta = meta

    # -- properties ------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.meta.kind

    @property
    def dim(self) -> int:
        return self.meta.dim

    @property
    def embedder_id(self) -> str:
        return self.meta.embedder_id

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def nprobe(self) -> int | None:
        """IVF lists probed per query (None for other kinds); settable."""
        return int(self._index.nprobe) if self.kind == "ivf" else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if self.kind != "ivf":
            raise ValueError(f"nprobe applies to ivf indexes, this one is {self.kind!r}")
        nlist = self.meta.params["nlist"]
        value = max(1, min(int(value), nlist))
        self._index.nprobe = value
        self.meta = IndexMeta.from_dict(
            {**asdict(self.meta), "params": {**self.meta.params, "nprobe": value}}
        )

    # -- build -----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        rows: list[dict[str, Any]],
        kind: str = "flat",
        embedder_id: str = "",
        normalized: bool = True,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 64,
        info: dict[str, Any] | None = None,
    ) -> VectorIndex:
        """Index ``vectors`` (n, dim) whose row i is described by ``rows[i]`` (JSON-able dicts).

        With ``normalized=True`` the vectors must have unit norm, so inner product is cosine.
        ``info`` is free-form provenance stored in meta.json (e.g. which field was embedded).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not embedder_id:
            raise ValueError("embedder_id is required: it is how a later load checks the embedder")
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, dim), got shape {vecs.shape}")
        rows = [dict(r) for r in rows]
        if len(rows) != vecs.shape[0]:
            raise ValueError(f"{vecs.shape[0]} vectors but {len(rows)} rows")
        if not rows:
            raise ValueError("cannot build an index over zero rows")
        n, dim = vecs.shape
        if normalized:
            norms = np.linalg.norm(vecs, axis=1)
            if not np.allclose(norms, 1.0, atol=1e-3):
                raise ValueError(
                    f"normalized=True but vector norms range {norms.min():.4f}..{norms.max():.4f}; "
                    "L2-normalise them or pass normalized=False"
                )
        params: dict[str, int] = {}
        if kind == "flat":
            index: faiss.Index = faiss.IndexFlatIP(dim)
        elif kind == "ivf":
            lists = max(1, min(int(nlist), n)) if nlist else _ivf_nlist(n)
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
            index.train(vecs)
            probe = nprobe if nprobe else max(8, lists // 16)
            params = {"nlist": lists, "nprobe": max(1, min(int(probe), lists))}
        else:
            index = faiss.IndexHNSWFlat(dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(ef_construction)
            params = {"m": int(hnsw_m), "ef_construction": int(ef_construction), "ef_search": int(ef_search)}
        _apply_search_params(index, kind, params)
        index.add(vecs)
        meta = IndexMeta(
            embedder_id=embedder_id,
            dim=int(dim),
            normalized=bool(normalized),
            kind=kind,
            corpus_hash=corpus_hash(rows),
            count=int(n),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            params=params,
            info=dict(info or {}),
        )
        return cls(index, rows, meta)

    # -- search ----------------------------------------------------------------------------
    def search(self, query_vectors: np.ndarray, k: int) -> list[list[tuple[float, dict[str, Any]]]]:
        """For each query vector, up to ``k`` (score, row) pairs, best first (score = inner product)."""
        q = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query vectors must have shape (n, {self.dim}), got {q.shape}")
        k = min(int(k), len(self.rows))
        if k <= 0 or q.shape[0] == 0:
            return [[] for _ in range(q.shape[0])]
        scores, ids = self._index.search(q, k)
        return [
            [(float(s), self.rows[i]) for s, i in zip(srow, irow, strict=True) if i >= 0]
            for srow, irow in zip(scores, ids, strict=True)
        ]

    # -- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write index.faiss, rows.jsonl and meta.json into ``directory``, replacing it atomically.

        Files are written into a sibling temp folder which is then renamed into place, so a
        reader sees either the old complete index or the new one, never a half-written one.
        """
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        tmp = target.parent / f".{target.name}.tmp-{tag}"
        old = target.parent / f".{target.name}.old-{tag}"
        tmp.mkdir()
        try:
            faiss.write_index(self._index, str(tmp / INDEX_FILE))
            with (tmp / ROWS_FILE).open("w", encoding="utf-8") as fh:
                for row in self.rows:
                    fh.write(canonical_json(row) + "\n")
            (tmp / META_FILE).write_text(json.dumps(asdict(self.meta), indent=2) + "\n", encoding="utf-8")
            if target.exists():
                target.rename(old)
            tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.exists() and not target.exists():
                old.rename(target)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return target

    @classmethod
    def load(
        cls,
        directory: str | Path,
        expected_embedder_id: str,
        expected_dim: int,
        expected_normalized: bool = True,
    ) -> VectorIndex:
        """Load a saved index, refusing it (:class:`IndexMismatchError`) when it does not fit.

        Checked, in order: embedder_id (the embedding model), dim, normalized, the rows on disk
        against the recorded corpus_hash and count, and the FAISS vector count.
        """
        path = Path(directory)
        for name in (META_FILE, ROWS_FILE, INDEX_FILE):
            if not (path / name).is_file():
                raise FileNotFoundError(f"no saved index at {path}: {name} is missing")
        meta = read_meta(path)
        if meta is None:
            raise IndexMismatchError(path, "meta.json", "unreadable", f"format_version {FORMAT_VERSION}")
        if meta.format_version != FORMAT_VERSION:
            raise IndexMismatchError(path, "format_version", meta.format_version, FORMAT_VERSION)
        if meta.embedder_id != expected_embedder_id:
            raise IndexMismatchError(path, "embedder_id", meta.embedder_id, expected_embedder_id)
        if meta.dim != expected_dim:
            raise IndexMismatchError(path, "dim", meta.dim, expected_dim)
        if meta.normalized != expected_normalized:
            raise IndexMismatchError(path, "normalized", meta.normalized, expected_normalized)
        with (path / ROWS_FILE).open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        actual_hash = corpus_hash(rows)
        if actual_hash != meta.corpus_hash:
            raise IndexMismatchError(path, "corpus_hash (rows.jsonl)", actual_hash, meta.corpus_hash)
        if len(rows) != meta.count:
            raise IndexMismatchError(path, "count (rows.jsonl)", len(rows), meta.count)
        index = faiss.read_index(str(path / INDEX_FILE))
        if index.ntotal != meta.count:
            raise IndexMismatchError(path, "count (index.faiss)", int(index.ntotal), meta.count)
        if index.d != meta.dim:
            raise IndexMismatchError(path, "dim (index.faiss)", int(index.d), meta.dim)
        _apply_search_params(index, meta.kind, meta.params)
        return cls(index, rows, meta)

    def __repr__(self) -> str:
        return (
            f"VectorIndex(kind={self.kind!r}, count={len(self)}, dim={self.dim}, "
            f"embedder={self.embedder_id!r})"
        )
