"""Typed service errors and the one table that maps them to HTTP.

Every error body has the same shape: {"error": {"kind", "message", "fix", "fields"?}} so a
client can tell what was wrong and what to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


@dataclass
class FieldProblem:
    field: str
    problem: str
    fix: str = ""


@dataclass
class ServiceError(Exception):
    message: str
    fix: str = ""
    fields: list[FieldProblem] = field(default_factory=list)
    retry_after_s: int | None = None
    kind = "internal"

    def __str__(self) -> str:
        return self.message


class ValidationFailed(ServiceError):
    kind = "validation"


class Overloaded(ServiceError):
    kind = "overloaded"


class NotReady(ServiceError):
    kind = "not_ready"


class Unauthorized(ServiceError):
    kind = "unauthorized"


class Forbidden(ServiceError):
    kind = "forbidden"


class NotFound(ServiceError):
    kind = "not_found"


class Conflict(ServiceError):
    kind = "conflict"


class EngineFailure(ServiceError):
    kind = "engine"


STATUS_BY_KIND: dict[str, int] = {
    ValidationFailed.kind: 422,
    Overloaded.kind: 429,
    NotReady.kind: 503,
    Unauthorized.kind: 401,
    Forbidden.kind: 403,
    NotFound.kind: 404,
    Conflict.kind: 409,
    EngineFailure.kind: 500,
    ServiceError.kind: 500,
}


def error_body(err: ServiceError) -> dict:
    body: dict = {"kind": err.kind, "message": err.message, "fix": err.fix}
    if err.fields:
        body["fields"] = [vars(f) for f in err.fields]
    return {"error": body}


def to_response(err: ServiceError) -> JSONResponse:
    headers = {}
    if err.retry_after_s is not None:
        headers["Retry-After"] = str(err.retry_after_s)
    if err.kind == Unauthorized.kind:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(err), status_code=STATUS_BY_KIND[err.kind], headers=headers)


def _loc_to_field(loc: tuple) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


_FIXES = {
    "missing": "add this field",
    "json_invalid": "send a valid JSON body with Content-Type: application/json",
    "string_type": "send a string",
    "list_type": "send a JSON array",
    "dict_type": "send a JSON object",
    "model_type": "send a JSON object",
    "bool_type": "send true or false",
    "float_type": "send a number",
    "extra_forbidden": "remove this field (see /docs for the request schema)",
}


def from_request_validation(exc: RequestValidationError) -> ValidationFailed:
    problems = []
    for e in exc.errors():
        kind = e.get("type", "")
        fix = _FIXES.get(kind, "")
        if not fix and (ctx := e.get("ctx")):
            fix = "allowed: " + ", ".join(f"{k}={v}" for k, v in ctx.items() if k != "error")
        where = "body" if kind == "json_invalid" else _loc_to_field(tuple(e.get("loc", ())))
        problems.append(FieldProblem(field=where, problem=e.get("msg", kind), fix=fix))
    names = ", ".join(p.field for p in problems)
    return ValidationFailed(f"invalid request: {names}", fix="see 'fields' for each problem and its fix", fields=problems)


def install_error_handlers(app: FastAPI, on_error=None) -> None:
    """Register the table on an app; `on_error(kind)` is called for every error (metrics)."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError):
        request.state.error_kind = exc.kind  # read by the metrics middleware (requests by outcome)
        if on_error:
            on_error(exc.kind)
        return to_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        err = from_request_validation(exc)
        request.state.error_kind = err.kind
        if on_error:
            on_error(err.kind)
        return to_response(err)
