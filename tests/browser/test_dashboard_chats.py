"""The dashboard's Chats tab in headless Chromium: the chat list with unread counts, a
conversation in both directions with its media, edits and revokes, paging back, search and a
reply sent in place. Messages arrive through the simulator's inbound route, as from contacts."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    PIXEL,
    Gateway,
    linked_instance,
    low_contrast,
    screenshot,
    sign_in,
    unique,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

ALICE = "4915111110001@s.whatsapp.net"
BOB = "4915122220002@s.whatsapp.net"
CAROL = "4915133330003@s.whatsapp.net"
REPORT = b"%PDF-1.4\n% a small report\n%%EOF\n"


def inbound(http: httpx.Client, name: str, body: dict[str, Any]) -> str:
    answer = http.post(f"/v1/instances/{name}/simulator/inbound", json=body)
    assert answer.status_code in (200, 201), answer.text
    message_id: str = answer.json()["message_id"]
    return message_id


def chats_of(http: httpx.Client, name: str) -> dict[str, dict[str, Any]]:
    return {c["jid"]: c for c in http.get(f"/v1/instances/{name}/chats").json()["chats"]}


def wait_until(check: Any, what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def conversation_of_two(gateway: Gateway, name: str) -> dict[str, str]:
    """Alice writes three texts (edits the first, deletes the last), Bob a text, a picture
    and a document; the history keeps them all before the page opens."""
    ids: dict[str, str] = {}
    with gateway.http() as http:
        ids["hello"] = inbound(
            http, name, {"from": ALICE, "text": "hello from alice", "push_name": "Alice"}
        )
        ids["there"] = inbound(http, name, {"from": ALICE, "text": "are you there?"})
        ids["gone"] = inbound(http, name, {"from": ALICE, "text": "this one goes away"})
        edit = http.post(
            f"/v1/instances/{name}/simulator/edit",
            json={"from": ALICE, "message_id": ids["hello"], "text": "hello again from alice"},
        )
        assert edit.status_code in (200, 201, 204), edit.text
        revoke = http.post(
            f"/v1/instances/{name}/simulator/revoke",
            json={"from": ALICE, "message_id": ids["gone"]},
        )
        assert revoke.status_code in (200, 201, 204), revoke.text
        ids["bob"] = inbound(http, name, {"from": BOB, "text": "bob says hi", "push_name": "Bob"})
        picture = {"base64": base64.b64encode(PIXEL).decode(), "mimetype": "image/png"}
        ids["picture"] = inbound(
            http,
            name,
            {"from": BOB, "kind": "image", "media": picture, "caption": "a picture from bob"},
        )
        report = {
            "base64": base64.b64encode(REPORT).decode(),
            "mimetype": "application/pdf",
            "filename": "report.pdf",
        }
        ids["report"] = inbound(http, name, {"from": BOB, "kind": "document", "media": report})

        def kept() -> bool:
            chats = chats_of(http, name)
            return ALICE in chats and BOB in chats and chats[BOB]["unread"] >= 3

        wait_until(kept, "both chats kept")
        revoked = f"/v1/instances/{name}/chats/{ALICE}/messages/{ids['gone']}"
        wait_until(lambda: http.get(revoked).json().get("revoked"), "the revoke kept")
    return ids


async def open_chats(page: Page, gateway: Gateway, name: str) -> None:
    await sign_in(page, gateway)
    await page.locator(f'#instance-list button[data-name="{name}"]').click()
    await expect(page.locator("#detail-status")).to_have_text("Connected")
    await page.get_by_role("tab", name="Chats").click()


def chat_button(page: Page, jid: str) -> Any:
    return page.locator(f'#chat-list button[data-jid="{jid}"]')


async def test_chat_list_conversation_reply_and_search(
    page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("chats"))
    ids = conversation_of_two(gateway, name)
    with gateway.http() as http:
        listed = chats_of(http, name)
    await open_chats(page, gateway, name)

    # Both chats, with the unread counts the API gives and the last message.
    for jid, who in ((ALICE, "Alice"), (BOB, "Bob")):
        button = chat_button(page, jid)
        await expect(button.locator(".chat-name")).to_have_text(who)
        await expect(button.locator(".unread")).to_have_text(str(listed[jid]["unread"]))
    assert listed[BOB]["unread"] == 3
    await expect(chat_button(page, BOB).locator(".chat-last")).to_have_text("Document")
    # Most recent activity first.
    await expect(page.locator("#chat-list button.chat-item").first).to_have_attribute(
        "data-jid", BOB
    )

    # Alice's conversation: her words as edited, the deleted one marked, oldest first.
    await chat_button(page, ALICE).click()
    await expect(page.locator("#chat-title")).to_have_text("Alice")
    rows = page.locator("#chat-messages > li")
    await expect(rows).to_have_count(3)
    first = rows.nth(0)
    await expect(first).to_have_attribute("data-message-id", ids["hello"])
    await expect(first).to_have_attribute("data-direction", "in")
    await expect(first.locator(".msg-body")).to_have_text("hello again from alice")
    await expect(first.locator(".mark")).to_have_text("edited")
    gone = rows.nth(2)
    await expect(gone).to_have_attribute("data-revoked", "true")
    await expect(gone.locator(".msg-body")).to_have_text("This message was deleted.")
    await expect(gone).not_to_contain_text("goes away")
    await expect(page.locator("#chat-older")).to_be_hidden()

    # A reply typed here goes through the send route to Alice and shows once it lands.
    await page.get_by_label("Reply", exact=True).fill("thanks, alice")
    await page.get_by_role("button", name="Send reply").click()
    mine = page.locator('#chat-messages > li[data-direction="out"]')
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".msg-body")).to_have_text("thanks, alice")
    await expect(rows).to_have_count(4)
    await expect(page.locator("#chat-reply-error")).to_be_hidden()
    await expect(page.get_by_label("Reply", exact=True)).to_have_value("")
    with gateway.http() as http:
        outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    assert [(m["kind"], m["to"], m["body"]["text"]) for m in outbox] == [
        ("text", ALICE, "thanks, alice")
    ]
    # Its receipts arrive as events and move its status on, without a reload.
    await expect(mine).to_have_attribute("data-status", "read", timeout=15_000)
    # Replying reads the chat: its unread count goes, live.
    await expect(chat_button(page, ALICE).locator(".unread")).to_have_count(0)
    await expect(chat_button(page, ALICE).locator(".chat-last")).to_have_text("You: thanks, alice")

    # A message arriving in the open chat shows at once.
    with gateway.http() as http:
        inbound(http, name, {"from": ALICE, "text": "you are welcome"})
    await expect(rows).to_have_count(5)
    await expect(rows.last.locator(".msg-body")).to_have_text("you are welcome")
    await screenshot(page, artifacts, "12-chats-conversation")

    # Bob's: the picture inline (fetched with the token), the document as a download link.
    await chat_button(page, BOB).click()
    await expect(page.locator("#chat-title")).to_have_text("Bob")
    picture = page.locator(f'#chat-messages > li[data-message-id="{ids["picture"]}"]')
    image = picture.locator("img.msg-image")
    await expect(image).to_have_attribute("alt", "a picture from bob")
    await expect(image).to_have_js_property("naturalWidth", 1)
    await expect(picture.locator(".msg-body")).to_have_text("a picture from bob")
    report = page.locator(f'#chat-messages > li[data-message-id="{ids["report"]}"]')
    link = report.get_by_role("link", name="Download report.pdf")
    await expect(link).to_be_visible()
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "report.pdf"
    assert Path(await download.path()).read_bytes() == REPORT
    await screenshot(page, artifacts, "13-chats-media")
    assert await low_contrast(page) == []

    # Search over the instance's messages; a result opens its chat at the message.
    await page.get_by_label("Search messages").fill("welc")
    await page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("#chats-results > li")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("you are welcome")
    await results.first.get_by_role("button").click()
    await expect(page.locator("#chat-title")).to_have_text("Alice")
    await expect(page.locator("#chat-messages > li.found .msg-body")).to_have_text(
        "you are welcome"
    )
    await page.get_by_label("Search messages").fill("nothing-like-this")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(results).to_have_count(0)
    await expect(page.locator("#chats-results-empty")).to_be_visible()
    # A query without a word is refused by the gateway, and the page says why.
    await page.get_by_label("Search messages").fill("!!")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator("#chats-search-error")).to_contain_text("validation_error")

    # On a phone nothing is wider than the screen.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(page, artifacts, "14-phone-chats")


async def test_load_older_pages_back_without_gaps(page: Page, gateway: Gateway) -> None:
    name = linked_instance(gateway, unique("older"))
    total = 45
    with gateway.http() as http:
        for n in range(total):
            inbound(http, name, {"from": CAROL, "text": f"carol {n}"})
        path = f"/v1/instances/{name}/chats/{CAROL}/messages?limit=100"
        wait_until(lambda: len(http.get(path).json()["messages"]) == total, "all kept")
    await open_chats(page, gateway, name)
    await chat_button(page, CAROL).click()
    rows = page.locator("#chat-messages > li")
    await expect(rows).to_have_count(30)
    await expect(rows.last.locator(".msg-body")).to_have_text(f"carol {total - 1}")
    older = page.get_by_role("button", name="Load older")
    await older.click()
    await expect(rows).to_have_count(total)
    await expect(older).to_be_hidden()
    texts = await page.locator("#chat-messages > li .msg-body").all_text_contents()
    assert texts == [f"carol {n}" for n in range(total)]
