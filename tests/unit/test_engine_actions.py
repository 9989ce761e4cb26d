"""Engine actions are declared once: each engine handles every declared action, the requests
and results cross the engine-host IPC as their declared types, the routes that run one on
the live client are forwarded in a cluster, and an engine's failure becomes its API error in
one place."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from tests.conftest import make_settings
from wagate.app import create_app
from wagate.cluster.forwarding import forwarded_instance
from wagate.engine_failures import STATUS, EngineFailure, PermanentEngineError, status_of
from wagate.engines.actions import (
    ACTIONS,
    CHECK_NUMBERS,
    FETCH_MEDIA,
    SEND,
    ActionTable,
    CheckNumbersRequest,
    FetchedMedia,
    FetchMediaRequest,
    declare,
    handle,
)
from wagate.engines.base import InstanceRef, NumberCheck, OutgoingMedia, OutgoingMessage
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine
from wagate.engines.whatsmeow import handover, protocol
from wagate.engines.whatsmeow.actions import Actions
from wagate.engines.whatsmeow.handover import INLINE_MAX
from wagate.engines.whatsmeow.session import Session
from wagate.holder import (
    HolderTable,
    UnmarkedHolderRoute,
    holder_routes,
    on_holder,
    require_holder_route,
)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return create_app(make_settings("sqlite+aiosqlite:///:memory:", tmp_path), run_migrations=False)


def test_every_engine_handles_every_declared_action(tmp_path: Path) -> None:
    settings = make_settings("sqlite+aiosqlite:///:memory:", tmp_path)
    engine = SimulatorEngine(settings, cast(Any, None))
    simulator = SimulatorClient(engine, InstanceRef(1, "a"), lambda _: None)
    assert simulator.actions.missing() == []
    # The whatsmeow table lives in the engine host (one per linked session).
    whatsmeow = Actions(cast(Session, None), 1.0)
    assert whatsmeow.table.missing() == []


def test_a_name_is_declared_once() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        declare("send", OutgoingMessage, None, "again")


def test_a_table_refuses_what_is_not_declared() -> None:
    async def nothing(_: object) -> None:
        return None

    with pytest.raises(ValueError, match="not a declared engine action"):
        ActionTable("x", [("no_such_action", nothing)])
    with pytest.raises(ValueError, match="two handlers"):
        ActionTable("x", [handle(SEND, nothing), handle(SEND, nothing)])  # type: ignore[arg-type]


async def test_an_action_without_a_handler_is_a_clear_failure() -> None:
    table = ActionTable("partial", [])
    with pytest.raises(PermanentEngineError) as failure:
        await table.run(CHECK_NUMBERS, CheckNumbersRequest(["1"]))
    assert failure.value.code == "not_supported"
    assert "check_numbers" in str(failure.value)


def wire_round_trip(value: Any) -> Any:
    return protocol.decode(protocol.encode({"v": value})[4:])["v"]


def test_requests_and_results_cross_the_ipc_as_their_types() -> None:
    message = OutgoingMessage(
        "image",
        "5511987654321@s.whatsapp.net",
        {"caption": "x"},
        "c1",
        media=OutgoingMedia(b"\x00\xffbytes", "image/png", "a.png"),
        mentions=("5511@s.whatsapp.net",),
    )
    assert SEND.load_request(wire_round_trip(SEND.dump_request(message))) == message
    checks = [NumberCheck("1", True, "1@s.whatsapp.net"), NumberCheck("2", False, None)]
    assert CHECK_NUMBERS.load_result(wire_round_trip(CHECK_NUMBERS.dump_result(checks))) == checks
    for action in ACTIONS.values():  # every declaration can build its adapters
        assert action.summary and action.name


def test_the_forwarding_table_comes_from_the_marked_routes(app: FastAPI) -> None:
    table = holder_routes(app.routes)
    expected = {
        ("POST", "/v1/instances/shop/connect"),
        ("POST", "/v1/instances/shop/disconnect"),
        ("POST", "/v1/instances/shop/logout"),
        ("POST", "/v1/instances/shop/restart"),
        ("POST", "/v1/instances/shop/pair"),
        ("PATCH", "/v1/instances/shop"),
        ("DELETE", "/v1/instances/shop"),
        ("POST", "/v1/instances/shop/simulator/scan"),
        ("POST", "/v1/instances/shop/simulator/inbound"),
        ("POST", "/v1/instances/shop/simulator/faults"),
        ("POST", "/v1/instances/shop/contacts/check"),
        ("POST", "/v1/instances/shop/chats/5511987654321/read"),
        ("POST", "/v1/instances/shop/chats/5511987654321/presence"),
    }
    for method, path in expected:
        assert forwarded_instance(table, method, path) == "shop", (method, path)
    # Sends go through the queue; reads of rows answer anywhere.
    for method, path in [
        ("POST", "/v1/instances/shop/send/text"),
        ("GET", "/v1/instances/shop"),
        ("GET", "/v1/instances/shop/messages/c1"),
        ("POST", "/v1/instances"),
    ]:
        assert forwarded_instance(table, method, path) is None, (method, path)
    for route in app.routes:
        if isinstance(route, APIRoute) and "/simulator/" in route.path and "POST" in route.methods:
            assert forwarded_instance(table, "POST", route.path.replace("{instance}", "x"))


def test_the_forwarding_index_answers_as_every_marked_route_in_turn(app: FastAPI) -> None:
    """The table looks only at the routes a path may match: for every route's path (with
    names that look like segments, a trailing slash, paths beside the API) and every method,
    it names the instance that trying each marked route in turn would."""
    table = holder_routes(app.routes)

    def in_turn(method: str, path: str) -> str | None:
        for methods, pattern in table.entries:
            match = pattern.match(path) if method in methods else None
            if match:
                return match.group("instance")
        return None

    paths = {"/", "/v1/instances", "/v1/instances/", "/v1/instances//connect", "/v1/x/a/connect"}
    for route in iter_route_contexts(app.routes):
        for value in ("shop", "send", "connect", "a-b"):
            path = re.sub(r"\{[^}]+\}", value, route.path or "/")
            paths |= {path, path + "/", path + "/connect"}
    marked = 0
    for path in sorted(paths):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            found = forwarded_instance(table, method, path)
            assert found == in_turn(method, path), (method, path)
            marked += found is not None
    assert marked > 100  # most marked routes were reached, under several names
    # A marked route whose segment after the instance is a parameter is tried for any path.
    odd = HolderTable([(frozenset({"POST"}), "/v1/instances/{instance}/{thing}/go")])
    assert forwarded_instance(odd, "POST", "/v1/instances/shop/send/go") == "shop"
    assert forwarded_instance(odd, "POST", "/v1/instances/shop/send/text") is None


def test_an_unmarked_route_that_runs_an_action_fails_loudly() -> None:
    def plain() -> None:
        return None

    @on_holder
    def marked() -> None:
        return None

    with pytest.raises(UnmarkedHolderRoute, match="plain"):
        require_holder_route({"endpoint": plain})
    require_holder_route({"endpoint": marked})


async def test_engine_failures_become_api_errors_in_one_place(app: FastAPI) -> None:
    import httpx

    failures: dict[str, EngineFailure] = {
        "/not-on-whatsapp": PermanentEngineError("nobody", code="not_on_whatsapp"),
        "/unknown-code": PermanentEngineError("odd", code="something_new"),
    }
    for path, failure in failures.items():

        def raiser(failure: EngineFailure) -> Any:
            async def raise_it() -> None:
                raise failure

            return raise_it

        app.add_api_route(path, raiser(failure))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        answer = await http.get("/not-on-whatsapp")
        assert answer.status_code == 422
        assert answer.json()["error"] == {
            "code": "not_on_whatsapp",
            "message": "nobody",
            "details": {},
        }
        answer = await http.get("/unknown-code")
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "something_new"
    assert status_of("instance_not_connected") == 409 and STATUS["not_pairing"] == 409


def test_result_timestamps_survive(tmp_path: Path) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    from wagate.engines.base import SendResult

    result = SendResult("m1", moment)
    assert SEND.load_result(wire_round_trip(SEND.dump_result(result))) == result


async def test_a_downloaded_media_crosses_inline_or_as_a_hand_over_file(tmp_path: Path) -> None:
    """FETCH_MEDIA's bytes: small ones in the frame, large ones as a file in the hand-over
    directory (written by the host, read and removed by the gateway)."""
    request = FetchMediaRequest("5511@s.whatsapp.net", "3EB0", "image/jpeg", b"\x0a\x02\xff")
    assert FETCH_MEDIA.load_request(wire_round_trip(FETCH_MEDIA.dump_request(request))) == request
    small, large = FetchedMedia(b"\xff\xd8 small"), FetchedMedia(b"\xff" * (INLINE_MAX + 1))
    assert FETCH_MEDIA.load_result(wire_round_trip(FETCH_MEDIA.dump_result(small))) == small
    dumped = FETCH_MEDIA.dump_result(large)
    await handover.media_to_file(dumped, tmp_path)  # the host's side
    assert "data" not in dumped and len(protocol.encode({"v": dumped})) < 1000
    wire = wire_round_trip(dumped)
    await handover.media_in(wire, tmp_path, INLINE_MAX * 2, remove=True)  # the gateway's
    assert FETCH_MEDIA.load_result(wire) == large
    assert list(tmp_path.iterdir()) == []
