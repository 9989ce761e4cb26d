"""Dead letters page by page, and retried all at once (API.md "Dead letters")."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import wait_message
from tests.integration.messaging.test_async_queue import faults, send_async


async def dead_letters_of(client: httpx.AsyncClient, name: str, count: int) -> list[str]:
    """`count` messages of `name` that failed for good, oldest first."""
    await faults(client, name, fail_next=count, fail_kind="permanent")
    made = []
    for i in range(count):
        correlation_id = await send_async(client, name, f"dead {i}")
        await wait_message(client, name, correlation_id, {"failed"})
        made.append(correlation_id)
    return made


async def test_dead_letters_page_with_a_cursor(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    made = await dead_letters_of(client, name, 5)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"instance": name, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/v1/dead-letters", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["dead_letters"]) <= 2
        seen += [d["correlation_id"] for d in body["dead_letters"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    assert pages == 3
    whole = (await client.get("/v1/dead-letters", params={"instance": name})).json()
    assert [d["correlation_id"] for d in whole["dead_letters"]] == made
    assert whole["next_cursor"] is None
    for bad in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 1001}):
        refused = await client.get("/v1/dead-letters", params=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "validation_error"


async def test_retry_all_requeues_every_dead_letter_in_scope(client: httpx.AsyncClient) -> None:
    mine = await linked_instance(client)
    other = await linked_instance(client)
    my_letters = await dead_letters_of(client, mine["name"], 3)
    their_letters = await dead_letters_of(client, other["name"], 2)
    token = {"Authorization": f"Bearer {mine['token']}"}

    # An instance token: its own only, and never another instance's.
    refused = await client.post(
        "/v1/dead-letters/retry", params={"instance": other["name"]}, headers=token
    )
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    response = await client.post("/v1/dead-letters/retry", headers=token)
    assert response.status_code == 202, response.text
    assert response.json() == {"retried": 3, "correlation_ids": my_letters}
    for correlation_id in my_letters:
        record = await wait_message(
            client, mine["name"], correlation_id, {"sent", "delivered", "read"}
        )
        assert record["attempts"] == 1  # started over, as a single retry does
    left = (await client.get("/v1/dead-letters")).json()["dead_letters"]
    assert [d["correlation_id"] for d in left] == their_letters

    # The admin, for one instance; then nothing is left to retry.
    response = await client.post("/v1/dead-letters/retry", params={"instance": other["name"]})
    assert response.status_code == 202, response.text
    assert response.json() == {"retried": 2, "correlation_ids": their_letters}
    for correlation_id in their_letters:
        await wait_message(client, other["name"], correlation_id, {"sent", "delivered", "read"})
    again = await client.post("/v1/dead-letters/retry")
    assert again.status_code == 202
    assert again.json() == {"retried": 0, "correlation_ids": []}
    missing = await client.post("/v1/dead-letters/retry", params={"instance": "no-such-one"})
    assert missing.status_code == 404
