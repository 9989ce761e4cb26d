"""The groups routes' request and response bodies (docs/api.md "Groups").

The limits are WhatsApp's: a subject of 100 characters, a description of 2048, and 256
participants in one request; a bad value answers 422 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from wagate.engines.actions.groups import ParticipantAction, RequestAnswer, Role

MAX_SUBJECT = 100
MAX_DESCRIPTION = 2048
MAX_PARTICIPANTS = 256
# The disappearing-messages timers WhatsApp offers: off, 24 hours, 7 days, 90 days.
EphemeralTimer = Literal[0, 86400, 604800, 7776000]
GROUP = "120363025246125486@g.us"
PHONES: list[JsonValue] = ["+5511987654321", "+5511912345678"]


# A phone number or a JID, as `to` in sends.
Participant = Annotated[str, Field(min_length=1, max_length=128)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Participants = Field(min_length=1, max_length=MAX_PARTICIPANTS, examples=[PHONES])


class CreateGroupIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"subject": "Support team", "participants": PHONES}]},
    )
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    participants: list[Participant] = Field(max_length=MAX_PARTICIPANTS)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)


class UpdateGroupIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"subject": "Support (EU)", "announce": True}]},
    )
    subject: str | None = Field(None, min_length=1, max_length=MAX_SUBJECT)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    announce: bool | None = Field(None, description="only admins send messages")
    locked: bool | None = Field(None, description="only admins edit the group's info")
    join_approval: bool | None = Field(None, description="joining by link needs approval")
    ephemeral_s: EphemeralTimer | None = Field(
        None, description="disappearing messages: 0 (off), 86400, 604800 or 7776000 seconds"
    )

    @model_validator(mode="after")
    def _something(self) -> UpdateGroupIn:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class ParticipantsIn(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"action": "add", "participants": PHONES}]}
    )
    action: ParticipantAction
    participants: list[Participant] = Participants


class AnswerIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "approve", "participants": PHONES[:1]}]},
    )
    action: RequestAnswer
    participants: list[Participant] = Participants


class ParticipantOut(BaseModel):
    jid: str
    phone: str | None = Field(description="null where WhatsApp hides the number")
    role: Role


class GroupOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "jid": GROUP,
                    "subject": "Support team",
                    "description": None,
                    "owner": "5511987654321@s.whatsapp.net",
                    "created_at": "2026-12-04T10:00:00Z",
                    "announce": False,
                    "locked": False,
                    "join_approval": False,
                    "ephemeral_s": 0,
                    "participants": [
                        {
                            "jid": "5511987654321@s.whatsapp.net",
                            "phone": "5511987654321",
                            "role": "superadmin",
                        }
                    ],
                }
            ]
        }
    )
    jid: str
    subject: str
    description: str | None
    owner: str | None
    created_at: datetime | None
    announce: bool
    locked: bool
    join_approval: bool
    ephemeral_s: int
    participants: list[ParticipantOut]


class ParticipantResultOut(BaseModel):
    jid: str
    phone: str | None
    ok: bool
    error: str | None = Field(
        description="why not: `not_on_whatsapp`, `privacy` (an invite was sent instead), "
        "`already_in_group`, `not_in_group`, `not_allowed`, `no_request`"
    )
    invited: bool = Field(description="an invite to join was sent instead")


class CreatedGroupOut(GroupOut):
    failed: list[ParticipantResultOut] = Field(
        description="the participants that could not be added, with the reason"
    )


class GroupListOut(BaseModel):
    groups: list[GroupOut]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page")


class ResultsOut(BaseModel):
    results: list[ParticipantResultOut]


class JoinRequestOut(BaseModel):
    jid: str
    phone: str | None
    requested_at: datetime | None


class JoinRequestsOut(BaseModel):
    requests: list[JoinRequestOut]


class InviteOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "Ab12Cd34Ef56Gh78Ij90Kl",
                    "url": "https://chat.whatsapp.com/Ab12Cd34Ef56Gh78Ij90Kl",
                }
            ]
        }
    )
    code: str
    url: str


class JoinedOut(BaseModel):
    group: str = Field(description="the group's JID; with join approval, the request waits")
