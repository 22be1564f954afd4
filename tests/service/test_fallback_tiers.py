"""The fallback's own pace: a burst that outruns the embedder still answers within the deadline.

Unit tests: the lexical tier's similarity and calibration, the scorer's product-embedding cache,
the queue's plan (earliest deadline first, a bounded call, the late scored lexically at once).
Live: a burst of distinct pages against a slowed engine *and* a slowed embedder — every answer
200 within the deadline, the pairs the embedder could not deliver in time scored lexically.
"""

import asyncio
import time

import numpy as np

from relevance.types import LabeledPair, Product
from retrieval import lexical
from retrieval.fallback import LEXICAL_CALIBRATION_FILE, FallbackScorer, calibrate_lexical, ensure_lexical_calibration
from service.fallback_queue import FallbackQueue, time_embedder
from service.live import live_server
from tests.service.test_deadline import (
    FakeEmbedder,
    SlowCountingScorer,
    SlowEngine,
    bodies_at_once,
    deadline_settings,
    metric,
    scored_in_time,
)


class CountingEmbedder(FakeEmbedder):
    """The fake embedder, recording how many texts each call encodes."""

    def __init__(self):
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        return super().encode(texts)


# -- the lexical tier -------------------------------------------------------------------------
def test_lexical_coverage_orders_matches_above_partial_above_unrelated():
    query = "iphone 13 silicone case"
    exact = lexical.coverage(query, "Silicone Case for iPhone 13, blue")
    partial = lexical.coverage(query, "Clear case for Samsung Galaxy S21")
    unrelated = lexical.coverage(query, "Garden hose 15m")
    assert 1.0 >= exact > partial > unrelated == 0.0
    assert lexical.coverage("iphone13 case", "iPhone 13 case") > lexical.coverage("iphone13 case", "phone stand")
    assert lexical.coverage("", "anything") == 0.0 and lexical.coverage("!!", "anything") == 0.0
    assert lexical.words("USB cables") == lexical.words("usb-cable")  # plural and punctuation folded


def test_lexical_calibration_fits_levels_and_is_reused_until_the_pairs_change(tmp_path):
    titles = {4: "red running shoes for men", 3: "red running socks", 2: "shoe polish", 1: "garden hose"}
    pairs = [LabeledPair("red running shoes", Product(f"{lv}-{i}", f"{t} {i}"), lv) for lv, t in titles.items() for i in range(3)]
    cal = calibrate_lexical(pairs, "toy")
    assert cal.n == 12 and cal.macro_f1 > 0.7 and cal.thresholds[0] <= cal.thresholds[1] <= cal.thresholds[2]
    first, cached = ensure_lexical_calibration(pairs, tmp_path, "toy")
    assert not cached and (tmp_path / LEXICAL_CALIBRATION_FILE).is_file() and first == cal
    assert ensure_lexical_calibration(pairs, tmp_path, "toy") == (first, True)
    assert not ensure_lexical_calibration(pairs[:6], tmp_path, "toy")[1]
    scorer = FallbackScorer.open(FakeEmbedder(), tmp_path)
    assert scorer.lexical_calibration == ensure_lexical_calibration(pairs[:6], tmp_path, "toy")[0]
    rows = scorer.quick_label_scores(["red running shoes"] * 2, [Product("a", "red running shoes"), Product("b", "garden hose")])
    assert rows.shape == (2, 4) and rows[0].argmax() == 0 and rows[1].argmax() == 3  # best-first: level 4, level 1


# -- the product-embedding cache --------------------------------------------------------------
def test_scorer_embeds_each_product_text_once_and_evicts_the_least_recently_used():
    embedder = CountingEmbedder()
    scorer = FallbackScorer(embedder, cache_size=3)
    page = [Product(str(i), f"x deg:{10 * i}") for i in range(3)]
    first = scorer.label_scores(["q"] * 6, page + page)  # the page twice in one call: three texts embedded
    assert embedder.calls == [1, 3] and not scorer.missing_texts(page)
    again = scorer.label_scores(["q"] * 3, page)
    assert np.allclose(again, first[:3]) and embedder.calls[-1] == 1  # only the query
    scorer.label_scores(["q"], [Product("n", "x deg:80")])  # a fourth text evicts the least recently used
    assert len(scorer.missing_texts(page)) == 1 and not scorer.missing_texts(page[1:])
    assert np.allclose(FallbackScorer(FakeEmbedder()).label_scores(["q"] * 3, page), again)  # the cache changes no row


# -- the queue's plan -------------------------------------------------------------------------
def test_queue_scores_lexically_at_once_what_the_embedder_would_deliver_late():
    scorer = SlowCountingScorer(call_s=0.3)
    page = [Product(str(i), f"x deg:{10 * i}") for i in range(4)]
    seen: list[int] = []

    async def run():
        queue = FallbackQueue(scorer, text_s=0.01, fixed_s=0.3, on_lexical=seen.append)
        running = asyncio.create_task(queue.score(["q"] * 4, page))  # no deadline: the embedder
        await asyncio.sleep(0.05)
        t = time.perf_counter()
        late = await queue.score(["q"] * 4, page, expires=t + 0.2)  # the running call alone ends later
        late_s = time.perf_counter() - t
        roomy = await queue.score(["q"] * 4, page, expires=time.perf_counter() + 5.0)
        await running
        queue.close()
        return late, late_s, roomy, queue.lexical_pairs, queue.pending_pairs

    late, late_s, roomy, lexical_pairs, pending = asyncio.run(run())
    assert late_s < 0.1 and np.allclose(late, scorer.quick_label_scores(["q"] * 4, page))
    assert np.allclose(roomy, FallbackScorer(FakeEmbedder()).label_scores(["q"] * 4, page))
    assert scorer.calls == [4, 4] and lexical_pairs == 4 and seen == [4] and pending == 0


def test_queue_serves_earliest_deadlines_first_in_bounded_calls_and_never_late():
    from service import fallback_queue

    scorer = SlowCountingScorer(call_s=0.5)
    pages = [[Product(f"{r}-{i}", f"item {r}-{i} deg:{i}") for i in range(40)] for r in range(4)]  # 160 distinct texts
    dues = [2.3, 1.2, 1.3, 1.8]  # after the blocker (~0.48 s from now) a 40-text call takes ~0.5 s

    async def run():
        queue = FallbackQueue(scorer, text_s=0.001, fixed_s=0.5)
        blocker = asyncio.create_task(queue.score(["q"], [Product("b", "x deg:1")]))
        await asyncio.sleep(0.02)
        now = time.perf_counter()

        async def one(page, due):
            rows = await queue.score(["q"] * 40, page, expires=now + due)
            return rows, time.perf_counter() - now

        got = await asyncio.gather(*[one(p, d) for p, d in zip(pages, dues, strict=True)])
        await blocker
        queue.close()
        return got, queue.lexical_pairs, queue.pending_pairs

    got, lexical_pairs, pending = asyncio.run(run())
    assert fallback_queue.MAX_CALL_TEXTS < 80  # two 40-text pages never share a call
    full = FallbackScorer(FakeEmbedder())
    embedded = []
    for r, ((rows, done_s), page) in enumerate(zip(got, pages, strict=True)):
        assert done_s <= dues[r] + 0.15, (r, done_s)  # nobody's rows arrive after they are due (+ scheduling slack)
        if np.allclose(rows, full.label_scores(["q"] * 40, page)):
            embedded.append(r)
        else:
            assert np.allclose(rows, scorer.quick_label_scores(["q"] * 40, page)), r
    assert 1 in embedded and 2 not in embedded  # the earliest due is served first; the next could not wait for it
    assert lexical_pairs == 40 * (4 - len(embedded)) and pending == 0
    assert scorer.calls[0] == 1 and all(n == 40 for n in scorer.calls[1:])


def test_time_embedder_measures_a_fixed_and_a_per_text_cost():
    class Paced(FakeEmbedder):
        def encode(self, texts):
            time.sleep(0.02 + 0.005 * len(texts))
            return super().encode(texts)

    fixed_s, text_s = time_embedder(Paced(), texts=9)
    assert 0.003 < text_s < 0.02 and 0.01 < fixed_s < 0.06


# -- live: the embedder outrun ----------------------------------------------------------------
def test_fallback_burst_of_distinct_pages_outrunning_the_embedder_answers_200_in_time(tiny_model_dir, index_dir, cache_dir):
    settings = deadline_settings(tiny_model_dir, index_dir, cache_dir, overload="fallback")
    text_s = 0.02  # the embedder slowed to 20 ms per text: 16 pages of 8 distinct products take 2.6 s > the deadline
    with live_server(settings) as srv:
        svc = srv.app.state.service
        SlowEngine(svc)
        embedder = svc.fallback.scorer.embedder
        real_encode = embedder.encode

        def slow_encode(texts):
            t = time.perf_counter()
            out = real_encode(texts)
            time.sleep(max(0.0, 0.01 + text_s * len(texts) - (time.perf_counter() - t)))
            return out

        embedder.encode = slow_encode
        svc.fallback.text_s, svc.fallback.fixed_s = text_s, 0.01
        bodies = [
            {"query": "iphone 13 case", "products": [{"id": f"{r}-{i}", "title": f"case model {r * 8 + i} for iphone, colour {i}"} for i in range(8)]}
            for r in range(16)
        ]
        answers = bodies_at_once(srv.url, "/relevance", bodies)
        embedder.encode = real_encode
        with srv.client() as c:
            lexical_pairs = metric(c, "taosr1_fallback_lexical_pairs_total")
            fallback_pairs = metric(c, "taosr1_fallback_pairs_total")
    by = scored_in_time(answers, 8)
    assert "fallback" in by and fallback_pairs == by.count("fallback")
    assert 0 < lexical_pairs <= fallback_pairs  # the embedder's share was what it could deliver in time
