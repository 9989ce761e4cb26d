"""The instance list follows instances that are not selected (its own gateway: a known list)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Gateway, sign_in, unique

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_list_follows_other_instances_live(page: Page, gateway: Gateway) -> None:
    with gateway.http() as http:
        names = [unique("live-a"), unique("live-b")]
        for name in names:
            created = http.post("/v1/instances", json={"name": name, "engine": "simulator"})
            assert created.status_code == 201, created.text
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{names[0]}"]').click()
    other = page.locator(f'#instance-list button[data-name="{names[1]}"]')
    await expect(other).to_contain_text("Disconnected")
    # The instance that is not selected changes through the API: its row follows, no reload.
    await page.evaluate("window.__noReload = 1")
    with gateway.http() as http:
        assert http.post(f"/v1/instances/{names[1]}/connect").status_code == 202
    await expect(other).to_contain_text("Waiting for a scan")
    with gateway.http() as http:
        assert http.post(f"/v1/instances/{names[1]}/disconnect").status_code == 200
    await expect(other).to_contain_text("Disconnected")
    assert await page.evaluate("window.__noReload") == 1
