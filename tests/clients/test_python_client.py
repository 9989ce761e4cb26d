"""The Python client (clients/python) against a real node over real HTTP on loopback, with the
simulator engine: the sync client on the whole flow, the async client on the same flow."""

from __future__ import annotations

import asyncio
import base64
import inspect
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from wagate_client import (
    AsyncWagateClient,
    BlocklistUpdated,
    CallEvent,
    ConflictError,
    ConnectionUpdate,
    Delivery,
    Event,
    EventStream,
    ForbiddenError,
    InstanceNotConnectedError,
    InstanceSettings,
    MediaInput,
    MessageAck,
    MessageEdited,
    MessageReaction,
    MessageReceived,
    MessageRevoked,
    MessageStatus,
    NotFoundError,
    PollVote,
    PresenceChanged,
    ProxyInfo,
    QrCode,
    SendKind,
    TransportError,
    UnauthorizedError,
    UnknownData,
    ValidationError,
    WagateClient,
    WagateError,
    parse_event,
    sign,
    verify_signature,
)
from wagate_client import _routes as routes

from tests.clients.conftest import CLIENT_SRC, Hook, Node
from tests.conftest import free_port
from tests.support.polling import eventually, eventually_sync

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNQvZwGAAJ/AV9X3CpyAAAAAElFTkSuQmCC"
)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
MP4 = base64.b64decode("AAAAGGZ0eXBtcDQyAAAAAG1wNDJpc29tAAAAAAAAAAA=")
OGG = "T2dnUwACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAF2b3JiaXMAAAAAAAAAAAAAAAAAAAAA"
TO = "+4915112345678"
SENDER = "+5511987654321"
SECRET = "hook-secret-for-tests"


def name() -> str:
    return f"cl-{uuid.uuid4().hex[:8]}"


def linked(admin: WagateClient) -> tuple[str, str]:
    """A simulator instance linked through the scan route; its name and its token."""
    created = admin.create_instance(name(), engine="simulator")
    instance = created.instance.name
    assert created.token and created.instance.engine == "simulator"
    assert admin.connect(instance).status in {"connecting", "pairing"}
    eventually_sync(lambda: admin.get_instance(instance).status == "pairing" or None)
    admin.simulator_scan(instance)
    eventually_sync(lambda: admin.get_instance(instance).status == "connected" or None)
    return instance, created.token


# A sent message becomes delivered, then read, as the simulated recipient's receipts come.
REACHED = {"sent": {"sent", "delivered", "read"}, "failed": {"failed"}}


def wait_record(client: WagateClient, instance: str, correlation_id: str, status: str) -> None:
    wanted = REACHED[status]
    eventually_sync(lambda: client.get_message(instance, correlation_id).status in wanted or None)


def next_matching(
    stream: EventStream, wanted: Callable[[Event], bool], timeout: float = 10.0
) -> Event:
    """The first event of a sync stream that `wanted` accepts; the stream is closed from a
    timer thread if none comes in time, so a missing event fails instead of hanging."""
    timer = threading.Timer(timeout, stream.close)
    timer.start()
    try:
        for event in stream:
            if wanted(event):
                return event
    finally:
        timer.cancel()
    raise AssertionError("the stream ended without the event")


# --- the sync client ---------------------------------------------------------------------


def test_instances_and_every_send_kind(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        assert admin.health() is True
        assert admin.node_info()["docs"] == "/docs"
        ready = admin.readiness()
        assert ready.ready and ready.database == "ok"
        assert "wagate" in admin.metrics()
        assert admin.cluster().mode in {"single", "cluster"}

        instance, token = linked(admin)
        assert instance in [item.name for item in admin.iter_instances(page_size=1)]
        connected = admin.list_instances(status="connected", limit=1000)
        assert instance in [item.name for item in connected.instances]
        assert connected.next_cursor is None
        updated = admin.update_settings(instance, max_attempts=5)
        assert updated.settings.max_attempts == 5
        online = admin.update_settings(instance, always_online=True)
        assert online.settings.always_online and online.settings.proxy is None
        assert updated.status == "connected" and updated.jid
    with WagateClient(node.url, token) as client:
        assert [item.name for item in client.list_instances().instances] == [instance]

        sent = client.send_text(instance, TO, "hello")
        assert sent.status == "sent" and sent.message_id and sent.timestamp
        queued = client.send_text(instance, TO, "later", async_=True)
        assert queued.status == "queued" and queued.location
        assert queued.location.endswith(queued.correlation_id)
        once = client.send_text(instance, TO, "once", idempotency_key="k-1")
        again = client.send_text(instance, TO, "once", idempotency_key="k-1")
        assert again.correlation_id == once.correlation_id

        from_b64 = client.send_image(
            instance, TO, MediaInput.from_base64(base64.b64encode(PNG).decode()), caption="b64"
        )
        from_bytes = client.send_image(instance, TO, PNG, caption="bytes", view_once=True)
        node.receiver.media = PNG
        from_url = client.send_image(instance, TO, MediaInput.from_url(node.media_url))
        assert from_url.status == "sent"
        assert from_b64.status == from_bytes.status == "sent"
        document = client.send_document(
            instance, TO, MediaInput.from_bytes(PDF, "application/pdf"), "report.pdf"
        )
        sticker = client.send_sticker(instance, TO, PNG)
        video = client.send_video(instance, TO, MP4, caption="clip", gif=False)
        audio = client.send_audio(
            instance, TO, MediaInput.from_base64(OGG), ptt=True, view_once=True
        )
        location = client.send_location(instance, TO, -23.55, -46.63, name="Sé")
        contact = client.send_contact(instance, TO, [{"name": "Ana", "phone": SENDER}])
        reaction = client.send_reaction(instance, TO, sent.message_id or "", "\N{THUMBS UP SIGN}")
        poll = client.send_poll(instance, TO, "Lunch?", ["pizza", "sushi"], selectable_count=1)
        for result in (document, sticker, video, audio, location, contact, reaction, poll):
            assert result.status == "sent", result

        outbox = {item.message_id: item for item in client.simulator_outbox(instance)}
        assert outbox[from_bytes.message_id or ""].kind == "image"
        assert outbox[from_bytes.message_id or ""].body.get("caption") == "bytes"
        assert outbox[from_b64.message_id or ""].body.get("caption") == "b64"
        assert outbox[from_bytes.message_id or ""].body.get("view_once") is True  # multipart
        assert outbox[audio.message_id or ""].body.get("view_once") is True  # JSON
        assert "view_once" not in outbox[from_b64.message_id or ""].body
        assert outbox[poll.message_id or ""].kind == "poll"
        assert outbox[from_url.message_id or ""].kind == "image"

        batch = client.send_batch(
            instance,
            [
                {"kind": "text", "to": TO, "text": "one"},
                {"kind": "text", "to": "not a number", "text": "bad"},
                {"kind": "location", "to": TO, "latitude": 1.0, "longitude": 2.0},
            ],
        )
        assert [item.ok for item in batch] == [True, False, True]
        assert batch[1].error is not None and batch[1].correlation_id is None
        for item in (batch[0], batch[2]):
            wait_record(client, instance, item.correlation_id or "", "sent")
        wait_record(client, instance, queued.correlation_id, "sent")

        record = client.get_message(instance, sent.correlation_id)
        assert record.kind == "text" and record.message_id == sent.message_id
        assert record.attempts >= 1 and record.created_at is not None

        # Paging: two records a page, following next_cursor, gives every record once.
        pages = []
        cursor = None
        while True:
            page = client.list_messages(instance, limit=2, cursor=cursor)
            assert len(page.messages) <= 2
            pages.append(page)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        paged = [item.correlation_id for page in pages for item in page.messages]
        assert len(pages) > 3 and len(paged) == len(set(paged))
        expected = {sent.correlation_id, queued.correlation_id, once.correlation_id}
        expected |= {poll.correlation_id, batch[2].correlation_id or ""}
        assert expected <= set(paged)
        assert [item.correlation_id for item in client.iter_messages(instance, page_size=3)] == (
            paged
        )

        checks = client.check_contacts(instance, [TO, "+4915112340000"])
        assert [(c.phone, c.on_whatsapp) for c in checks] == [
            (TO, True),
            ("+4915112340000", False),
        ]
        client.send_presence(instance, TO, "composing")
        client.mark_read(instance, TO, [sent.message_id or ""])

        stopped = client.disconnect(instance)
        assert stopped.status == "disconnected"
        assert client.connect(instance).status in {"connecting", "connected"}
        eventually_sync(lambda: client.get_instance(instance).status == "connected" or None)

        new_token = client.rotate_token(instance)
        assert new_token and new_token != token
        with pytest.raises(UnauthorizedError) as denied:
            client.get_instance(instance)
        assert denied.value.status == 401 and denied.value.code == "unauthorized"
    with WagateClient(node.url, admin_token) as admin:
        admin.delete_instance(instance)
        with pytest.raises(NotFoundError):
            admin.get_instance(instance)


def test_qr_and_pairing(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance = admin.create_instance(name(), engine="simulator").instance.name
        with pytest.raises(WagateError) as not_pairing:
            admin.get_qr(instance)
        assert (not_pairing.value.status, not_pairing.value.code) == (409, "not_pairing")
        admin.connect(instance)
        qr = eventually_sync(lambda: _qr(admin, instance))
        assert qr.code and qr.image.startswith("data:image/png;base64,") and qr.expires_at
        assert admin.get_qr_png(instance).startswith(b"\x89PNG")
        assert admin.pair(instance, SENDER)
        restarted = admin.restart(instance)
        assert restarted.status
        admin.logout(instance)
        admin.delete_instance(instance)


def test_sinks_and_an_instances_sink_filter(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        sinks = {sink.name: sink for sink in admin.sinks()}
        assert sinks["webhooks"].kind == "durable" and sinks["webhooks"].pending is not None
        assert sinks["streams"].kind == "live" and sinks["streams"].pending is None
        instance = admin.create_instance(name(), engine="simulator").instance.name
        assert admin.get_sink_filter(instance, "nats").events is None
        chosen = admin.set_sink_filter(instance, "nats", ["message_received"])
        assert (chosen.sink, chosen.events) == ("nats", ["message_received"])
        assert admin.get_sink_filter(instance, "nats").events == ["message_received"]
        admin.delete_sink_filter(instance, "nats")
        assert admin.get_sink_filter(instance, "nats").events is None
        admin.delete_instance(instance)


def test_the_send_policy(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance = admin.create_instance(name(), engine="simulator").instance.name
        assert admin.get_send_policy(instance)["state"] == "active"
        changed = admin.update_send_policy(instance, per_day=100, timezone="Europe/Berlin")
        assert changed["policy"]["per_day"] == 100 and changed["day_limit"] == 100
        assert admin.update_send_policy(instance, per_day=None)["policy"]["per_day"] is None
        assert admin.resume_sending(instance)["state"] == "active"
        with pytest.raises(WagateError) as caught:
            admin.update_send_policy(instance, timezone="Mars/Olympus")
        assert caught.value.code == "validation_error"
        admin.delete_instance(instance)


def _qr(client: WagateClient, instance: str) -> QrCode | None:
    try:
        return client.get_qr(instance)
    except WagateError as exc:
        if exc.code == "not_pairing":
            return None
        raise


def test_errors_are_wagate_errors_with_their_code(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        with pytest.raises(NotFoundError) as missing:
            admin.get_instance("no-such-instance")
        assert (missing.value.status, missing.value.code) == (404, "not_found")
        assert missing.value.message

        with pytest.raises(NotFoundError):
            admin.events("no-such-instance")

        instance = admin.create_instance(name(), engine="simulator").instance.name
        with pytest.raises(ValidationError) as bad_setting:
            admin.update_settings(instance, max_attempts=0)
        assert "settings.max_attempts" in str(bad_setting.value.details)
        with pytest.raises(InstanceNotConnectedError) as offline:
            admin.send_text(instance, TO, "hi")
        assert (offline.value.status, offline.value.code) == (409, "instance_not_connected")

        with pytest.raises(ValidationError) as bad:
            admin.create_instance("Not A Valid Name!")
        assert (bad.value.status, bad.value.code) == (422, "validation_error")
        assert bad.value.details.get("fields")

        created = admin.create_instance(name(), engine="simulator")
    with WagateClient(node.url, created.token) as scoped:
        with pytest.raises(ForbiddenError) as forbidden:
            scoped.delete_instance(created.instance.name)
        assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
        # Another instance's name with this token: 404, as if it did not exist.
        with pytest.raises(NotFoundError):
            scoped.get_instance(instance)


def test_events_over_sse_and_a_signed_webhook(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance, token = linked(admin)
    with WagateClient(node.url, token) as client:
        hook = client.set_webhook(instance, node.hook_url, secret=SECRET)
        assert hook.url == node.hook_url and hook.secret_set
        assert client.get_webhook(instance).secret_set

        with client.events(instance, read_timeout=10) as stream:
            message_id = client.simulator_inbound(instance, SENDER, "hi there")
            event = next_matching(stream, lambda e: e.event == "message_received")
            assert isinstance(event.data, MessageReceived)
            assert event.data.message_id == message_id and event.data.text == "hi there"
            assert event.data.sender.startswith("5511987654321") and not event.data.from_me
            assert event.instance == instance and event.id.startswith("evt_")

            sent = client.send_text(instance, TO, "receipts please")
            ack = next_matching(stream, lambda e: e.event == "message_ack")
            assert isinstance(ack.data, MessageAck)
            assert ack.data.correlation_id == sent.correlation_id
            assert ack.data.status == "sent" and ack.data.attempts == 1
            status = next_matching(stream, lambda e: e.event == "message_status")
            assert isinstance(status.data, MessageStatus)
            assert status.data.message_id == sent.message_id
            assert status.data.status in {"delivered", "read"}

        hooked = _hook_for(node, message_id)
        signature = hooked.headers["x-wagate-signature"]
        assert verify_signature(SECRET, signature, hooked.body)
        assert not verify_signature("another secret", signature, hooked.body)
        assert not verify_signature(SECRET, signature, hooked.body + b" ")
        typed = parse_event(hooked.body)
        assert isinstance(typed.data, MessageReceived) and typed.data.text == "hi there"
        assert typed.id == event.id

        delivery = eventually_sync(lambda: _delivered(client, instance, typed.id))
        detail = client.get_delivery(instance, delivery.id)
        assert detail.history and detail.history[0].status_code == 204
        again = client.redeliver(instance, delivery.id)
        # A redelivery is a new delivery of the same event: the same id reaches the receiver.
        assert again.event_id == typed.id and again.status == "pending"
        repeated = _hook_for(node, message_id)
        assert parse_event(repeated.body).id == typed.id
        assert verify_signature(SECRET, repeated.headers["x-wagate-signature"], repeated.body)

        media_id = client.simulator_inbound(
            instance,
            SENDER,
            kind="image",
            caption="pic",
            media={"base64": base64.b64encode(PNG).decode(), "mimetype": "image/png"},
        )
        hooked_media = _hook_for(node, media_id)
        received = parse_event(hooked_media.body).data
        assert isinstance(received, MessageReceived) and received.media is not None
        assert received.media.mimetype == "image/png" and received.caption == "pic"
        downloaded = client.download_media(instance, media_id)
        assert downloaded.content == PNG and downloaded.content_type.startswith("image/png")

        client.delete_webhook(instance)
        with pytest.raises(NotFoundError):
            client.get_webhook(instance)


def _hook_for(node: Node, message_id: str) -> Hook:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hooked = node.next_hook(timeout=10)
        data = parse_event(hooked.body).raw_data
        if data.get("message_id") == message_id and hooked.body.count(b"message_received"):
            return hooked
    raise AssertionError(f"no webhook for {message_id}")


def _delivered(client: WagateClient, instance: str, event_id: str) -> Delivery | None:
    page = client.list_deliveries(instance, status="delivered")
    return next((item for item in page.deliveries if item.event_id == event_id), None)


def test_dead_letters_retry_and_delete(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance, token = linked(admin)
    with WagateClient(node.url, token) as client:
        faults = client.simulator_faults(instance, fail_next=2, fail_kind="permanent")
        assert (faults.fail_next, faults.fail_kind) == (2, "permanent")
        first_send = client.send_text(instance, TO, "fails once", async_=True)
        second_send = client.send_text(instance, TO, "fails too", async_=True)
        for queued in (first_send, second_send):
            wait_record(client, instance, queued.correlation_id, "failed")
        dead = {item.correlation_id: item for item in client.iter_dead_letters(instance)}
        assert {first_send.correlation_id, second_send.correlation_id} <= set(dead)
        assert dead[first_send.correlation_id].instance == instance
        assert dead[first_send.correlation_id].error

        retried = client.retry_dead_letter(first_send.correlation_id)
        assert retried.status == "queued" and retried.correlation_id == first_send.correlation_id
        wait_record(client, instance, first_send.correlation_id, "sent")

        client.delete_dead_letter(second_send.correlation_id)
        remaining = {item.correlation_id for item in client.iter_dead_letters(instance)}
        assert first_send.correlation_id not in remaining
        assert second_send.correlation_id not in remaining
        with pytest.raises(NotFoundError):
            client.delete_dead_letter(second_send.correlation_id)


# --- the async client --------------------------------------------------------------------


async def test_async_client_same_flow(node: Node, admin_token: str) -> None:
    async with AsyncWagateClient(node.url, admin_token) as admin:
        assert await admin.health()
        created = await admin.create_instance(name(), engine="simulator")
        instance = created.instance.name

        async def status_is(wanted: str) -> bool:
            return (await admin.get_instance(instance)).status == wanted

        await admin.connect(instance)
        await eventually(lambda: status_is("pairing"))
        await admin.simulator_scan(instance)
        await eventually(lambda: status_is("connected"))

    async with AsyncWagateClient(node.url, created.token) as client:
        sent = await client.send_text(instance, TO, "async hello")
        assert sent.status == "sent" and sent.message_id
        queued = await client.send_text(instance, TO, "queued", async_=True)
        assert queued.status == "queued"
        image = await client.send_image(instance, TO, PNG, caption="async bytes")
        assert image.status == "sent"
        batch = await client.send_batch(instance, [{"kind": "text", "to": TO, "text": "b"}] * 3)
        assert all(item.ok for item in batch)

        async def all_sent() -> bool:
            page = await client.list_messages(instance, limit=500)
            done = [item for item in page.messages if item.status in REACHED["sent"]]
            return len(done) == len(page.messages) == 6

        await eventually(all_sent)
        seen = [item.correlation_id async for item in client.iter_messages(instance, page_size=2)]
        assert len(seen) == 6 and len(set(seen)) == 6
        assert (await client.get_message(instance, image.correlation_id)).kind == "image"

        async with client.events(instance, read_timeout=10) as stream:
            message_id = await client.simulator_inbound(instance, SENDER, "to the async stream")

            async def received() -> Event:
                async for event in stream:
                    if event.event == "message_received":
                        return event
                raise AssertionError("the stream ended")

            event = await asyncio.wait_for(received(), 10)
        assert isinstance(event.data, MessageReceived)
        assert event.data.message_id == message_id

        with pytest.raises(NotFoundError) as missing:
            await client.get_message(instance, "no-such-message")
        assert missing.value.code == "not_found"
        with pytest.raises(ValidationError) as bad:
            await client.send_text(instance, "not a number", "x")
        assert bad.value.status == 422 and bad.value.code == "validation_error"

        await client.simulator_faults(instance, fail_next=1, fail_kind="permanent")
        failing = await client.send_text(instance, TO, "dead", async_=True)

        async def failed() -> bool:
            return (await client.get_message(instance, failing.correlation_id)).status == "failed"

        await eventually(failed)
        letters = [letter async for letter in client.iter_dead_letters()]
        assert failing.correlation_id in [item.correlation_id for item in letters]
        retried = await client.retry_all_dead_letters(instance)
        assert failing.correlation_id in retried.correlation_ids
        assert retried.retried == len(retried.correlation_ids)

        async def resent() -> bool:
            record = await client.get_message(instance, failing.correlation_id)
            return record.status in REACHED["sent"]

        await eventually(resent)
    async with AsyncWagateClient(node.url, admin_token) as admin:
        await admin.delete_instance(instance)


# --- without a node ----------------------------------------------------------------------


def test_parse_event_types_each_event_and_keeps_unknown_ones() -> None:
    envelope = (
        '{"id":"evt_1","event":"%s","instance":"shop","timestamp":"2026-12-04T10:15:30Z","data":%s}'
    )
    update = parse_event(
        envelope
        % (
            "connection_update",
            '{"status":"connected","previous":"pairing","reason":null,"jid":"1@s.whatsapp.net","extra":1}',
        )
    )
    assert update.data == ConnectionUpdate("connected", "pairing", None, "1@s.whatsapp.net")
    assert update.timestamp is not None and update.timestamp.tzinfo is not None
    future = parse_event(envelope % ("call_received", '{"from":"x"}'))
    assert future.data == UnknownData({"from": "x"}) and future.event == "call_received"
    with pytest.raises(ValueError):
        parse_event(b"not json")


def test_verify_signature_refuses_old_timestamps() -> None:
    body = b'{"id":"evt_1"}'
    header = sign(SECRET, body, timestamp=1_000_000)
    assert verify_signature(SECRET, header, body, now=1_000_100)
    assert not verify_signature(SECRET, header, body, now=1_000_301)
    assert verify_signature(SECRET, header, body, tolerance=400, now=1_000_301)
    assert not verify_signature(SECRET, "", body)
    assert not verify_signature(SECRET, "t=abc,v1=00", body)


def test_sync_client_is_written_from_the_async_one() -> None:
    """One description of the routes: WagateClient's route methods are generated from
    AsyncWagateClient's, and the two expose the same methods with the same parameters."""
    script = CLIENT_SRC.parent / "scripts" / "gen_sync.py"
    check = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stderr
    sync_methods = {n for n in dir(WagateClient) if not n.startswith("_")} - {"close"}
    async_methods = {n for n in dir(AsyncWagateClient) if not n.startswith("_")} - {"aclose"}
    assert sync_methods == async_methods
    for method in sync_methods:
        sync_params = inspect.signature(getattr(WagateClient, method)).parameters
        async_params = inspect.signature(getattr(AsyncWagateClient, method)).parameters
        assert list(sync_params) == list(async_params), method
    assert Path(script).exists()


def test_the_route_description_covers_every_route_of_the_api(node: Node) -> None:
    """Every (method, path) of the node's OpenAPI document is built by wagate_client._routes."""
    spec = httpx.get(f"{node.url}/openapi.json", timeout=10).json()
    documented = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    calls: list[routes.Call[Any]] = [
        routes.create_instance("x", None, None, None),
        routes.list_instances(None, None, None),
        routes.get_instance("x"),
        routes.patch_instance("x", {}),
        routes.delete_instance("x"),
        routes.rotate_token("x"),
        *(routes.lifecycle("x", action) for action in ("connect", "disconnect", "logout")),
        routes.lifecycle("x", "restart"),
        routes.get_qr("x"),
        routes.pair("x", "1"),
        routes.Call("GET", routes.events_path("x"), lambda reply: None),
        routes.simulator_scan("x", None),
        routes.simulator_inbound("x", {}),
        routes.simulator_faults("x", {}),
        routes.simulator_outbox("x"),
        routes.simulator_history("x", None, None, None),
        routes.send_batch("x", []),
        *(routes.send("x", kind, {}) for kind in get_args(SendKind)),
        routes.get_message("x", "c"),
        routes.list_messages("x", None, None, None),
        routes.check_contacts("x", []),
        routes.mark_read("x", "c", [], None),
        routes.send_presence("x", "c", "paused"),
        routes.create_group("x", "s", [], None),
        routes.list_groups("x", None, None),
        routes.get_group("x", "g@g.us"),
        routes.update_group("x", "g@g.us", {}),
        routes.set_group_picture("x", "g@g.us", b"p"),
        routes.remove_group_picture("x", "g@g.us"),
        routes.update_participants("x", "g@g.us", "add", []),
        routes.join_requests("x", "g@g.us"),
        routes.answer_join_requests("x", "g@g.us", "approve", []),
        routes.group_invite("x", "g@g.us", False),
        routes.group_invite("x", "g@g.us", True),
        routes.invite_info("x", "c"),
        routes.join_group("x", "c"),
        routes.leave_group("x", "g@g.us"),
        routes.simulator_group("x", {}),
        routes.simulator_group_participants("x", "g@g.us", {}),
        routes.simulator_group_change("x", "g@g.us", {}),
        routes.simulator_group_message("x", "g@g.us", {}),
        routes.simulator_group_join("x", "c", "1"),
        routes.download_media("x", "m"),
        routes.get_contact("x", "c"),
        routes.get_contact_picture("x", "c"),
        routes.get_contact_lid("x", "c"),
        routes.get_lid("x", "l"),
        routes.get_blocklist("x"),
        routes.update_blocklist("x", "block", "c"),
        routes.get_send_policy("x"),
        routes.update_send_policy("x", {}),
        routes.resume_sending("x"),
        routes.get_profile("x"),
        routes.update_profile("x", "n", None),
        routes.set_profile_picture("x", {"url": "u"}),
        routes.remove_profile_picture("x"),
        routes.get_privacy("x"),
        routes.update_privacy("x", {}),
        routes.set_account_presence("x", "available"),
        routes.subscribe_presence("x", "c"),
        routes.update_chat("x", "c", {}),
        routes.reject_call("x", "k"),
        routes.simulator_presence("x", {}),
        routes.simulator_call("x", {}),
        routes.simulator_call_ends("x", "k", "missed"),
        routes.simulator_contact("x", "c", {}),
        routes.edit_message("x", "c", "t"),
        routes.revoke_message("x", "c", "everyone"),
        routes.forward_message("x", "c", "m", "t"),
        routes.react_to_message("x", "c", "m", "", None),
        routes.read_message("x", "c", "m", None),
        routes.pin_message("x", "c", "m", True, None, None),
        routes.vote_in_poll("x", "c", "m", [], None),
        routes.vote_own_poll("x", "c", []),
        routes.simulator_edit("x", {}),
        routes.simulator_revoke("x", {}),
        routes.simulator_vote("x", {}),
        routes.simulator_presence_sent("x"),
        routes.list_chats("x", None, None),
        routes.get_chat("x", "c"),
        routes.chat_messages("x", "c", {}),
        routes.chat_message("x", "c", "m"),
        routes.search_messages("x", "q", None, None, None),
        routes.list_contacts("x", None, None),
        routes.list_dead_letters(None),
        routes.retry_all_dead_letters(None),
        routes.retry_dead_letter("c"),
        routes.delete_dead_letter("c"),
        routes.put_webhook("x", "u", None, None),
        routes.get_webhook("x"),
        routes.delete_webhook("x"),
        routes.list_deliveries("x", None, None, None),
        routes.get_delivery("x", "d"),
        routes.redeliver("x", "d"),
        routes.list_sinks(),
        routes.get_sink_filter("x", "amqp"),
        routes.put_sink_filter("x", "amqp", []),
        routes.delete_sink_filter("x", "amqp"),
        routes.get_cluster(),
        routes.node_info(),
        routes.health(),
        routes.readiness(),
        routes.metrics(),
    ]
    built = set()
    for call in calls:
        matches = [
            (method, path)
            for method, path in documented
            if method == call.method
            and re.fullmatch(re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(path)), call.path)
        ]
        # A literal segment wins over a parameter, as in the router (/messages/search is not
        # the correlation id "search").
        fewest = min((path.count("{") for _, path in matches), default=0)
        matches = [(method, path) for method, path in matches if path.count("{") == fewest]
        assert len(matches) == 1, (call.method, call.path, matches)
        built.add(matches[0])
    assert documented - built == set()


def test_an_unreachable_gateway_is_a_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        WagateClient(url, "wga_never_shown", timeout=5) as client,
        pytest.raises(TransportError) as failed,
    ):
        client.health()
    assert failed.value.status == 0 and failed.value.code == "transport_error"
    assert "wga_never_shown" not in str(failed.value)


def test_closing_a_sync_stream_from_another_thread_ends_the_loop(
    node: Node, admin_token: str
) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance = admin.create_instance(name(), engine="simulator").instance.name
        stream = admin.events(instance)
        timer = threading.Timer(0.5, stream.close)
        started = time.monotonic()
        timer.start()
        # Keep-alives come every second but are no events: only close() ends this loop.
        assert list(stream) == []
        assert 0.4 < time.monotonic() - started < 10
        admin.delete_instance(instance)


def test_settings_carry_what_is_shown_of_the_proxy() -> None:
    shown = {"scheme": "socks5", "host": "proxy.example.com", "port": 1080, "credentials_set": True}
    settings = InstanceSettings.from_json({"always_online": True, "proxy": shown})
    assert settings.proxy == ProxyInfo("socks5", "proxy.example.com", 1080, True)
    assert settings.always_online and InstanceSettings.from_json({}).proxy is None


def test_the_account_surface(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance, _ = linked(admin)
        jid = "5511955554444@s.whatsapp.net"
        card = admin.get_contact(instance, "+55 11 95555-4444")
        assert card.jid == jid and card.on_whatsapp and card.lid
        assert admin.get_lid(instance, card.lid) == admin.get_contact_lid(instance, jid)
        with pytest.raises(NotFoundError):
            admin.get_contact_picture(instance, jid)
        assert admin.update_blocklist(instance, "block", jid) == [jid]
        assert admin.get_blocklist(instance) == [jid]
        assert admin.update_blocklist(instance, "unblock", jid) == []
        assert admin.update_profile(instance, name="Acme").name == "Acme"
        pictured = admin.set_profile_picture(instance, base64=base64.b64encode(PNG).decode())
        assert pictured.picture_url and admin.get_profile(instance).name == "Acme"
        assert admin.remove_profile_picture(instance).picture_url is None
        assert admin.update_privacy(instance, calls="known")["calls"] == "known"
        assert admin.get_privacy(instance)["calls"] == "known"
        with pytest.raises(ValidationError):
            admin.update_privacy(instance, calls="nobody")
        admin.set_account_presence(instance, "available")
        admin.update_chat(instance, jid, archived=True, muted_until=None)
        with admin.events(instance) as stream:
            admin.subscribe_presence(instance, jid)
            assert admin.simulator_presence(instance, jid, "typing")
            call_id = admin.simulator_call(instance, jid)
            assert call_id is not None
            admin.reject_call(instance, call_id)
            admin.simulator_contact(instance, jid, push_name="Ana")
            admin.update_blocklist(instance, "block", jid)
            seen: list[Any] = []
            for event in stream:
                seen.append(event.data)
                if isinstance(event.data, BlocklistUpdated):
                    break
        presence = next(d for d in seen if isinstance(d, PresenceChanged))
        assert presence.state == "typing" and presence.contact == jid
        calls = [d for d in seen if isinstance(d, CallEvent)]
        assert [(c.call_id, c.status) for c in calls] == [
            (call_id, "offered"),
            (call_id, "rejected"),
        ]
        admin.delete_instance(instance)


def _outbox_rows(client: WagateClient, instance: str, kind: str) -> list[dict[str, Any]]:
    return [item.body for item in client.simulator_outbox(instance) if item.kind == kind]


def _cancel_a_queued_send(client: WagateClient, instance: str) -> None:
    """A send still queued (behind a slow one) is cancelled by its revoke: never sent, one
    message_ack `cancelled`."""
    client.simulator_faults(instance, send_latency_ms=1500)
    slow = client.send_text(instance, TO, "slow", async_=True)
    waiting = client.send_text(instance, TO, "never", async_=True)
    with client.events(instance) as stream:
        cancelled = client.revoke_message(instance, waiting.correlation_id)
        assert cancelled.status == "cancelled" and cancelled.message_id is None
        ack = next_matching(stream, lambda e: isinstance(e.data, MessageAck))
    assert isinstance(ack.data, MessageAck)
    assert (ack.data.correlation_id, ack.data.status) == (waiting.correlation_id, "cancelled")
    client.simulator_faults(instance, send_latency_ms=0)
    wait_record(client, instance, slow.correlation_id, "sent")
    assert client.get_message(instance, waiting.correlation_id).status == "cancelled"
    cancelled_page = client.list_messages(instance, status="cancelled")
    assert [m.correlation_id for m in cancelled_page.messages] == [waiting.correlation_id]
    texts = [body.get("text") for body in _outbox_rows(client, instance, "text")]
    assert "never" not in texts and "slow" in texts


def _own_changes(client: WagateClient, instance: str) -> None:
    """Edit, forward, react, pin, vote and revoke on the instance's own sends."""
    sent = client.send_text(instance, TO, "helo")
    mid = sent.message_id or ""
    edited = client.edit_message(instance, sent.correlation_id, "hello")
    assert edited.edited_text == "hello" and edited.edited_at is not None
    assert {"message_id": mid, "text": "hello"}.items() <= _outbox_rows(client, instance, "edit")[
        0
    ].items()

    other = "+5511955554444"
    forwarded = client.forward_message(instance, TO, mid, other)
    assert forwarded.message_id and forwarded.message_id != mid and forwarded.timestamp
    record = client.get_message(instance, sent.correlation_id)
    assert [(f.message_id, f.to) for f in record.forwards] == [
        (forwarded.message_id, "5511955554444@s.whatsapp.net")
    ]
    assert _outbox_rows(client, instance, "forward")[0]["message_id"] == mid

    assert client.react_to_message(instance, TO, mid, "\N{THUMBS UP SIGN}").message_id
    assert client.pin_message(instance, TO, mid, duration_s=86400).message_id
    assert client.pin_message(instance, TO, mid, pin=False).message_id
    pins = _outbox_rows(client, instance, "pin")
    assert [(p["pin"], p.get("duration_s")) for p in pins] == [(True, 86400), (False, None)]
    assert _outbox_rows(client, instance, "reaction")[-1]["emoji"] == "\N{THUMBS UP SIGN}"

    poll = client.send_poll(instance, TO, "Lunch?", ["pizza", "sushi"])
    assert client.vote_in_own_poll(instance, poll.correlation_id, ["sushi"]).message_id
    assert client.vote_in_poll(instance, TO, poll.message_id or "", ["pizza"]).message_id
    votes = _outbox_rows(client, instance, "vote")
    assert [v["options"] for v in votes] == [["sushi"], ["pizza"]]
    with pytest.raises(ValidationError) as unknown:
        client.vote_in_own_poll(instance, poll.correlation_id, ["tacos"])
    assert unknown.value.code == "poll_option_unknown"
    with pytest.raises(ValidationError) as not_a_poll:
        client.vote_in_own_poll(instance, sent.correlation_id, ["pizza"])
    assert not_a_poll.value.code == "not_a_poll"

    revoked = client.revoke_message(instance, sent.correlation_id)
    assert revoked.revoked and revoked.revoked_for == "everyone" and revoked.revoked_at
    assert _outbox_rows(client, instance, "revoke")[0]["message_id"] == mid
    with pytest.raises(ConflictError) as gone:
        client.edit_message(instance, sent.correlation_id, "again")
    assert gone.value.code == "message_revoked"
    mine = client.send_text(instance, TO, "only here")
    local = client.revoke_message(instance, mine.correlation_id, for_="me")
    assert local.revoked_for == "me" and len(_outbox_rows(client, instance, "revoke")) == 1
    with pytest.raises(ValidationError) as kind:
        client.edit_message(instance, poll.correlation_id, "Dinner?")
    assert kind.value.code == "not_editable"
    with pytest.raises(NotFoundError):
        client.forward_message(instance, TO, "NO-SUCH-MESSAGE", other)


def _contact_changes(client: WagateClient, instance: str) -> None:
    """What a simulated contact does after its send arrives as typed events; reading it."""
    inbound = client.simulator_inbound(instance, SENDER, "see you at 5")
    client.read_message(instance, SENDER, inbound)
    poll = client.send_poll(instance, SENDER, "When?", ["5", "6"])
    with client.events(instance) as stream:
        client.simulator_edit(instance, SENDER, inbound, "see you at 6")
        client.simulator_revoke(instance, SENDER, inbound)
        client.simulator_inbound(
            instance, SENDER, kind="reaction", message_id=poll.message_id, emoji="\N{OK HAND SIGN}"
        )
        client.simulator_vote(instance, SENDER, poll.message_id or "", ["6"])
        seen: list[Any] = []

        def until_the_vote(event: Event) -> bool:
            seen.append(event.data)
            return isinstance(event.data, PollVote)

        next_matching(stream, until_the_vote)
    edit = next(d for d in seen if isinstance(d, MessageEdited))
    assert (edit.message_id, edit.text, edit.from_me) == (inbound, "see you at 6", False)
    revoke = next(d for d in seen if isinstance(d, MessageRevoked))
    assert revoke.message_id == inbound and revoke.correlation_id is None
    reaction = next(d for d in seen if isinstance(d, MessageReaction))
    assert reaction.message_id == poll.message_id and reaction.emoji == "\N{OK HAND SIGN}"
    assert reaction.correlation_id == poll.correlation_id and not reaction.removed
    vote = seen[-1]
    assert isinstance(vote, PollVote) and vote.options == ["6"]
    assert vote.poll_message_id == poll.message_id and vote.correlation_id == poll.correlation_id


def test_after_the_send(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance, token = linked(admin)
    with WagateClient(node.url, token) as client:
        _own_changes(client, instance)
        _cancel_a_queued_send(client, instance)
        _contact_changes(client, instance)
        client.set_account_presence(instance, "available")
        client.set_account_presence(instance, "unavailable")
        shown = client.simulator_presence_sent(instance)
        assert shown.shown == "unavailable"
        assert [p.state for p in shown.sent[-2:]] == ["available", "unavailable"]
        assert all(p.sent_at is not None for p in shown.sent)
    with WagateClient(node.url, admin_token) as admin:
        admin.delete_instance(instance)


async def test_the_async_client_edits_and_revokes(node: Node, admin_token: str) -> None:
    async with AsyncWagateClient(node.url, admin_token) as admin:
        instance = (await admin.create_instance(name(), engine="simulator")).instance.name

        async def status_is(wanted: str) -> bool:
            return (await admin.get_instance(instance)).status == wanted

        await admin.connect(instance)
        await eventually(lambda: status_is("pairing"))
        await admin.simulator_scan(instance)
        await eventually(lambda: status_is("connected"))
        sent = await admin.send_text(instance, TO, "typo")
        assert (await admin.edit_message(instance, sent.correlation_id, "fixed")).edited_text
        revoked = await admin.revoke_message(instance, sent.correlation_id, for_="everyone")
        assert revoked.revoked_for == "everyone"
        await admin.delete_instance(instance)


def test_the_clients_names_are_the_gateways() -> None:
    """The event and message status names the client's methods take are the gateway's, and
    every event has a typed payload in the client."""
    from wagate_client.events import _DATA_TYPES

    from wagate.instances.schemas import EventName
    from wagate.message_status import MessageStatus as GatewayStatus

    assert set(get_args(routes.EventName)) == set(get_args(EventName))
    assert set(get_args(routes.MessageStatusName)) == {status.value for status in GatewayStatus}
    assert set(_DATA_TYPES) == set(get_args(EventName))


def test_a_received_message_carries_forwarded_view_once_and_the_quoted_message() -> None:
    data = {
        "message_id": "M2",
        "chat": "1@s.whatsapp.net",
        "from": "1@s.whatsapp.net",
        "from_me": False,
        "timestamp": "2026-12-04T10:15:30Z",
        "kind": "text",
        "text": "yes",
        "forwarded": True,
        "ephemeral": True,
        "reply_to": "M1",
        "quoted": {"message_id": "M1", "from": "2@s.whatsapp.net", "kind": "text", "text": "?"},
    }
    event = parse_event({"id": "e", "event": "message_received", "instance": "x", "data": data})
    assert isinstance(event.data, MessageReceived)
    assert event.data.forwarded and event.data.ephemeral and not event.data.view_once
    quoted = event.data.quoted
    assert quoted is not None and (quoted.message_id, quoted.sender) == ("M1", "2@s.whatsapp.net")
    assert (quoted.kind, quoted.text) == ("text", "?")
