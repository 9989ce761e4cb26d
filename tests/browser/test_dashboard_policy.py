"""The dashboard's Policy tab in headless Chromium: the policy changed through the page,
a pause of the circuit breaker shown as it happens, and resumed from the page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    Gateway,
    linked_instance,
    low_contrast,
    screenshot,
    sign_in,
    unique,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_send_policy_tab(page: Page, gateway: Gateway, artifacts: Path) -> None:
    name = linked_instance(gateway, unique("policy"))
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await page.get_by_role("tab", name="Policy").click()
    await expect(page.locator("#policy-state")).to_have_text("Sending.")

    editor = page.get_by_label("Policy (JSON; null removes a limit)")
    policy = json.loads(await editor.input_value())
    policy["per_day"] = 250
    await editor.fill(json.dumps(policy))
    await page.get_by_role("button", name="Save policy").click()
    await expect(page.locator("#policy-ok")).to_have_text("Send policy saved.")
    await expect(page.locator("#policy-facts")).to_contain_text("of 250")
    with gateway.http() as http:
        assert http.get(f"/v1/instances/{name}/send-policy").json()["policy"]["per_day"] == 250
        faults = {"fail_next": 1, "fail_kind": "rate_limited"}
        assert http.post(f"/v1/instances/{name}/simulator/faults", json=faults).is_success
        sent = http.post(
            f"/v1/instances/{name}/send/text?async=true", json={"to": "5511955554444", "text": "x"}
        )
        assert sent.status_code == 202, sent.text

    # The send_paused event shows the pause at once.
    await expect(page.locator("#policy-state")).to_contain_text("Paused (rate_limited)")
    await screenshot(page, artifacts, "50-send-policy")
    assert await low_contrast(page) == []
    await page.get_by_role("button", name="Resume sending").click()
    await expect(page.locator("#policy-state")).not_to_contain_text("Paused")

    await editor.fill("{not json")
    await page.get_by_role("button", name="Save policy").click()
    await expect(page.locator("#policy-error")).to_contain_text("Not JSON")
