"""The dashboard's sign-in requests, the simulator's scan button, paging of the delivery log
and of the dead letters, and retrying all dead letters, in headless Chromium.

This module has its own gateway (a fresh database): the first test needs an admin who sees
exactly one instance, as an instance token does.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, Response, expect

from tests.browser.conftest import (
    Gateway,
    Receiver,
    linked_instance,
    low_contrast,
    screenshot,
    sign_in,
    unique,
)
from tests.conftest import ADMIN_TOKEN
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PAGE_SIZE = 50  # what the page asks for per page (records.js through api.js)


def record_responses(page: Page) -> list[str]:
    seen: list[str] = []

    def keep(response: Response) -> None:
        seen.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", keep)
    return seen


def failed(seen: list[str]) -> list[str]:
    return [line for line in seen if int(line.split()[0]) >= 400]


async def settle(page: Page) -> None:
    """Let the requests the sign-in started (instance, event stream, QR) be answered."""
    await page.wait_for_timeout(1500)


async def test_sign_in_sends_no_failing_request(page: Page, gateway: Gateway) -> None:
    with gateway.http() as http:
        made = http.post("/v1/instances", json={"name": unique("only"), "engine": "simulator"})
        assert made.status_code == 201, made.text
        # The admin sees exactly one instance, as an instance token does.
        assert len(http.get("/v1/instances").json()["instances"]) == 1
    name, token = made.json()["name"], made.json()["token"]

    seen = record_responses(page)
    await sign_in(page, gateway, ADMIN_TOKEN)
    await expect(page.locator("#who-label")).to_have_text("Signed in as admin")
    await expect(page.locator("#create-box")).to_be_visible()
    await expect(page.locator("#detail-title")).to_have_text(name)
    await settle(page)
    # The list, a page of the largest size at a time.
    assert any(" GET " in line and line.endswith("/v1/instances?limit=1000") for line in seen), seen
    assert failed(seen) == [], seen

    await page.get_by_role("button", name="Sign out").click()
    seen.clear()
    await sign_in(page, gateway, token)
    await expect(page.locator("#who-label")).to_have_text(f"Signed in to instance {name}")
    await expect(page.locator("#create-box")).to_be_hidden()
    await expect(page.locator("#conn-delete")).to_be_hidden()
    await settle(page)
    assert any(line.endswith("/v1/instances?limit=1000") for line in seen), seen
    assert failed(seen) == [], seen

    # A wrong token: one 401, and a message that says what to do.
    await page.get_by_role("button", name="Sign out").click()
    seen.clear()
    await sign_in(page, gateway, "wgi_not_a_real_token", expect_ok=False)
    error = page.locator("#signin-error")
    await expect(error).to_contain_text("This token is not accepted (invalid token)")
    await expect(error).to_contain_text("Paste the admin token or an instance token")
    await expect(page.locator("#app")).to_be_hidden()
    assert [line.split()[0] for line in failed(seen)] == ["401"], seen


async def test_simulate_scan_links_the_instance(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = unique("scan")
    with gateway.http() as http:
        assert http.post("/v1/instances", json={"name": name, "engine": "simulator"}).is_success
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-title")).to_have_text(name)
    scan = page.get_by_role("button", name="Simulate scan")
    await expect(scan).to_be_hidden()  # not pairing: no code to scan

    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.locator("#qr-image")).to_be_visible()
    await expect(scan).to_be_visible()
    await page.get_by_label("Phone number of the simulated phone (optional)").fill(
        "+49 151 2223334"
    )
    await screenshot(page, artifacts, "10-simulate-scan")
    assert await low_contrast(page) == []
    await page.evaluate("window.__noReload = 1")
    await scan.click()
    await expect(page.locator("#sim-error")).to_be_hidden()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await expect(page.locator(f'#instance-list button[data-name="{name}"]')).to_contain_text(
        "Connected"
    )
    await expect(page.locator("#conn-phone")).to_contain_text("491512223334")
    await expect(page.locator("#qr-box")).to_be_hidden()
    assert await page.evaluate("window.__noReload") == 1, "the page was not reloaded"
    with gateway.http() as http:
        assert http.get(f"/v1/instances/{name}").json()["status"] == "connected"


async def test_delivery_log_loads_more(page: Page, gateway: Gateway, receiver: Receiver) -> None:
    name = linked_instance(gateway, unique("pages"))
    count = PAGE_SIZE + 3
    with gateway.http() as http:
        hook = http.put(f"/v1/instances/{name}/webhook", json={"url": receiver.url})
        assert hook.status_code == 200, hook.text
        for i in range(count):
            inbound = http.post(
                f"/v1/instances/{name}/simulator/inbound",
                json={"from": "+4915199999999", "text": f"m{i}"},
            )
            assert inbound.status_code in (200, 201), inbound.text
        wait_until(
            http,
            f"/v1/instances/{name}/webhook/deliveries?status=delivered&limit=1000",
            "deliveries",
            count,
        )
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await page.get_by_role("tab", name="Webhook").click()
    rows = page.locator("#dlv-rows tr")
    await expect(rows).to_have_count(PAGE_SIZE)
    more = page.locator("#dlv-more")
    await expect(more).to_be_visible()
    await more.click()
    await expect(rows).to_have_count(count)
    await expect(more).to_be_hidden()
    ids = await rows.evaluate_all("(rows) => rows.map((r) => r.dataset.deliveryId)")
    assert len(set(ids)) == count


async def test_dead_letters_load_more_and_retry_all(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("deadall"))
    count = PAGE_SIZE + 2
    with gateway.http() as http:
        faults = http.post(
            f"/v1/instances/{name}/simulator/faults",
            json={"fail_next": count, "fail_kind": "permanent"},
        )
        assert faults.status_code in (200, 204), faults.text
        batch = http.post(
            f"/v1/instances/{name}/send/batch?async=true",
            json={
                "messages": [
                    {"kind": "text", "to": "+4915112345678", "text": f"d{i}"} for i in range(count)
                ]
            },
        )
        assert batch.status_code == 202, batch.text
        wait_until(http, f"/v1/dead-letters?instance={name}&limit=1000", "dead_letters", count)
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await page.get_by_role("tab", name="Dead letters").click()
    rows = page.locator("#dead-rows tr")
    await expect(rows).to_have_count(PAGE_SIZE)
    more = page.locator("#dead-more")
    await expect(more).to_be_visible()
    await more.click()
    await expect(rows).to_have_count(count)
    await expect(more).to_be_hidden()

    # Retry all asks first; cancelling retries nothing.
    retry_all = page.get_by_role("button", name="Retry all")
    dialog = page.locator("dialog#confirm")
    await retry_all.click()
    await expect(dialog).to_contain_text("Retry all dead letters?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(rows).to_have_count(count)
    await retry_all.click()
    await screenshot(page, artifacts, "11-dead-letters-retry-all")
    await dialog.get_by_role("button", name="Retry all").click()
    await expect(page.locator("#dead-ok")).to_have_text(f"{count} messages queued again.")
    await expect(rows).to_have_count(0)
    await expect(page.locator("#dead-empty")).to_be_visible()
    await expect(retry_all).to_be_hidden()
    with gateway.http() as http:
        assert http.get("/v1/dead-letters", params={"instance": name}).json()["dead_letters"] == []
        wait_until(http, f"/v1/instances/{name}/messages?status=read&limit=500", "messages", count)


def wait_until(http: httpx.Client, path: str, key: str, count: int, timeout: float = 20) -> None:
    eventually_sync(
        lambda: len(http.get(path).json()[key]) >= count,
        timeout=timeout,
        interval=0.1,
        what=f"{count} {key} at {path}",
    )
