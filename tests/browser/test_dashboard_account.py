"""The dashboard's Account tab in headless Chromium: the profile and privacy of the linked
account, saved through the API, and a contact's card that follows the contact's changes."""

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

CONTACT = "5511955554444"


async def test_profile_privacy_and_contact_card(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("acct"))
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await page.get_by_role("tab", name="Account").click()
    await expect(page.locator("#profile-jid")).to_contain_text("@s.whatsapp.net")

    panel = page.get_by_role("tabpanel", name="Account")
    await panel.get_by_label("Profile name").fill("Acme support")
    await panel.get_by_label("About text").fill("We answer 9-17")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.locator("#profile-ok")).to_have_text("Profile saved.")

    await expect(page.locator("#privacy-last_seen")).to_have_value("all")
    await page.locator("#privacy-last_seen").select_option("contacts")
    await page.locator("#privacy-calls").select_option("known")
    await page.get_by_role("button", name="Save privacy").click()
    await expect(page.locator("#privacy-ok")).to_have_text("Privacy saved.")

    with gateway.http() as http:
        profile = http.get(f"/v1/instances/{name}/profile").json()
        assert (profile["name"], profile["about"]) == ("Acme support", "We answer 9-17")
        privacy = http.get(f"/v1/instances/{name}/privacy").json()
        assert (privacy["last_seen"], privacy["calls"]) == ("contacts", "known")

    await panel.get_by_label("Phone number or JID").fill(f"+{CONTACT}")
    await page.get_by_role("button", name="Look up").click()
    card = page.locator("#contact-card")
    await expect(card).to_contain_text(f"{CONTACT}@s.whatsapp.net")
    await expect(card).to_contain_text("@lid")
    # The contact changes its name: the card shown follows the contact_update event.
    with gateway.http() as http:
        changed = http.patch(
            f"/v1/instances/{name}/simulator/contacts/{CONTACT}", json={"push_name": "Ana"}
        )
        assert changed.status_code == 204, changed.text
    await expect(card).to_contain_text("Ana")
    await screenshot(page, artifacts, "40-account")
    assert await low_contrast(page) == []

    await panel.get_by_label("Phone number or JID").fill("not a number")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.locator("#contact-error")).to_contain_text("contact")
