"""The OpenAI-compatible teacher against a real local HTTP server speaking the completions API.

The server (FastAPI under uvicorn on loopback) answers /v1/completions and /v1/chat/completions
in OpenAI's response shape, writing the five steps for the judgement the prompt states; it
throttles the first request with 429 + Retry-After and rejects one query with 400, so retries,
hard failures, the API key header and the on-disk cache are all exercised over real HTTP.
"""

from __future__ import annotations

import re
import threading

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from relevance.labels import TAOSR1
from relevance.types import LabeledPair, Product, RetrievedContext
from service.live import LiveServer, free_port
from training.cot.build import check_rationale
from training.cot.openai_teacher import EndpointConfig, OpenAITeacher, TeacherError

KEY_ENV = "TAOSR1_TEST_TEACHER_KEY"
KEY = "sk-local-test-3c1f"


class CompletionsServer:
    """A small OpenAI-compatible server; records every request it is sent."""

    def __init__(self):
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        app = FastAPI()

        @app.get("/healthz")
        async def healthz():
            return {"ok": True}

        async def answer(request: Request, chat: bool):
            body = await request.json()
            prompt = body["messages"][-1]["content"] if chat else body["prompt"]
            with self.lock:
                self.requests.append({"auth": request.headers.get("authorization"), "model": body["model"], "chat": chat})
                first = len(self.requests) == 1
            if first:
                return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "0"})
            if "Query: forbidden" in prompt:
                return JSONResponse({"error": {"message": "content policy"}}, status_code=400)
            emit, name = re.search(r"The correct judgement is (\S+) \((\w+)\)", prompt).groups()
            query = re.search(r"\nQuery: (.*)\n", prompt).group(1)
            text = (
                f"1. Query: the shopper wants {query}.\n2. Item: the product as titled.\n"
                "3. Category match: same category.\n4. Attribute match: decided by the retrieved rule.\n"
                f"5. Verdict: {emit} {name}"
            )
            choice = {"index": 0, "finish_reason": "stop"}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            return {"id": "cmpl-1", "object": "chat.completion" if chat else "text_completion", "model": body["model"], "choices": [choice]}

        @app.post("/v1/completions")
        async def completions(request: Request):
            return await answer(request, chat=False)

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request):
            return await answer(request, chat=True)

        self.live = LiveServer(app, free_port())


@pytest.fixture
def server():
    srv = CompletionsServer()
    srv.live.thread.start()
    srv.live.wait_until_up()
    yield srv
    srv.live.stop()


PAIRS = [
    LabeledPair("iphone 13 case", Product("a", "Silicone case for iPhone 13"), 4),
    LabeledPair("iphone 13 case", Product("b", "Case for Galaxy S21"), 2),
    LabeledPair("garden hose", Product("c", "Hose reel cart"), 3),
]
CONTEXT = RetrievedContext(rules=("A case for another phone model is 2 Mismatch.",))


@pytest.mark.parametrize("api", ["completions", "chat"])
def test_teacher_writes_rationales_over_http_retrying_and_caching(server, tmp_path, monkeypatch, api):
    monkeypatch.setenv(KEY_ENV, KEY)
    cfg = EndpointConfig(
        base_url=f"{server.live.url}/v1", model="teacher-x", api_key_env=KEY_ENV, api=api, concurrency=2,
        retries=3, backoff_s=0.01, cache_dir=str(tmp_path / "cache"),
    )
    teacher = OpenAITeacher(cfg, TAOSR1)
    texts = teacher.write_many([(p, CONTEXT) for p in PAIRS])
    teacher.close()
    for pair, text in zip(PAIRS, texts, strict=True):
        rationale, why = check_rationale(text, pair.level, TAOSR1)
        assert why is None and rationale.endswith(f"{pair.level} {TAOSR1.by_level(pair.level).name}"), (text, why)
    assert teacher.stats["retries"] == 1, teacher.stats  # the 429 was retried after Retry-After
    assert {r["auth"] for r in server.requests} == {f"Bearer {KEY}"} and {r["model"] for r in server.requests} == {"teacher-x"}
    assert all(r["chat"] == (api == "chat") for r in server.requests)
    sent = len(server.requests)

    again = OpenAITeacher(cfg, TAOSR1)  # a re-run: every answer comes from the disk cache
    assert again.write_many([(p, CONTEXT) for p in PAIRS]) == texts
    again.close()
    assert len(server.requests) == sent and again.stats["cached"] == len(PAIRS)


def test_a_refused_request_is_a_failure_not_a_retry_loop(server, tmp_path):
    cfg = EndpointConfig(base_url=f"{server.live.url}/v1", model="m", api="completions", retries=3, backoff_s=0.01)
    teacher = OpenAITeacher(cfg, TAOSR1)
    bad = LabeledPair("forbidden", Product("z", "Thing"), 1)
    assert teacher.write_many([(PAIRS[0], CONTEXT), (bad, CONTEXT)])[1] is None
    assert teacher.stats["failed"] == 1
    with pytest.raises(TeacherError, match="400"):
        teacher.complete("The correct judgement is 1 (Irrelevant)\nQuery: forbidden\n")
    teacher.close()
