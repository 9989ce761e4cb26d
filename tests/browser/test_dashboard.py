"""The dashboard in a real headless Chromium against a real gateway process (simulator engine)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    FOCUSED,
    Gateway,
    linked_instance,
    low_contrast,
    screenshot,
    sign_in,
    unique,
)
from tests.conftest import ADMIN_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def create_in_page(page: Page, name: str, engine: str = "simulator") -> str:
    box = page.locator("#create-box")
    if await box.get_attribute("open") is None:
        await box.locator("summary").click()
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Engine").select_option(engine)
    await page.get_by_role("button", name="Create", exact=True).click()
    await expect(page.locator("#detail-title")).to_have_text(name)
    token = await page.locator("#create-token-value").text_content()
    assert token, "the new instance's token is shown once"
    return token


DATA_URL_PNG = re.compile(r"^data:image/png;base64,")
PAIR_CODE = re.compile(r"^[A-Z0-9-]{8,9}$")


async def test_serves_page_and_assets_from_the_gateway(page: Page, gateway: Gateway) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = await page.goto(f"{gateway.url}/dashboard")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in (response.headers.get("content-security-policy") or "")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert requested, "the page loads its assets"
    assert all(url.startswith(gateway.url) or url.startswith("data:") for url in requested), (
        requested
    )
    with gateway.http() as http:
        assert http.get("/dashboard/static/app.js").status_code == 200
        missing = http.get("/dashboard/static/..%2Fapp.py")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert http.get("/dashboard/static/nothing.js").status_code == 404


async def test_wrong_token_shows_the_api_error(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    await sign_in(page, gateway, "wga_not_a_real_token", expect_ok=False)
    error = page.locator("#signin-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("invalid token")
    await expect(page.locator("#app")).to_be_hidden()
    await screenshot(page, artifacts, "01-signin-wrong-token")
    assert await low_contrast(page) == []
    stored = await page.evaluate("sessionStorage.getItem('wagate.token')")
    assert stored is None


async def test_instance_lifecycle_qr_rotates_scan_connects_live(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = unique("dash")
    await sign_in(page, gateway)
    await expect(page.locator("#who-label")).to_have_text("Signed in as admin")
    assert await page.evaluate("sessionStorage.getItem('wagate.token')") == ADMIN_TOKEN
    await create_in_page(page, name)
    await expect(page.locator("#create-token")).to_be_visible()
    row = page.locator(f'#instance-list button[data-name="{name}"]')
    await expect(row).to_contain_text("Disconnected")

    # Connect: the QR code appears, with the time it has left, and rotates live.
    await page.get_by_role("button", name="Connect", exact=True).click()
    qr = page.locator("#qr-image")
    await expect(qr).to_be_visible()
    await expect(qr).to_have_attribute("src", DATA_URL_PNG)
    await expect(page.locator("#qr-left")).to_contain_text("This code changes in")
    await expect(row).to_contain_text("Waiting for a scan")
    first_code = await qr.get_attribute("data-code")
    await screenshot(page, artifacts, "02-qr")
    assert await low_contrast(page) == []
    await expect(qr).not_to_have_attribute("data-code", first_code or "", timeout=10_000)

    # A phone scans it (the simulator's scan route): connected shows up without a reload.
    await page.evaluate("window.__noReload = 1")
    with gateway.http() as http:
        scan = http.post(f"/v1/instances/{name}/simulator/scan", json={"phone": "+4915112345678"})
        assert scan.status_code == 204, scan.text
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await expect(row).to_contain_text("Connected")
    await expect(page.locator("#conn-phone")).to_contain_text("4915112345678")
    await expect(page.locator("#qr-box")).to_be_hidden()
    assert await page.evaluate("window.__noReload") == 1, "the page was not reloaded"
    await expect(page.locator("#event-log")).to_contain_text("connection_update")
    await screenshot(page, artifacts, "03-connected")
    assert await low_contrast(page) == []

    # Disconnect keeps the session; the list follows live.
    await page.get_by_role("tab", name="Connection").click()
    await page.get_by_role("button", name="Disconnect").click()
    await expect(page.locator("#detail-status")).to_have_text("Disconnected")

    # Delete asks first; cancelling keeps it, confirming removes it.
    await page.get_by_role("button", name="Delete instance").click()
    dialog = page.locator("dialog#confirm")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(row).to_be_visible()
    await page.get_by_role("button", name="Delete instance").click()
    await dialog.get_by_role("button", name="Delete").click()
    await expect(row).to_have_count(0)
    with gateway.http() as http:
        assert http.get(f"/v1/instances/{name}").status_code == 404


async def test_action_errors_show_next_to_the_action(page: Page, gateway: Gateway) -> None:
    await sign_in(page, gateway)
    await page.get_by_label("Name", exact=True).fill("Bad Name!")
    await page.get_by_role("button", name="Create", exact=True).click()
    await expect(page.locator("#create-error")).to_contain_text("validation_error")

    name = unique("dash-err")
    await create_in_page(page, name)
    # Creating the same name again: the API's 409 message, next to the form.
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_role("button", name="Create", exact=True).click()
    await expect(page.locator("#create-error")).to_contain_text("conflict")
    # Asking for a pairing code while not waiting for a scan: 409 not_pairing, next to it.
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#qr-box")).to_be_visible()
    with gateway.http() as http:
        assert http.post(f"/v1/instances/{name}/disconnect").status_code == 200
    await expect(page.locator("#detail-status")).to_have_text("Disconnected")
    await expect(page.locator("#qr-box")).to_be_hidden()


async def test_pairing_by_phone_code(page: Page, gateway: Gateway) -> None:
    await sign_in(page, gateway)
    name = unique("dash-pair")
    await create_in_page(page, name)
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#qr-box")).to_be_visible()
    await page.get_by_label("Phone number (international)").fill("+4915112340001")
    await page.get_by_role("button", name="Get code").click()
    await expect(page.locator("#pair-code")).to_have_text(PAIR_CODE)
    with gateway.http() as http:
        assert http.post(f"/v1/instances/{name}/disconnect").status_code == 200


async def test_instance_token_sees_only_its_instance(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    with gateway.http() as http:
        mine = http.post("/v1/instances", json={"name": unique("own"), "engine": "simulator"})
        other = http.post("/v1/instances", json={"name": unique("other"), "engine": "simulator"})
    assert mine.status_code == 201 and other.status_code == 201
    await sign_in(page, gateway, mine.json()["token"])
    await expect(page.locator("#who-label")).to_contain_text(mine.json()["name"])
    await expect(page.locator("#instance-list button")).to_have_count(1)
    await expect(page.locator("#create-box")).to_be_hidden()
    await expect(page.locator("#conn-delete")).to_be_hidden()
    await expect(page.locator("#detail-title")).to_have_text(mine.json()["name"])

    # Sign-out forgets the token.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('wagate.token')") is None
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_phone_sized_screen(page: Page, gateway: Gateway, artifacts: Path) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page, gateway)
    name = unique("dash-phone")
    await create_in_page(page, name)
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#qr-image")).to_be_visible()
    # Nothing is wider than the screen.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    box = await page.locator("#qr-image").bounding_box()
    assert box is not None and box["width"] >= 250, box
    await screenshot(page, artifacts, "06-phone-qr")
    await page.get_by_role("tab", name="Send").click()
    await screenshot(page, artifacts, "07-phone-send")
    with gateway.http() as http:
        assert http.post(f"/v1/instances/{name}/disconnect").status_code == 200


async def test_keyboard_reaches_sign_in(page: Page, gateway: Gateway) -> None:
    await page.goto(f"{gateway.url}/dashboard")
    await expect(page.get_by_label("Token")).to_be_focused()
    await page.keyboard.type(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    await expect(page.locator("#who-label")).to_have_text("Signed in as admin")
    # Tab through the page: every control the user needs is reachable.
    seen: set[str] = set()
    for _ in range(40):
        await page.keyboard.press("Tab")
        seen.add(
            await page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
    assert {"sign-out", "create-name", "list-refresh"} <= seen, seen


async def test_keyboard_on_a_phone_sized_screen(page: Page, gateway: Gateway) -> None:
    name = linked_instance(gateway, unique("keys"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#detail-title")).to_have_text(name)
    # Arrow keys move between the tabs; Tab then goes into the open panel.
    await page.locator("#tab-connection").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("#tab-send")).to_be_focused()
    await expect(page.locator("#panel-send")).to_be_visible()
    await page.locator("#main").focus()
    seen: dict[str, bool] = {}
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUSED)
        if not focused:
            break
        seen[focused["id"]] = focused["shown"]
    wanted = {"list-refresh", name, "tab-send", "send-kind", "send-to", "send-text"}
    wanted |= {"More options", "send-async", "Send"}
    assert wanted <= set(seen), sorted(seen)
    # Every stop shows where the focus is.
    assert all(seen.values()), [key for key, shown in seen.items() if not shown]
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390


async def test_last_error_in_plain_words(page: Page, gateway: Gateway, artifacts: Path) -> None:
    name = linked_instance(gateway, unique("unlinked"))
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await expect(page.locator("#conn-problem")).to_be_hidden()
    # The phone unlinks the device: the page says so, live, in words.
    with gateway.http() as http:
        unlink = http.post(f"/v1/instances/{name}/simulator/faults", json={"logout": True})
        assert unlink.status_code in (200, 204), unlink.text
    await expect(page.locator("#detail-status")).to_have_text("Logged out")
    await expect(page.locator("#conn-problem")).to_contain_text("The device was unlinked")
    await expect(page.locator("#conn-phone")).to_have_text("—")
    await screenshot(page, artifacts, "10-logged-out")
    assert await low_contrast(page) == []


async def test_restart_reconnects_without_a_scan(page: Page, gateway: Gateway) -> None:
    name = linked_instance(gateway, unique("restart"))
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await page.get_by_role("button", name="Restart", exact=True).click()
    await expect(page.locator("#event-log")).to_contain_text("Connecting")
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await expect(page.locator("#conn-error")).to_be_hidden()
    await expect(page.locator("#qr-box")).to_be_hidden()
