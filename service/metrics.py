"""Every Prometheus series the service exports, in one place, prefixed `taosr1_`.

Recorded in the serving layer so every engine emits the same series; dashboards
(deploy/grafana/dashboards/*.json) query only these names, and tests/deploy evaluates every
dashboard expression against a real Prometheus scraping the real service. Each app gets its
own registry (tests run several apps in one process).

The one exception to the prefix: when the vLLM engine runs in this process it registers its
own `vllm:*` series in prometheus_client's global registry; they are passed through unchanged
on the same /metrics page, so they are scraped beside ours (dashboards keep them on panels
marked as vLLM-only). This module does not know engines, routes or HTTP.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector

from relevance.listing_flags import FLAGS as LISTING_FLAGS
from service.deadline import FALLBACK_REASONS, REFUSAL_REASONS
from service.errors import STATUS_BY_KIND

# 1 ms … 10 s, denser where online scoring lives (20–500 ms)
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
    0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0,
)
BATCH_PAIR_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
BATCH_TOKEN_BUCKETS = (64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536)

#: the scoring endpoints (service/app.py's middleware measures these) and their stages, as
#: recorded in taosr1_stage_duration_seconds{endpoint, stage}; explain exists only online
STAGES = ("retrieval", "render", "queue", "inference", "explain", "total")
NO_EXPLAIN = tuple(s for s in STAGES if s != "explain")
#: the rerank-compatible endpoints (service/rerank.py): Cohere/Jina shape, then TEI shape
RERANK_ENDPOINTS = ("/v1/rerank", "/v2/rerank", "/rerank")
SCORING_ENDPOINTS = {"/relevance": STAGES, "/relevance/batch": NO_EXPLAIN, **dict.fromkeys(RERANK_ENDPOINTS, NO_EXPLAIN)}
#: outcomes of taosr1_model_reloads_total
RELOAD_OUTCOMES = ("loaded", "failed")
#: reasons of taosr1_model_load_skipped_total (service.runtime.Skipped.kind)
SKIP_REASONS = ("invalid", "load_failed", "registry")
#: error kinds (service.errors' table)
ERROR_KINDS = tuple(STATUS_BY_KIND)
#: statuses of durable batch jobs (service.jobs) and the sources engine time is counted under
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ENGINE_SOURCES = ("online", "job")
#: foreign series passed through from the process-global registry (in-process vLLM engine)
PASSTHROUGH_PREFIXES = ("vllm:",)


class _Passthrough(Collector):
    """Re-exports families of the global registry whose names start with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...], source: CollectorRegistry = REGISTRY):
        self.prefixes = prefixes
        self.source = source

    def describe(self):  # no fixed names: never clashes with ours at registration
        return []

    def collect(self):
        for family in self.source.collect():
            if family.name.startswith(self.prefixes):
                yield family


class Metrics:
    def __init__(self, passthrough_prefixes: tuple[str, ...] = PASSTHROUGH_PREFIXES) -> None:
        r = self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "taosr1_request_duration_seconds", "End-to-end request latency by endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.stage_seconds = Histogram(
            "taosr1_stage_duration_seconds",
            "Latency of one stage of a scoring request: " + ", ".join(STAGES) + ".",
            ["endpoint", "stage"], buckets=LATENCY_BUCKETS, registry=r,
        )
        self.requests = Counter(
            "taosr1_requests_total", "Requests by endpoint and outcome (ok or an error kind).",
            ["endpoint", "outcome"], registry=r,
        )
        self.pairs = Counter(
            "taosr1_pairs_total", "Query-product pairs by endpoint and outcome (ok or the error kind that failed them).",
            ["endpoint", "outcome"], registry=r,
        )
        self.labels = Counter(
            "taosr1_pairs_scored_by_label_total", "Scored pairs by predicted label.", ["label"], registry=r
        )
        self.tiers = Counter("taosr1_pairs_scored_by_tier_total", "Scored pairs by CumPT tier.", ["tier"], registry=r)
        self.batch_pairs = Histogram(
            "taosr1_batch_pairs", "Pairs per engine call.", buckets=BATCH_PAIR_BUCKETS, registry=r
        )
        self.batch_tokens = Histogram(
            "taosr1_batch_tokens", "Prompt tokens per engine call.", buckets=BATCH_TOKEN_BUCKETS, registry=r
        )
        self.queue_depth = Gauge("taosr1_queue_depth_pairs", "Pairs waiting for the engine.", registry=r)
        self.inflight = Gauge("taosr1_inflight_requests", "Requests being processed.", ["endpoint"], registry=r)
        self.errors = Counter("taosr1_errors_total", "Errors by kind.", ["kind"], registry=r)
        self.model_info = Gauge(
            "taosr1_model_info", "The serving model (value 1).",
            ["name", "version", "stage", "engine"], registry=r,
        )
        self.ready = Gauge("taosr1_ready", "1 when the service is ready to score.", registry=r)
        self.reload_seconds = Histogram(
            "taosr1_model_reload_duration_seconds",
            "Time from a reload's start to the swap: load, validation, warm-up and canary.",
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600), registry=r,
        )
        self.reloads = Counter(
            "taosr1_model_reloads_total", "Model load/reload attempts by outcome.", ["outcome"], registry=r
        )
        self.load_skipped = Counter(
            "taosr1_model_load_skipped_total",
            "Models start-up skipped before serving one, by reason: invalid (failed validation), "
            "load_failed (did not load or warm up), registry (a pointer or version that does not resolve).",
            ["reason"], registry=r,
        )
        self.model_loaded_at = Gauge(
            "taosr1_model_loaded_timestamp_seconds", "Unix time the serving model was installed.", registry=r
        )
        self.listing_flags = Counter(
            "taosr1_listing_flags_total",
            "Products whose listing text was flagged (flag=instruction_in_listing: text addressed to the ranking model; "
            "flag=keyword_stuffing: pasted search-term lists, phrases repeated back to back or attributes keyed as keyword lists).",
            ["endpoint", "flag"],
            registry=r,
        )
        self._overload_series(r)
        self._add_job_metrics(r)
        # Series that exist from the start (at 0): rate() then counts the first request, the
        # first error or the first load, instead of starting a new series at 1 and missing it.
        for endpoint, stages in SCORING_ENDPOINTS.items():
            self.request_seconds.labels(endpoint=endpoint)
            self.requests.labels(endpoint=endpoint, outcome="ok")
            self.pairs.labels(endpoint=endpoint, outcome="ok")
            self.inflight.labels(endpoint=endpoint)
            for flag in LISTING_FLAGS:
                self.listing_flags.labels(endpoint=endpoint, flag=flag)
            for stage in stages:
                self.stage_seconds.labels(endpoint=endpoint, stage=stage)
        for outcome in RELOAD_OUTCOMES:
            self.reloads.labels(outcome=outcome)
        for kind in ERROR_KINDS:
            self.errors.labels(kind=kind)
        for reason in SKIP_REASONS:
            self.load_skipped.labels(reason=reason)
        if passthrough_prefixes:
            r.register(_Passthrough(passthrough_prefixes))

    def _overload_series(self, r: CollectorRegistry) -> None:
        """Deadlines and overload (service.deadline, service.overload), created at 0 for every scoring endpoint."""
        self.deadline_misses = Counter(
            "taosr1_deadline_misses_total",
            "Scoring requests not answered with the model's scores within their deadline: answered late, or "
            "deadline errors (504, TAOSR1_OVERLOAD=reject).",
            ["endpoint"], registry=r,
        )
        self.admissions_refused = Counter(
            "taosr1_admissions_refused_total",
            "Requests whose pairs could not all be admitted to the engine, by reason: too_large (not within the "
            "deadline even with an empty queue), queue (the work queued ahead), queue_full (TAOSR1_QUEUE_MAX_PAIRS). "
            "Refused with 422/429, or (TAOSR1_OVERLOAD=fallback) degraded to the fallback scorer.",
            ["endpoint", "reason"], registry=r,
        )
        self.fallback_pairs = Counter(
            "taosr1_fallback_pairs_total",
            "Pairs scored by the fallback scorer (TAOSR1_OVERLOAD=fallback), by reason: an admission refusal or "
            "deadline (queued work that did not finish in time).",
            ["endpoint", "reason"], registry=r,
        )
        self.fallback_lexical_pairs = Counter(
            "taosr1_fallback_lexical_pairs_total",
            "Of the fallback's pairs, those scored by its lexical tier (retrieval.lexical) because the embedder "
            "could not score them before their deadline (service.fallback_queue).",
            registry=r,
        )
        self.engine_tokens_per_s = Gauge(
            "taosr1_engine_tokens_per_second", "The serving engine's measured scoring speed (work tokens/s: shared prefix once plus suffixes; EWMA).", registry=r
        )
        self.pace_remeasures = Counter(
            "taosr1_pace_remeasures_total",
            "Timed scoring passes run because a request was about to be refused as too large on a stale pace (service.pace_probe).",
            registry=r,
        )
        for endpoint in SCORING_ENDPOINTS:
            self.deadline_misses.labels(endpoint=endpoint)
            for reason in REFUSAL_REASONS:
                self.admissions_refused.labels(endpoint=endpoint, reason=reason)
            for reason in FALLBACK_REASONS:
                self.fallback_pairs.labels(endpoint=endpoint, reason=reason)

    def _add_job_metrics(self, r: CollectorRegistry) -> None:
        """Durable batch jobs (service.jobs) and the engine's time per source, all series at 0 from the start."""
        self.jobs = Gauge("taosr1_jobs", "Durable batch jobs by status.", ["status"], registry=r)
        self.job_pairs = Counter(
            "taosr1_job_pairs_total", "Rows finished by batch jobs, by outcome (ok: scored, invalid: an error line).",
            ["outcome"], registry=r,
        )
        self.engine_seconds = Counter(
            "taosr1_engine_seconds_total", "Seconds the engine spent on label scoring, by source (online requests, batch jobs).",
            ["source"], registry=r,
        )
        for status in JOB_STATUSES:
            self.jobs.labels(status=status)
        for outcome in ("ok", "invalid"):
            self.job_pairs.labels(outcome=outcome)
        for source in ENGINE_SOURCES:
            self.engine_seconds.labels(source=source)

    def set_model(self, name: str, version: str, stage: str, engine: str) -> None:
        self.model_info.clear()
        self.model_info.labels(name=name, version=version, stage=stage, engine=engine).set(1)
        self.model_loaded_at.set_to_current_time()

    def render(self) -> bytes:
        return generate_latest(self.registry)
