"""The broker sinks' pure parts: templates, the stream's subjects, the chains of an instance's
rows and the outcomes they write, the error text without the password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wagate.sinks import repository
from wagate.sinks.delivery import Chain, chains, outcomes
from wagate.sinks.jetstream import stream_subjects
from wagate.sinks.repository import Claimed
from wagate.sinks.transport import Outgoing, check_template, render, scrub


def claimed(row_id: int, instance_id: int, attempts: int = 0) -> Claimed:
    return Claimed(row_id, f"evt_{row_id}", instance_id, f"i{instance_id}", "e", "{}", attempts,
                   "tok")  # fmt: skip


def test_templates_name_only_instance_and_event() -> None:
    message = Outgoing("evt_1", "shop", "message_received", b"{}")
    assert render(check_template("wagate.{instance}.{event}", "X"), message) == (
        "wagate.shop.message_received"
    )
    for bad in ("wagate.{token}", "wagate.{instance!r}", "wagate.{event:>9}", "{0}"):
        with pytest.raises(ValueError, match="placeholder"):
            check_template(bad, "WAGATE_AMQP_ROUTING_KEY")


def test_stream_subjects_cover_the_template() -> None:
    assert stream_subjects("wagate.{instance}.{event}") == ["wagate.*.*"]
    assert stream_subjects("events.{event}") == ["events.*"]


def test_chains_keep_each_instances_order() -> None:
    rows = [claimed(5, 2), claimed(1, 1), claimed(3, 2), claimed(2, 1)]
    assert [[r.id for r in chain] for chain in chains(rows)] == [[1, 2], [3, 5]]


def test_outcomes_deliver_and_retry() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    chain = Chain(delivered=[claimed(1, 1)], failed=(claimed(2, 1, attempts=3), "down"),
                  untried=[claimed(3, 1)])  # fmt: skip
    written = outcomes(chain, now, 2.5)
    assert [(w["id"], w["status"], w["attempts"]) for w in written] == [
        (1, repository.DELIVERED, 1),
        (2, repository.PENDING, 4),
    ]
    assert written[0]["delivered_at"] == now and written[0]["next_attempt_at"] is None
    assert written[1]["next_attempt_at"] == now + timedelta(seconds=2.5)
    assert written[1]["last_error"] == "down"


def test_scrub_hides_the_password() -> None:
    assert scrub("cannot log in as wagate:s3cret@host", "s3cret") == (
        "cannot log in as wagate:***@host"
    )
    assert len(scrub("x" * 5000, None)) == 1000
