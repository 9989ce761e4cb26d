"""/docs and /redoc load everything from the gateway itself (no CDN), and `/` points at them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

import wagate

NO_TOKEN = {"Authorization": ""}
STATIC = Path(wagate.__file__).parent / "docs_static"


@pytest.mark.parametrize(
    ("page", "script"),
    [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")],
)
async def test_docs_pages_load_only_local_assets(
    client: httpx.AsyncClient, page: str, script: str
) -> None:
    html = await client.get(page, headers=NO_TOKEN)
    assert html.status_code == 200
    assert "text/html" in html.headers["content-type"]
    links = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert f"/docs/static/{script}" in links
    # Nothing from another host: every script, style, icon and font is one of ours.
    assert [link for link in links if not link.startswith("/")] == []
    assert "fonts.googleapis" not in html.text and "cdn." not in html.text
    for link in links:
        asset = await client.get(link, headers=NO_TOKEN)
        assert asset.status_code == 200, link
        assert asset.content == (STATIC / link.rsplit("/", 1)[-1]).read_bytes(), link
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "'/openapi.json'" in html.text or '"/openapi.json"' in html.text


async def test_docs_assets_by_type_and_nothing_else(client: httpx.AsyncClient) -> None:
    js = await client.get("/docs/static/swagger-ui-bundle.js", headers=NO_TOKEN)
    assert js.headers["content-type"].startswith("text/javascript")
    css = await client.get("/docs/static/swagger-ui.css", headers=NO_TOKEN)
    assert css.headers["content-type"].startswith("text/css")
    # Only the listed assets: not the license files, not the folder's README, no traversal.
    for name in ("README.md", "LICENSE.redoc", "..%2f__init__.py", "%2e%2e", "nothing.js"):
        missing = await client.get(f"/docs/static/{name}", headers=NO_TOKEN)
        assert missing.status_code == 404, name
        assert set(missing.json()["error"]) == {"code", "message", "details"}


async def test_index_names_the_version_and_the_parts(client: httpx.AsyncClient) -> None:
    index = await client.get("/", headers=NO_TOKEN)
    assert index.status_code == 200
    body = index.json()
    assert body["version"] == wagate.__version__
    for key, path in {"docs": "/docs", "healthz": "/healthz", "metrics": "/metrics"}.items():
        assert body[key] == path
        assert (await client.get(path, headers=NO_TOKEN)).status_code == 200
