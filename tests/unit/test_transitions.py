"""The transitions of the client manager for every engine event, without a database."""

from __future__ import annotations

import itertools
import typing
from datetime import UTC, datetime
from typing import Any

import pytest

from wagate.engines.base import (
    BlocklistUpdate,
    Connected,
    ConnectFailed,
    ConnectionLost,
    ContactUpdate,
    EngineEvent,
    GroupParticipantsUpdate,
    GroupUpdate,
    HistoryBatch,
    InboundMessage,
    IncomingCall,
    InstanceRef,
    LoggedOut,
    MessageEdited,
    MessageRevoked,
    PollVote,
    PresenceUpdate,
    QrCode,
    QrTimeout,
    Receipt,
    StreamReplaced,
)
from wagate.engines.status import LIVE, InvalidTransition, Status, check_transition
from wagate.engines.transitions import Transition, announced, on_event, status_columns

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REF = InstanceRef(7, "shop", "123@s.whatsapp.net", "123:4@s.whatsapp.net")
BARE = InstanceRef(7, "shop")
QR = QrCode("2@abc", NOW)
GONE = {"jid": None, "device_jid": None, "phone": None}

# Every state event, and the whole transition it makes.
STATE_EVENTS: list[tuple[EngineEvent, Transition]] = [
    (
        QR,
        Transition(
            Status.PAIRING,
            None,
            REF,
            fields={"qr_code": "2@abc", "qr_expires_at": NOW},
            qr=QR,
            publish_qr=True,
        ),
    ),
    (
        Connected("555@s.whatsapp.net", "555", "555:9@s.whatsapp.net"),
        Transition(
            Status.CONNECTED,
            None,
            InstanceRef(7, "shop", "555@s.whatsapp.net", "555:9@s.whatsapp.net"),
            fields={
                "jid": "555@s.whatsapp.net",
                "device_jid": "555:9@s.whatsapp.net",
                "phone": "555",
                "connected_at": NOW,
            },
            reset_attempts=True,
        ),
    ),
    (
        ConnectionLost("network"),
        Transition(Status.RECONNECTING, "network", REF, stop_client=True, reconnect=True),
    ),
    (
        ConnectFailed("dial timeout"),
        Transition(Status.RECONNECTING, "dial timeout", REF, stop_client=True, reconnect=True),
    ),
    (
        ConnectFailed("banned", permanent=True),
        Transition(Status.DISCONNECTED, "banned", REF, stop_client=True),
    ),
    (
        LoggedOut("unlinked"),
        Transition(
            Status.LOGGED_OUT,
            "unlinked",
            BARE,
            stop_client=True,
            forget_device=True,
            want_stopped=True,
            fields=GONE,
        ),
    ),
    (
        StreamReplaced(),
        Transition(
            Status.DISCONNECTED, "stream_replaced", REF, stop_client=True, want_stopped=True
        ),
    ),
    (
        QrTimeout(),
        Transition(Status.DISCONNECTED, "qr_timeout", REF, stop_client=True, want_stopped=True),
    ),
]

OTHER_EVENTS: list[EngineEvent] = [
    InboundMessage("m1", "c@s.whatsapp.net", "s@s.whatsapp.net", False, NOW, "text", text="hi"),
    Receipt(("m1",), "c@s.whatsapp.net", "read", NOW),
    IncomingCall("call1", "c@s.whatsapp.net"),
    GroupUpdate("1@g.us", "a@s.whatsapp.net", {"subject": "x"}, NOW),
    GroupParticipantsUpdate("1@g.us", None, "joined", ["a@s.whatsapp.net"], NOW),
    MessageEdited("m1", "c@s.whatsapp.net", "s@s.whatsapp.net", False, "fixed", NOW),
    MessageRevoked("m1", "c@s.whatsapp.net", "s@s.whatsapp.net", False, NOW),
    PollVote("m1", "c@s.whatsapp.net", "s@s.whatsapp.net", False, ["a"], NOW),
    PresenceUpdate("c@s.whatsapp.net", "c@s.whatsapp.net", "available", NOW),
    ContactUpdate("c@s.whatsapp.net", {"push_name": "C"}, NOW),
    BlocklistUpdate("c@s.whatsapp.net", "block", NOW),
    HistoryBatch((), None, True),
]

# Live statuses in which a state event names a target the state machine refuses (the manager
# logs the event as failed and changes nothing).
REFUSED = {
    (Status.CONNECTED, QrCode),
    (Status.RECONNECTING, QrCode),
    (Status.RECONNECTING, Connected),
}


def test_every_engine_event_is_classified() -> None:
    seen = {type(event) for event, _ in STATE_EVENTS} | {type(e) for e in OTHER_EVENTS}
    assert seen == set(typing.get_args(EngineEvent))


@pytest.mark.parametrize(("event", "expected"), STATE_EVENTS, ids=lambda v: type(v).__name__)
def test_state_event_transition(event: EngineEvent, expected: Transition) -> None:
    assert on_event(event, REF, NOW) == expected


@pytest.mark.parametrize("event", OTHER_EVENTS, ids=lambda v: type(v).__name__)
def test_messages_receipts_and_calls_are_no_state_event(event: EngineEvent) -> None:
    assert on_event(event, REF, NOW) is None


def test_connected_keeps_the_recorded_device_when_the_engine_gives_none() -> None:
    transition = on_event(Connected("123@s.whatsapp.net", None), REF, NOW)
    assert transition is not None
    assert transition.ref == REF
    assert transition.fields["device_jid"] == REF.device
    fresh = on_event(Connected("9@s.whatsapp.net", None), BARE, NOW)
    assert fresh is not None and fresh.ref == InstanceRef(7, "shop", "9@s.whatsapp.net", None)


def test_only_qr_codes_keep_a_qr_and_only_failures_reconnect() -> None:
    for event, transition in STATE_EVENTS:
        assert (transition.qr is not None) == isinstance(event, QrCode)
        assert transition.reconnect == (transition.status == Status.RECONNECTING)
        # every event that ends the client's life stops it first
        assert transition.stop_client == (transition.status not in (LIVE - {Status.RECONNECTING}))


@pytest.mark.parametrize(
    ("status", "index"), list(itertools.product(sorted(LIVE), range(len(STATE_EVENTS))))
)
def test_state_events_against_every_live_status(status: Status, index: int) -> None:
    event, _ = STATE_EVENTS[index]
    transition = on_event(event, REF, NOW)
    assert transition is not None
    if (status, type(event)) in REFUSED:
        with pytest.raises(InvalidTransition):
            check_transition(status, transition.status)
    else:
        check_transition(status, transition.status)


COLUMNS: list[tuple[Status, str | None, dict[str, Any]]] = [
    (Status.CONNECTING, None, {"last_error": None, "node": "n1", "qr_code": None}),
    (Status.PAIRING, None, {"last_error": None, "node": "n1"}),
    (Status.CONNECTED, "ignored", {"last_error": None, "node": "n1", "qr_code": None}),
    (Status.RECONNECTING, "network", {"last_error": "network", "node": "n1", "qr_code": None}),
    (Status.DISCONNECTED, "qr_timeout", {"last_error": "qr_timeout", "node": None}),
    (Status.DISCONNECTED, "disconnected", {"last_error": None, "node": None}),
    (Status.LOGGED_OUT, "unlinked", {"last_error": "unlinked", "node": None}),
]


@pytest.mark.parametrize(("new", "reason", "expected"), COLUMNS)
def test_status_columns(new: Status, reason: str | None, expected: dict[str, Any]) -> None:
    fields = {"qr_code": "2@abc", "qr_expires_at": NOW} if new == Status.PAIRING else {}
    values = status_columns(new, reason, "n1", NOW, fields)
    assert values["status"] == new.value and values["last_event_at"] == NOW
    assert {k: values[k] for k in expected} == expected
    assert ("qr_code" in values) and (values["qr_code"] is not None) == (new == Status.PAIRING)


def test_announced_on_a_change_or_a_jid() -> None:
    for previous, new in itertools.product(Status, Status):
        assert announced(previous, new, {}) == (previous != new)
        assert announced(previous, new, {"jid": "1@s.whatsapp.net"})
        assert announced(previous, new, {"jid": None}) == (previous != new)
