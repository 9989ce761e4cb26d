"""The send policy through the API and the worker, on a clock the test moves: each rule holds
queued sends (still `queued`, with `held_until` and the rule) and lets them go at the release,
the breaker opens on WhatsApp's rate-limit answer and closes after its cool-down."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import FAST, wait_message
from tests.support.polling import eventually
from wagate.clock import ManualClock

TO = "5511987654321"
DONE = {"sent", "delivered", "read"}
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings_overrides(queue_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**FAST, **queue_overrides}


@pytest.fixture
def clock(app: FastAPI) -> ManualClock:
    clock = ManualClock(START)
    app.state.wagate.send_policy.clock = clock
    return clock


async def set_policy(client: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    response = await client.patch(f"/v1/instances/{name}/send-policy", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def policy_of(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await client.get(f"/v1/instances/{name}/send-policy")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def send(client: httpx.AsyncClient, name: str, text: str, to: str = TO) -> str:
    response = await client.post(
        f"/v1/instances/{name}/send/text?async=true", json={"to": to, "text": text}
    )
    assert response.status_code == 202, response.text
    correlation_id: str = response.json()["correlation_id"]
    return correlation_id


async def sent_texts(client: httpx.AsyncClient, name: str) -> list[str]:
    response = await client.get(f"/v1/instances/{name}/simulator/outbox")
    return [m["body"].get("text", "") for m in response.json()["messages"]]


async def wait_held(client: httpx.AsyncClient, name: str, count: int, rule: str) -> dict[str, Any]:
    async def held() -> dict[str, Any] | None:
        policy = await policy_of(client, name)
        if policy["held"]["count"] == count and policy["held"]["rule"] == rule:
            return policy
        return None

    return await eventually(held, what=f"{count} held by {rule}")


async def wait_sent(client: httpx.AsyncClient, name: str, count: int) -> list[str]:
    async def reached() -> list[str] | None:
        texts = await sent_texts(client, name)
        return texts if len(texts) >= count else None

    return await eventually(reached, what=f"{count} sent")


async def test_day_cap_holds_until_the_next_day(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, per_day=3)
    ids = [await send(client, name, f"m{i}") for i in range(5)]
    await wait_sent(client, name, 3)
    policy = await wait_held(client, name, 2, "per_day")
    midnight = "2026-03-11T00:00:00Z"
    assert policy["held"]["until"] == midnight
    assert policy["next_send_at"] == midnight and policy["next_rule"] == "per_day"
    assert policy["counters"]["sends:day"] == {"count": 3, "limit": 3, "resets_at": midnight}
    held = (await client.get(f"/v1/instances/{name}/messages/{ids[4]}")).json()
    assert held["status"] == "queued"
    assert (held["held_by"], held["held_until"]) == ("per_day", midnight)
    await asyncio.sleep(0.2)
    assert await sent_texts(client, name) == ["m0", "m1", "m2"]

    clock.advance(timedelta(hours=12, seconds=1))
    done = await wait_message(client, name, ids[4], DONE)
    assert done["held_until"] is None and done["held_by"] is None
    assert await sent_texts(client, name) == [f"m{i}" for i in range(5)]
    assert (await policy_of(client, name))["held"] == {"count": 0, "rule": None, "until": None}


async def test_a_change_reaches_a_sending_instance_at_its_next_send(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """The sender keeps the policy it read, and reads it again as soon as this node (the
    holder, where the routes run) wrote it: not a while later."""
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, per_day=100)
    await send(client, name, "m0")
    await wait_sent(client, name, 1)

    async def counted() -> bool:
        counters = (await policy_of(client, name))["counters"]
        return bool(counters.get("sends:day", {}).get("count") == 1)

    await eventually(counted, what="m0 counted")
    await set_policy(client, name, per_day=1)
    late = await send(client, name, "m1")
    await wait_held(client, name, 1, "per_day")
    assert (await client.get(f"/v1/instances/{name}/messages/{late}")).json()["status"] == "queued"
    assert await sent_texts(client, name) == ["m0"]


async def test_a_send_queued_after_the_hold_shows_it(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    """The hold is written on the messages queued when it began; one queued later waits
    behind them all the same, and its record and the list say so."""
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, per_day=1)
    await send(client, name, "m0")
    await wait_sent(client, name, 1)
    first = await send(client, name, "m1")
    await wait_held(client, name, 1, "per_day")
    later = await send(client, name, "m2")
    midnight = "2026-03-11T00:00:00Z"
    policy = await wait_held(client, name, 2, "per_day")
    assert policy["held"]["until"] == midnight
    for correlation_id in (first, later):
        record = (await client.get(f"/v1/instances/{name}/messages/{correlation_id}")).json()
        assert (record["status"], record["held_by"], record["held_until"]) == (
            "queued",
            "per_day",
            midnight,
        )
    listed = (await client.get(f"/v1/instances/{name}/messages?status=queued")).json()
    assert [(m["correlation_id"], m["held_by"], m["held_until"]) for m in listed["messages"]] == [
        (later, "per_day", midnight),
        (first, "per_day", midnight),
    ]
    # The next day's one send is the first of them; the other waits for the day after.
    clock.advance(timedelta(hours=12, seconds=1))
    done = await wait_message(client, name, first, DONE)
    assert done["held_until"] is None and done["held_by"] is None
    policy = await wait_held(client, name, 1, "per_day")
    assert policy["held"]["until"] == "2026-03-12T00:00:00Z"
    assert await sent_texts(client, name) == ["m0", "m1"]


async def test_warmup_grows_across_days(client: httpx.AsyncClient, clock: ManualClock) -> None:
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, warmup={"start": 2, "factor": 2, "ceiling": 5})
    ids = [await send(client, name, f"w{i}") for i in range(10)]
    await wait_sent(client, name, 2)
    policy = await wait_held(client, name, 8, "warmup")
    assert (policy["warmup_day"], policy["day_limit"]) == (1, 2)

    clock.advance(timedelta(days=1))  # day 2: 4
    await wait_sent(client, name, 6)
    policy = await wait_held(client, name, 4, "warmup")
    assert (policy["warmup_day"], policy["day_limit"]) == (2, 4)

    clock.advance(timedelta(days=1))  # day 3: 8, capped at the ceiling of 5
    await wait_message(client, name, ids[-1], DONE)
    assert await sent_texts(client, name) == [f"w{i}" for i in range(10)]
    policy = await policy_of(client, name)
    assert (policy["warmup_day"], policy["day_limit"], policy["held"]["count"]) == (3, 5, 0)
    assert policy["counters"]["sends:day"]["count"] == 4


async def test_sends_queued_during_a_hold_count_as_held(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, per_day=1)
    await send(client, name, "first")
    await wait_sent(client, name, 1)
    await send(client, name, "second")
    policy = await wait_held(client, name, 1, "per_day")
    # The sender sleeps until the release: the sends queued meanwhile wait behind the held one.
    await send(client, name, "third")
    await send(client, name, "fourth")
    policy = await wait_held(client, name, 3, "per_day")
    assert policy["held"]["until"] == "2026-03-11T00:00:00Z"
    clock.advance(timedelta(days=1))
    assert (await wait_sent(client, name, 2))[:2] == ["first", "second"]


async def test_quiet_hours_in_the_instance_zone(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    name = (await linked_instance(client))["name"]
    # 04:00 UTC is 23:00 the day before in New York: inside 22:00-08:00 there.
    clock.set(datetime(2026, 1, 15, 4, 0, tzinfo=UTC))
    await set_policy(
        client,
        name,
        quiet_hours={"start": "22:00", "end": "08:00"},
        timezone="America/New_York",
    )
    sync = await client.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": "now"})
    assert sync.status_code == 409, sync.text
    error = sync.json()["error"]
    assert error["code"] == "outside_send_window"
    assert error["details"]["opens_at"] == "2026-01-15T13:00:00+00:00"
    assert sync.headers["retry-after"] == str(9 * 3600)
    queued = await send(client, name, "later")
    policy = await wait_held(client, name, 1, "quiet_hours")
    assert policy["held"]["until"] == "2026-01-15T13:00:00Z"
    clock.set(datetime(2026, 1, 15, 12, 59, tzinfo=UTC))
    await asyncio.sleep(0.2)
    assert await sent_texts(client, name) == []
    clock.set(datetime(2026, 1, 15, 13, 0, tzinfo=UTC))
    await wait_message(client, name, queued, DONE)
    sync = await client.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": "day"})
    assert sync.status_code == 200, sync.text


async def test_per_recipient_and_new_conversations(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    name = (await linked_instance(client))["name"]
    await set_policy(
        client,
        name,
        per_recipient={"limit": 2, "period_s": 3600},
        new_conversations_per_day=2,
    )
    a, b, c = "5511900000001", "5511900000002", "5511900000003"
    # Held by quiet hours first, so that the four go in one chunk: a1 is not recorded yet
    # when a2 is weighed, and a2 is still no new conversation.
    await set_policy(client, name, quiet_hours={"start": "11:00", "end": "13:00"})
    await send(client, name, "a1", a)
    await send(client, name, "a2", a)
    await send(client, name, "b1", b)  # a second new conversation: still within 2
    await send(client, name, "a3", a)  # a third to a: held for the hour
    await wait_held(client, name, 4, "quiet_hours")
    await set_policy(client, name, quiet_hours=None)
    await wait_sent(client, name, 3)
    policy = await wait_held(client, name, 1, "per_recipient")
    assert policy["held"]["until"] == "2026-03-10T13:00:00Z"
    assert policy["counters"]["new_conversations:day"]["count"] == 2
    clock.advance(timedelta(hours=1))
    await wait_sent(client, name, 4)
    last = await send(client, name, "c1", c)  # a third new one on the same day
    await wait_held(client, name, 1, "new_conversations")
    await send(client, name, "b2", b)  # behind it: the order of the instance's sends stays
    await asyncio.sleep(0.2)
    assert await sent_texts(client, name) == ["a1", "a2", "b1", "a3"]
    clock.advance(timedelta(days=1))
    await wait_message(client, name, last, DONE)
    assert (await wait_sent(client, name, 6))[-2:] == ["c1", "b2"]


async def test_breaker_opens_on_rate_limit_and_closes(
    client: httpx.AsyncClient,
    app: FastAPI,
    clock: ManualClock,
    events_of: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wagate.worker.sender")
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    await set_policy(client, name, breaker={"cooldown_s": 300, "cooldown_max_s": 3600})
    faults = f"/v1/instances/{name}/simulator/faults"
    response = await client.post(faults, json={"fail_next": 1, "fail_kind": "rate_limited"})
    assert response.status_code == 200, response.text
    first = await send(client, name, "r1")
    policy = await wait_held(client, name, 1, "paused")
    await asyncio.sleep(0.2)
    # Held once: the sender sleeps through the pause rather than taking the message again
    # (which shows it `sending` for a moment).
    holds = [r for r in caplog.records if "sends held" in r.getMessage()]
    assert len(holds) == 1, [r.getMessage() for r in holds]
    assert policy["state"] == "paused" and policy["paused_reason"] == "rate_limited"
    assert policy["paused_until"] == "2026-03-10T12:05:00Z" and policy["trips"] == 1
    message = (await client.get(f"/v1/instances/{name}/messages/{first}")).json()
    assert message["status"] == "queued" and message["attempts"] == 0  # nothing spent
    paused = [e.data for e in seen if e.event == "send_paused"]
    assert paused == [
        {
            "reason": "rate_limited",
            "paused_until": "2026-03-10T12:05:00+00:00",
            "cooldown_s": 300,
            "trips": 1,
        }
    ]
    sync = await client.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": "x"})
    assert sync.status_code == 409 and sync.json()["error"]["code"] == "sending_paused"

    # Resumed by the API: sends at once.
    resumed = await client.post(f"/v1/instances/{name}/send-policy/resume")
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"
    await wait_message(client, name, first, DONE)

    # A repeat the same day: the cool-down doubles; it closes on its own after it.
    await client.post(faults, json={"fail_next": 1, "fail_kind": "spam_suspected"})
    second = await send(client, name, "r2")
    policy = await wait_held(client, name, 1, "paused")
    assert policy["paused_reason"] == "spam_suspected" and policy["trips"] == 2
    assert policy["paused_until"] == "2026-03-10T12:10:00Z"
    clock.advance(timedelta(minutes=9))
    await asyncio.sleep(0.2)
    assert await sent_texts(client, name) == ["r1"]
    clock.advance(timedelta(minutes=1))
    await wait_message(client, name, second, DONE)
    assert (await policy_of(client, name))["state"] == "active"


async def test_breaker_opens_on_the_failure_rate(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, breaker={"failure_rate": 0.5, "min_sends": 4})
    faults = f"/v1/instances/{name}/simulator/faults"
    await client.post(faults, json={"fail_next": 4, "fail_kind": "permanent"})
    ids = [await send(client, name, f"f{i}") for i in range(5)]
    policy = await wait_held(client, name, 2, "paused")
    assert policy["paused_reason"] == "failure_rate"

    async def statuses() -> list[str]:
        return [
            (await client.get(f"/v1/instances/{name}/messages/{i}")).json()["status"] for i in ids
        ]

    # The send the breaker stopped was claimed first (`sending`) and goes back to `queued`.
    expected = ["failed", "failed", "failed", "queued", "queued"]

    async def settled() -> bool:
        return await statuses() == expected

    await eventually(settled, timeout=5, what=f"statuses {expected}")
    clock.advance(timedelta(minutes=5))
    await wait_message(client, name, ids[-1], DONE)


async def test_contacts_checks_are_counted(client: httpx.AsyncClient, clock: ManualClock) -> None:
    name = (await linked_instance(client))["name"]
    await set_policy(client, name, per_minute=3)
    check = f"/v1/instances/{name}/contacts/check"
    assert (await client.post(check, json={"phones": [TO, "5511900000002"]})).status_code == 200
    refused = await client.post(check, json={"phones": [TO, "5511900000002"]})
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "send_limit_reached"
    assert error["details"] == {"rule": "per_minute", "retry_at": "2026-03-10T12:01:00+00:00"}
    assert refused.headers["retry-after"] == "60"
    assert (await policy_of(client, name))["counters"]["sends:minute"]["count"] == 2
    clock.advance(timedelta(minutes=1))
    assert (await client.post(check, json={"phones": [TO, "5511900000002"]})).status_code == 200


async def test_policy_validation(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    url = f"/v1/instances/{name}/send-policy"
    for body in (
        {"timezone": "Mars/Olympus"},
        {"per_day": 0},
        {"quiet_hours": {"start": "25:00", "end": "08:00"}},
        {"unknown": 1},
    ):
        response = await client.patch(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    policy = await set_policy(client, name, per_day=10, timezone="Europe/Berlin")
    assert policy["policy"]["per_day"] == 10 and policy["policy"]["timezone"] == "Europe/Berlin"
    policy = await set_policy(client, name, per_day=None, timezone=None)
    assert policy["policy"]["per_day"] is None and policy["policy"]["timezone"] == "UTC"
    assert (await client.get("/v1/instances/nope/send-policy")).status_code == 404
