"""Browser-test fixtures: a real gateway process on the simulator, and headless Chromium.

Chromium is Debian's (/usr/bin/chromium, or WAGATE_TEST_CHROMIUM); Playwright's own browser
downloads do not work here, so only the Python driver is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.conftest import ADMIN_TOKEN, free_port

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
        "WAGATE_LOG_LEVEL": "warning",
    }
    for key in ("WAGATE_REDIS_URL", "WAGATE_WEBHOOK_URL"):
        env.pop(key, None)
    log = work / "gateway.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*_wagate_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"the gateway exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the gateway did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    try:
        yield Gateway(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


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
    yield opened
    # An uncaught exception in the page's code is a bug even when the test's checks passed.
    assert not problems, problems


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


async def screenshot(page: Page, artifacts: Path, name: str, **kwargs: Any) -> None:
    await page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True, **kwargs)
