"""The dashboard in a real headless Firefox (Debian's firefox-esr), over WebDriver BiDi.

One scenario, against the same real gateway process as the Chromium tests: a wrong token, sign
in, create an instance, its QR code rotating, a simulated scan showing `connected` without a
reload, a text reaching `read`, its webhook deliveries in the log, then the phone-sized layout
and the keyboard. Screenshots go to test-artifacts/firefox-*.png.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.conftest import CONTRAST_JS, FOCUSED, PIXEL, Gateway, Receiver, unique
from tests.browser.firefox import Firefox
from tests.conftest import ADMIN_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FIREFOX = os.environ.get("WAGATE_TEST_FIREFOX", "/usr/bin/firefox-esr")

VISIBLE = (
    "(sel) => { const el = document.querySelector(sel); return !!el && el.checkVisibility(); }"
)
HIDDEN = "(sel) => { const el = document.querySelector(sel); return !el || !el.checkVisibility(); }"
TRACKED_READ = """() => {
  const item = document.querySelector('#send-tracker > li');
  return !!item && item.dataset.status === 'read'
    && item.querySelectorAll('.steps li.done').length === 4;
}"""
QR_CODE = """() => {
  const img = document.getElementById('qr-image');
  return img.checkVisibility() && img.src.startsWith('data:image/png;base64,')
    && img.complete && img.naturalWidth > 0 ? img.dataset.code : null;
}"""
WIDTH = "() => document.documentElement.scrollWidth"


@pytest.fixture(scope="module")
async def firefox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Firefox]:
    if not Path(FIREFOX).exists():
        pytest.fail(f"Firefox not found at {FIREFOX} (apt-get install firefox-esr)")
    work = tmp_path_factory.mktemp("firefox")
    browser = Firefox(FIREFOX, work / "profile", work / "firefox.log")
    try:
        await browser.start()
        yield browser
    finally:
        await browser.close()


async def test_dashboard_in_firefox(
    firefox: Firefox, gateway: Gateway, receiver: Receiver, artifacts: Path, tmp_path: Path
) -> None:
    ff = firefox
    ff.failure_shot = artifacts / "firefox-failed.png"

    async def shot(name: str) -> None:
        await ff.screenshot(artifacts / f"firefox-{name}.png")
        assert await ff.call(CONTRAST_JS) == [], f"low contrast on {name}"

    await ff.set_viewport(1280, 900)
    await ff.goto(f"{gateway.url}/dashboard")

    # A wrong token: the API's error, nothing kept. The token field has focus on load.
    await ff.wait_for("() => document.activeElement.id === 'signin-token'", what="token focus")
    await ff.type("wga_not_a_real_token")
    await ff.press("Enter")
    await ff.text("#signin-error", "This token is not accepted (invalid token)")
    assert await ff.call(HIDDEN, "#app")
    assert await ff.call("() => sessionStorage.getItem('wagate.token')") is None
    await shot("01-signin-wrong-token")

    await ff.fill("#signin-token", ADMIN_TOKEN)
    await ff.click("#signin-form button[type=submit]")
    await ff.text("#who-label", "Signed in as admin")

    # Create an instance in the page: its token is shown once.
    name = unique("ff")
    row = f'#instance-list button[data-name="{name}"]'
    await ff.fill("#create-name", name)
    await ff.select("#create-engine", "simulator")
    await ff.click("#create-form button[type=submit]")
    await ff.text("#detail-title", name)
    assert await ff.call("() => document.getElementById('create-token-value').textContent")
    await ff.text(row, "Disconnected")

    # Connect: a large QR code with its countdown, replaced live when it rotates.
    await ff.click('#conn-actions [data-action="connect"]')
    first_code = await ff.wait_for(QR_CODE, what="the QR code")
    await ff.text("#qr-left", "This code changes in")
    await ff.text(row, "Waiting for a scan")
    width = await ff.call("() => document.getElementById('qr-image').getBoundingClientRect().width")
    assert width >= 300, width
    await shot("02-qr")
    await ff.wait_for(
        f"() => ({QR_CODE})() !== {first_code!r}", timeout=10, what="the QR code to rotate"
    )

    # The page's Simulate scan links it: connected shows up without a reload.
    await ff.call("() => { window.__noReload = 1; }")
    await ff.fill("#sim-phone", "+4915112345678")
    await ff.click("#sim-form button[type=submit]")
    await ff.text("#detail-status", "Connected")
    await ff.text(row, "Connected")
    await ff.text("#conn-phone", "4915112345678")
    await ff.wait_for(HIDDEN, "#qr-box", what="the QR box to go")
    await ff.text("#event-log", "connection_update")
    assert await ff.call("() => window.__noReload") == 1, "the page was reloaded"
    await shot("03-connected")

    # A webhook set in the page, then a text sent from it: queued -> sent -> delivered -> read.
    await ff.click("#tab-webhook")
    await ff.fill("#hook-url", receiver.url)
    await ff.click("#hook-form button[type=submit]")
    await ff.text("#hook-ok", "Webhook saved.")
    await ff.click("#tab-send")
    await ff.fill("#send-to", "+49 151 7654321")
    await ff.fill("#send-text", "hello from Firefox")
    await ff.click("#send-form button[type=submit]")
    await ff.wait_for(TRACKED_READ, what="the sent text to reach read")
    assert await ff.call(HIDDEN, "#send-error")
    await shot("04-send-read")
    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    assert [(m["kind"], m["body"]["text"]) for m in outbox] == [("text", "hello from Firefox")]

    # A file picked from disk goes as multipart and reaches read too.
    picture = tmp_path / "pixel.png"
    picture.write_bytes(PIXEL)
    await ff.select("#send-kind", "image")
    await ff.set_files("#send-file", picture)
    await ff.fill("#send-caption", "a picture from Firefox")
    await ff.click("#send-form button[type=submit]")
    await ff.wait_for(
        "() => document.querySelectorAll('#send-tracker > li').length === 2",
        what="the picture to be tracked",
    )
    await ff.wait_for(TRACKED_READ, what="the sent picture to reach read")
    assert await ff.call(HIDDEN, "#send-error")
    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    assert [m["kind"] for m in outbox] == ["text", "image"]
    assert outbox[1]["body"].get("caption") == "a picture from Firefox", outbox[1]
    await ff.select("#send-kind", "text")

    # Its events were delivered to the receiver, and the delivery log shows them.
    await ff.click("#tab-webhook")
    await ff.text('#dlv-rows tr[data-status="delivered"]', "HTTP 200")
    await ff.text("#dlv-rows", "message_status")
    await shot("05-webhook")
    for _ in range(50):
        if receiver.events("message_status"):
            break
        await asyncio.sleep(0.1)
    assert receiver.events("message_status"), "the receiver got the message's status events"

    # A phone-sized screen: nothing wider than it, on every tab.
    await ff.set_viewport(390, 844)
    for tab in ("connection", "send", "messages", "webhook", "dead"):
        await ff.click(f"#tab-{tab}")
        await ff.wait_for(VISIBLE, f"#panel-{tab}")
        assert await ff.call(WIDTH) <= 390, (tab, await ff.call(WIDTH))
        if tab in ("connection", "send", "messages"):
            await ff.screenshot(artifacts / f"firefox-06-phone-{tab}.png")

    # The keyboard: arrows move between tabs, and Tab reaches every control, visibly focused.
    await ff.click("#tab-connection")
    await ff.press("ArrowRight")
    await ff.wait_for("() => document.activeElement.id === 'tab-send'", what="arrow to Send")
    assert await ff.call(VISIBLE, "#panel-send")
    await ff.call("() => document.getElementById('main').focus()")
    await ff.call("() => window.scrollTo(0, 0)")
    seen: dict[str, bool] = {}
    for _ in range(40):
        await ff.press("Tab")
        focused = await ff.call(FOCUSED)
        if not focused:
            break
        seen[focused["id"]] = focused["shown"]
    wanted = {
        "list-refresh",
        name,
        "create-name",
        "create-engine",
        "tab-send",
        "send-kind",
        "send-to",
        "send-text",
        "More options",
        "send-async",
        "Send",
    }
    assert wanted <= set(seen), sorted(seen)
    assert all(seen.values()), [key for key, shown in seen.items() if not shown]

    assert ff.problems == []
