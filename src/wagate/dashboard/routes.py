"""The dashboard: one HTML page and its static assets, all served by the gateway itself.

The page holds no server-side state and no secret: it signs in with a token the user types
and talks to the public API (API.md) like any other client. Assets are read from the package
so an installed wheel serves them without a build step or a CDN.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Response
from fastapi.responses import RedirectResponse

from wagate.errors import NotFound

router = APIRouter(prefix="/dashboard", include_in_schema=False)

MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything the page loads comes from this origin; QR images are data: URLs and picked files
# are previewed as blob: URLs. No inline script, so an injected string cannot run.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page is small and changes with the gateway version: revalidate every load.
    "Cache-Control": "no-cache",
}


def _static() -> Traversable:
    return resources.files("wagate.dashboard").joinpath("static")


def _asset(name: str) -> Response:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    media_type = MEDIA_TYPES.get(suffix)
    # Only plain file names of known types: no path separators, nothing hidden.
    if media_type is None or "/" in name or "\\" in name or name.startswith("."):
        raise NotFound(f"dashboard asset '{name}' not found")
    path = _static().joinpath(name)
    if not path.is_file():
        raise NotFound(f"dashboard asset '{name}' not found")
    return Response(path.read_bytes(), media_type=media_type, headers=HEADERS)


@router.get("")
async def page() -> Response:
    return _asset("index.html")


@router.get("/")
async def page_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=308)


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    return _asset(name)
