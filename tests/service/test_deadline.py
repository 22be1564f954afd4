"""Answers within the deadline: admission by cost, the fallback scorer, explain under a deadline, the OpenAPI's limits.

Live tests run the real app on loopback with the tiny model whose engine is slowed to a known
speed (the real forward pass, padded by a sleep to a fixed time per work token, and the same
speed as its measured pace), so a bounded burst (fixed count) overloads it the same way on any machine:

- reject mode: every answer within deadline + margin; 200 with every result, or 429 with
  Retry-After — nothing accepted is lost (no 504); a request that can never fit is a 422 naming
  deadline_ms and how many products would fit;
- fallback mode: every answer 200 within deadline + margin, the pairs that could not make it
  marked `"scored_by": "fallback"`;
- clients that give up: their queued work leaves the queue (queue depth back to 0) uncomputed.

Unit tests: threshold calibration, the fallback's probabilities, admission arithmetic. The
OpenAPI test needs no server: the schema carries maxItems/maxLength/… from the settings.
"""

import asyncio
import re
import time

import httpx
import numpy as np
import pytest

from relevance.types import LabeledPair, Product
from retrieval.fallback import (
    FallbackCalibration,
    FallbackScorer,
    band_logits,
    calibrate,
    calibrate_temperature,
    calibrate_thresholds,
    levels_from_cosine,
)
from service.batcher import work_tokens
from service.deadline import Pace, admit
from service.live import free_port, live_server
from service.settings import Settings

TOKENS_PER_S = 4_000.0  # the slowed engine's speed, in work tokens/s (service.batcher.work_tokens)
DEADLINE_MS = 1000
MARGIN_S = 0.5  # client-side slack over the deadline: loopback HTTP on a shared CI box
PAGE = [{"id": str(i), "title": f"silicone case for iphone {i}, blue, shockproof"} for i in range(8)]


def deadline_settings(tiny_model_dir, index_dir, cache_dir, **over) -> Settings:
    base = dict(
        model_dir=tiny_model_dir, index_dir=index_dir, cache_dir=cache_dir, dtype="float32", port=free_port(), threads=2,
        max_products=8, max_explain_products=2, explain_max_new_tokens=8, deadline_ms=DEADLINE_MS,
        admission_headroom=1.3, queue_max_pairs=4096, batch_max_wait_ms=2,
    )
    base.update(over)
    return Settings(**base)


class SlowEngine:
    """Wraps the serving engine's calls with a sleep proportional to their work; counts what it computed."""

    def __init__(self, svc, tokens_per_s: float = TOKENS_PER_S, decode_s: float = 0.0):
        self.model = svc.runtime.current
        self.engine = self.model.core.engine
        self.real_scores, self.real_generate = self.engine.label_scores, self.engine.generate
        self.tokens_per_s, self.decode_s = tokens_per_s, decode_s
        self.computed_pairs = 0
        self.engine.label_scores, self.engine.generate = self.label_scores, self.generate
        self.model.pace = Pace(tokens_per_s, decode_s or self.model.pace.decode_s, headroom=svc.settings.admission_headroom)

    def label_scores(self, groups):
        """The real forward, then a sleep that makes the call last exactly its work at `tokens_per_s`
        (the real forward of the tiny model is far faster, so CPU noise does not move the pace)."""
        t0 = time.perf_counter()
        rows = self.real_scores(groups)
        self.computed_pairs += sum(g.n for g in groups)
        time.sleep(max(0.0, sum(work_tokens(g) for g in groups) / self.tokens_per_s - (time.perf_counter() - t0)))
        return rows

    def generate(self, requests):
        time.sleep(sum(r.max_new_tokens for r in requests) * self.decode_s)
        return self.real_generate(requests)


def burst(url: str, path: str, body: dict, n: int, timeout: float = 60) -> list[tuple[httpx.Response | None, float]]:
    """`n` identical requests at once; (response or None when the client gave up, seconds taken)."""
    return bodies_at_once(url, path, [body] * n, timeout)


def bodies_at_once(url: str, path: str, bodies: list[dict], timeout: float = 60) -> list[tuple[httpx.Response | None, float]]:
    """One request per body, all at once; (response or None when the client gave up, seconds taken)."""

    async def one(c, body):
        t = time.perf_counter()
        try:
            r = await c.post(path, json=body)
        except httpx.TimeoutException:
            r = None
        return r, time.perf_counter() - t

    async def run():
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as c:
            return await asyncio.gather(*[one(c, b) for b in bodies])

    return asyncio.run(run())


def scored_in_time(answers: list[tuple[httpx.Response | None, float]], page: int) -> list[str]:
    """Asserts every answer is a 200 within deadline + margin with `page` well-formed results; their `scored_by`."""
    by = []
    for r, seconds in answers:
        assert r is not None and r.status_code == 200, r.text if r is not None else "client gave up"
        assert seconds <= DEADLINE_MS / 1000 + MARGIN_S, seconds
        results = r.json()["results"]
        assert len(results) == page
        for x in results:
            assert abs(sum(x["probs"].values()) - 1) < 1e-4 and x["tier"] in {"Good", "Mid", "Bad"} and 0 <= x["score"] <= 1
        by += [x["scored_by"] for x in results]
    return by


def metric(client: httpx.Client, name: str) -> float:
    """Sum of a metric's samples on /metrics (labels ignored)."""
    text = client.get("/metrics").text
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


# -- live: reject mode ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reject_server(tiny_model_dir, index_dir, cache_dir):
    with live_server(deadline_settings(tiny_model_dir, index_dir, cache_dir)) as srv:
        srv.slow = SlowEngine(srv.app.state.service)
        yield srv


def test_reject_mode_burst_answers_in_time_and_loses_nothing_accepted(reject_server):
    answers = burst(reject_server.url, "/relevance", {"query": "iphone 13 case", "products": PAGE}, 16)
    codes = [r.status_code for r, _ in answers]
    assert set(codes) <= {200, 429} and 200 in codes and 429 in codes, codes
    for r, seconds in answers:
        assert seconds <= DEADLINE_MS / 1000 + MARGIN_S, (seconds, r.status_code)
        if r.status_code == 200:
            assert [x["id"] for x in r.json()["results"]] == [p["id"] for p in PAGE]
            assert {x["scored_by"] for x in r.json()["results"]} == {"model"}
        else:
            assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["kind"] == "overloaded"
            assert "deadline_ms" in r.json()["error"]["message"]
    with reject_server.client() as c:
        assert metric(c, "taosr1_admissions_refused_total") >= codes.count(429)
        assert metric(c, "taosr1_deadline_misses_total") == 0
        assert metric(c, "taosr1_queue_depth_pairs") == 0


def test_a_request_that_can_never_fit_is_422_naming_the_limit(reject_server):
    with reject_server.client() as c:
        r = c.post("/relevance", json={"query": "iphone 13 case", "products": PAGE, "deadline_ms": 60})
        assert r.status_code == 422, r.text
        [problem] = r.json()["error"]["fields"]
        assert problem["field"] == "deadline_ms" and "would fit" in problem["problem"] and problem["fix"]
        r = c.post("/v1/rerank", json={"query": "case", "documents": [p["title"] for p in PAGE], "deadline_ms": 60})
        assert r.status_code == 422 and "deadline_ms" in r.json()["message"]
        r = c.post("/relevance", json={"query": "iphone 13 case", "products": PAGE, "deadline_ms": 10**9})
        assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "deadline_ms"


def test_a_pace_measured_under_contention_is_re_timed_before_a_too_large_refusal(tiny_model_dir, index_dir, cache_dir):
    """A start on a busy machine measured the engine far too slow: a stale pace is re-timed before a 422,
    concurrent requests share one timed pass, and a fresh pace is trusted as it is."""
    with live_server(deadline_settings(tiny_model_dir, index_dir, cache_dir, admission_headroom=1.0)) as srv:
        svc = srv.app.state.service
        model = svc.runtime.current
        body = {"query": "iphone 13 case", "products": PAGE, "deadline_ms": 5000}
        with srv.client() as c:
            model.pace = Pace(1.0, model.pace.decode_s)  # "1 token/s": no page fits in 5 s
            svc.pace_probe.stale_s = 3600.0  # just measured: trusted, the old behaviour
            r = c.post("/relevance", json=body)
            assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "deadline_ms", r.text
            assert metric(c, "taosr1_pace_remeasures_total") == 0 and model.pace.tokens_per_s == 1.0

            svc.pace_probe.stale_s = 0.0  # nothing has confirmed it since: re-timed, then admitted
            answers = burst(srv.url, "/relevance", body, 4)
            assert [r.status_code for r, _ in answers] == [200] * 4, [r.text for r, _ in answers]
            assert all(len(r.json()["results"]) == len(PAGE) for r, _ in answers)
            assert metric(c, "taosr1_pace_remeasures_total") == 1  # one timed pass for the four requests
            assert model.pace.tokens_per_s > 100 and metric(c, "taosr1_engine_tokens_per_second") > 100

            r = c.post("/relevance", json={**body, "deadline_ms": 1})  # truly too large: still a 422, on a re-timed pace
            assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "deadline_ms", r.text


def test_clients_that_give_up_leave_the_queue(reject_server):
    slow = reject_server.slow
    before = slow.computed_pairs
    body = {"query": "iphone 13 case", "products": PAGE, "deadline_ms": 20_000}
    answers = burst(reject_server.url, "/relevance", body, 12, timeout=0.3)  # each ~0.1 s of engine work
    assert sum(1 for r, _ in answers if r is None) >= 6
    with reject_server.client() as c:
        for _ in range(40):
            if metric(c, "taosr1_queue_depth_pairs") == 0:
                break
            time.sleep(0.05)
        assert metric(c, "taosr1_queue_depth_pairs") == 0
    time.sleep(0.5)  # anything still computing finishes
    assert slow.computed_pairs - before < 12 * len(PAGE), "withdrawn work was computed anyway"


def test_explain_keeps_the_deadline(reject_server):
    slow = reject_server.slow
    slow.decode_s = 0.04  # a rationale of 8 tokens: ~0.32 s
    slow.model.pace.decode_s = 0.04
    try:
        with reject_server.client() as c:
            # the budget: this host's time to retrieve and score the two products (measured, so a
            # slow shared host does not eat the rationale's share) + 1.5 rationales' worth
            scored = c.post("/relevance", json={"query": "iphone 13 case", "products": PAGE[:2]}).json()["timings_ms"]
            rationale_ms = 8 * 0.04 * 1000 * reject_server.app.state.service.settings.admission_headroom
            deadline_ms = scored["total"] + 50 + 1.5 * rationale_ms
            t = time.perf_counter()
            body = {"query": "iphone 13 case", "products": PAGE[:2], "explain": True, "deadline_ms": deadline_ms}
            r = c.post("/relevance", json=body)
            assert time.perf_counter() - t <= deadline_ms / 1000 + MARGIN_S
    finally:
        slow.decode_s = 0.0
    assert r.status_code == 200, r.text
    first, second = r.json()["results"]  # time for one rationale of 8 tokens, not two
    assert second.get("reasoning_error") == "skipped: deadline" and "reasoning" not in second, second
    assert "reasoning" in first or first.get("reasoning_error") != "skipped: deadline", first


# -- live: fallback mode ----------------------------------------------------------------------
def test_fallback_mode_burst_answers_200_in_time_marking_the_fallback(tiny_model_dir, index_dir, cache_dir):
    settings = deadline_settings(tiny_model_dir, index_dir, cache_dir, overload="fallback")
    with live_server(settings) as srv:
        SlowEngine(srv.app.state.service)
        answers = burst(srv.url, "/relevance", {"query": "iphone 13 case", "products": PAGE}, 16)
        rerank = burst(srv.url, "/v1/rerank", {"query": "iphone case", "documents": [p["title"] for p in PAGE], "deadline_ms": 60}, 1)
        with srv.client() as c:
            fallback_pairs = metric(c, "taosr1_fallback_pairs_total")
            depth = metric(c, "taosr1_queue_depth_pairs")
    by = scored_in_time(answers, len(PAGE))
    assert "fallback" in by and "model" in by, by
    [(r, _)] = rerank  # can never fit: all of it from the fallback, still 200
    assert r.status_code == 200 and {x["scored_by"] for x in r.json()["results"]} == {"fallback"}
    assert fallback_pairs == by.count("fallback") + len(PAGE)
    assert depth == 0


# -- the OpenAPI states the limits ------------------------------------------------------------
def test_openapi_states_every_limit(tiny_model_dir, index_dir, cache_dir):
    from service.app import create_app

    s = deadline_settings(tiny_model_dir, index_dir, cache_dir, max_batch_pairs=50, max_title_chars=200, max_query_chars=64)
    spec = create_app(s).openapi()
    schemas = spec["components"]["schemas"]

    def body(path: str) -> dict:
        ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]

    rel = body("/relevance")
    assert rel["properties"]["products"]["maxItems"] == 8 and rel["properties"]["products"]["minItems"] == 1
    assert rel["properties"]["query"]["maxLength"] == 64 and rel["properties"]["query"]["minLength"] == 1
    assert rel["then"]["properties"]["products"]["maxItems"] == 2  # with explain=true
    deadline = rel["properties"]["deadline_ms"]["anyOf"][0]
    assert deadline["maximum"] == s.max_deadline_ms and deadline["exclusiveMinimum"] == 0
    product = schemas[rel["properties"]["products"]["items"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert product["title"]["maxLength"] == 200 and product["title"]["minLength"] == 1 and product["title"]["pattern"]
    assert product["description"]["maxLength"] == s.max_description_chars and product["brand"]["maxLength"] == s.max_field_chars
    assert product["attributes"]["maxProperties"] == s.max_attributes and product["id"]["maxLength"] == 256
    assert body("/relevance/batch")["properties"]["pairs"]["maxItems"] == 50
    for path in ("/v1/rerank", "/rerank"):
        props = body(path)["properties"]
        docs = props["documents"] if path == "/v1/rerank" else props["texts"]["anyOf"][0]
        assert docs["maxItems"] == s.max_rerank_documents and docs["minItems"] == 1
        assert props["query"]["maxLength"] == 64
    assert "504" in spec["paths"]["/relevance"]["post"]["responses"]


def test_blank_is_the_same_for_the_schema_and_the_checks():
    from service.schemas import NOT_BLANK

    for text, blank in (("  \t", True), ("\u00a0\u3000", True), ("\ufeff", True), (" a ", False), ("\x1c", False)):
        assert (re.search(NOT_BLANK, text) is None) == blank, repr(text)


# -- units: calibration, probabilities, admission ---------------------------------------------
def test_threshold_calibration_recovers_separable_bands():
    rng = np.random.default_rng(0)
    gold = np.repeat([1, 2, 3, 4], 50)
    centres = {1: 0.1, 2: 0.35, 3: 0.55, 4: 0.8}
    cos = np.array([centres[g] + rng.uniform(-0.08, 0.08) for g in gold])
    thresholds, f1 = calibrate_thresholds(cos, gold)
    assert f1 == pytest.approx(1.0)
    assert list(thresholds) == sorted(thresholds)
    assert (levels_from_cosine(cos, thresholds) == gold).all()


def test_threshold_calibration_maximises_macro_f1_on_overlap():
    rng = np.random.default_rng(1)
    gold = np.repeat([1, 2, 3, 4], 80)
    cos = np.array([0.2 * g + rng.normal(0, 0.12) for g in gold])
    thresholds, f1 = calibrate_thresholds(cos, gold)
    naive = levels_from_cosine(cos, (0.3, 0.5, 0.7))  # the true midpoints: calibration must not do worse
    from retrieval.fallback import macro_f1

    assert f1 >= macro_f1(gold, naive) - 1e-9 and 0.4 < f1 < 1.0


def test_fallback_probabilities():
    t = (0.3, 0.5, 0.7)
    cos = np.array([0.0, 0.31, 0.49, 0.6, 0.95])
    from relevance.scoring import softmax_rows

    probs = softmax_rows(band_logits(cos, t, 0.05))
    assert np.allclose(probs.sum(axis=1), 1)
    assert [(4, 3, 2, 1)[i] for i in probs.argmax(axis=1)] == levels_from_cosine(cos, t).tolist() == [1, 2, 2, 3, 4]
    expected = probs @ np.array([4, 3, 2, 1])
    assert (np.diff(expected) > 0).all()  # a higher cosine never means a lower expected level
    assert probs[1, 3] > 0.3 and probs[2, 1] > 0.3  # near an edge, mass splits between the two bands
    assert probs[4, 0] > 0.99
    from retrieval.fallback import TEMPERATURES

    assert calibrate_temperature(cos, levels_from_cosine(cos, t), t) in TEMPERATURES


class FakeEmbedder:
    """Unit vectors: a query is e0; a product is rotated from e0 by the angle in its title ('deg:60')."""

    model_id = "fake"

    def encode(self, texts):
        out = []
        for text in texts:
            m = re.search(r"deg:(\d+)", text)
            a = np.radians(float(m.group(1))) if m else 0.0
            out.append([np.cos(a), np.sin(a)])
        return np.array(out, dtype=np.float32)


def test_fallback_scorer_calibrates_and_scores_like_a_judge(tmp_path):
    angles = {4: 10, 3: 50, 2: 70, 1: 85}  # cos ≈ 0.98, 0.64, 0.34, 0.09
    pairs = [LabeledPair("q", Product(f"{lv}-{i}", f"item deg:{angles[lv] + i}"), lv) for lv in angles for i in range(4)]
    cal = calibrate(FakeEmbedder(), pairs, "toy")
    assert cal.macro_f1 == 1.0 and cal.n == 16
    cal.save(tmp_path / "fallback.json")
    assert FallbackCalibration.load(tmp_path / "fallback.json") == cal
    scorer = FallbackScorer.open(FakeEmbedder(), tmp_path)
    scored = scorer.score_pairs(["q"] * 4, [Product(str(i), f"x deg:{a}") for i, a in enumerate((5, 52, 72, 88))], beta=0.5)
    assert [s.level for s in scored] == [4, 3, 2, 1]
    assert all(s.tier in {"Good", "Mid", "Bad"} and 0 <= s.score <= 1 for s in scored)
    assert scored[0].tier == "Good" and scored[3].tier == "Bad"
    strict = scorer.score_pairs(["q"], [Product("e", "x deg:30")], beta=1.0)[0]
    assert strict.cumpt_level <= scorer.score_pairs(["q"], [Product("e", "x deg:30")], beta=0.0)[0].cumpt_level


def test_calibration_file_is_reused_until_the_pairs_change(tmp_path):
    from retrieval.fallback import CALIBRATION_FILE, ensure_calibration

    pairs = [LabeledPair("q", Product(str(i), f"x deg:{a}"), lv) for i, (a, lv) in enumerate([(5, 4), (50, 3), (70, 2), (88, 1)])]
    first, cached = ensure_calibration(FakeEmbedder(), pairs, tmp_path, "toy")
    assert not cached and (tmp_path / CALIBRATION_FILE).is_file()
    again, cached = ensure_calibration(FakeEmbedder(), pairs, tmp_path, "toy")
    assert cached and again == first
    _, cached = ensure_calibration(FakeEmbedder(), pairs[:3], tmp_path, "toy")
    assert not cached


def test_admission_refuses_by_reason():
    pace = Pace(1000.0)
    assert admit([[100] * 5], 0, pace, 1.0).reason is None
    queued = admit([[100] * 5], 800, pace, 1.0)
    assert queued.reason == "queue" and queued.take == [2] and queued.fits_alone == 5 and queued.wait_s == pytest.approx(0.3)
    large = admit([[100] * 5], 0, pace, 0.25)
    assert large.reason == "too_large" and large.fits_alone == 2
    assert admit([[100] * 5], 0, Pace(1000.0, headroom=2.0), 0.9).reason == "too_large"
    pace.observe_scoring(4000, 2.0)  # slower than thought: the EWMA moves towards 2000 tokens/s
    assert 1000 < pace.tokens_per_s < 2000


class SlowCountingScorer(FallbackScorer):
    """The real fallback scorer on the fake embedder, each call lasting `call_s`; counts its calls."""

    def __init__(self, call_s: float = 0.1, fail: bool = False):
        super().__init__(FakeEmbedder())
        self.call_s, self.fail, self.calls = call_s, fail, []

    def label_scores(self, queries, products, progress=None, batch: int = 256):
        self.calls.append(len(queries))
        time.sleep(self.call_s)
        if self.fail:
            raise RuntimeError("embedder down")
        return super().label_scores(queries, products, progress, batch)


def test_fallback_queue_scores_concurrent_requests_in_one_call_each_getting_its_rows():
    from service.fallback_queue import FallbackQueue

    scorer = SlowCountingScorer()
    pages = [[Product(f"{r}-{i}", f"x deg:{(7 * r + 11 * i) % 90}") for i in range(3 + r % 2)] for r in range(6)]

    async def run():
        queue = FallbackQueue(scorer, text_s=0.01)
        first = asyncio.create_task(queue.score(["q"] * len(pages[0]), pages[0]))
        await asyncio.sleep(0.03)  # the first call is running: the others wait for the next one
        assert queue.pending_pairs == len(pages[0])
        rest = [asyncio.create_task(queue.score(["q"] * len(p), p)) for p in pages[1:]]
        await asyncio.sleep(0)
        waiting = queue.pending_pairs
        assert queue.reserve_s(2) > queue.reserve_s(0) > queue.text_s * waiting
        rows = await asyncio.gather(first, *rest)
        queue.close()
        return rows, waiting, queue.pending_pairs

    rows, waiting, after = asyncio.run(run())
    assert waiting == sum(len(p) for p in pages) and after == 0
    assert scorer.calls == [len(pages[0]), sum(len(p) for p in pages[1:])]  # six requests, two calls
    for page, got in zip(pages, rows, strict=True):
        assert np.allclose(got, FallbackScorer(FakeEmbedder()).label_scores(["q"] * len(page), page))


def test_fallback_queue_fails_every_request_of_a_failed_call_and_skips_cancelled_ones():
    from service.fallback_queue import FallbackQueue

    page = [Product(str(i), f"x deg:{10 * i}") for i in range(3)]

    async def failing():
        queue = FallbackQueue(SlowCountingScorer(call_s=0.01, fail=True), text_s=0.01)
        results = await asyncio.gather(*[queue.score(["q"] * 3, page) for _ in range(3)], return_exceptions=True)
        return results, queue.pending_pairs

    results, left = asyncio.run(failing())
    assert all(isinstance(r, RuntimeError) for r in results) and left == 0

    scorer = SlowCountingScorer(call_s=0.05)

    async def cancelled():
        queue = FallbackQueue(scorer, text_s=0.01)
        first = asyncio.create_task(queue.score(["q"] * 3, page))
        await asyncio.sleep(0.01)
        gone = asyncio.create_task(queue.score(["q"] * 3, page))  # its client leaves before its call
        kept = asyncio.create_task(queue.score(["q"] * 2, page[:2]))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(first, kept)
        return queue.pending_pairs

    assert asyncio.run(cancelled()) == 0
    assert scorer.calls == [3, 2]  # the cancelled request's pairs were never scored
