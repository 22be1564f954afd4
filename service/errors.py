"""Typed service errors and the one table that maps them — and the domain errors below — to HTTP.

Every error body has the same shape: {"error": {"kind", "message", "fix", "fields"?}} so a
client can tell what was wrong and what to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from relevance.registry import RegistryError, VersionNameError


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
    extra: dict = field(default_factory=dict)  # top-level keys beside "error" (e.g. /readyz's "status")
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


class ReloadFailed(RuntimeError):
    """A version could not be made the serving one; the serving model is unchanged."""

    def __init__(self, message: str, serving: str | None = None):
        super().__init__(message)
        self.serving = serving


def from_domain(exc: Exception) -> ServiceError | None:
    """The service error for a domain error raised below the routes (None: not a domain error)."""
    if isinstance(exc, VersionNameError):
        return ValidationFailed(
            "invalid version", fix="name a version inside the registry (see GET /models)",
            fields=[FieldProblem("version", str(exc), "use a published version name such as 'v0003', or 'latest'")],
        )
    if isinstance(exc, RegistryError):
        return NotFound(str(exc), fix="publish the version first, or pick one listed in GET /models")
    if isinstance(exc, ReloadFailed):
        return Conflict(f"reload refused, still serving {exc.serving}: {exc}", fix="see GET /models (registry.reloads) and the server log")
    return None


def error_body(err: ServiceError) -> dict:
    body: dict = {"kind": err.kind, "message": err.message, "fix": err.fix}
    if err.fields:
        body["fields"] = [vars(f) for f in err.fields]
    return {**err.extra, "error": body}


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

    async def _domain_error(request: Request, exc: Exception):
        return await _service_error(request, from_domain(exc))

    for domain in (RegistryError, ReloadFailed):  # VersionNameError is a RegistryError
        app.add_exception_handler(domain, _domain_error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        err = from_request_validation(exc)
        request.state.error_kind = err.kind
        if on_error:
            on_error(err.kind)
        return to_response(err)
