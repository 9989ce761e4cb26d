"""The dashboard's send, messages, webhook and dead-letter screens in headless Chromium.

These need the send routes, message records, webhooks and dead letters of API.md (the
messaging and webhooks features).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    PIXEL,
    Gateway,
    Receiver,
    linked_instance,
    low_contrast,
    screenshot,
    sign_in,
    unique,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def open_instance(page: Page, gateway: Gateway, name: str, tab: str) -> None:
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-title")).to_have_text(name)
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await page.get_by_role("tab", name=tab).click()


async def test_send_text_sync_and_async_reaches_read(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("msg"))
    await open_instance(page, gateway, name, "Send")
    await page.get_by_label("To", exact=True).fill("+49 151 7654321")
    await page.get_by_label("Text", exact=True).fill("hello from the dashboard")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-error")).to_be_hidden()
    tracked = page.locator("#send-tracker > li").first
    await expect(tracked).to_have_attribute("data-status", "read", timeout=15_000)
    await expect(tracked.locator(".steps li.done")).to_have_count(4)

    # Asynchronously: answered at once as queued, then moved on to read by the events.
    await page.get_by_label("Asynchronous").check()
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-tracker > li")).to_have_count(2)
    await expect(page.locator("#send-tracker > li").first).to_have_attribute(
        "data-status", "read", timeout=15_000
    )
    await screenshot(page, artifacts, "04-send-read")

    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    assert [m["kind"] for m in outbox] == ["text", "text"]

    # The Messages tab lists both, with their status.
    await page.get_by_role("tab", name="Messages").click()
    await expect(page.locator("#msg-rows tr")).to_have_count(2)
    await expect(page.locator('#msg-rows tr[data-status="read"]')).to_have_count(2)
    await screenshot(page, artifacts, "05-messages")
    assert await low_contrast(page) == []

    # On a phone the table becomes one card a message, and nothing is wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.get_by_role("tab", name="Send").click()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, artifacts, "05-phone-send-read")
    await page.get_by_role("tab", name="Messages").click()
    await screenshot(page, artifacts, "05-phone-messages")


async def test_send_a_file_picked_from_disk(
    page: Page, gateway: Gateway, tmp_path: Path, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("file"))
    picture = tmp_path / "pixel.png"
    picture.write_bytes(PIXEL)
    await open_instance(page, gateway, name, "Send")
    await page.get_by_label("Kind").select_option("image")
    await page.get_by_label("To", exact=True).fill("+4915176543210")
    await page.get_by_label("File", exact=True).set_input_files(str(picture))
    await page.get_by_label("Caption").fill("a tiny picture")
    await screenshot(page, artifacts, "07-send-file")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-error")).to_be_hidden()
    await expect(page.locator("#send-tracker > li").first).to_have_attribute(
        "data-status", "read", timeout=15_000
    )
    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    assert [m["kind"] for m in outbox] == ["image"]


async def test_send_a_view_once_picture(page: Page, gateway: Gateway, tmp_path: Path) -> None:
    name = linked_instance(gateway, unique("once"))
    picture = tmp_path / "pixel.png"
    picture.write_bytes(PIXEL)
    await open_instance(page, gateway, name, "Send")
    view_once = page.get_by_label("View once")
    await expect(view_once).to_be_hidden()  # text: no such option
    await page.get_by_label("Kind").select_option("document")
    await expect(view_once).to_be_hidden()
    await page.get_by_label("Kind").select_option("image")
    await page.get_by_label("To", exact=True).fill("+4915176543210")
    await page.get_by_label("File", exact=True).set_input_files(str(picture))
    await view_once.check()
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-error")).to_be_hidden()
    await expect(page.locator("#send-tracker > li").first).to_have_attribute(
        "data-status", "read", timeout=15_000
    )
    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    assert [(m["kind"], m["body"].get("view_once")) for m in outbox] == [("image", True)]


async def test_send_mentions_and_reply_to_reach_the_api(
    page: Page, gateway: Gateway, tmp_path: Path
) -> None:
    name = linked_instance(gateway, unique("mention"))
    picture = tmp_path / "pixel.png"
    picture.write_bytes(PIXEL)
    await open_instance(page, gateway, name, "Send")
    await page.get_by_label("To", exact=True).fill("+4915176543210")
    await page.get_by_label("Text", exact=True).fill("hi @4915111111111 and @4915122222222")
    await page.get_by_text("More options").click()
    # Numbers as people type them: spaces inside, commas between.
    await page.get_by_label("Mentions").fill("+49 151 11111111, +49 151 22222222")
    await page.get_by_label("Reply to message id").fill("3EB0QUOTED0001")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-tracker > li").first).to_have_attribute(
        "data-status", "read", timeout=15_000
    )
    # The same fields on a picked file, which goes as multipart/form-data.
    await page.get_by_label("Kind").select_option("image")
    await page.get_by_label("File", exact=True).set_input_files(str(picture))
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-tracker > li")).to_have_count(2)
    await expect(page.locator("#send-tracker > li").first).to_have_attribute(
        "data-status", "read", timeout=15_000
    )
    await expect(page.locator("#send-error")).to_be_hidden()
    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    mentioned = ["4915111111111@s.whatsapp.net", "4915122222222@s.whatsapp.net"]
    assert [(m["kind"], m["body"]["mentions"], m["body"]["reply_to"]) for m in outbox] == [
        ("text", mentioned, "3EB0QUOTED0001"),
        ("image", mentioned, "3EB0QUOTED0001"),
    ]


async def test_send_error_is_shown_next_to_the_form(page: Page, gateway: Gateway) -> None:
    name = linked_instance(gateway, unique("offline"))
    await open_instance(page, gateway, name, "Send")
    with gateway.http() as http:
        assert http.post(f"/v1/instances/{name}/disconnect").status_code == 200
    await expect(page.locator("#detail-status")).to_have_text("Disconnected")
    await page.get_by_label("To", exact=True).fill("+4915112345678")
    await page.get_by_label("Text", exact=True).fill("nobody is listening")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-error")).to_contain_text("instance_not_connected")
    # A bad number: the API's validation message names the field.
    await page.get_by_label("To", exact=True).fill("not a number")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#send-error")).to_contain_text("validation_error")


async def test_webhook_settings_and_delivery_log(
    page: Page, gateway: Gateway, receiver: Receiver, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("hook"))
    await open_instance(page, gateway, name, "Webhook")
    await expect(page.locator("#hook-current")).to_have_text("No webhook for this instance.")
    await page.get_by_label("Webhook URL").fill(receiver.url)
    await page.get_by_label("message_received").check()
    await page.get_by_label("Signing secret").fill("s3cret-for-the-test")
    await page.get_by_role("button", name="Save webhook").click()
    await expect(page.locator("#hook-ok")).to_have_text("Webhook saved.")
    await expect(page.locator("#hook-current")).to_contain_text("signed with a secret")

    # A message arrives: its delivery shows up in the log without pressing anything.
    with gateway.http() as http:
        inbound = http.post(
            f"/v1/instances/{name}/simulator/inbound", json={"from": "+4915199999999", "text": "hi"}
        )
        assert inbound.status_code in (200, 201), inbound.text
    row = page.locator('#dlv-rows tr[data-status="delivered"]')
    await expect(row).to_have_count(1, timeout=15_000)
    await expect(row).to_contain_text("message_received")
    await expect(row).to_contain_text("HTTP 200")
    deadline = time.monotonic() + 5
    while not receiver.events("message_received") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.events("message_received")[0]["data"]["text"] == "hi"
    await screenshot(page, artifacts, "08-webhook")
    assert await low_contrast(page) == []

    # Redeliver sends it again.
    await row.get_by_role("button", name="Redeliver").click()
    await expect(row.locator(".error")).to_be_hidden()
    deadline = time.monotonic() + 10
    while len(receiver.events("message_received")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.events("message_received")) == 2

    # Remove it (with confirmation).
    await page.get_by_role("button", name="Remove webhook").click()
    await page.locator("dialog#confirm").get_by_role("button", name="Remove").click()
    await expect(page.locator("#hook-current")).to_have_text("No webhook for this instance.")
    with gateway.http() as http:
        assert http.get(f"/v1/instances/{name}/webhook").status_code == 404


async def test_dead_letters_retry_and_delete(page: Page, gateway: Gateway, artifacts: Path) -> None:
    name = linked_instance(gateway, unique("dead"))
    with gateway.http() as http:
        faults = http.post(
            f"/v1/instances/{name}/simulator/faults",
            json={"fail_next": 2, "fail_kind": "permanent"},
        )
        assert faults.status_code in (200, 204), faults.text
    await open_instance(page, gateway, name, "Send")
    await page.get_by_label("Asynchronous").check()
    for text in ("first", "second"):
        await page.get_by_label("To", exact=True).fill("+4915112345678")
        await page.get_by_label("Text", exact=True).fill(text)
        await page.get_by_role("button", name="Send", exact=True).click()
    failed = page.locator('#send-tracker > li[data-status="failed"]')
    await expect(failed).to_have_count(2, timeout=15_000)

    await page.get_by_role("tab", name="Dead letters").click()
    rows = page.locator("#dead-rows tr")
    await expect(rows).to_have_count(2)
    await screenshot(page, artifacts, "09-dead-letters")
    assert await low_contrast(page) == []

    # Retry one: it leaves the dead letters and, the fault used up, is sent.
    await rows.first.get_by_role("button", name="Retry").click()
    await expect(rows).to_have_count(1)
    # Delete the other, after confirming.
    await rows.first.get_by_role("button", name="Delete").click()
    await page.locator("dialog#confirm").get_by_role("button", name="Delete").click()
    await expect(rows).to_have_count(0)
    await expect(page.locator("#dead-empty")).to_be_visible()
    with gateway.http() as http:
        listed = http.get("/v1/dead-letters", params={"instance": name}).json()
    assert listed["dead_letters"] == []
