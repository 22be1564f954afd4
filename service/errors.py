"""Typed service errors and the one table that maps them — and the domain errors below — to HTTP.

Every error body has the same shape: {"error": {"kind", "message", "fix", "fields"?}} so a
client can tell what was wrong and what to change — including the errors FastAPI and Starlette
raise themselves (an undecodable body, an unknown path or method, an unhandled exception), and
`fix` is never empty. `error_responses(*kinds)` gives a route's `responses=` for the OpenAPI
from the same table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    status: int | None = None  # overrides the table (HTTP errors raised by the framework itself)
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


class BadRequest(ServiceError):
    kind = "bad_request"


class MethodNotAllowed(ServiceError):
    kind = "method_not_allowed"


class DeadlineExceeded(ServiceError):
    """Accepted, but the engine could not answer within the request's deadline (TAOSR1_OVERLOAD=reject)."""

    kind = "deadline"


class Abandoned(ServiceError):
    """The client gave up (disconnected) before the answer: its queued work was withdrawn."""

    kind = "abandoned"


STATUS_BY_KIND: dict[str, int] = {
    BadRequest.kind: 400,
    MethodNotAllowed.kind: 405,
    ValidationFailed.kind: 422,
    Overloaded.kind: 429,
    NotReady.kind: 503,
    Unauthorized.kind: 401,
    Forbidden.kind: 403,
    NotFound.kind: 404,
    Conflict.kind: 409,
    EngineFailure.kind: 500,
    DeadlineExceeded.kind: 504,
    Abandoned.kind: 499,
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


DEFAULT_FIX = "see /docs for the endpoints and their request schemas"


def error_body(err: ServiceError) -> dict:
    body: dict = {"kind": err.kind, "message": err.message, "fix": err.fix or DEFAULT_FIX}
    if err.fields:
        body["fields"] = [vars(f) for f in err.fields]
    return {**err.extra, "error": body}


def to_response(err: ServiceError) -> JSONResponse:
    headers = {}
    if err.retry_after_s is not None:
        headers["Retry-After"] = str(err.retry_after_s)
    if err.kind == Unauthorized.kind:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(err), status_code=err.status or STATUS_BY_KIND[err.kind], headers=headers)


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


JSON_FIX = "send the body as JSON with the header Content-Type: application/json"


def _body_fix(kind: str, content_type: str | None) -> str | None:
    """The fix for an error about the whole body: almost always the content-type or the encoding."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        return f"the body was sent as {media!r}: {JSON_FIX}"
    if kind == "missing":
        return f"send a request body: {JSON_FIX} (see /docs for its schema)"
    return None


def from_request_validation(exc: RequestValidationError, content_type: str | None = None) -> ValidationFailed:
    problems = []
    for e in exc.errors():
        kind = e.get("type", "")
        loc = tuple(e.get("loc", ()))
        fix = (_body_fix(kind, content_type) if loc == ("body",) else None) or _FIXES.get(kind, "")
        if not fix and (ctx := e.get("ctx")):
            fix = "allowed: " + ", ".join(f"{k}={v}" for k, v in ctx.items() if k != "error")
        where = "body" if kind == "json_invalid" else _loc_to_field(loc)
        problems.append(FieldProblem(field=where, problem=e.get("msg", kind), fix=fix or "see /docs for the request schema"))
    names = ", ".join(p.field for p in problems)
    fix = next((p.fix for p in problems if p.field == "body"), "see 'fields' for each problem and its fix")
    return ValidationFailed(f"invalid request: {names}", fix=fix, fields=problems)


def allowed_methods(request: Request) -> list[str]:
    """The methods the app's routes accept on `request`'s path (several routes may share a path)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def from_http_exception(exc: StarletteHTTPException) -> ServiceError:
    """The envelope for an HTTP error raised by FastAPI/Starlette themselves (not by our routes)."""
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 400:
        return BadRequest(
            f"the request body could not be read ({detail}): it is not UTF-8 encoded JSON",
            fix="encode the body as UTF-8 JSON and send it with Content-Type: application/json",
        )
    if exc.status_code == 404:
        return NotFound(f"no such endpoint ({detail})", fix=DEFAULT_FIX)
    if exc.status_code == 405:
        return MethodNotAllowed(f"method not allowed ({detail})", fix="use the method the endpoint lists in /docs (e.g. POST /relevance)")
    return ServiceError(detail, fix=DEFAULT_FIX, status=exc.status_code)


class ErrorField(BaseModel):
    field: str
    problem: str
    fix: str


class ErrorDetail(BaseModel):
    kind: str
    message: str
    fix: str
    fields: list[ErrorField] | None = None


class ErrorEnvelope(BaseModel):
    """Every error response: what was wrong (`kind`, `message`, `fields`) and what to change (`fix`)."""

    error: ErrorDetail


_DESCRIPTIONS = {
    "bad_request": "the body is not UTF-8 encoded JSON",
    "validation": "invalid request: each field named with its problem and fix",
    "overloaded": "the queue is full, or the work queued ahead would not let this request finish within its "
    "deadline: retry after Retry-After seconds",
    "deadline": "accepted, but not answered within deadline_ms (TAOSR1_OVERLOAD=reject): retry after Retry-After seconds",
    "not_ready": "no model loaded yet, or shutting down: retry after Retry-After seconds",
    "unauthorized": "no bearer token",
    "forbidden": "wrong bearer token",
    "not_found": "admin is off, or the version is not published",
    "conflict": "the reload was refused; the serving model is unchanged",
    "engine": "the engine failed on this request",
    "internal": "an unexpected server error",
}


def error_responses(*kinds: str) -> dict[int | str, dict]:
    """`responses=` for a route that can fail with `kinds` (OpenAPI: status → the error envelope)."""
    return {STATUS_BY_KIND[k]: {"model": ErrorEnvelope, "description": _DESCRIPTIONS.get(k, k)} for k in kinds}


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
        return await _service_error(request, from_request_validation(exc, request.headers.get("content-type")))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        response = await _service_error(request, from_http_exception(exc))
        for name, value in (exc.headers or {}).items():
            response.headers.setdefault(name, value)
        if exc.status_code == 405:  # Allow: every method of every route on this path (RFC 9110)
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception):
        logging.getLogger("taosr1.errors").error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, exc)
        # not counted here: the request-metrics middleware already counted it as internal
        return to_response(ServiceError("internal error", fix="retry; if it persists, report it with the server log"))
