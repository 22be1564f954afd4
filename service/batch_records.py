"""One batch row → a checked pair, and a scored pair → its result record: the same for every batch path.

Durable jobs (service.jobs), `taosr1 batch score` and its Ray path all check a row with the
request schema and limits `/relevance/batch` uses (service.schemas, service.limits) and build
its record from `service.routes.result`, so a pair's record is the `/relevance` result for it,
plus the row's `id`, its `line`, the `query`, the product's id as `product_id`, and the model
name and version that scored it. A row that fails a check gets `{"id", "line", "error"}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from relevance.batch_io import RowError, row_id
from relevance.listing_flags import listing_flags
from relevance.scoring import Scored
from relevance.types import Product
from service.errors import from_request_validation
from service.limits import product_problems
from service.routes import result
from service.schemas import PairIn
from service.settings import Settings


@dataclass(frozen=True)
class Pair:
    """A row that passed the checks."""

    id: str
    line: int
    query: str
    product: Product


def error_record(pair_id: str, line: int, kind: str, message: str, fix: str) -> dict:
    return {"id": pair_id, "line": line, "error": {"kind": kind, "message": message, "fix": fix}}


def check_row(line: int, obj: dict | RowError, settings: Settings) -> Pair | dict:
    """The row as a Pair, or its error record (kind validation) naming what is wrong and the fix."""
    pid = row_id(obj, line)
    if isinstance(obj, RowError):
        return error_record(pid, line, "validation", obj.message, "send one JSON object per line: {id, query, product}")
    body = {k: v for k, v in obj.items() if k != "id"}
    try:
        pair = PairIn.model_validate(body)
    except ValidationError as exc:
        err = from_request_validation(exc)
        detail = "; ".join(f"{f.field}: {f.problem}" for f in err.fields)
        return error_record(pid, line, "validation", detail or err.message, "fix the fields named (see /docs, PairIn)")
    if not pair.query.strip() or len(pair.query) > settings.max_query_chars:
        what = "must not be empty" if not pair.query.strip() else f"{len(pair.query)} characters, limit {settings.max_query_chars}"
        return error_record(pid, line, "validation", f"query: {what}", "send a non-empty query within the limit")
    problems = product_problems(pair.product, "product", settings)
    if problems:
        return error_record(pid, line, "validation", "; ".join(f"{p.field}: {p.problem}" for p in problems), problems[0].fix)
    return Pair(pid, line, pair.query, pair.product.to_product())


def pair_record(pair: Pair, scored: Scored, model_name: str, model_version: str) -> dict:
    """The result record of a scored pair: /relevance's result fields plus id, line, query, product and model."""
    fields = result(pair.product.id, scored, flags=listing_flags(pair.product))
    fields = {k: v for k, v in fields.items() if v is not None and k != "id"}
    return {"id": pair.id, "line": pair.line, "query": pair.query, "product_id": pair.product.id, **fields,
            "model": model_name, "model_version": model_version}


def group_pairs(pairs: Sequence[Pair]) -> tuple[list[str], list[list[Pair]]]:
    """Pairs grouped by query, first-seen order (a query's products then share one prompt prefix)."""
    groups: dict[str, list[Pair]] = {}
    for p in pairs:
        groups.setdefault(p.query, []).append(p)
    return list(groups), list(groups.values())
