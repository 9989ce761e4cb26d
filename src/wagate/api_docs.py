"""The interactive API docs: Swagger UI at `/docs`, ReDoc at `/redoc`.

Their scripts and styles are served from the package (`wagate/docs_static`, copied from the
npm packages swagger-ui-dist and redoc with their licenses), never from a CDN: the docs work on
a machine with no way out to the internet, and the page that holds a typed-in token loads no
third-party script.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse

from wagate.errors import NotFound

router = APIRouter(include_in_schema=False)

STATIC = "/docs/static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # The assets change only with the installed version; an hour spares reloading 2.7 MB.
    "Cache-Control": "public, max-age=3600",
}


@functools.cache
def _read(name: str) -> bytes:
    return resources.files("wagate").joinpath("docs_static", name).read_bytes()


def _openapi_url(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}{request.app.openapi_url or '/openapi.json'}"


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC}/favicon-32x32.png",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{root}{STATIC}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{STATIC}/favicon-32x32.png",
        with_google_fonts=False,
    )


@router.get(STATIC + "/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)  # only the listed files: no path, nothing else in the folder
    if media_type is None:
        raise NotFound(f"docs asset '{name}' not found")
    return Response(_read(name), media_type=media_type, headers=HEADERS)
