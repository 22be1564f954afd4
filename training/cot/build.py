"""CoT construction with RAG: retrieve rules for each labelled pair, have a teacher write the
5-step rationale, keep only rationales whose verdict agrees with the gold label.

Output (`<run>/cot/`): `cot.jsonl` (records: pair + retrieved context + rationale, see
training.examples), `rejected.jsonl` (pair, teacher text, why), `stats.json`. The context
stored with a record is what the trainers put into its prompt: the query's retrieved rules,
knowledge and similar cases, minus cases of the pair's own query (a label leak). Re-running
with the same inputs and settings is a no-op; the OpenAI teacher's disk cache makes an
interrupted run resume.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from relevance.labels import DEFAULT_SCHEME, LabelScheme
from relevance.parse import verdict_level
from relevance.prompt import RATIONALE_STEPS, rationale_text
from training.config import option, to_dict
from training.cot.rule_writer import RuleWriter
from training.examples import CotRecord, save_records
from training.run import DataConfig, RunConfig, file_hash, log, open_retriever, prepare_data, retrieval_config

_STEP = re.compile(r"^\s*(?:\d\s*[.)]\s*)?\**\s*(" + "|".join(RATIONALE_STEPS) + r")\s*\**\s*:\s*(.+?)\s*$", re.IGNORECASE)


@dataclass
class CotConfig:
    teacher: str = option("rules", "who writes rationales: 'rules' (offline rule-grounded writer) or 'openai' (an endpoint)")
    base_url: str = option("http://127.0.0.1:8001/v1", "OpenAI-compatible base URL (teacher=openai)")
    model: str = option("gpt-4o-mini", "model name sent to the endpoint (teacher=openai)")
    api: str = option("chat", "endpoint API: 'chat' (/chat/completions) or 'completions' (/completions)")
    api_key_env: str = option("OPENAI_API_KEY", "environment variable holding the API key (never put keys in recipes)")
    concurrency: int = option(4, "parallel requests to the endpoint")
    retries: int = option(4, "retries per request on transport errors, 429 and 5xx")
    backoff_s: float = option(1.0, "first retry delay in seconds; doubles each retry (with jitter)")
    timeout_s: float = option(60.0, "per-request timeout in seconds")
    temperature: float = option(0.2, "teacher sampling temperature")
    max_tokens: int = option(256, "teacher answer length limit")
    max_pairs: int | None = option(None, "only the first N training pairs (smoke runs)")

    def validate(self) -> None:
        if self.teacher not in ("rules", "openai"):
            raise ValueError(f"cot.teacher must be 'rules' or 'openai', got {self.teacher!r}")


def parse_steps(text: str) -> dict[str, str] | None:
    """The five named steps of a teacher's answer, or None when one is missing.

    >>> t = "3\\n1. Query: a mug\\n2. Item: a cup\\n3. Category match: close\\n4. Attribute match: ok\\n5. Verdict: 3 Related"
    >>> parse_steps(t)["Verdict"]
    '3 Related'
    >>> parse_steps("1. Query: a mug") is None
    True
    """
    found: dict[str, str] = {}
    canon = {s.lower(): s for s in RATIONALE_STEPS}
    for line in text.splitlines():
        m = _STEP.match(line)
        if m and canon[m.group(1).lower()] not in found:
            found[canon[m.group(1).lower()]] = m.group(2).strip()
    return found if len(found) == len(RATIONALE_STEPS) else None


def check_rationale(text: str | None, gold: int, scheme: LabelScheme) -> tuple[str | None, str | None]:
    """(canonical rationale, None) when `text` has all steps and its verdict is `gold`, else (None, why).

    >>> from relevance.labels import TAOSR1
    >>> ok = "1. Query: q\\n2. Item: i\\n3. Category match: c\\n4. Attribute match: a\\n5. Verdict: 2 Mismatch"
    >>> check_rationale(ok, 2, TAOSR1)[1] is None, check_rationale(ok, 4, TAOSR1)[1]
    (True, 'verdict 2 disagrees with gold 4')
    """
    if text is None:
        return None, "teacher request failed"
    steps = parse_steps(text)
    if steps is None:
        return None, "missing steps"
    rationale = rationale_text(steps)
    verdict = verdict_level(rationale, scheme)
    if verdict is None:
        return None, "unreadable verdict"
    if verdict != gold:
        return None, f"verdict {verdict} disagrees with gold {gold}"
    return rationale, None


def make_teacher(cfg: CotConfig, scheme: LabelScheme, cache_dir):
    if cfg.teacher == "rules":
        return RuleWriter(scheme)
    from training.cot.openai_teacher import EndpointConfig, OpenAITeacher

    endpoint = EndpointConfig(
        base_url=cfg.base_url, model=cfg.model, api_key_env=cfg.api_key_env, api=cfg.api,
        concurrency=cfg.concurrency, retries=cfg.retries, backoff_s=cfg.backoff_s, timeout_s=cfg.timeout_s,
        temperature=cfg.temperature, max_tokens=cfg.max_tokens, cache_dir=str(cache_dir),
    )
    return OpenAITeacher(endpoint, scheme)


def run_cot(run: RunConfig, data: DataConfig, cfg: CotConfig, scheme: LabelScheme = DEFAULT_SCHEME) -> dict:
    """Build `<run>/cot/cot.jsonl`; returns the stats (kept, rejected by reason, teacher)."""
    from tqdm import tqdm

    from relevance.datasets.loaders import load_pairs

    layout = prepare_data(run, data)
    out_dir = layout.cot.parent
    stats_path = out_dir / "stats.json"
    key = {"data": file_hash(layout.train_pairs), "cot": to_dict(cfg), "retrieval": retrieval_config(run).to_dict()}
    if layout.cot.is_file() and stats_path.is_file() and json.loads(stats_path.read_text()).get("key") == key:
        log(f"cot: {layout.cot} is up to date")
        return json.loads(stats_path.read_text())
    pairs = load_pairs(layout.train_pairs, "jsonl")
    if cfg.max_pairs is not None:
        pairs = pairs[: cfg.max_pairs]
    # a training prompt never shows the pair's own query's labelled cases, only k of the others'
    retriever = open_retriever(run, layout, without_own_query=True)
    contexts = {}
    if retriever is not None:
        queries = list(dict.fromkeys(p.query for p in pairs))
        contexts = dict(zip(queries, retriever.retrieve_many(queries), strict=True))
    from relevance.types import RetrievedContext

    items = [(p, contexts.get(p.query, RetrievedContext())) for p in pairs]
    teacher = make_teacher(cfg, scheme, out_dir / "teacher-cache")
    with tqdm(total=len(items), desc=f"cot ({teacher.name})", unit="pair") as bar:
        texts = teacher.write_many(items, progress=bar)
    if hasattr(teacher, "close"):
        teacher.close()
    records, rejected, reasons = [], [], {}
    for (pair, context), text in zip(items, texts, strict=True):
        rationale, why = check_rationale(text, pair.level, scheme)
        if rationale is None:
            reasons[why] = reasons.get(why, 0) + 1
            rejected.append({"query": pair.query, "product_id": pair.product.id, "level": pair.level, "text": text, "why": why})
            continue
        records.append(CotRecord(pair, context, rationale, teacher.name))
    save_records(records, layout.cot)
    with open(out_dir / "rejected.jsonl", "w") as fh:
        for r in rejected:
            fh.write(json.dumps(r) + "\n")
    stats = {
        "key": key, "teacher": teacher.name, "pairs": len(items), "kept": len(records),
        "rejected": len(rejected), "rejected_by_reason": reasons, "teacher_stats": getattr(teacher, "stats", {}),
    }
    stats_path.write_text(json.dumps(stats, indent=2))
    log(f"cot: kept {len(records)}/{len(items)} rationales ({reasons or 'none rejected'}) -> {layout.cot}")
    return stats
