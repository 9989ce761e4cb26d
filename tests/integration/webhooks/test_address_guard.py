"""Instance webhooks and the address guard (wagate/netguard.py), with the guard on as by
default: loopback, private and metadata URLs are refused when set and at every post, a post
goes only to the address that was checked, and the delivery log shows an instance token
a status or a short reason, never the receiver's answer.

Every server here listens on loopback, and loopback is what the guard refuses: a guard that
let a post through could only reach these servers, which count every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import create_instance, free_port, linked_instance, make_settings
from tests.integration.webhooks.conftest import (
    FAST,
    app_client,
    deliveries,
    inbound,
)
from tests.support.polling import eventually
from wagate import netguard
from wagate.config import Settings
from wagate.instances import repository as instances

SECRET_PAGE = b"<h1>internal admin</h1> db_password=hunter2 \x1b[31m\r\nroot:x:0:0" + b"x" * 500


# The tests' make_settings allows private webhook URLs (their receivers are on loopback):
# here the setting is what a deployment gets when it sets nothing.
DEFAULT_ALLOW = Settings.model_fields["allow_private_webhook_urls"].default


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**FAST, "allow_private_webhook_urls": DEFAULT_ALLOW}


def test_private_webhook_urls_are_refused_by_default() -> None:
    assert DEFAULT_ALLOW is False


class Listener:
    """A raw HTTP server on one loopback address: counts connections, keeps each request's
    headers, answers every request with `status` and `body`."""

    def __init__(self, host: str = "127.0.0.1", status: int = 200, body: bytes = b"ok") -> None:
        self.host, self.status, self.body = host, status, body
        self.connections = 0
        self.requests: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            pairs = (line.partition(":") for line in head.split("\r\n")[1:] if line)
            headers = {key.strip().lower(): value.strip() for key, _, value in pairs}
            await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(headers)
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(self.body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + self.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def listening(host: str = "127.0.0.1", **kwargs: Any) -> AsyncIterator[Listener]:
    listener = Listener(host, **kwargs)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()


def field_errors(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 422, response.text
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    fields: list[dict[str, str]] = body["details"]["fields"]
    return fields


FORBIDDEN = [
    "http://127.0.0.1:9/hook",
    "http://localhost:9/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://[::1]:9/hook",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:7f00:1::1]/",
]


async def test_forbidden_urls_are_refused_when_set(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    name = created["name"]
    token = {"Authorization": f"Bearer {created['token']}"}
    for url in FORBIDDEN:
        response = await client.put(
            f"/v1/instances/{name}/webhook", json={"url": url}, headers=token
        )
        (error,) = field_errors(response)
        assert error["field"] == "url", url
        assert "private" in error["message"] and "metadata" in error["message"]
    assert (await client.get(f"/v1/instances/{name}/webhook")).status_code == 404
    response = await client.post(
        "/v1/instances", json={"name": "guarded", "webhook": {"url": FORBIDDEN[0]}}
    )
    assert [e["field"] for e in field_errors(response)] == ["webhook.url"]
    assert (await client.get("/v1/instances/guarded")).status_code == 404


async def store_webhook(app: FastAPI, name: str, url: str) -> None:
    """A webhook stored without the check: as one set before the guard existed, or set to a
    host name whose DNS answer has since changed."""
    state = app.state.wagate
    async with state.db.transaction() as session:
        row = await instances.get_by_name(session, name)
        assert row is not None
        webhook = {"url": url, "events": ["message_received"], "secret": None}
        await instances.update_fields(session, row.id, webhook=webhook)
    state.instances.invalidate_webhook(row.id)


async def test_a_post_to_a_forbidden_address_fails_without_connecting(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    async with listening() as listener:
        # A host name (the resolver's check) and an IP address (aiohttp resolves none).
        by_name = await linked_instance(client)
        by_address = await linked_instance(client)
        await store_webhook(app, by_name["name"], listener.url("localhost"))
        await store_webhook(app, by_address["name"], listener.url())
        for created in (by_name, by_address):
            await inbound(client, created["name"], "to a loopback receiver")

        async def retried() -> bool:
            items = [d for c in (by_name, by_address) for d in await deliveries(client, c["name"])]
            return len(items) == 2 and all(d["attempts"] >= 2 for d in items)

        await eventually(retried, what="two tries of each delivery")
        for created in (by_name, by_address):
            token = {"Authorization": f"Bearer {created['token']}"}
            path = f"/v1/instances/{created['name']}/webhook/deliveries"
            (item,) = (await client.get(path, headers=token)).json()["deliveries"]
            assert item["status"] == "pending"  # retried like any failure
            assert item["last_status_code"] is None
            assert item["last_error"] == "address not allowed"
            detail = (await client.get(f"{path}/{item['id']}", headers=token)).json()
            assert {h["error"] for h in detail["history"]} == {"address not allowed"}
        assert listener.connections == 0


async def test_the_post_goes_to_the_checked_address(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "localhost" is 127.0.0.1 to the system; the guard's resolver says 127.0.0.2. The post
    # must reach 127.0.0.2 (the answer that was checked) with the URL's Host header: a
    # client that resolved again would land on the decoy at 127.0.0.1.
    resolve = netguard.resolve

    async def answer(host: str, port: int) -> list[str]:
        return ["127.0.0.2"] if host == "localhost" else await resolve(host, port)

    monkeypatch.setattr(netguard, "resolve", answer)
    settings = make_settings(database_url, tmp_path / "data", **FAST)
    assert settings.allow_private_webhook_urls
    async with listening("127.0.0.2") as target, app_client(settings) as (_, client):
        decoy = Listener("127.0.0.1")
        await decoy.start(target.port)
        try:
            created = await linked_instance(client)
            url = target.url("localhost")
            hook = {"url": url, "events": ["message_received"]}
            assert (
                await client.put(f"/v1/instances/{created['name']}/webhook", json=hook)
            ).is_success
            await inbound(client, created["name"], "pinned")

            async def delivered() -> bool:
                items = await deliveries(client, created["name"])
                return [d["status"] for d in items] == ["delivered"]

            await eventually(delivered, what="the delivery")
        finally:
            await decoy.stop()
        assert [r["host"] for r in target.requests] == [f"localhost:{target.port}"]
        assert decoy.connections == 0


async def test_the_log_shows_a_status_or_a_reason_not_the_answer(
    database_url: str, tmp_path: Path
) -> None:
    async with listening(status=500, body=SECRET_PAGE) as failing:
        closed = f"http://127.0.0.1:{free_port()}/hook"
        settings = make_settings(
            database_url,
            tmp_path / "data",
            webhook_url=failing.url(),  # the operator's own webhook: trusted, and theirs to read
            webhook_events="message_received",
            **FAST,
        )
        async with app_client(settings) as (_, client):
            only = ["message_received"]
            answered = await linked_instance(client, webhook={"url": failing.url(), "events": only})
            refused = await linked_instance(client, webhook={"url": closed, "events": only})
            for created in (answered, refused):
                await inbound(client, created["name"], "fails")

            async def tried() -> bool:
                items = [
                    d for c in (answered, refused) for d in await deliveries(client, c["name"])
                ]
                # each instance's own row and the global webhook's copy
                return len(items) == 4 and all(d["attempts"] >= 1 for d in items)

            await eventually(tried, what="a try of every delivery")
            for created, reason in ((answered, "HTTP 500"), (refused, "connection refused")):
                token = {"Authorization": f"Bearer {created['token']}"}
                path = f"/v1/instances/{created['name']}/webhook/deliveries"
                listed = await client.get(path, headers=token)
                items = listed.json()["deliveries"]
                assert [d["last_error"] for d in items] == [reason]
                detail = await client.get(f"{path}/{items[0]['id']}", headers=token)
                assert {h["error"] for h in detail.json()["history"]} == {reason}
                for text in (listed.text, detail.text):
                    assert "internal" not in text and "hunter2" not in text
                    assert "Connect" not in text  # aiohttp's text names the address
            # The admin reads the global webhook's rows: a short, printable excerpt.
            items = await deliveries(client, answered["name"])
            (shared,) = [d for d in items if d["target"] == "global"]
            excerpt = shared["last_error"]
            assert excerpt.startswith("HTTP 500: <h1>internal admin</h1>")
            assert len(excerpt) <= len("HTTP 500: ") + 100
            assert all(c.isprintable() for c in excerpt)


async def test_the_global_webhook_is_trusted(database_url: str, tmp_path: Path) -> None:
    async with listening() as receiver:
        settings = make_settings(
            database_url,
            tmp_path / "data",
            webhook_url=receiver.url(),
            webhook_events="message_received",
            allow_private_webhook_urls=False,
            **FAST,
        )
        async with app_client(settings) as (_, client):
            created = await linked_instance(client)
            await inbound(client, created["name"], "to the operator")

            async def delivered() -> bool:
                items = await deliveries(client, created["name"])
                return [d["status"] for d in items] == ["delivered"]

            await eventually(delivered, what="the global delivery")
        assert len(receiver.requests) == 1
