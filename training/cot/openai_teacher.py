"""A teacher behind any OpenAI-compatible HTTP endpoint (chat or plain completions API).

It asks for the 5-step rationale of a pair whose gold label it is told, with the retrieved
atomic rules in the prompt. Requests run on a thread pool (`concurrency`), retry with
exponential backoff on transport errors, 429 and 5xx (honouring Retry-After), and every
answer is cached on disk under a hash of the request — a re-run resumes where it stopped and
costs nothing for what it already has. The API key is read from the environment variable
the recipe names, never from the recipe itself. It returns the model's text; checking the
verdict against the gold label is the caller's job (`training.cot.build`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from relevance.labels import LabelScheme
from relevance.prompt import RATIONALE_STEPS
from relevance.types import LabeledPair, Product, RetrievedContext


class TeacherError(RuntimeError):
    """The endpoint refused a request in a way retrying cannot fix (4xx other than 429)."""


@dataclass(frozen=True)
class EndpointConfig:
    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    api: str = "chat"  # chat | completions
    concurrency: int = 4
    retries: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 60.0
    temperature: float = 0.2
    max_tokens: int = 256
    cache_dir: str | None = None


def product_text(product: Product) -> str:
    lines = [f"Title: {product.title}"]
    if product.brand:
        lines.append(f"Brand: {product.brand}")
    if product.category:
        lines.append(f"Category: {product.category}")
    if product.attributes:
        lines.append("Attributes: " + "; ".join(f"{k}: {v}" for k, v in product.attributes.items()))
    if product.description:
        lines.append(f"Description: {' '.join(product.description.split())[:400]}")
    return "\n".join(lines)


def teacher_prompt(pair: LabeledPair, context: RetrievedContext, scheme: LabelScheme) -> str:
    """The instruction sent to the teacher: pair, gold label, retrieved rules, required format."""
    lv = scheme.by_level(pair.level)
    levels = "\n".join(f"{x.emit} = {x.name}: {x.definition}" for x in scheme.levels)
    rules = "\n".join(f"- {r}" for r in context.rules) or "- (none retrieved)"
    knowledge = "\n".join(f"- {k}" for k in context.knowledge)
    steps = "\n".join(f"{i}. {s}: …" for i, s in enumerate(RATIONALE_STEPS, 1))
    return (
        "You explain e-commerce search relevance judgements.\n"
        f"Relevance levels:\n{levels}\n\nRelevance rules that apply:\n{rules}\n"
        + (f"Query knowledge:\n{knowledge}\n" if knowledge else "")
        + f"\nQuery: {pair.query}\nProduct:\n{product_text(pair.product)}\n\n"
        f"The correct judgement is {lv.emit} ({lv.name}). Explain it in exactly five short numbered lines, "
        f"one sentence each, in this format:\n{steps}\nThe Verdict line must be '5. Verdict: {lv.emit} {lv.name}'. "
        "Cite the rule that decides it in the Attribute match line. Write nothing else."
    )


class JsonCache:
    """Answers on disk, one JSON file per request hash (atomic writes)."""

    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> str | None:
        if not self.folder:
            return None
        path = self.folder / f"{key}.json"
        if path.is_file():
            return json.loads(path.read_text())["text"]
        return None

    def put(self, key: str, text: str) -> None:
        if not self.folder:
            return
        path = self.folder / f"{key}.json"
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"text": text}))
        tmp.replace(path)


class OpenAITeacher:
    """Rationales from an OpenAI-compatible endpoint; `write_many` returns None where a request failed."""

    name = "openai"

    def __init__(self, cfg: EndpointConfig, scheme: LabelScheme):
        self.cfg = cfg
        self.scheme = scheme
        self.cache = JsonCache(Path(cfg.cache_dir) if cfg.cache_dir else None)
        key = os.environ.get(cfg.api_key_env, "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=cfg.base_url.rstrip("/"), headers=headers, timeout=cfg.timeout_s)
        self.stats = {"requests": 0, "cached": 0, "retries": 0, "failed": 0}
        self._lock = threading.Lock()

    def _body(self, prompt: str) -> tuple[str, dict]:
        common = {"model": self.cfg.model, "temperature": self.cfg.temperature, "max_tokens": self.cfg.max_tokens}
        if self.cfg.api == "chat":
            return "/chat/completions", {**common, "messages": [{"role": "user", "content": prompt}]}
        if self.cfg.api == "completions":
            return "/completions", {**common, "prompt": prompt}
        raise ValueError(f"api must be 'chat' or 'completions', got {self.cfg.api!r}")

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def complete(self, prompt: str) -> str:
        """The endpoint's answer to `prompt` (from the cache when it has it)."""
        path, body = self._body(prompt)
        key = hashlib.sha256(json.dumps([self.cfg.base_url, path, body], sort_keys=True).encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            self._count("cached")
            return cached
        for attempt in range(self.cfg.retries + 1):
            delay = self.cfg.backoff_s * (2**attempt) * (0.5 + random.random() / 2)
            try:
                self._count("requests")
                resp = self.client.post(path, json=body)
            except httpx.TransportError:
                if attempt == self.cfg.retries:
                    raise
            else:
                if resp.status_code == 200:
                    data = resp.json()
                    choice = data["choices"][0]
                    text = choice["message"]["content"] if self.cfg.api == "chat" else choice["text"]
                    self.cache.put(key, text)
                    return text
                if resp.status_code != 429 and resp.status_code < 500:
                    raise TeacherError(f"{self.cfg.base_url}{path} answered {resp.status_code}: {resp.text[:200]}")
                if attempt == self.cfg.retries:
                    raise TeacherError(f"{self.cfg.base_url}{path} still answers {resp.status_code} after {attempt} retries")
                retry_after = resp.headers.get("retry-after")
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(retry_after))
            self._count("retries")
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _one(self, item: tuple[LabeledPair, RetrievedContext]) -> str | None:
        pair, context = item
        try:
            return self.complete(teacher_prompt(pair, context, self.scheme))
        except (TeacherError, httpx.TransportError):
            self._count("failed")
            return None

    def write_many(self, items: list[tuple[LabeledPair, RetrievedContext]], progress=None) -> list[str | None]:
        out: list[str | None] = [None] * len(items)
        with ThreadPoolExecutor(max_workers=max(1, self.cfg.concurrency)) as pool:
            futures = {pool.submit(self._one, item): i for i, item in enumerate(items)}
            for fut, i in futures.items():
                out[i] = fut.result()
                if progress is not None:
                    progress.update(1)
        return out

    def close(self) -> None:
        self.client.close()
