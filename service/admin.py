"""Admin routes: `POST /admin/reload` and `POST /admin/rollback`, behind bearer-token auth.

Auth is a FastAPI dependency on the whole router (`require_admin`): off unless
TAOSR1_ADMIN_ENABLED, a bearer token compared in constant time. Registry and reload errors
are not mapped here: they propagate to the one table in service.errors.
"""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Header, Request

from service.errors import Forbidden, NotFound, Unauthorized, error_responses
from service.schemas import ReloadRequest
from service.serving import Service


def require_admin(request: Request, authorization: str | None = Header(None)) -> None:
    """Let the request through only with the service's admin token (404 when admin is off)."""
    settings = request.app.state.service.settings
    if not settings.admin_enabled:
        raise NotFound("admin endpoints are off", fix="set TAOSR1_ADMIN_ENABLED=true and a long random TAOSR1_ADMIN_TOKEN")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("admin endpoints need a bearer token", fix="send 'Authorization: Bearer <TAOSR1_ADMIN_TOKEN>'")
    if not secrets.compare_digest(token.strip().encode(), settings.admin_token.encode()):
        raise Forbidden("wrong admin token", fix="send the TAOSR1_ADMIN_TOKEN the service was started with")


def admin_router(svc: Service) -> APIRouter:
    router = APIRouter(
        prefix="/admin", dependencies=[Depends(require_admin)],
        responses=error_responses("bad_request", "validation", "unauthorized", "forbidden", "not_found", "conflict", "internal"),
    )

    def answer(attempt) -> dict:
        return {"status": attempt.outcome, **attempt.__dict__, "serving": svc.runtime.current.ref.model_dump()}

    @router.post("/reload")
    async def admin_reload(req: ReloadRequest | None = None):
        """Load a registry version (default: `latest`) beside the serving one, check it, and swap it in."""
        return answer(await svc.reloader.reload((req or ReloadRequest()).version, trigger="admin"))

    @router.post("/rollback")
    async def admin_rollback():
        """Serve the version served before the current one again (and point `latest` at it)."""
        return answer(await svc.reloader.rollback())

    return router
