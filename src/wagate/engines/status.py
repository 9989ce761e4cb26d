"""The instance state machine of API.md, as data: which transitions are allowed."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    PAIRING = "pairing"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LOGGED_OUT = "logged_out"


# A live client exists exactly in these states.
LIVE = frozenset({Status.CONNECTING, Status.PAIRING, Status.CONNECTED, Status.RECONNECTING})

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.DISCONNECTED: frozenset({Status.CONNECTING}),
    Status.LOGGED_OUT: frozenset({Status.CONNECTING}),
    Status.CONNECTING: frozenset(
        {
            Status.PAIRING,
            Status.CONNECTED,
            Status.RECONNECTING,
            Status.DISCONNECTED,
            Status.LOGGED_OUT,
        }
    ),
    Status.PAIRING: frozenset(
        {
            Status.PAIRING,
            Status.CONNECTED,
            Status.DISCONNECTED,
            Status.RECONNECTING,
            Status.LOGGED_OUT,
        }
    ),
    Status.CONNECTED: frozenset({Status.RECONNECTING, Status.DISCONNECTED, Status.LOGGED_OUT}),
    Status.RECONNECTING: frozenset({Status.CONNECTING, Status.DISCONNECTED, Status.LOGGED_OUT}),
}


class InvalidTransition(RuntimeError):
    pass


def check_transition(current: Status, new: Status) -> None:
    # Stopping (disconnected / logged_out) is always allowed: a stop must never be refused.
    if new in (Status.DISCONNECTED, Status.LOGGED_OUT) or new == current:
        return
    if new not in ALLOWED[current]:
        raise InvalidTransition(f"{current} -> {new}")
