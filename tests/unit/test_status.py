"""The instance state machine and the reconnect backoff."""

from __future__ import annotations

import itertools

import pytest

from wagate.backoff import delay as reconnect_delay
from wagate.engines.status import (
    ALLOWED,
    LIVE,
    InvalidTransition,
    Status,
    check_transition,
)

STOPS = (Status.DISCONNECTED, Status.LOGGED_OUT)


def test_every_status_has_its_transitions() -> None:
    assert set(ALLOWED) == set(Status)
    assert {s.value for s in Status} == {
        "disconnected",
        "connecting",
        "pairing",
        "connected",
        "reconnecting",
        "logged_out",
    }
    assert frozenset(Status) - LIVE == frozenset(STOPS)


@pytest.mark.parametrize("current", list(Status))
def test_stopping_is_never_refused(current: Status) -> None:
    for new in STOPS:
        check_transition(current, new)


@pytest.mark.parametrize("current", list(Status))
def test_same_status_is_allowed(current: Status) -> None:
    check_transition(current, current)


def test_the_lifecycle_paths_of_api_md() -> None:
    paths = [
        # a fresh instance links by QR
        [Status.DISCONNECTED, Status.CONNECTING, Status.PAIRING, Status.CONNECTED],
        # a linked one resumes without a scan
        [Status.LOGGED_OUT, Status.CONNECTING, Status.CONNECTED],
        # a dropped connection comes back with backoff
        [Status.CONNECTED, Status.RECONNECTING, Status.CONNECTING, Status.CONNECTED],
        # QR codes rotate (pairing -> pairing), then the QR timeout stops the client
        [Status.CONNECTING, Status.PAIRING, Status.PAIRING, Status.DISCONNECTED],
    ]
    for path in paths:
        for current, new in itertools.pairwise(path):
            check_transition(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (Status.DISCONNECTED, Status.CONNECTED),
        (Status.DISCONNECTED, Status.PAIRING),
        (Status.DISCONNECTED, Status.RECONNECTING),
        (Status.LOGGED_OUT, Status.CONNECTED),
        (Status.LOGGED_OUT, Status.RECONNECTING),
        (Status.CONNECTED, Status.PAIRING),
        (Status.CONNECTED, Status.CONNECTING),
        (Status.RECONNECTING, Status.CONNECTED),
        (Status.RECONNECTING, Status.PAIRING),
    ],
)
def test_impossible_transitions_are_refused(current: Status, new: Status) -> None:
    with pytest.raises(InvalidTransition, match=f"{current} -> {new}"):
        check_transition(current, new)


def test_transition_table_matches_check() -> None:
    for current, new in itertools.product(Status, Status):
        allowed = new in ALLOWED[current] or new == current or new in STOPS
        if allowed:
            check_transition(current, new)
        else:
            with pytest.raises(InvalidTransition):
                check_transition(current, new)


def test_reconnect_delay_grows_exponentially_without_jitter_spread() -> None:
    # jitter 1.0 (the top of [0, 1)) gives the full delay; 0.0 gives half of it.
    full = [reconnect_delay(n, 1.0, 1000.0, 1.0) for n in range(6)]
    assert full == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert [reconnect_delay(n, 1.0, 1000.0, 0.0) for n in range(3)] == [0.5, 1.0, 2.0]


@pytest.mark.parametrize("attempt", [0, 1, 5, 10, 63, 64, 1000, 10**6])
@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999999])
def test_reconnect_delay_is_bounded(attempt: int, jitter: float) -> None:
    delay = reconnect_delay(attempt, 0.5, 30.0, jitter)
    assert 0.25 <= delay <= 30.0
    if attempt >= 10:
        assert delay >= 15.0  # capped at max, jitter spreads it over [max/2, max]


def test_negative_attempt_is_the_first_attempt() -> None:
    assert reconnect_delay(-3, 2.0, 60.0, 1.0) == 2.0
