"""Deadlines and admission by cost: what fits before a request's deadline, measured online.

- `Deadline`: when a request started, its budget (`deadline_ms`, default `TAOSR1_DEADLINE_MS`)
  and the margin kept for building and sending the answer; `remaining()` is the time left for
  work.
- `Pace`: the serving engine's measured speed — work tokens per second of label scoring (a
  group's shared prefix once plus its products' suffixes, as the engine computes them; an EWMA
  over the batcher's completed engine calls, seeded by a timed pass at load) and seconds per
  generated token per product for `explain` (seeded by a short timed generation at load). Each
  loaded model has its own. A pace that no engine call has confirmed lately is `stale`: before a
  request is refused as too large on it, service.pace_probe times the engine again.
- `admit`: given the products' prompt-token costs, the tokens queued ahead, the pace and the
  time left, how many products (in order) the engine can score in time, and when not all, why:
  `too_large` (not even with an empty queue: a 422 that says how many would fit), `queue` (the
  work ahead is in the way: 429 with Retry-After), or — decided by the batcher's pair bound —
  `queue_full`. In `TAOSR1_OVERLOAD=fallback` mode the rest go to the fallback scorer instead.
- `explain_plan`: how many products' rationales fit, and with how many tokens.

Pure arithmetic over numbers; no engine, HTTP or asyncio here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

#: reasons an admission can refuse pairs (taosr1_admissions_refused_total{reason})
REFUSAL_REASONS = ("too_large", "queue", "queue_full")
#: why pairs were scored by the fallback (taosr1_fallback_pairs_total{reason})
FALLBACK_REASONS = (*REFUSAL_REASONS, "deadline")
#: fewest generated tokens worth asking for when a rationale must be cut short
MIN_EXPLAIN_TOKENS = 16


@dataclass
class Deadline:
    """One request's time budget: `budget_s` from `started` (perf_counter), less `margin_s` for the answer."""

    started: float
    budget_s: float
    margin_s: float = 0.0

    @classmethod
    def after(cls, budget_ms: float, margin_ms: float, started: float | None = None) -> Deadline:
        return cls(time.perf_counter() if started is None else started, budget_ms / 1000.0, margin_ms / 1000.0)

    @property
    def ms(self) -> float:
        return self.budget_s * 1000.0

    def remaining(self, now: float | None = None) -> float:
        """Seconds left for work (the margin already kept back); negative once past."""
        now = time.perf_counter() if now is None else now
        return self.started + self.budget_s - self.margin_s - now

    def missed(self, now: float | None = None) -> bool:
        """True when the answer leaves after the deadline itself (margin included)."""
        now = time.perf_counter() if now is None else now
        return now > self.started + self.budget_s


class Pace:
    """Measured engine speed: EWMA of work tokens/s (scoring) and of s per generated token per product (explain)."""

    def __init__(self, tokens_per_s: float, decode_s: float | None = None, alpha: float = 0.3, headroom: float = 1.0):
        self.tokens_per_s = max(float(tokens_per_s), 1e-6)
        self.decode_s = decode_s
        self.alpha = alpha
        self.headroom = headroom  # estimates are multiplied by this (> 1: admit more cautiously)
        self.observed_at = time.perf_counter()  # when an engine call last measured the scoring speed

    def observe_scoring(self, tokens: int, seconds: float) -> None:
        if tokens > 0 and seconds > 0:
            self.tokens_per_s += self.alpha * (tokens / seconds - self.tokens_per_s)
            self.observed_at = time.perf_counter()

    def remeasure(self, tokens: int, seconds: float) -> None:
        """A dedicated timed pass replaces the estimate (a start-up measured under contention is not blended in).

        >>> p = Pace(32.0); p.remeasure(4000, 1.0); p.tokens_per_s
        4000.0
        """
        if tokens > 0 and seconds > 0:
            self.tokens_per_s = tokens / seconds
            self.observed_at = time.perf_counter()

    def stale(self, after_s: float, now: float | None = None) -> bool:
        """True when no engine call has measured the scoring speed for `after_s` seconds.

        >>> p = Pace(100.0); p.stale(5.0, now=p.observed_at + 1), p.stale(5.0, now=p.observed_at + 5)
        (False, True)
        """
        now = time.perf_counter() if now is None else now
        return now - self.observed_at >= after_s

    def observe_generation(self, products: int, tokens: int, seconds: float) -> None:
        if products > 0 and tokens > 0 and seconds > 0:
            per = seconds / (products * tokens)
            self.decode_s = per if self.decode_s is None else self.decode_s + self.alpha * (per - self.decode_s)

    def scoring_s(self, tokens: float) -> float:
        return self.headroom * tokens / self.tokens_per_s

    def tokens_in(self, seconds: float) -> float:
        """Work tokens the engine scores in `seconds` (0 when none)."""
        return max(0.0, seconds) * self.tokens_per_s / self.headroom

    def generation_s(self, products: int, tokens: int) -> float:
        return self.headroom * products * tokens * (self.decode_s or 0.0)


@dataclass(frozen=True)
class Admission:
    """How many products of each group go to the engine (the first `take[g]`); when not all, why."""

    take: list[int]
    reason: str | None = None  # too_large | queue (None: all admitted)
    fits_alone: int = 0  # products that would fit with an empty queue (for the 422)
    wait_s: float = 0.0  # how long until the work ahead lets all of it fit (for Retry-After)

    @property
    def admitted(self) -> int:
        return sum(self.take)


def admit(
    costs: Sequence[Sequence[int]], ahead_tokens: int, pace: Pace, seconds_left: float, budget_s: float | None = None
) -> Admission:
    """Products (per group, in order) whose work tokens the engine scores within `seconds_left`.

    `costs[g][i]` is product i of group g's share of the work tokens (its suffix plus its part of
    the shared prefix, service.overload.product_costs). Greedy in order across groups: the first products fill the time.

    >>> p = Pace(100.0)
    >>> admit([[50, 50]], 0, p, 2.0)
    Admission(take=[2], reason=None, fits_alone=2, wait_s=0.0)
    >>> admit([[50, 50]], 100, p, 1.5)
    Admission(take=[1], reason='queue', fits_alone=2, wait_s=0.5)
    >>> admit([[50, 50], [50]], 0, p, 1.2)
    Admission(take=[2, 0], reason='too_large', fits_alone=2, wait_s=0.3)
    """
    capacity = pace.tokens_in(seconds_left)
    flat = [c for group in costs for c in group]
    total = float(sum(flat))

    def fitting(room: float) -> int:
        used, n = 0.0, 0
        for c in flat:
            if used + c > room:
                break
            used, n = used + c, n + 1
        return n

    # "never fits" is judged against the whole budget when given: time spent before admission (a
    # slow retrieval under load) makes a request wait (queue), not invalid (too_large)
    whole = capacity if budget_s is None else pace.tokens_in(max(budget_s, seconds_left))
    fits_alone, fits_now = fitting(whole), fitting(capacity - ahead_tokens)
    take, left = [], fits_now
    for group in costs:
        take.append(min(len(group), left))
        left -= take[-1]
    if fits_now == len(flat):
        return Admission(take, None, fits_alone, 0.0)
    reason = "too_large" if fits_alone < len(flat) else "queue"
    wait_s = round(max(0.0, pace.scoring_s(ahead_tokens + total) - max(seconds_left, 0.0)), 6)
    return Admission(take, reason, fits_alone, wait_s)


def retry_after(wait_s: float, floor_s: int) -> int:
    """Whole seconds for Retry-After: the measured wait, at least `floor_s`."""
    return max(int(floor_s), math.ceil(wait_s))


@dataclass(frozen=True)
class ExplainPlan:
    products: int  # how many (in order) get a rationale
    max_new_tokens: int  # each at most this many tokens
    cut: bool  # fewer tokens than the setting: rationales may end early


def explain_plan(n: int, max_new_tokens: int, pace: Pace, seconds_left: float) -> ExplainPlan:
    """The rationales that fit in `seconds_left`: all, the first few, one shortened, or none.

    >>> explain_plan(4, 100, Pace(1.0, decode_s=0.01), 2.5)
    ExplainPlan(products=2, max_new_tokens=100, cut=False)
    >>> explain_plan(4, 100, Pace(1.0, decode_s=0.01), 0.5)
    ExplainPlan(products=1, max_new_tokens=50, cut=True)
    >>> explain_plan(4, 100, Pace(1.0, decode_s=0.01), 0.1).products
    0
    """
    if n <= 0 or seconds_left <= 0:
        return ExplainPlan(0, max_new_tokens, False)
    if not pace.decode_s:
        return ExplainPlan(n, max_new_tokens, False)
    whole = int(seconds_left / pace.generation_s(1, max_new_tokens) + 1e-9)
    if whole >= 1:
        return ExplainPlan(min(n, whole), max_new_tokens, False)
    tokens = int(seconds_left / pace.generation_s(1, 1) + 1e-9)
    if tokens >= MIN_EXPLAIN_TOKENS:
        return ExplainPlan(1, tokens, True)
    return ExplainPlan(0, max_new_tokens, False)
