"""Browser-test fixtures: a real gateway process on the simulator, and headless Chromium.

Chromium is Debian's (/usr/bin/chromium, or WAGATE_TEST_CHROMIUM); Playwright's own browser
downloads do not work here, so only the Python driver is used.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.served import served

CHROMIUM = os.environ.get("WAGATE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# A 1x1 PNG: a real image file picked from disk.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


class Gateway:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def http(self, token: str = ADMIN_TOKEN) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=15
        )


def _wagate_command() -> list[str]:
    script = Path(sys.executable).with_name("wagate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wagate"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """`wagate serve` as its own process, on a temporary SQLite database."""
    work = tmp_path_factory.mktemp("gateway")
    port = free_port()
    env = {
        **os.environ,
        "WAGATE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'wagate.db'}",
        "WAGATE_DATA_DIR": str(work / "data"),
        "WAGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAGATE_ENGINE": "simulator",
        "WAGATE_NODE_ID": "browser-test",
        # A QR code that rotates during the test, and enough codes not to time out.
        "WAGATE_SIMULATOR_QR_INTERVAL_S": "4",
        "WAGATE_SIMULATOR_QR_COUNT": "30",
        "WAGATE_SIMULATOR_PAIR_CODE_DELAY_S": "0.2",
        "WAGATE_SIMULATOR_RECEIPT_DELAY_MS": "150",
        "WAGATE_SSE_KEEPALIVE_S": "2",
        "WAGATE_WEBHOOK_TIMEOUT_S": "3",
        # The page sets a webhook to the test's receiver on 127.0.0.1.
        "WAGATE_ALLOW_PRIVATE_WEBHOOK_URLS": "true",
        "WAGATE_LOG_LEVEL": "warning",
    }
    for key in ("WAGATE_REDIS_URL", "WAGATE_WEBHOOK_URL"):
        env.pop(key, None)
    log = work / "gateway.log"
    command = [*_wagate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with served(
        command, port=port, cwd=work, env=env, log=log, start_timeout_s=30, stop_timeout_s=15
    ) as (url, process):
        yield Gateway(url, process, log)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser, tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test (nothing kept from another test)."""
    made = await browser.new_context(viewport={"width": 1280, "height": 900})
    made.set_default_timeout(15_000)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    opened = await context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    opened.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" and "status of 4" not in msg.text
            else None
        ),
    )
    # No request of the page may fail on the server's side (API.md: nothing answers 500).
    opened.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} from {response.request.method} {response.url}")
            if response.status >= 500
            else None
        ),
    )
    yield opened
    # An uncaught exception in the page's code is a bug even when the test's checks passed.
    assert not problems, problems


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


async def screenshot(page: Page, artifacts: Path, name: str, **kwargs: Any) -> None:
    await page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True, **kwargs)


def linked_instance(gateway: Gateway, name: str, phone: str = "+4915100000001") -> str:
    """A simulator instance made and linked through the API (the page is not under test here)."""
    with gateway.http() as http:
        created = http.post("/v1/instances", json={"name": name, "engine": "simulator"})
        assert created.status_code == 201, created.text
        assert http.post(f"/v1/instances/{name}/connect").status_code == 202
        wait_for_status(http, name, "pairing")
        scan = http.post(f"/v1/instances/{name}/simulator/scan", json={"phone": phone})
        assert scan.status_code == 204, scan.text
        wait_for_status(http, name, "connected")
    return name


def wait_for_status(http: httpx.Client, name: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = http.get(f"/v1/instances/{name}").json().get("status")
        if last == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {status}; last seen {last}")


class Receiver:
    """A webhook receiver: a real HTTP server on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received.append({"headers": dict(self.headers), "body": json.loads(body or b"{}")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r["body"] for r in list(self.requests) if r["body"].get("event") == name]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    made.thread.start()
    try:
        yield made
    finally:
        made.server.shutdown()
        made.server.server_close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def sign_in(
    page: Page, gateway: Gateway, token: str = ADMIN_TOKEN, *, expect_ok: bool = True
) -> None:
    await page.goto(f"{gateway.url}/dashboard")
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    if expect_ok:
        await expect(page.locator("#who-label")).to_be_visible()


# The element that has focus, and whether the user can see where it is; null once Tab has
# left the page for the browser's own toolbar.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!document.hasFocus() || !el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {
    id: el.id || el.dataset.name || el.name || el.textContent.trim().slice(0, 30),
    shown: el.matches(':focus-visible') && style.outlineStyle !== 'none'
      && parseFloat(style.outlineWidth) >= 2,
  };
}"""


# WCAG contrast of every visible text against the first opaque background behind it.
CONTRAST_JS = """
() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.checkVisibility() || el.closest(":disabled")) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color).slice(0, 3);
    const [a, b] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < 4.5) bad.push(`${el.tagName}#${el.id}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return bad;
}
"""


async def low_contrast(page: Page) -> list[str]:
    """Texts under WCAG AA (4.5:1) on the page as it is now."""
    found: list[str] = await page.evaluate(CONTRAST_JS)
    return found
