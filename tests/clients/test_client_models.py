"""The client's results are read by their field types (`wagate_client._json.decode`): every
model must have a reader for each of its fields, read lenient JSON, and honour its marks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from wagate_client import events, models
from wagate_client._json import FromJson

MODELS = sorted(
    (
        cls
        for module in (models, events)
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, FromJson) and cls is not FromJson
    ),
    key=lambda cls: cls.__name__,
)


def test_there_are_declared_models() -> None:
    assert len(MODELS) > 50


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
def test_every_model_reads_an_empty_and_a_mistyped_object(cls: type[FromJson]) -> None:
    empty = cls.from_json({})
    assert dataclasses.is_dataclass(empty)
    # Every field given a value of the wrong type reads as its default, never raises.
    mistyped = {field.name: object() for field in dataclasses.fields(empty)}
    assert cls.from_json(mistyped) is not None


def test_fields_are_read_by_their_types() -> None:
    record = models.MessageRecord.from_json(
        {
            "correlation_id": "c1",
            "kind": "text",
            "to": "15550001",
            "status": "sent",
            "attempts": 2,
            "sent_at": "2026-12-05T01:02:03Z",
            "revoked": True,
            "error": None,
            "forwards": [{"to": "155", "message_id": "m2", "at": None}, "junk"],
            "new_field": 1,
        }
    )
    assert record.attempts == 2 and record.revoked is True and record.error is None
    assert record.sent_at == datetime(2026, 12, 5, 1, 2, 3, tzinfo=UTC)
    assert record.forwards == [models.Forward(to="155", message_id="m2", at=None)]
    assert record.raw["new_field"] == 1
    settings = models.InstanceSettings.from_json({})
    assert settings.max_attempts == 3 and settings.history_retention_days == 90


def test_marks_rename_a_field_and_give_a_missing_one_its_value() -> None:
    edited = events.MessageEdited.from_json({"from": "155@s.whatsapp.net", "text": "hi"})
    assert edited.sender == "155@s.whatsapp.net"
    assert events.Poll.from_json({"question": "q"}).selectable_count == 1
    assert models.GroupParticipant.from_json({"jid": "j"}).role == "member"
    hook = models.Webhook.from_json({"url": "http://x", "events": None})
    assert hook.events is None
    assert models.Webhook.from_json({"events": ["message", 3]}).events == ["message"]
