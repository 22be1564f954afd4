"""The fallback scorer: MiniLM query–product cosine mapped to the four levels, calibrated on labelled data.

When the LLM cannot answer within a request's deadline (service: `TAOSR1_OVERLOAD=fallback`),
the pairs that cannot make it are scored here instead, with the embedder the service already
loads for retrieval: embed the query and the product text (`relevance.cross_encoder.
product_text`), take their cosine, and read the level off three thresholds — level 1 below
`t[0]`, 2 from `t[0]`, 3 from `t[1]`, 4 from `t[2]`. The thresholds are chosen on labelled pairs
(`taosr1 prepare`: the cases corpus) to maximise macro-F1 over a grid of cosine quantiles, and
saved as `fallback.json` beside the retrieval indexes.

Probabilities: a softmax over the distances to the four level bands, `logit_k = -d_k / T` where
`d_k` is 0 inside band k and the cosine distance to its nearest edge outside it; the temperature
`T` is fitted on the same data (grid search, least negative log-likelihood). So the argmax is the
threshold level, a cosine near an edge splits its mass between the two bands, and CumPT, tier
and score come out of `relevance.scoring` exactly as for the model. No prompt, no retrieval, no
reasoning; `FallbackScorer` answers eval's calls (`label_scores`, `score_pairs`) like a judge.
Both tiers read a listing without its keyword stuffing (`lexical.shown_text`, relevance.keyword_stuffing):
pasted search terms are exactly what a similarity counts.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from relevance.cross_encoder import product_text
from relevance.labels import DEFAULT_SCHEME, LabelScheme
from relevance.scoring import DEFAULT_BETA, Scored, score_rows
from relevance.types import LabeledPair, Product
from retrieval import lexical

#: the calibration files, beside the retrieval indexes (`taosr1 prepare` writes them): the cosine tier's, the lexical tier's
CALIBRATION_FILE = "fallback.json"
LEXICAL_CALIBRATION_FILE = "fallback-lexical.json"
#: the lexical tier's `embedder_id` (what computed the similarity), so a changed measure recalibrates
LEXICAL_ID = "lexical-coverage-v2"  # v2: plurals folded on both sides (`-es` too), keyword stuffing dropped
#: temperatures tried when fitting the band softmax
TEMPERATURES = tuple(float(t) for t in np.geomspace(0.005, 0.5, 40))


@dataclass(frozen=True)
class FallbackCalibration:
    """Three ascending similarity thresholds (where levels 2, 3 and 4 start) and the band softmax temperature."""

    thresholds: tuple[float, float, float]
    temperature: float
    macro_f1: float = 0.0  # on the calibration data
    n: int = 0  # calibration pairs
    data: str = ""  # what it was calibrated on
    data_hash: str = ""  # of the calibration pairs, so `taosr1 prepare` recalibrates only when they change
    embedder_id: str = ""

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FallbackCalibration:
        raw = json.loads(Path(path).read_text())
        t = tuple(float(x) for x in raw.pop("thresholds"))
        if len(t) != 3 or not t[0] <= t[1] <= t[2]:
            raise ValueError(f"{path}: thresholds must be three ascending cosines, got {t}")
        return cls(thresholds=t, **{k: v for k, v in raw.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]


#: used when no calibration file exists: `taosr1 prepare`'s calibration on the shipped cases corpus
#: (1,539 pairs, macro-F1 0.549 there; rounded), so a service started without one still scores sensibly
DEFAULT_CALIBRATION = FallbackCalibration(
    thresholds=(0.23, 0.369, 0.547), temperature=0.136, macro_f1=0.549, n=1539, data="built-in default (cases corpus, 2026-12-01)"
)
#: the lexical tier's, likewise (1,637 pairs of the shipped model's cases, macro-F1 0.528 there; rounded)
DEFAULT_LEXICAL_CALIBRATION = FallbackCalibration(
    thresholds=(0.176, 0.408, 0.729), temperature=0.246, macro_f1=0.528, n=1637,
    data="built-in default (cases corpus, 2026-12-04, lexical-coverage-v2)", embedder_id=LEXICAL_ID,
)


#: each calibration file's built-in default
DEFAULTS = {CALIBRATION_FILE: DEFAULT_CALIBRATION, LEXICAL_CALIBRATION_FILE: DEFAULT_LEXICAL_CALIBRATION}


def load_calibration(index_dir: str | Path | None, name: str = CALIBRATION_FILE) -> FallbackCalibration:
    """The calibration file `name` in `index_dir`, else its built-in default."""
    path = Path(index_dir) / name if index_dir is not None else None
    return FallbackCalibration.load(path) if path is not None and path.is_file() else DEFAULTS[name]


def levels_from_cosine(cos: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Level 1 + how many thresholds the cosine reaches.

    >>> levels_from_cosine(np.array([0.1, 0.3, 0.5, 0.9]), (0.2, 0.4, 0.8)).tolist()
    [1, 2, 3, 4]
    """
    return 1 + (np.asarray(cos, dtype=np.float64)[:, None] >= np.asarray(thresholds, dtype=np.float64)[None, :]).sum(axis=1)


def band_logits(cos: np.ndarray, thresholds: Sequence[float], temperature: float) -> np.ndarray:
    """(n, 4) logits in best-first order (levels 4, 3, 2, 1): minus the distance to each band over T.

    >>> band_logits(np.array([0.5]), (0.2, 0.4, 0.8), 0.1).round(3).tolist()
    [[-3.0, 0.0, -1.0, -3.0]]
    """
    c = np.asarray(cos, dtype=np.float64)[:, None]
    t = [float(x) for x in thresholds]
    lower = np.array([t[2], t[1], t[0], -np.inf])  # band k of level 4, 3, 2, 1 is [lower, upper)
    upper = np.array([np.inf, t[2], t[1], t[0]])
    distance = np.maximum(lower[None, :] - c, 0.0) + np.maximum(c - upper[None, :], 0.0)
    return 0.0 - distance / max(float(temperature), 1e-6)


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    """Macro-F1 over the levels present in `gold` (as relevance.metrics computes it).

    >>> macro_f1(np.array([4, 4, 1]), np.array([4, 1, 1]))
    0.6666666666666666
    """
    scores = []
    for level in np.unique(gold):
        tp = float(np.sum((pred == level) & (gold == level)))
        fp = float(np.sum((pred == level) & (gold != level)))
        fn = float(np.sum((pred != level) & (gold == level)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def _midpoints(cos: np.ndarray) -> np.ndarray:
    """Every distinct cut of the sorted cosines: midpoints between neighbours, plus one below and one above all."""
    c = np.unique(cos)
    if not len(c):
        return np.array([0.0])
    return np.concatenate([[c[0] - 1e-6], (c[1:] + c[:-1]) / 2, [c[-1] + 1e-6]])


def calibrate_thresholds(cos: np.ndarray, gold: np.ndarray, grid: int = 32) -> tuple[tuple[float, float, float], float]:
    """The three ascending thresholds with the best macro-F1 on (`cos`, `gold`).

    A search over `grid` cuts at quantiles of the cosines, then coordinate ascent over every
    distinct cut (each threshold in turn, the others fixed) until no move improves. Cuts below
    and above every cosine are allowed, so a level may go unpredicted when that scores best.
    """
    cos = np.asarray(cos, dtype=np.float64)
    gold = np.asarray(gold)
    cuts = _midpoints(cos)
    coarse = cuts[np.unique(np.linspace(0, len(cuts) - 1, grid).round().astype(int))]
    reaches = cos[:, None] >= coarse[None, :]  # reaches[i, j]: cosine i is at or above cut j
    best, best_t = -1.0, (float(coarse[0]),) * 3
    m = len(coarse)
    for a in range(m):
        for b in range(a, m):
            partial = 1 + reaches[:, a].astype(np.int64) + reaches[:, b]
            for c in range(b, m):
                f1 = macro_f1(gold, partial + reaches[:, c])
                if f1 > best + 1e-12:
                    best, best_t = f1, (float(coarse[a]), float(coarse[b]), float(coarse[c]))
    t = list(best_t)
    for _ in range(10):  # coordinate ascent over all cuts
        moved = False
        for k in range(3):
            lo, hi = (t[k - 1] if k else -np.inf), (t[k + 1] if k < 2 else np.inf)
            for cut in cuts[(cuts >= lo) & (cuts <= hi)]:
                trial = [*t[:k], float(cut), *t[k + 1 :]]
                f1 = macro_f1(gold, levels_from_cosine(cos, trial))
                if f1 > best + 1e-12:
                    best, t, moved = f1, trial, True
        if not moved:
            break
    return (t[0], t[1], t[2]), best


def calibrate_temperature(cos: np.ndarray, gold: np.ndarray, thresholds: Sequence[float]) -> float:
    """The band-softmax temperature (from TEMPERATURES) with the least negative log-likelihood of `gold`."""
    from relevance.scoring import softmax_rows

    column = {4: 0, 3: 1, 2: 2, 1: 3}
    idx = np.array([column[int(g)] for g in gold])
    best_t, best_nll = TEMPERATURES[0], np.inf
    for t in TEMPERATURES:
        probs = softmax_rows(band_logits(cos, thresholds, t))
        nll = -float(np.mean(np.log(np.clip(probs[np.arange(len(idx)), idx], 1e-12, None))))
        if nll < best_nll:
            best_t, best_nll = t, nll
    return float(best_t)


def pairs_hash(pairs: Sequence[LabeledPair]) -> str:
    """A short hash of labelled pairs (query, product text, level)."""
    digest = hashlib.sha256()
    for p in pairs:
        digest.update(f"{p.query}\x1f{product_text(p.product)}\x1f{p.level}\x1e".encode())
    return digest.hexdigest()[:16]


class BandScorer:
    """A judge that maps one similarity per pair to the four level bands: `score_pairs` from its `label_scores`."""

    name: str
    scheme: LabelScheme
    explains = False

    def label_scores(self, queries: Sequence[str], products: Sequence[Product], progress=None, batch: int = 256) -> np.ndarray:
        raise NotImplementedError

    def score_pairs(
        self, queries: Sequence[str], products: Sequence[Product], beta: float = DEFAULT_BETA, progress=None
    ) -> list[Scored]:
        return score_rows(self.label_scores(queries, products, progress=progress), self.scheme, beta)

    def explain(self, *args, **kwargs):
        raise NotImplementedError(f"the {self.name} scorer has no reasoning to explain")


class LexicalScorer(BandScorer):
    """The lexical tier on its own (retrieval.lexical coverage → level bands), a judge like FallbackScorer."""

    name = "fallback-lexical"
    engine_name = "lexical-coverage"

    def __init__(self, calibration: FallbackCalibration = DEFAULT_LEXICAL_CALIBRATION, scheme: LabelScheme = DEFAULT_SCHEME):
        self.calibration = calibration
        self.scheme = scheme

    def label_scores(self, queries: Sequence[str], products: Sequence[Product], progress=None, batch: int = 256) -> np.ndarray:
        """(n, 4) logits, best-first: no embedder, a quarter of a millisecond per pair."""
        out = band_logits(lexical.similarities(queries, products), self.calibration.thresholds, self.calibration.temperature)
        if progress is not None:
            progress.update(len(out))
        return out


class FallbackScorer(BandScorer):
    """Cosine → level bands on one embedder; `label_scores`/`score_pairs` like `relevance.judge.Judge`.

    Product embeddings are kept in an LRU cache (`cache_size` texts): a catalogue's products come
    back request after request, and only the texts not seen lately cost an embedder pass.
    `quick_label_scores` is the lexical tier (retrieval.lexical), for pairs the embedder would
    score too late."""

    name = "fallback"
    engine_name = "minilm-cosine"

    def __init__(
        self,
        embedder,
        calibration: FallbackCalibration = DEFAULT_CALIBRATION,
        scheme: LabelScheme = DEFAULT_SCHEME,
        lexical_calibration: FallbackCalibration = DEFAULT_LEXICAL_CALIBRATION,
        cache_size: int = 20_000,
    ):
        if tuple(scheme.level_values) != (4, 3, 2, 1):
            raise ValueError(f"the fallback scorer maps to levels 4, 3, 2, 1; {scheme.name} has {scheme.level_values}")
        self.embedder = embedder
        self.calibration = calibration
        self.lexical = LexicalScorer(lexical_calibration, scheme)
        self.scheme = scheme
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, embedder, index_dir: str | Path | None) -> FallbackScorer:
        """The scorer with the calibrations saved in `index_dir` (the built-in defaults where there are none)."""
        return cls(embedder, load_calibration(index_dir, CALIBRATION_FILE), lexical_calibration=load_calibration(index_dir, LEXICAL_CALIBRATION_FILE))

    def missing_texts(self, products: Sequence[Product]) -> set[str]:
        """The distinct product texts of `products` an embedder pass would have to encode now (not cached)."""
        with self._lock:
            return {lexical.shown_text(p) for p in products} - self._cache.keys()

    def _product_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings of `texts`: cached ones from the cache, the distinct others in one embedder pass."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(missing, self.embedder.encode(missing), strict=True)) if missing else {}
        with self._lock:
            vectors = [fresh[t] if t in fresh else self._cache[t] for t in texts]
            for t in texts:  # most recently used last
                if t in self._cache:
                    self._cache.move_to_end(t)
            self._cache.update(fresh)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(vectors)

    def cosines(self, queries: Sequence[str], products: Sequence[Product]) -> np.ndarray:
        """Cosine of each (query, product text) pair; each distinct query and product text is embedded once."""
        if not queries:
            return np.zeros(0, dtype=np.float64)
        distinct = list(dict.fromkeys(queries))
        q = self.embedder.encode(distinct)
        row = {text: i for i, text in enumerate(distinct)}
        p = self._product_vectors([lexical.shown_text(x) for x in products])
        return np.einsum("ij,ij->i", q[[row[x] for x in queries]], p).astype(np.float64)

    def label_scores(self, queries: Sequence[str], products: Sequence[Product], progress=None, batch: int = 256) -> np.ndarray:
        """(n, 4) logits, best-first, for pairs given as parallel lists."""
        out = np.zeros((len(queries), 4), dtype=np.float64)
        for start in range(0, len(queries), batch):
            stop = start + batch
            cos = self.cosines(queries[start:stop], products[start:stop])
            out[start:stop] = band_logits(cos, self.calibration.thresholds, self.calibration.temperature)
            if progress is not None:
                progress.update(len(cos))
        return out

    @property
    def lexical_calibration(self) -> FallbackCalibration:
        return self.lexical.calibration

    def quick_label_scores(self, queries: Sequence[str], products: Sequence[Product]) -> np.ndarray:
        """(n, 4) logits from the lexical tier (LexicalScorer): no embedder, a quarter of a millisecond per pair."""
        return self.lexical.label_scores(queries, products)



def calibrate_values(values: np.ndarray, pairs: Sequence[LabeledPair], data: str, scorer_id: str, grid: int = 32) -> FallbackCalibration:
    """Thresholds (best macro-F1) and temperature (least NLL) fitted on one similarity per labelled pair."""
    if not pairs:
        raise ValueError("calibrating the fallback scorer needs labelled pairs")
    gold = np.array([int(p.level) for p in pairs])
    thresholds, f1 = calibrate_thresholds(values, gold, grid)
    return FallbackCalibration(
        thresholds=thresholds,
        temperature=calibrate_temperature(values, gold, thresholds),
        macro_f1=round(f1, 4),
        n=len(pairs),
        data=data,
        data_hash=pairs_hash(pairs),
        embedder_id=scorer_id,
    )


def calibrate(embedder, pairs: Sequence[LabeledPair], data: str = "", grid: int = 32) -> FallbackCalibration:
    """The cosine tier's calibration on `pairs` with `embedder`."""
    cos = FallbackScorer(embedder).cosines([p.query for p in pairs], [p.product for p in pairs]) if pairs else np.zeros(0)
    return calibrate_values(cos, pairs, data, getattr(embedder, "model_id", ""), grid)


def calibrate_lexical(pairs: Sequence[LabeledPair], data: str = "", grid: int = 32) -> FallbackCalibration:
    """The lexical tier's calibration on `pairs` (retrieval.lexical coverage)."""
    values = lexical.similarities([p.query for p in pairs], [p.product for p in pairs])
    return calibrate_values(values, pairs, data, LEXICAL_ID, grid)


def _ensure(path: Path, pairs: Sequence[LabeledPair], scorer_id: str, make) -> tuple[FallbackCalibration, bool]:
    if path.is_file():
        try:
            saved = FallbackCalibration.load(path)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            saved = None
        if saved is not None and saved.data_hash == pairs_hash(pairs) and saved.embedder_id == scorer_id:
            return saved, True
    calibration = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(path)
    return calibration, False


def ensure_calibration(embedder, pairs: Sequence[LabeledPair], index_dir: str | Path, data: str = "") -> tuple[FallbackCalibration, bool]:
    """Calibrate into `index_dir/fallback.json` unless it is current for these pairs; (calibration, cached)."""
    scorer_id = getattr(embedder, "model_id", "")
    return _ensure(Path(index_dir) / CALIBRATION_FILE, pairs, scorer_id, lambda: calibrate(embedder, pairs, data))


def ensure_lexical_calibration(pairs: Sequence[LabeledPair], index_dir: str | Path, data: str = "") -> tuple[FallbackCalibration, bool]:
    """The lexical tier's calibration into `index_dir/fallback-lexical.json`, likewise."""
    return _ensure(Path(index_dir) / LEXICAL_CALIBRATION_FILE, pairs, LEXICAL_ID, lambda: calibrate_lexical(pairs, data))
