"""The dashboard's Groups tab in headless Chromium: list, members with roles, create, add,
promote, remove, the invite link, leave; and a change made elsewhere shows up live."""

from __future__ import annotations

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


async def test_groups_tab(page: Page, gateway: Gateway, artifacts: Path) -> None:
    name = linked_instance(gateway, unique("grp"), phone="+4915100000042")
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await page.get_by_role("tab", name="Groups").click()
    await expect(page.locator("#grp-empty")).to_be_visible()

    await page.locator("#grp-create-box summary").click()
    await page.get_by_label("Subject", exact=True).fill("Dashboard club")
    await page.get_by_label("Participants", exact=True).fill("+49 151 2345678, +49 151 1230000")
    await page.get_by_role("button", name="Create group").click()
    await expect(page.locator("#grp-create-error")).to_be_hidden()
    await expect(page.locator("#grp-create-note")).to_contain_text("not on WhatsApp")
    await expect(page.locator("#grp-rows tr")).to_have_count(1)
    await expect(page.locator("#grp-title")).to_have_text("Dashboard club")
    members = page.locator("#grp-member-rows tr")
    await expect(members).to_have_count(2)
    await expect(members.filter(has_text="this instance")).to_contain_text("Creator")
    await expect(members.filter(has_text="+4915123456")).to_contain_text("Member")

    await page.get_by_role("button", name="Make +491512345678 admin").click()
    await expect(members.filter(has_text="+4915123456")).to_contain_text("Admin")
    await page.get_by_label("Add participants").fill("+49 160 1112223")
    await page.get_by_role("button", name="Add", exact=True).click()
    await expect(members).to_have_count(3)
    await page.get_by_role("button", name="Remove +491601112223").click()
    await expect(members).to_have_count(2)

    await page.get_by_role("button", name="Show invite link").click()
    await expect(page.locator("#grp-invite-link")).to_contain_text("https://chat.whatsapp.com/")
    await screenshot(page, artifacts, "40-groups")
    assert await low_contrast(page) == []

    # Nothing wider than a phone's screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.set_viewport_size({"width": 1280, "height": 900})

    # A change made by someone else arrives as an event and the tab follows it.
    jid = (await page.locator("#grp-jid").text_content()) or ""
    with gateway.http() as http:
        changed = http.patch(f"/v1/instances/{name}/groups/{jid}", json={"subject": "Renamed"})
        assert changed.status_code == 200, changed.text
    await expect(page.locator("#grp-title")).to_have_text("Renamed")

    await page.get_by_role("button", name="Leave group").click()
    await page.locator("#confirm-ok").click()
    await expect(page.locator("#grp-detail")).to_be_hidden()
    await expect(page.locator("#grp-empty")).to_be_visible()
