"""The Messages tab's actions after the send (edit, delete, forward) in headless Chromium,
against a real gateway on the simulator: what the page does reaches the simulated network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.conftest import Gateway, linked_instance, low_contrast, screenshot, unique
from tests.browser.test_dashboard_messaging import open_instance

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TO = "+4915176543210"


def send_text(gateway: Gateway, name: str, text: str, *, queued: bool = False) -> str:
    with gateway.http() as http:
        query = "?async=true" if queued else ""
        sent = http.post(f"/v1/instances/{name}/send/text{query}", json={"to": TO, "text": text})
        assert sent.status_code == (202 if queued else 200), sent.text
        correlation_id: str = sent.json()["correlation_id"]
    return correlation_id


def outbox(gateway: Gateway, name: str, kind: str) -> list[dict[str, Any]]:
    with gateway.http() as http:
        messages = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    return [m["body"] for m in messages if m["kind"] == kind]


def row(page: Page, correlation_id: str) -> Locator:
    return page.locator(f'#msg-rows tr[data-correlation-id="{correlation_id}"]')


async def confirm(page: Page, label: str) -> None:
    dialog = page.locator("#confirm")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name=label).click()


async def test_edit_delete_and_forward_from_the_message_list(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("after"))
    typo = send_text(gateway, name, "helo")
    oops = send_text(gateway, name, "oops")
    kept = send_text(gateway, name, "pass it on")
    await open_instance(page, gateway, name, "Messages")
    await expect(page.locator("#msg-rows tr")).to_have_count(3)

    # Edit: the new text goes to the chat and the row says what it was edited to.
    await row(page, typo).get_by_role("button", name="Edit").click()
    await row(page, typo).get_by_label("New text").fill("hello")
    await row(page, typo).get_by_role("button", name="Save").click()
    await expect(row(page, typo)).to_contain_text("Edited to “hello”")
    assert [(e["text"]) for e in outbox(gateway, name, "edit")] == ["hello"]

    # Delete for everyone: confirmed first, then revoked; it can no longer be edited.
    await row(page, oops).get_by_role("button", name="Delete for everyone").click()
    await confirm(page, "Delete for everyone")
    await expect(row(page, oops)).to_contain_text("Deleted for everyone")
    await expect(row(page, oops).get_by_role("button", name="Edit")).to_have_count(0)
    assert len(outbox(gateway, name, "revoke")) == 1

    # Forward: a bad number is a clear error in the row; a good one forwards it.
    await row(page, kept).get_by_role("button", name="Forward").click()
    await row(page, kept).get_by_label("Forward to").fill("not a number")
    await row(page, kept).get_by_role("button", name="Forward", exact=True).last.click()
    error = row(page, kept).locator(".error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("validation_error")
    await screenshot(page, artifacts, "30-message-forward-error")
    await row(page, kept).get_by_label("Forward to").fill("+49 151 00000002")
    await row(page, kept).get_by_role("button", name="Forward", exact=True).last.click()
    await expect(row(page, kept)).to_contain_text("Forwarded to 4915100000002@s.whatsapp.net")
    await expect(row(page, kept).locator(".error")).to_be_hidden()
    forwards = outbox(gateway, name, "forward")
    assert len(forwards) == 1 and forwards[0]["content"]["text"] == "pass it on"

    # Delete for me: recorded, nothing more goes to the network.
    await row(page, kept).get_by_role("button", name="Delete for me").click()
    await confirm(page, "Delete for me")
    await expect(row(page, kept)).to_contain_text("Deleted on this device")
    assert len(outbox(gateway, name, "revoke")) == 1
    await screenshot(page, artifacts, "31-message-actions")
    assert await low_contrast(page) == []


async def test_a_queued_send_is_cancelled_from_the_list(page: Page, gateway: Gateway) -> None:
    name = linked_instance(gateway, unique("cancel"))
    with gateway.http() as http:
        faults = http.post(f"/v1/instances/{name}/simulator/faults", json={"send_latency_ms": 8000})
        assert faults.status_code == 200, faults.text
    slow = send_text(gateway, name, "slow", queued=True)
    waiting = send_text(gateway, name, "never", queued=True)
    await open_instance(page, gateway, name, "Messages")
    await row(page, waiting).get_by_role("button", name="Cancel send").click()
    await confirm(page, "Cancel send")
    await expect(row(page, waiting)).to_have_attribute("data-status", "cancelled")
    await expect(row(page, waiting)).to_contain_text("Cancelled before it was sent")
    await expect(row(page, waiting).get_by_role("button")).to_have_count(0)
    with gateway.http() as http:
        http.post(f"/v1/instances/{name}/simulator/faults", json={"send_latency_ms": 0})
    await expect(row(page, slow)).to_have_attribute("data-status", "read", timeout=20_000)
    assert [m["text"] for m in outbox(gateway, name, "text")] == ["slow"]
