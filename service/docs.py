"""`/docs` without the internet: Swagger UI's assets served by the service itself.

FastAPI's default /docs page loads Swagger UI from a CDN, so it is blank offline (and on
air-gapped hosts). The assets come from the PyPI package `swagger-ui-bundle`, mounted under
ASSETS_PATH; the page is FastAPI's own `get_swagger_ui_html` pointed at them.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_PATH = "/docs-assets"


def install_docs(app: FastAPI) -> None:
    """Serve /docs from local assets (create the app with docs_url=None)."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API docs",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )
