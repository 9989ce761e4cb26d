"""The dashboard's assets: all local, all shipped as package data, all served."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from wagate.dashboard.routes import router
from wagate.errors import install_error_handlers

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "wagate" / "dashboard" / "static"


def static_files() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*") if p.is_file())


def test_every_asset_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["wagate"]
    for path in static_files():
        relative = path.relative_to(ROOT / "src" / "wagate").as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative
        # The router serves plain names of known types only; a sub-folder would not be served.
        assert path.parent == STATIC, f"{relative}: keep assets flat in static/"


def test_pages_reference_only_local_assets() -> None:
    names = {p.name for p in static_files()}
    for path in static_files():
        if path.suffix not in {".html", ".js", ".css"}:
            continue
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path.name
        assert "@import url(" not in text, path.name
        for ref in re.findall(r"/dashboard/static/([\w.-]+)", text):
            assert ref in names, f"{path.name} refers to missing {ref}"
        for ref in re.findall(r"""from\s+["']\./([\w.-]+)["']""", text):
            assert ref in names, f"{path.name} imports missing {ref}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.include_router(router)
    install_error_handlers(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_serves_the_page_and_each_asset(http: httpx.AsyncClient) -> None:
    page = await http.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path in static_files():
        response = await http.get(f"/dashboard/static/{path.name}")
        assert response.status_code == 200, path.name
        assert response.content == path.read_bytes()
    js = await http.get("/dashboard/static/app.js")
    assert js.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize(
    "name", ["..%2Froutes.py", "routes.py", "missing.js", ".hidden.js", "index", "%2e%2e%2fapp.js"]
)
async def test_refuses_anything_else(http: httpx.AsyncClient, name: str) -> None:
    response = await http.get(f"/dashboard/static/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_page_is_well_nested() -> None:
    """Every element of index.html is closed where it was opened: the tabs' panels are edited
    side by side, and a lost closing tag hides every panel after it."""
    from html.parser import HTMLParser

    void = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}

    class Nesting(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.open: list[tuple[str, tuple[int, int]]] = []
            self.wrong: list[tuple[str, tuple[int, int]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in void:
                self.open.append((tag, self.getpos()))

        def handle_endtag(self, tag: str) -> None:
            if self.open and self.open[-1][0] == tag:
                self.open.pop()
            else:
                self.wrong.append((tag, self.getpos()))

    page = Nesting()
    page.feed((STATIC / "index.html").read_text())
    assert page.wrong == [] and page.open == []
